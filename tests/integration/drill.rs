//! Drills: every bundled scenario runs headless on the demo window (library, `--speed 0`),
//! proving its hard stop, the decision, the rollback's verification and the scorecard; the
//! binary is checked for the drill markings, the journal, exit codes and the history.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use patchdeck::diag::SourceFile;
use patchdeck::drill::{Backend, Drill, Handle, Scenario, Script, scenario};
use patchdeck::engine::control::{Choice, StopCode};
use patchdeck::engine::event::{Event, HostResult, Outcome, StopKind};
use patchdeck::engine::recorder::MemoryLog;
use patchdeck::sim::SimTransport;
use patchdeck::sim::{Fleet, SimProber};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo");

struct Ran {
    outcome: patchdeck::drill::Outcome,
    fleet: Fleet,
    /// Every host's installed packages before the drill, read from the simulated fleet.
    before: Maps,
}

type Maps = std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>;

/// Every host's whole installed map, straight from the simulated fleet (not through a probe).
fn installed_maps(fleet: &Fleet) -> Maps {
    fleet.host_names().into_iter().map(|h| (h.clone(), fleet.with_host(&h, |s| s.installed.clone()).unwrap())).collect()
}

async fn drill(s: &Scenario) -> Ran {
    let rb = patchdeck::runbook::load(&Path::new(DEMO).join("runbook.toml")).unwrap();
    let baseline = patchdeck::baseline::load(&rb.baseline.file).unwrap();
    s.check(&rb).unwrap();
    let rb = s.apply(&rb);
    let fleet =
        Fleet::from_toml(&SourceFile::read(&Path::new(DEMO).join("fleet.toml")).unwrap()).unwrap().with_speed(0.0);
    let transport = SimTransport::new(fleet.clone());
    let prober = SimProber(fleet.clone());
    let decider = Script::new(&s.name, s.decisions().unwrap(), None, vec!["alice".into()], 0.0, Box::new(|_| {}));
    let d = Drill {
        runbook: &rb,
        baseline: &baseline,
        scenario: s,
        transport: &transport,
        local: &transport,
        prober: &prober,
        backend: Backend::Sim(fleet.clone()),
        handle: Handle::new(rb.window.starts, false),
        speed: 0.0,
        decider: &decider,
        operators: vec!["alice".into()],
        live: None,
    };
    let before = installed_maps(&fleet);
    let outcome = d.run(Box::new(MemoryLog(Default::default())), None).await.unwrap();
    Ran { outcome, fleet, before }
}

