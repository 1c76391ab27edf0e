//! The bundled demo window, cut down for tests: which hosts, which waves.

use std::path::{Path, PathBuf};

pub const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo");

/// The demo's two clean hosts, one wave each.
pub const CLEAN_WAVES: &[(&str, &[&str])] = &[("canary", &["canary1"]), ("web", &["web1"])];

/// `runbook` (the demo's text) with its waves replaced by `waves` (TOML `[[wave]]` tables).
pub fn with_waves(runbook: &str, waves: &str) -> String {
    let start = runbook.find("# Smallest customer impact first.").expect("the demo runbook's waves comment");
    let end = runbook.find("[[step]]").expect("the demo runbook's steps");
    format!("{}{waves}{}", &runbook[..start], &runbook[end..])
}

/// A copy of the demo in `dir` cut down to staging, canary1 and web1 (the clean hosts),
/// placed in `waves`; `edit_runbook` and `edit_fleet` change the texts further. Returns the
/// runbook's path.
pub fn clean_demo(
    dir: &Path,
    waves: &[(&str, &[&str])],
    edit_runbook: impl Fn(String) -> String,
    edit_fleet: impl Fn(String) -> String,
) -> PathBuf {
    let demo = Path::new(DEMO);
    std::fs::copy(demo.join("tested.toml"), dir.join("tested.toml")).unwrap();
    let fleet = std::fs::read_to_string(demo.join("fleet.toml")).unwrap();
    std::fs::write(dir.join("fleet.toml"), edit_fleet(fleet)).unwrap();
    let hosts = std::fs::read_to_string(demo.join("hosts.toml")).unwrap();
    let keep: Vec<&str> = hosts
        .split("[[host]]")
        .filter(|b| ["\"staging\"", "\"canary1\"", "\"web1\""].iter().any(|n| b.contains(&format!("name = {n}"))))
        .collect();
    assert_eq!(keep.len(), 3, "the demo's hosts file still has staging, canary1 and web1");
    std::fs::write(dir.join("hosts.toml"), format!("[[host]]{}", keep.join("[[host]]"))).unwrap();
    let rb = std::fs::read_to_string(demo.join("runbook.toml")).unwrap();
    let waves: String =
        waves.iter().map(|(name, hosts)| format!("[[wave]]\nname = \"{name}\"\nhosts = {hosts:?}\n\n")).collect();
    std::fs::write(dir.join("runbook.toml"), edit_runbook(with_waves(&rb, &waves))).unwrap();
    dir.join("runbook.toml")
}

/// [`clean_demo`] in [`CLEAN_WAVES`] on the real clock (the window placed around now, as
/// the demo places it), with `fleet_extra` appended to the simulated fleet (faults).
pub fn clean_demo_now(dir: &Path, fleet_extra: &str) -> PathBuf {
    clean_demo(
        dir,
        CLEAN_WAVES,
        |rb| patchdeck::demo::window_around(&rb, jiff::Timestamp::now()),
        |fleet| format!("{fleet}\n{fleet_extra}"),
    )
}
