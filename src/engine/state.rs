//! The window's state as a pure fold over journaled events. The engine, `--resume`, the
//! cockpit and `watch` all derive what they show from this one function, and the engine's
//! rules (may a step start now? which hosts are to be rolled back?) read it too, so a
//! resumed window obeys exactly what was journaled.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::control::{Choice, StopCode, Target};
use super::event::{Decided, Event, HostResult, Outcome, Request, SnapshotEntry, StopKind, WavePlan};

/// How a host's rollback ended, as far as the host was checked afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackCheck {
    /// Every undone step was checked on the host (versions, package status) and its health
    /// checks pass.
    Verified,
    /// Some step's undoing could not be checked, or was accepted by an override.
    Unverified,
    /// Its steps are undone; the health checks that follow have not run yet (a crash came
    /// between): not verified.
    Unchecked,
    /// Undone, but a health check that passed before the window still fails.
    StillUnhealthy,
}

/// Where one host stands.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HostState {
    /// Steps completed successfully (or accepted) and not rolled back, in the order they ran.
    pub done: Vec<usize>,
    /// A step announced but not finished: after a crash its outcome is unknown.
    pub in_flight: Option<usize>,
    /// A step's rollback announced but not finished.
    pub rolling_back: Option<usize>,
    /// Full installed set before the packages step, for its rollback.
    pub snapshot: Option<Vec<SnapshotEntry>>,
    /// The step the snapshot was taken for (it becomes `partial` once that step starts).
    pub snapshot_step: Option<usize>,
    /// A packages step that may have changed packages without finishing well (it failed,
    /// timed out, or was in flight at a crash): its snapshot must still be restored on
    /// rollback, like a completed step's.
    pub partial: Option<usize>,
    pub result: Option<HostResult>,
    /// The last step that failed, if any (for display).
    pub failed_step: Option<usize>,
    pub rechecked: bool,
    /// A step or a health check failed here: it counts against the wave's failure budget
    /// whatever was decided afterwards.
    pub failed: bool,
    /// An override let this host carry on past a stop.
    pub overridden: bool,
    /// An auto-rollback countdown was armed and not yet resolved.
    pub auto_rollback_armed: bool,
    /// Irreversible steps (by name) the operators chose to run anyway.
    pub irreversible_accepted: BTreeSet<String>,
    /// Asked to be rolled back (by host, wave or everything) and not yet settled: cleared
    /// when the host's rollback ends (it is journaled as finished).
    pub rollback_pending: bool,
    /// How its last rollback ended.
    pub rollback: Option<RollbackCheck>,
    /// The health checks that failed when they last ran after a step (for a stop raised
    /// again after a crash).
    pub failing_checks: Vec<crate::health::CheckResult>,
    /// A step ended badly and nothing was journaled about it since (a crash came before its
    /// stop): a resume raises that stop, never runs the step again unasked.
    pub unsettled_failure: Option<(usize, Outcome)>,
    /// A step ended well and its health checks were not journaled yet (a crash came
    /// between): a resume runs them before anything else.
    pub checks_due: Option<usize>,
    /// Repairs of its package database started (a standing order to repair must not
    /// repair for ever a host whose repair does not help).
    #[serde(default)]
    pub repairs: u32,
    /// How many times each step was started (its attempts): a run's record on the host is
    /// keyed by it ([`crate::transport::RunKey`]), so a retried step never meets the last.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub step_starts: BTreeMap<usize, u32>,
    /// The same for each step's rollback.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rollback_starts: BTreeMap<usize, u32>,
    /// Steps (`(false, step)`) and rollbacks (`(true, step)`) whose last attempt ended with
    /// the host unreachable, its end never seen: it may have run to its end on the host
    /// meanwhile. A retry takes that end from the host's record, if it has one, rather than
    /// change the host a second time.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unseen_ends: BTreeSet<(bool, usize)>,
}

impl HostState {
    /// Records how the last attempt of a step (or of its rollback) ended, as far as its end
    /// was seen ([`HostState::unseen_ends`]).
    fn attempt_ended(&mut self, rollback: bool, step: usize, outcome: &Outcome) {
        if matches!(outcome, Outcome::Unreachable { .. }) {
            self.unseen_ends.insert((rollback, step));
        } else {
            self.unseen_ends.remove(&(rollback, step));
        }
    }
}