/// (scenario, stop kind, host of the stop (None: the window's), decision, the host whose end
/// is checked, how it ends, its packages as before the window?)
type Case = (&'static str, StopCode, Option<&'static str>, Choice, &'static str, Option<HostResult>, Option<bool>);
const CASES: &[Case] = &[
    (
        "untested-package",
        StopCode::Divergence,
        Some("web1"),
        Choice::Skip,
        "web1",
        Some(HostResult::Skipped),
        Some(true),
    ),
    (
        "version-mismatch",
        StopCode::Divergence,
        Some("web1"),
        Choice::Skip,
        "web1",
        Some(HostResult::Skipped),
        Some(true),
    ),
    ("config-drift", StopCode::Divergence, Some("web1"), Choice::Skip, "web1", Some(HostResult::Skipped), Some(true)),
    ("host-unreachable", StopCode::Unreachable, Some("web1"), Choice::Abort, "web1", Some(HostResult::Stopped), None),
    (
        "step-failed",
        StopCode::StepFailed,
        Some("canary1"),
        Choice::RollbackHost,
        "canary1",
        Some(HostResult::RolledBack),
        Some(true),
    ),
    (
        "step-timeout",
        StopCode::StepTimeout,
        Some("canary1"),
        Choice::RollbackHost,
        "canary1",
        Some(HostResult::RolledBack),
        Some(true),
    ),
    (
        "health-failed",
        StopCode::HealthFailed,
        Some("web1"),
        Choice::RollbackHost,
        "web1",
        Some(HostResult::RolledBack),
        Some(true),
    ),
    (
        "health-fails-at-time",
        StopCode::HealthFailed,
        Some("web1"),
        Choice::RollbackHost,
        "web1",
        Some(HostResult::RolledBack),
        Some(true),
    ),
    (
        "reboot-required",
        StopCode::RebootRequired,
        Some("canary1"),
        Choice::RollbackHost,
        "canary1",
        Some(HostResult::RolledBack),
        Some(true),
    ),
    ("deadline", StopCode::Deadline, None, Choice::RollbackAll, "web1", Some(HostResult::RolledBack), Some(true)),
    ("risk-over", StopCode::RiskOver, None, Choice::Abort, "canary1", None, Some(true)),
    (
        "irreversible",
        StopCode::Irreversible,
        Some("canary1"),
        Choice::RollbackHost,
        "canary1",
        Some(HostResult::RolledBack),
        Some(true),
    ),
    (
        "crash-unknown-outcome",
        StopCode::UnknownOutcome,
        Some("canary1"),
        Choice::RollbackHost,
        "canary1",
        Some(HostResult::RolledBack),
        Some(true),
    ),
    (
        "rollback-unverified",
        StopCode::RollbackUnverified,
        Some("canary1"),
        Choice::Abort,
        "canary1",
        Some(HostResult::Failed),
        Some(false),
    ),
];

/// The first journaled stop of `kind`: its id, its host, and the decision taken at it.
fn journaled_stop(events: &[Event], kind: StopCode) -> Option<(u64, Option<String>, Option<Choice>)> {
    let (id, host) = events.iter().find_map(|e| match e {
        Event::HardStop { id, host, stop, .. } if stop.code() == kind => Some((*id, host.clone())),
        _ => None,
    })?;
    let decided = events.iter().find_map(|e| match e {
        Event::Decided(d) if d.id == id => Some(d.decision.choice),
        _ => None,
    });
    Some((id, host, decided))
}

#[test]
fn every_stop_kind_has_a_bundled_scenario_and_every_scenario_a_case() {
    let kinds: std::collections::BTreeSet<StopCode> = CASES.iter().map(|c| c.1).collect();
    // Every kind of stop a fault can cause has a bundled rehearsal (the others are questions
    // about the plan: a gate, the start time, a rollback still unhealthy needs two faults;
    // a host locked by another window needs a second window, no fault of this one).
    for k in StopCode::ALL {
        let rehearsable = !matches!(
            k,
            StopCode::Gate
                | StopCode::BeforeStart
                | StopCode::TooManyFailures
                | StopCode::StillUnhealthy
                | StopCode::HostLocked
        );
        assert_eq!(kinds.contains(&k), rehearsable, "{k:?}");
    }
    let names: Vec<String> = scenario::all_bundled().into_iter().map(|s| s.name).collect();
    assert_eq!(names, CASES.iter().map(|c| c.0.to_string()).collect::<Vec<_>>());
}

#[tokio::test]
async fn every_bundled_scenario_proves_its_stop_decision_and_rollback() {
    for &(name, kind, stop_host, decision, host, result, as_before) in CASES {
        let s = scenario::bundled(name).unwrap();
        let r = drill(&s).await;
        let card = &r.outcome.scorecard;
        let text = card.render().join("\n");
        assert!(card.passed, "{name}:\n{text}");
        // The stop, as journaled, and the decision taken at it.
        let stop =
            journaled_stop(&r.outcome.events, kind).unwrap_or_else(|| panic!("{name}: no {kind:?} stop:\n{text}"));
        assert_eq!((stop.1.as_deref(), stop.2), (stop_host, Some(decision)), "{name}");
        // The scorecard: the stop is attributed (to its fault, or as a condition), with times.
        let scored = card
            .faults
            .iter()
            .filter_map(|f| f.stop.as_ref())
            .chain(card.other_stops.iter())
            .find(|s| s.id == stop.0)
            .unwrap_or_else(|| panic!("{name}: stop not scored:\n{text}"));
        assert_eq!(scored.kind, kind);
        assert_eq!(scored.decision, Some(decision));
        assert!(scored.detect_s >= 0.0 && scored.decide_s.unwrap() >= scored.detect_s, "{name}: {scored:?}");
        for f in &card.faults {
            assert!(f.injected_s.is_some(), "{name}: {} never fired", f.fault);
            assert!(f.stop.is_some(), "{name}: {} not detected", f.fault);
        }
        // How the host ended, from the journal and the simulated fleet themselves, not from
        // the scorecard: the journal's fold says how each host ended; the fleet's packages,
        // compared whole with the ones before the drill, say whether it is as before.
        let state = patchdeck::engine::state::WindowState::fold(&r.outcome.events);
        assert_eq!(state.hosts.get(host).and_then(|h| h.result), result, "{name}: the journal's fold");
        let after = installed_maps(&r.fleet);
        if let Some(same) = as_before {
            assert_eq!(after[host] == r.before[host], same, "{name}: {host}'s packages as before the drill?");
        }
        if result == Some(HostResult::RolledBack) {
            assert_eq!(after[host], r.before[host], "{name}: {host} rolled back to exactly what it had");
            assert!(scored.recover_s.is_some(), "{name}: recovery time:\n{text}");
            assert!(scored.recover_s.unwrap() >= scored.decide_s.unwrap(), "{name}");
        }
        // The scorecard agrees with both, for every host it lists.
        let end = card.hosts.iter().find(|h| h.host == host).unwrap();
        assert_eq!((end.result, end.as_before), (result, as_before), "{name}:\n{text}");
        for end in &card.hosts {
            assert_eq!(end.result, state.hosts.get(&end.host).and_then(|h| h.result), "{name}: {}", end.host);
            if let Some(same) = end.as_before {
                assert_eq!(after[&end.host] == r.before[&end.host], same, "{name}: scorecard on {}:\n{text}", end.host);
            }
        }
        // The journal says it was a drill, and ends with the scorecard.
        assert!(matches!(r.outcome.events.first(), Some(Event::WindowStarted { drill: true, .. })), "{name}");
        assert!(matches!(r.outcome.events.last(), Some(Event::DrillScorecard { scorecard }) if **scorecard == *card));
    }
}

#[tokio::test]
async fn scorecard_times_come_from_the_drill_clock() {
    // step-timeout: the hang lasts the step's whole timeout (5m) on the drill clock, though
    // the drill runs at --speed 0.
    let r = drill(&scenario::bundled("step-timeout").unwrap()).await;
    let f = &r.outcome.scorecard.faults[0];
    let stop = f.stop.as_ref().unwrap();
    assert_eq!(stop.detect_s, 300.0, "{f:?}");
    assert!(stop.recover_s.unwrap() > 300.0);
    // deadline: injected one minute past decide-by (23:10 -> 23:11 = 71m after the start).
    let r = drill(&scenario::bundled("deadline").unwrap()).await;
    let f = &r.outcome.scorecard.faults[0];
    assert_eq!(f.injected_s, Some(71.0 * 60.0), "{f:?}");
    assert!(f.stop.as_ref().unwrap().detect_s < 60.0);
    // Both canary1 and web1 were rolled back by "rollback everything", to exactly what they had.
    let after = installed_maps(&r.fleet);
    for h in ["canary1", "web1"] {
        assert_eq!(after[h], r.before[h], "{h}");
    }
}

/// The events of `host` around the one `FaultInjected`: (the last step started on `host`
/// before it, whether that step had finished when the fault fired).
fn injected_during(events: &[Event], host: &str) -> (String, bool) {
    let k = events.iter().position(|e| matches!(e, Event::FaultInjected { .. })).expect("a fault was injected");
    let (step, started_at) = events[..k]
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, e)| match e {
            Event::StepStarted { host: h, step, name, .. } if h == host => Some(((*step, name.clone()), i)),
            _ => None,
        })
        .expect("a step had started on the host");
    let finished = events[started_at..k]
        .iter()
        .any(|e| matches!(e, Event::StepFinished { host: h, step: s, .. } if h == host && *s == step.0));
    (step.1, finished)
}

