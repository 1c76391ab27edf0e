//! Injecting faults: the drill clock, a transport wrapper that applies faults when their
//! trigger fires, and a decider wrapper that counts the operators' time on the drill clock.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::live::{self, Live};
use super::scenario::{Effect, FaultSpec};
use crate::engine::clock::Clock;
use crate::engine::control::{Actor, Choice, Decision};
use crate::engine::decide::{Decider, Verdict};
use crate::engine::event::Event;
use crate::engine::recorder::Recorder;
use crate::engine::state::OpenStop;
use crate::inventory::Host;
use crate::sim::{Fault, FaultEffect, Fleet, RepoVersion};
use crate::transport::stream::{Discard, Sink, replay};
use crate::transport::{Command, Output, Purpose, Recovered, RunKey, Transport, TransportError, WindowKey};

/// The drill's clock. Simulated drills run on simulated time: it starts at the window's
/// start and moves by what each simulated operation would take on a real host (whatever
/// `--speed` makes the real wait), plus the real time operators take to decide, so scores
/// are plausible and repeatable even at `--speed 0`. Live drills run on real time, mapped
/// onto the window's start. Both can jump (a `deadline` fault).
pub struct DrillClock {
    start: jiff::Timestamp,
    real: Option<Instant>,
    sim: Mutex<SimTime>,
    jump: Mutex<jiff::SignedDuration>,
}

/// Simulated time so far. While operators decide, real time passes on it as it goes (not
/// only once they have decided), so the cockpit's clock and countdowns move meanwhile.
#[derive(Default)]
struct SimTime {
    elapsed: Duration,
    /// Decisions under way, and since when at least one has been.
    deciding: usize,
    since: Option<Instant>,
}

impl DrillClock {
    pub fn simulated(start: jiff::Timestamp) -> Self {
        Self { start, real: None, sim: Mutex::default(), jump: Mutex::new(jiff::SignedDuration::ZERO) }
    }

    pub fn real(start: jiff::Timestamp) -> Self {
        Self { real: Some(Instant::now()), ..Self::simulated(start) }
    }

    fn sim(&self) -> std::sync::MutexGuard<'_, SimTime> {
        self.sim.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Time since the window's start, jumps included.
    pub fn since_start(&self) -> Duration {
        let e = match self.real {
            Some(t) => t.elapsed(),
            None => {
                let s = self.sim();
                s.elapsed + s.since.map_or(Duration::ZERO, |t| t.elapsed())
            }
        };
        let jump = *self.jump.lock().unwrap_or_else(|p| p.into_inner());
        let total = jiff::SignedDuration::try_from(e).unwrap_or(jiff::SignedDuration::MAX).saturating_add(jump);
        Duration::try_from(total).unwrap_or(Duration::ZERO)
    }

    /// Simulated time passes (no effect on a real clock).
    pub fn advance(&self, d: Duration) {
        if self.real.is_none() {
            self.sim().elapsed += d;
        }
    }

    /// Operators start deciding: real time passes on the simulated clock until
    /// [`DrillClock::decided`]. Overlapping decisions count their real time once.
    pub fn deciding(&self) {
        let mut s = self.sim();
        if s.deciding == 0 {
            s.since = Some(Instant::now());
        }
        s.deciding += 1;
    }

    /// A decision begun with [`DrillClock::deciding`] was taken.
    pub fn decided(&self) {
        let mut s = self.sim();
        s.deciding = s.deciding.saturating_sub(1);
        if s.deciding == 0
            && let Some(t) = s.since.take()
        {
            s.elapsed += t.elapsed();
        }
    }

    /// The clock jumps to `at` (forward or back).
    pub fn jump_to(&self, at: jiff::Timestamp) {
        let delta = at.duration_since(self.now());
        let mut j = self.jump.lock().unwrap_or_else(|p| p.into_inner());
        *j = j.saturating_add(delta);
    }

    pub fn start(&self) -> jiff::Timestamp {
        self.start
    }

    /// Real time (a live drill), not simulated.
    pub fn is_real(&self) -> bool {
        self.real.is_some()
    }
}

impl Clock for DrillClock {
    fn now(&self) -> jiff::Timestamp {
        let d = jiff::SignedDuration::try_from(self.since_start()).unwrap_or(jiff::SignedDuration::ZERO);
        self.start.checked_add(d).unwrap_or(self.start)
    }
}

