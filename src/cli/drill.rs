//! `patchdeck drill`: rehearse a window with injected faults, in the cockpit (the operators
//! decide) or headless (`--no-tui`: scripted decisions), on a simulated fleet or (`--live`)
//! on real hosts inside a declared drill window.

use std::path::{Path, PathBuf};

use clap::Args;
use eyre::{WrapErr, bail};

use super::args::{DecideArg, Global};
use super::exit;
use super::run::{need_terminal, theme};
use crate::diag::SourceFile;
use crate::drill::{Backend, Drill, Handle, Script, history, scenario};
use crate::engine::clock::Clock;
use crate::engine::decide::Decider;
use crate::engine::event::Event;
use crate::session::{Inputs, Open, Reach, open_journal, operators};
use crate::sim::Fleet;

const PREFIX: &str = "[DRILL] ";

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// The runbook to rehearse.
    #[arg(required_unless_present_any = ["list", "history"])]
    pub runbook: Option<PathBuf>,
    /// A scenario file, or the name of a bundled scenario (see --list).
    #[arg(long, value_name = "FILE|NAME", required_unless_present_any = ["list", "history"])]
    pub scenario: Option<String>,
    /// List the bundled scenarios, one line each.
    #[arg(long, conflicts_with_all = ["runbook", "scenario"])]
    pub list: bool,
    /// Print the drill history as a comparison table.
    #[arg(long, conflicts_with_all = ["runbook", "scenario", "list"])]
    pub history: bool,
    /// The drill history (JSON lines; default $XDG_STATE_HOME/patchdeck/drills.jsonl).
    #[arg(long, value_name = "FILE", env = "PATCHDECK_DRILL_HISTORY")]
    pub history_file: Option<PathBuf>,
    /// Do not append this run to the drill history.
    #[arg(long)]
    pub no_history: bool,
    /// No cockpit: print [DRILL] lines; decisions come from the scenario, then --decide.
    /// In the cockpit the operators decide.
    #[arg(long)]
    pub no_tui: bool,
    /// With --no-tui: what to decide at hard stops once the scenario's `decisions` are used
    /// up (default: abort).
    #[arg(long, value_enum)]
    pub decide: Option<DecideArg>,
    /// The cockpit's theme (dark, light, high-contrast, monochrome, or your own); beats
    /// `theme` in the config file.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// Scales simulated delays (1 = plausible real durations, 0 = instant). Scores use the
    /// drill clock either way.
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub speed: f64,
    /// Drill on the real hosts over ssh (host faults through --fault-cmd).
    #[arg(long)]
    pub live: bool,
    /// The declared drill window, START/END in RFC 3339 (`2026-11-20T14:00Z/2026-11-20T16:00Z`):
    /// --live refuses to run outside it.
    #[arg(long, value_name = "START/END")]
    pub drill_window: Option<String>,
    /// Run --live outside a declared drill window.
    #[arg(long)]
    pub force: bool,
    /// Fault command for --live, run as `CMD ACTION HOST` (`kill-sshd`, `break-web`, and
    /// `restore` after the drill): e.g. `tests/fleet/fault.sh`.
    #[arg(long, value_name = "CMD", requires = "live")]
    pub fault_cmd: Option<String>,
    /// Confirm a --live --no-tui drill (no person at the keyboard).
    #[arg(long)]
    pub yes: bool,
    /// The drill's journal (default: <window>.drill.<scenario>.<time>.journal.jsonl beside the runbook).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Who is drilling (repeat for pairs; default: $PATCHDECK_OPERATORS or $USER).
    #[arg(long, value_name = "NAME")]
    pub operator: Vec<String>,
}

fn say(line: &str) {
    println!("{PREFIX}{line}");
}

/// A `[DRILL]` progress line for an event.
fn drill_line(e: &Event) {
    if let Some(line) = crate::narrate::progress_line(e) {
        say(&format!("{} {line}", jiff::Timestamp::now().strftime("%H:%M:%S")));
    }
}

