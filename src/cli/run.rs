//! `patchdeck run`: the window, journaled, in the cockpit or (`--no-tui`) without one;
//! `patchdeck watch`: the cockpit over a journal, read-only.

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
use crate::pkg::Managers;

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

    fn standing_order(&self) -> Option<String> {
        Some(crate::engine::decide::standing_order_of(self.decide.as_ref()))
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
        Event::RollbackFinished { host, outcome, verified, mismatches, .. } => match (outcome, verified) {
            (_, Some(false)) => format!("{host}: rollback NOT verified: {}", mismatches.join("; ")),
            // A rollback that could not run is not "done" (an unreachable host, a failing command).
            (o, _) if !o.is_ok() => format!("{host}: rollback FAILED: {o:?}"),
            (_, Some(true)) => format!("{host}: rollback verified"),
            (_, None) => format!("{host}: rollback step done"),
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

/// The cockpit's theme: `--theme`, else the config file's `theme`; user theme dir, `NO_COLOR`.
pub(super) fn theme(name: Option<&str>) -> eyre::Result<crate::tui::theme::Theme> {
    use crate::tui::{config, theme};
    let config = config::Config::from_env()?;
    config::theme(name, &config, theme::user_dir().as_deref(), theme::no_color_env())
}

pub(super) fn need_terminal() -> eyre::Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        bail!("the cockpit needs a terminal: run it in one, or use `--no-tui --yes` for progress lines");
    }
    Ok(())
}

/// `patchdeck watch JOURNAL`.
pub async fn watch(journal: &Path, theme_name: Option<&str>) -> eyre::Result<u8> {
    let theme = theme(theme_name)?;
    need_terminal()?;
    crate::tui::watch::watch(journal, theme).await
}

pub async fn run(global: &Global, args: RunArgs) -> eyre::Result<u8> {
    let cockpit_theme = if args.no_tui {
        None
    } else {
        let t = theme(args.theme.as_deref())?;
        need_terminal()?;
        Some(t)
    };
    if args.no_tui && !args.yes {
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

    let (journal, state, replayed) = if args.resume {
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
        let replayed: Vec<(jiff::Timestamp, Event)> = replay.records.into_iter().map(|r| (r.at, r.event)).collect();
        (j, state, replayed)
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
        (Journal::create(&path, &header)?, WindowState::default(), Vec::new())
    };
    if cockpit_theme.is_none() {
        println!("journal: {}", path.display());
    }

    let recorder = Recorder::new(journal_write(journal), state);
    if let Some(theme) = cockpit_theme {
        // Events and output lines reach the cockpit in order through one feed.
        let (feed, live) = crate::engine::live::feed(crate::engine::live::CAPACITY);
        recorder.subscribe(feed.clone());
        return cockpit(global, &runbook, &baseline, &recorder, (feed, live), replayed, operators, theme, &path).await;
    }
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
        Managers::standard(),
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

/// The demo window in the cockpit, against its simulated fleet.
pub async fn demo_cockpit(global: &Global, runbook: &Path, fleet: &Path, theme: Option<String>) -> eyre::Result<u8> {
    let global = Global { simulate: Some(fleet.to_path_buf()), sim_speed: Some(1.0), ..global.clone() };
    let args = RunArgs {
        runbook: runbook.to_path_buf(),
        no_tui: false,
        yes: false,
        decide: None,
        resume: false,
        journal: None,
        operator: Vec::new(),
        theme,
    };
    run(&global, args).await
}

/// The window under the cockpit.
#[allow(clippy::too_many_arguments)]
async fn cockpit(
    global: &Global,
    runbook: &crate::runbook::Runbook,
    baseline: &crate::baseline::Baseline,
    recorder: &Recorder,
    (feed, live): (crate::engine::live::LiveFeed, crate::engine::live::LiveReceiver),
    replayed: Vec<(jiff::Timestamp, Event)>,
    operators: Vec<String>,
    theme: crate::tui::theme::Theme,
    journal: &Path,
) -> eyre::Result<u8> {
    use crate::tui::app::{App, Mode, WindowInfo};
    let reach = Reach::for_runbook(global, runbook)?;
    let (decider, asks) = crate::tui::decider::TuiDecider::new();
    let mut app = App::new(Mode::Live, WindowInfo::from_runbook(runbook), jiff::Timestamp::now());
    for (at, e) in replayed {
        app.on_event(at, e);
    }
    app.mark_interrupted();
    app.state.operators = operators.clone();
    let mut engine = Engine::new(
        runbook,
        baseline,
        reach.transport.as_ref(),
        reach.local.as_ref(),
        reach.prober.as_ref(),
        Managers::standard(),
        &SystemClock,
        &decider,
        recorder,
        operators,
    );
    engine.live = Some(feed);
    let summary = crate::tui::run::run(&engine, live, asks, app, theme).await;
    reach.transport.close().await;
    let summary = summary?;
    let clean =
        !summary.aborted && summary.stops == 0 && summary.results.values().all(|r| *r == Some(HostResult::Done));
    println!(
        "{}: {} (journal: {})",
        runbook.window.name,
        if summary.aborted { "ABORTED" } else { "finished" },
        journal.display()
    );
    for (host, r) in &summary.results {
        println!("  {host}: {}", r.map_or("not started", crate::tui::strings::host_result));
    }
    Ok(if clean { 0 } else { crate::check::exit::DIVERGENCE })
}
