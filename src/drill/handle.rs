//! What a running drill shares with the cockpit: its clock (the cockpit shows drill time,
//! and counts auto-rollback countdowns on it) and a way to journal the operators' requests
//! (roll back a host, abort) through whichever engine runs the drill now: a fresh one
//! after a simulated crash.

use std::sync::{Arc, Mutex};

use super::inject::DrillClock;
use crate::engine::clock::Clock;
use crate::engine::event::{Event, Request};
use crate::engine::recorder::Recorder;

/// The engine running the drill now: its recorder, and the operators it journals.
type Current = Option<(Arc<Recorder>, Vec<String>)>;

/// Cheap to clone; every clone is the same drill.
#[derive(Clone)]
pub struct Handle {
    clock: Arc<DrillClock>,
    /// The running engine's recorder and operators; `None` before and after the drill.
    current: Arc<Mutex<Current>>,
}

impl Handle {
    /// A drill of the window starting at `start`: on real time (`live`) or simulated time.
    pub fn new(start: jiff::Timestamp, live: bool) -> Self {
        let clock = Arc::new(if live { DrillClock::real(start) } else { DrillClock::simulated(start) });
        Self { clock, current: Arc::default() }
    }

    pub fn clock(&self) -> &Arc<DrillClock> {
        &self.clock
    }

    pub fn is_live(&self) -> bool {
        self.clock.is_real()
    }

    /// Journals a request as the engine's own `request` would (acted on between steps).
    pub async fn request(&self, request: Request, by: Vec<String>) -> eyre::Result<()> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some((recorder, operators)) = current else {
            eyre::bail!("the drill is not running: nothing can be requested");
        };
        let operators = if by.is_empty() { operators } else { by };
        recorder.record(Event::Requested { request, operators }).await
    }

    pub(super) fn attach(&self, recorder: Arc<Recorder>, operators: Vec<String>) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some((recorder, operators));
    }

    /// Lets go of the recorder: it holds the listeners, whose channels must close.
    pub(super) fn detach(&self) {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

impl Clock for Handle {
    fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }
}

impl crate::engine::Controls for Handle {
    fn clock(&self) -> &dyn Clock {
        self
    }
    fn request<'a>(&'a self, r: Request, by: Vec<String>) -> futures::future::BoxFuture<'a, eyre::Result<()>> {
        Box::pin(Handle::request(self, r, by))
    }
    /// A drill ends by itself; leaving the cockpit does not end it early.
    fn close(&self) {}
}
