//! `patchdeck rollback JOURNAL`: rolls hosts back from a window's journal (its snapshots
//! and steps' rollbacks), with the same verification as in the window, appending to the
//! same journal under its lock: during the window (from another terminal, once the cockpit
//! has let go), after it, after a crash. The window itself is not resumed.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use eyre::{WrapErr, bail};

use super::args::{DecideArg, Global, RollbackArgs};
use super::exit;
use super::run::Printer;
use crate::engine::Until;
use crate::engine::event::{Event, HostResult, Request};
use crate::engine::state::RollbackCheck;
use crate::journal::replay;
use crate::session::headless::Headless;
use crate::session::{Inputs, Open, Reach, Session};

/// The runbook a journal names: as written, else beside the journal.
fn runbook_of(journal: &Path, named: &str) -> PathBuf {
    let p = PathBuf::from(named);
    if p.is_absolute() || p.exists() {
        return p;
    }
    let beside = journal.parent().unwrap_or(Path::new(".")).join(p.file_name().unwrap_or_default());
    if beside.exists() { beside } else { p }
}

fn confirm(question: &str) -> eyre::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("nobody to confirm on this terminal: add --yes to roll back");
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

pub async fn rollback(global: &Global, args: RollbackArgs) -> eyre::Result<u8> {
    let header = replay::<Event>(&args.journal)
        .wrap_err_with(|| format!("cannot read the journal {}", args.journal.display()))?
        .header;
    let runbook = args.runbook.clone().unwrap_or_else(|| runbook_of(&args.journal, &header.runbook));
    let inputs = Inputs::load(&runbook)
        .wrap_err_with(|| format!("the window's runbook {} (give it with --runbook if it moved)", runbook.display()))?;
    let operators = crate::session::operators(&args.operator);
    let mut reach_opts = global.reach();
    reach_opts.local_output = Some(crate::session::reach::local_output_dir(&args.journal));
    let reach = Reach::for_runbook(&reach_opts, &inputs.runbook)?;
    let session = Session::open(inputs, reach, &args.journal, Open::Resume, operators)?;
    let rb = &session.inputs.runbook;

    let with_changes: Vec<String> = session
        .recorder
        .with_state(|s| s.hosts.iter().filter(|(_, h)| h.has_changes()).map(|(n, _)| n.clone()).collect());
    for h in &args.host {
        if rb.host(h).is_none() {
            bail!(
                "{h} is not a host of {} (its hosts: {})",
                rb.window.name,
                rb.hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
    }
    if let Some(w) = &args.wave
        && !rb.waves.iter().any(|x| &x.name == w)
    {
        bail!("{w} is not a wave of {}", rb.window.name);
    }
    let asked: Vec<String> = if args.all {
        with_changes.clone()
    } else if let Some(w) = &args.wave {
        let wave = rb.waves.iter().find(|x| &x.name == w).map(|x| x.hosts.clone()).unwrap_or_default();
        wave.into_iter().filter(|h| with_changes.contains(h)).collect()
    } else {
        args.host.iter().filter(|h| with_changes.contains(h)).cloned().collect()
    };
    if !args.all && args.wave.is_none() && args.host.is_empty() {
        bail!(
            "say what to roll back: --host HOST (repeatable), --wave WAVE or --all. Hosts with changes not undone: {}",
            if with_changes.is_empty() { "none".to_string() } else { with_changes.join(", ") }
        );
    }
    for h in args.host.iter().filter(|h| !with_changes.contains(h)) {
        println!("{h}: nothing to undo (no change of this window is left on it)");
    }
    if asked.is_empty() {
        session.reach.transport.close().await;
        return Ok(exit::CLEAN);
    }
    if !args.yes && !confirm(&format!("Roll back {} host(s): {}?", asked.len(), asked.join(", ")))? {
        println!("nothing rolled back");
        session.reach.transport.close().await;
        return Ok(exit::CLEAN);
    }

    let decider = Headless {
        decide: args.decide.map(DecideArg::into),
        start_early: None,
        operators: session.operators.clone(),
        say: Box::new(|l| println!("{l}")),
    };
    println!("journal: {}", session.journal.display());
    session.recorder.subscribe(Printer { prefix: "", line: crate::narrate::progress_line });
    let engine = session.engine(&decider, None, Until::Finished);
    let by = session.operators.clone();
    engine.take_up().await?;
    if args.all {
        engine.request(Request::RollbackAll, by).await?;
    } else if let Some(w) = &args.wave {
        engine.request(Request::RollbackWave { wave: w.clone(), hosts: asked.clone() }, by).await?;
    } else {
        for h in &asked {
            engine.request(Request::RollbackHost { host: h.clone() }, by.clone()).await?;
        }
    }
    let result = engine.rollbacks_only().await;
    session.reach.transport.close().await;
    result?;
    let standings = session.recorder.with_state(|s| {
        asked
            .iter()
            .filter_map(|h| s.host(h).map(|st| format!("{h}: {}", crate::narrate::standing(st.standing()))))
            .collect::<Vec<_>>()
    });
    for line in standings {
        println!("{line}");
    }
    let ok = session.recorder.with_state(|s| {
        asked.iter().all(|h| {
            s.host(h).is_some_and(|st| {
                st.result == Some(HostResult::RolledBack)
                    && st.rollback == Some(RollbackCheck::Verified)
                    && !st.has_changes()
            })
        })
    });
    Ok(if ok { exit::CLEAN } else { exit::NOT_CLEAN })
}