/// Where faults land: the simulated fleet, or real hosts through a fault command.
#[derive(Clone)]
pub enum Backend {
    Sim(Fleet),
    /// Real hosts: `hook ACTION HOST` is run for host-side faults (`kill-sshd`, `break-web`,
    /// `hang-apt` for a hang that hits a package-manager command, and `restore` after the
    /// drill: the interface of `tests/fleet/fault.sh`; see [`live`]).
    Live {
        hook: Option<String>,
    },
}

/// A command-level effect waiting for the host's next command.
#[derive(Debug, Clone)]
enum Armed {
    Exit(i32),
    Hang,
    Crash,
    KeepVersion(String),
}

#[derive(Default)]
struct State {
    fired: Vec<bool>,
    due: VecDeque<usize>,
    armed: Vec<(String, Armed)>,
    /// Every journaled event with the drill clock's time when it was journaled.
    timed: Vec<(jiff::Timestamp, Event)>,
    /// Faults that could not be applied, with why.
    failed: Vec<String>,
    /// Hosts a live fault command changed: restored after the drill.
    hooked: Vec<String>,
}

/// Watches the journal for triggers and applies faults when they are due.
pub struct Injector {
    pub faults: Vec<FaultSpec>,
    pub clock: Arc<DrillClock>,
    backend: Backend,
    decide_by: jiff::Timestamp,
    speed: f64,
    state: Mutex<State>,
    recorder: Mutex<Option<Arc<Recorder>>>,
    crashed: tokio::sync::Notify,
}

