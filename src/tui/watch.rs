//! `patchdeck watch JOURNAL`: the cockpit's screens, read-only, following a journal that
//! another process (a `run`) is writing. It never writes and cannot send commands.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossterm::event::EventStream;
use futures::StreamExt;

use super::app::{App, Effect, Mode, WindowInfo, update};
use super::run::{Screen, key_action};
use super::theme::Theme;
use crate::engine::event::Event;
use crate::journal::{Follower, JournalError};
use crate::session::signals::Signals;

/// Opens the journal, waiting a little for a header still being written (on tokio's
/// timer: this runs inside the runtime, where a thread sleep would stall other tasks).
async fn open(path: &Path) -> eyre::Result<Follower<Event>> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        match Follower::<Event>::open(path) {
            Err(JournalError::NoHeader { .. }) if Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            r => return Ok(r?),
        }
    }
}

/// The plan of the window, from the runbook the journal names (as given to `run`, or
/// beside the journal). Without it the screens still work, with less context.
fn info(journal: &Path, runbook: &str, window: &str) -> WindowInfo {
    let given = PathBuf::from(runbook);
    let beside = journal.parent().unwrap_or(Path::new(".")).join(given.file_name().unwrap_or_default());
    for p in [given, beside] {
        if p.is_file()
            && let Ok(rb) = crate::runbook::load(&p)
        {
            return WindowInfo::from_runbook(&rb);
        }
    }
    WindowInfo { name: window.to_string(), ..Default::default() }
}

pub async fn watch(journal: &Path, theme: Theme) -> eyre::Result<u8> {
    let mut follower = open(journal).await?;
    let header = follower.header().clone();
    let mut app = App::new(Mode::ReadOnly, info(journal, &header.runbook, &header.window), jiff::Timestamp::now());
    app.state.operators = header.operators.clone();
    app.drill = header.drill;
    let mut screen = Screen::open(theme)?;
    let mut signals = Signals::new()?;
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        app.now = jiff::Timestamp::now();
        screen.draw(&app)?;
        tokio::select! {
            batch = follower.next_batch() => {
                for r in batch? {
                    app.on_event(r.at, r.event);
                }
            }
            Some(ev) = keys.next() => {
                let Ok(ev) = ev else { break }; // the terminal is gone
                if let Some(a) = key_action(&app, &ev)
                    && update(&mut app, a).contains(&Effect::Quit)
                {
                    break;
                }
            }
            _ = tick.tick() => {}
            _ = signals.recv() => break,
        }
    }
    screen.detach();
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Header, Journal};

    /// While `open` waits for a header, other tasks of its runtime thread keep running: here
    /// the very task that writes the header, so a blocking wait would never see it.
    #[tokio::test(flavor = "current_thread")]
    async fn open_waits_for_the_header_without_blocking_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model.journal.jsonl");
        drop(Journal::<Event>::create(&model, &Header::new("w", "rb.toml", "00", vec![], false)).unwrap());
        let path = dir.path().join("w.journal.jsonl");
        std::fs::write(&path, "").unwrap();

        let waiting = tokio::spawn({
            let path = path.clone();
            async move { open(&path).await.map(|f| f.header().window.clone()) }
        });
        tokio::task::yield_now().await; // `open` runs, finds no header and waits
        assert!(!waiting.is_finished(), "open gave up at once");
        std::fs::write(&path, std::fs::read(&model).unwrap()).unwrap();
        assert_eq!(waiting.await.unwrap().unwrap(), "w");
    }
}