/// Equal on the drill clock up to a millisecond (decisions count their real time on it,
/// microseconds for a scripted one).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-3
}

/// Time triggers (`at = "T"`): a fault fires at the first command on or after T on the drill
/// clock, whatever the window is doing then, and lands on its host; the next check of that
/// host catches it. On the demo window (canary1 then web1, `--speed 0`) web1's updates are
/// installed from 8.75s to 11.75s of drill time, so T = 9s or 10s fires at 11.75s, right
/// before the probe after that install.
#[tokio::test]
async fn a_fault_at_a_time_fires_then_and_its_stop_is_scored_from_then() {
    // The bundled scenario: web1's site stops answering at 10s. The health checks after the
    // packages step fail, auto-rollback restores web1.
    let s = scenario::bundled("health-fails-at-time").unwrap();
    assert!(s.faults[0].at_step.is_none() && s.faults[0].at.as_deref() == Some("10s"), "{s:?}");
    let r = drill(&s).await;
    let card = &r.outcome.scorecard;
    let text = card.render().join("\n");
    assert!(card.passed, "{text}");
    let f = &card.faults[0];
    assert!(f.injected_s.is_some_and(|t| close(t, 11.75)), "{:?}\n{text}", f.injected_s);
    assert_eq!(injected_during(&r.outcome.events, "web1"), ("apply tested updates".to_string(), false));
    let stop = f.stop.as_ref().unwrap_or_else(|| panic!("not detected:\n{text}"));
    assert_eq!((stop.kind, stop.host.as_deref()), (StopCode::HealthFailed, Some("web1")), "{text}");
    assert_eq!(stop.decision, Some(Choice::RollbackHost), "{text}");
    // Detected when auto-rollback was armed: after the post-install probe (0.35s) and the
    // `nginx -t` check on the host (0.3s); the HTTP check from outside takes no drill time.
    assert!(close(stop.detect_s, 0.65), "{stop:?}");
    // Decided once the 15s countdown ran out; recovered when the rollback verified.
    let decide = stop.decide_s.unwrap();
    assert!(decide > stop.detect_s + 14.99, "{stop:?}");
    assert!(stop.recover_s.is_some_and(|t| t > decide), "{stop:?}");
    let ev = &r.outcome.events;
    assert!(
        ev.iter().any(|e| matches!(e,
        Event::HardStop { host: Some(h), stop: StopKind::HealthFailed { after_step, failing, .. }, .. }
            if h == "web1" && after_step == "apply tested updates" && failing[0].check == "site answers from outside"))
    );
    assert!(ev.iter().any(|e| matches!(e,
        Event::Decided(d) if d.host.as_deref() == Some("web1")
            && d.by == Some(patchdeck::engine::control::Actor::AutoRollback))));
    assert_eq!(installed_maps(&r.fleet)["web1"], r.before["web1"], "web1 rolled back to exactly what it had");

    // web1 drops off the network at 9s: the same moment, so the probe after its install finds
    // it gone. The packages step ends unreachable: web1 may have changed, so it can no
    // longer be skipped; abort leaves it for people (and a rollback later).
    let s = Scenario::parse(
        "decisions = [\"abort\"]\n[runbook]\nhosts = [\"canary1\", \"web1\"]\n\
         [[fault]]\nname = \"web1 drops\"\nhost = \"web1\"\nat = \"9s\"\neffect = \"unreachable\"\n\
         [[expect]]\nstop = \"unreachable\"\nhost = \"web1\"\ndecision = \"abort\"\n",
        "unreachable-at-9s",
    )
    .unwrap();
    let r = drill(&s).await;
    let card = &r.outcome.scorecard;
    let text = card.render().join("\n");
    assert!(card.passed, "{text}");
    let f = &card.faults[0];
    assert!(f.injected_s.is_some_and(|t| close(t, 11.75)), "{text}");
    assert_eq!(injected_during(&r.outcome.events, "web1"), ("apply tested updates".to_string(), false));
    let stop = f.stop.as_ref().unwrap_or_else(|| panic!("not detected:\n{text}"));
    assert_eq!((stop.kind, stop.host.as_deref()), (StopCode::Unreachable, Some("web1")), "{text}");
    assert_eq!(stop.decision, Some(Choice::Abort));
    assert!(close(stop.detect_s, 0.35), "the post-install probe found it gone: {stop:?}");
    assert_eq!(stop.recover_s, None);
    let ev = &r.outcome.events;
    assert!(ev.iter().any(|e| matches!(e,
        Event::StepFinished { host, step: 1, outcome: Outcome::Unreachable { .. }, .. } if host == "web1")));
    let end = card.hosts.iter().find(|h| h.host == "web1").unwrap();
    assert_eq!((end.result, end.as_before), (Some(HostResult::Stopped), None), "{text}");

    // A time the window never reaches: the fault never fires, and the drill says so.
    let s = Scenario::parse(
        "[runbook]\nhosts = [\"canary1\"]\n[[fault]]\nhost = \"canary1\"\nat = \"1h\"\neffect = \"unreachable\"\n",
        "too-late",
    )
    .unwrap();
    let r = drill(&s).await;
    let card = &r.outcome.scorecard;
    assert!(!card.passed && card.faults[0].injected_s.is_none());
    assert!(card.expectations.iter().any(|e| !e.held && e.detail.contains("the window ended before 1h")), "{card:?}");
    assert!(!r.outcome.events.iter().any(|e| matches!(e, Event::FaultInjected { .. })));
}

