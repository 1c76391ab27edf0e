//! What a test needs from the machine, and what happens when it is missing.
//!
//! Plain `cargo test` (a developer, perhaps not root) runs every test it can and skips the
//! ones whose parts are missing, printing `skipped: needs X (...)` with how to get it.
//! `tests/run` (and so CI) sets `PATCHDECK_TESTS_REQUIRE_ALL=1` after installing every
//! part: there a missing part fails the test, never skips it.
//!
//! Use at the top of a test: `if !require::sshd() { return; }`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Set by `tests/run`: every part must be there.
pub const STRICT: &str = "PATCHDECK_TESTS_REQUIRE_ALL";

/// Whether missing parts fail (under `tests/run`) instead of skipping.
pub fn strict() -> bool {
    std::env::var_os(STRICT).is_some_and(|v| !v.is_empty() && v != "0")
}

/// `true` when nothing is missing; otherwise prints why the test is skipped and returns
/// `false`, or panics when [`strict`]. For needs that have no function of their own.
pub fn or_skip(what: &str, missing: Option<String>) -> bool {
    let Some(why) = missing else { return true };
    if strict() {
        panic!("needs {what} ({why}); {STRICT} is set (tests/run), so a missing part is a failure, not a skip");
    }
    // Straight to stderr: libtest would capture (and hide) eprintln! of a passing test.
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    let _ = writeln!(std::io::stderr(), "skipped: needs {what} ({why}): {test}");
    false
}

/// The effective user id, from /proc (std has no geteuid).
fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `program` runs (found on PATH or at its path and executable).
fn runs(program: &str) -> bool {
    let on_path = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return on_path(Path::new(program));
    }
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| on_path(&dir.join(program))))
}

/// The first of `programs` that is missing, as a reason naming its package.
fn missing_program(programs: &[(&str, &str)]) -> Option<String> {
    programs
        .iter()
        .find(|(program, _)| !runs(program))
        .map(|(program, package)| format!("{program} is missing: apt-get install {package}, or run tests/run"))
}

fn not_root() -> Option<String> {
    match euid() {
        Some(0) => None,
        Some(uid) => Some(format!("root, this is uid {uid}: run tests/run as root, like CI")),
        None => Some("root, and /proc/self/status says nothing of who this is".into()),
    }
}

/// Root (mounts, chroot, the sshd fixture's root login, apt's real state).
pub fn root() -> bool {
    or_skip("root", not_root())
}

/// The real OpenSSH server fixture (`support::sshd`): root, sshd, ssh and ssh-keygen.
pub fn sshd() -> bool {
    let missing = not_root().or_else(|| {
        missing_program(&[
            ("/usr/sbin/sshd", "openssh-server"),
            ("ssh", "openssh-client"),
            ("ssh-keygen", "openssh-client"),
        ])
    });
    or_skip("a real sshd", missing)
}

/// The sshd fixture and a non-root login using real sudo ([`super::sshd::Sshd::sudo_user_host`]):
/// root (to create the user), sudo, useradd.
pub fn sudo_login() -> bool {
    if !sshd() {
        return false;
    }
    or_skip(
        "sudo and a non-root login",
        missing_program(&[("sudo", "sudo"), ("/usr/sbin/useradd", "passwd"), ("/usr/sbin/usermod", "passwd")]),
    )
}

/// The OpenSSH client (ssh, ssh-keygen).
pub fn ssh_client() -> bool {
    or_skip("the OpenSSH client", missing_program(&[("ssh", "openssh-client"), ("ssh-keygen", "openssh-client")]))
}

/// tmux, to drive the cockpit end to end.
pub fn tmux() -> bool {
    or_skip("tmux", missing_program(&[("tmux", "tmux")]))
}

/// The Debian test fleet (`support::fleet`, `tests/fleet/`): root and its tools.
pub fn fleet() -> bool {
    let missing = not_root().or_else(|| {
        missing_program(&[
            ("/usr/sbin/debootstrap", "debootstrap"),
            ("dpkg-scanpackages", "dpkg-dev"),
            ("ssh", "openssh-client"),
            ("ssh-keygen", "openssh-client"),
            ("flock", "util-linux"),
            ("setsid", "util-linux"),
            ("mount", "mount"),
        ])
    });
    or_skip("the Debian test fleet", missing)
}

/// A Debian-family machine: dpkg and apt with their tools.
pub fn debian() -> bool {
    let missing = missing_program(&[
        ("dpkg", "dpkg"),
        ("dpkg-query", "dpkg"),
        ("apt-get", "apt"),
        ("apt-mark", "apt"),
        ("sha256sum", "coreutils"),
    ])
    .map(|why| format!("a Debian-family machine; {why}"));
    or_skip("dpkg and apt", missing)
}

/// util-linux `flock`.
pub fn flock() -> bool {
    or_skip("flock", missing_program(&[("flock", "util-linux")]))
}

/// strace, to see the system calls a child makes, and ptrace allowed.
pub fn strace() -> bool {
    let missing = missing_program(&[("strace", "strace")]).or_else(|| {
        let ok = Command::new("strace").args(["-o", "/dev/null", "true"]).stderr(Stdio::null()).status();
        (!ok.is_ok_and(|s| s.success())).then(|| "strace cannot trace here (ptrace not allowed)".to_string())
    });
    or_skip("strace", missing)
}
