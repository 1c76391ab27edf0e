//! Model-based test of the window's control rules: random windows (waves, parallelism,
//! failure budgets, gates), random faults on the simulated fleet, random decisions among
//! the ones each stop allows, random requests (pause, abort, rollbacks) and random crash
//! points (the journal's writer dies: a kill -9 at that event; the window is resumed from
//! what was journaled, on the fleet as the crash left it). After every run the journal is
//! checked against the rules every change keeps:
//!
//! 1. nothing starts after an abort, a rollback of everything, or while paused;
//! 2. nothing starts while a decision is pending (a hard stop open, a countdown armed);
//! 3. nothing of a wave starts once its failure budget is spent, and no later wave starts,
//!    until people accept it;
//! 4. no step runs again unless someone decided so (retry), or its outcome was unknown;
//! 5. every host with changes not undone can still be rolled back after the window;
//! 6. the journal folds to the state the engine ended with; "verified" only after checks.
//!
//! `PATCHDECK_MODEL_CASES` sets how many windows (default 150 here; `benches/model.sh`
//! runs many more), `PATCHDECK_MODEL_SEED` the first seed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use patchdeck::diag::SourceFile;
use patchdeck::engine::clock::ManualClock;
use patchdeck::engine::control::{Actor, Choice, Decision, StopCode, Target, allowed};
use patchdeck::engine::decide::{Decider, Verdict};
use patchdeck::engine::event::{Event, Request, WavePlan};
use patchdeck::engine::recorder::{Recorder, WriteAhead};
use patchdeck::engine::state::{OpenStop, RollbackCheck, Standing, WindowState};
use patchdeck::engine::{Control, Engine, Parts, Plan, Reaches, Until};
use patchdeck::pkg::Managers;
use patchdeck::runbook::Runbook;
use patchdeck::sim::SimTransport;
use patchdeck::sim::{Fault, FaultEffect, Fleet, SimProber};

use crate::support::demo::{DEMO, with_waves};

const HOSTS: [&str; 6] = ["canary1", "web1", "web2", "web3", "api1", "shop1"];
/// What faults land on: the restart step, the packages step's install and its restore
/// (both pass `--allow-downgrades`), the on-host health check.
const STEP_COMMANDS: [&str; 3] = ["systemctl restart nginx", "--allow-downgrades", "nginx -t"];

/// A small, fast, seeded generator (xorshift64*): the same seed, the same window.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One random window: its waves (every host in exactly one), and what goes wrong.
struct Case {
    waves: String,
    faults: Vec<(String, Fault)>,
    unhealthy_after_update: Vec<String>,
    crash_after: Option<usize>,
}

fn case(rng: &mut Rng) -> Case {
    let mut hosts: Vec<&str> = HOSTS.to_vec();
    // Shuffle, then cut into 1-3 waves.
    for i in (1..hosts.len()).rev() {
        hosts.swap(i, rng.below(i + 1));
    }
    let n = 1 + rng.below(3);
    let mut waves = String::new();
    let mut rest: &[&str] = &hosts;
    for w in 0..n {
        let take = if w + 1 == n { rest.len() } else { 1 + rng.below(rest.len() - (n - w - 1)) };
        let (these, more) = rest.split_at(take);
        rest = more;
        let list = these.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ");
        waves.push_str(&format!(
            "[[wave]]\nname = \"w{w}\"\nhosts = [{list}]\nparallel = {}\nmax_failures = {}\ngate = {}\n\n",
            1 + rng.below(3),
            rng.below(3),
            w > 0 && rng.chance(30)
        ));
    }
    let mut faults = Vec::new();
    for _ in 0..rng.below(4) {
        let host = rng.pick(&HOSTS).to_string();
        let on = rng.pick(&STEP_COMMANDS).to_string();
        let effect = match rng.below(3) {
            0 => FaultEffect::Exit(1 + rng.below(100) as i32),
            1 => FaultEffect::Unreachable,
            _ => FaultEffect::ExitAfter(1),
        };
        faults.push((host, Fault { on, effect, sticky: rng.chance(20) }));
    }
    let unhealthy_after_update = HOSTS.iter().filter(|_| rng.chance(10)).map(|h| h.to_string()).collect();
    let crash_after = rng.chance(50).then(|| 5 + rng.below(60));
    Case { waves, faults, unhealthy_after_update, crash_after }
}