#[tokio::test]
async fn crash_resumes_from_the_journal_without_repeating_the_step() {
    let r = drill(&scenario::bundled("crash-unknown-outcome").unwrap()).await;
    assert_eq!(r.outcome.engine_runs, 2);
    let restarts = r
        .outcome
        .events
        .iter()
        .filter(|e| matches!(e, Event::StepStarted { host, name, .. } if host == "canary1" && name == "restart nginx"))
        .count();
    assert_eq!(restarts, 1, "the in-flight step was not run again");
    // The crash came before the command ran; its outcome was unknown, so the rollback that
    // was decided undid it too (a step's rollback must be safe either way): nginx was
    // restarted once, by that rollback.
    let history = r.fleet.with_host("canary1", |h| h.history.clone()).unwrap();
    assert_eq!(history.iter().filter(|c| c.contains("systemctl restart nginx")).count(), 1, "{history:?}");
    assert!(r.outcome.events.iter().any(|e| matches!(e,
        Event::RollbackStarted { host, name, .. } if host == "canary1" && name == "restart nginx")));
}

#[tokio::test]
async fn a_wrong_expectation_fails_the_drill() {
    let mut s = scenario::bundled("step-failed").unwrap();
    s.expects[0].decision = Some(Choice::Skip);
    let r = drill(&s).await;
    assert!(!r.outcome.scorecard.passed);
    let e = &r.outcome.scorecard.expectations[0];
    assert!(!e.held && e.detail.contains("decision was rollback"), "{e:?}");

    // A fault whose step never starts fails the drill too.
    let s = Scenario::parse(
        "[runbook]\nhosts = [\"canary1\"]\n[[fault]]\nhost = \"web1\"\nat_step = \"restart nginx\"\neffect = \"hang\"\n",
        "never",
    )
    .unwrap();
    let r = drill(&s).await;
    assert!(!r.outcome.scorecard.passed);
    assert!(
        r.outcome.scorecard.expectations.iter().any(|e| e.detail.contains("never fired")),
        "{:?}",
        r.outcome.scorecard
    );
}

