//! Issue 13's invariants, each on the real engine and the simulated demo fleet: a safe
//! action starts nothing; a spent failure budget stops its wave and the next; rollback is
//! reachable after abort, after the end, after a pause, after a crash; a resumed window
//! restores what was pending; health is checked again after every rollback; nothing
//! changes before the window's start.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use patchdeck::diag::SourceFile;
use patchdeck::engine::clock::ManualClock;
use patchdeck::engine::control::{Actor, Choice, Decision, StopCode};
use patchdeck::engine::decide::{Decider, Scripted, Verdict};
use patchdeck::engine::event::{Event, HostResult, Request, StopKind};
use patchdeck::engine::recorder::{MemoryLog, Recorder};
use patchdeck::engine::state::{OpenStop, RollbackCheck, Standing, WindowState};
use patchdeck::engine::{Control, Engine, Parts, Plan, Reaches, Until};
use patchdeck::inventory::Host;
use patchdeck::pkg::Managers;
use patchdeck::runbook::Runbook;
use patchdeck::sim::SimTransport;
use patchdeck::sim::{Fault, FaultEffect, Fleet, SimProber};
use patchdeck::transport::{Command, Output, Sink, Transport, TransportError};

use crate::support::demo::{DEMO, with_waves};

const NOW: &str = "2026-11-22T22:05:00Z";

