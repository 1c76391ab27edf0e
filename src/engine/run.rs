//! Driving a window: preflight, the start time, waves in order (each behind its go/no-go
//! gate when it has one), hosts of a wave in parallel up to `parallel`, and, beside all of
//! it, the rollbacks people ask for, which stay possible after the window ends for as long
//! as the engine serves ([`Until`]).
//!
//! The rules that keep control safe live in [`super::permit`]: a step starts only while
//! nothing forbids it, checked atomically with journaling its start.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use tokio::sync::{Mutex, watch};

use super::clock::Clock;
use super::control::{Choice, StopCode};
use super::decide::Decider;
use super::event::{Event, HostResult, StopKind, WavePlan};
use super::live::LiveFeed;
use super::recorder::Recorder;
use super::state::WindowState;
use crate::baseline::Baseline;
use crate::health::Prober;
use crate::inventory::Host;
use crate::pkg::Managers;
use crate::probe::ProbeCache;
use crate::runbook::Runbook;
use crate::transport::Transport;

/// Attempts at undoing one step before a rollback/retry decision gives up on the host.
pub const MAX_ROLLBACK_ATTEMPTS: u32 = 3;

/// The wait before the first retry of a failed rollback step; each later retry waits
/// twice as long (see [`retry_wait`]). A host that refuses connections fails at once, so
/// without it a standing "rollback" decision spent every attempt within a second.
pub const ROLLBACK_RETRY_BACKOFF: std::time::Duration = std::time::Duration::from_secs(2);

/// The longest wait between two attempts, however many came before.
const MAX_RETRY_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long to wait before attempt `failures + 1`, after `failures` (at least 1) failed.
pub fn retry_wait(base: std::time::Duration, failures: u32) -> std::time::Duration {
    base.saturating_mul(1u32 << failures.saturating_sub(1).min(16)).min(MAX_RETRY_WAIT)
}

/// The name under which `local` steps run (on the operator's machine).
pub use crate::transport::OPERATOR_HOST;

/// How long the engine serves once the window itself has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Return once the window has ended and every rollback asked for so far is done
    /// (`run --no-tui`, `patchdeck rollback`, drills).
    Finished,
    /// Keep serving rollbacks after the window ended until [`Engine::close`] (the cockpit:
    /// `R`, `W`, `X` keep working until the operators leave).
    Closed,
}

/// Everything an engine is built from. The caller owns transports, files and the journal.
pub struct Parts<'a> {
    pub runbook: &'a Runbook,
    pub baseline: &'a Baseline,
    /// Reaches the hosts.
    pub transport: &'a dyn Transport,
    /// Runs `local` steps on the operator's machine.
    pub local: &'a dyn Transport,
    pub prober: &'a dyn Prober,
    /// The package managers; each host's own (learned by its probe) changes it.
    pub managers: &'a Managers,
    pub clock: &'a dyn Clock,
    pub decider: &'a dyn Decider,
    pub recorder: &'a Recorder,
    pub operators: Vec<String>,
    pub drill: bool,
    /// Resolver answers kept between the preflight and each host's re-check: a host whose
    /// package state did not move is not asked to resolve again.
    pub probe_cache: Arc<ProbeCache>,
    /// Where the output of running steps and rollbacks goes as it arrives (the cockpit);
    /// `None`: nobody watches, commands run without streaming.
    pub live: Option<LiveFeed>,
    pub until: Until,
    /// The first wait before a failed rollback step is tried again ([`retry_wait`]).
    pub retry_backoff: std::time::Duration,
    /// Hex SHA-256 of the runbook: with the window's name and this machine, what makes a
    /// host's lock this window's own ([`crate::lock::host`]).
    pub runbook_digest: String,
}

/// What the window is: the runbook and what was tested.
pub struct Plan<'a> {
    pub runbook: &'a Runbook,
    pub baseline: &'a Baseline,
}

/// How hosts are reached: the fleet's transport, the operator's machine for `local` steps,
/// the health prober, and the package managers (each host's own is learned by its probe).
pub struct Reaches<'a> {
    pub transport: &'a dyn Transport,
    pub local: &'a dyn Transport,
    pub prober: &'a dyn Prober,
    pub managers: &'a Managers,
}

