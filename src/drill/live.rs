//! Faults on real hosts (`drill --live`): what each effect becomes there, checked for the
//! whole scenario before the drill touches anything, and undone after it.
//!
//! - `unreachable`, `unhealthy`: the fault command, `--fault-cmd CMD`, run on this machine
//!   as `CMD ACTION HOST` (the interface of `tests/fleet/fault.sh`): `kill-sshd`,
//!   `break-web`. After the drill `CMD restore HOST` runs for every host it touched, so the
//!   hosts are usable again (before the drill's last probe, so their packages can be read).
//! - `{ exit = N }`, `hang`: the host's next command is replaced by a real one, run on the
//!   host over the same connection: it says it is a drill and exits N, or it sleeps until
//!   the step's timeout gives up on it (the ssh transport's watchdog then kills it on the
//!   host). The replaced command itself is not run: a drill must not leave a host half
//!   changed in a way the runbook's rollback does not know about.
//! - `hang` hitting one of apt's own commands (a packages step's install, a rollback's
//!   restore), with a fault command: `CMD hang-apt HOST` makes a process on the host hold
//!   dpkg's locks (as a stuck unattended-upgrades would) and the command itself runs, really
//!   waiting for them, until the step's timeout (or apt's own 60 s lock wait,
//!   `DPkg::Lock::Timeout`, whichever comes first). It never gets the lock, so it changes
//!   nothing; the lock is held until the drill ends (`CMD restore HOST`).
//! - `crash` (patchdeck dies mid-command) and `deadline` (the clock) happen on our side.
//! - `reboot_required`, `candidate`, `drift`, `keep_version` are refused: they would change
//!   a host's files, repositories or packages behind the window's back, with nothing to
//!   undo them reliably.

use std::time::Duration;

use super::scenario::{Effect, Scenario};
use crate::transport::Purpose;

/// What an effect becomes on a real host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// `--fault-cmd` with this action.
    Hook(&'static str),
    /// The host's next command is replaced by a real one (see [`exit_script`], [`hang_script`]).
    Replace,
    /// Happens in patchdeck (its clock, its process), not on a host.
    OurSide,
    /// Cannot be done live.
    Refused,
}

pub fn how(effect: &Effect) -> Live {
    match effect {
        Effect::Unreachable => Live::Hook("kill-sshd"),
        Effect::Unhealthy => Live::Hook("break-web"),
        Effect::Exit(_) | Effect::Hang => Live::Replace,
        Effect::Crash | Effect::Deadline => Live::OurSide,
        Effect::RebootRequired | Effect::Candidate { .. } | Effect::Drift { .. } | Effect::KeepVersion(_) => {
            Live::Refused
        }
    }
}

/// The fault command's action for a `hang` that hits a command for `purpose`, when the
/// command itself can be made to hang on the host rather than replaced: apt's commands
/// (install, restore) wait for dpkg's locks, which `hang-apt` holds.
pub fn hang_action(purpose: &Purpose) -> Option<&'static str> {
    matches!(purpose, Purpose::Install | Purpose::Restore).then_some("hang-apt")
}