impl HostState {
    /// The next step a rollback undoes: a partly applied packages step first (it ran
    /// last), then a step whose outcome is unknown (it may have run: its rollback is meant
    /// to be safe to run either way), then the completed steps newest first.
    pub fn next_to_undo(&self) -> Option<usize> {
        self.partial.or(self.in_flight).or_else(|| self.done.last().copied())
    }

    /// Has anything on this host possibly changed that a rollback would undo?
    pub fn has_changes(&self) -> bool {
        self.next_to_undo().is_some() || self.rolling_back.is_some()
    }

    /// Has anything ever been started on this host?
    pub fn touched(&self) -> bool {
        self.has_changes() || self.failed_step.is_some() || self.rollback.is_some()
    }

    /// Step `step` no longer needs undoing.
    fn undone(&mut self, step: usize) {
        self.done.retain(|s| *s != step);
        if self.partial == Some(step) {
            self.partial = None;
        }
        if self.in_flight == Some(step) {
            self.in_flight = None;
        }
    }

    /// Where the host stands, as the screen and the record say it.
    pub fn standing(&self) -> Standing {
        let done = self.done.len();
        match self.result {
            Some(HostResult::Done) if self.overridden => Standing::DoneOverride,
            Some(HostResult::Done) => Standing::Done,
            Some(HostResult::RolledBack) => Standing::RolledBack(self.rollback.unwrap_or(RollbackCheck::Unverified)),
            Some(HostResult::Skipped) => Standing::Skipped,
            Some(HostResult::Failed) => Standing::Failed,
            Some(HostResult::Stopped) => Standing::Stopped { done },
            Some(HostResult::NotStarted) => Standing::NotStarted,
            None if self.touched() => Standing::Underway { done },
            None => Standing::NotStarted,
        }
    }
}

/// Where a host stands, in words everyone uses (see `narrate::standing`): a host is never
/// shown "skipped" when it was rolled back, nor "done" when an override carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Nothing ran on it.
    NotStarted,
    /// Some of its steps are done; it has not finished (running, waiting, paused).
    Underway {
        done: usize,
    },
    Done,
    /// Done, after an override.
    DoneOverride,
    Failed,
    /// Left untouched by a decision, before any change.
    Skipped,
    /// The window ended with `done` of its steps done and not undone.
    Stopped {
        done: usize,
    },
    RolledBack(RollbackCheck),
}

/// An unanswered hard stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenStop {
    pub id: u64,
    pub host: Option<String>,
    pub stop: StopKind,
    /// The step it is about (0-based), if any.
    #[serde(default)]
    pub step: Option<usize>,
    /// Raised while the host was being rolled back.
    #[serde(default)]
    pub rollback: bool,
}

