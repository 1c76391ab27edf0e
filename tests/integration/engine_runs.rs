//! The engine and the host-side runner: a `run` step in flight when patchdeck stopped is
//! read from the host's record on resume, never run twice, and only a record that cannot
//! say how it ended becomes "outcome unknown".
//!
//! The fleet is the simulated one (its probes and packages), except that `run` commands
//! really run detached on this machine through the runner ([`crate::support`]'s real sh, a
//! temporary runs directory): the records read on resume are real ones.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use patchdeck::diag::SourceFile;
use patchdeck::engine::clock::ManualClock;
use patchdeck::engine::control::Choice;
use patchdeck::engine::decide::Scripted;
use patchdeck::engine::event::{Event, HostResult, Outcome, RunFound, StopKind};
use patchdeck::engine::recorder::{MemoryLog, Recorder};
use patchdeck::engine::{Control, Engine, Parts, Plan, Reaches};
use patchdeck::inventory::Host;
use patchdeck::pkg::Managers;
use patchdeck::sim::{Fleet, SimProber, SimTransport};
use patchdeck::transport::local::LocalTransport;
use patchdeck::transport::{Command, Output, Purpose, Recovered, RunKey, Sink, Transport, TransportError, WindowKey};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo");
const NOW: &str = "2026-11-22T22:05:00Z";

/// The simulated fleet, with runbook commands that run detached going to this machine's
/// runner instead.
struct SimWithRunner {
    sim: SimTransport,
    local: LocalTransport,
}

impl SimWithRunner {
    fn real(cmd: &Command) -> bool {
        cmd.detached.is_some() && cmd.purpose == Purpose::Shell
    }
}

#[async_trait]
impl Transport for SimWithRunner {
    fn kind(&self) -> &'static str {
        "simulated+runner"
    }
    async fn exec(&self, host: &Host, cmd: &Command) -> Result<Output, TransportError> {
        if Self::real(cmd) { self.local.exec(host, cmd).await } else { self.sim.exec(host, cmd).await }
    }
    async fn exec_streaming(&self, host: &Host, cmd: &Command, sink: &dyn Sink) -> Result<Output, TransportError> {
        if Self::real(cmd) {
            self.local.exec_streaming(host, cmd, sink).await
        } else {
            self.sim.exec_streaming(host, cmd, sink).await
        }
    }
    async fn close(&self) {}
    fn runs_dir(&self) -> Option<&str> {
        self.local.runs_dir()
    }
    async fn recover(&self, host: &Host, key: &RunKey) -> Result<Recovered, TransportError> {
        self.local.recover(host, key).await
    }
    async fn attach(&self, host: &Host, key: &RunKey, t: Duration, sink: &dyn Sink) -> Result<Output, TransportError> {
        self.local.attach(host, key, t, sink).await
    }
    /// Records are kept, so that a test can replay a crash after the window ended (removing
    /// them is the runner's own test).
    async fn clean_runs(&self, _: &Host, _: &WindowKey) -> Result<(), TransportError> {
        Ok(())
    }
}

/// The demo window on canary1 alone: "restart nginx" counts its runs in `count`, and the
/// step after it fails (so the host keeps its changes, and its records).
fn runbook(dir: &Path, count: &Path) -> patchdeck::runbook::Runbook {
    runbook_with(dir, count, &format!("echo ran >> {}; echo restarted", count.display()), "")
}