/// Who decides and records: the clock, the decider at stops, the write-ahead recorder and
/// the operators named in the journal.
pub struct Control<'a> {
    pub clock: &'a dyn Clock,
    pub decider: &'a dyn Decider,
    pub recorder: &'a Recorder,
    pub operators: Vec<String>,
}

impl<'a> Parts<'a> {
    /// The parts every window needs, by name; the rest take their defaults (no live feed, a
    /// fresh in-memory probe cache, not a drill, [`Until::Finished`]).
    pub fn new(plan: Plan<'a>, reaches: Reaches<'a>, control: Control<'a>) -> Self {
        let (Plan { runbook, baseline }, Reaches { transport, local, prober, managers }) = (plan, reaches);
        let Control { clock, decider, recorder, operators } = control;
        Self {
            runbook,
            baseline,
            transport,
            local,
            prober,
            managers,
            clock,
            decider,
            recorder,
            operators,
            drill: false,
            probe_cache: Arc::new(ProbeCache::in_memory()),
            live: None,
            until: Until::Finished,
            retry_backoff: ROLLBACK_RETRY_BACKOFF,
            runbook_digest: String::new(),
        }
    }
}

/// The window engine. See the module docs.
pub struct Engine<'a> {
    pub(super) p: Parts<'a>,
    /// One decision at a time: questions queue behind the stop being decided.
    pub(super) deciding: Mutex<()>,
    /// One runner (forward or rollback) per host at a time.
    hosts_busy: std::sync::Mutex<BTreeMap<String, Arc<Mutex<()>>>>,
    /// Set by [`Engine::close`]: with [`Until::Closed`], serving ends.
    closed: watch::Sender<bool>,
    /// Set when the window itself has ended (finished, or paused).
    window_over: watch::Sender<bool>,
    /// Hosts whose lock this process took (released when they are finished).
    pub(super) locked: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

/// What an operator's screen can do to the window it drives (the engine, or a drill around
/// it), UI-free.
pub trait Controls: Sync {
    /// The window's time (a drill's may be simulated).
    fn clock(&self) -> &dyn Clock;
    /// Journals an operators' request (outside a hard stop).
    fn request<'a>(
        &'a self,
        r: super::event::Request,
        by: Vec<String>,
    ) -> futures::future::BoxFuture<'a, eyre::Result<()>>;
    /// The operators are leaving: once running work is done, the window's future returns.
    fn close(&self);
}

impl Controls for Engine<'_> {
    fn clock(&self) -> &dyn Clock {
        Engine::clock(self)
    }
    fn request<'a>(
        &'a self,
        r: super::event::Request,
        by: Vec<String>,
    ) -> futures::future::BoxFuture<'a, eyre::Result<()>> {
        Box::pin(Engine::request(self, r, by))
    }
    fn close(&self) {
        Engine::close(self)
    }
}

/// What became of the whole window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub aborted: bool,
    /// Left paused (quit, signal): `--resume` carries on.
    pub paused: bool,
    /// `WindowFinished` is in the journal.
    pub finished: bool,
    pub results: BTreeMap<String, Option<HostResult>>,
    /// Stops raised because reality left the plan (gates and the start time are not counted).
    pub stops: usize,
    /// Hosts that failed (a step or a check), whatever was decided afterwards.
    pub failures: usize,
}

impl Summary {
    /// Every host done, nothing stopped, nothing failed.
    pub fn clean(&self) -> bool {
        self.finished
            && !self.aborted
            && self.stops == 0
            && self.failures == 0
            && self.results.values().all(|r| *r == Some(HostResult::Done))
    }
}

pub(super) fn journal_err(e: eyre::Report) -> eyre::Report {
    e.wrap_err("cannot write the journal: the window stops here so no action goes unrecorded")
}

impl<'a> Engine<'a> {
    pub fn new(parts: Parts<'a>) -> Self {
        Self {
            p: parts,
            deciding: Mutex::new(()),
            hosts_busy: std::sync::Mutex::new(BTreeMap::new()),
            closed: watch::Sender::new(false),
            window_over: watch::Sender::new(false),
            locked: std::sync::Mutex::default(),
        }
    }

    pub fn clock(&self) -> &dyn Clock {
        self.p.clock
    }

    pub fn recorder(&self) -> &Recorder {
        self.p.recorder
    }