impl Injector {
    pub fn new(
        faults: Vec<FaultSpec>,
        clock: Arc<DrillClock>,
        backend: Backend,
        decide_by: jiff::Timestamp,
        speed: f64,
    ) -> Self {
        let state = State { fired: vec![false; faults.len()], ..Default::default() };
        Self {
            faults,
            clock,
            backend,
            decide_by,
            speed,
            state: Mutex::new(state),
            recorder: Mutex::new(None),
            crashed: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The recorder FaultInjected events go to (a new one after a simulated crash).
    pub fn attach(&self, recorder: Arc<Recorder>) {
        *self.recorder.lock().unwrap_or_else(|p| p.into_inner()) = Some(recorder);
    }

    /// Lets go of the recorder (it holds this injector: the cycle must be broken).
    pub fn detach(&self) {
        self.recorder.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Called from the journal's write-ahead hook for every event, before it is applied:
    /// timestamps it on the drill clock and queues faults whose step just started.
    pub fn observe(&self, e: &Event) {
        let mut st = self.lock();
        st.timed.push((self.clock.now(), e.clone()));
        if let Event::StepStarted { host, name, .. } = e {
            for (i, f) in self.faults.iter().enumerate() {
                if !st.fired[i] && f.at_step.as_deref() == Some(name) && f.trigger_host() == Some(host) {
                    st.fired[i] = true;
                    st.due.push_back(i);
                }
            }
        }
    }

    /// Events journaled so far, with drill times.
    pub fn timed(&self) -> Vec<(jiff::Timestamp, Event)> {
        self.lock().timed.clone()
    }

    /// Faults whose trigger never fired.
    pub fn unfired(&self) -> Vec<usize> {
        self.lock().fired.iter().enumerate().filter(|(_, f)| !**f).map(|(i, _)| i).collect()
    }

    /// Faults that fired but could not be applied.
    pub fn failures(&self) -> Vec<String> {
        self.lock().failed.clone()
    }

    /// Resolves when a `crash` fault has "killed" patchdeck.
    pub async fn crashed(&self) {
        self.crashed.notified().await
    }

    /// Applies every fault that is due (time-triggered ones included).
    async fn apply_due(&self) -> Result<(), TransportError> {
        let due: Vec<usize> = {
            let mut st = self.lock();
            let since = self.clock.since_start();
            for (i, f) in self.faults.iter().enumerate() {
                if !st.fired[i] && f.at_duration().is_some_and(|at| since >= at) {
                    st.fired[i] = true;
                    st.due.push_back(i);
                }
            }
            st.due.drain(..).collect()
        };
        for i in due {
            let f = &self.faults[i];
            if let Err(why) = self.apply(f) {
                self.lock().failed.push(format!("{}: {why}", f.label()));
                continue;
            }
            // After applying: a clock jump happens at the time it jumps to.
            let at = self.clock.now();
            let recorder = self.recorder.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(r) = recorder {
                let e = Event::FaultInjected { fault: f.label(), host: f.host.clone(), at };
                r.record(e).await.map_err(|e| TransportError::Unreachable {
                    host: "(journal)".into(),
                    detail: format!("cannot journal a fault: {e}"),
                })?;
            }
        }
        Ok(())
    }

    fn apply(&self, f: &FaultSpec) -> Result<(), String> {
        let host = f.host.clone().unwrap_or_default();
        let arm = |a: Armed| self.lock().armed.push((host.clone(), a));
        match (&f.effect, &self.backend) {
            (Effect::Exit(c), _) => arm(Armed::Exit(*c)),
            (Effect::Hang, _) => arm(Armed::Hang),
            (Effect::Crash, _) => arm(Armed::Crash),
            (Effect::KeepVersion(p), Backend::Sim(_)) => arm(Armed::KeepVersion(p.clone())),
            (Effect::Deadline, _) => self.clock.jump_to(self.decide_by + jiff::SignedDuration::from_mins(1)),
            (Effect::Unreachable, Backend::Sim(fleet)) => sim(fleet, &host, |h| h.reachable = false)?,
            (Effect::Unhealthy, Backend::Sim(fleet)) => sim(fleet, &host, |h| {
                h.healthy = false;
                h.breaks_after_update = true;
            })?,
            (Effect::RebootRequired, Backend::Sim(fleet)) => sim(fleet, &host, |h| h.reboot_required = true)?,
            (Effect::Candidate { package, version }, Backend::Sim(fleet)) => sim(fleet, &host, |h| {
                h.repo.push(RepoVersion {
                    name: package.clone(),
                    version: version.clone(),
                    origin: "Debian-Security:12/stable-security".into(),
                    pulled_in_by: None,
                })
            })?,
            (Effect::Drift { path, content }, Backend::Sim(fleet)) => sim(fleet, &host, |h| {
                h.files.insert(path.clone(), content.clone());
            })?,
            (e, Backend::Live { .. }) => match live::how(e) {
                Live::Hook(action) => self.hook(action, &host)?,
                // Armed or applied by the arms above, as for simulated hosts.
                Live::Replace | Live::OurSide => {}
                Live::Refused => return Err(format!("`{}` cannot be injected on real hosts", e.describe())),
            },
        }
        Ok(())
    }

    /// Live drills: runs `CMD ACTION HOST` (the fault command); the host is restored after
    /// the drill, even if the command failed half-way.
    fn hook(&self, action: &str, host: &str) -> Result<(), String> {
        let Backend::Live { hook: Some(hook) } = &self.backend else {
            return Err(format!("no --fault-cmd given to `{action}` {host}"));
        };
        let mut st = self.lock();
        if !st.hooked.iter().any(|h| h == host) {
            st.hooked.push(host.to_string());
        }
        drop(st);
        live::run_hook(hook, action, host)
    }

    /// Live drills with a fault command: a hang that hits this command is done by the fault
    /// command on the host (`hang-apt` for the package manager's commands) instead of
    /// replacing the command.
    fn live_hang_action(&self, cmd: &Command) -> Option<&'static str> {
        matches!(self.backend, Backend::Live { hook: Some(_) }).then(|| live::hang_action(&cmd.purpose)).flatten()
    }

    /// Live drills: `CMD restore HOST` for every host the fault command changed, once.
    /// What was restored, or why it could not be.
    pub fn restore_hooked(&self) -> Vec<Result<String, String>> {
        let hosts = std::mem::take(&mut self.lock().hooked);
        let Backend::Live { hook: Some(hook) } = &self.backend else { return Vec::new() };
        hosts
            .into_iter()
            .map(|h| live::run_hook(hook, "restore", &h).map(|()| format!("`{hook} restore {h}`")))
            .collect()
    }

    /// The armed effect for this host's command, if any (consumed).
    fn take_armed(&self, host: &str, cmd: &Command) -> Option<Armed> {
        let mut st = self.lock();
        let i = st.armed.iter().position(|(h, a)| {
            h == host && (!matches!(a, Armed::KeepVersion(_)) || matches!(cmd.purpose, Purpose::Restore))
        })?;
        Some(st.armed.remove(i).1)
    }
}

fn sim(fleet: &Fleet, host: &str, f: impl FnOnce(&mut crate::sim::HostState)) -> Result<(), String> {
    fleet.with_host(host, f).ok_or_else(|| format!("no simulated host `{host}`"))
}

/// What a simulated operation takes on a real host (the sim's own delays, unscaled).
fn nominal(purpose: &Purpose) -> Duration {
    match purpose {
        Purpose::Probe { .. } => Duration::from_millis(350),
        Purpose::Install | Purpose::Restore => Duration::from_secs(3),
        Purpose::Reboot => Duration::from_secs(5),
        Purpose::Shell => Duration::from_millis(300),
        // A file written on the host: no time worth a drill's clock.
        Purpose::HostLock(_) => Duration::ZERO,
        // A file read for the operator's eyes, not part of the window.
        Purpose::ReadFile { .. } => Duration::ZERO,
        // A read-only question before the window.
        Purpose::SudoCheck => Duration::ZERO,
    }
}

/// Wraps the drill's transport: applies due faults before every command and moves the
/// drill clock by what the command takes.
pub struct DrillTransport<'a> {
    pub inner: &'a dyn Transport,
    pub injector: &'a Injector,
}

#[async_trait]
impl Transport for DrillTransport<'_> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn exec(&self, host: &Host, cmd: &Command) -> Result<Output, TransportError> {
        self.exec_streaming(host, cmd, &Discard).await
    }

    async fn exec_streaming(&self, host: &Host, cmd: &Command, sink: &dyn Sink) -> Result<Output, TransportError> {
        self.injector.apply_due().await?;
        let inj = self.injector;
        let live = matches!(inj.backend, Backend::Live { .. });
        match inj.take_armed(&host.name, cmd) {
            // Real hosts: a real command on the host instead (see `live`).
            Some(Armed::Exit(code)) if live => {
                let c = Command { script: live::exit_script(code, &cmd.script), needs_root: false, ..cmd.clone() };
                return self.inner.exec(host, &c).await;
            }
            Some(Armed::Hang) if live => {
                // The package manager's commands hang for real: the fault command holds its
                // locks on the host and the command runs, waiting for them until its timeout.
                if let Some(action) = inj.live_hang_action(cmd) {
                    match inj.hook(action, &host.name) {
                        Ok(()) => return self.inner.exec_streaming(host, cmd, sink).await,
                        // Hang it all the same (below); the scorecard says the fault failed.
                        Err(why) => inj.lock().failed.push(format!("hang on {}: {why}", host.name)),
                    }
                }
                let c = Command { script: live::hang_script(cmd.timeout), needs_root: false, ..cmd.clone() };
                return self.inner.exec(host, &c).await;
            }
            Some(Armed::Exit(code)) => {
                inj.clock.advance(Duration::from_millis(300));
                let out = Output::whole(
                    Some(code),
                    Vec::new(),
                    format!("drill: injected failure (exit {code})\n").into_bytes(),
                );
                replay(&out, sink);
                return Ok(out);
            }
            Some(Armed::Hang) => {
                if inj.speed > 0.0 {
                    tokio::time::sleep(cmd.timeout.mul_f64(inj.speed)).await;
                }
                inj.clock.advance(cmd.timeout);
                return Err(TransportError::Timeout {
                    host: host.name.clone(),
                    after: cmd.timeout,
                    what: "the command did not finish (drill: injected hang)".into(),
                });
            }
            Some(Armed::Crash) => {
                inj.crashed.notify_one();
                // patchdeck is "dead": this future is dropped with the engine.
                std::future::pending::<()>().await;
            }
            Some(Armed::KeepVersion(pkg)) => {
                if let Backend::Sim(fleet) = &inj.backend {
                    fleet.with_host(&host.name, |h| {
                        h.faults.insert(
                            0,
                            Fault { on: String::new(), effect: FaultEffect::KeepVersion(pkg), sticky: false },
                        )
                    });
                }
            }
            None => {}
        }
        let out = self.inner.exec_streaming(host, cmd, sink).await;
        inj.clock.advance(match &out {
            Err(TransportError::Timeout { after, .. }) => *after,
            _ => nominal(&cmd.purpose),
        });
        out
    }

    async fn close(&self) {
        self.inner.close().await
    }

    // The host's run records are read straight from the inner transport: faults are
    // injected into commands the window runs, not into reading what they did.
    fn runs_dir(&self) -> Option<&str> {
        self.inner.runs_dir()
    }

    async fn recover(&self, host: &Host, key: &RunKey) -> Result<Recovered, TransportError> {
        self.inner.recover(host, key).await
    }

    async fn attach(
        &self,
        host: &Host,
        key: &RunKey,
        timeout: Duration,
        sink: &dyn Sink,
    ) -> Result<Output, TransportError> {
        self.inner.attach(host, key, timeout, sink).await
    }

    async fn clean_runs(&self, host: &Host, window: &WindowKey) -> Result<(), TransportError> {
        self.inner.clean_runs(host, window).await
    }
}

