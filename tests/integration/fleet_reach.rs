//! Issue 14 items 7 and 8 on the Debian test fleet (`tests/fleet/up.sh --reach`): a window
//! run as a non-root login with sudo, through a bastion, with the real binary; and a login
//! whose sudo needs a password stopped by `check` before anything changes.
//!
//! The reach hosts are reached by address, as user `deploy`, through `ProxyJump bastion` in
//! the fleet's ssh_config; staging (where the baseline is captured) is reached directly as
//! root, as in the fleet's own window.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use patchdeck::engine::control::Choice;
use patchdeck::engine::event::{Event, Outcome, StopKind};

use crate::support::fleet::Fleet;
use crate::support::require;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The console of a command, without the lines of the long package lists, for the report.
fn trimmed(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
        .lines()
        .filter(|l| !l.trim_start().starts_with("+ "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// stdout with its wrapping undone (words joined by single spaces), to find a sentence.
fn one_line(out: &Output) -> String {
    text(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ")
}

fn versions(dpkg: &str) -> BTreeMap<String, String> {
    dpkg.lines().filter_map(|l| l.split_once('\t')).map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

fn events(journal: &Path) -> Vec<Event> {
    let r = patchdeck::journal::replay::<Event>(journal).unwrap_or_else(|e| panic!("{}: {e}", journal.display()));
    assert_eq!(r.torn_tail, None, "{}", journal.display());
    r.records.into_iter().map(|r| r.event).collect()
}

/// The reach hosts differ from staging by their login (a user, its home, its sudo rule):
/// that configuration drift is accepted here, as the scenario is about reaching them.
const ACCEPT_LOGIN_DRIFT: &str = "[drift]\nconfig = \"ignore\"\n";

/// A window of its own on `host` (from `reach-hosts.toml`), the login drift accepted.
fn window(fleet: &Fleet, name: &str, host: &str, steps: Option<&str>) -> std::path::PathBuf {
    let rb = fleet.window_from("reach-hosts.toml", name, &[host], "", "", steps);
    let text_rb = std::fs::read_to_string(&rb).unwrap();
    let fingerprint = "[[fingerprint]]";
    assert!(text_rb.contains(fingerprint), "{text_rb}");
    std::fs::write(&rb, text_rb.replacen(fingerprint, &format!("{ACCEPT_LOGIN_DRIFT}\n{fingerprint}"), 1)).unwrap();
    rb
}

#[test]
fn fleet_reach_a_sudo_login_through_a_bastion() {
    if !require::fleet() {
        return;
    }
    let fleet = Fleet::up_with("reach", &["--reach"]);
    let runbook = fleet.runbook.to_str().unwrap();
    let out =
        fleet.patchdeck(&["baseline", "capture", runbook, "--host", "staging", "-o", fleet.baseline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "capture: {}", trimmed(&out));
    let baseline = patchdeck::baseline::load(&fleet.baseline).expect("captured baseline loads");
    assert_eq!(baseline.updates.len(), 2, "less and pd-web, as on every fleet host");

    // The login is deploy, not root, on the host itself (no sudo: whoami is the login).
    let whoami = |host: &str| fleet.exec_ok(host, "id -un deploy && sudo -l -U deploy | tail -n 1").trim().to_string();
    eprintln!("prod-sudo: {}\nprod-sudopw: {}", whoami("prod-sudo"), whoami("prod-sudopw"));

    // check through the bastion as deploy: clean, exit 0, sudo proven.
    let sudo_rb = window(&fleet, "reach-sudo", "prod-sudo", None);
    let out = fleet.patchdeck(&["check", sudo_rb.to_str().unwrap()]);
    eprintln!("check of prod-sudo (deploy, sudo, through the bastion):\n{}", trimmed(&out));
    assert_eq!(out.status.code(), Some(0), "{}", trimmed(&out));
    let bastion_log = fleet.sshd_log("bastion");
    assert!(bastion_log.contains("Accepted publickey for deploy"), "the bastion let deploy in:\n{bastion_log}");
    let target = fleet.address("prod-sudo").to_string();
    assert!(
        bastion_log.lines().any(|l| l.contains("direct-tcpip") || (l.contains("forward") && l.contains(&target)))
            || fleet.sshd_log("prod-sudo").contains("Accepted publickey for deploy"),
        "the connection to prod-sudo went through the bastion:\n{bastion_log}"
    );
    assert!(fleet.sshd_log("prod-sudo").contains("Accepted publickey for deploy"), "{}", fleet.sshd_log("prod-sudo"));

    // A window as deploy: the packages step (through sudo), then a step that times out.
    let steps = r#"[[step]]
name = "apply tested updates"
packages = "tested"

[[step]]
name = "slow migration"
run = "sleep 117"
rollback = "true"
timeout = "3s"
"#;
    let rb = window(&fleet, "reach-window", "prod-sudo", Some(steps));
    let before = fleet.installed("prod-sudo");
    let out = fleet.patchdeck(&[
        "run",
        rb.to_str().unwrap(),
        "--no-tui",
        "--yes",
        "--operator",
        "fleet-test",
        "--decide",
        "abort",
    ]);
    eprintln!("run as deploy through the bastion (a step times out, abort):\n{}", trimmed(&out));
    assert_eq!(out.status.code(), Some(3), "{}", trimmed(&out));
    let changed = fleet.installed("prod-sudo");
    assert_ne!(changed, before, "the packages step changed prod-sudo as deploy, through sudo");
    let (b, a) = (versions(&before), versions(&changed));
    for u in &baseline.updates {
        assert_eq!(a.get(u.name.as_str()).map(String::as_str), Some(u.to.as_str()), "{} installed as tested", u.name);
        assert_eq!(b.get(u.name.as_str()), u.from.as_ref().map(|v| v.to_string()).as_ref());
    }
    let journal = fleet.dir.join("reach-window.journal.jsonl");
    let ev = events(&journal);
    assert!(
        ev.iter().any(|e| matches!(e, Event::HardStop { host: Some(h), stop: StopKind::StepTimeout { step, .. }, .. }
            if h == "prod-sudo" && step == "slow migration")),
        "{ev:#?}"
    );
    assert!(
        ev.iter().any(|e| matches!(e, Event::StepFinished { host, step: 1, outcome: Outcome::Timeout { .. }, .. }
            if host == "prod-sudo")),
        "{ev:#?}"
    );
    assert!(ev.iter().any(|e| matches!(e, Event::Decided(d) if d.decision.choice == Choice::Abort)));
    // The timed-out step ran as root (through sudo) in its own process group on the host:
    // the timeout ended that whole group as root, so nothing of it is left (TERM, then KILL
    // after a grace period: polled, not slept). `sleep 117` is this test's own.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let left = loop {
        let left = fleet.exec_ok("prod-sudo", "ps -eo user,args 2>/dev/null | grep '[s]leep 117' || true");
        if left.trim().is_empty() || std::time::Instant::now() > deadline {
            break left;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(left.trim(), "", "the timed-out step's process outlived the timeout as root");

    // The window is over: `patchdeck rollback` (as deploy, through the bastion) puts it back.
    let mark = ev.len();
    let out = fleet.patchdeck(&["rollback", journal.to_str().unwrap(), "--all", "--yes", "--operator", "fleet-test"]);
    eprintln!("rollback as deploy through the bastion:\n{}", trimmed(&out));
    assert_eq!(out.status.code(), Some(0), "{}", trimmed(&out));
    assert_eq!(fleet.installed("prod-sudo"), before, "dpkg-query -W byte for byte as before the window");
    let after = events(&journal);
    let rolled: Vec<(usize, Outcome, Option<bool>)> = after[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::RollbackFinished { host, step, outcome, verified, .. } if host == "prod-sudo" => {
                Some((*step, outcome.clone(), *verified))
            }
            _ => None,
        })
        .collect();
    assert!(rolled.iter().any(|(s, o, v)| *s == 0 && *o == Outcome::Ok && *v == Some(true)), "{rolled:?}");
    let checks = after[mark..].iter().find_map(|e| match e {
        Event::Checks { host, after_rollback: true, results, .. } if host == "prod-sudo" => Some(results.clone()),
        _ => None,
    });
    let checks = checks.expect("health checked after the rollback");
    // `dpkg --audit` ran on the host as root (sudo), with sbin on PATH.
    assert!(!checks.is_empty() && checks.iter().all(|c| c.ok), "{checks:?}");
    eprintln!(
        "journal of the window (trimmed):\n{}",
        after
            .iter()
            .filter(|e| !matches!(e, Event::Snapshot { .. }))
            .map(|e| format!("{e:?}").chars().take(200).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The login whose sudo needs a password: a stop naming it, before anything changes.
    let pw_rb = window(&fleet, "reach-sudopw", "prod-sudopw", None);
    let before = fleet.installed("prod-sudopw");
    let out = fleet.patchdeck(&["check", pw_rb.to_str().unwrap()]);
    eprintln!("check of prod-sudopw (deploy's sudo needs a password):\n{}", trimmed(&out));
    assert_eq!(out.status.code(), Some(3), "{}", trimmed(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("SUDO UNUSABLE") && stdout.contains("sudo needs a password for deploy"), "{stdout}");
    assert_eq!(fleet.installed("prod-sudopw"), before);

    // On-host health checks run as root through sudo, as the window's commands do.
    let as_root = fleet.dir.join("reach-as-root.toml");
    let text_rb = std::fs::read_to_string(&sudo_rb).unwrap();
    std::fs::write(&as_root, format!("{text_rb}\n[[check]]\nname = \"as root\"\nrun = 'test \"$(id -u)\" = 0'\n"))
        .unwrap();
    let out = fleet.patchdeck(&["check", as_root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "on-host checks run as root: {}", trimmed(&out));

    // sudoers says requiretty for deploy: a stop naming it and the line that lifts it, and
    // nothing else: what needs root (the lock, fingerprints, drift, on-host checks) would
    // only repeat sudo's refusal under other names, so it waits until sudo works.
    let tty = "/etc/sudoers.d/pd-requiretty";
    fleet.exec_ok("prod-sudo", &format!("echo 'Defaults:deploy requiretty' >{tty} && chmod 440 {tty}"));
    let out = fleet.patchdeck(&["check", sudo_rb.to_str().unwrap()]);
    fleet.exec_ok("prod-sudo", &format!("rm {tty}"));
    eprintln!("check of prod-sudo with requiretty:\n{}", trimmed(&out));
    assert_eq!(out.status.code(), Some(3), "{}", trimmed(&out));
    let said = one_line(&out);
    assert!(said.contains("add `Defaults:deploy !requiretty`"), "{}", trimmed(&out));
    assert!(said.contains("not checked until it works"), "{}", trimmed(&out));
    for echo in ["LOCKED BY ANOTHER WINDOW", "CONFIG DRIFT", "health \"dpkg is consistent\" fails"] {
        assert!(!said.contains(echo), "{echo:?} only repeats sudo's refusal: {}", trimmed(&out));
    }

    // A step's program that deploy's PATH finds (/usr/games) but sudo's secure_path does not:
    // a stop naming the program and the directory to add, before the window.
    fleet.exec_ok(
        "prod-sudo",
        "printf '#!/bin/sh\\nexit 0\\n' >/usr/games/pd-migrate && chmod 755 /usr/games/pd-migrate",
    );
    let steps = "[[step]]\nname = \"migrate\"\nrun = \"pd-migrate --all\"\nrollback = \"true\"\n";
    let hidden_rb = window(&fleet, "reach-hidden", "prod-sudo", Some(steps));
    let out = fleet.patchdeck(&["check", hidden_rb.to_str().unwrap()]);
    fleet.exec_ok("prod-sudo", "rm /usr/games/pd-migrate");
    eprintln!("check of prod-sudo with a step's program outside secure_path:\n{}", trimmed(&out));
    assert_eq!(out.status.code(), Some(3), "{}", trimmed(&out));
    let stdout = one_line(&out);
    assert!(
        stdout.contains("pd-migrate SUDO UNUSABLE") && stdout.contains("add /usr/games to `Defaults secure_path`"),
        "{stdout}"
    );

    fleet.down();
}