/// The journal's writer, dying after `left` more events as a process killed with -9 would.
struct Dies {
    log: Arc<Mutex<Vec<Event>>>,
    left: AtomicUsize,
}

#[async_trait]
impl WriteAhead for Dies {
    async fn write(&self, e: &Event) -> eyre::Result<()> {
        if self.left.fetch_sub(1, Ordering::SeqCst) == 0 {
            self.left.store(0, Ordering::SeqCst);
            eyre::bail!("killed (the model's crash point)");
        }
        self.log.lock().unwrap().push(e.clone());
        Ok(())
    }
}

/// Answers every stop with a random choice the stop allows, and now and then asks for
/// something on the side first (pause, abort, a rollback), as operators do.
struct Operators<'a> {
    rng: Mutex<Rng>,
    recorder: &'a Recorder,
    /// Pausing ends a run: at most once per run, so the model moves on.
    may_pause: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Decider for Operators<'_> {
    async fn decide(&self, stop: &OpenStop) -> Verdict {
        let (choice, request) = {
            let mut rng = self.rng.lock().unwrap();
            let changed = stop
                .host
                .as_deref()
                .is_some_and(|h| self.recorder.with_state(|s| s.host(h).is_some_and(|x| x.has_changes())));
            let choices = allowed(&stop.stop, stop.host.as_deref(), changed);
            let choice = *rng.pick(&choices);
            let request = match rng.below(12) {
                0 if self.may_pause.swap(false, Ordering::SeqCst) => Some(Request::Pause { reason: "model".into() }),
                1 => Some(Request::Abort),
                2 => Some(Request::RollbackHost { host: rng.pick(&HOSTS).to_string() }),
                _ => None,
            };
            (choice, request)
        };
        if let Some(r) = request {
            let _ = self.recorder.record(Event::Requested { request: r, operators: vec!["model".into()] }).await;
        }
        let mut decision = Decision::at_stop(choice, stop.host.as_deref(), None);
        if choice.needs_reason() {
            decision.reason = Some("model".into());
        }
        Verdict { decision, by: Actor::operator("model") }
    }

    async fn auto_rollback_countdown(&self, _host: &str, _seconds: u64) -> Option<Actor> {
        self.rng.lock().unwrap().chance(30).then(|| Actor::operator("model"))
    }
}

fn demo_fleet() -> Fleet {
    Fleet::from_toml(&SourceFile::read(&Path::new(DEMO).join("fleet.toml")).unwrap()).unwrap().with_speed(0.0)
}