/// Every reason `scenario` cannot run live with this fault command, all at once.
pub fn check(scenario: &Scenario, fault_cmd: Option<&str>) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    if let Some(cmd) = fault_cmd
        && shlex::split(cmd).is_none_or(|w| w.is_empty())
    {
        problems.push(format!("--fault-cmd {cmd:?} is not a command line"));
    }
    for f in &scenario.faults {
        match how(&f.effect) {
            Live::Hook(action) if fault_cmd.is_none() => problems.push(format!(
                "`{}` needs a fault command on real hosts: --fault-cmd CMD, run as `CMD {action} HOST`",
                f.label()
            )),
            Live::Refused => problems.push(format!(
                "`{}` ({}) cannot be injected on real hosts: only exit, hang, unreachable, unhealthy, crash and \
                 deadline can (docs/drill.md)",
                f.label(),
                f.effect.describe()
            )),
            _ => {}
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// Runs `CMD ACTION HOST` on this machine; its stderr is the error when it fails.
pub fn run_hook(fault_cmd: &str, action: &str, host: &str) -> Result<(), String> {
    let words = shlex::split(fault_cmd).ok_or_else(|| format!("cannot parse --fault-cmd {fault_cmd:?}"))?;
    let (prog, args) = words.split_first().ok_or("empty --fault-cmd")?;
    let out = std::process::Command::new(prog)
        .args(args)
        .args([action, host])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {prog}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`{fault_cmd} {action} {host}` failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The command run on the host instead of `replaced`: it exits `code`.
pub fn exit_script(code: i32, replaced: &str) -> String {
    let what = shlex::try_quote(&first_line(replaced)).map(|q| q.into_owned()).unwrap_or_else(|_| "''".into());
    format!("echo \"drill: injected failure (exit {code}) instead of:\" {what} >&2\nexit {code}\n")
}

/// The command run on the host instead of the one that hangs: it outlives `timeout`.
pub fn hang_script(timeout: Duration) -> String {
    // Bounded all the same, should the watchdog ever miss it.
    let secs = timeout.as_secs().saturating_mul(2).max(60);
    format!("echo 'drill: injected hang' >&2\nsleep {secs}\necho 'drill: the hang was not cut off' >&2\nexit 124\n")
}

fn first_line(script: &str) -> String {
    let line = script.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
    line.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_effect_has_a_live_answer_and_refusals_are_listed_at_once() {
        let sc = Scenario::parse(
            "[[fault]]\nhost = \"a\"\nat_step = \"s\"\neffect = \"unreachable\"\n\
             [[fault]]\nhost = \"a\"\nat_step = \"s\"\neffect = \"reboot_required\"\n\
             [[fault]]\nhost = \"a\"\nat_step = \"s\"\neffect = { drift = { path = \"/etc/x\", content = \"y\" } }\n\
             [[fault]]\nhost = \"a\"\nat_step = \"s\"\neffect = { exit = 2 }\n",
            "x",
        )
        .unwrap();
        let problems = check(&sc, None).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].contains("--fault-cmd") && problems[0].contains("kill-sshd"), "{problems:#?}");
        assert!(problems[1].contains("cannot be injected on real hosts"), "{problems:#?}");
        assert_eq!(check(&sc, Some("fault.sh")).unwrap_err().len(), 2);
        assert!(check(&sc, Some("")).unwrap_err()[0].contains("not a command line"));
    }

    #[test]
    fn only_apt_commands_hang_on_dpkg_locks() {
        let (install, restore) = (Purpose::Install, Purpose::Restore);
        assert_eq!(hang_action(&install), Some("hang-apt"));
        assert_eq!(hang_action(&restore), Some("hang-apt"));
        // The probe takes no lock (dpkg-query, apt-get -s): a held lock would not hang it.
        assert_eq!(hang_action(&Purpose::Probe { fingerprints: vec![] }), None);
        assert_eq!(hang_action(&Purpose::Shell), None);
        assert_eq!(hang_action(&Purpose::Reboot), None);
    }

    #[test]
    fn replacement_scripts_really_fail_and_really_hang() {
        let sh = |script: &str| std::process::Command::new("sh").args(["-c", script]).output().expect("sh");
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let out = sh(&exit_script(3, &format!("# the step\ntouch {}\nexit 0\n", marker.display())));
        assert_eq!(out.status.code(), Some(3));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("injected failure (exit 3) instead of: touch "), "{err}");
        assert!(!marker.exists(), "the replaced command did not run");

        let mut child = std::process::Command::new("sh")
            .args(["-c", &hang_script(Duration::from_secs(1))])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        assert!(child.try_wait().unwrap().is_none(), "still running after its step's timeout");
        child.kill().unwrap();
        let _ = child.wait();
    }
}