fn runbook(dir: &Path, waves: &str, edit: impl Fn(String) -> String) -> Runbook {
    for f in ["hosts.toml", "tested.toml"] {
        std::fs::copy(Path::new(DEMO).join(f), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(Path::new(DEMO).join("runbook.toml")).unwrap();
    let path = dir.join("runbook.toml");
    std::fs::write(&path, edit(with_waves(&text, waves))).unwrap();
    patchdeck::runbook::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn fleet(speed: f64, setup: impl FnOnce(&Fleet)) -> Fleet {
    let f = Fleet::from_toml(&SourceFile::read(&Path::new(DEMO).join("fleet.toml")).unwrap()).unwrap();
    let f = f.with_speed(speed);
    setup(&f);
    f
}

fn fail_on(f: &Fleet, host: &str, command: &str) {
    f.with_host(host, |h| h.faults.push(Fault { on: command.into(), effect: FaultEffect::Exit(1), sticky: false }));
}

/// Holds a host's install command (its packages step) until told to go on, telling when it
/// runs: a test acts while that step is running, deterministically.
struct Hook {
    host: &'static str,
    running: Arc<tokio::sync::Notify>,
    hold: Arc<tokio::sync::Notify>,
}

/// The simulated fleet's transport, with an optional [`Hook`].
struct Hooked {
    sim: SimTransport,
    hook: Option<Hook>,
}

#[async_trait]
impl Transport for Hooked {
    fn kind(&self) -> &'static str {
        "simulated"
    }
    async fn exec(&self, host: &Host, cmd: &Command) -> Result<Output, TransportError> {
        self.exec_streaming(host, cmd, &patchdeck::transport::stream::Discard).await
    }
    async fn exec_streaming(&self, host: &Host, cmd: &Command, sink: &dyn Sink) -> Result<Output, TransportError> {
        if let Some(h) = &self.hook
            && h.host == host.name
            && matches!(cmd.purpose, patchdeck::transport::Purpose::Install)
        {
            h.running.notify_one();
            h.hold.notified().await;
        }
        self.sim.exec_streaming(host, cmd, sink).await
    }
    async fn close(&self) {}
}

/// A window on the simulated fleet: its journal in memory, resumable from any prefix.
struct Window {
    rb: Runbook,
    baseline: patchdeck::baseline::Baseline,
    transport: Hooked,
    prober: SimProber,
    clock: ManualClock,
    recorder: Recorder,
    log: Arc<Mutex<Vec<Event>>>,
}

impl Window {
    fn new(rb: Runbook, f: &Fleet) -> Self {
        Self::resuming(rb, f, &[])
    }

    fn resuming(rb: Runbook, f: &Fleet, prior: &[Event]) -> Self {
        let baseline = patchdeck::baseline::load(&rb.baseline.file).unwrap();
        let log = Arc::new(Mutex::new(prior.to_vec()));
        let recorder = Recorder::new(Box::new(MemoryLog(log.clone())), WindowState::fold(prior));
        Self {
            rb,
            baseline,
            transport: Hooked { sim: SimTransport::new(f.clone()), hook: None },
            prober: SimProber(f.clone()),
            clock: ManualClock::new(NOW.parse().unwrap()),
            recorder,
            log,
        }
    }

    fn engine<'a>(&'a self, decider: &'a dyn Decider, until: Until) -> Engine<'a> {
        let mut p = Parts::new(
            Plan { runbook: &self.rb, baseline: &self.baseline },
            Reaches {
                transport: &self.transport,
                local: &self.transport,
                prober: &self.prober,
                managers: Managers::standard(),
            },
            Control {
                clock: &self.clock,
                decider,
                recorder: &self.recorder,
                operators: vec!["alice".into(), "bob".into()],
            },
        );
        p.until = until;
        Engine::new(p)
    }

    fn events(&self) -> Vec<Event> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (on the engine's own progress, no fixed sleep) until `ready` holds.
    async fn until(&self, ready: impl Fn(&WindowState) -> bool) {
        let mut changed = self.recorder.watch();
        while !self.recorder.with_state(&ready) {
            changed.changed().await.unwrap();
        }
    }
}

fn position(events: &[Event], want: impl Fn(&Event) -> bool) -> usize {
    events.iter().position(want).unwrap_or_else(|| panic!("not journaled: {events:#?}"))
}

fn decided(e: &Event, choice: Choice) -> bool {
    matches!(e, Event::Decided(d) if d.decision.choice == choice)
}

fn started_after(events: &[Event], from: usize) -> Vec<String> {
    events[from..]
        .iter()
        .filter_map(|e| match e {
            Event::StepStarted { host, name, .. } => Some(format!("{host}: {name}")),
            _ => None,
        })
        .collect()
}

/// web2 diverges while canary1, beside it (parallel 2), is between its steps: abort at
/// web2's stop, and canary1 starts nothing more (its running step ends as it ends).
#[tokio::test]
async fn abort_at_a_hard_stop_starts_nothing_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let waves = "[[wave]]\nname = \"pair\"\nhosts = [\"canary1\", \"web2\"]\nparallel = 2\n\n\
                 [[wave]]\nname = \"rest\"\nhosts = [\"web1\", \"web3\", \"api1\", \"shop1\"]\n\n";
    let rb = runbook(dir.path(), waves, |t| t);
    let w = Window::new(rb, &fleet(0.02, |_| {}));
    let decider = Scripted::new([Choice::Abort]);
    let summary = w.engine(&decider, Until::Finished).run().await.unwrap();
    let ev = w.events();
    assert_eq!(decider.seen()[0].host.as_deref(), Some("web2"), "{:?}", decider.seen());
    let abort = position(&ev, |e| decided(e, Choice::Abort));
    assert!(started_after(&ev, abort).is_empty(), "started after the abort: {:?}", started_after(&ev, abort));
    // canary1 was working beside web2's stop, and ends stopped with its changes, not "failed".
    assert!(ev[..abort].iter().any(|e| matches!(e, Event::StepStarted { host, .. } if host == "canary1")));
    assert_eq!(summary.results["canary1"], Some(HostResult::Stopped));
    assert_eq!(summary.results["web2"], Some(HostResult::NotStarted));
    assert_eq!(summary.results["web1"], None, "the next wave never started");
    // Every announced step has its outcome: nothing was left running or killed.
    let starts = ev.iter().filter(|e| matches!(e, Event::StepStarted { .. })).count();
    let ends = ev.iter().filter(|e| matches!(e, Event::StepFinished { .. })).count();
    assert_eq!(starts, ends);
    assert!(summary.aborted && summary.finished);
}

/// `max_failures = 0`, two hosts at once: once canary1's step fails, no host of the wave
/// starts another step and no later wave starts. Rolled back or not, canary1 stays a
/// failure, and the window's outcome says so.
#[tokio::test]
async fn a_spent_failure_budget_stops_its_wave_whatever_parallel_is() {
    let dir = tempfile::tempdir().unwrap();
    let waves = "[[wave]]\nname = \"pair\"\nhosts = [\"canary1\", \"web1\"]\nparallel = 2\nmax_failures = 0\n\n\
                 [[wave]]\nname = \"rest\"\nhosts = [\"web2\", \"web3\", \"api1\", \"shop1\"]\n\n";
    let rb = runbook(dir.path(), waves, |t| t);
    let f = fleet(0.02, |f| fail_on(f, "canary1", "systemctl restart nginx"));
    let w = Window::new(rb, &f);
    let decider = Scripted::new([Choice::RollbackHost, Choice::Abort]);
    let summary = w.engine(&decider, Until::Finished).run().await.unwrap();
    let ev = w.events();
    let failed = position(
        &ev,
        |e| matches!(e, Event::StepFinished { host, outcome, .. } if host == "canary1" && !outcome.is_ok()),
    );
    assert!(started_after(&ev, failed + 1).is_empty(), "{:?}", started_after(&ev, failed + 1));
    let seen: Vec<StopCode> = decider.seen().iter().map(|s| s.stop.code()).collect();
    assert_eq!(seen, [StopCode::StepFailed, StopCode::TooManyFailures]);
    assert!(!ev.iter().any(|e| matches!(e, Event::WaveStarted { wave } if wave == "rest")), "no later wave");
    assert_eq!(summary.results["canary1"], Some(HostResult::RolledBack));
    assert_eq!(summary.failures, 1, "rolling back does not refund the budget");
    assert!(!summary.clean());
}

/// A host whose very first step fails has nothing to undo; it is still a failure: the
/// budget is spent, the next wave does not start, and nothing calls the window clean.
#[tokio::test]
async fn a_host_whose_first_step_fails_is_a_failure_even_with_nothing_to_undo() {
    let dir = tempfile::tempdir().unwrap();
    let waves = "[[wave]]\nname = \"canary\"\nhosts = [\"canary1\"]\n\n\
                 [[wave]]\nname = \"rest\"\nhosts = [\"web1\", \"web2\", \"web3\", \"api1\", \"shop1\"]\n\n";
    // The drain runs on the host here (the demo's runs on the operator's machine).
    let rb = runbook(dir.path(), waves, |t| {
        t.replace("local = \"lbctl drain {host.name}\"", "run = \"lbctl drain {host.name}\"")
    });
    let w = Window::new(rb, &fleet(0.0, |f| fail_on(f, "canary1", "lbctl drain canary1")));
    // Skipping it is possible (nothing changed); the wave's budget stop is answered abort.
    let decider = Scripted::new([Choice::Skip, Choice::Abort]);
    let summary = w.engine(&decider, Until::Finished).run().await.unwrap();
    let seen: Vec<StopCode> = decider.seen().iter().map(|s| s.stop.code()).collect();
    assert_eq!(seen, [StopCode::StepFailed, StopCode::TooManyFailures]);
    assert_eq!(summary.results["canary1"], Some(HostResult::Skipped));
    assert_eq!(summary.failures, 1);
    assert!(summary.aborted, "the budget's stop was answered with abort");
    assert!(!w.events().iter().any(|e| matches!(e, Event::WaveStarted { wave } if wave == "rest")));
}

/// Rollback outlives the window: after the window finished (and after an abort), a host
/// with changes is rolled back on request, verified on the host, its health checked.
#[tokio::test]
async fn rollback_is_reachable_after_the_window_finished_and_after_abort() {
    let dir = tempfile::tempdir().unwrap();
    let waves = "[[wave]]\nname = \"clean\"\nhosts = [\"canary1\", \"web1\"]\n\n\
                 [[wave]]\nname = \"rest\"\nhosts = [\"web2\", \"web3\", \"api1\", \"shop1\"]\nmax_failures = 10\n\n";
    for abort in [false, true] {
        let rb = runbook(dir.path(), waves, |t| t);
        let f = fleet(0.0, |_| {});
        let w = Window::new(rb, &f);
        // Finished: web2's divergence is skipped, the rest too; aborted: abort at web2.
        let first = if abort { Choice::Abort } else { Choice::Skip };
        let decider = Scripted::new([first, Choice::Skip, Choice::Skip]);
        let engine = w.engine(&decider, Until::Closed);
        let operate = async {
            w.until(|s| s.finished).await;
            let r = Request::RollbackHost { host: "web1".into() };
            engine.request(r, vec!["bob".into()]).await.unwrap();
            w.until(|s| s.host("web1").is_some_and(|h| h.result == Some(HostResult::RolledBack))).await;
            engine.close();
        };
        let (summary, ()) = tokio::join!(engine.run(), operate);
        let summary = summary.unwrap();
        let ev = w.events();
        let end = position(&ev, |e| matches!(e, Event::WindowFinished { .. }));
        assert!(
            ev[end..].iter().any(|e| matches!(e,
            Event::RollbackFinished { host, step: 1, verified: Some(true), .. } if host == "web1")),
            "abort={abort}"
        );
        assert!(
            ev[end..].iter().any(|e| matches!(e, Event::Checks { host, after_rollback: true, .. } if host == "web1"))
        );
        assert_eq!(summary.results["web1"], Some(HostResult::RolledBack), "abort={abort}");
        let web1 = w.recorder.with_state(|s| s.host("web1").unwrap().standing());
        assert_eq!(web1, Standing::RolledBack(RollbackCheck::Verified));
        let ssl = f.with_host("web1", |h| h.installed.get("libssl3").cloned()).flatten();
        assert_eq!(ssl.as_deref(), Some("3.0.15-1~deb12u1"), "checked on the simulated host itself");
        assert_eq!(summary.aborted, abort);
        assert!(started_after(&ev, end).is_empty(), "a rollback starts no step");
    }
}

/// Leaving the window paused (quit, a signal): running steps end, nothing new starts, no
/// end is journaled; a resume carries on exactly where it was and journals the resume.
#[tokio::test]
async fn a_paused_window_resumes_exactly_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let waves = "[[wave]]\nname = \"clean\"\nhosts = [\"canary1\", \"web1\"]\n\n\
                 [[wave]]\nname = \"rest\"\nhosts = [\"web2\", \"web3\", \"api1\", \"shop1\"]\n\n";
    let rb = runbook(dir.path(), waves, |t| t);
    let f = fleet(0.0, |_| {});
    let mut w = Window::new(rb.clone(), &f);
    // canary1's packages step holds until the pause is journaled: the pause lands while
    // that step runs, every time.
    let (running, hold) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    w.transport.hook = Some(Hook { host: "canary1", running: running.clone(), hold: hold.clone() });
    let decider = Scripted::new([]);
    let engine = w.engine(&decider, Until::Finished);
    let operate = async {
        running.notified().await;
        let pause = Request::Pause { reason: "SIGTERM received".into() };
        engine.request(pause, vec!["alice".into()]).await.unwrap();
        hold.notify_one();
    };
    let (summary, ()) = tokio::join!(engine.run(), operate);
    let summary = summary.unwrap();
    assert!(summary.paused && !summary.finished && !summary.aborted);
    let prior = w.events();
    let pause = position(&prior, |e| matches!(e, Event::Requested { request: Request::Pause { .. }, .. }));
    assert!(started_after(&prior, pause).is_empty(), "{:?}", started_after(&prior, pause));
    assert!(
        prior[pause..].iter().any(|e| matches!(e, Event::StepFinished { host, step: 1, .. } if host == "canary1")),
        "the running step ended as it ended"
    );
    assert!(!prior.iter().any(|e| matches!(e, Event::HostFinished { .. } | Event::WindowFinished { .. })));

    // Resumed by another process: canary1 goes on from step 3, nothing runs twice.
    let resumed = Window::resuming(rb, &f, &prior);
    let decider = Scripted::new([Choice::Skip, Choice::Skip, Choice::Skip]);
    let summary = resumed.engine(&decider, Until::Finished).run().await.unwrap();
    let ev = resumed.events();
    assert!(
        matches!(&ev[prior.len()], Event::Resumed { operators, pid, .. } if operators == &["alice", "bob"] && *pid == std::process::id())
    );
    let again = started_after(&ev, prior.len());
    assert!(again.iter().all(|s| !s.starts_with("canary1: drain") && !s.starts_with("canary1: apply")), "{again:?}");
    assert_eq!(summary.results["canary1"], Some(HostResult::Done));
    assert_eq!(summary.results["web1"], Some(HostResult::Done));
    assert!(summary.finished);
}

/// A crash while a stop waited for people: the resume asks that very stop again (same id),
/// never carries the host past it.
#[tokio::test]
async fn resume_asks_an_open_stop_again_and_never_carries_the_host_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let waves = "[[wave]]\nname = \"all\"\nhosts = [\"canary1\", \"web1\", \"web2\", \"web3\", \"api1\", \"shop1\"]\nmax_failures = 10\n\n";
    let rb = runbook(dir.path(), waves, |t| t);
    let f = fleet(0.0, |_| {});
    let first = Window::new(rb.clone(), &f);
    first.engine(&Scripted::new([Choice::Abort]), Until::Finished).run().await.unwrap();
    let ev = first.events();
    let stop = position(&ev, |e| matches!(e, Event::HardStop { host: Some(h), .. } if h == "web2"));
    let Event::HardStop { id, .. } = &ev[stop] else { unreachable!() };
    let prior = &ev[..=stop];

    let resumed = Window::resuming(rb, &fleet(0.0, |_| {}), prior);
    let decider = Scripted::new([Choice::Skip, Choice::Skip, Choice::Skip]);
    resumed.engine(&decider, Until::Finished).run().await.unwrap();
    assert_eq!(decider.seen()[0].id, *id, "the same stop, asked again");
    assert_eq!(decider.seen()[0].host.as_deref(), Some("web2"));
    let after = &resumed.events()[prior.len()..];
    assert!(!after.iter().any(|e| matches!(e, Event::HardStop { id: i, .. } if i == id)), "not raised twice");
    assert!(!after.iter().any(|e| matches!(e, Event::StepStarted { host, .. } if host == "web2")), "web2 was skipped");
}

