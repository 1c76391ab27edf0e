//! `patchdeck run --no-tui` with the real binary: journal, exit codes, the lock, and
//! crash safety (kill -9 mid-step, then --resume neither loses nor repeats a step).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use patchdeck::engine::control::Choice;
use patchdeck::engine::event::{Event, Request, StopKind};

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

    // Not the binary's word: the journal, read here. The rollback put back exactly what the
    // packages step changed, each to its version in the snapshot taken before the step, and
    // nothing else; verified on the host, healthy after.
    let ev = events(dir.path());
    let snapshot: std::collections::BTreeMap<String, Option<String>> = ev
        .iter()
        .find_map(|e| match e {
            Event::Snapshot { host, step: 1, packages } if host == "canary1" => {
                Some(packages.iter().map(|p| (p.name.clone(), p.version.clone())).collect())
            }
            _ => None,
        })
        .expect("a snapshot before the packages step");
    let changed: Vec<(String, Option<String>)> = ev
        .iter()
        .find_map(|e| match e {
            Event::StepFinished { host, step: 1, changes, .. } if host == "canary1" => {
                Some(changes.iter().map(|c| (c.name.clone(), c.from.clone())).collect())
            }
            _ => None,
        })
        .expect("the packages step finished");
    assert!(changed.len() >= 5, "{changed:?}");
    for (name, from) in &changed {
        assert_eq!(snapshot.get(name).cloned().flatten(), from.clone(), "{name} changed from its snapshot version");
    }
    let restore = ev
        .iter()
        .find_map(|e| match e {
            Event::RollbackStarted { host, step: 1, command, .. } if host == "canary1" => Some(command.clone()),
            _ => None,
        })
        .expect("the packages step was rolled back");
    let restored: Vec<(String, Option<String>)> = restore
        .strip_prefix("apt restore ")
        .unwrap_or_else(|| panic!("{restore}"))
        .split_whitespace()
        .map(|w| {
            w.split_once('=').map_or((w.trim_end_matches('-').to_string(), None), |(n, v)| (n.into(), Some(v.into())))
        })
        .collect();
    assert_eq!(restored, changed, "restored: every change back to the snapshot, nothing else");
    assert!(ev.iter().any(|e| matches!(e,
        Event::RollbackFinished { host, step: 1, outcome: patchdeck::engine::event::Outcome::Ok, verified: Some(true), mismatches, .. }
            if host == "canary1" && mismatches.is_empty())));
    let after: Vec<bool> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Checks { host, after_rollback: true, results, .. } if host == "canary1" => {
                Some(results.iter().all(|r| r.ok))
            }
            _ => None,
        })
        .collect();
    assert_eq!(after, [true], "health checked once after the rollback, passing");
    let state = patchdeck::engine::state::WindowState::fold(&ev);
    assert_eq!(state.hosts["canary1"].result, Some(patchdeck::engine::event::HostResult::RolledBack));
    assert!(!ev.iter().any(|e| matches!(e, Event::StepStarted { host, .. } if host == "web1")), "nothing more started");

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
        |e| matches!(e, Event::HardStop { stop: StopKind::UnknownOutcome { step, .. }, .. } if step == "restart nginx")
    ));
    assert!(matches!(after.last(), Some(Event::WindowFinished { .. })));
}

/// Issue 14.5: one `run` of a window at a time on a machine, whatever `--journal` says; the
/// second is refused before it writes anything, and says which run holds the window.
#[test]
fn a_second_run_of_the_window_with_another_journal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "[[host.canary1.faults]]\non = \"systemctl restart nginx\"\neffect = \"hang\"\n");
    let mut first = run_cmd(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_journal(dir.path(), "\"name\":\"restart nginx\"", 30);
    let elsewhere = dir.path().join("elsewhere.journal.jsonl");
    let second = run(dir.path(), &["--journal", elsewhere.to_str().unwrap()]);
    let err = text(&second.stderr);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_ne!(second.status.code(), Some(0), "{err}");
    assert!(err.contains("window openssl-security-2026-11 is already being run on this machine"), "{err}");
    assert!(err.contains(&format!("pid {}", first.id())), "{err}");
    assert!(err.contains(&journal(dir.path()).display().to_string()), "names the running window's journal: {err}");
    assert!(!elsewhere.exists(), "the refused run wrote no journal");
    assert!(!text(&second.stdout).contains("apt install"), "nothing ran");
}

