//! The single path by which anything happens in a window: an event is written (and
//! fsynced) first, then folded into the state, then shown to whoever listens.

use std::sync::Mutex;

use tokio::sync::mpsc::UnboundedSender;

use super::event::Event;
use super::state::WindowState;

/// Writes an event durably; the journal provides this. Errors stop the window: an action
/// that cannot be journaled must not happen.
pub type WriteAhead = Box<dyn FnMut(&Event) -> eyre::Result<()> + Send>;

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

pub struct Recorder {
    inner: Mutex<Inner>,
}

struct Inner {
    write: WriteAhead,
    state: WindowState,
    listeners: Vec<Box<dyn Listener>>,
}

impl Recorder {
    /// Starts from a replayed state (empty for a new window).
    pub fn new(write: WriteAhead, state: WindowState) -> Self {
        Self { inner: Mutex::new(Inner { write, state, listeners: Vec::new() }) }
    }

    /// A recorder that keeps events in memory only (tests, what-if runs).
    pub fn in_memory() -> (Self, std::sync::Arc<Mutex<Vec<Event>>>) {
        let log = std::sync::Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let write: WriteAhead = Box::new(move |e| {
            sink.lock().unwrap_or_else(|p| p.into_inner()).push(e.clone());
            Ok(())
        });
        (Self::new(write, WindowState::default()), log)
    }

    pub fn subscribe(&self, listener: impl Listener + 'static) {
        self.lock().listeners.push(Box::new(listener));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Journals `event` (durably), then applies it. Returns only once it is on disk.
    pub fn record(&self, event: Event) -> eyre::Result<()> {
        let mut inner = self.lock();
        (inner.write)(&event)?;
        inner.state.apply(&event);
        inner.listeners.retain(|l| l.event(&event));
        Ok(())
    }

    /// A copy of the current state.
    pub fn state(&self) -> WindowState {
        self.lock().state.clone()
    }

    /// Reads the state without copying it.
    pub fn with_state<T>(&self, f: impl FnOnce(&WindowState) -> T) -> T {
        f(&self.lock().state)
    }
}