/// kill -9 while an auto-rollback counted down: the resume turns it into a hard stop that
/// says so; the host is neither carried forward nor rolled back behind anyone's back.
#[tokio::test]
async fn an_armed_auto_rollback_comes_back_as_a_stop_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let waves = "[[wave]]\nname = \"all\"\nhosts = [\"shop1\", \"canary1\", \"web1\", \"web2\", \"web3\", \"api1\"]\nmax_failures = 10\n\n";
    let rb = runbook(dir.path(), waves, |t| t);
    let first = Window::new(rb.clone(), &fleet(0.0, |_| {}));
    first.engine(&Scripted::new([Choice::Abort]), Until::Finished).run().await.unwrap();
    let ev = first.events();
    let armed = position(&ev, |e| matches!(e, Event::AutoRollbackArmed { host, .. } if host == "shop1"));
    let prior = &ev[..=armed];
    // The fleet as the crash left it: shop1 updated (and broken by it).
    let f = fleet(0.0, |_| {});
    for (name, v) in ev
        .iter()
        .filter_map(|e| match e {
            Event::StepFinished { host, changes, .. } if host == "shop1" => Some(changes),
            _ => None,
        })
        .flatten()
        .filter_map(|c| Some((c.name.clone(), c.to.clone()?)))
    {
        f.with_host("shop1", |h| h.installed.insert(name, v));
    }
    f.with_host("shop1", |h| h.healthy = false);

    let resumed = Window::resuming(rb, &f, prior);
    let decider = Scripted::new([Choice::Abort]);
    let summary = resumed.engine(&decider, Until::Finished).run().await.unwrap();
    let first_stop = &decider.seen()[0];
    assert_eq!(first_stop.host.as_deref(), Some("shop1"));
    assert!(
        matches!(&first_stop.stop, StopKind::HealthFailed { countdown_interrupted: true, failing, .. } if !failing.is_empty()),
        "{first_stop:?}"
    );
    let after = &resumed.events()[prior.len()..];
    assert!(!after.iter().any(
        |e| matches!(e, Event::StepStarted { host, .. } | Event::RollbackStarted { host, .. } if host == "shop1")
    ));
    assert_eq!(summary.results["shop1"], Some(HostResult::Stopped));
}

