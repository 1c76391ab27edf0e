//! The probe's output on a simulated host, as the real script would print it: the prelude's
//! `os` and `manager` sections, the host's manager's own sections (when the probe looks for
//! that manager: [`crate::pkg::looks_for`]), then the fingerprint sections.

use std::fmt::Write;
use std::sync::Arc;

use super::{HostState, SimManager};
use crate::pkg::{MANAGER_SECTION, OS_SECTION, looks_for};
use crate::probe::SECTION_MARK;
use crate::runbook::Fingerprint;

pub(crate) fn section(out: &mut String, name: &str) {
    let _ = writeln!(out, "{SECTION_MARK}{name}");
}

/// The whole probe output of `h` for this probe `script`. `Err` when `h` runs a manager
/// the simulator cannot play.
pub fn output(
    h: &HostState,
    managers: &[Arc<dyn SimManager>],
    script: &str,
    fingerprints: &[Fingerprint],
) -> Result<String, String> {
    let manager = managers
        .iter()
        .find(|m| m.name() == h.manager)
        .ok_or_else(|| format!("the simulator cannot play package manager `{}`", h.manager))?;
    let mut out = String::new();
    section(&mut out, OS_SECTION);
    let os = &h.os;
    let _ = writeln!(
        out,
        "PRETTY_NAME=\"{}\"\nVERSION_ID=\"{}\"\nVERSION_CODENAME={}\nID={}",
        os.pretty_name, os.version_id, os.codename, os.id
    );
    // A real host finds only the managers the probe looks for.
    let found = looks_for(script, manager.name());
    section(&mut out, MANAGER_SECTION);
    let _ = writeln!(out, "{}", if found { manager.name() } else { "" });
    if found {
        out.push_str(&manager.probe(h));
    }
    if script.contains(&format!("{SECTION_MARK}{}", crate::drift::SECTION)) {
        drift(&mut out, h);
    }
    for (i, fp) in fingerprints.iter().enumerate() {
        section(&mut out, &format!("fp.{i}"));
        match fp {
            Fingerprint::Path(p) => match h.files.get(p) {
                Some(content) => {
                    let _ = writeln!(out, "{}", crate::probe::sha256_hex(content.as_bytes()));
                }
                None => match h.tested_sha256.get(p) {
                    Some(sha) => {
                        let _ = writeln!(out, "{sha}");
                    }
                    None => out.push_str("@@missing\n"),
                },
            },
            Fingerprint::Command(c) => {
                let _ = writeln!(out, "{}", h.commands.get(c).map(String::as_str).unwrap_or(""));
            }
        }
    }
    Ok(out)
}

/// The configuration map's section as the real drift probe prints it for the host's files
/// under /etc (checksums only; the simulator's files name no host, so nothing to normalize).
fn drift(out: &mut String, h: &HostState) {
    section(out, crate::drift::SECTION);
    for (path, content) in h.files.iter().filter(|(p, _)| p.starts_with("/etc/")) {
        let sum = &crate::probe::sha256_hex(content.as_bytes())[..32];
        let _ = writeln!(out, "sum\t{sum}\t{path}");
    }
    out.push_str("end\n");
}