#[test]
fn scenarios_are_checked_against_the_runbook() {
    let rb = patchdeck::runbook::load(&Path::new(DEMO).join("runbook.toml")).unwrap();
    // Stop kinds and decisions are the engine's words: anything else does not parse.
    let err = Scenario::parse("[[expect]]\nstop = \"boom\"\n", "bad").unwrap_err().to_string();
    assert!(err.contains("unknown stop `boom` (one of divergence, unreachable,"), "{err}");
    let err = Scenario::parse("[[expect]]\nstop = \"gate\"\ndecision = \"maybe\"\n", "bad").unwrap_err();
    assert!(err.to_string().contains("unknown decision `maybe`"), "{err}");
    let s = Scenario::parse(
        "decisions = [\"maybe\"]\n[[fault]]\nhost = \"nosuch\"\nat_step = \"no step\"\nat = \"5s\"\neffect = \"hang\"\n",
        "bad",
    )
    .unwrap();
    let err = s.check(&rb).unwrap_err().to_string();
    for want in ["not both", "no step is named `no step`", "host `nosuch`", "unknown decision `maybe`"] {
        assert!(err.contains(want), "{want}: {err}");
    }
    assert!(Scenario::parse("[[fault]]\neffect = \"explode\"\n", "x").is_err());
}

