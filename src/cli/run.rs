//! `patchdeck run`: the window, journaled, in the cockpit or (`--no-tui`) without one;
//! `patchdeck watch`: the cockpit over a journal, read-only. The window itself is put
//! together by [`crate::session`]; this is argument handling and what goes to the screen.

use std::io::Write;
use std::path::Path;

use eyre::bail;

use super::args::{DecideArg, Global, RunArgs};
use super::exit;
use crate::engine::event::{Event, Request};
use crate::engine::recorder::Listener;
use crate::engine::{Decider, Engine, Summary, Until};
use crate::session::headless::Headless;
use crate::session::signals::Signals;
use crate::session::{Inputs, Open, Reach, Session, beside};

/// Prints `line(event)` for every journaled event, `prefix` first (drills: `[DRILL] `).
pub(super) struct Printer {
    pub prefix: &'static str,
    pub line: fn(&Event) -> Option<String>,
}

impl Listener for Printer {
    fn event(&self, e: &Event) -> bool {
        if let Some(line) = (self.line)(e) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}{} {line}", self.prefix, jiff::Timestamp::now().strftime("%H:%M:%S"));
        }
        true
    }
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
    let inputs = Inputs::load(&args.runbook)?;
    let starts = inputs.runbook.window.starts;
    if args.no_tui && !args.resume && args.start_early.is_none() && jiff::Timestamp::now() < starts {
        bail!(
            "the window starts at {}: --no-tui does not start early. Run it then, or give --start-early REASON (journaled)",
            starts.strftime("%Y-%m-%d %H:%MZ")
        );
    }
    let journal = args.journal.clone().unwrap_or_else(|| inputs.default_journal());
    // Held until this process ends: a second `run` of this window here is refused.
    let _one_run = crate::lock::run::RunLock::take(
        &crate::lock::run::default_dir(),
        &inputs.runbook.window.name,
        &inputs.path,
        &journal,
    )?;
    let operators = crate::session::operators(&args.operator);
    let mut reach_opts = global.reach();
    reach_opts.local_output = Some(crate::session::reach::local_output_dir(&journal));
    let reach = Reach::for_runbook(&reach_opts, &inputs.runbook)?;
    let open = if args.resume { Open::Resume } else { Open::Create };
    let session = Session::open(inputs, reach, &journal, open, operators)?;
    if args.resume && session.finished() && cockpit_theme.is_none() {
        println!(
            "{} has finished: --resume changes nothing. Roll hosts back with `patchdeck rollback {}`",
            session.inputs.runbook.window.name,
            session.journal.display()
        );
        return Ok(exit::CLEAN);
    }
    let code = match cockpit_theme {
        Some(theme) => cockpit(&session, theme).await,
        None => {
            let decider = Headless {
                decide: args.decide.map(DecideArg::into),
                start_early: args.start_early.clone(),
                operators: session.operators.clone(),
                say: Box::new(|l| println!("{l}")),
            };
            headless(&session, &decider, "").await
        }
    };
    session.reach.transport.close().await;
    code
}

/// A window with nobody at the keys: progress lines, the standing orders, and a signal
/// leaves it paused (running steps end first; nothing new starts).
pub(super) async fn headless(session: &Session, decider: &dyn Decider, prefix: &'static str) -> eyre::Result<u8> {
    println!("{prefix}journal: {}", session.journal.display());
    session.recorder.subscribe(Printer { prefix, line: crate::narrate::progress_line });
    let engine = session.engine(decider, None, Until::Finished);
    let summary = run_minding_signals(&engine, &session.operators).await?;
    // Where every host stands, as the record says: the line an operator reads last.
    let standings = session.recorder.with_state(|s| {
        s.hosts
            .iter()
            .map(|(name, h)| format!("{prefix}{name}: {}", crate::narrate::standing(h.standing())))
            .collect::<Vec<_>>()
    });
    for line in standings {
        println!("{line}");
    }
    if summary.paused {
        println!(
            "{prefix}window left paused: resume with `patchdeck run {} --resume --journal {}`",
            session.inputs.path.display(),
            session.journal.display()
        );
    }
    Ok(exit::of_window(&summary))
}

