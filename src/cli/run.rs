//! `patchdeck run`: the window, journaled. Until the cockpit exists only `--no-tui` runs.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use eyre::{WrapErr, bail};

use super::args::{DecideArg, Global, RunArgs};
use super::fleet::Reach;
use crate::engine::clock::SystemClock;
use crate::engine::decide::Decider;
use crate::engine::event::{Decision, Event, HostResult};
use crate::engine::recorder::{Recorder, WriteAhead};
use crate::engine::state::{OpenStop, WindowState};
use crate::engine::{Engine, event};
use crate::journal::{Header, Journal};
use crate::pkg::apt::Apt;

/// `--no-tui`: proceeds while clean; at a hard stop takes the `--decide` decision, or
/// aborts (never overrides) and the run exits 3.
struct NoTui {
    decide: Option<Decision>,
}

#[async_trait]
impl Decider for NoTui {
    async fn decide(&self, stop: &OpenStop) -> Decision {
        let host = stop.host.as_deref().unwrap_or("window");
        println!("HARD STOP {host}: {}", stop.stop.headline());
        let d = self.decide.clone().unwrap_or(Decision::Abort);
        println!(
            "  decision: {} ({})",
            d.label(),
            if self.decide.is_some() { "--decide" } else { "no --decide given" }
        );
        d
    }

    async fn auto_rollback_countdown(&self, host: &str, seconds: u64) -> bool {
        println!("{host}: health check failed; rolling back in {seconds}s (no operator to cancel in --no-tui)");
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
        true
    }
}

/// Operators: `--operator` flags, else `$PATCHDECK_OPERATORS` (comma-separated), else `$USER`.
pub(super) fn operators(flags: &[String]) -> Vec<String> {
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

fn journal_path(args: &RunArgs, runbook_path: &Path, window: &str) -> PathBuf {
    args.journal
        .clone()
        .unwrap_or_else(|| crate::journal::default_path(runbook_path.parent().unwrap_or(Path::new(".")), window))
}

/// One progress line per event that matters to a person watching a log.
pub(super) fn progress_line(e: &Event) -> Option<String> {
    Some(match e {
        Event::WaveStarted { wave } => format!("wave {wave}: started"),
        Event::StepStarted { host, name, command, .. } => format!("{host}: {name}: {command}"),
        Event::StepFinished { host, outcome, millis, .. } => match outcome {
            event::Outcome::Ok => format!("{host}: ok ({:.1}s)", *millis as f64 / 1000.0),
            o => format!("{host}: FAILED: {o:?}"),
        },
        Event::RollbackStarted { host, name, .. } => format!("{host}: rolling back {name}"),
        Event::RollbackFinished { host, verified, mismatches, .. } => match verified {
            Some(false) => format!("{host}: rollback NOT verified: {}", mismatches.join("; ")),
            Some(true) => format!("{host}: rollback verified"),
            None => format!("{host}: rollback step done"),
        },
        Event::HostFinished { host, result } => format!("{host}: {result:?}"),
        Event::WindowFinished { aborted } => format!("window {}", if *aborted { "ABORTED" } else { "finished" }),
        _ => return None,
    })
}

/// The journal as the engine's write-ahead: every event appended and fsynced.
pub(super) fn journal_write(journal: Journal<Event>) -> WriteAhead {
    let journal = std::sync::Mutex::new(journal);
    Box::new(move |e: &Event| {
        journal.lock().unwrap_or_else(|p| p.into_inner()).append(e).map(|_| ()).map_err(eyre::Report::new)
    })
}

/// Prints `line(event)` for every event sent, `prefix` first (drills: `[DRILL] `). Ends
/// when every sender is dropped.
pub(super) fn spawn_printer(
    prefix: &'static str,
    line: fn(&Event) -> Option<String>,
) -> (tokio::sync::mpsc::UnboundedSender<Event>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            if let Some(line) = line(&e) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{prefix}{} {line}", jiff::Timestamp::now().strftime("%H:%M:%S"));
            }
        }
    });
    (tx, printer)
}

pub async fn run(global: &Global, args: RunArgs) -> eyre::Result<u8> {
    if !args.no_tui {
        bail!(
            "the cockpit is not built yet: run with `--no-tui --yes` (and `--decide` to choose what happens at a hard stop)"
        );
    }
    if !args.yes {
        bail!(
            "--no-tui proceeds without a person: add --yes to confirm, and --decide rollback|skip|abort for hard stops"
        );
    }
    let runbook = crate::runbook::load(&args.runbook)?;
    let baseline = crate::baseline::load(&runbook.baseline.file)?;
    let bytes = std::fs::read(&args.runbook).wrap_err("cannot read the runbook")?;
    let sha = Header::sha256_hex(&bytes);
    let path = journal_path(&args, &args.runbook, &runbook.window.name);
    let operators = operators(&args.operator);

    let (journal, state) = if args.resume {
        let (j, replay) = Journal::<Event>::open_append(&path)?;
        if replay.header.runbook_sha256 != sha {
            bail!(
                "{} changed since this window started (journal {}): resume only with the runbook it started with",
                args.runbook.display(),
                path.display()
            );
        }
        if let Some(saved) = &replay.torn_saved_to {
            eprintln!("note: a torn last line from a crash was saved to {}", saved.display());
        }
        let state = WindowState::fold(replay.records.iter().map(|r| &r.event));
        (j, state)
    } else {
        if path.exists() {
            bail!(
                "{} already exists: this window has run before. Continue it with `patchdeck run {} --resume`, or follow it with `patchdeck watch {}`",
                path.display(),
                args.runbook.display(),
                path.display()
            );
        }
        let header =
            Header::new(&runbook.window.name, args.runbook.display().to_string(), sha, operators.clone(), false);
        (Journal::create(&path, &header)?, WindowState::default())
    };
    println!("journal: {}", path.display());

    let recorder = Recorder::new(journal_write(journal), state);
    let (tx, printer) = spawn_printer("", progress_line);
    recorder.subscribe(tx);

    let reach = Reach::for_runbook(global, &runbook)?;
    let decider = NoTui { decide: args.decide.map(DecideArg::into) };
    let engine = Engine::new(
        &runbook,
        &baseline,
        reach.transport.as_ref(),
        reach.local.as_ref(),
        reach.prober.as_ref(),
        &Apt,
        &SystemClock,
        &decider,
        &recorder,
        operators,
    );
    let summary = engine.run().await;
    reach.transport.close().await;
    drop(engine);
    drop(recorder);
    let _ = printer.await;
    let summary = summary?;
    let clean =
        !summary.aborted && summary.stops == 0 && summary.results.values().all(|r| *r == Some(HostResult::Done));
    Ok(if clean { 0 } else { crate::check::exit::DIVERGENCE })
}
