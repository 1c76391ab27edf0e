//! `patchdeck run --no-tui` with the real binary: journal, exit codes, the lock, and
//! crash safety (kill -9 mid-step, then --resume neither loses nor repeats a step).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use patchdeck::engine::event::{Event, StopKind};

/// The demo window cut down to canary1 and web1 (both clean), with `fleet_extra`
/// appended to the simulated fleet (faults).
fn setup(dir: &Path, fleet_extra: &str) -> PathBuf {
    crate::support::demo::clean_demo_now(dir, fleet_extra)
}

fn run_cmd(dir: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patchdeck"));
    c.arg("--simulate").arg(dir.join("fleet.toml")).arg("run").arg(dir.join("runbook.toml"));
    c.args(["--no-tui", "--yes", "--operator", "alice"]).args(extra).env("NO_COLOR", "1");
    c
}

fn run(dir: &Path, extra: &[&str]) -> Output {
    run_cmd(dir, extra).output().unwrap()
}

fn journal(dir: &Path) -> PathBuf {
    dir.join("openssl-security-2026-11.journal.jsonl")
}

fn events(dir: &Path) -> Vec<Event> {
    let r = patchdeck::journal::replay::<Event>(&journal(dir)).unwrap();
    r.records.into_iter().map(|r| r.event).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn clean_window_exits_0_and_journals_everything() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "");
    let out = run(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let ev = events(dir.path());
    assert!(matches!(ev.first(), Some(Event::WindowStarted { operators, .. }) if operators == &["alice"]));
    assert!(matches!(ev.last(), Some(Event::WindowFinished { aborted: false })));
    let finished = ev.iter().filter(|e| matches!(e, Event::StepFinished { .. })).count();
    assert_eq!(finished, 8, "4 steps on each of 2 hosts");
    assert!(text(&out.stdout).contains("canary1: apply tested updates: apt install"));

    // Running the same window again without --resume must not clobber its journal.
    let again = run(dir.path(), &[]);
    assert_ne!(again.status.code(), Some(0));
    let err = text(&again.stderr);
    assert!(err.contains("already exists") && err.contains("--resume") && err.contains("patchdeck watch"), "{err}");
}

#[test]
fn hard_stop_without_decide_exits_3_and_never_overrides() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "[[host.canary1.faults]]\non = \"systemctl restart nginx\"\neffect = { exit = 1 }\n");
    let out = run(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("HARD STOP canary1: step \"restart nginx\" failed (exit 1)"),
        "{}",
        text(&out.stdout)
    );
    let ev = events(dir.path());
    assert!(ev.iter().all(|e| !matches!(
        e,
        Event::Decided(d) if d.decision.choice == patchdeck::engine::control::Choice::Override
    )));
    assert!(
        !ev.iter().any(|e| matches!(e, Event::StepStarted { host, .. } if host == "web1")),
        "web1 was never started"
    );
}

#[test]
fn decide_rollback_restores_the_host() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "[[host.canary1.faults]]\non = \"systemctl restart nginx\"\neffect = { exit = 1 }\n");
    let out = run(dir.path(), &["--decide", "rollback"]);
    assert_eq!(out.status.code(), Some(3));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("canary1: rollback of step 2 ok in"), "{stdout}");
    assert!(stdout.contains("packages verified on the host"), "{stdout}");
    assert!(stdout.contains("canary1: health checks pass after rollback"), "{stdout}");
    assert!(stdout.contains("canary1: rolled back"), "{stdout}");

    // The change record, from the real journal, through the real binary.
    let md = dir.path().join("record.md");
    let out = Command::new(env!("CARGO_BIN_EXE_patchdeck"))
        .arg("report")
        .arg(journal(dir.path()))
        .arg("-o")
        .arg(&md)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let md = std::fs::read_to_string(md).unwrap();
    assert!(md.starts_with("# Change record: openssl-security-2026-11"), "{md}");
    // The flag decided, not a person at the stop: the record says which.
    assert!(md.contains("**Decision: roll back canary1** at "), "{md}");
    assert!(md.contains(" by --decide rollback (standing order of alice)"), "{md}");
    assert!(md.contains("restored to `3.0.15-1~deb12u1`"), "{md}");
}

/// kill -9 while a step runs, then --resume: the journal is intact, the in-flight step is a
/// hard stop (outcome unknown), and no step runs twice without a decision.
#[test]
fn kill_9_mid_step_then_resume_neither_loses_nor_repeats() {
    let dir = tempfile::tempdir().unwrap();
    // canary1's restart hangs for its whole 5-minute timeout: we kill patchdeck meanwhile.
    setup(dir.path(), "[[host.canary1.faults]]\non = \"systemctl restart nginx\"\neffect = \"hang\"\n");
    let mut child = run_cmd(dir.path(), &[]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let in_flight = std::fs::read_to_string(journal(dir.path()))
            .map(|j| j.contains("\"type\":\"step_started\"") && j.contains("\"name\":\"restart nginx\""))
            .unwrap_or(false);
        if in_flight {
            break;
        }
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(50));
    }

    // While it runs, a second `run` of the same window is refused and pointed at `watch`.
    let second = run(dir.path(), &["--resume"]);
    assert_ne!(second.status.code(), Some(0));
    assert!(text(&second.stderr).contains("patchdeck watch"), "{}", text(&second.stderr));

    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = events(dir.path());
    let started_before =
        before.iter().filter(|e| matches!(e, Event::StepStarted { host, step: 2, .. } if host == "canary1")).count();
    assert_eq!(started_before, 1);

    // Abort at the stop: the host is left as it is (its rollback would restart nginx,
    // which this fleet makes hang), nothing runs forward.
    let out = run(dir.path(), &["--resume", "--decide", "abort"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("outcome unknown"), "{stdout}");
    let after = events(dir.path());
    assert_eq!(&after[..before.len()], &before[..], "nothing journaled before the crash was lost or changed");
    let started_after =
        after.iter().filter(|e| matches!(e, Event::StepStarted { host, step: 2, .. } if host == "canary1")).count();
    assert_eq!(started_after, 1, "the in-flight step was not run again");
    assert!(after.iter().any(
        |e| matches!(e, Event::HardStop { stop: StopKind::UnknownOutcome { step }, .. } if step == "restart nginx")
    ));
    assert!(matches!(after.last(), Some(Event::WindowFinished { .. })));
}
