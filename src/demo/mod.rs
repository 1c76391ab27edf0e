//! The bundled demo window (`assets/demo/`), embedded in the binary so `patchdeck demo`
//! works from anywhere with no hosts to set up.

use std::path::{Path, PathBuf};

use eyre::WrapErr;

/// (file name, contents) of every demo asset.
pub const FILES: &[(&str, &str)] = &[
    ("runbook.toml", include_str!("../../assets/demo/runbook.toml")),
    ("hosts.toml", include_str!("../../assets/demo/hosts.toml")),
    ("tested.toml", include_str!("../../assets/demo/tested.toml")),
    ("fleet.toml", include_str!("../../assets/demo/fleet.toml")),
];

/// Writes the demo files into `dir` and returns the runbook's path. The files stay there
/// so a curious operator can open and copy them. The window is moved to start five
/// minutes before `now` (same 90-minute length), so the demo is inside its window whenever
/// it runs instead of meeting the deadline at some hours of the day and not others.
pub fn extract(dir: &Path, now: jiff::Timestamp) -> eyre::Result<PathBuf> {
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in FILES {
        let path = dir.join(name);
        let text = if *name == "runbook.toml" { window_around(text, now) } else { text.to_string() };
        std::fs::write(&path, text).wrap_err_with(|| format!("cannot write {}", path.display()))?;
    }
    // A journal from an earlier demo would make `run` refuse to start: the demo is throwaway.
    let _ = std::fs::remove_file(dir.join("openssl-security-2026-11.journal.jsonl"));
    Ok(dir.join("runbook.toml"))
}

/// The runbook text with its `starts`/`ends` lines moved around `now` (five minutes before
/// it, 90 minutes long). Tests that run the real binary on the real clock use it too: a
/// window fixed in the calendar would meet its deadline once that day has passed.
pub fn window_around(runbook: &str, now: jiff::Timestamp) -> String {
    let minute = now.round(jiff::Unit::Minute).unwrap_or(now);
    let starts = minute.checked_sub(jiff::SignedDuration::from_mins(5)).unwrap_or(minute);
    let ends = starts.checked_add(jiff::SignedDuration::from_mins(90)).unwrap_or(minute);
    runbook
        .lines()
        .map(|l| {
            if l.starts_with("starts = ") {
                format!("starts = \"{starts}\"")
            } else if l.starts_with("ends = ") {
                format!("ends = \"{ends}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The demo's default home: `$TMPDIR/patchdeck-demo-<uid>`.
pub fn default_dir() -> PathBuf {
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    std::env::temp_dir().join(format!("patchdeck-demo-{user}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_window_is_placed_around_now() {
        let now: jiff::Timestamp = "2026-11-23T03:17:40Z".parse().unwrap();
        let text = window_around(FILES[0].1, now);
        assert!(text.contains("starts = \"2026-11-23T03:13:00Z\""), "{text}");
        assert!(text.contains("ends = \"2026-11-23T04:43:00Z\""), "{text}");
        assert!(text.contains("rollback_reserve = \"20m\""));
    }
}
