//! Driving a window: waves in order, hosts of a wave in parallel up to `parallel`, steps in
//! order, a hard stop whenever reality leaves the plan.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::{Mutex, RwLock};

use super::clock::Clock;
use super::decide::{Decider, allowed};
use super::event::{Change, Decision, Event, HostResult, Outcome, SnapshotEntry, StopKind};
use super::live::LiveFeed;
use super::recorder::Recorder;
use super::state::OpenStop;
use crate::baseline::Baseline;
use crate::diff::diff_host;
use crate::health::{CheckResult, Prober, run_check};
use crate::inventory::Host;
use crate::pkg::{Managers, PkgName, Version, verify};
use crate::probe::{HostFacts, Mode, ProbeCache, ProbeError, probe_host_with};
use crate::runbook::{Runbook, Step, StepAction, placeholder};
use crate::transport::{Command, Output, Purpose, Transport, TransportError};

/// Attempts at undoing one step before a rollback/retry decision gives up on the host.
pub const MAX_ROLLBACK_ATTEMPTS: u32 = 3;

/// The name under which `local` steps run (on the operator's machine).
pub use crate::transport::OPERATOR_HOST;

/// Everything the engine works with. Borrowed: the caller owns transports and files.
pub struct Engine<'a> {
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
    /// Held for writing while a decision is pending: no new step starts meanwhile.
    gate: RwLock<()>,
    /// One decision at a time.
    deciding: Mutex<()>,
}

/// What a host runner does after a stop was decided.
enum Next {
    Continue,
    Retry,
    Finish(HostResult),
}

/// What the health checks after a step led to.
enum AfterChecks {
    Healthy,
    /// A new failure, auto-rollback ran: the host is finished with this result.
    RolledBack(HostResult),
    /// A new failure needing a decision.
    Stop(StopKind),
}

/// What became of the whole window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub aborted: bool,
    pub results: BTreeMap<String, Option<HostResult>>,
    /// Stops that were raised (all of them decided).
    pub stops: usize,
}

fn journal_err(e: eyre::Report) -> eyre::Report {
    e.wrap_err("cannot write the journal: the window stops here so no action goes unrecorded")
}