/// `--resume` of a finished window journals nothing at all.
#[tokio::test]
async fn resume_of_a_finished_window_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let waves = "[[wave]]\nname = \"clean\"\nhosts = [\"canary1\", \"web1\"]\n\n\
                 [[wave]]\nname = \"rest\"\nhosts = [\"web2\", \"web3\", \"api1\", \"shop1\"]\n\n";
    let rb = runbook(dir.path(), waves, |t| t);
    let first = Window::new(rb.clone(), &fleet(0.0, |_| {}));
    first.engine(&Scripted::new([Choice::Abort]), Until::Finished).run().await.unwrap();
    let done = first.events();
    let again = Window::resuming(rb, &fleet(0.0, |_| {}), &done);
    let decider = Scripted::new([]);
    let summary = again.engine(&decider, Until::Finished).run().await.unwrap();
    assert_eq!(again.events(), done, "nothing appended");
    assert!(decider.seen().is_empty());
    assert!(summary.finished && summary.aborted);
}

/// A decider that breaks the host for good at its first stop: the rollback it asks for
/// cannot heal it.
struct BreakThenRollBack {
    fleet: Fleet,
    host: &'static str,
    inner: Scripted,
}

#[async_trait]
impl Decider for BreakThenRollBack {
    async fn decide(&self, stop: &OpenStop) -> Verdict {
        if stop.stop.code() == StopCode::HealthFailed {
            self.fleet.with_host(self.host, |h| {
                h.breaks_after_update = false;
                h.healthy = false;
            });
        }
        self.inner.decide(stop).await
    }
    async fn auto_rollback_countdown(&self, host: &str, seconds: u64) -> Option<Actor> {
        self.inner.auto_rollback_countdown(host, seconds).await
    }
}

