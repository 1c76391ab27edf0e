//! The engine's [`Decider`], answered by the operators through the cockpit: each question
//! goes to the UI loop over a channel with a oneshot for the answer. The engine is paused
//! while it waits (see `Engine::stop`).

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::engine::decide::Decider;
use crate::engine::event::Decision;
use crate::engine::state::OpenStop;

/// A question for the operators.
#[derive(Debug)]
pub enum Ask {
    Decide { stop: OpenStop, reply: oneshot::Sender<Decision> },
    Countdown { host: String, seconds: u64, reply: oneshot::Sender<bool> },
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

#[async_trait]
impl Decider for TuiDecider {
    async fn decide(&self, stop: &OpenStop) -> Decision {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Ask::Decide { stop: stop.clone(), reply }).is_err() {
            // Nobody left to ask: abort changes nothing further.
            return Decision::Abort;
        }
        answer.await.unwrap_or(Decision::Abort)
    }

    async fn auto_rollback_countdown(&self, host: &str, seconds: u64) -> bool {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Ask::Countdown { host: host.to_string(), seconds, reply }).is_err() {
            return true; // the policy says roll back; nobody can cancel
        }
        answer.await.unwrap_or(true)
    }
}