    pub(super) async fn record(&self, e: Event) -> eyre::Result<()> {
        self.p.recorder.record(e).await.map_err(journal_err)
    }

    pub(super) fn with_state<T>(&self, f: impl FnOnce(&WindowState) -> T) -> T {
        self.p.recorder.with_state(f)
    }

    /// Ends serving ([`Until::Closed`]): once running work is done, [`Engine::run`] returns.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Asks for something outside a hard stop (the cockpit's keys, `patchdeck rollback`).
    /// Journaled first; acted on between steps, never by killing a running command.
    pub async fn request(&self, request: super::event::Request, by: Vec<String>) -> eyre::Result<()> {
        self.record(Event::Requested { request, operators: by }).await
    }

    /// The lock a host's runner (forward or rollback) holds.
    pub(super) fn host_lock(&self, host: &str) -> Arc<Mutex<()>> {
        self.hosts_busy.lock().unwrap_or_else(|p| p.into_inner()).entry(host.to_string()).or_default().clone()
    }

    /// The plan as journaled: waves with hosts and budgets.
    fn plan(&self) -> Vec<WavePlan> {
        self.p
            .runbook
            .waves
            .iter()
            .map(|w| WavePlan { name: w.name.clone(), hosts: w.hosts.clone(), max_failures: w.max_failures })
            .collect()
    }

    /// Runs (or resumes) the window, serving rollbacks beside it and after it as
    /// [`Until`] says.
    pub async fn run(&self) -> eyre::Result<Summary> {
        let window = async {
            let r = self.window().await;
            self.window_over.send_replace(true);
            r
        };
        tokio::try_join!(window, self.serve_rollbacks())?;
        Ok(self.summary())
    }

    /// Serves the rollbacks asked for so far, and nothing else: the window itself is not
    /// resumed (`patchdeck rollback`).
    pub async fn rollbacks_only(&self) -> eyre::Result<Summary> {
        self.take_up_for_rollbacks().await?;
        self.window_over.send_replace(true);
        self.serve_rollbacks().await?;
        Ok(self.summary())
    }

    fn summary(&self) -> Summary {
        let state = self.p.recorder.state();
        let hosts = crate::check::window_hosts(self.p.runbook);
        Summary {
            aborted: state.aborted,
            paused: state.paused,
            finished: state.finished,
            results: hosts.iter().map(|h| (h.name.clone(), state.host(&h.name).and_then(|s| s.result))).collect(),
            stops: state.problem_stops,
            failures: state.hosts.values().filter(|h| h.failed).count(),
        }
    }