/// After every rollback the host's health checks run again: still failing is its own stop,
/// and the host is "rolled back, still unhealthy", never "rolled back, verified".
#[tokio::test]
async fn a_host_still_unhealthy_after_its_rollback_is_a_stop_not_a_success() {
    let dir = tempfile::tempdir().unwrap();
    let waves = "[[wave]]\nname = \"all\"\nhosts = [\"shop1\", \"canary1\", \"web1\", \"web2\", \"web3\", \"api1\"]\nmax_failures = 10\n\n";
    let rb = runbook(dir.path(), waves, |t| t.replace("auto_rollback = true", "auto_rollback = false"));
    let f = fleet(0.0, |_| {});
    let w = Window::new(rb, &f);
    let decider = BreakThenRollBack {
        fleet: f.clone(),
        host: "shop1",
        inner: Scripted::new([Choice::RollbackHost, Choice::Abort]),
    };
    let summary = w.engine(&decider, Until::Finished).run().await.unwrap();
    let seen: Vec<(Option<String>, StopCode)> =
        decider.inner.seen().iter().map(|s| (s.host.clone(), s.stop.code())).collect();
    assert_eq!(
        seen[..2],
        [(Some("shop1".into()), StopCode::HealthFailed), (Some("shop1".into()), StopCode::StillUnhealthy)]
    );
    let ev = w.events();
    assert!(
        ev.iter().any(
            |e| matches!(e, Event::RollbackFinished { host, step: 1, verified: Some(true), .. } if host == "shop1")
        ),
        "its packages are back"
    );
    assert_eq!(summary.results["shop1"], Some(HostResult::RolledBack));
    let shop1 = w.recorder.with_state(|s| s.host("shop1").unwrap().standing());
    assert_eq!(shop1, Standing::RolledBack(RollbackCheck::StillUnhealthy));
}

