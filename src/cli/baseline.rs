//! `patchdeck baseline capture`.

use std::time::Duration;

use eyre::eyre;

use super::args::{CaptureArgs, Global};
use super::output;
use crate::baseline;
use crate::pkg::Managers;
use crate::session::Reach;

pub async fn capture(global: &Global, args: CaptureArgs) -> eyre::Result<u8> {
    let inputs = [(args.runbook.as_path(), "the runbook")];
    let rules = output::Rules { force: args.force, inputs: &inputs };
    if let Some(path) = &args.output {
        output::check(path, rules)?; // before the capture, whose result would have nowhere to go
    }
    let runbook = crate::runbook::load(&args.runbook)?;
    let name = args.host.clone().unwrap_or_else(|| runbook.baseline.host.clone());
    let host = runbook.host(&name).cloned().ok_or_else(|| {
        eyre!("host `{name}` is not in the runbook's inventory: add it there (it need not be in a wave)")
    })?;
    let reach = Reach::for_runbook(&global.reach(), &runbook)?;
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
            output::write(path, text.as_bytes(), rules)?;
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
