//! Who decides at a hard stop. The cockpit asks the operators; `run --no-tui` follows its
//! `--decide` flag; tests script it. All go through this one trait.

use async_trait::async_trait;

use super::event::{Decision, StopKind};
use super::state::OpenStop;

/// The decisions that make sense for a stop, rollback first (it must be the easy one).
pub fn allowed(stop: &StopKind, host: Option<&str>) -> Vec<&'static str> {
    // At a window-wide stop there is no one host to roll back: rollback means everything.
    let mut d = if host.is_some() {
        vec!["rollback", "skip", "abort", "rollback everything"]
    } else {
        vec!["rollback everything", "abort"]
    };
    if matches!(
        stop,
        StopKind::StepFailed { .. }
            | StopKind::StepTimeout { .. }
            | StopKind::Unreachable { .. }
            | StopKind::UnknownOutcome { .. }
            | StopKind::RollbackUnverified { .. }
    ) {
        d.push("retry");
    }
    d.push("override");
    d
}

#[async_trait]
pub trait Decider: Send + Sync {
    /// Called with the window paused: nothing new starts until this returns.
    async fn decide(&self, stop: &OpenStop) -> Decision;

    /// A health check failed and auto-rollback is on: show a countdown of `seconds`.
    /// Returns `true` to roll back, `false` if the operators cancelled it.
    async fn auto_rollback_countdown(&self, host: &str, seconds: u64) -> bool;

    /// `Some(what)` when decisions come from a standing order given up front (`run --no-tui
    /// --decide X`), not from a person at the stop: the journal says so, so the change
    /// record never claims someone decided what a flag did.
    fn standing_order(&self) -> Option<String> {
        None
    }
}

/// How a `--no-tui` run's standing order is named in the journal: the flag as typed.
pub fn standing_order_of(decide: Option<&Decision>) -> String {
    match decide {
        Some(Decision::Rollback) => "--decide rollback".into(),
        Some(Decision::SkipHost) => "--decide skip".into(),
        Some(Decision::Abort) => "--decide abort".into(),
        Some(d) => format!("--decide {}", d.label()),
        None => "--no-tui without --decide".into(),
    }
}

/// Scripted decisions, in order, for tests and drills; records every stop it saw.
pub struct Scripted {
    pub decisions: std::sync::Mutex<std::collections::VecDeque<Decision>>,
    pub seen: std::sync::Mutex<Vec<OpenStop>>,
    pub cancel_auto_rollback: bool,
}

impl Scripted {
    pub fn new(decisions: impl IntoIterator<Item = Decision>) -> Self {
        Self {
            decisions: std::sync::Mutex::new(decisions.into_iter().collect()),
            seen: std::sync::Mutex::new(Vec::new()),
            cancel_auto_rollback: false,
        }
    }
    pub fn seen(&self) -> Vec<OpenStop> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl Decider for Scripted {
    async fn decide(&self, stop: &OpenStop) -> Decision {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).push(stop.clone());
        self.decisions.lock().unwrap_or_else(|p| p.into_inner()).pop_front().unwrap_or(Decision::Abort)
    }

    async fn auto_rollback_countdown(&self, _host: &str, _seconds: u64) -> bool {
        !self.cancel_auto_rollback
    }
}
