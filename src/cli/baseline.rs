//! `patchdeck baseline capture`.

use std::time::Duration;

use eyre::{WrapErr, eyre};

use super::args::{CaptureArgs, Global};
use super::fleet::Reach;
use crate::baseline;
use crate::pkg::Managers;

pub async fn capture(global: &Global, args: CaptureArgs) -> eyre::Result<u8> {
    let runbook = crate::runbook::load(&args.runbook)?;
    let name = args.host.clone().unwrap_or_else(|| runbook.baseline.host.clone());
    let host = runbook.host(&name).cloned().ok_or_else(|| {
        eyre!("host `{name}` is not in the runbook's inventory: add it there (it need not be in a wave)")
    })?;
    let reach = Reach::for_runbook(global, &runbook)?;
    let result = baseline::capture::capture(
        reach.transport.as_ref(),
        Managers::standard(),
        &host,
        &runbook.fingerprints,
        args.from.into(),
        Duration::from_secs(args.timeout),
    )
    .await;
    reach.transport.close().await;
    let b = result?;
    let text = baseline::to_toml(&b);
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text).wrap_err_with(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "baseline of {} written to {}: {} updates, {} fingerprints",
                b.host,
                path.display(),
                b.updates.len(),
                b.fingerprints.len()
            );
        }
        None => print!("{text}"),
    }
    Ok(0)
}
