//! A window session: everything a window is built from, put together once, with no
//! terminal in sight. `run` (in the cockpit or headless), `drill` and `rollback` all build
//! their windows here:
//!
//! - [`Inputs`]: the runbook and its baseline, loaded together (every problem of both in
//!   one report) with the runbook's digest.
//! - [`open_journal`]: the journal, created for a new window or reopened (locked, replayed)
//!   to resume one, as the engine's write-ahead ([`JournalSink`]).
//! - [`reach::Reach`]: how hosts are reached (ssh, or a simulated fleet).
//! - [`Session`]: all of it, handing out engines under any [`Decider`].
//! - [`headless`]: the decider of a run with nobody at the keys.
//! - [`signals`]: SIGTERM, SIGHUP, SIGINT: the window is left paused.

pub mod headless;
pub mod reach;
pub mod signals;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use eyre::{WrapErr, bail};

use crate::baseline::Baseline;
use crate::engine::clock::{Clock, SystemClock};
use crate::engine::event::Event;
use crate::engine::live::LiveFeed;
use crate::engine::recorder::{Recorder, WriteAhead};
use crate::engine::state::WindowState;
use crate::engine::{Control, Decider, Engine, Parts, Plan, Reaches, Until};
use crate::journal::{Appender, Header, Journal};
use crate::pkg::Managers;
use crate::runbook::Runbook;
pub use reach::Reach;

/// The runbook and its tested baseline, with the runbook's digest (a resumed window must
/// run the runbook it started with).
pub struct Inputs {
    pub path: PathBuf,
    pub runbook: Runbook,
    pub baseline: Baseline,
    pub sha256: String,
}

impl Inputs {
    /// Loads the runbook and its baseline; all problems of both are reported together.
    pub fn load(path: &Path) -> eyre::Result<Self> {
        let (runbook, baseline) = crate::runbook::load_with(path, crate::baseline::load)?;
        let bytes = std::fs::read(path).wrap_err_with(|| format!("cannot read the runbook {}", path.display()))?;
        Ok(Self { path: path.to_path_buf(), runbook, baseline, sha256: Header::sha256_hex(&bytes) })
    }

    /// The journal's default place: `<window>.journal.jsonl` beside the runbook.
    pub fn default_journal(&self) -> PathBuf {
        crate::journal::default_path(self.path.parent().unwrap_or(Path::new(".")), &self.runbook.window.name)
    }
}

/// Operators: `--operator` flags, else `$PATCHDECK_OPERATORS` (comma-separated), else `$USER`.
pub fn operators(flags: &[String]) -> Vec<String> {
    if !flags.is_empty() {
        return flags.to_vec();
    }
    if let Ok(list) = std::env::var("PATCHDECK_OPERATORS") {
        let ops: Vec<String> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        if !ops.is_empty() {
            return ops;
        }
    }
    vec![std::env::var("USER").unwrap_or_else(|_| "operator".into())]
}

/// The journal as the engine's write-ahead: every event appended and fsynced by the
/// journal's own writer thread, acknowledged before the action it announces starts. The
/// engine awaits the acknowledgement, so a slow disk never freezes keys and frames.
pub struct JournalSink(Appender<Event>);

impl JournalSink {
    pub fn new(journal: Journal<Event>) -> eyre::Result<Self> {
        Ok(Self(Appender::spawn(journal)?))
    }
}

#[async_trait]
impl WriteAhead for JournalSink {
    async fn write(&self, e: &Event) -> eyre::Result<()> {
        self.0.append(e.clone()).await.map(|_| ()).map_err(eyre::Report::new)
    }
}

/// A new window's journal, or an existing one to resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    Create,
    Resume,
}

/// A journal ready for the engine, with what it held.
pub struct Opened {
    pub path: PathBuf,
    pub sink: JournalSink,
    pub state: WindowState,
    /// Every record replayed (resume), with when it was written.
    pub replayed: Vec<(jiff::Timestamp, Event)>,
    /// A torn last line from a crash, saved aside here.
    pub torn_saved_to: Option<PathBuf>,
}