/// Before the window's start nothing changes: the start is a stop that the clock answers
/// when the time comes (journaled as such), or people start early with a reason.
#[tokio::test]
async fn nothing_changes_before_the_start_unless_people_start_early() {
    let dir = tempfile::tempdir().unwrap();
    let waves = "[[wave]]\nname = \"clean\"\nhosts = [\"canary1\", \"web1\"]\n\n\
                 [[wave]]\nname = \"rest\"\nhosts = [\"web2\", \"web3\", \"api1\", \"shop1\"]\n\n";
    // The window starts at 22:00; the clock says 21:50.
    let waves = waves.replace("\"shop1\"]\n", "\"shop1\"]\nmax_failures = 10\n");
    let rb = runbook(dir.path(), &waves, |t| t);
    let w = Window::new(rb.clone(), &fleet(0.0, |_| {}));
    w.clock.set("2026-11-22T21:50:00Z".parse().unwrap());
    let clock = async {
        w.until(|s| s.open_stops.iter().any(|o| o.stop.code() == StopCode::BeforeStart)).await;
        assert!(!w.events().iter().any(|e| matches!(e, Event::StepStarted { .. })), "nothing before the start");
        w.clock.set("2026-11-22T22:00:00Z".parse().unwrap());
    };
    // Nobody answers the early-start question: the clock does.
    let patient = Patient(Scripted::new([Choice::Skip, Choice::Skip, Choice::Skip]));
    let engine = w.engine(&patient, Until::Finished);
    let (summary, ()) = tokio::join!(engine.run(), clock);
    let summary = summary.unwrap();
    let ev = w.events();
    let start = position(&ev, |e| matches!(e, Event::HardStop { stop: StopKind::BeforeStart { .. }, .. }));
    assert!(
        matches!(&ev[start + 1], Event::Decided(d) if d.decision.choice == Choice::Go && d.by == Some(Actor::StartTime))
    );
    assert!(ev.iter().any(|e| matches!(e, Event::StepStarted { .. })), "the window ran once it started");
    assert!(!summary.aborted);

    // Early, with a reason: journaled who and why.
    let w = Window::new(rb, &fleet(0.0, |_| {}));
    w.clock.set("2026-11-22T21:50:00Z".parse().unwrap());
    let decider =
        Scripted::with_reasons([(Choice::StartEarly, Some("change board moved us up".into())), (Choice::Abort, None)]);
    w.engine(&decider, Until::Finished).run().await.unwrap();
    let ev = w.events();
    assert!(ev.iter().any(|e| matches!(e, Event::Decided(d)
        if d.decision == Decision::with_reason(Choice::StartEarly, patchdeck::engine::control::Target::Window, "change board moved us up"))));
    assert!(ev.iter().any(|e| matches!(e, Event::StepStarted { .. })));
}

/// Never answers the start question (the clock does); the script answers the rest.
struct Patient(Scripted);

#[async_trait]
impl Decider for Patient {
    async fn decide(&self, stop: &OpenStop) -> Verdict {
        if stop.stop.code() == StopCode::BeforeStart {
            return std::future::pending().await;
        }
        self.0.decide(stop).await
    }
    async fn auto_rollback_countdown(&self, host: &str, seconds: u64) -> Option<Actor> {
        self.0.auto_rollback_countdown(host, seconds).await
    }
}

/// A go/no-go gate before a wave: nothing of the wave starts until people say go, and the
/// record names who did.
#[tokio::test]
async fn a_gate_holds_its_wave_until_someone_says_go() {
    let dir = tempfile::tempdir().unwrap();
    let waves = "[[wave]]\nname = \"canary\"\nhosts = [\"canary1\"]\n\n\
                 [[wave]]\nname = \"web\"\nhosts = [\"web1\"]\ngate = true\n\n\
                 [[wave]]\nname = \"rest\"\nhosts = [\"web2\", \"web3\", \"api1\", \"shop1\"]\ngate = false\n\n";
    let rb = runbook(dir.path(), waves, |t| t);
    // No go: the wave never starts.
    let w = Window::new(rb.clone(), &fleet(0.0, |_| {}));
    let mut decider = Scripted::new([Choice::Abort]);
    decider.open_gates = false;
    let summary = w.engine(&decider, Until::Finished).run().await.unwrap();
    assert!(matches!(&decider.seen()[0].stop, StopKind::Gate { wave } if wave == "web"));
    assert_eq!(summary.results["canary1"], Some(HostResult::Done));
    assert!(!w.events().iter().any(|e| matches!(e, Event::WaveStarted { wave } if wave == "web")));

    // Go, by alice: web1 runs.
    let w = Window::new(rb, &fleet(0.0, |_| {}));
    let mut decider = Scripted::new([Choice::Go, Choice::Abort]);
    decider.actor = Actor::operator("alice");
    decider.open_gates = false;
    let summary = w.engine(&decider, Until::Finished).run().await.unwrap();
    assert!(w.events().iter().any(|e| matches!(e, Event::Decided(d)
        if d.decision.choice == Choice::Go && d.operators == ["alice"] && d.by == Some(Actor::operator("alice")))));
    assert_eq!(summary.results["web1"], Some(HostResult::Done));
    assert_eq!(decider.seen().len(), 2, "the gate, then web2's divergence: {:?}", decider.seen());
}

