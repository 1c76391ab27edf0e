//! The live feed: what a watcher (the cockpit) sees while a window runs. Journaled events,
//! in order and never dropped, interleaved with the output lines of running commands.
//!
//! Lines are not journaled: an fsync per line would cost too much, and the journal keeps
//! each step's outcome and output tail. They are a lossy feed instead: when the watcher is
//! slow and [`CAPACITY`] lines wait unread, further lines are dropped, never waited for (the
//! engine must not slow down for a screen), counted per command, and reported by one
//! [`Live::Dropped`] per command where they went missing: before the next event, or last
//! when the watcher next takes the queue. Events and lines share one queue so that a step's
//! lines always arrive after its `StepStarted` and before its `StepFinished`.
//!
//! The queue is a plain mutex-guarded `Vec` that the watcher takes whole: one wake-up and
//! one lock per batch however many lines a flood brings.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::event::Event;
use super::recorder::Listener;
use crate::transport::{OutputLine, Sink};

/// Lines waiting unread beyond which new lines are dropped. Ample for a watcher that is
/// merely busy for a frame; bounded so a stalled one costs a few MB at most.
pub const CAPACITY: usize = 20_000;

/// Which command a line belongs to: step `step` (0-based) of `host`, or its rollback.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId {
    pub host: String,
    pub step: usize,
    pub rollback: bool,
}

/// One item of the feed.
#[derive(Debug, Clone, PartialEq)]
pub enum Live {
    Event(Event),
    Line {
        run: Arc<RunId>,
        line: OutputLine,
    },
    /// This many of the command's lines were dropped here because the watcher was behind.
    Dropped {
        run: Arc<RunId>,
        lines: u64,
    },
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Notify,
    capacity: usize,
}

#[derive(Default)]
struct Queue {
    items: Vec<Live>,
    /// Lines among `items` (events do not count against the capacity).
    lines: usize,
    /// Lines dropped per command and not reported yet. Only a full queue drops, and only
    /// taking it frees room, so these went missing after all of `items`; they are reported
    /// before the next event or when the queue is taken, whichever comes first.
    dropped: BTreeMap<Arc<RunId>, u64>,
    /// The watcher is gone: nothing more is queued.
    closed: bool,
}

/// The engine's end. Cheap to clone.
#[derive(Clone)]
pub struct LiveFeed {
    shared: Arc<Shared>,
}

/// The watcher's end. Dropping it closes the feed.
pub struct LiveReceiver {
    shared: Arc<Shared>,
}

/// A feed holding at most `capacity` unread lines.
pub fn feed(capacity: usize) -> (LiveFeed, LiveReceiver) {
    let shared = Arc::new(Shared { queue: Mutex::new(Queue::default()), ready: Notify::new(), capacity });
    (LiveFeed { shared: shared.clone() }, LiveReceiver { shared })
}

