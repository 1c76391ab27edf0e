//! The single path by which anything happens in a window: an event is written (and
//! fsynced) first, then folded into the state, then shown to whoever listens.

use std::sync::Mutex;

use tokio::sync::mpsc::UnboundedSender;

use super::event::Event;
use super::state::WindowState;

/// Writes an event durably; the journal provides this. Errors stop the window: an action
/// that cannot be journaled must not happen.
pub type WriteAhead = Box<dyn FnMut(&Event) -> eyre::Result<()> + Send>;

pub struct Recorder {
    inner: Mutex<Inner>,
}

struct Inner {
    write: WriteAhead,
    state: WindowState,
    listeners: Vec<UnboundedSender<Event>>,
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

    pub fn subscribe(&self, tx: UnboundedSender<Event>) {
        self.lock().listeners.push(tx);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Journals `event` (durably), then applies it. Returns only once it is on disk.
    pub fn record(&self, event: Event) -> eyre::Result<()> {
        let mut inner = self.lock();
        (inner.write)(&event)?;
        inner.state.apply(&event);
        inner.listeners.retain(|l| l.send(event.clone()).is_ok());
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