// Issue 14.5: host locks. A window locks each host before its first change; another
// window's lock is a stop before anything changes there.

/// canary1 alone, the other hosts behind a gate that [`scripted`] never opens.
const ONE_HOST: &str = "[[wave]]\nname = \"one\"\nhosts = [\"canary1\"]\nmax_failures = 10\n\n\
                        [[wave]]\nname = \"rest\"\nhosts = [\"web1\", \"web2\", \"web3\", \"api1\", \"shop1\"]\ngate = true\n\n";

/// Scripted answers; the gate is a question for the script too (used up: abort).
fn scripted(answers: impl IntoIterator<Item = (Choice, Option<String>)>) -> Scripted {
    let mut s = Scripted::with_reasons(answers);
    s.open_gates = false;
    s
}

/// A lock as another window (or this one, before a crash) would have left it.
fn holder(window: &str, machine: &str, pid: u32) -> patchdeck::lock::host::Holder {
    patchdeck::lock::host::Holder {
        window: window.into(),
        digest: String::new(),
        operators: vec!["carol".into()],
        machine: machine.into(),
        pid,
        since: "2026-11-22T21:58:00Z".parse().unwrap(),
        until: "2026-11-23T03:00:00Z".parse().unwrap(),
    }
}

fn lock_of(f: &Fleet, host: &str) -> Option<patchdeck::lock::host::Holder> {
    f.with_host(host, |h| h.lock.clone()).flatten().map(|l| patchdeck::lock::host::Holder::parse(&l).unwrap())
}

fn installs_on(f: &Fleet, host: &str) -> usize {
    f.with_host(host, |h| h.history.iter().filter(|c| c.contains("apt-get install -y")).count()).unwrap()
}

/// A live lock of another window: a stop before any change, that cannot be overridden (an
/// override is refused: the safe answer, abort, is taken instead); the host is untouched and
/// the other window's lock stays.
#[tokio::test]
async fn another_windows_live_lock_stops_the_host_before_any_change_and_cannot_be_overridden() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), ONE_HOST, |t| t);
    let theirs = holder("kernel-2026-11", "laptop-2", 4242);
    let f = fleet(0.0, |f| {
        f.with_host("canary1", |h| h.lock = Some(theirs.render()));
    });
    let w = Window::new(rb, &f);
    let decider = scripted([(Choice::Override, Some("scripted".into()))]);
    let summary = w.engine(&decider, Until::Finished).run().await.unwrap();
    let seen = decider.seen();
    let StopKind::HostLocked { holder, stale } = &seen[0].stop else { panic!("{seen:#?}") };
    assert_eq!(
        (holder.as_str(), *stale),
        ("canary1 is in window kernel-2026-11 run by carol from laptop-2 (pid 4242) since 2026-11-22 21:58Z", false)
    );
    let ev = w.events();
    assert!(ev.iter().any(|e| decided(e, Choice::Abort)), "the override was refused: {ev:#?}");
    assert!(!ev.iter().any(|e| matches!(e, Event::StepStarted { .. })), "nothing started");
    assert_eq!(installs_on(&f, "canary1"), 0);
    assert_eq!(summary.results["canary1"], Some(HostResult::NotStarted));
    assert_eq!(lock_of(&f, "canary1"), Some(theirs), "their lock is theirs still");
}