impl<'a> Engine<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        runbook: &'a Runbook,
        baseline: &'a Baseline,
        transport: &'a dyn Transport,
        local: &'a dyn Transport,
        prober: &'a dyn Prober,
        managers: &'a Managers,
        clock: &'a dyn Clock,
        decider: &'a dyn Decider,
        recorder: &'a Recorder,
        operators: Vec<String>,
    ) -> Self {
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
            gate: RwLock::new(()),
            deciding: Mutex::new(()),
        }
    }

    fn record(&self, e: Event) -> eyre::Result<()> {
        self.recorder.record(e).map_err(journal_err)
    }

    fn aborted(&self) -> bool {
        self.recorder.with_state(|s| s.aborted)
    }

    /// Runs (or resumes) the window to its end.
    pub async fn run(&self) -> eyre::Result<Summary> {
        let hosts = crate::check::window_hosts(self.runbook);
        if !self.recorder.with_state(|s| s.started) {
            self.record(Event::WindowStarted {
                window: self.runbook.window.name.clone(),
                operators: self.operators.clone(),
                hosts: hosts.iter().map(|h| h.name.clone()).collect(),
                drill: self.drill,
            })?;
            self.preflight(&hosts).await?;
        }

        for wave in &self.runbook.waves {
            if self.aborted() {
                break;
            }
            if self.recorder.with_state(|s| s.waves_finished.contains(&wave.name)) {
                continue;
            }
            if !self.recorder.with_state(|s| s.waves_started.contains(&wave.name)) {
                self.record(Event::WaveStarted { wave: wave.name.clone() })?;
            }
            let wave_hosts: Vec<&Host> = wave.hosts.iter().filter_map(|n| self.runbook.host(n)).collect();
            let results: Vec<eyre::Result<HostResult>> = futures::stream::iter(wave_hosts)
                .map(|h| self.run_host(h))
                .buffer_unordered(wave.parallel.max(1))
                .collect()
                .await;
            let mut failures = 0;
            for r in results {
                // A host the operators chose to skip is a decision, not a failure.
                if matches!(r?, HostResult::Failed | HostResult::RolledBack) {
                    failures += 1;
                }
            }
            self.record(Event::WaveFinished { wave: wave.name.clone(), failures })?;
            self.settle_requested_rollbacks().await?;
            if failures > wave.max_failures && !self.aborted() {
                let stop = StopKind::TooManyFailures { wave: wave.name.clone(), failures, max: wave.max_failures };
                match self.stop(None, stop).await? {
                    Decision::Override { .. } => {}
                    // RollbackAll: settled below, once the loop ends.
                    _ => break,
                }
            }
        }
        self.settle_requested_rollbacks().await?;
        let aborted = self.aborted();
        self.record(Event::WindowFinished { aborted })?;
        let state = self.recorder.state();
        Ok(Summary {
            aborted,
            results: hosts.iter().map(|h| (h.name.clone(), state.host(&h.name).and_then(|s| s.result))).collect(),
            stops: state.last_stop_id as usize,
        })
    }

    /// Before anything changes: every host's diff and every health check, once; then the
    /// window's risk against its maximum.
    async fn preflight(&self, hosts: &[Host]) -> eyre::Result<()> {
        let report = crate::check::run(
            self.runbook,
            self.baseline,
            self.transport,
            self.prober,
            self.managers,
            &crate::check::Options { probe_cache: Some(self.probe_cache.clone()), ..Default::default() },
            |_| {},
        )
        .await;
        debug_assert_eq!(report.hosts.len(), hosts.len());
        for h in &report.hosts {
            self.record(Event::Preflight {
                host: h.host().to_string(),
                findings: h.diff.findings.clone(),
                checks: h.checks.clone(),
            })?;
        }
        if report.risk.over && !self.recorder.with_state(|s| s.risk_accepted) {
            let r = &report.risk;
            let stop = StopKind::RiskOver { risk: r.risk, max: r.max, changes: r.changes };
            match self.stop(None, stop).await? {
                Decision::Override { .. } => {}
                _ => self.abort()?,
            }
        }
        Ok(())
    }

    fn abort(&self) -> eyre::Result<()> {
        // The decision itself is journaled by `stop`; this only makes sure the state says so.
        if !self.aborted() {
            let id = self.recorder.with_state(|s| s.last_stop_id);
            self.record(Event::Decided {
                id,
                host: None,
                decision: Decision::Abort,
                operators: self.operators.clone(),
            })?;
        }
        Ok(())
    }

    /// Raises a hard stop and waits for a decision; nothing new starts meanwhile.
    async fn stop(&self, host: Option<&str>, stop: StopKind) -> eyre::Result<Decision> {
        let _one = self.deciding.lock().await;
        let _paused = self.gate.write().await;
        let id = self.recorder.with_state(|s| s.last_stop_id) + 1;
        self.record(Event::HardStop { id, host: host.map(str::to_string), stop: stop.clone() })?;
        let open = OpenStop { id, host: host.map(str::to_string), stop: stop.clone() };
        let mut decision = self.decider.decide(&open).await;
        if host.is_none() && decision == Decision::Rollback {
            decision = Decision::RollbackAll;
        }
        if !allowed(&stop, host).contains(&decision_key(&decision)) {
            decision = Decision::Abort;
        }
        if let Decision::Override { reason } = &decision
            && reason.trim().is_empty()
        {
            decision = Decision::Abort;
        }
        let operators = match self.decider.standing_order() {
            Some(order) => vec![format!("{order} (standing order of {})", self.operators.join(", "))],
            None => self.operators.clone(),
        };
        self.record(Event::Decided { id, host: host.map(str::to_string), decision: decision.clone(), operators })?;
        Ok(decision)
    }

    /// Turns a decision at a host's stop into what the runner does next.
    async fn act(&self, host: &Host, decision: Decision) -> eyre::Result<Next> {
        Ok(match decision {
            Decision::Override { .. } => Next::Continue,
            Decision::Retry => Next::Retry,
            Decision::SkipHost => Next::Finish(HostResult::Skipped),
            Decision::Abort => Next::Finish(HostResult::Failed),
            // This host first; the rest when the window winds down (see `run`).
            Decision::Rollback | Decision::RollbackAll => {
                // Nothing done yet: the host is simply left untouched.
                let untouched = self.recorder.with_state(|s| s.host(&host.name).is_none_or(|h| !h.has_changes()));
                Next::Finish(if untouched { HostResult::Skipped } else { self.rollback_host(host).await? })
            }
        })
    }

    async fn run_host(&self, host: &Host) -> eyre::Result<HostResult> {
        let name = host.name.as_str();
        if let Some(done) = self.recorder.with_state(|s| s.host(name).and_then(|h| h.result)) {
            return Ok(done);
        }
        let result = self.drive_host(host).await?;
        self.record(Event::HostFinished { host: name.to_string(), result })?;
        Ok(result)
    }

    async fn drive_host(&self, host: &Host) -> eyre::Result<HostResult> {
        let name = host.name.as_str();
        if self.aborted() {
            return Ok(HostResult::Skipped);
        }

        // Resumed after a crash in the middle of this host's rollback: the host was going
        // back, never forward. The rollback asks about the interrupted step itself.
        if self.recorder.with_state(|s| s.host(name).is_some_and(|h| h.rolling_back.is_some())) {
            return self.rollback_host(host).await;
        }

        // Resumed after a crash with a step in flight: never repeat it blindly.
        if let Some(step) = self.recorder.with_state(|s| s.host(name).and_then(|h| h.in_flight)) {
            let stop = StopKind::UnknownOutcome { step: self.runbook.steps[step].name.clone() };
            match self.stop(Some(name), stop).await? {
                Decision::Retry => {}
                Decision::Override { .. } => {
                    // The operators say it ran: record it as done.
                    let outcome = Outcome::Ok;
                    self.record(Event::StepFinished { host: name.into(), step, outcome, changes: vec![], millis: 0 })?;
                }
                d => {
                    if let Next::Finish(r) = self.act(host, d).await? {
                        return Ok(r);
                    }
                }
            }
        }

        // Re-check right before the first change: the world may have moved since preflight.
        let untouched = self.recorder.with_state(|s| s.host(name).is_none_or(|h| h.done.is_empty() && !h.rechecked));
        if untouched {
            let (fps, cache) = (&self.runbook.fingerprints, Some(self.probe_cache.as_ref()));
            match probe_host_with(self.transport, self.managers, host, fps, Duration::from_secs(120), Mode::Full, cache)
                .await
            {
                Ok((facts, _)) => {
                    let d = diff_host(name, &facts, self.baseline, &self.runbook.fingerprints, &self.runbook.policy);
                    let stops: Vec<_> = d.stops().cloned().collect();
                    self.record(Event::Recheck { host: name.into(), findings: d.findings.clone() })?;
                    if !stops.is_empty()
                        && let Next::Finish(r) = self
                            .act(host, self.stop(Some(name), StopKind::Divergence { findings: stops }).await?)
                            .await?
                    {
                        return Ok(r);
                    }
                }
                Err(e) => {
                    self.record(Event::Recheck { host: name.into(), findings: vec![] })?;
                    let stop = StopKind::Unreachable { detail: e.to_string() };
                    if let Next::Finish(r) = self.act(host, self.stop(Some(name), stop).await?).await? {
                        return Ok(r);
                    }
                }
            }
        }

        let mut i = 0;
        while i < self.runbook.steps.len() {
            if let Some(r) = self.requested_rollback(host).await? {
                return Ok(r);
            }
            if self.aborted() {
                return Ok(HostResult::Failed);
            }
            if self.recorder.with_state(|s| s.host(name).is_some_and(|h| h.done.contains(&i))) {
                i += 1;
                continue;
            }
            let step = &self.runbook.steps[i];

            // Past "decide by", carrying on is a decision, taken once for the window.
            let decide_by = self.runbook.window.decide_by();
            if self.clock.now() > decide_by && !self.recorder.with_state(|s| s.past_deadline_accepted) {
                let _serial = self.deciding.lock().await;
                let still = !self.recorder.with_state(|s| s.past_deadline_accepted);
                drop(_serial);
                if still {
                    match self.stop(None, StopKind::Deadline { decide_by }).await? {
                        Decision::Override { .. } => {}
                        d => {
                            if let Next::Finish(r) = self.act(host, d).await? {
                                return Ok(r);
                            }
                        }
                    }
                }
            }

            if step.irreversible {
                let stop = StopKind::Irreversible { step: step.name.clone() };
                match self.act(host, self.stop(Some(name), stop).await?).await? {
                    Next::Finish(r) => return Ok(r),
                    Next::Continue | Next::Retry => {}
                }
            }

            let outcome = {
                let _running = self.gate.read().await;
                self.run_step(host, i, step).await?
            };
            if let Some(stop) = outcome {
                match self.act(host, self.stop(Some(name), stop).await?).await? {
                    Next::Finish(r) => return Ok(r),
                    Next::Retry => continue,
                    Next::Continue => {
                        i += 1;
                        continue;
                    }
                }
            }

            match self.after_step_checks(host, i).await? {
                AfterChecks::Healthy => {}
                AfterChecks::RolledBack(r) => return Ok(r),
                AfterChecks::Stop(stop) => {
                    if let Next::Finish(r) = self.act(host, self.stop(Some(name), stop).await?).await? {
                        return Ok(r);
                    }
                }
            }
            i += 1;
        }
        if let Some(r) = self.requested_rollback(host).await? {
            return Ok(r);
        }
        Ok(HostResult::Done)
    }

    /// Rolls the host back now if the operators asked for it (for this host, its wave or
    /// everything), between steps.
    async fn requested_rollback(&self, host: &Host) -> eyre::Result<Option<HostResult>> {
        let asked = self.recorder.with_state(|s| s.rollback_all || s.rollback_requested.contains(&host.name));
        if asked { Ok(Some(self.rollback_host(host).await?)) } else { Ok(None) }
    }

    /// Asks for something outside a hard stop (the cockpit's keys). Journaled first; acted on
    /// by each host between steps, never by killing a running command.
    pub fn request(&self, request: super::event::Request) -> eyre::Result<()> {
        self.record(Event::Requested { request, operators: self.operators.clone() })
    }

    /// Hosts asked to be rolled back that still have completed steps (their runner may
    /// already have finished): rolled back now.
    async fn settle_requested_rollbacks(&self) -> eyre::Result<()> {
        let (all, asked) = self.recorder.with_state(|s| (s.rollback_all, s.rollback_requested.clone()));
        if all {
            return self.rollback_everything().await;
        }
        for name in asked {
            let Some(host) = self.runbook.host(&name) else { continue };
            if self.recorder.with_state(|s| s.host(&name).is_some_and(|h| h.has_changes())) {
                let result = self.rollback_host(host).await?;
                self.record(Event::HostFinished { host: name.clone(), result })?;
            }
        }
        Ok(())
    }

    /// Health checks after a step. Only checks that passed in preflight count against the
    /// change; one already failing before the window is not blamed on it.
    async fn after_step_checks(&self, host: &Host, step: usize) -> eyre::Result<AfterChecks> {
        let results = self.run_checks(host).await;
        self.record(Event::Checks { host: host.name.clone(), after_step: Some(step), results: results.clone() })?;
        let already = self.preflight_failing(&host.name);
        let failing: Vec<CheckResult> = results.into_iter().filter(|r| !r.ok && !already.contains(&r.check)).collect();
        if failing.is_empty() {
            return Ok(AfterChecks::Healthy);
        }
        let after_step = self.runbook.steps[step].name.clone();
        if self.runbook.policy.auto_rollback {
            let secs = self.runbook.policy.auto_rollback_countdown.as_secs();
            self.record(Event::AutoRollbackArmed { host: host.name.clone(), seconds: secs })?;
            if self.decider.auto_rollback_countdown(&host.name, secs).await {
                let _one = self.deciding.lock().await;
                let id = self.recorder.with_state(|s| s.last_stop_id) + 1;
                self.record(Event::HardStop {
                    id,
                    host: Some(host.name.clone()),
                    stop: StopKind::HealthFailed { after_step, failing },
                })?;
                self.record(Event::Decided {
                    id,
                    host: Some(host.name.clone()),
                    decision: Decision::Rollback,
                    operators: vec!["auto-rollback".into()],
                })?;
                drop(_one);
                return Ok(AfterChecks::RolledBack(self.rollback_host(host).await?));
            }
            self.record(Event::AutoRollbackCancelled { host: host.name.clone(), operators: self.operators.clone() })?;
        }
        Ok(AfterChecks::Stop(StopKind::HealthFailed { after_step, failing }))
    }

    fn preflight_failing(&self, host: &str) -> Vec<String> {
        self.recorder.with_state(|s| s.preflight_failing.get(host).cloned().unwrap_or_default())
    }

    async fn run_checks(&self, host: &Host) -> Vec<CheckResult> {
        let mut out = Vec::new();
        for c in &self.runbook.checks {
            out.push(run_check(c, host, &self.runbook.window, self.transport, self.prober).await);
        }
        out
    }

    /// Runs one step, journaled ahead. `Some(stop)` when it did not succeed.
    async fn run_step(&self, host: &Host, i: usize, step: &Step) -> eyre::Result<Option<StopKind>> {
        let started = Instant::now();
        let name = host.name.clone();
        let timeout = step.timeout;
        let (outcome, changes, reboot_pkgs) = match &step.action {
            StepAction::Packages => match self.packages_step(host, i, step).await? {
                Ok((changes, reboot)) => (Outcome::Ok, changes, reboot),
                Err(outcome) => (outcome, vec![], None),
            },
            StepAction::Run(cmd) | StepAction::Local(cmd) => {
                let c = self.step_command(host, step, cmd);
                self.record(Event::StepStarted {
                    host: name.clone(),
                    step: i,
                    name: step.name.clone(),
                    command: c.script.clone(),
                })?;
                (outcome_of(self.exec_step_command(host, i, step, &c, false).await, timeout), vec![], None)
            }
            StepAction::Reboot => {
                self.record(Event::StepStarted {
                    host: name.clone(),
                    step: i,
                    name: step.name.clone(),
                    command: "reboot".into(),
                })?;
                let c =
                    Command { script: "systemctl reboot".into(), purpose: Purpose::Reboot, needs_root: true, timeout };
                let out = match self.transport.exec(host, &c).await {
                    // The connection dropping is what a reboot looks like.
                    Err(TransportError::ConnectionLost { .. }) | Ok(_) => self.wait_until_back(host, timeout).await,
                    Err(e) => Err(e),
                };
                (outcome_of(out, timeout), vec![], None)
            }
        };
        let millis = started.elapsed().as_millis() as u64;
        self.record(Event::StepFinished { host: name, step: i, outcome: outcome.clone(), changes, millis })?;
        if let Some(packages) = reboot_pkgs
            && !self.runbook.steps.iter().any(|s| s.action == StepAction::Reboot)
        {
            return Ok(Some(StopKind::RebootRequired { packages }));
        }
        Ok(match outcome {
            Outcome::Ok => None,
            Outcome::Failed { status, output_tail } => {
                Some(StopKind::StepFailed { step: step.name.clone(), status, output_tail })
            }
            Outcome::Timeout { after_secs } => Some(StopKind::StepTimeout { step: step.name.clone(), after_secs }),
            Outcome::Unreachable { detail } => Some(StopKind::Unreachable { detail }),
        })
    }

    /// A `run`/`local` step's command (or its rollback), placeholders expanded and quoted.
    fn step_command(&self, host: &Host, step: &Step, template: &str) -> Command {
        let script = placeholder::expand(template, host, &self.runbook.window, Some(&step.name));
        let mut c = Command::shell(script, step.timeout);
        c.needs_root = !matches!(step.action, StepAction::Local(_));
        c
    }

    /// Runs a step's command (or its rollback's) where the step runs: on the host, or on the
    /// operator's machine. Its output is shown live as `host`'s either way.
    async fn exec_step_command(
        &self,
        host: &Host,
        i: usize,
        step: &Step,
        c: &Command,
        rollback: bool,
    ) -> Result<Output, TransportError> {
        match step.action {
            StepAction::Local(_) => {
                self.exec_watched(self.local, &Host::named(OPERATOR_HOST), c, host, i, rollback).await
            }
            _ => self.exec_watched(self.transport, host, c, host, i, rollback).await,
        }
    }

    /// Runs `c` on `on` through `t`, its output going to the live feed (if anyone watches) as
    /// the output of `host`'s step `i` or its rollback. The feed never makes this wait.
    async fn exec_watched(
        &self,
        t: &dyn Transport,
        on: &Host,
        c: &Command,
        host: &Host,
        i: usize,
        rollback: bool,
    ) -> Result<Output, TransportError> {
        match &self.live {
            Some(feed) => t.exec_streaming(on, c, &feed.sink(&host.name, i, rollback)).await,
            None => t.exec(on, c).await,
        }
    }

    async fn wait_until_back(&self, host: &Host, limit: Duration) -> Result<Output, TransportError> {
        let deadline = Instant::now() + limit;
        tokio::time::sleep(Duration::from_secs(2).min(limit)).await;
        loop {
            match self.transport.exec(host, &Command::shell("true", Duration::from_secs(10))).await {
                Ok(o) => return Ok(o),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_secs(3)).await,
            }
        }
    }

    /// Installed versions before and after a change: the resolver is not needed for that.
    async fn probe(&self, host: &Host) -> Result<HostFacts, ProbeError> {
        let probed =
            probe_host_with(self.transport, self.managers, host, &[], Duration::from_secs(120), Mode::Installed, None);
        Ok(probed.await?.0)
    }

    /// The built-in packages step: snapshot every installed version (journaled before
    /// anything changes), install exactly the tested versions, record what changed.
    async fn packages_step(
        &self,
        host: &Host,
        i: usize,
        step: &Step,
    ) -> eyre::Result<Result<(Vec<Change>, Option<Vec<String>>), Outcome>> {
        let before = match self.probe(host).await {
            Ok(f) => f,
            Err(e) => return Ok(Err(Outcome::Unreachable { detail: e.to_string() })),
        };
        let targets: Vec<(PkgName, Version)> = self
            .baseline
            .updates
            .iter()
            .filter(|u| before.pkg.installed.get(&u.name) != Some(&u.to))
            .map(|u| (u.name.clone(), u.to.clone()))
            .collect();
        let snapshot: Vec<SnapshotEntry> = before
            .pkg
            .installed
            .iter()
            .map(|(n, v)| SnapshotEntry { name: n.to_string(), version: Some(v.to_string()) })
            .collect();
        self.record(Event::Snapshot { host: host.name.clone(), step: i, packages: snapshot })?;
        // The host's own manager, as its probe named it.
        let pm = match self.managers.named(&before.manager) {
            Ok(pm) => pm,
            Err(e) => return Ok(Err(Outcome::Failed { status: None, output_tail: e.to_string() })),
        };
        let cmd = pm.install_exact(&targets, step.timeout);
        let summary = targets.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join(" ");
        self.record(Event::StepStarted {
            host: host.name.clone(),
            step: i,
            name: step.name.clone(),
            command: format!("{} install {summary}", pm.name()),
        })?;
        if targets.is_empty() {
            return Ok(Ok((vec![], None)));
        }
        let outcome = outcome_of(self.exec_watched(self.transport, host, &cmd, host, i, false).await, step.timeout);
        if !outcome.is_ok() {
            return Ok(Err(outcome));
        }
        let after = match self.probe(host).await {
            Ok(f) => f,
            Err(e) => return Ok(Err(Outcome::Unreachable { detail: e.to_string() })),
        };
        let changes = changes_between(&before.pkg.installed, &after.pkg.installed);
        // Installed exactly what was tested? Anything else is a failure, not a success.
        let wrong: Vec<String> = targets
            .iter()
            .filter(|(n, v)| after.pkg.installed.get(n) != Some(v))
            .map(|(n, v)| {
                format!(
                    "{n}: wanted {v}, found {}",
                    after.pkg.installed.get(n).map_or("none".into(), |v| v.to_string())
                )
            })
            .collect();
        if !wrong.is_empty() {
            return Ok(Err(Outcome::Failed { status: Some(0), output_tail: wrong.join("; ") }));
        }
        let reboot = after
            .pkg
            .reboot_required
            .then(|| after.pkg.reboot_required_by.iter().map(ToString::to_string).collect::<Vec<_>>());
        Ok(Ok((changes, reboot)))
    }

    /// Rolls back a host: its completed steps newest first, each journaled ahead.
    pub async fn rollback_host(&self, host: &Host) -> eyre::Result<HostResult> {
        let name = host.name.as_str();
        // (step, failed attempts at undoing it): a standing decision such as `--decide
        // rollback` must not retry forever against a host that stays down.
        let mut failures: (usize, u32) = (usize::MAX, 0);
        // A rollback announced in the journal but never finished was cut off by a crash (in
        // this process nothing is left announced between two turns of this loop): whether it
        // ran is unknown, so people decide before it runs again.
        if let Some(i) = self.recorder.with_state(|s| s.host(name).and_then(|h| h.rolling_back)) {
            let stop = StopKind::UnknownOutcome { step: format!("rollback of {}", self.runbook.steps[i].name) };
            match Box::pin(self.stop(Some(name), stop)).await? {
                // Run that step's rollback again, then the rest.
                Decision::Retry | Decision::Rollback | Decision::RollbackAll => {}
                Decision::Override { .. } => {
                    // The operators say it ran: that step is undone; the rest still is not.
                    self.mark_undone(name, i)?;
                }
                // Skip or abort: nothing more runs on this host, going back or forward.
                Decision::SkipHost | Decision::Abort => return Ok(HostResult::Failed),
            }
        }
        loop {
            let Some(i) = self.recorder.with_state(|s| s.host(name).and_then(|h| h.next_to_undo())) else {
                return Ok(HostResult::RolledBack);
            };
            let step = &self.runbook.steps[i];
            let started = Instant::now();
            let (outcome, verified, mismatches) = match &step.action {
                StepAction::Packages => self.rollback_packages(host, i, step).await?,
                StepAction::Reboot => {
                    self.record(Event::RollbackStarted {
                        host: name.into(),
                        step: i,
                        name: step.name.clone(),
                        command: String::new(),
                    })?;
                    (Outcome::Ok, None, vec![])
                }
                StepAction::Run(_) | StepAction::Local(_) => {
                    let c = self.step_command(host, step, step.rollback.as_deref().unwrap_or("true"));
                    self.record(Event::RollbackStarted {
                        host: name.into(),
                        step: i,
                        name: step.name.clone(),
                        command: c.script.clone(),
                    })?;
                    (outcome_of(self.exec_step_command(host, i, step, &c, true).await, step.timeout), None, vec![])
                }
            };
            let millis = started.elapsed().as_millis() as u64;
            let ok = outcome.is_ok() && verified != Some(false);
            self.record(Event::RollbackFinished {
                host: name.into(),
                step: i,
                outcome: outcome.clone(),
                verified,
                mismatches: mismatches.clone(),
                millis,
            })?;
            if !ok {
                let stop = rollback_stop(&step.name, outcome, mismatches);
                failures = if failures.0 == i { (i, failures.1 + 1) } else { (i, 1) };
                match Box::pin(self.stop(Some(name), stop)).await? {
                    Decision::Retry | Decision::Rollback if failures.1 < MAX_ROLLBACK_ATTEMPTS => continue,
                    // Tried enough: the host is left failed for people to look at.
                    Decision::Retry | Decision::Rollback => return Ok(HostResult::Failed),
                    Decision::Override { .. } => {
                        // Accepted as it is: mark the step undone so rollback moves on.
                        self.mark_undone(name, i)?;
                    }
                    _ => return Ok(HostResult::Failed),
                }
            }
        }
    }

    /// The operators' override at a rollback stop: step `i` counts as undone (journaled as
    /// a finished rollback with nothing verified), so the rollback moves on to the next.
    fn mark_undone(&self, host: &str, i: usize) -> eyre::Result<()> {
        self.record(Event::RollbackFinished {
            host: host.into(),
            step: i,
            outcome: Outcome::Ok,
            verified: None,
            mismatches: vec![],
            millis: 0,
        })
    }

    /// Restores the snapshot: reinstall snapshot versions (downgrades allowed), remove what
    /// the step newly installed, then verify every version equals the snapshot.
    async fn rollback_packages(
        &self,
        host: &Host,
        i: usize,
        step: &Step,
    ) -> eyre::Result<(Outcome, Option<bool>, Vec<String>)> {
        let name = host.name.as_str();
        let Some(snapshot) = self.recorder.with_state(|s| s.host(name).and_then(|h| h.snapshot.clone())) else {
            self.record(Event::RollbackStarted {
                host: name.into(),
                step: i,
                name: step.name.clone(),
                command: String::new(),
            })?;
            return Ok((
                Outcome::Failed { status: None, output_tail: "no snapshot in the journal".into() },
                Some(false),
                vec![],
            ));
        };
        let snap: BTreeMap<PkgName, Version> = snapshot
            .iter()
            .filter_map(|e| Some((PkgName::parse(&e.name).ok()?, Version::parse(e.version.as_deref()?).ok()?)))
            .collect();
        let now = match self.probe(host).await {
            Ok(f) => f,
            Err(e) => {
                self.record(Event::RollbackStarted {
                    host: name.into(),
                    step: i,
                    name: step.name.clone(),
                    command: String::new(),
                })?;
                return Ok((Outcome::Unreachable { detail: e.to_string() }, None, vec![]));
            }
        };
        let restore: Vec<(PkgName, Option<Version>)> = changes_between(&snap, &now.pkg.installed)
            .into_iter()
            .filter_map(|c| {
                Some((PkgName::parse(&c.name).ok()?, c.from.as_deref().and_then(|v| Version::parse(v).ok())))
            })
            .collect();
        let pm = match self.managers.named(&now.manager) {
            Ok(pm) => pm,
            Err(e) => {
                let command = String::new();
                self.record(Event::RollbackStarted { host: name.into(), step: i, name: step.name.clone(), command })?;
                let outcome = Outcome::Failed { status: None, output_tail: e.to_string() };
                return Ok((outcome, Some(false), vec![]));
            }
        };
        let cmd = pm.restore(&restore, step.timeout);
        let summary = restore
            .iter()
            .map(|(n, v)| v.as_ref().map_or(format!("{n}-"), |v| format!("{n}={v}")))
            .collect::<Vec<_>>()
            .join(" ");
        self.record(Event::RollbackStarted {
            host: name.into(),
            step: i,
            name: step.name.clone(),
            command: format!("{} restore {summary}", pm.name()),
        })?;
        if restore.is_empty() {
            return Ok((Outcome::Ok, Some(true), vec![]));
        }
        let outcome = outcome_of(self.exec_watched(self.transport, host, &cmd, host, i, true).await, step.timeout);
        let after = match self.probe(host).await {
            Ok(f) => f,
            Err(e) => return Ok((Outcome::Unreachable { detail: e.to_string() }, Some(false), vec![])),
        };
        // Verified against the whole snapshot, not only what was restored: a restore that
        // pulled in or removed anything else has not put the host back either.
        let expected: Vec<(PkgName, Option<Version>)> = snap
            .iter()
            .map(|(n, v)| (n.clone(), Some(v.clone())))
            .chain(after.pkg.installed.keys().filter(|n| !snap.contains_key(*n)).map(|n| (n.clone(), None)))
            .collect();
        let mismatches: Vec<String> = verify(&expected, &after.pkg.installed)
            .into_iter()
            .map(|m| {
                let show = |v: Option<Version>| v.map_or("absent".to_string(), |v| v.to_string());
                format!("{}: expected {}, found {}", m.name, show(m.expected), show(m.found))
            })
            .collect();
        Ok((outcome, Some(mismatches.is_empty()), mismatches))
    }

    /// Rolls back every host that has completed steps, in reverse order of the waves.
    pub async fn rollback_everything(&self) -> eyre::Result<()> {
        for wave in self.runbook.waves.iter().rev() {
            for name in wave.hosts.iter().rev() {
                let Some(host) = self.runbook.host(name) else { continue };
                if self.recorder.with_state(|s| s.host(name).is_some_and(|h| h.has_changes())) {
                    let result = self.rollback_host(host).await?;
                    self.record(Event::HostFinished { host: name.clone(), result })?;
                }
            }
        }
        Ok(())
    }
}