/// Runs the engine; SIGTERM, SIGINT or SIGHUP leave the window paused, journaled. The pause
/// is journaled beside the running window, never instead of polling it: the window may hold
/// the journal's writer while its own write is synced.
async fn run_minding_signals(engine: &Engine<'_>, operators: &[String]) -> eyre::Result<Summary> {
    let mut signals = Signals::new()?;
    let run = engine.run();
    tokio::pin!(run);
    let mut ended: Option<eyre::Result<Summary>> = None;
    loop {
        tokio::select! {
            r = &mut run, if ended.is_none() => return r,
            name = signals.recv() => {
                eprintln!("patchdeck: {name}: leaving the window paused; running steps finish first, nothing new starts");
                let pause = Request::Pause { reason: format!("{name} received") };
                beside(&mut run, &mut ended, engine.request(pause, operators.to_vec())).await?;
                if let Some(r) = ended.take() {
                    return r;
                }
            }
        }
    }
}

/// The demo window in the cockpit, against its simulated fleet.
pub async fn demo_cockpit(global: &Global, runbook: &Path, fleet: &Path, theme: Option<String>) -> eyre::Result<u8> {
    let global = Global { simulate: Some(fleet.to_path_buf()), sim_speed: Some(1.0), ..global.clone() };
    let args = RunArgs {
        runbook: runbook.to_path_buf(),
        no_tui: false,
        yes: false,
        decide: None,
        start_early: None,
        resume: false,
        journal: None,
        operator: Vec::new(),
        theme,
    };
    run(&global, args).await
}

/// How long a modal that opens by itself holds the keys: `PATCHDECK_KEY_GRACE_MS`, else
/// [`crate::tui::app::GRACE`]. Longer suits a pair whose view lags (tmux over a slow link).
fn key_grace() -> eyre::Result<std::time::Duration> {
    match std::env::var("PATCHDECK_KEY_GRACE_MS") {
        Err(_) => Ok(crate::tui::app::GRACE),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(ms) if ms <= 10_000 => Ok(std::time::Duration::from_millis(ms)),
            _ => bail!("PATCHDECK_KEY_GRACE_MS={v}: give milliseconds, 0 to 10000 (the default is 600)"),
        },
    }
}

/// The window under the cockpit; rollbacks stay possible after it ends, until the
/// operators leave.
async fn cockpit(session: &Session, theme: crate::tui::theme::Theme) -> eyre::Result<u8> {
    use crate::tui::app::{App, Mode, WindowInfo};
    let grace = key_grace()?;
    let (decider, asks) = crate::tui::decider::TuiDecider::new();
    // Events and output lines reach the cockpit in order through one feed.
    let (feed, live) = crate::engine::live::feed(crate::engine::live::CAPACITY);
    session.recorder.subscribe(feed.clone());
    let engine = session.engine(&decider, Some(feed), Until::Closed);
    let runbook = &session.inputs.runbook;
    let mut app = App::new(Mode::Live, WindowInfo::from_runbook(runbook), jiff::Timestamp::now());
    app.grace = grace;
    for (at, e) in session.replayed.iter().cloned() {
        app.on_event(at, e);
    }
    app.mark_interrupted();
    app.state.operators = session.operators.clone();
    let drift = crate::tui::run::DriftSource {
        transport: &*session.reach.transport,
        hosts: &runbook.hosts,
        staging: &runbook.baseline.host,
    };
    let summary = crate::tui::run::drive(engine.run(), &engine, live, asks, app, theme, drift).await?;
    // The terminal may be gone (SIGHUP): what cannot be printed is in the journal.
    let mut out = std::io::stdout().lock();
    let verdict = if summary.paused {
        format!(
            "left PAUSED: resume with `patchdeck run {} --resume --journal {}`",
            session.inputs.path.display(),
            session.journal.display()
        )
    } else if summary.aborted {
        "ABORTED".into()
    } else if summary.finished {
        "finished".into()
    } else {
        "not finished".into()
    };
    let _ = writeln!(out, "{}: {verdict} (journal: {})", runbook.window.name, session.journal.display());
    for (host, r) in &summary.results {
        let _ = writeln!(out, "  {host}: {}", r.map_or("not started", crate::narrate::host_result));
    }
    Ok(exit::of_window(&summary))
}