/// [`runbook`] with "restart nginx" running `run`, its other settings `extra` (TOML lines).
fn runbook_with(dir: &Path, count: &Path, run: &str, extra: &str) -> patchdeck::runbook::Runbook {
    for f in ["hosts.toml", "tested.toml"] {
        std::fs::copy(Path::new(DEMO).join(f), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(Path::new(DEMO).join("runbook.toml")).unwrap();
    let others = crate::support::demo::with_waves(
        &text,
        "[[wave]]\nname = \"rest\"\nhosts = [\"web1\", \"web2\", \"web3\", \"api1\", \"shop1\"]\nmax_failures = 10\n\n",
    );
    let text = others
        .replacen("[[wave]]\n", "[[wave]]\nname = \"canary\"\nhosts = [\"canary1\"]\nmax_failures = 1\n\n[[wave]]\n", 1)
        .replacen(
            "run = \"systemctl restart nginx\"\nrollback = \"systemctl restart nginx\"",
            &format!("run = \"{run}\"\nrollback = \"echo undone >> {c}.undo\"{extra}", c = count.display()),
            1,
        )
        .replacen(
            "local = \"lbctl enable {host.name}\"\nrollback = \"lbctl drain {host.name}\"",
            "run = \"exit 9\"\nrollback = \"true\"",
            1,
        );
    assert!(text.contains("exit 9") && text.contains(run) && text.contains("echo undone"), "{text}");
    assert!(!text.contains("systemctl"), "nothing here may touch this machine's services: {text}");
    let path = dir.join("runbook.toml");
    std::fs::write(&path, text).unwrap();
    patchdeck::runbook::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

struct Window {
    rb: patchdeck::runbook::Runbook,
    baseline: patchdeck::baseline::Baseline,
    t: SimWithRunner,
    prober: SimProber,
    runs: PathBuf,
    count: PathBuf,
    _dir: tempfile::TempDir,
}

impl Window {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (runs, count) = (dir.path().join("runs"), dir.path().join("count"));
        let rb = runbook(dir.path(), &count);
        let baseline = patchdeck::baseline::load(&rb.baseline.file).unwrap();
        let fleet =
            Fleet::from_toml(&SourceFile::read(&Path::new(DEMO).join("fleet.toml")).unwrap()).unwrap().with_speed(0.0);
        let t = SimWithRunner {
            sim: SimTransport::new(fleet.clone()),
            local: LocalTransport::new().with_runs_dir(runs.to_str().unwrap()),
        };
        Window { rb, baseline, t, prober: SimProber(fleet), runs, count, _dir: dir }
    }

    /// Runs (or resumes from `prior`) the window with these decisions; its new events and
    /// the stops it saw.
    async fn run(&self, prior: &[Event], decisions: Vec<Choice>) -> (Vec<Event>, Vec<StopKind>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let recorder =
            Recorder::new(Box::new(MemoryLog(log.clone())), patchdeck::engine::state::WindowState::fold(prior));
        let decider = Scripted::new(decisions);
        let clock = ManualClock::new(NOW.parse().unwrap());
        let parts = Parts::new(
            Plan { runbook: &self.rb, baseline: &self.baseline },
            Reaches { transport: &self.t, local: &self.t.sim, prober: &self.prober, managers: Managers::standard() },
            Control { clock: &clock, decider: &decider, recorder: &recorder, operators: vec!["carol".into()] },
        );
        tokio::time::timeout(Duration::from_secs(120), Engine::new(parts).run()).await.expect("in time").unwrap();
        let events = log.lock().unwrap().clone();
        (events, decider.seen().into_iter().map(|o| o.stop).collect())
    }

    fn runs_of_count(&self) -> usize {
        std::fs::read_to_string(&self.count).unwrap_or_default().lines().count()
    }

    fn undos_of_count(&self) -> usize {
        std::fs::read_to_string(self.count.with_extension("undo")).unwrap_or_default().lines().count()
    }

    /// The record of canary1's "restart nginx" (step 2), attempt 1.
    fn record(&self) -> PathBuf {
        let key = WindowKey::new(&self.rb.window.name, "", "canary1");
        self.runs.join(key.as_str()).join("step2-1")
    }
}

/// The journal of a first run, cut right after "restart nginx" was journaled as started:
/// what a crash at that moment leaves (the command itself ran on the host, detached).
async fn crashed_mid_step(w: &Window) -> Vec<Event> {
    let (events, _) = w.run(&[], vec![Choice::Abort]).await;
    assert_eq!(w.runs_of_count(), 1, "the step ran once");
    assert!(w.record().join("exit").exists(), "its record is on the host: {}", w.record().display());
    let cut = events
        .iter()
        .position(
            |e| matches!(e, Event::StepStarted { host, name, .. } if host == "canary1" && name == "restart nginx"),
        )
        .expect("restart nginx started");
    // What ran after the cut did not happen: its records go too.
    for e in std::fs::read_dir(w.record().parent().unwrap()).unwrap().flatten() {
        if e.path() != w.record() {
            std::fs::remove_dir_all(e.path()).unwrap();
        }
    }
    events[..=cut].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_in_flight_at_a_crash_gets_its_real_outcome_from_the_hosts_record() {
    let w = Window::new();
    let prior = crashed_mid_step(&w).await;
    let (after, stops) = w.run(&prior, vec![Choice::Abort]).await;
    assert_eq!(w.runs_of_count(), 1, "resuming did not run the step again");
    let at = after
        .iter()
        .position(|e| matches!(e, Event::RunRecord { host, step: 2, rollback: false, attempt: 1, found: RunFound::Finished { status: Some(0) } } if host == "canary1"))
        .unwrap_or_else(|| panic!("the record was read: {after:#?}"));
    assert!(
        matches!(&after[at + 1], Event::StepFinished { host, step: 2, outcome: Outcome::Ok, .. } if host == "canary1"),
        "the step's end, from the record, right after it: {:#?}",
        &after[at..]
    );
    // It carried on: the next step ran (and failed, as this window's last step does).
    assert!(!stops.iter().any(|s| matches!(s, StopKind::UnknownOutcome { .. })), "{stops:#?}");
    assert!(
        matches!(stops.as_slice(), [StopKind::StepFailed { step, status: Some(9), .. }] if step == "back into load balancer"),
        "{stops:#?}"
    );
}

/// A record whose process is gone without an exit status (a power-off) cannot say how the
/// step ended: the operators decide, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_cannot_say_is_an_unknown_outcome() {
    let w = Window::new();
    let prior = crashed_mid_step(&w).await;
    for f in ["exit", "eof"] {
        std::fs::remove_file(w.record().join(f)).unwrap();
    }
    let (after, stops) = w.run(&prior, vec![Choice::Abort]).await;
    assert_eq!(w.runs_of_count(), 1);
    assert!(
        after.iter().any(|e| matches!(e, Event::RunRecord { step: 2, found: RunFound::Inconsistent { .. }, .. })),
        "{after:#?}"
    );
    assert!(
        matches!(stops.as_slice(), [StopKind::UnknownOutcome { step, repair: None }] if step == "restart nginx"),
        "{stops:#?}"
    );
    assert!(!after.iter().any(|e| matches!(e, Event::StepFinished { step: 2, .. })), "no outcome was made up");
    assert!(
        after
            .iter()
            .any(|e| matches!(e, Event::HostFinished { host, result: HostResult::Stopped } if host == "canary1"))
    );
}

/// A crash while "restart nginx" was being rolled back: the resume reads the rollback's
/// record, never runs it again, and goes on going back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_in_flight_at_a_crash_gets_its_real_outcome_from_the_hosts_record() {
    let w = Window::new();
    let decisions = [vec![Choice::RollbackHost], vec![Choice::Abort; 4]].concat();
    let (events, _) = w.run(&[], decisions.clone()).await;
    assert_eq!(w.undos_of_count(), 1, "the rollback ran once: {events:#?}");
    let cut = events
        .iter()
        .position(|e| matches!(e, Event::RollbackStarted { host, step: 2, .. } if host == "canary1"))
        .expect("restart nginx was rolled back");
    let prior = &events[..=cut];
    let (after, stops) = w.run(prior, vec![Choice::Abort; 4]).await;
    assert_eq!(w.undos_of_count(), 1, "resuming did not run the rollback again");
    let at = after
        .iter()
        .position(|e| {
            matches!(
                e,
                Event::RunRecord {
                    step: 2,
                    rollback: true,
                    attempt: 1,
                    found: RunFound::Finished { status: Some(0) },
                    ..
                }
            )
        })
        .unwrap_or_else(|| panic!("the rollback's record was read: {after:#?}"));
    assert!(
        matches!(&after[at + 1], Event::RollbackFinished { step: 2, outcome: Outcome::Ok, .. }),
        "{:#?}",
        &after[at..]
    );
    assert!(!stops.iter().any(|s| matches!(s, StopKind::UnknownOutcome { .. })), "{stops:#?}");
    assert!(
        after
            .iter()
            .any(|e| matches!(e, Event::HostFinished { host, result: HostResult::RolledBack } if host == "canary1")),
        "{after:#?}"
    );
}

/// The link to the host is lost as "restart nginx" starts, and stays down past the step's
/// timeout (its run goes on on the host: nobody is there to end it). The operator retries:
/// the retry follows the first attempt to its end instead of starting a second one beside it.
struct LinkDown {
    inner: SimWithRunner,
    runs: PathBuf,
    /// The host cannot be reached to read its records.
    down: Arc<std::sync::atomic::AtomicBool>,
    lost_once: std::sync::atomic::AtomicBool,
}

impl LinkDown {
    fn loses(&self, cmd: &Command) -> bool {
        SimWithRunner::real(cmd)
            && cmd.detached.as_ref().is_some_and(|k| k.what == patchdeck::transport::RunWhat::Step(2) && k.attempt == 1)
            && !self.lost_once.swap(true, std::sync::atomic::Ordering::SeqCst)
    }

    /// Starts the run for real on this machine (it goes on by itself), then reports the link
    /// lost once its record is there.
    async fn start_then_lose(&self, host: &Host, cmd: &Command) -> Result<Output, TransportError> {
        let (host2, cmd2) = (host.clone(), cmd.clone());
        let local = LocalTransport::new().with_runs_dir(self.runs.to_str().unwrap());
        tokio::spawn(async move { local.exec(&host2, &cmd2).await });
        let key = cmd.detached.clone().unwrap();
        let record = self.runs.join(key.window.as_str()).join(key.name());
        for _ in 0..100 {
            if record.join("pid").exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(TransportError::ConnectionLost { host: host.name.clone(), detail: "played: the link dropped".into() })
    }
}

#[async_trait]
impl Transport for LinkDown {
    fn kind(&self) -> &'static str {
        "simulated+runner, link down"
    }
    async fn exec(&self, host: &Host, cmd: &Command) -> Result<Output, TransportError> {
        if self.loses(cmd) { self.start_then_lose(host, cmd).await } else { self.inner.exec(host, cmd).await }
    }
    async fn exec_streaming(&self, host: &Host, cmd: &Command, sink: &dyn Sink) -> Result<Output, TransportError> {
        if self.loses(cmd) {
            self.start_then_lose(host, cmd).await
        } else {
            self.inner.exec_streaming(host, cmd, sink).await
        }
    }
    async fn close(&self) {}
    fn runs_dir(&self) -> Option<&str> {
        self.inner.runs_dir()
    }
    async fn recover(&self, host: &Host, key: &RunKey) -> Result<Recovered, TransportError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(TransportError::Unreachable { host: host.name.clone(), detail: "played: still down".into() });
        }
        self.inner.recover(host, key).await
    }
    async fn attach(&self, host: &Host, key: &RunKey, t: Duration, sink: &dyn Sink) -> Result<Output, TransportError> {
        self.inner.attach(host, key, t, sink).await
    }
    async fn clean_runs(&self, _: &Host, _: &WindowKey) -> Result<(), TransportError> {
        Ok(())
    }
}

