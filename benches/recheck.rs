//! `patchdeck check` twice (or more) in one process, over the same [`SshTransport`]: the
//! first pass opens one ssh master per host (cold), every later pass reuses them (warm, the
//! re-check a cockpit does during a window). Prints one line per pass on stdout:
//!
//! ```text
//! pass 1 cold 12.345 s hosts 50 clean 50 reused 0 shared 49
//! pass 2 warm 3.210 s hosts 50 clean 50 reused 50 shared 0
//! ```
//!
//! Like the engine's re-check before each host's change, the passes share one in-memory
//! probe cache: a host whose package state did not move is not asked to resolve again
//! (`reused`); hosts whose apt inputs are identical share one resolver run (`shared`). With
//! `--fresh` nothing is kept between passes: every pass asks apt anew, once per distinct
//! package state.
//!
//! Run by `tests/fleet/bench.sh` (which parses those lines); by hand:
//! `cargo bench --bench recheck -- RUNBOOK [PASSES] [CONCURRENCY]`. Not a criterion bench:
//! each pass takes seconds against a real fleet and criterion's statistics would only hide
//! the cold/warm split. The timed part is exactly what `patchdeck check` does after loading
//! its inputs: `check::run` (probe every host, diff, health checks), without printing.

use std::path::PathBuf;
use std::time::Instant;

use patchdeck::check::{self, Options};
use patchdeck::health::NetProber;
use patchdeck::pkg::Managers;
use patchdeck::probe::Resolver;
use patchdeck::transport::Transport;
use patchdeck::transport::ssh::{SshOptions, SshTransport};

fn main() -> eyre::Result<()> {
    // `cargo bench` passes `--bench`; ignore flags, keep positionals.
    let fresh = std::env::args().any(|a| a == "--fresh");
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let Some(runbook_path) = args.first().map(PathBuf::from) else {
        // `cargo test --all-targets` runs every bench binary once, with no arguments (and
        // without `--bench`, which `cargo bench` passes): this bench needs a live fleet, so
        // there it has nothing to do. Asked to bench without a runbook is a usage error.
        if !std::env::args().any(|a| a == "--bench") {
            println!("recheck: needs a fleet runbook (cargo bench --bench recheck -- RUNBOOK); nothing to run here");
            return Ok(());
        }
        eprintln!("usage: recheck RUNBOOK [PASSES=6] [CONCURRENCY=32]");
        std::process::exit(2);
    };
    let passes: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(6);
    let concurrency: usize =
        args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(check::Options::default().concurrency);

    let runbook = patchdeck::runbook::load(&runbook_path)?;
    let baseline = patchdeck::baseline::load(&runbook.baseline.file)?;
    let transport = SshTransport::new(SshOptions { config_file: runbook.ssh_config.clone(), ..Default::default() })?;
    let probe_cache = (!fresh).then(|| std::sync::Arc::new(patchdeck::probe::ProbeCache::in_memory()));
    let opts = Options { concurrency, probe_cache, ..Default::default() };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        for pass in 1..=passes {
            let started = Instant::now();
            let report =
                check::run(&runbook, &baseline, &transport, &NetProber::default(), Managers::standard(), &opts, |_| {})
                    .await;
            let secs = started.elapsed().as_secs_f64();
            let clean = report.hosts.iter().filter(|h| h.is_clean()).count();
            let kind = if pass == 1 { "cold" } else { "warm" };
            let count = |r| report.hosts.iter().filter(|h| h.resolver == Some(r)).count();
            let (reused, shared) = (count(Resolver::Reused), count(Resolver::Shared));
            println!(
                "pass {pass} {kind} {secs:.3} s hosts {} clean {clean} reused {reused} shared {shared}",
                report.hosts.len()
            );
        }
        transport.close().await;
    });
    Ok(())
}
