//! `patchdeck check` and `patchdeck demo`.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use eyre::WrapErr;

use super::args::{CheckArgs, DemoArgs, Fresh, Global};
use crate::check::{self, Options};
use crate::pkg::Managers;
use crate::probe::ProbeCache;
use crate::runbook::Runbook;
use crate::session::Reach;
use crate::transport::pool::Progress;

/// Loads the runbook and its baseline; all problems of both are reported together.
pub fn load_inputs(path: &Path) -> eyre::Result<(Runbook, crate::baseline::Baseline)> {
    Ok(crate::runbook::load_with(path, crate::baseline::load)?)
}

/// Progress on stderr: one updating line on a terminal, nothing otherwise (scripts read stdout).
fn progress_printer() -> impl FnMut(Progress<'_>) {
    let tty = std::io::stderr().is_terminal();
    move |p: Progress<'_>| {
        if tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2Kprobing hosts {}/{}  last done: {}", p.done, p.total, p.host.name);
            if p.done == p.total {
                let _ = writeln!(err, "\r\x1b[2K");
            }
            let _ = err.flush();
        }
    }
}

async fn check_with(
    runbook: &Runbook,
    baseline: &crate::baseline::Baseline,
    reach: &Reach,
    opts: &Options,
    json: bool,
) -> u8 {
    let (transport, prober) = (reach.transport.as_ref(), reach.prober.as_ref());
    let report = check::run(runbook, baseline, transport, prober, Managers::standard(), opts, progress_printer()).await;
    reach.transport.close().await;
    if json {
        println!("{}", check::to_json(&report, super::exit::of_check(&report)));
    } else {
        let mut out = anstream::stdout();
        let _ = write!(out, "{}", check::render(&report));
    }
    super::exit::of_check(&report)
}

/// What OpenSSH itself resolves for each host (`ssh -G`): we never turn host-key checking
/// off, and say so when the operator's ssh_config does.
async fn warn_about_ssh_config(global: &Global, runbook: &Runbook, concurrency: usize) {
    let config = global.ssh_config.clone().or_else(|| runbook.ssh_config.clone());
    let hosts = check::window_hosts(runbook);
    let config = config.as_deref();
    let resolved = crate::transport::pool::for_each_host(&hosts, concurrency, |host| async move {
        crate::inventory::ssh_config::resolve(&host, config).await
    })
    .await;
    for (host, r) in resolved {
        match r {
            Ok(r) => {
                for w in crate::inventory::ssh_config::host_key_warnings(&host.name, &r) {
                    eprintln!("warning: {w}");
                }
            }
            Err(e) => eprintln!("warning: {}: ssh -G could not resolve it: {e}", host.name),
        }
    }
}

pub async fn run(global: &Global, args: CheckArgs) -> eyre::Result<u8> {
    let (runbook, baseline) = load_inputs(&args.runbook)?;
    let reach = Reach::for_runbook(&global.reach(), &runbook)?;
    if global.simulate.is_none() {
        warn_about_ssh_config(global, &runbook, args.concurrency).await;
    }
    // Kept between runs: an unchanged host costs a few milliseconds instead of a resolver run.
    // --fresh asks the package manager again (once per distinct package state; --fresh=per-host: every host's
    // own resolver), and keeps the answers for the next check.
    let probe_cache = ProbeCache::default_dir().map(|d| {
        let cache = ProbeCache::persistent(d);
        Arc::new(if args.fresh.is_some() { cache.refreshing() } else { cache })
    });
    let opts = Options {
        concurrency: args.concurrency.max(1),
        probe_timeout: Duration::from_secs(args.timeout),
        probe_cache,
        share_resolver: args.fresh != Some(Fresh::PerHost),
        own_lock: None,
    };
    Ok(check_with(&runbook, &baseline, &reach, &opts, args.json).await)
}

/// The demo window against its simulated fleet: in the cockpit on a terminal; the `check`
/// report of it when stdout or stdin is not a terminal, or with `--check` / `--json`.
pub async fn demo(global: &Global, args: DemoArgs) -> eyre::Result<u8> {
    use std::io::IsTerminal;
    let dir = args.dir.unwrap_or_else(crate::demo::default_dir);
    let runbook_path = crate::demo::extract(&dir, jiff::Timestamp::now()).wrap_err("cannot write the demo files")?;
    let terminal = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if terminal && !args.json && !args.check {
        return super::run::demo_cockpit(global, &runbook_path, &dir.join("fleet.toml"), args.theme).await;
    }
    let (runbook, baseline) = load_inputs(&runbook_path)?;
    let reach = Reach::simulated(&dir.join("fleet.toml"), 0.2)?;
    if !args.json {
        eprintln!("Demo window from {} against a simulated fleet (no real host is touched).\n", dir.display());
    }
    Ok(check_with(&runbook, &baseline, &reach, &Options::default(), args.json).await)
}
