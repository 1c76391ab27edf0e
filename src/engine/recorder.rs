//! The single path by which anything happens in a window: an event is written (and
//! fsynced) first, then folded into the state, then shown to whoever listens.
//!
//! Writing is awaited, never blocked on: the journal's writer does its fsync off the async
//! path and acknowledges, so a slow disk cannot freeze the cockpit's keys and frames while
//! the engine waits for an event to be durable.

use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use super::event::Event;
use super::state::WindowState;

/// Writes an event durably; the journal provides this. Errors stop the window: an action
/// that cannot be journaled must not happen.
#[async_trait]
pub trait WriteAhead: Send + Sync {
    async fn write(&self, e: &Event) -> eyre::Result<()>;
}

/// Whoever is shown events once they are journaled: a channel, or the cockpit's
/// [`super::live::LiveFeed`]. Must not block. Returns `false` once nobody listens any more.
pub trait Listener: Send {
    fn event(&self, e: &Event) -> bool;
}

impl Listener for UnboundedSender<Event> {
    fn event(&self, e: &Event) -> bool {
        self.send(e.clone()).is_ok()
    }
}

/// Events kept in memory only (tests, what-if runs).
pub struct MemoryLog(pub std::sync::Arc<Mutex<Vec<Event>>>);

#[async_trait]
impl WriteAhead for MemoryLog {
    async fn write(&self, e: &Event) -> eyre::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(e.clone());
        Ok(())
    }
}

pub struct Recorder {
    /// Held while an event is written: events are journaled one at a time, in order, and a
    /// conditional record ([`Recorder::record_if`]) decides on the state no other event
    /// can change meanwhile.
    writer: tokio::sync::Mutex<Box<dyn WriteAhead>>,
    /// Never held across an await.
    inner: Mutex<Inner>,
    /// Bumped after every event: waiters (a host waiting for a decision) watch it.
    changed: watch::Sender<u64>,
}

struct Inner {
    state: WindowState,
    listeners: Vec<Box<dyn Listener>>,
}

impl Recorder {
    /// Starts from a replayed state (empty for a new window).
    pub fn new(write: Box<dyn WriteAhead>, state: WindowState) -> Self {
        Self {
            writer: tokio::sync::Mutex::new(write),
            inner: Mutex::new(Inner { state, listeners: Vec::new() }),
            changed: watch::Sender::new(0),
        }
    }

    /// A recorder that keeps events in memory only (tests, what-if runs).
    pub fn in_memory() -> (Self, std::sync::Arc<Mutex<Vec<Event>>>) {
        let log = std::sync::Arc::new(Mutex::new(Vec::new()));
        (Self::new(Box::new(MemoryLog(log.clone())), WindowState::default()), log)
    }

    pub fn subscribe(&self, listener: impl Listener + 'static) {
        self.lock().listeners.push(Box::new(listener));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Journals `event` (durably), then applies it. Returns only once it is on disk.
    pub async fn record(&self, event: Event) -> eyre::Result<()> {
        let writer = self.writer.lock().await;
        writer.write(&event).await?;
        self.apply(&event);
        Ok(())
    }

    /// Journals the event `make` builds from the current state, or nothing when it says
    /// no, atomically: no other event is journaled between the look and the write. How a
    /// step starts only while nothing forbids it (an abort journaled a moment earlier
    /// always wins), and how a stop gets the next id.
    pub async fn record_with<T>(
        &self,
        make: impl FnOnce(&WindowState) -> Result<Event, T>,
    ) -> eyre::Result<Result<Event, T>> {
        let writer = self.writer.lock().await;
        let event = match make(&self.lock().state) {
            Ok(e) => e,
            Err(no) => return Ok(Err(no)),
        };
        writer.write(&event).await?;
        self.apply(&event);
        Ok(Ok(event))
    }

    fn apply(&self, event: &Event) {
        let mut inner = self.lock();
        inner.state.apply(event);
        inner.listeners.retain(|l| l.event(event));
        drop(inner);
        self.changed.send_modify(|n| *n += 1);
    }

    /// A copy of the current state.
    pub fn state(&self) -> WindowState {
        self.lock().state.clone()
    }

    /// Reads the state without copying it.
    pub fn with_state<T>(&self, f: impl FnOnce(&WindowState) -> T) -> T {
        f(&self.lock().state)
    }

    /// Changes after now: `changed().await` on it wakes at the next journaled event.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