fn journal_text(dir: &Path) -> String {
    std::fs::read_to_string(journal(dir)).unwrap_or_default()
}

/// Waits (polling the journal, with a deadline) until it holds `what`.
fn wait_journal(dir: &Path, what: &str, secs: u64) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !journal_text(dir).contains(what) {
        assert!(Instant::now() < until, "the journal never said {what}:\n{}", journal_text(dir));
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM in a headless run: journaled, the window left paused (running steps end, nothing
/// new starts, no end recorded), exit 4; `--resume` finishes it where it was.
#[test]
fn sigterm_leaves_the_window_paused_and_resume_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "");
    let child = run_cmd(dir.path(), &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_journal(dir.path(), "\"name\":\"apply tested updates\"", 30);
    let pid = child.id() as i32;
    assert_eq!(unsafe_kill(pid, "TERM"), 0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stderr).contains("SIGTERM: leaving the window paused"), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("resume with `patchdeck run"), "{}", text(&out.stdout));
    let paused = events(dir.path());
    let at = paused
        .iter()
        .position(|e| {
            matches!(e, Event::Requested { request: Request::Pause { reason }, operators }
            if reason == "SIGTERM received" && operators == &["alice"])
        })
        .expect("the pause is journaled with why and who");
    assert!(!paused[at..].iter().any(|e| matches!(e, Event::StepStarted { .. })), "nothing started after it");
    assert!(!paused.iter().any(|e| matches!(e, Event::WindowFinished { .. })));
    let starts = paused.iter().filter(|e| matches!(e, Event::StepStarted { .. })).count();
    let ends = paused.iter().filter(|e| matches!(e, Event::StepFinished { .. })).count();
    assert_eq!(starts, ends, "the running step ended before the process left");

    let out = run(dir.path(), &["--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let done = events(dir.path());
    assert_eq!(&done[..paused.len()], &paused[..]);
    assert!(matches!(&done[paused.len()], Event::Resumed { operators, .. } if operators == &["alice"]));
    let again = |e: &Event| matches!(e, Event::StepStarted { .. });
    assert_eq!(
        done.iter().filter(|e| again(e)).count(),
        8,
        "two hosts x four steps, none run twice: {:#?}",
        &done[paused.len()..]
    );
    assert!(matches!(done.last(), Some(Event::WindowFinished { aborted: false })));
}

fn unsafe_kill(pid: i32, signal: &str) -> i32 {
    Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().map_or(-1, |s| s.code().unwrap_or(-1))
}

/// `--resume` of a finished window appends nothing and says how to roll back instead.
#[test]
fn resume_of_a_finished_window_changes_nothing_and_points_at_rollback() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "");
    assert_eq!(run(dir.path(), &[]).status.code(), Some(0));
    let before = std::fs::read(journal(dir.path())).unwrap();
    let out = run(dir.path(), &["--resume", "--decide", "rollback"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("has finished: --resume changes nothing"), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("patchdeck rollback"), "{}", text(&out.stdout));
    assert_eq!(std::fs::read(journal(dir.path())).unwrap(), before, "not a byte appended");
}

/// After the window finished, `patchdeck rollback JOURNAL --host H` undoes H's steps from the
/// journal, appends to the same journal, and verifies; other hosts are left alone.
#[test]
fn rollback_command_undoes_a_host_after_the_window_finished() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "");
    assert_eq!(run(dir.path(), &[]).status.code(), Some(0));
    let before = events(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_patchdeck"))
        .arg("--simulate")
        .arg(dir.path().join("fleet.toml"))
        .args(["rollback"])
        .arg(journal(dir.path()))
        .args(["--host", "web1", "--yes", "--operator", "bob"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("web1: rolled back"), "{stdout}");
    let after = events(dir.path());
    assert_eq!(&after[..before.len()], &before[..], "appended to the same journal");
    let new = &after[before.len()..];
    assert!(
        matches!(&new[0], Event::Resumed { operators, pid, .. } if operators == &["bob"] && *pid != std::process::id()),
        "who took the window up, from which process: {:?}",
        new[0]
    );
    assert!(matches!(&new[1], Event::Requested { request: Request::RollbackHost { host }, operators }
        if host == "web1" && operators == &["bob"]));
    assert!(stdout.contains("web1: rolled back, verified"), "the host's standing is said last: {stdout}");
    let undone: Vec<usize> = new
        .iter()
        .filter_map(|e| match e {
            Event::RollbackFinished { host, step, .. } if host == "web1" => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(undone, [3, 2, 1, 0], "every step of web1, newest first");
    assert!(new.iter().any(|e| matches!(e, Event::Checks { host, after_rollback: true, .. } if host == "web1")));
    assert!(!new.iter().any(|e| matches!(e, Event::RollbackStarted { host, .. } if host == "canary1")));
    let state = patchdeck::engine::state::WindowState::fold(&after);
    assert!(!state.hosts["web1"].has_changes());
    assert!(state.hosts["canary1"].has_changes(), "canary1 was not asked for");

    // Nothing left to undo: said, and nothing appended.
    let again = Command::new(env!("CARGO_BIN_EXE_patchdeck"))
        .arg("--simulate")
        .arg(dir.path().join("fleet.toml"))
        .arg("rollback")
        .arg(journal(dir.path()))
        .args(["--host", "web1", "--yes"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again.stdout).contains("web1: nothing to undo"), "{}", text(&again.stdout));
    assert_eq!(events(dir.path()).len(), after.len());
}

/// Before the window's start, a headless run refuses (nothing is journaled) unless told to
/// start early, with a reason that is journaled with who gave it.
#[test]
fn headless_refuses_to_start_early_unless_told_why() {
    let dir = tempfile::tempdir().unwrap();
    let later = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(2)).unwrap();
    crate::support::demo::clean_demo(
        dir.path(),
        crate::support::demo::CLEAN_WAVES,
        |rb| patchdeck::demo::window_around(&rb, later),
        |fleet| fleet,
    );
    let out = run(dir.path(), &[]);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("--start-early REASON"), "{}", text(&out.stderr));
    assert!(!journal(dir.path()).exists(), "nothing journaled");

    let out = run(dir.path(), &["--start-early", "change board moved the window up"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let ev = events(dir.path());
    let early = ev.iter().find_map(|e| match e {
        Event::Decided(d) if d.decision.choice == Choice::StartEarly => Some(d.clone()),
        _ => None,
    });
    let early = early.expect("the early start is journaled");
    assert_eq!(early.decision.reason.as_deref(), Some("change board moved the window up"));
    assert_eq!(early.operators, ["--start-early (standing order of alice)"]);
    let first_step = ev.iter().position(|e| matches!(e, Event::StepStarted { .. })).unwrap();
    let decided =
        ev.iter().position(|e| matches!(e, Event::Decided(d) if d.decision.choice == Choice::StartEarly)).unwrap();
    assert!(decided < first_step, "decided before anything changed");
}

/// The journal moved away while the window runs: the next append refuses (its file is no
/// longer the journal), the window stops there, the message names the journal and what
/// happened, and nothing is written to the moved file or to a new one at the old path.
#[test]
fn a_journal_moved_mid_window_stops_the_window_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "");
    let child = run_cmd(dir.path(), &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_journal(dir.path(), "\"name\":\"apply tested updates\"", 30);
    let moved = dir.path().join("moved.jsonl");
    std::fs::rename(journal(dir.path()), &moved).unwrap();
    let at_move = std::fs::read(&moved).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    eprintln!("{}{err}", text(&out.stdout));
    assert_eq!(out.status.code(), Some(1), "{}{err}", text(&out.stdout));
    assert!(err.contains("openssl-security-2026-11.journal.jsonl"), "names the journal: {err}");
    assert!(err.contains("moved") || err.contains("replaced") || err.contains("removed"), "says what happened: {err}");
    assert_eq!(std::fs::read(&moved).unwrap(), at_move, "nothing appended to the moved file");
    assert!(!journal(dir.path()).exists(), "no new journal started at the old path");
    let before: Vec<Event> =
        patchdeck::journal::replay::<Event>(&moved).unwrap().records.into_iter().map(|r| r.event).collect();
    assert!(!before.iter().any(|e| matches!(e, Event::WindowFinished { .. })));
}