/// Wraps whoever decides (the cockpit, or a script): their time counts on the drill clock.
pub struct DrillDecider<'a> {
    pub inner: &'a dyn Decider,
    pub clock: &'a DrillClock,
}

#[async_trait]
impl Decider for DrillDecider<'_> {
    async fn decide(&self, stop: &OpenStop) -> Verdict {
        self.clock.deciding();
        let d = self.inner.decide(stop).await;
        self.clock.decided();
        d
    }

    async fn auto_rollback_countdown(&self, host: &str, seconds: u64) -> Option<Actor> {
        let t = Instant::now();
        self.clock.deciding();
        let cancelled = self.inner.auto_rollback_countdown(host, seconds).await;
        self.clock.decided();
        // A countdown that ran out took its seconds, however fast the drill runs.
        let (full, took) = (Duration::from_secs(seconds), t.elapsed());
        if cancelled.is_none() && took < full {
            self.clock.advance(full - took);
        }
        cancelled
    }
}

/// Headless decisions for drills: the scenario's list in order, then the fallback
/// (`--decide`), then abort. Each choice acts on the stop's own subject. Says what it did
/// through `say` (the `[DRILL]` lines); the journal credits the scenario or the flag.
pub struct Script {
    scenario: String,
    decisions: Mutex<VecDeque<(Choice, Option<String>)>>,
    fallback: Option<Choice>,
    operators: Vec<String>,
    speed: f64,
    say: Box<dyn Fn(String) + Send + Sync>,
}