fn history_path(args: &DrillArgs) -> eyre::Result<PathBuf> {
    args.history_file
        .clone()
        .or_else(history::default_path)
        .ok_or_else(|| eyre::eyre!("no drill history location: set --history-file, $XDG_STATE_HOME or $HOME"))
}

/// `START/END` as two timestamps.
fn parse_window(text: &str) -> eyre::Result<(jiff::Timestamp, jiff::Timestamp)> {
    let (a, b) = text
        .split_once('/')
        .ok_or_else(|| eyre::eyre!("--drill-window wants START/END, e.g. 2026-11-20T14:00:00Z/2026-11-20T16:00:00Z"))?;
    let parse = |s: &str| {
        s.trim().parse::<jiff::Timestamp>().wrap_err_with(|| format!("--drill-window: `{s}` is not an RFC 3339 time"))
    };
    let (a, b) = (parse(a)?, parse(b)?);
    if b <= a {
        bail!("--drill-window: the end must come after the start");
    }
    Ok((a, b))
}

pub async fn run(global: &Global, args: DrillArgs) -> eyre::Result<u8> {
    if args.list {
        for s in scenario::all_bundled() {
            println!("{:<22} {}", s.name, s.description);
        }
        return Ok(0);
    }
    if args.history {
        let path = history_path(&args)?;
        let (entries, bad) = history::read(&path).wrap_err_with(|| format!("cannot read {}", path.display()))?;
        if entries.is_empty() {
            println!("no drills recorded in {} yet", path.display());
        }
        for l in history::table(&entries) {
            println!("{l}");
        }
        if bad > 0 {
            eprintln!("note: {bad} line(s) of {} could not be read and were skipped", path.display());
        }
        return Ok(0);
    }
    let (Some(runbook_path), Some(scenario_name)) = (&args.runbook, &args.scenario) else {
        bail!("a drill needs RUNBOOK and --scenario FILE|NAME (or --list, --history)");
    };
    // In the cockpit the operators decide: scripted answers would take that from them.
    if !args.no_tui && args.decide.is_some() {
        bail!("--decide answers hard stops for nobody at the keyboard: use it with --no-tui");
    }
    let cockpit_theme = if args.no_tui {
        None
    } else {
        let t = theme(args.theme.as_deref())?;
        need_terminal()?;
        Some(t)
    };
    if args.live {
        if global.simulate.is_some() {
            bail!("--live drills real hosts: it cannot be combined with --simulate");
        }
        if args.no_tui && !args.yes {
            bail!("--live --no-tui touches real hosts without a person: add --yes to confirm");
        }
        let now = jiff::Timestamp::now();
        match &args.drill_window {
            Some(w) => {
                let (a, b) = parse_window(w)?;
                if (now < a || now > b) && !args.force {
                    bail!(
                        "now is outside the drill window {w}: --live drills only run inside it (--force to override)"
                    );
                }
            }
            None if !args.force => {
                bail!("--live needs a declared drill window: --drill-window START/END (or --force)")
            }
            None => {}
        }
    }
    let scenario = scenario::load(scenario_name)?;
    let inputs = Inputs::load(runbook_path)?;
    scenario.check(&inputs.runbook)?;
    if args.live
        && let Err(problems) = crate::drill::live::check(&scenario, args.fault_cmd.as_deref())
    {
        bail!("scenario `{}` cannot run --live:\n  {}", scenario.name, problems.join("\n  "));
    }
    let mut runbook = scenario.apply(&inputs.runbook);
    let baseline = &inputs.baseline;
    let decisions = scenario.decisions()?;
    let operators = operators(&args.operator);

    // Who answers: a fleet file (--simulate, or fleet.toml beside the runbook), a fleet
    // derived from the runbook and its baseline, or (--live) the real hosts.
    let beside = runbook_path.parent().unwrap_or(Path::new(".")).join("fleet.toml");
    let fleet = if args.live {
        None
    } else if let Some(f) = global.simulate.as_ref().or(beside.is_file().then_some(&beside)) {
        say(&format!("simulated fleet: {}", f.display()));
        Some(Fleet::from_toml(&SourceFile::read(f)?)?.with_speed(args.speed))
    } else {
        let dropped = crate::drill::fleet::without_command_fingerprints(&mut runbook);
        say("simulated fleet: derived from the runbook's inventory and tested baseline");
        if !dropped.is_empty() {
            say(&format!(
                "note: command fingerprints cannot be simulated without a fleet file and are not checked: {}",
                dropped.join(", ")
            ));
        }
        Some(crate::drill::fleet::derive(&runbook, baseline).with_speed(args.speed))
    };

    let journal_path = args.journal.clone().unwrap_or_else(|| {
        let now = jiff::Timestamp::now();
        let stamp = format!("{}{:03}Z", now.strftime("%Y%m%dT%H%M%S."), now.subsec_millisecond());
        let name = format!("{}.drill.{}.{stamp}", runbook.window.name, scenario.name);
        crate::journal::default_path(runbook_path.parent().unwrap_or(Path::new(".")), &name)
    });
    let journal = open_journal(&inputs, &journal_path, Open::Create, &operators, true)?;
    say(&format!(
        "drill `{}` of window {} ({}): {}",
        scenario.name,
        runbook.window.name,
        if args.live { "LIVE hosts" } else { "simulated" },
        scenario.description
    ));
    say(&format!("journal: {}", journal_path.display()));

    let speed = args.speed.max(0.0);
    if cockpit_theme.is_some() {
        say("decisions: yours, in the cockpit (the scenario's scripted decisions apply with --no-tui)");
    }
    let script = Script::new(
        &scenario.name,
        decisions,
        args.decide.map(DecideArg::into),
        operators.clone(),
        speed,
        Box::new(|l: String| say(&l)),
    );
    let (in_cockpit, asks) = crate::tui::decider::TuiDecider::new();
    let decider: &dyn Decider = if cockpit_theme.is_some() { &in_cockpit } else { &script };

    let reach = match &fleet {
        Some(f) => Reach::of_fleet(f.clone()),
        None => Reach::for_runbook(&global.reach(), &runbook)?,
    };
    let backend = match &fleet {
        Some(f) => Backend::Sim(f.clone()),
        None => Backend::Live { hook: args.fault_cmd.clone() },
    };
    let handle = Handle::new(runbook.window.starts, args.live);
    let mut drill = Drill {
        runbook: &runbook,
        baseline,
        scenario: &scenario,
        transport: reach.transport.as_ref(),
        local: reach.local.as_ref(),
        prober: reach.prober.as_ref(),
        backend,
        handle: handle.clone(),
        speed,
        decider,
        operators: operators.clone(),
        live: None,
    };
    let outcome = match cockpit_theme {
        Some(theme) => {
            use crate::tui::app::{App, Mode, WindowInfo};
            // Events and output lines reach the cockpit in order through one feed.
            let (feed, live) = crate::engine::live::feed(crate::engine::live::CAPACITY);
            drill.live = Some(feed);
            let mut app = App::new(Mode::Live, WindowInfo::from_runbook(&runbook), handle.now());
            app.drill = true;
            app.state.operators = operators;
            let window = drill.run(Box::new(journal.sink), None);
            let drift = crate::tui::run::DriftSource {
                transport: &*reach.transport,
                hosts: &runbook.hosts,
                staging: &runbook.baseline.host,
            };
            crate::tui::run::drive(window, &handle, live, asks, app, theme, drift).await
        }
        None => drill.run(Box::new(journal.sink), Some(crate::drill::Tell(std::sync::Arc::new(drill_line)))).await,
    };
    reach.transport.close().await;
    let outcome = outcome?;
    for l in outcome.scorecard.render() {
        say(&l);
    }
    if !args.no_history {
        let path = history_path(&args)?;
        let entry = history::Entry::from_scorecard(&outcome.scorecard, Some(&journal_path));
        match history::append(&path, &entry) {
            Ok(()) => say(&format!("history: {}", path.display())),
            Err(e) => eprintln!("patchdeck: cannot append to the drill history {}: {e}", path.display()),
        }
    }
    Ok(if outcome.scorecard.passed { exit::CLEAN } else { exit::NOT_CLEAN })
}
