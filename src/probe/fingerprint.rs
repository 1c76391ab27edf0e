//! Config fingerprints: what "same config as tested" means. A file is its sha256 (computed
//! on the host by `sha256sum`); a command is the sha256 of its normalized output, hashed
//! here so the host only has to run it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::runbook::Fingerprint;
use crate::transport::ssh::sh_quote;

/// A fingerprint as observed on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "value", rename_all = "lowercase")]
pub enum FpValue {
    /// sha256 hex of the file or of the normalized command output.
    Sha256(String),
    /// The file does not exist on this host.
    Missing,
    /// It could not be read or run; the text says why (already made safe to print).
    Error(String),
}

const MISSING: &str = "@@missing";
const ERROR: &str = "@@error";

/// Shell for one fingerprint section. Paths and commands come from the runbook (the
/// operator's own file), but are still quoted so a path with spaces stays one argument.
pub(super) fn script(fp: &Fingerprint) -> String {
    match fp {
        Fingerprint::Path(path) => {
            let q = shlex::try_quote(path).map(|c| c.into_owned()).unwrap_or_else(|_| "''".into());
            let read = format!(
                "if [ ! -e {q} ]; then echo '{MISSING}'; elif [ ! -r {q} ]; then echo '{ERROR} not readable'; \
                 else sha256sum < {q} | cut -d' ' -f1; fi"
            );
            // `$pd_root`: `sudo -n` on a host that uses sudo (set by the probe's preamble).
            format!(
                "$pd_root sh -c {} 2>/dev/null || echo '{ERROR} cannot be read as root (sudo -n failed)'",
                sh_quote(&read)
            )
        }
        Fingerprint::Command(cmd) => {
            let q = shlex::try_quote(cmd).map(|c| c.into_owned()).unwrap_or_else(|_| "''".into());
            // $(...) keeps the command's exit status; trailing newlines do not matter after
            // normalization, and the error mark is always on a line of its own.
            format!(
                "pd_out=$($pd_root sh -c {q} 2>&1); pd_rc=$?; printf '%s\\n' \"$pd_out\"; [ $pd_rc -eq 0 ] || echo \"{ERROR} exit $pd_rc\""
            )
        }
    }
}

/// Reads one fingerprint section's body.
pub(super) fn parse(fp: &Fingerprint, body: Option<&str>) -> FpValue {
    let Some(body) = body else { return FpValue::Error("no answer from the probe".into()) };
    match fp {
        Fingerprint::Path(_) => {
            let line = body.trim();
            if line == MISSING {
                FpValue::Missing
            } else if let Some(why) = line.strip_prefix(ERROR) {
                FpValue::Error(crate::safe_text::for_terminal(why.trim()))
            } else if line.len() == 64 && line.chars().all(|c| c.is_ascii_hexdigit()) {
                FpValue::Sha256(line.to_ascii_lowercase())
            } else {
                FpValue::Error(format!("unexpected sha256sum output {:?}", crate::safe_text::for_terminal(line)))
            }
        }
        Fingerprint::Command(_) => {
            if let Some(last) = body.lines().last()
                && let Some(why) = last.strip_prefix(ERROR)
            {
                return FpValue::Error(format!("command failed ({})", crate::safe_text::for_terminal(why.trim())));
            }
            FpValue::Sha256(sha256_hex(normalize_command_output(body).as_bytes()))
        }
    }
}

/// Command output compared between hosts: trailing whitespace and blank lines at the end
/// do not count as drift (terminal width and shells differ in these, configs do not).
pub fn normalize_command_output(out: &str) -> String {
    let mut lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_fingerprints() {
        let fp = Fingerprint::Path("/etc/x".into());
        let h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(parse(&fp, Some(&format!("{h}\n"))), FpValue::Sha256(h.into()));
        assert_eq!(parse(&fp, Some("@@missing\n")), FpValue::Missing);
        assert_eq!(parse(&fp, Some("@@error not readable\n")), FpValue::Error("not readable".into()));
        assert!(matches!(parse(&fp, Some("\x1b[2Jgarbage\n")), FpValue::Error(e) if !e.contains('\x1b')));
        assert!(matches!(parse(&fp, None), FpValue::Error(_)));
    }

    #[test]
    fn command_output_normalized_before_hashing() {
        let fp = Fingerprint::Command("ip -br addr".into());
        let a = parse(&fp, Some("lo UNKNOWN 127.0.0.1/8  \neth0 UP 10.0.0.5/24\n\n"));
        let b = parse(&fp, Some("lo UNKNOWN 127.0.0.1/8\neth0 UP 10.0.0.5/24\n"));
        let c = parse(&fp, Some("lo UNKNOWN 127.0.0.1/8\neth0 UP 10.0.0.6/24\n"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(matches!(parse(&fp, Some("boom\n@@error exit 127\n")), FpValue::Error(_)));
    }

    #[test]
    fn path_script_quotes_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("my file;touch pwned");
        std::fs::write(&path, "x").unwrap();
        let fp = Fingerprint::Path(path.display().to_string());
        let run = |pd_root: &str| {
            let s = format!("pd_root={pd_root}\n{}", script(&fp));
            let out = std::process::Command::new("sh").arg("-c").arg(s).current_dir(dir.path()).output().unwrap();
            parse(&fp, Some(&String::from_utf8_lossy(&out.stdout)))
        };
        assert_eq!(run(""), FpValue::Sha256(sha256_hex(b"x")));
        assert!(!dir.path().join("pwned").exists());
        // Reading as root failed (here: a `sudo` that refuses): an error, never a value.
        assert_eq!(run("false"), FpValue::Error("cannot be read as root (sudo -n failed)".into()));
    }
}
