//! The probe: ONE round trip per host that gathers everything `check` needs (package
//! facts from the package manager, plus the runbook's config fingerprints).
//!
//! Framing: the script prints sections, each starting with a line `@@patchdeck:NAME`.
//! Package sections belong to the [`PackageManager`]; fingerprint sections are
//! `fp.N` (N = index into the runbook's fingerprints) and are built here.

mod fingerprint;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use fingerprint::{FpValue, normalize_command_output, sha256_hex};

use crate::inventory::Host;
use crate::pkg::{PackageManager, ParseError, PkgFacts};
use crate::runbook::Fingerprint;
use crate::transport::{Command, Purpose, Transport, TransportError};

/// Marks the start of a section in probe output.
pub const SECTION_MARK: &str = "@@patchdeck:";

/// Everything one probe learned about a host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    pub pkg: PkgFacts,
    /// Fingerprint label (see [`Fingerprint::label`]) -> value.
    pub fingerprints: BTreeMap<String, FpValue>,
}

/// Why a host could not be probed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{host}: probe failed (exit {status:?}): {stderr}")]
    Failed { host: String, status: Option<i32>, stderr: String },
    #[error("{host}: {source}")]
    Parse { host: String, source: ParseError },
}

/// The probe command for a host: package sections, then fingerprint sections.
/// Everything runs with the C locale so output is the same on every host.
pub fn command(pm: &dyn PackageManager, fingerprints: &[Fingerprint], timeout: Duration) -> Command {
    let mut script = String::from("export LC_ALL=C LANG=C LANGUAGE=C\n");
    script.push_str(&pm.probe_script());
    script.push('\n');
    for (i, fp) in fingerprints.iter().enumerate() {
        script.push_str(&format!("echo '{SECTION_MARK}fp.{i}'\n"));
        script.push_str(&fingerprint::script(fp));
        script.push('\n');
    }
    script.push_str("exit 0\n");
    Command {
        script,
        purpose: Purpose::Probe { fingerprints: fingerprints.to_vec() },
        // Reading package state and most config files needs no root; files that do
        // are reported as unreadable rather than escalating.
        needs_root: false,
        timeout,
    }
}

/// Splits probe output into sections. Text before the first mark is ignored (login banners).
/// A section named twice keeps its first body: a later duplicate can only be noise or forgery.
pub fn split_sections(stdout: &str) -> BTreeMap<String, String> {
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in stdout.split_inclusive('\n') {
        if let Some(name) = line.trim_end().strip_prefix(SECTION_MARK) {
            if let Some((n, body)) = current.take() {
                sections.entry(n).or_insert(body);
            }
            current = Some((name.to_string(), String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
        }
    }
    if let Some((n, body)) = current {
        sections.entry(n).or_insert(body);
    }
    sections
}

/// Parses full probe output into facts.
pub fn parse(pm: &dyn PackageManager, fingerprints: &[Fingerprint], stdout: &str) -> Result<HostFacts, ParseError> {
    let sections = split_sections(stdout);
    let pkg = pm.parse_probe(&sections)?;
    let fingerprints = fingerprints
        .iter()
        .enumerate()
        .map(|(i, fp)| {
            let body = sections.get(&format!("fp.{i}")).map(String::as_str);
            (fp.label(), fingerprint::parse(fp, body))
        })
        .collect();
    Ok(HostFacts { pkg, fingerprints })
}

/// Probes one host: one command, one round trip.
pub async fn probe_host(
    transport: &dyn Transport,
    pm: &dyn PackageManager,
    host: &Host,
    fingerprints: &[Fingerprint],
    timeout: Duration,
) -> Result<HostFacts, ProbeError> {
    let cmd = command(pm, fingerprints, timeout);
    let out = transport.exec(host, &cmd).await?;
    if !out.success() {
        let stderr = crate::safe_text::for_terminal(out.stderr_lossy().trim());
        return Err(ProbeError::Failed { host: host.name.clone(), status: out.status, stderr });
    }
    parse(pm, fingerprints, &out.stdout_lossy()).map_err(|source| ProbeError::Parse { host: host.name.clone(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_and_ignore_banner_and_duplicates() {
        let out = "Welcome!\n@@patchdeck:os\nID=debian\n@@patchdeck:fp.0\nabc  /x\n@@patchdeck:os\nID=evil\n";
        let s = split_sections(out);
        assert_eq!(s.len(), 2);
        assert_eq!(s["os"], "ID=debian\n");
        assert_eq!(s["fp.0"], "abc  /x\n");
    }
}