/// Creates the journal of a new window, or reopens (locks, replays) an existing one. A
/// window's history is never overwritten; a resume only continues the runbook it started.
pub fn open_journal(
    inputs: &Inputs,
    path: &Path,
    open: Open,
    operators: &[String],
    drill: bool,
) -> eyre::Result<Opened> {
    match open {
        Open::Resume => {
            let (j, replay) = Journal::<Event>::open_append(path)?;
            if replay.header.runbook_sha256 != inputs.sha256 {
                bail!(
                    "{} changed since this window started (journal {}): resume only with the runbook it started with",
                    inputs.path.display(),
                    path.display()
                );
            }
            let state = WindowState::fold(replay.records.iter().map(|r| &r.event));
            let torn_saved_to = replay.torn_saved_to.clone();
            let replayed = replay.records.into_iter().map(|r| (r.at, r.event)).collect();
            Ok(Opened { path: path.to_path_buf(), sink: JournalSink::new(j)?, state, replayed, torn_saved_to })
        }
        Open::Create => {
            if path.exists() {
                bail!(
                    "{} already exists: this window has run before. Continue it with `patchdeck run {} --resume`, follow it with `patchdeck watch {}`, or roll hosts back with `patchdeck rollback {}`",
                    path.display(),
                    inputs.path.display(),
                    path.display(),
                    path.display()
                );
            }
            let header = Header::new(
                &inputs.runbook.window.name,
                inputs.path.display().to_string(),
                inputs.sha256.clone(),
                operators.to_vec(),
                drill,
            );
            let j = Journal::create(path, &header)?;
            Ok(Opened {
                path: path.to_path_buf(),
                sink: JournalSink::new(j)?,
                state: WindowState::default(),
                replayed: Vec::new(),
                torn_saved_to: None,
            })
        }
    }
}

/// A window put together: inputs, journal (as the recorder), the way to the hosts, who
/// runs it. Hands out engines; the caller chooses the decider and how long it serves.
pub struct Session {
    pub inputs: Inputs,
    pub reach: Reach,
    pub recorder: Recorder,
    pub operators: Vec<String>,
    pub journal: PathBuf,
    /// What the journal held when it was opened (empty for a new window).
    pub replayed: Vec<(jiff::Timestamp, Event)>,
    pub clock: Box<dyn Clock>,
}

impl Session {
    /// Opens (or resumes) the window of `inputs` with its journal at `journal`.
    pub fn open(
        inputs: Inputs,
        reach: Reach,
        journal: &Path,
        open: Open,
        operators: Vec<String>,
    ) -> eyre::Result<Self> {
        let opened = open_journal(&inputs, journal, open, &operators, false)?;
        if let Some(saved) = &opened.torn_saved_to {
            eprintln!("note: a torn last line from a crash was saved to {}", saved.display());
        }
        let recorder = Recorder::new(Box::new(opened.sink), opened.state);
        Ok(Self {
            inputs,
            reach,
            recorder,
            operators,
            journal: opened.path,
            replayed: opened.replayed,
            clock: Box::new(SystemClock),
        })
    }

    /// An engine over this session's window.
    pub fn engine<'a>(&'a self, decider: &'a dyn Decider, live: Option<LiveFeed>, until: Until) -> Engine<'a> {
        let mut parts = Parts::new(
            Plan { runbook: &self.inputs.runbook, baseline: &self.inputs.baseline },
            Reaches {
                transport: self.reach.transport.as_ref(),
                local: self.reach.local.as_ref(),
                prober: self.reach.prober.as_ref(),
                managers: Managers::standard(),
            },
            Control {
                clock: self.clock.as_ref(),
                decider,
                recorder: &self.recorder,
                operators: self.operators.clone(),
            },
        );
        parts.live = live;
        parts.until = until;
        parts.runbook_digest = self.inputs.sha256.clone();
        Engine::new(parts)
    }

    /// The window has ended (finished or aborted) in its journal.
    pub fn finished(&self) -> bool {
        self.recorder.with_state(|s| s.finished)
    }
}

/// Awaits `work` (journaling through the engine's recorder) while still polling the window:
/// the window may hold the journal's writer, waiting for its own write to be synced, and it
/// goes on only when polled. Awaiting `work` alone could wait for it for ever.
pub async fn beside<T, R>(
    window: &mut std::pin::Pin<&mut impl Future<Output = eyre::Result<T>>>,
    summary: &mut Option<eyre::Result<T>>,
    work: impl Future<Output = R>,
) -> R {
    tokio::pin!(work);
    loop {
        tokio::select! {
            r = &mut work => return r,
            w = window.as_mut(), if summary.is_none() => *summary = Some(w),
        }
    }
}