// ---- the binary ----

fn demo_copy(dir: &Path) -> PathBuf {
    for f in ["runbook.toml", "hosts.toml", "tested.toml", "fleet.toml"] {
        std::fs::copy(Path::new(DEMO).join(f), dir.join(f)).unwrap();
    }
    dir.join("runbook.toml")
}

fn patchdeck(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchdeck"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("PATCHDECK_DRILL_HISTORY", dir.join("drills.jsonl"))
        .env("PATCHDECK_OPERATORS", "alice,bob")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn binary_drill_is_marked_journaled_scored_and_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let rb = demo_copy(dir.path());
    let journal = dir.path().join("drill.journal.jsonl");
    let rb_s = rb.to_str().unwrap();
    let j = journal.to_str().unwrap();
    let out = patchdeck(
        dir.path(),
        &["drill", rb_s, "--scenario", "step-failed", "--no-tui", "--speed", "0", "--journal", j],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.lines().all(|l| l.starts_with("[DRILL] ")), "{stdout}");
    for want in [
        "canary1: DRILL fault injected: nginx restart exits 1",
        "HARD STOP canary1: step \"restart nginx\" failed (exit 1)",
        "canary1: rollback of step 2 ok in",
        "canary1: rolled back",
        "SCORECARD step-failed",
        "PASSED",
    ] {
        assert!(stdout.contains(want), "{want}: {stdout}");
    }
    let replay = patchdeck::journal::replay::<Event>(&journal).unwrap();
    assert!(replay.header.drill);
    let events: Vec<Event> = replay.records.into_iter().map(|r| r.event).collect();
    assert!(matches!(events.first(), Some(Event::WindowStarted { drill: true, .. })));
    assert!(events.iter().any(|e| matches!(e, Event::FaultInjected { host: Some(h), .. } if h == "canary1")));
    let Some(Event::DrillScorecard { scorecard }) = events.last() else { panic!("no scorecard last") };
    assert!(scorecard.passed);
    assert_eq!(scorecard.decisions[0].by, ["drill scenario step-failed"], "the scenario decided, not alice or bob");
    // The journal folds like any window's.
    let state = patchdeck::engine::state::WindowState::fold(&events);
    assert_eq!(state.hosts["canary1"].result, Some(HostResult::RolledBack));

    // `report` turns the drill's journal into a change record that says it was a drill.
    let md = text(&patchdeck(dir.path(), &["report", j]).stdout);
    assert!(md.contains("**DRILL**"), "{md}");
    assert!(md.contains("**drill fault injected**: nginx restart exits 1"), "{md}");
    assert!(md.contains("## Drill scorecard") && md.contains("SCORECARD step-failed"), "{md}");

    // A second drill (another scenario), then the history table compares them.
    let out = patchdeck(dir.path(), &["drill", rb_s, "--scenario", "health-failed", "--no-tui", "--speed", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let hist = patchdeck(dir.path(), &["drill", "--history"]);
    let table = text(&hist.stdout);
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.contains("step-failed") && table.contains("health-failed") && table.contains("pass"), "{table}");
    assert!(table.lines().next().unwrap().contains("recover"), "{table}");
}

/// Every bundled scenario, headless through the real binary: each passes its own
/// expectations (exit 0), says it is a drill on every line and ends with its scorecard.
#[test]
fn binary_runs_every_bundled_scenario_headless() {
    let dir = tempfile::tempdir().unwrap();
    let rb = demo_copy(dir.path());
    for (name, _) in scenario::BUNDLED {
        let journal = dir.path().join(format!("{name}.journal.jsonl"));
        let args = ["drill", rb.to_str().unwrap(), "--scenario", name, "--no-tui", "--speed", "0", "--journal"];
        let out = patchdeck(dir.path(), &[&args[..], &[journal.to_str().unwrap()]].concat());
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name}: {stdout}{}", text(&out.stderr));
        assert!(stdout.lines().all(|l| l.starts_with("[DRILL] ")), "{name}: {stdout}");
        assert!(stdout.contains("HARD STOP"), "{name}: {stdout}");
        assert!(stdout.contains(&format!("SCORECARD {name}")) && stdout.contains("PASSED"), "{name}: {stdout}");
        let events: Vec<Event> =
            patchdeck::journal::replay::<Event>(&journal).unwrap().records.into_iter().map(|r| r.event).collect();
        let Some(Event::DrillScorecard { scorecard }) = events.last() else { panic!("{name}: no scorecard last") };
        assert!(scorecard.passed, "{name}: {scorecard:?}");
        // Not the scorecard's word alone: the journal has the stop, the decision taken at it,
        // and the host ending as the case says; a rolled-back host's rollback verified.
        let &(_, kind, stop_host, decision, host, result, _) = CASES.iter().find(|c| c.0 == *name).unwrap();
        let stop = journaled_stop(&events, kind).unwrap_or_else(|| panic!("{name}: no {kind:?} stop in the journal"));
        assert_eq!((stop.1.as_deref(), stop.2), (stop_host, Some(decision)), "{name}");
        let state = patchdeck::engine::state::WindowState::fold(&events);
        assert_eq!(state.hosts.get(host).and_then(|h| h.result), result, "{name}");
        if result == Some(HostResult::RolledBack) {
            let verified: Vec<Option<bool>> = events
                .iter()
                .filter_map(|e| match e {
                    Event::RollbackFinished { host: h, verified, .. } if h == host => Some(*verified),
                    _ => None,
                })
                .collect();
            assert!(!verified.is_empty() && verified.iter().all(|v| *v != Some(false)), "{name}: {verified:?}");
            assert!(verified.contains(&Some(true)), "{name}: the package rollback was verified: {verified:?}");
        }
    }
}