/// The operator decides, and the link comes back as they do: at once, or (`wait_for_end`)
/// only once the run has ended on the host (its line is in `count`).
struct BackThenDecide {
    wait_for_end: Option<std::path::PathBuf>,
    down: Arc<std::sync::atomic::AtomicBool>,
    scripted: Scripted,
}

#[async_trait]
impl patchdeck::engine::decide::Decider for BackThenDecide {
    async fn decide(&self, stop: &patchdeck::engine::state::OpenStop) -> patchdeck::engine::decide::Verdict {
        if let Some(count) = &self.wait_for_end {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while std::fs::read_to_string(count).unwrap_or_default().is_empty() {
                assert!(std::time::Instant::now() < deadline, "the first attempt never ended on the host");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
        self.scripted.decide(stop).await
    }
    async fn auto_rollback_countdown(&self, host: &str, seconds: u64) -> Option<patchdeck::engine::event::Actor> {
        self.scripted.auto_rollback_countdown(host, seconds).await
    }
}

/// What became of canary1's step 2 (`sleep 2.5; echo ran >> count`, timeout 3s) when the
/// link is lost at once and the host's record unreadable until the operator retries (the
/// step stops as unreachable), the link back as they decide (`wait_for_end`: not before the
/// run has ended on the host).
struct Retried {
    events: Vec<Event>,
    stops: Vec<StopKind>,
    /// How many times the step ran on the host.
    ran: usize,
    /// Whether a second attempt was started on the host.
    second_attempt: bool,
}

async fn retried_after_link_loss(wait_for_end: bool) -> Retried {
    let dir = tempfile::tempdir().unwrap();
    let (runs, count) = (dir.path().join("runs"), dir.path().join("count"));
    let run = format!("sleep 2.5; echo ran >> {}; echo restarted", count.display());
    let rb = runbook_with(dir.path(), &count, &run, "\ntimeout = \"3s\"");
    let baseline = patchdeck::baseline::load(&rb.baseline.file).unwrap();
    let fleet =
        Fleet::from_toml(&SourceFile::read(&Path::new(DEMO).join("fleet.toml")).unwrap()).unwrap().with_speed(0.0);
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let t = LinkDown {
        inner: SimWithRunner {
            sim: SimTransport::new(fleet.clone()),
            local: LocalTransport::new().with_runs_dir(runs.to_str().unwrap()),
        },
        runs: runs.clone(),
        down: down.clone(),
        lost_once: Default::default(),
    };
    let log = Arc::new(Mutex::new(Vec::new()));
    let recorder = Recorder::new(Box::new(MemoryLog(log.clone())), patchdeck::engine::state::WindowState::fold(&[]));
    let decider = BackThenDecide {
        wait_for_end: wait_for_end.then(|| count.clone()),
        down,
        scripted: Scripted::new([Choice::Retry, Choice::Abort]),
    };
    let clock = ManualClock::new(NOW.parse().unwrap());
    let prober = SimProber(fleet);
    let parts = Parts::new(
        Plan { runbook: &rb, baseline: &baseline },
        Reaches { transport: &t, local: &t.inner.sim, prober: &prober, managers: Managers::standard() },
        Control { clock: &clock, decider: &decider, recorder: &recorder, operators: vec!["carol".into()] },
    );
    tokio::time::timeout(Duration::from_secs(120), Engine::new(parts).run()).await.expect("in time").unwrap();
    // Wait out anything still going, then count.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let key = WindowKey::new(&rb.window.name, "", "canary1");
    Retried {
        events: log.lock().unwrap().clone(),
        stops: decider.scripted.seen().into_iter().map(|o| o.stop).collect(),
        ran: std::fs::read_to_string(&count).unwrap_or_default().lines().count(),
        second_attempt: runs.join(key.as_str()).join("step2-2").exists(),
    }
}

impl Retried {
    /// The step stopped as unreachable, ran once on the host, and the retry read the first
    /// attempt's record (`found`) and took its end as the step's outcome, starting nothing.
    fn took_the_first_attempts_end(&self, found: RunFound) {
        assert!(matches!(self.stops.first(), Some(StopKind::Unreachable { .. })), "link down: {:#?}", self.stops);
        assert_eq!(self.ran, 1, "the step changed the host once");
        let at = self
            .events
            .iter()
            .position(|e| matches!(e, Event::RunRecord { host, step: 2, rollback: false, attempt: 1, found: f } if host == "canary1" && *f == found))
            .unwrap_or_else(|| panic!("the retry read the first attempt's record ({found:?}): {:#?}", self.events));
        assert!(
            self.events[at..].iter().any(
                |e| matches!(e, Event::StepFinished { host, step: 2, outcome: Outcome::Ok, .. } if host == "canary1")
            ),
            "the first attempt's end is the step's outcome: {:#?}",
            &self.events[at..]
        );
        assert!(!self.second_attempt, "no second attempt was started on the host");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_never_runs_beside_an_attempt_still_running_on_the_host() {
    // The record is read until the timeout (at 0s and 1s, then it gives up); the run is
    // still going when the operator retries: followed to its end, not run beside.
    retried_after_link_loss(false).await.took_the_first_attempts_end(RunFound::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_takes_the_end_the_host_recorded_while_it_was_unreachable_and_runs_nothing_again() {
    // The run goes on to its end on the host while it is unreachable; only then does the
    // operator retry: its recorded end is taken, nothing runs again.
    retried_after_link_loss(true).await.took_the_first_attempts_end(RunFound::Finished { status: Some(0) });
}
