//! `patchdeck baseline capture`: record what staging is about to get (or just got), and
//! what its config looks like, over the same transport and probe as `check`.

use std::time::Duration;

use eyre::{WrapErr, bail, eyre};

use super::{Baseline, Source, TestedFingerprint, TestedUpdate};
use crate::inventory::Host;
use crate::pkg::Managers;
use crate::probe::{FpValue, probe_host};
use crate::runbook::Fingerprint;
use crate::transport::{Command, Transport};

/// Captures a baseline from `host`.
pub async fn capture(
    transport: &dyn Transport,
    managers: &Managers,
    host: &Host,
    fingerprints: &[Fingerprint],
    source: Source,
    timeout: Duration,
) -> eyre::Result<Baseline> {
    let facts = probe_host(transport, managers, host, fingerprints, timeout)
        .await
        .wrap_err_with(|| format!("cannot probe staging host {}", host.name))?;
    // The probe named the manager; its history is read by the same one.
    let pm = managers.named(&facts.manager).wrap_err_with(|| format!("cannot probe staging host {}", host.name))?;

    let updates: Vec<TestedUpdate> = match source {
        Source::Pending => facts
            .pkg
            .pending
            .iter()
            .map(|p| TestedUpdate {
                name: p.name.clone(),
                from: p.from.clone(),
                to: p.to.clone(),
                origin: p.origin.clone(),
            })
            .collect(),
        Source::History => {
            let out = transport
                .exec(host, &Command::shell(pm.history_script(), timeout))
                .await
                .wrap_err_with(|| format!("cannot read the package history of {}", host.name))?;
            if !out.success() {
                bail!("{}: reading the package history failed: {}", host.name, out.stderr_lossy().trim());
            }
            pm.parse_last_upgrade(&out.stdout_lossy())
                .wrap_err_with(|| format!("{}: cannot read the last upgrade from its history", host.name))?
                .into_iter()
                .map(|p| TestedUpdate { name: p.name, from: p.from, to: p.to, origin: p.origin })
                .collect()
        }
    };
    if updates.is_empty() {
        bail!(
            "{} has no {} updates: nothing to baseline. {}",
            host.name,
            if source == Source::Pending { "pending" } else { "recorded" },
            if source == Source::Pending {
                "If staging was already upgraded, use `--from history`."
            } else {
                "Is this the host that was upgraded and tested?"
            }
        );
    }

    if facts.drift.is_none() {
        bail!(
            "{}: the probe did not return the configuration map (its answer was cut short): capture again",
            host.name
        );
    }
    let mut tested = Vec::new();
    for fp in fingerprints {
        match facts.fingerprints.get(&fp.label()) {
            Some(FpValue::Error(e)) => bail!("{}: cannot fingerprint {}: {e}", host.name, fp.label()),
            Some(value) => tested.push(TestedFingerprint { fingerprint: fp.clone(), value: value.clone() }),
            None => return Err(eyre!("{}: the probe returned no value for {}", host.name, fp.label())),
        }
    }

    Ok(Baseline {
        host: host.name.clone(),
        captured_at: jiff::Timestamp::now().round(jiff::Unit::Second).unwrap_or_else(|_| jiff::Timestamp::now()),
        source,
        os: facts.pkg.os.clone(),
        updates,
        fingerprints: tested,
        drift: facts.drift.clone(),
    })
}