/// A stale lock (its process on this machine is gone) is broken only by a typed override,
/// journaled with the stop; then the window takes the host, changes it, and releases the lock
/// once the host is done.
#[tokio::test]
async fn a_stale_lock_is_broken_only_by_a_journaled_decision() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), ONE_HOST, |t| t);
    let here = patchdeck::lock::host::this_machine();
    let gone = holder("kernel-2026-11", &here, u32::MAX - 7);
    let f = fleet(0.0, |f| {
        f.with_host("canary1", |h| h.lock = Some(gone.render()));
    });
    let w = Window::new(rb, &f);
    let decider = scripted([(Choice::Override, Some("kernel window crashed at 02:10, ended".into()))]);
    let summary = w.engine(&decider, Until::Finished).run().await.unwrap();
    let ev = w.events();
    let stop = position(&ev, |e| matches!(e, Event::HardStop { stop: StopKind::HostLocked { stale: true, .. }, .. }));
    let broke = position(&ev, |e| {
        matches!(e, Event::Decided(d) if d.decision.choice == Choice::Override
            && d.decision.reason.as_deref() == Some("kernel window crashed at 02:10, ended"))
    });
    let first_step = position(&ev, |e| matches!(e, Event::StepStarted { .. }));
    assert!(stop < broke && broke < first_step, "stop, decision, then the first change");
    assert_eq!(summary.results["canary1"], Some(HostResult::Done));
    assert_eq!(installs_on(&f, "canary1"), 1);
    assert_eq!(lock_of(&f, "canary1"), None, "released once the host was done");
}

/// Resumed after a crash, the window takes its own lock back (same window, runbook and
/// machine, another process): no stop.
#[tokio::test]
async fn resume_takes_its_own_lock_back_without_a_stop() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), ONE_HOST, |t| t);
    let mine_before = holder(&rb.window.name, &patchdeck::lock::host::this_machine(), u32::MAX - 7);
    let f = fleet(0.0, |f| {
        f.with_host("canary1", |h| h.lock = Some(mine_before.render()));
    });
    let w = Window::new(rb, &f);
    let decider = scripted([]);
    let summary = w.engine(&decider, Until::Finished).run().await.unwrap();
    let seen: Vec<StopCode> = decider.seen().iter().map(|s| s.stop.code()).collect();
    assert_eq!(seen, [StopCode::Gate], "no stop on canary1; the gate (after it) ends the window");
    assert_eq!(summary.results["canary1"], Some(HostResult::Done));
    assert_eq!(lock_of(&f, "canary1"), None);
}

/// Two windows at once on one fleet, from this machine: the second finds the first's lock
/// (live: its process runs) while the first is mid-step, and is stopped before any change;
/// skipping leaves the host to the first, which finishes and releases it. A host left with
/// changes not undone (aborted mid-window) keeps its lock.
#[tokio::test]
async fn a_second_window_is_refused_a_host_the_first_holds() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), ONE_HOST, |t| t);
    let dir2 = tempfile::tempdir().unwrap();
    let other = runbook(dir2.path(), ONE_HOST, |t| {
        t.replacen("name = \"openssl-security-2026-11\"", "name = \"second-window\"", 1)
    });
    assert_eq!(other.window.name, "second-window");
    let f = fleet(0.0, |_| {});
    let mut first = Window::new(rb.clone(), &f);
    let (running, hold) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    first.transport.hook = Some(Hook { host: "canary1", running: running.clone(), hold: hold.clone() });
    let first_decider = scripted([]);
    let first_engine = first.engine(&first_decider, Until::Finished);
    let second = Window::new(other, &f);
    let second_decider = scripted([(Choice::Skip, None)]);
    let (first_summary, second_summary) = tokio::join!(first_engine.run(), async {
        running.notified().await;
        let held = lock_of(&f, "canary1").expect("locked while its packages step runs");
        assert_eq!(held.window, "openssl-security-2026-11");
        let r = second.engine(&second_decider, Until::Finished).run().await;
        hold.notify_one();
        r
    });
    let second_summary = second_summary.unwrap();
    let seen = second_decider.seen();
    assert!(
        matches!(&seen[0].stop, StopKind::HostLocked { holder, stale: false }
            if holder.starts_with("canary1 is in window openssl-security-2026-11 run by alice, bob from")),
        "{seen:#?}"
    );
    assert_eq!(second_summary.results["canary1"], Some(HostResult::Skipped));
    assert!(!second.events().iter().any(|e| matches!(e, Event::StepStarted { .. })));
    assert_eq!(first_summary.unwrap().results["canary1"], Some(HostResult::Done));
    assert_eq!(installs_on(&f, "canary1"), 1, "only the first window installed");
    assert_eq!(lock_of(&f, "canary1"), None, "released when the first was done");

    // Aborted after a change: the host keeps its lock (its changes are not undone).
    let dir3 = tempfile::tempdir().unwrap();
    let rb3 = runbook(dir3.path(), ONE_HOST, |t| t);
    let f3 = fleet(0.0, |f| fail_on(f, "canary1", "systemctl restart nginx"));
    let w3 = Window::new(rb3, &f3);
    let summary = w3.engine(&scripted([(Choice::Abort, None)]), Until::Finished).run().await.unwrap();
    assert_eq!(summary.results["canary1"], Some(HostResult::Stopped));
    assert_eq!(lock_of(&f3, "canary1").map(|h| h.window), Some("openssl-security-2026-11".into()));
}