fn runbook(dir: &Path, waves: &str) -> Runbook {
    for f in ["hosts.toml", "tested.toml"] {
        std::fs::copy(Path::new(DEMO).join(f), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(Path::new(DEMO).join("runbook.toml")).unwrap();
    // Short timeouts: a fault never waits minutes.
    let text =
        with_waves(&text, waves).replace("auto_rollback_countdown = \"15s\"", "auto_rollback_countdown = \"1s\"");
    std::fs::write(dir.join("runbook.toml"), text).unwrap();
    patchdeck::runbook::load(&dir.join("runbook.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs (or resumes) the window once; `Err` when the crash point was reached.
async fn run_once(
    rb: &Runbook,
    fleet: &Fleet,
    log: &Arc<Mutex<Vec<Event>>>,
    crash_after: Option<usize>,
    seed: u64,
    until: Until,
) -> Result<WindowState, ()> {
    let baseline = patchdeck::baseline::load(&rb.baseline.file).unwrap();
    let transport = SimTransport::new(fleet.clone());
    let prober = SimProber(fleet.clone());
    let clock = ManualClock::new("2026-11-22T22:05:00Z".parse().unwrap());
    let prior = WindowState::fold(log.lock().unwrap().iter());
    let writer = Dies { log: log.clone(), left: AtomicUsize::new(crash_after.unwrap_or(usize::MAX / 2)) };
    let recorder = Recorder::new(Box::new(writer), prior);
    let decider = Operators {
        rng: Mutex::new(Rng::new(seed)),
        recorder: &recorder,
        may_pause: std::sync::atomic::AtomicBool::new(true),
    };
    let mut parts = Parts::new(
        Plan { runbook: rb, baseline: &baseline },
        Reaches { transport: &transport, local: &transport, prober: &prober, managers: Managers::standard() },
        Control { clock: &clock, decider: &decider, recorder: &recorder, operators: vec!["model".into()] },
    );
    parts.until = until;
    let engine = Engine::new(parts);
    let ran = engine.run().await;
    let state = recorder.state();
    // The journal replays to the very state the engine holds (rule 6).
    assert_eq!(WindowState::fold(log.lock().unwrap().iter()), state, "fold of the journal = the engine's state");
    ran.map(|_| state).map_err(|_| ())
}

/// Checks the rules on a whole journal; `Err` names the first broken one.
fn check_rules(events: &[Event], waves: &[WavePlan]) -> Result<(), String> {
    let mut s = WindowState::default();
    // Where each (host, step) last started, and each host's latest retry decision.
    let mut last_start: BTreeMap<(String, usize), usize> = BTreeMap::new();
    let mut last_retry: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        if let Event::StepStarted { host, step, .. } = e {
            let why = |r: &str| Err(format!("event {i}: {host} step {step} started {r}"));
            if s.aborted {
                return why("after an abort");
            }
            if s.paused {
                return why("while paused");
            }
            if s.deciding() {
                return why("while a decision was pending");
            }
            if let Some(w) = waves.iter().find(|w| w.hosts.contains(host))
                && s.budget_spent(w)
            {
                return why("in a wave whose failure budget was spent");
            }
            if let Some(prev) = last_start.get(&(host.clone(), *step))
                && last_retry.get(host).is_none_or(|r| r < prev)
            {
                return why("again without a retry");
            }
            last_start.insert((host.clone(), *step), i);
        }
        if let Event::WaveStarted { wave } = e {
            let earlier = waves.iter().take_while(|w| &w.name != wave);
            for w in earlier {
                if s.budget_spent(w) {
                    return Err(format!("event {i}: wave {wave} started after {}'s budget was spent", w.name));
                }
            }
            if s.aborted || s.paused {
                return Err(format!("event {i}: wave {wave} started after an abort or a pause"));
            }
        }
        if let Event::Decided(d) = e
            && d.decision.choice == Choice::Retry
            && let Some(h) = &d.host
        {
            last_retry.insert(h.clone(), i);
        }
        s.apply(e);
    }
    // "Verified" only after the health checks passed after the rollback.
    for (name, h) in &s.hosts {
        if h.standing() == Standing::RolledBack(RollbackCheck::Verified) {
            let checked =
                events.iter().any(|e| matches!(e, Event::Checks { host, after_rollback: true, .. } if host == name));
            if !checked {
                return Err(format!("{name} is \"rolled back, verified\" without a health check after the rollback"));
            }
        }
    }
    Ok(())
}

async fn one_case(seed: u64) {
    let mut rng = Rng::new(seed);
    let c = case(&mut rng);
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), &c.waves);
    let fleet = demo_fleet();
    for (host, f) in &c.faults {
        fleet.with_host(host, |h| h.faults.push(f.clone()));
    }
    for host in &c.unhealthy_after_update {
        fleet.with_host(host, |h| h.breaks_after_update = true);
    }
    let waves: Vec<WavePlan> = rb
        .waves
        .iter()
        .map(|w| WavePlan { name: w.name.clone(), hosts: w.hosts.clone(), max_failures: w.max_failures })
        .collect();
    let log = Arc::new(Mutex::new(Vec::new()));
    let context =
        || format!("seed {seed}\nwaves:\n{}faults: {:?}\nunhealthy: {:?}", c.waves, c.faults, c.unhealthy_after_update);
    // Up to a crash, then resumes until the window is over (a pause is resumed too).
    let mut crash = c.crash_after;
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs < 12, "the window never ended: {}", context());
        if std::env::var_os("PATCHDECK_MODEL_TRACE").is_some() {
            eprintln!("model: seed {seed} run {runs} from {} events\n{}", log.lock().unwrap().len(), context());
        }
        // A window that stops making progress is a broken rule too (a deadlock): fail with
        // its journal rather than hang the suite.
        let run = run_once(&rb, &fleet, &log, crash.take(), seed + runs, Until::Finished);
        let ended = match tokio::time::timeout(std::time::Duration::from_secs(10), run).await {
            Ok(ended) => ended,
            Err(_) => panic!("no progress for 10s\n{}\njournal: {:#?}", context(), log.lock().unwrap()),
        };
        let events = log.lock().unwrap().clone();
        if let Err(broken) = check_rules(&events, &waves) {
            panic!("{broken}\n{}\njournal: {events:#?}", context());
        }
        match ended {
            Ok(state) if state.finished => break,
            _ => {}
        }
    }
    // Rule 5: every host with changes not undone can be rolled back after the window: asked,
    // the engine tries it (a rollback step is journaled for each) or it is undone.
    let with_changes: Vec<String> = WindowState::fold(log.lock().unwrap().iter())
        .hosts
        .iter()
        .filter(|(_, h)| h.has_changes())
        .map(|(n, _)| n.clone())
        .collect();
    if with_changes.is_empty() {
        return;
    }
    let before = log.lock().unwrap().len();
    log.lock().unwrap().push(Event::Requested { request: Request::RollbackAll, operators: vec!["model".into()] });
    let _ = run_once(&rb, &fleet, &log, None, seed + 99, Until::Finished).await;
    let after = log.lock().unwrap()[before..].to_vec();
    for host in with_changes {
        // Tried: a rollback step, or a stop about the host raised or asked again.
        let tried = after.iter().any(|e| match e {
            Event::RollbackStarted { host: h, .. } | Event::HardStop { host: Some(h), .. } => *h == host,
            Event::Decided(d) => d.host.as_deref() == Some(host.as_str()),
            _ => false,
        });
        let st = WindowState::fold(log.lock().unwrap().iter());
        assert!(
            tried,
            "{host} had changes after the window and no rollback was even tried\n{}\n{after:#?}\nstate: {:#?}\ndue: {:?} paused {} finished {}",
            context(),
            st.host(&host),
            st.rollbacks_due(),
            st.paused,
            st.finished
        );
    }
}