/// The key of a decision in [`allowed`]'s list.
fn decision_key(d: &Decision) -> &'static str {
    match d {
        Decision::Rollback => "rollback",
        Decision::RollbackAll => "rollback everything",
        Decision::SkipHost => "skip",
        Decision::Abort => "abort",
        Decision::Retry => "retry",
        Decision::Override { .. } => "override",
    }
}

/// The stop raised when a step's rollback failed or did not restore the snapshot.
fn rollback_stop(step: &str, outcome: Outcome, mismatches: Vec<String>) -> StopKind {
    let step = format!("rollback of {step}");
    if !mismatches.is_empty() {
        return StopKind::RollbackUnverified { mismatches };
    }
    match outcome {
        Outcome::Unreachable { detail } => StopKind::Unreachable { detail },
        Outcome::Timeout { after_secs } => StopKind::StepTimeout { step, after_secs },
        Outcome::Failed { status, output_tail } => StopKind::StepFailed { step, status, output_tail },
        Outcome::Ok => StopKind::RollbackUnverified { mismatches: vec!["verification failed".into()] },
    }
}

/// Packages whose version differs between two installed sets (`to: None` = removed).
fn changes_between(before: &BTreeMap<PkgName, Version>, after: &BTreeMap<PkgName, Version>) -> Vec<Change> {
    let mut names: Vec<&PkgName> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| before.get(*n) != after.get(*n))
        .map(|n| Change {
            name: n.to_string(),
            from: before.get(n).map(ToString::to_string),
            to: after.get(n).map(ToString::to_string),
        })
        .collect()
}

/// Maps a transport result to a step outcome; output is kept short and made safe to print.
fn outcome_of(out: Result<Output, TransportError>, timeout: Duration) -> Outcome {
    match out {
        Ok(o) if o.success() => Outcome::Ok,
        Ok(o) => {
            let text = format!("{}{}", o.stdout_lossy(), o.stderr_lossy());
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Outcome::Failed { status: o.status, output_tail: crate::safe_text::for_terminal(&tail.join(" | ")) }
        }
        Err(TransportError::Timeout { .. }) => Outcome::Timeout { after_secs: timeout.as_secs() },
        Err(e) => Outcome::Unreachable { detail: crate::safe_text::for_terminal(&e.to_string()) },
    }
}
