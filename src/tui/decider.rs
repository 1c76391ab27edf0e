//! The engine's [`Decider`], answered by the operators through the cockpit: each question
//! goes to the UI loop over a channel with a oneshot for the answer. The engine is paused
//! while it waits (see `Engine::stop`).

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::engine::control::{Actor, Decision};
use crate::engine::decide::{Decider, Verdict};
use crate::engine::state::OpenStop;

/// A question for the operators.
#[derive(Debug)]
pub enum Ask {
    Decide {
        stop: OpenStop,
        reply: oneshot::Sender<Verdict>,
    },
    /// `Some(who)` cancels the auto-rollback; `None` lets it run.
    Countdown {
        host: String,
        seconds: u64,
        reply: oneshot::Sender<Option<Actor>>,
    },
}

pub struct TuiDecider {
    tx: mpsc::UnboundedSender<Ask>,
}

impl TuiDecider {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Ask>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }
}

/// Nobody is left at the cockpit to answer: abort changes nothing further.
fn nobody() -> Verdict {
    Verdict { decision: Decision::abort(), by: Actor::Nobody }
}

#[async_trait]
impl Decider for TuiDecider {
    async fn decide(&self, stop: &OpenStop) -> Verdict {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Ask::Decide { stop: stop.clone(), reply }).is_err() {
            return nobody();
        }
        answer.await.unwrap_or_else(|_| nobody())
    }

    async fn auto_rollback_countdown(&self, host: &str, seconds: u64) -> Option<Actor> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Ask::Countdown { host: host.to_string(), seconds, reply }).is_err() {
            return None; // the policy says roll back; nobody can cancel
        }
        answer.await.unwrap_or(None)
    }
}