#[tokio::test]
async fn random_windows_keep_every_control_rule() {
    let cases: u64 = std::env::var("PATCHDECK_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let first: u64 = std::env::var("PATCHDECK_MODEL_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    for seed in first..first + cases {
        if std::env::var_os("PATCHDECK_MODEL_TRACE").is_some() {
            eprintln!("model: seed {seed}");
        }
        one_case(seed).await;
    }
    println!("model: {cases} random windows from seed {first}, every rule held");
}

/// The checker itself catches each broken rule (a checker that cannot fail proves nothing).
#[test]
fn the_rule_checker_catches_each_kind_of_break() {
    let waves = vec![WavePlan { name: "w".into(), hosts: vec!["a".into(), "b".into()], max_failures: 0 }];
    let start = Event::WindowStarted {
        window: "w".into(),
        operators: vec![],
        hosts: vec!["a".into(), "b".into()],
        drill: false,
        waves: waves.clone(),
    };
    let step =
        |host: &str, step: usize| Event::StepStarted { host: host.into(), step, name: "s".into(), command: "c".into() };
    let ok = |host: &str, step: usize| Event::StepFinished {
        host: host.into(),
        step,
        outcome: patchdeck::engine::event::Outcome::Ok,
        changes: vec![],
        millis: 1,
    };
    let failed = |host: &str, step: usize| Event::StepFinished {
        host: host.into(),
        step,
        outcome: patchdeck::engine::event::Outcome::Failed { status: Some(1), output_tail: String::new() },
        changes: vec![],
        millis: 1,
    };
    let req = |r: Request| Event::Requested { request: r, operators: vec![] };
    let stop = Event::HardStop {
        id: 1,
        host: Some("a".into()),
        stop: patchdeck::engine::event::StopKind::Irreversible { step: "s".into() },
        step: Some(0),
        rollback: false,
    };
    let cases: Vec<(Vec<Event>, &str)> = vec![
        (vec![start.clone(), req(Request::Abort), step("a", 0)], "after an abort"),
        (vec![start.clone(), req(Request::Pause { reason: "x".into() }), step("a", 0)], "while paused"),
        (vec![start.clone(), stop.clone(), step("b", 0)], "while a decision was pending"),
        (vec![start.clone(), step("a", 0), failed("a", 0), step("b", 0)], "budget was spent"),
        (vec![start.clone(), step("a", 0), ok("a", 0), step("a", 0)], "again without a retry"),
    ];
    for (events, want) in cases {
        let err = check_rules(&events, &waves).expect_err(want);
        assert!(err.contains(want), "{want}: {err}");
    }
    assert!(check_rules(&[start, step("a", 0), ok("a", 0), step("a", 1)], &waves).is_ok());
    let _ = (StopCode::Gate, Target::Window);
}