    /// The window itself: start (or resume), preflight, the start time, the waves.
    async fn window(&self) -> eyre::Result<()> {
        let state = self.p.recorder.state();
        // A finished window changes nothing unless a rollback is asked for (served beside).
        if state.finished {
            return self.take_up_for_rollbacks().await;
        }
        let hosts = crate::check::window_hosts(self.p.runbook);
        if !state.started {
            self.record(Event::WindowStarted {
                window: self.p.runbook.window.name.clone(),
                operators: self.p.operators.clone(),
                hosts: hosts.iter().map(|h| h.name.clone()).collect(),
                drill: self.p.drill,
                waves: self.plan(),
            })
            .await?;
            self.preflight(&hosts).await?;
        } else {
            self.record(Event::Resumed {
                operators: self.p.operators.clone(),
                pid: std::process::id(),
                machine: machine_name(),
            })
            .await?;
            // Window-wide stops a crash left unanswered are asked again before anything.
            let open: Vec<_> = self.with_state(|s| s.open_stops.iter().filter(|o| o.host.is_none()).cloned().collect());
            for stop in open {
                if self.decide_again(&stop).await?.is_none() {
                    return Ok(()); // paused again
                }
            }
        }
        if !self.wait_for_start().await? {
            return self.finish_window().await;
        }
        for wave in &self.p.runbook.waves {
            if self.with_state(|s| s.aborted || s.paused) {
                break;
            }
            if self.with_state(|s| s.waves_finished.contains(&wave.name)) {
                continue;
            }
            let started = self.with_state(|s| s.waves_started.contains(&wave.name));
            if wave.gate && !started && !self.with_state(|s| s.gates_passed.contains(&wave.name)) {
                let stop = StopKind::Gate { wave: wave.name.clone() };
                if self.stop(None, stop, None, false).await?.is_none() {
                    return Ok(()); // paused at the gate
                }
                if !self.with_state(|s| s.gates_passed.contains(&wave.name)) {
                    break; // no go: aborted (and perhaps rolling back)
                }
            }
            if !started {
                // Journaled only while nothing forbids it: an abort or a pause that came while
                // the gate was answered wins.
                let name = wave.name.clone();
                let begun = self.p.recorder.record_with(|s| {
                    if s.aborted || s.paused { Err(()) } else { Ok(Event::WaveStarted { wave: name }) }
                });
                if begun.await.map_err(journal_err)?.is_err() {
                    break;
                }
            }
            let wave_hosts: Vec<&Host> = wave.hosts.iter().filter_map(|n| self.p.runbook.host(n)).collect();
            // The first error (the journal cannot be written) ends the wave at once: the
            // other runners are dropped, never left waiting for a decision that cannot be
            // journaled.
            let _: Vec<Option<HostResult>> = futures::stream::iter(wave_hosts)
                .map(|h| self.run_host(h))
                .buffer_unordered(wave.parallel.max(1))
                .try_collect()
                .await?;
            if self.with_state(|s| s.paused) {
                return Ok(());
            }
            let failures = self.with_state(|s| s.failures_among(&wave.hosts));
            self.record(Event::WaveFinished { wave: wave.name.clone(), failures }).await?;
            // A spent budget stops the next wave too, even when no host of this one was
            // left to start anything.
            let plan = WavePlan { name: wave.name.clone(), hosts: wave.hosts.clone(), max_failures: wave.max_failures };
            if !self.with_state(|s| s.aborted) && !self.budget_allows(&plan).await? {
                break;
            }
        }
        if self.with_state(|s| s.paused) {
            return Ok(());
        }
        self.finish_window().await
    }

    /// A window left paused (the operators quit after it ended) is taken up again, and the
    /// resume journaled, when rollbacks are due: leaving did not give up on them.
    /// Journals that this process takes the window up (who, which process, which machine):
    /// `patchdeck rollback` does so before its first request, whatever the window's state.
    pub async fn take_up(&self) -> eyre::Result<()> {
        self.record(Event::Resumed {
            operators: self.p.operators.clone(),
            pid: std::process::id(),
            machine: machine_name(),
        })
        .await
    }

    async fn take_up_for_rollbacks(&self) -> eyre::Result<()> {
        if self.with_state(|s| s.paused && !s.rollbacks_due().is_empty()) {
            self.record(Event::Resumed {
                operators: self.p.operators.clone(),
                pid: std::process::id(),
                machine: machine_name(),
            })
            .await?;
        }
        Ok(())
    }

    async fn finish_window(&self) -> eyre::Result<()> {
        if self.with_state(|s| s.paused || s.finished) {
            return Ok(());
        }
        let aborted = self.with_state(|s| s.aborted);
        self.record(Event::WindowFinished { aborted }).await
    }

    /// Before anything changes: every host's diff and every health check, once; then the
    /// window's risk against its maximum.
    async fn preflight(&self, hosts: &[Host]) -> eyre::Result<()> {
        let report = crate::check::run(
            self.p.runbook,
            self.p.baseline,
            self.p.transport,
            self.p.prober,
            self.p.managers,
            &crate::check::Options {
                probe_cache: Some(self.p.probe_cache.clone()),
                own_lock: Some(self.lock_holder()),
                ..Default::default()
            },
            |_| {},
        )
        .await;
        debug_assert_eq!(report.hosts.len(), hosts.len());
        for h in &report.hosts {
            self.record(Event::Preflight {
                host: h.host().to_string(),
                findings: h.diff.findings.clone(),
                checks: h.checks.clone(),
            })
            .await?;
        }
        if report.risk.over && !self.with_state(|s| s.risk_accepted) {
            let r = &report.risk;
            let stop = StopKind::RiskOver { risk: r.risk, max: r.max, changes: r.changes };
            if let Some(d) = self.stop(None, stop, None, false).await?
                && d.choice != Choice::Override
                && !self.with_state(|s| s.aborted)
            {
                // Anything but carrying on ends the window before it changes anything.
                self.record_abort().await?;
            }
        }
        Ok(())
    }

