//! One drifted file's text, fetched on demand so the cockpit can show how it differs from
//! staging's. Only a world-readable regular text file under [`MAX_BYTES`] is read: files
//! only some may read (keys, `shadow`) stay compared by checksum, and nothing fetched is
//! journaled. The host decides nothing here: its answer is a word we know, or refused.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::inventory::Host;
use crate::transport::{Command, Output, Purpose, Transport};

/// The largest file shown; larger ones are refused (the view says so).
pub const MAX_BYTES: usize = 256 * 1024;

/// A read is quick or it is not worth waiting for at the cockpit.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The exit status with which the script refuses a file, its reason word on stdout.
pub const REFUSED: i32 = 3;

/// What a host gave for the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fetched {
    /// The file's text (lossy UTF-8: it is shown, never used).
    Text(String),
    Refused(Refusal),
}

/// Why a file is not shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Not there, or not a regular file.
    NotAFile,
    /// Someone may not read it: compared by checksum only.
    NotWorldReadable,
    TooBig,
    NotText,
    /// The host named is not in the inventory (staging may be a label only).
    UnknownHost(String),
    /// The command could not run or said something else: what went wrong (untrusted text).
    Failed(String),
}

/// The read-only command that prints `path` if it may be shown, else a reason word
/// and exit status [`REFUSED`]. `path` is quoted; a NUL cannot pass a shell and is dropped.
pub fn command(path: &str) -> Command {
    Command {
        script: script(path),
        purpose: Purpose::ReadFile { path: path.to_string() },
        needs_root: false,
        timeout: TIMEOUT,
        detached: None,
    }
}

fn script(path: &str) -> String {
    let clean: String = path.chars().filter(|&c| c != '\0').collect();
    let quoted = shlex::try_quote(&clean).map(|q| q.into_owned()).unwrap_or_else(|_| "''".into());
    format!(
        r#"p={quoted}
refuse() {{ echo "$1"; exit {REFUSED}; }}
[ -f "$p" ] || refuse not_a_file
case "$(stat -L -c %a -- "$p")" in *[4567]) ;; *) refuse not_world_readable ;; esac
[ "$(stat -L -c %s -- "$p")" -le {MAX_BYTES} ] || refuse too_big
[ ! -s "$p" ] || LC_ALL=C grep -Iq '' -- "$p" || refuse not_text
head -c {limit} -- "$p"
"#,
        limit = MAX_BYTES + 1
    )
}

/// The host's answer to [`command`].
pub fn parse(out: &Output) -> Fetched {
    let stdout = out.stdout_lossy();
    match out.status {
        Some(0) if out.stdout.len() > MAX_BYTES || out.stdout_cut > 0 => Fetched::Refused(Refusal::TooBig),
        Some(0) => Fetched::Text(stdout),
        Some(REFUSED) => Fetched::Refused(match stdout.trim() {
            "not_a_file" => Refusal::NotAFile,
            "not_world_readable" => Refusal::NotWorldReadable,
            "too_big" => Refusal::TooBig,
            "not_text" => Refusal::NotText,
            other => Refusal::Failed(other.to_string()),
        }),
        status => {
            let err = out.stderr_lossy();
            let why = err.lines().next().unwrap_or("").trim();
            Fetched::Refused(Refusal::Failed(match status {
                Some(s) => format!("exit status {s}: {why}"),
                None => format!("killed: {why}"),
            }))
        }
    }
}

/// Fetches `path` from the host named `name` of `hosts`, through `transport` only.
pub async fn fetch(transport: &dyn Transport, hosts: &[Host], name: &str, path: &str) -> Fetched {
    let Some(host) = hosts.iter().find(|h| h.name == name) else {
        return Fetched::Refused(Refusal::UnknownHost(name.to_string()));
    };
    match transport.exec(host, &command(path)).await {
        Ok(out) => parse(&out),
        Err(e) => Fetched::Refused(Refusal::Failed(format!("{e:#}"))),
    }
}

/// `staging`'s text against `here`'s as a unified diff (3 lines of context), headed by
/// which host each side is from. Raw lines: whoever shows them makes them safe.
pub fn unified(path: &str, staging_host: &str, staging: &str, host: &str, here: &str) -> Vec<String> {
    let diff = similar::TextDiff::from_lines(staging, here);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("{staging_host}:{path}"), &format!("{host}:{path}"))
        .missing_newline_hint(true)
        .to_string();
    text.lines().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Runs the script as a host would, with this machine's /bin/sh, stat, grep and head.
    fn run(path: &std::path::Path) -> Fetched {
        let cmd = command(path.to_str().unwrap());
        let out = std::process::Command::new("/bin/sh").arg("-c").arg(&cmd.script).output().unwrap();
        parse(&Output::whole(out.status.code(), out.stdout, out.stderr))
    }

    fn file(dir: &tempfile::TempDir, name: &str, bytes: &[u8], mode: u32) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn only_a_world_readable_text_file_under_the_cap_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let text = file(&dir, "it's interfaces", b"auto eth0\niface eth0 inet dhcp\n", 0o644);
        assert_eq!(run(&text), Fetched::Text("auto eth0\niface eth0 inet dhcp\n".into()));
        assert_eq!(run(&file(&dir, "empty", b"", 0o644)), Fetched::Text(String::new()));
        let secret = file(&dir, "secret", b"password=hunter2\n", 0o640);
        assert_eq!(run(&secret), Fetched::Refused(Refusal::NotWorldReadable));
        let binary = file(&dir, "binary", b"ELF\0\x01\x02\n", 0o644);
        assert_eq!(run(&binary), Fetched::Refused(Refusal::NotText));
        let big = file(&dir, "big", &vec![b'x'; MAX_BYTES + 1], 0o644);
        assert_eq!(run(&big), Fetched::Refused(Refusal::TooBig));
        assert_eq!(run(dir.path()), Fetched::Refused(Refusal::NotAFile));
        assert_eq!(run(&dir.path().join("gone")), Fetched::Refused(Refusal::NotAFile));
    }

    #[test]
    fn the_diff_is_unified_with_three_lines_of_context_staging_first() {
        let staging = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let here = "a\nb\nc\nd\nE\nf\ng\nh\n";
        let lines = unified("/etc/x", "staging", staging, "web1", here);
        assert_eq!(
            lines,
            [
                "--- staging:/etc/x",
                "+++ web1:/etc/x",
                "@@ -2,7 +2,7 @@",
                " b",
                " c",
                " d",
                "-e",
                "+E",
                " f",
                " g",
                " h"
            ]
        );
    }

    #[test]
    fn a_hostile_path_stays_one_quoted_word() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let name = format!("x'; touch {} #", marker.display());
        let p = dir.path().join(&name);
        assert_eq!(run(&p), Fetched::Refused(Refusal::NotAFile));
        assert!(!marker.exists(), "the path was executed");
    }
}
