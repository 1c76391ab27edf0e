//! The simulated fleet a drill runs against: the runbook's own `fleet.toml` when it has one
//! beside it, else one derived from its inventory and tested baseline.

use std::collections::BTreeMap;

use crate::baseline::Baseline;
use crate::probe::FpValue;
use crate::runbook::{Fingerprint, Runbook};
use crate::sim::{Fleet, HostState, RepoVersion};

/// Every inventory host gets the baseline's `from` versions installed and its `to` versions
/// in its repositories, so it diverges from what was tested in nothing.
///
/// Config fingerprints: a file's content cannot be recovered from the sha256 the baseline
/// recorded, so derived hosts answer a path fingerprint with that recorded hash while they
/// hold no content of their own for the path (a `drift` fault gives them some, which then
/// hashes differently). Command fingerprints cannot be matched this way (the probe hashes
/// the command's output on our side): [`without_command_fingerprints`] drops them from the
/// drill's copy of the runbook.
pub fn derive(runbook: &Runbook, baseline: &Baseline) -> Fleet {
    let installed: BTreeMap<String, String> =
        baseline.updates.iter().filter_map(|u| Some((u.name.to_string(), u.from.as_ref()?.to_string()))).collect();
    // A package the tested upgrade newly installed is brought in by the upgrades again here.
    let upgraded = baseline.updates.iter().find(|u| u.from.is_some()).map(|u| u.name.to_string());
    let repo: Vec<RepoVersion> = baseline
        .updates
        .iter()
        .map(|u| RepoVersion {
            name: u.name.to_string(),
            version: u.to.to_string(),
            origin: if u.origin.is_empty() { "Debian:12.12/stable".into() } else { u.origin.clone() },
            pulled_in_by: if u.from.is_none() { upgraded.clone() } else { None },
        })
        .collect();
    let tested_sha256: BTreeMap<String, String> = baseline
        .fingerprints
        .iter()
        .filter_map(|f| match (&f.fingerprint, &f.value) {
            (Fingerprint::Path(p), FpValue::Sha256(sha)) => Some((p.clone(), sha.clone())),
            _ => None,
        })
        .collect();
    Fleet::from_hosts(runbook.hosts.iter().map(|h| HostState {
        name: h.name.clone(),
        os: baseline.os.clone(),
        installed: installed.clone(),
        mirror: installed.clone(),
        repo: repo.clone(),
        tested_sha256: tested_sha256.clone(),
        reachable: true,
        healthy: true,
        ..Default::default()
    }))
}

/// The runbook without command fingerprints (see [`derive`]); the dropped labels.
pub fn without_command_fingerprints(runbook: &mut Runbook) -> Vec<String> {
    let dropped =
        runbook.fingerprints.iter().filter(|f| matches!(f, Fingerprint::Command(_))).map(Fingerprint::label).collect();
    runbook.fingerprints.retain(|f| !matches!(f, Fingerprint::Command(_)));
    dropped
}
