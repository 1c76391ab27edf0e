//! The window's state as a pure fold over journaled events. The engine, `--resume`, the
//! cockpit and `watch` all derive what they show from this one function.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::event::{Decision, Event, HostResult, Outcome, Request, SnapshotEntry, StopKind};

/// Where one host stands.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HostState {
    /// Steps completed successfully and not rolled back, in the order they ran.
    pub done: Vec<usize>,
    /// A step announced but not finished: after a crash its outcome is unknown.
    pub in_flight: Option<usize>,
    /// A step's rollback announced but not finished.
    pub rolling_back: Option<usize>,
    /// Full installed set before the packages step, for its rollback.
    pub snapshot: Option<Vec<SnapshotEntry>>,
    /// A packages step that may have changed packages without finishing well (it failed,
    /// timed out, or was in flight at a crash): its snapshot must still be restored on
    /// rollback, like a completed step's.
    pub partial: Option<usize>,
    pub result: Option<HostResult>,
    /// The last step that failed, if any (for display).
    pub failed_step: Option<usize>,
    pub rechecked: bool,
}

impl HostState {
    /// The next step a rollback undoes: a partly applied packages step first (it ran
    /// last), then the completed steps newest first.
    pub fn next_to_undo(&self) -> Option<usize> {
        self.partial.or_else(|| self.done.last().copied())
    }

    /// Has anything on this host possibly changed that a rollback would undo?
    pub fn has_changes(&self) -> bool {
        self.next_to_undo().is_some()
    }
}

/// An unanswered hard stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenStop {
    pub id: u64,
    pub host: Option<String>,
    pub stop: StopKind,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WindowState {
    pub window: String,
    pub operators: Vec<String>,
    pub hosts: BTreeMap<String, HostState>,
    pub open_stops: Vec<OpenStop>,
    /// Highest stop id seen, so new stops get fresh ids after a resume.
    pub last_stop_id: u64,
    pub waves_started: Vec<String>,
    pub waves_finished: Vec<String>,
    /// The deadline stop was overridden: carrying on past "decide by" was decided once.
    pub past_deadline_accepted: bool,
    pub risk_accepted: bool,
    /// Health checks already failing in preflight, per host: not blamed on the change.
    pub preflight_failing: BTreeMap<String, Vec<String>>,
    /// Hosts the operators asked to roll back (by host or by wave).
    pub rollback_requested: std::collections::BTreeSet<String>,
    /// Everything done so far is to be rolled back.
    pub rollback_all: bool,
    pub started: bool,
    pub finished: bool,
    pub aborted: bool,
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

    pub fn apply(&mut self, e: &Event) {
        match e {
            Event::WindowStarted { window, operators, hosts, .. } => {
                self.window = window.clone();
                self.operators = operators.clone();
                for h in hosts {
                    self.host_mut(h);
                }
                self.started = true;
            }
            Event::Preflight { host, checks, .. } => {
                let failing = checks.iter().filter(|c| !c.ok).map(|c| c.check.clone()).collect();
                self.preflight_failing.insert(host.clone(), failing);
            }
            Event::Checks { .. } | Event::AutoRollbackArmed { .. } => {}
            // Drill bookkeeping: the window's state does not depend on it.
            Event::FaultInjected { .. } | Event::DrillScorecard { .. } => {}
            Event::AutoRollbackCancelled { .. } => {}
            Event::WaveStarted { wave } => self.waves_started.push(wave.clone()),
            Event::Recheck { host, .. } => self.host_mut(host).rechecked = true,
            Event::HardStop { id, host, stop } => {
                self.last_stop_id = self.last_stop_id.max(*id);
                self.open_stops.push(OpenStop { id: *id, host: host.clone(), stop: stop.clone() });
            }
            Event::Decided { id, decision, .. } => {
                if let Some(pos) = self.open_stops.iter().position(|s| s.id == *id) {
                    let stop = self.open_stops.remove(pos);
                    if let Decision::Override { .. } = decision {
                        match stop.stop {
                            StopKind::Deadline { .. } => self.past_deadline_accepted = true,
                            StopKind::RiskOver { .. } => self.risk_accepted = true,
                            _ => {}
                        }
                    }
                }
                match decision {
                    Decision::Abort => self.aborted = true,
                    Decision::RollbackAll => {
                        self.aborted = true;
                        self.rollback_all = true;
                    }
                    _ => {}
                }
            }
            Event::Requested { request, .. } => match request {
                Request::RollbackHost { host } => {
                    self.rollback_requested.insert(host.clone());
                }
                Request::RollbackWave { hosts, .. } => self.rollback_requested.extend(hosts.iter().cloned()),
                Request::RollbackAll => {
                    self.aborted = true;
                    self.rollback_all = true;
                }
                Request::Abort => self.aborted = true,
            },
            Event::Snapshot { host, step, packages } => {
                let h = self.host_mut(host);
                // Retrying a step that may have half-applied: the state before the window
                // is the first snapshot, not this one.
                if h.partial != Some(*step) {
                    h.snapshot = Some(packages.clone());
                }
                h.partial = Some(*step);
            }
            Event::StepStarted { host, step, .. } => self.host_mut(host).in_flight = Some(*step),
            Event::StepFinished { host, step, outcome, .. } => {
                let h = self.host_mut(host);
                h.in_flight = None;
                if outcome.is_ok() {
                    if !h.done.contains(step) {
                        h.done.push(*step);
                    }
                    if h.partial == Some(*step) {
                        h.partial = None;
                    }
                } else {
                    h.failed_step = Some(*step);
                }
            }
            Event::RollbackStarted { host, step, .. } => self.host_mut(host).rolling_back = Some(*step),
            Event::RollbackFinished { host, step, outcome, verified, .. } => {
                let h = self.host_mut(host);
                h.rolling_back = None;
                if *outcome == Outcome::Ok && *verified != Some(false) {
                    h.done.retain(|s| s != step);
                    if h.partial == Some(*step) {
                        h.partial = None;
                    }
                }
            }
            Event::HostFinished { host, result } => self.host_mut(host).result = Some(*result),
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

    fn started(host: &str, step: usize) -> Event {
        Event::StepStarted { host: host.into(), step, name: format!("s{step}"), command: "true".into() }
    }
    fn finished(host: &str, step: usize, outcome: Outcome) -> Event {
        Event::StepFinished { host: host.into(), step, outcome, changes: vec![], millis: 1 }
    }

    #[test]
    fn in_flight_step_survives_in_the_fold_and_rollback_removes_done_steps() {
        let events = vec![
            Event::WindowStarted {
                window: "w".into(),
                operators: vec!["alice".into()],
                hosts: vec!["a".into()],
                drill: false,
            },
            started("a", 0),
            finished("a", 0, Outcome::Ok),
            started("a", 1),
        ];
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
    }

    #[test]
    fn stops_open_and_close_and_overrides_are_remembered() {
        let deadline = StopKind::Deadline { decide_by: "2026-11-22T23:10:00Z".parse().unwrap() };
        let events = vec![
            Event::HardStop { id: 1, host: None, stop: deadline },
            Event::HardStop { id: 2, host: Some("a".into()), stop: StopKind::Irreversible { step: "x".into() } },
            Event::Decided {
                id: 1,
                host: None,
                decision: Decision::Override { reason: "customer agreed".into() },
                operators: vec!["bob".into()],
            },
        ];
        let s = WindowState::fold(&events);
        assert!(s.past_deadline_accepted);
        assert_eq!(s.open_stops.len(), 1);
        assert_eq!(s.open_stops[0].id, 2);
        assert_eq!(s.last_stop_id, 2);
    }
}