impl Queue {
    fn flush_dropped(&mut self) {
        let dropped = std::mem::take(&mut self.dropped);
        self.items.extend(dropped.into_iter().map(|(run, lines)| Live::Dropped { run, lines }));
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LiveFeed {
    /// Queues an event; events are never dropped. `false` once the watcher is gone.
    pub fn event(&self, e: &Event) -> bool {
        let mut q = self.shared.lock();
        if q.closed {
            return false;
        }
        // Lines dropped so far went missing before this event: say so before it.
        q.flush_dropped();
        q.items.push(Live::Event(e.clone()));
        drop(q);
        self.shared.ready.notify_one();
        true
    }

    /// Where the output of `host`'s step `step` (or its rollback) goes.
    pub fn sink(&self, host: &str, step: usize, rollback: bool) -> LiveSink {
        LiveSink { feed: self.clone(), run: Arc::new(RunId { host: host.to_string(), step, rollback }) }
    }

    fn line(&self, run: &Arc<RunId>, line: OutputLine) {
        let mut q = self.shared.lock();
        if q.closed {
            return;
        }
        if q.lines >= self.shared.capacity {
            *q.dropped.entry(run.clone()).or_default() += 1;
            return;
        }
        q.items.push(Live::Line { run: run.clone(), line });
        q.lines += 1;
        drop(q);
        self.shared.ready.notify_one();
    }
}

impl Listener for LiveFeed {
    fn event(&self, e: &Event) -> bool {
        LiveFeed::event(self, e)
    }
}

/// A [`Sink`] for one command's output.
pub struct LiveSink {
    feed: LiveFeed,
    run: Arc<RunId>,
}

impl Sink for LiveSink {
    fn line(&self, line: OutputLine) {
        self.feed.line(&self.run, line)
    }
}

impl LiveReceiver {
    /// Everything queued, oldest first, then a [`Live::Dropped`] for each command whose
    /// dropped lines were not reported yet. Empty when nothing is queued.
    pub fn try_batch(&self) -> Vec<Live> {
        let mut q = self.shared.lock();
        q.flush_dropped();
        q.lines = 0;
        std::mem::take(&mut q.items)
    }

    /// Waits until something is queued, then takes it all (see [`LiveReceiver::try_batch`]).
    pub async fn next_batch(&self) -> Vec<Live> {
        loop {
            let items = self.try_batch();
            if !items.is_empty() {
                return items;
            }
            // A push between `try_batch` and here leaves a permit: no wake-up is lost.
            self.shared.ready.notified().await;
        }
    }
}

impl Drop for LiveReceiver {
    fn drop(&mut self) {
        let mut q = self.shared.lock();
        q.closed = true;
        q.items.clear();
        q.dropped.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Stream;

    fn line(text: &str) -> OutputLine {
        OutputLine { stream: Stream::Stdout, text: text.into(), cut: false }
    }

    fn texts(items: &[Live]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                Live::Event(Event::WaveStarted { wave }) => format!("event {wave}"),
                Live::Event(e) => format!("{e:?}"),
                Live::Line { run, line } => format!("{} {}", run.host, line.text),
                Live::Dropped { run, lines } => format!("{} dropped {lines}", run.host),
            })
            .collect()
    }

    fn wave(name: &str) -> Event {
        Event::WaveStarted { wave: name.into() }
    }

    #[test]
    fn events_and_lines_keep_their_order() {
        let (feed, rx) = feed(100);
        let web1 = feed.sink("web1", 0, false);
        feed.event(&wave("a"));
        web1.line(line("one"));
        web1.line(line("two"));
        feed.event(&wave("b"));
        assert_eq!(texts(&rx.try_batch()), ["event a", "web1 one", "web1 two", "event b"]);
        assert!(rx.try_batch().is_empty());
    }

    #[test]
    fn a_full_feed_drops_lines_counts_them_and_reports_the_gap_in_place() {
        let (feed, rx) = feed(2);
        let (web1, web2) = (feed.sink("web1", 1, false), feed.sink("web2", 1, false));
        web1.line(line("1"));
        web2.line(line("2"));
        // Full: these are dropped, and the engine is not kept waiting.
        for _ in 0..5 {
            web1.line(line("lost"));
        }
        web2.line(line("lost"));
        // Events still get through, after the gaps that came before them.
        feed.event(&wave("w"));
        web1.line(line("lost"));
        assert_eq!(
            texts(&rx.try_batch()),
            ["web1 1", "web2 2", "web1 dropped 5", "web2 dropped 1", "event w", "web1 dropped 1"]
        );

        // Taking the queue made room, and the count starts again.
        web1.line(line("3"));
        web1.line(line("4"));
        web1.line(line("lost"));
        assert_eq!(texts(&rx.try_batch()), ["web1 3", "web1 4", "web1 dropped 1"]);
    }

    #[test]
    fn nothing_is_queued_once_the_watcher_is_gone() {
        let (feed, rx) = feed(10);
        drop(rx);
        assert!(!feed.event(&wave("a")));
        feed.sink("web1", 0, false).line(line("x"));
        assert!(feed.shared.lock().items.is_empty());
    }

    #[tokio::test]
    async fn next_batch_wakes_for_a_line_pushed_from_another_task() {
        let (feed, rx) = feed(10);
        let pusher = tokio::spawn(async move {
            tokio::task::yield_now().await;
            feed.sink("web1", 0, false).line(line("hello"));
        });
        let batch = tokio::time::timeout(std::time::Duration::from_secs(10), rx.next_batch()).await.unwrap();
        assert_eq!(texts(&batch), ["web1 hello"]);
        pusher.await.unwrap();
    }
}
