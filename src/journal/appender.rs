//! The journal's writer on a thread of its own, for async code.
//!
//! A journal append waits for `fdatasync`, which on a slow or failing disk takes seconds.
//! Called inside async code it would stall every task of its runtime thread: the cockpit's
//! keys and frames are polled on the same task as the engine. The [`Appender`] owns the
//! [`Journal`] on a dedicated thread; [`Appender::append`] queues the event and returns a
//! future that resolves once the line is written and synced. Write-ahead is kept: await the
//! append, then start the action it announces.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use serde::Serialize;
use tokio::sync::oneshot;

use super::error::{JournalError, Result};
use super::writer::Journal;

/// One queued append and where its outcome goes.
struct Request<E> {
    event: E,
    ack: oneshot::Sender<Result<u64>>,
}

/// A [`Journal`] owned by a writer thread. Appends are written in the order
/// [`append`](Appender::append) was called, each acknowledged after write + sync. A failed
/// write fails that append and, since the journal is then poisoned, every later one (the
/// writer also refuses a journal file that was moved, replaced, truncated or written to by
/// something else: [`JournalError::Changed`]).
///
/// Dropping the appender lets the thread finish the appends already queued, then joins it:
/// when the drop returns, the journal is closed and its lock released. The drop can block for
/// as long as those syncs take (in practice one, as callers await each append).
pub struct Appender<E> {
    path: PathBuf,
    queue: Option<mpsc::Sender<Request<E>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl<E: Serialize + Send + 'static> Appender<E> {
    /// Moves `journal` to a new writer thread.
    pub fn spawn(journal: Journal<E>) -> Result<Self> {
        let path = journal.path().to_path_buf();
        let (queue, requests) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("patchdeck-journal".into())
            .spawn(move || write_each(journal, requests))
            .map_err(|e| JournalError::io(&path, "start the writer thread of", e))?;
        Ok(Appender { path, queue: Some(queue), thread: Some(thread) })
    }

    /// Queues `event` now (the order of calls is the order on disk) and returns a future
    /// resolving to its seq once it is durable, or to the error that stops the window.
    /// Dropping the future does not take the event back: it is still written.
    pub fn append(&self, event: E) -> impl Future<Output = Result<u64>> + Send + 'static {
        let (ack, outcome) = oneshot::channel();
        let queued = self.queue.as_ref().is_some_and(|q| q.send(Request { event, ack }).is_ok());
        let path = self.path.clone();
        async move {
            if !queued {
                return Err(JournalError::WriterGone { path });
            }
            // The sender is dropped unanswered only if the thread died mid-append.
            outcome.await.unwrap_or(Err(JournalError::WriterGone { path }))
        }
    }
}

impl<E> Appender<E> {
    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl<E> Drop for Appender<E> {
    fn drop(&mut self) {
        drop(self.queue.take()); // the thread ends once the queue is drained
        if let Some(thread) = self.thread.take() {
            // A panic on the thread was already answered as WriterGone to its appends.
            let _ = thread.join();
        }
    }
}

impl<E> std::fmt::Debug for Appender<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender").field("path", &self.path).finish_non_exhaustive()
    }
}

/// The writer thread: appends each request in turn and answers it; ends when every
/// sender is gone, closing the journal (and releasing its lock).
fn write_each<E: Serialize>(mut journal: Journal<E>, requests: mpsc::Receiver<Request<E>>) {
    for Request { event, ack } in requests {
        // The caller may have stopped waiting; the event is on disk (or failed) all the same.
        let _ = ack.send(journal.append(&event));
    }
}
