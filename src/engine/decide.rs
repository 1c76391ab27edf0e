//! Who decides at a hard stop. The cockpit asks the operators; `run --no-tui` follows its
//! `--decide` flag; drills follow their scenario; tests script it. All go through this one
//! trait, and every answer says who gave it ([`Actor`]).

use async_trait::async_trait;

pub use super::control::allowed;
use super::control::{Actor, Choice, Decision};
use super::state::OpenStop;

/// A decision and who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    pub by: Actor,
}

#[async_trait]
pub trait Decider: Send + Sync {
    /// Called with the window paused: nothing new starts until this returns. The engine
    /// may drop the future when the stop resolves by itself (the start time came).
    async fn decide(&self, stop: &OpenStop) -> Verdict;

    /// A health check failed and auto-rollback is on: show a countdown of `seconds`.
    /// Returns `None` to roll back when it runs out (or now), `Some(actor)` if that person
    /// cancelled it.
    async fn auto_rollback_countdown(&self, host: &str, seconds: u64) -> Option<Actor>;
}

/// Scripted decisions, in order, for tests and drills; records every stop it saw. A scripted
/// choice acts on the stop's own subject ([`Decision::at_stop`]).
pub struct Scripted {
    pub decisions: std::sync::Mutex<std::collections::VecDeque<(Choice, Option<String>)>>,
    pub seen: std::sync::Mutex<Vec<OpenStop>>,
    pub cancel_auto_rollback: bool,
    /// Who the record says decided.
    pub actor: Actor,
}

impl Scripted {
    pub fn new(decisions: impl IntoIterator<Item = Choice>) -> Self {
        Self::with_reasons(decisions.into_iter().map(|c| (c, c.needs_reason().then(|| "scripted".to_string()))))
    }

    pub fn with_reasons(decisions: impl IntoIterator<Item = (Choice, Option<String>)>) -> Self {
        Self {
            decisions: std::sync::Mutex::new(decisions.into_iter().collect()),
            seen: std::sync::Mutex::new(Vec::new()),
            cancel_auto_rollback: false,
            actor: Actor::Scenario { name: "scripted".into() },
        }
    }

    pub fn seen(&self) -> Vec<OpenStop> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The next scripted answer for `stop` (abort once the script is used up).
    pub fn next_for(&self, stop: &OpenStop) -> Option<Decision> {
        let (choice, reason) = self.decisions.lock().unwrap_or_else(|p| p.into_inner()).pop_front()?;
        let mut d = Decision::at_stop(choice, stop.host.as_deref(), None);
        d.reason = reason;
        Some(d)
    }
}

#[async_trait]
impl Decider for Scripted {
    async fn decide(&self, stop: &OpenStop) -> Verdict {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).push(stop.clone());
        Verdict { decision: self.next_for(stop).unwrap_or_else(Decision::abort), by: self.actor.clone() }
    }

    async fn auto_rollback_countdown(&self, _host: &str, _seconds: u64) -> Option<Actor> {
        self.cancel_auto_rollback.then(|| self.actor.clone())
    }
}