impl OpenStop {
    /// The stop's subject.
    pub fn target(&self) -> Target {
        Target::of(self.host.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WindowState {
    pub window: String,
    pub operators: Vec<String>,
    pub hosts: BTreeMap<String, HostState>,
    /// The plan's waves (empty for journals written before it was recorded).
    pub waves: Vec<WavePlan>,
    pub open_stops: Vec<OpenStop>,
    /// Highest stop id seen, so new stops get fresh ids after a resume.
    pub last_stop_id: u64,
    /// Stops raised because reality left the plan (not the plan's own questions: gates,
    /// the start time).
    pub problem_stops: usize,
    pub waves_started: Vec<String>,
    pub waves_finished: Vec<String>,
    /// The deadline stop was overridden: carrying on past "decide by" was decided once.
    pub past_deadline_accepted: bool,
    pub risk_accepted: bool,
    /// The operators chose to start before the window's start time.
    pub started_early: bool,
    /// Waves whose go/no-go gate was answered "go".
    pub gates_passed: BTreeSet<String>,
    /// Per wave, the failure count an override of its budget accepted.
    pub budget_accepted: BTreeMap<String, usize>,
    /// Health checks already failing in preflight, per host: not blamed on the change.
    pub preflight_failing: BTreeMap<String, Vec<String>>,
    /// Everything done so far is to be rolled back.
    pub rollback_all: bool,
    pub started: bool,
    pub finished: bool,
    pub aborted: bool,
    /// Left paused (quit, signal): nothing new starts until resumed.
    pub paused: bool,
    /// Times the window was resumed.
    pub resumes: usize,
}

impl WindowState {
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut s = Self::default();
        for e in events {
            s.apply(e);
        }
        s
    }

    pub fn host(&self, name: &str) -> Option<&HostState> {
        self.hosts.get(name)
    }

    fn host_mut(&mut self, name: &str) -> &mut HostState {
        self.hosts.entry(name.to_string()).or_default()
    }

    /// The wave a host belongs to (first listed).
    pub fn wave_of(&self, host: &str) -> Option<&WavePlan> {
        self.waves.iter().find(|w| w.hosts.iter().any(|h| h == host))
    }

    /// How many of these hosts failed.
    pub fn failures_among(&self, hosts: &[String]) -> usize {
        hosts.iter().filter(|h| self.host(h).is_some_and(|s| s.failed)).count()
    }

    /// Hosts of a wave that failed (the budget's count).
    pub fn wave_failures(&self, wave: &str) -> usize {
        self.waves.iter().find(|w| w.name == wave).map_or(0, |w| self.failures_among(&w.hosts))
    }

    /// The wave's failure budget is spent (and no override accepted this many failures).
    pub fn budget_spent(&self, wave: &WavePlan) -> bool {
        let failures = self.failures_among(&wave.hosts);
        let allowed = wave.max_failures.max(self.budget_accepted.get(&wave.name).copied().unwrap_or(0));
        failures > allowed
    }

    /// A decision is pending somewhere: a hard stop is open or an auto-rollback counts down.
    /// Nothing new starts meanwhile, on any host.
    pub fn deciding(&self) -> bool {
        !self.open_stops.is_empty() || self.hosts.values().any(|h| h.auto_rollback_armed)
    }

    /// Hosts asked to be rolled back that still have something to undo.
    pub fn rollbacks_due(&self) -> Vec<String> {
        self.hosts.iter().filter(|(_, h)| h.rollback_pending && h.has_changes()).map(|(n, _)| n.clone()).collect()
    }

    fn request_rollback(&mut self, hosts: impl IntoIterator<Item = String>) {
        for h in hosts {
            self.host_mut(&h).rollback_pending = true;
        }
    }

    fn rollback_everything(&mut self) {
        self.aborted = true;
        self.rollback_all = true;
        let all: Vec<String> = self.hosts.keys().cloned().collect();
        self.request_rollback(all);
    }

    fn wave_hosts(&self, wave: &str) -> Vec<String> {
        self.waves.iter().find(|w| w.name == wave).map(|w| w.hosts.clone()).unwrap_or_default()
    }

    fn decided(&mut self, d: &Decided) {
        let stop = self.open_stops.iter().position(|s| s.id == d.id).map(|pos| self.open_stops.remove(pos));
        let code = stop.as_ref().map(|s| s.stop.code());
        let host = d.host.clone();
        match d.decision.choice {
            Choice::Override => {
                match &stop {
                    Some(OpenStop { stop: StopKind::Deadline { .. }, .. }) => self.past_deadline_accepted = true,
                    Some(OpenStop { stop: StopKind::RiskOver { .. }, .. }) => self.risk_accepted = true,
                    Some(OpenStop { stop: StopKind::TooManyFailures { wave, failures, .. }, .. }) => {
                        self.budget_accepted.insert(wave.clone(), *failures);
                    }
                    Some(OpenStop { stop: StopKind::Irreversible { step }, host: Some(h), .. }) => {
                        self.host_mut(h).irreversible_accepted.insert(step.clone());
                    }
                    _ => {}
                }
                if let Some(h) = &host {
                    self.host_mut(h).overridden = true;
                }
            }
            Choice::Abort => self.aborted = true,
            Choice::RollbackAll => self.rollback_everything(),
            Choice::RollbackWave => {
                if let Target::Wave(w) = &d.decision.target {
                    let hosts = self.wave_hosts(w);
                    self.request_rollback(hosts);
                }
            }
            Choice::RollbackHost => {
                if let Target::Host(h) = &d.decision.target {
                    self.request_rollback([h.clone()]);
                }
            }
            Choice::Go => {
                if let Some(OpenStop { stop: StopKind::Gate { wave }, .. }) = &stop {
                    self.gates_passed.insert(wave.clone());
                }
            }
            Choice::StartEarly => self.started_early = true,
            Choice::Skip | Choice::Retry | Choice::Repair => {}
        }
        // A cancelled or answered countdown is no longer armed.
        if code == Some(StopCode::HealthFailed)
            && let Some(h) = &host
        {
            self.host_mut(h).auto_rollback_armed = false;
        }
    }

    pub fn apply(&mut self, e: &Event) {
        match e {
            Event::WindowStarted { window, operators, hosts, waves, .. } => {
                self.window = window.clone();
                self.operators = operators.clone();
                for h in hosts {
                    self.host_mut(h);
                }
                self.waves = waves.clone();
                self.started = true;
            }
            Event::Preflight { host, checks, .. } => {
                let failing = checks.iter().filter(|c| !c.ok).map(|c| c.check.clone()).collect();
                self.preflight_failing.insert(host.clone(), failing);
            }
            // After a rollback the health checks decide: verified when they pass (unless a
            // step's undoing was accepted unchecked), still unhealthy when they do not.
            Event::Checks { host, after_rollback: true, results, .. } => {
                let already = self.preflight_failing.get(host).cloned().unwrap_or_default();
                let unhealthy = results.iter().any(|r| !r.ok && !already.contains(&r.check));
                let h = self.host_mut(host);
                h.failing_checks = results.iter().filter(|r| !r.ok).cloned().collect();
                h.rollback = Some(match (unhealthy, h.rollback) {
                    (true, _) => RollbackCheck::StillUnhealthy,
                    (false, Some(RollbackCheck::Unverified)) => RollbackCheck::Unverified,
                    (false, _) => RollbackCheck::Verified,
                });
                // (Unchecked, Verified, StillUnhealthy: the checks just settled it.)
            }
            Event::Checks { host, results, .. } => {
                let h = self.host_mut(host);
                h.failing_checks = results.iter().filter(|r| !r.ok).cloned().collect();
                h.checks_due = None;
            }
            Event::AutoRollbackArmed { host, .. } => {
                let h = self.host_mut(host);
                h.auto_rollback_armed = true;
                h.failed = true;
            }
            Event::AutoRollbackCancelled { host, .. } => self.host_mut(host).auto_rollback_armed = false,
            // Drill bookkeeping: the window's state does not depend on it.
            Event::FaultInjected { .. } | Event::DrillScorecard { .. } => {}
            Event::WaveStarted { wave } => self.waves_started.push(wave.clone()),
            Event::Recheck { host, .. } => self.host_mut(host).rechecked = true,
            Event::HardStop { id, host, stop, step, rollback } => {
                self.last_stop_id = self.last_stop_id.max(*id);
                if !stop.code().is_question() {
                    self.problem_stops += 1;
                }
                if let Some(h) = host {
                    let hs = self.host_mut(h);
                    hs.unsettled_failure = None;
                    hs.checks_due = None;
                    if stop.code().is_failure() {
                        hs.failed = true;
                    }
                    // The countdown ended in this stop (or was never reached again).
                    if stop.code() == StopCode::HealthFailed {
                        hs.auto_rollback_armed = false;
                    }
                }
                self.open_stops.push(OpenStop {
                    id: *id,
                    host: host.clone(),
                    stop: stop.clone(),
                    step: *step,
                    rollback: *rollback,
                });
            }
            Event::Decided(d) => self.decided(d),
            Event::Requested { request, .. } => match request {
                Request::RollbackHost { host } => self.request_rollback([host.clone()]),
                Request::RollbackWave { wave, hosts } => {
                    let mut all = self.wave_hosts(wave);
                    all.extend(hosts.iter().cloned());
                    self.request_rollback(all);
                }
                Request::RollbackAll => self.rollback_everything(),
                Request::Abort => self.aborted = true,
                Request::Pause { .. } => self.paused = true,
            },
            // A repair changes no version and no step: what it did is in the probes after it.
            Event::RepairStarted { host, .. } => self.host_mut(host).repairs += 1,
            Event::RepairFinished { .. } => {}
            // What a host's record said: the outcome that follows it says what changed.
            Event::RunRecord { .. } => {}
            Event::Resumed { .. } => {
                self.paused = false;
                self.resumes += 1;
            }
            Event::Snapshot { host, step, packages } => {
                let h = self.host_mut(host);
                // Retrying a step that may have half-applied: the state before the window
                // is the first snapshot, not this one.
                if h.partial != Some(*step) {
                    h.snapshot = Some(packages.clone());
                }
                h.snapshot_step = Some(*step);
            }
            Event::StepStarted { host, step, .. } => {
                let h = self.host_mut(host);
                *h.step_starts.entry(*step).or_default() += 1;
                h.in_flight = Some(*step);
                h.unsettled_failure = None;
                h.checks_due = None;
                // The packages step may change packages from here on.
                if h.snapshot_step == Some(*step) {
                    h.partial = Some(*step);
                }
            }
            Event::StepFinished { host, step, outcome, .. } => {
                let h = self.host_mut(host);
                h.in_flight = None;
                h.attempt_ended(false, *step, outcome);
                if outcome.is_ok() {
                    if !h.done.contains(step) {
                        h.done.push(*step);
                    }
                    if h.partial == Some(*step) {
                        h.partial = None;
                    }
                    h.checks_due = Some(*step);
                } else {
                    h.failed_step = Some(*step);
                    h.failed = true;
                    h.unsettled_failure = Some((*step, outcome.clone()));
                }
            }
            Event::StepAccepted { host, step, .. } => {
                let h = self.host_mut(host);
                h.unseen_ends.remove(&(false, *step));
                h.in_flight = None;
                h.unsettled_failure = None;
                if !h.done.contains(step) {
                    h.done.push(*step);
                }
                if h.partial == Some(*step) {
                    h.partial = None;
                }
                h.overridden = true;
            }
            Event::RollbackStarted { host, step, .. } => {
                let h = self.host_mut(host);
                *h.rollback_starts.entry(*step).or_default() += 1;
                h.rolling_back = Some(*step);
                h.unsettled_failure = None;
                h.checks_due = None;
            }
            Event::RollbackFinished { host, step, outcome, verified, .. } => {
                let h = self.host_mut(host);
                h.rolling_back = None;
                h.attempt_ended(true, *step, outcome);
                if *outcome == Outcome::Ok && *verified != Some(false) {
                    h.undone(*step);
                    // Verified or not is settled by the health checks that follow; until
                    // they ran, it is not verified.
                    if h.rollback != Some(RollbackCheck::Unverified) {
                        h.rollback = Some(RollbackCheck::Unchecked);
                    }
                } else {
                    h.rollback = Some(RollbackCheck::Unverified);
                }
            }
            Event::RollbackAccepted { host, step, .. } => {
                let h = self.host_mut(host);
                h.rolling_back = None;
                h.undone(*step);
                h.rollback = Some(RollbackCheck::Unverified);
            }
            Event::HostFinished { host, result } => {
                let h = self.host_mut(host);
                h.result = Some(*result);
                h.rollback_pending = false;
                h.unsettled_failure = None;
                h.checks_due = None;
            }
            Event::WaveFinished { wave, .. } => self.waves_finished.push(wave.clone()),
            Event::WindowFinished { aborted } => {
                self.finished = true;
                self.aborted |= aborted;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::control::Decision;

    fn started(host: &str, step: usize) -> Event {
        Event::StepStarted { host: host.into(), step, name: format!("s{step}"), command: "true".into() }
    }
    fn finished(host: &str, step: usize, outcome: Outcome) -> Event {
        Event::StepFinished { host: host.into(), step, outcome, changes: vec![], millis: 1 }
    }
    fn window(hosts: &[&str]) -> Event {
        Event::WindowStarted {
            window: "w".into(),
            operators: vec!["alice".into()],
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            drill: false,
            waves: vec![WavePlan {
                name: "all".into(),
                hosts: hosts.iter().map(|h| h.to_string()).collect(),
                max_failures: 0,
            }],
        }
    }
    fn decided(id: u64, host: Option<&str>, decision: Decision) -> Event {
        Event::Decided(Decided { id, host: host.map(String::from), decision, operators: vec!["bob".into()], by: None })
    }

    #[test]
    fn in_flight_step_survives_in_the_fold_and_rollback_removes_done_steps() {
        let events = vec![window(&["a"]), started("a", 0), finished("a", 0, Outcome::Ok), started("a", 1)];
        let s = WindowState::fold(&events);
        assert_eq!(s.hosts["a"].done, vec![0]);
        assert_eq!(s.hosts["a"].in_flight, Some(1), "a crash here leaves step 1's outcome unknown");

        let mut events = events;
        events.push(finished("a", 1, Outcome::Failed { status: Some(1), output_tail: String::new() }));
        events.push(Event::RollbackStarted { host: "a".into(), step: 0, name: "s0".into(), command: "undo".into() });
        events.push(Event::RollbackFinished {
            host: "a".into(),
            step: 0,
            outcome: Outcome::Ok,
            verified: Some(true),
            mismatches: vec![],
            millis: 1,
        });
        let s = WindowState::fold(&events);
        assert_eq!(s.hosts["a"].done, Vec::<usize>::new());
        assert_eq!(s.hosts["a"].failed_step, Some(1));
        assert_eq!(s.hosts["a"].in_flight, None);
        assert!(s.hosts["a"].failed, "a failed step counts against the budget, rolled back or not");
        assert_eq!(s.hosts["a"].rollback, Some(RollbackCheck::Unchecked), "not verified before health is checked");
        events.push(Event::Checks { host: "a".into(), after_step: None, results: vec![], after_rollback: true });
        let s = WindowState::fold(&events);
        assert_eq!(s.hosts["a"].rollback, Some(RollbackCheck::Verified), "verified once the checks after it pass");
        assert!(s.budget_spent(&s.waves[0].clone()));
    }

    #[test]
    fn an_attempt_whose_end_was_not_seen_is_remembered_until_an_end_is() {
        let lost = || Outcome::Unreachable { detail: "link lost".into() };
        let unseen = |events: &[Event]| WindowState::fold(events).hosts["a"].unseen_ends.clone();
        let mut events = vec![window(&["a"]), started("a", 0), finished("a", 0, lost())];
        assert_eq!(unseen(&events), BTreeSet::from([(false, 0)]));
        // The retry starts: still unseen (the retry reads the host's record first).
        events.push(started("a", 0));
        assert_eq!(unseen(&events), BTreeSet::from([(false, 0)]));
        // Its end seen, failed or not: a later retry runs anew.
        events.push(finished("a", 0, Outcome::Failed { status: Some(1), output_tail: String::new() }));
        assert_eq!(unseen(&events), BTreeSet::new());
        // A rollback's own, apart from its step's.
        events.push(Event::RollbackStarted { host: "a".into(), step: 0, name: "s0".into(), command: "undo".into() });
        let rolled = |outcome| Event::RollbackFinished {
            host: "a".into(),
            step: 0,
            outcome,
            verified: None,
            mismatches: vec![],
            millis: 1,
        };
        events.push(rolled(lost()));
        assert_eq!(unseen(&events), BTreeSet::from([(true, 0)]));
        events.push(rolled(Outcome::Ok));
        assert_eq!(unseen(&events), BTreeSet::new());
        // Accepted as done by the operators: nothing to take from the host.
        events.extend([started("a", 1), finished("a", 1, lost())]);
        events.push(Event::StepAccepted { host: "a".into(), step: 1, stop: 9 });
        assert_eq!(unseen(&events), BTreeSet::new());
    }

    #[test]
    fn stops_open_and_close_and_overrides_are_remembered() {
        let deadline = StopKind::Deadline { decide_by: "2026-11-22T23:10:00Z".parse().unwrap() };
        let events = vec![
            Event::HardStop { id: 1, host: None, stop: deadline, step: None, rollback: false },
            Event::HardStop {
                id: 2,
                host: Some("a".into()),
                stop: StopKind::Irreversible { step: "x".into() },
                step: Some(0),
                rollback: false,
            },
            decided(1, None, Decision::with_reason(Choice::Override, Target::Window, "customer agreed")),
        ];
        let s = WindowState::fold(&events);
        assert!(s.past_deadline_accepted);
        assert!(s.deciding(), "stop 2 is still open");
        assert_eq!(s.open_stops.len(), 1);
        assert_eq!(s.open_stops[0].id, 2);
        assert_eq!(s.last_stop_id, 2);
    }

    #[test]
    fn a_rollback_request_is_due_while_the_host_has_changes_and_settled_when_it_finishes() {
        let mut events = vec![window(&["a", "b"]), started("a", 0), finished("a", 0, Outcome::Ok)];
        events.push(Event::Requested { request: Request::RollbackAll, operators: vec!["alice".into()] });
        let s = WindowState::fold(&events);
        assert!(s.aborted, "rolling back everything starts nothing new");
        assert_eq!(s.rollbacks_due(), vec!["a".to_string()], "b has nothing to undo");
        events.push(Event::HostFinished { host: "a".into(), result: HostResult::RolledBack });
        assert!(WindowState::fold(&events).rollbacks_due().is_empty());
    }
}
