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
/// so a curious operator can open and copy them.
pub fn extract(dir: &Path) -> eyre::Result<PathBuf> {
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in FILES {
        let path = dir.join(name);
        std::fs::write(&path, text).wrap_err_with(|| format!("cannot write {}", path.display()))?;
    }
    Ok(dir.join("runbook.toml"))
}

/// The demo's default home: `$TMPDIR/patchdeck-demo-<uid>`.
pub fn default_dir() -> PathBuf {
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    std::env::temp_dir().join(format!("patchdeck-demo-{user}"))
}
