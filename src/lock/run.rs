//! One `run` of a window at a time on the operator's machine, whatever `--journal` says: an
//! `flock`ed file per window (by its name and its runbook's absolute path) under the user's
//! runtime directory. Not by the runbook's digest: copies of one runbook in two places are
//! two windows here (their hosts' locks still keep them apart). The kernel lets go of it when the process ends, however
//! it ends, so a crash never leaves it behind.

use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use eyre::{WrapErr, bail};
use sha2::{Digest, Sha256};

/// Held for as long as this process runs the window.
#[derive(Debug)]
pub struct RunLock {
    _files: Vec<std::fs::File>,
}

/// Where the lock files live: `$XDG_RUNTIME_DIR/patchdeck`, else
/// `~/.local/state/patchdeck`, else `/tmp/patchdeck-<uid>`.
pub fn default_dir() -> PathBuf {
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(run).join("patchdeck");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".local/state/patchdeck");
    }
    // SAFETY: getuid cannot fail and touches no memory.
    PathBuf::from(format!("/tmp/patchdeck-{}", unsafe { libc::getuid() }))
}

impl RunLock {
    /// Takes the window's lock in `dir`, or says which `run` holds it. `runbook`: its path
    /// (made absolute); `journal`: shown to whoever is refused.
    pub fn take(dir: &Path, window: &str, runbook: &Path, journal: &Path) -> eyre::Result<RunLock> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .wrap_err_with(|| format!("cannot create {} for the window's run lock", dir.display()))?;
        let path = std::path::absolute(runbook).unwrap_or_else(|_| runbook.to_path_buf());
        let keys = [format!("{window}\0path\0{}", path.display())];
        let mut files = Vec::new();
        for key in keys {
            let name = format!("run-{}.lock", &hex::encode(Sha256::digest(key.as_bytes()))[..24]);
            let file_path = dir.join(name);
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&file_path)
                .wrap_err_with(|| format!("cannot open the run lock {}", file_path.display()))?;
            // SAFETY: flock on a file descriptor we own; non-blocking.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let mut held = String::new();
                let _ = file.read_to_string(&mut held);
                bail!(
                    "window {} is already being run on this machine ({}): one `run` of a window at a time. \
                     Watch it with `patchdeck watch`, or wait for it to end",
                    crate::safe_text::for_terminal(window),
                    crate::safe_text::for_terminal(held.trim()),
                );
            }
            let who = format!("pid {}, journal {}", std::process::id(), journal.display());
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(who.as_bytes())?;
            files.push(file);
        }
        Ok(RunLock { _files: files })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_of_the_window_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let (rb, j1, j2) = (Path::new("/srv/rb.toml"), Path::new("/a.jsonl"), Path::new("/b.jsonl"));
        let first = RunLock::take(dir.path(), "w", rb, j1).unwrap();
        // Another journal changes nothing: the same window and runbook.
        let err = RunLock::take(dir.path(), "w", rb, j2).unwrap_err().to_string();
        assert!(err.contains("window w is already being run on this machine"), "{err}");
        assert!(err.contains(&format!("pid {}, journal /a.jsonl", std::process::id())), "{err}");
        // Another window, or a copy of the runbook elsewhere, is not held back here.
        let other = RunLock::take(dir.path(), "other", Path::new("/srv/other.toml"), j2).unwrap();
        let copy = RunLock::take(dir.path(), "w", Path::new("/copy/rb.toml"), j2).unwrap();
        drop(first);
        let again = RunLock::take(dir.path(), "w", rb, j2);
        assert!(again.is_ok(), "released with its holder: {again:?}");
        drop((other, copy));
    }
}