    /// Nothing changes before the window's start: people start early (with a reason) or
    /// the start time comes. `false`: the window ends here (aborted, or paused).
    async fn wait_for_start(&self) -> eyre::Result<bool> {
        let starts = self.p.runbook.window.starts;
        let early = self.with_state(|s| s.started_early || !s.waves_started.is_empty());
        if early || self.p.clock.now() >= starts {
            return Ok(!self.with_state(|s| s.aborted || s.paused));
        }
        let stop = StopKind::BeforeStart { starts };
        let decided = self.stop_until(stop, super::clock::wait_until(self.p.clock, starts)).await?;
        Ok(decided && !self.with_state(|s| s.aborted || s.paused))
    }

    /// Rollbacks people asked for, of hosts no runner holds: now, beside the waves, and
    /// after the window for as long as [`Until`] says.
    async fn serve_rollbacks(&self) -> eyre::Result<()> {
        let mut over = self.window_over.subscribe();
        let mut closed = self.closed.subscribe();
        loop {
            let mut changed = self.p.recorder.watch();
            // Leaving (paused): the rollback under way ends, none starts.
            if self.with_state(|s| s.paused) && *over.borrow() {
                return Ok(());
            }
            let due = if self.with_state(|s| s.paused) { Vec::new() } else { self.with_state(|s| s.rollbacks_due()) };
            let mut did = false;
            for name in due {
                let Some(host) = self.p.runbook.host(&name) else { continue };
                let lock = self.host_lock(&name);
                // A host's own runner rolls it back between its steps.
                let Ok(_busy) = lock.try_lock() else { continue };
                if !self.with_state(|s| s.host(&name).is_some_and(|h| h.rollback_pending && h.has_changes())) {
                    continue;
                }
                if let Some(result) = self.requested_rollback(host).await? {
                    self.record(Event::HostFinished { host: name.clone(), result }).await?;
                    self.unlock_host(host, result).await;
                }
                did = true;
            }
            if did {
                continue;
            }
            let window_over = *over.borrow();
            let paused = self.with_state(|s| s.paused);
            if window_over && (paused || self.p.until == Until::Finished || *closed.borrow()) {
                return Ok(());
            }
            tokio::select! {
                r = changed.changed() => { if r.is_err() { return Ok(()); } }
                _ = over.changed() => {}
                _ = closed.changed() => {}
            }
        }
    }

    /// Records an abort decided by the engine itself (the risk stop answered otherwise
    /// than override): nothing more starts.
    async fn record_abort(&self) -> eyre::Result<()> {
        self.request(super::event::Request::Abort, self.p.operators.clone()).await
    }

    /// Is the wave's failure budget intact, or did people accept it being spent? Raises the
    /// too-many-failures stop (once per count) when it is spent and waits for it to be
    /// decided. `false`: the window ends (aborted or paused).
    pub(super) async fn budget_allows(&self, wave: &WavePlan) -> eyre::Result<bool> {
        loop {
            let mut changed = self.p.recorder.watch();
            let (spent, over, open) = self.with_state(|s| {
                let open = s.open_stops.iter().any(|o| o.stop.code() == StopCode::TooManyFailures);
                (s.budget_spent(wave), s.aborted || s.paused, open)
            });
            if over {
                return Ok(false);
            }
            if !spent {
                return Ok(true);
            }
            if open {
                // Another runner raised it: wait for the decision.
                if changed.changed().await.is_err() {
                    return Ok(false);
                }
                continue;
            }
            let failures = self.with_state(|s| s.failures_among(&wave.hosts));
            let stop = StopKind::TooManyFailures { wave: wave.name.clone(), failures, max: wave.max_failures };
            // Raised once: not when one is already open or the budget is no longer spent.
            let raise_if = |s: &WindowState| {
                s.open_stops.iter().all(|o| o.stop.code() != StopCode::TooManyFailures) && s.budget_spent(wave)
            };
            self.stop_if(None, stop, None, false, raise_if).await?;
        }
    }
}

/// This machine's name for the journal's resume records and host locks.
pub(super) fn machine_name() -> String {
    crate::lock::host::this_machine()
}