#[test]
fn binary_exit_is_nonzero_when_an_expectation_fails() {
    let dir = tempfile::tempdir().unwrap();
    let rb = demo_copy(dir.path());
    let sc = dir.path().join("wrong.toml");
    std::fs::write(
        &sc,
        "description = \"expects a skip where the script rolls back\"\ndecisions = [\"rollback\"]\n[runbook]\nhosts = [\"canary1\"]\n\
         [[fault]]\nhost = \"canary1\"\nat_step = \"restart nginx\"\neffect = { exit = 2 }\n\
         [[expect]]\nstop = \"step_failed\"\nhost = \"canary1\"\ndecision = \"skip\"\n",
    )
    .unwrap();
    let out = patchdeck(
        dir.path(),
        &[
            "drill",
            rb.to_str().unwrap(),
            "--scenario",
            sc.to_str().unwrap(),
            "--no-tui",
            "--speed",
            "0",
            "--no-history",
        ],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("FAILED (decision was rollback)"), "{stdout}");
    assert!(!dir.path().join("drills.jsonl").exists(), "--no-history");
}

#[test]
fn binary_list_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let out = patchdeck(dir.path(), &["drill", "--list"]);
    let list = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(list.lines().count(), scenario::BUNDLED.len());
    assert!(list.contains("rollback-unverified") && list.contains("verification"), "{list}");

    let rb = demo_copy(dir.path());
    let rb = rb.to_str().unwrap();
    // Without --no-tui the drill opens the cockpit, which needs a terminal (tui_tmux has one).
    let no_tui = patchdeck(dir.path(), &["drill", rb, "--scenario", "step-failed"]);
    assert_eq!(no_tui.status.code(), Some(1));
    assert!(text(&no_tui.stderr).contains("needs a terminal") && text(&no_tui.stderr).contains("--no-tui"));
    // In the cockpit the operators decide: a scripted --decide is refused there.
    let decide = patchdeck(dir.path(), &["drill", rb, "--scenario", "step-failed", "--decide", "rollback"]);
    assert_ne!(decide.status.code(), Some(0));
    assert!(text(&decide.stderr).contains("--decide") && text(&decide.stderr).contains("--no-tui"));
    // --live outside a declared drill window is refused (before any host is touched).
    let live = patchdeck(
        dir.path(),
        &[
            "drill",
            rb,
            "--scenario",
            "step-failed",
            "--no-tui",
            "--live",
            "--yes",
            "--drill-window",
            "2020-01-01T00:00:00Z/2020-01-01T02:00:00Z",
        ],
    );
    assert_ne!(live.status.code(), Some(0));
    assert!(text(&live.stderr).contains("outside the drill window"), "{}", text(&live.stderr));
    let live = patchdeck(dir.path(), &["drill", rb, "--scenario", "step-failed", "--no-tui", "--live", "--yes"]);
    assert!(text(&live.stderr).contains("--drill-window"), "{}", text(&live.stderr));
    // Effects that cannot be done on real hosts, and host faults without a fault command,
    // are refused before anything runs (the demo's hosts do not exist: nothing is reached).
    for (sc, want) in [
        ("reboot-required", "cannot be injected on real hosts"),
        ("host-unreachable", "needs a fault command on real hosts: --fault-cmd CMD, run as `CMD kill-sshd HOST`"),
    ] {
        let live = patchdeck(dir.path(), &["drill", rb, "--scenario", sc, "--no-tui", "--live", "--yes", "--force"]);
        let err = text(&live.stderr);
        assert_eq!(live.status.code(), Some(1), "{sc}: {err}");
        assert!(err.contains(&format!("scenario `{sc}` cannot run --live")) && err.contains(want), "{sc}: {err}");
    }
    assert!(
        !std::fs::read_dir(dir.path()).unwrap().flatten().any(|e| e.file_name().to_string_lossy().contains("journal")),
        "no drill started"
    );
    let unknown = patchdeck(dir.path(), &["drill", rb, "--scenario", "nope", "--no-tui"]);
    assert!(text(&unknown.stderr).contains("bundled: untested-package"), "{}", text(&unknown.stderr));
}

/// A runbook without a fleet file: the drill derives one from the inventory and the
/// baseline, and its config fingerprints match by construction (no divergence), until a
/// drift fault changes a file.
#[test]
fn binary_derived_fleet_matches_the_baseline_until_a_file_drifts() {
    let dir = tempfile::tempdir().unwrap();
    let rb = demo_copy(dir.path());
    std::fs::remove_file(dir.path().join("fleet.toml")).unwrap();
    let rb = rb.to_str().unwrap();
    let out =
        patchdeck(dir.path(), &["drill", rb, "--scenario", "config-drift", "--no-tui", "--speed", "0", "--no-history"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("derived from the runbook"), "{stdout}");
    assert!(stdout.contains("command fingerprints cannot be simulated"), "{stdout}");
    // canary1 (no fault) went through: derived hosts look exactly as tested.
    assert!(stdout.contains("host canary1   done"), "{stdout}");
    assert!(stdout.contains("HARD STOP web1: 1 difference(s) from what was tested"), "{stdout}");
}