impl Script {
    pub fn new(
        scenario: &str,
        decisions: Vec<(Choice, Option<String>)>,
        fallback: Option<Choice>,
        operators: Vec<String>,
        speed: f64,
        say: Box<dyn Fn(String) + Send + Sync>,
    ) -> Self {
        Self {
            scenario: scenario.to_string(),
            decisions: Mutex::new(decisions.into()),
            fallback,
            operators,
            speed,
            say,
        }
    }
}

#[async_trait]
impl Decider for Script {
    async fn decide(&self, stop: &OpenStop) -> Verdict {
        let host = stop.host.as_deref().unwrap_or("window");
        (self.say)(format!("HARD STOP {host}: {}", crate::safe_text::for_terminal(&stop.stop.headline())));
        let scenario = Actor::Scenario { name: self.scenario.clone() };
        // Gates open by themselves in a rehearsal: its decisions are about its faults.
        if stop.stop.code() == crate::engine::control::StopCode::Gate {
            (self.say)("  decision: go (gates open in drills)".into());
            return Verdict {
                decision: Decision::new(Choice::Go, crate::engine::control::Target::Window),
                by: scenario,
            };
        }
        let next = self.decisions.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        let (choice, reason, by, why) = match next {
            Some((c, reason)) => (c, reason, scenario, "scenario"),
            None => match self.fallback {
                Some(c) => {
                    let order = format!("--decide {}", crate::session::headless::flag_word(c));
                    (c, None, Actor::StandingOrder { order, given_by: self.operators.clone() }, "--decide")
                }
                None => (Choice::Abort, None, scenario, "no decision left"),
            },
        };
        let mut decision = Decision::at_stop(choice, stop.host.as_deref(), None);
        decision.reason = reason;
        (self.say)(format!("  decision: {} ({why})", crate::narrate::decision(&decision)));
        Verdict { decision, by }
    }

    async fn auto_rollback_countdown(&self, host: &str, seconds: u64) -> Option<Actor> {
        (self.say)(format!("{host}: health check failed; auto-rollback in {seconds}s"));
        if self.speed > 0.0 {
            tokio::time::sleep(Duration::from_secs(seconds).mul_f64(self.speed)).await;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> jiff::Timestamp {
        "2026-11-22T22:00:00Z".parse().unwrap()
    }

    #[test]
    fn simulated_time_moves_while_operators_decide_and_counts_overlaps_once() {
        let c = DrillClock::simulated(t0());
        c.advance(Duration::from_secs(3));
        assert_eq!(c.since_start(), Duration::from_secs(3));
        c.deciding();
        c.deciding(); // a countdown on another host, at the same time
        std::thread::sleep(Duration::from_millis(60));
        let mid = c.since_start();
        assert!(mid >= Duration::from_millis(3060), "the clock moves during the decision: {mid:?}");
        c.decided();
        c.decided();
        let end = c.since_start();
        assert!(end >= mid && end < Duration::from_secs(4), "real time counted once: {end:?}");
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(c.since_start(), end, "between operations simulated time stands still");
    }

    #[test]
    fn real_clock_ignores_simulated_advances() {
        let c = DrillClock::real(t0());
        c.advance(Duration::from_secs(3600));
        c.deciding();
        c.decided();
        assert!(c.since_start() < Duration::from_secs(5));
        assert!(c.is_real());
    }
}
