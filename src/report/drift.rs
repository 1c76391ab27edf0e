//! The change record's "Configuration drift" section: per host, what its configuration map
//! showed differing from staging's, by area (only when there was any).

use std::fmt::Write;

use super::model::Model;
use super::text::{code, esc, version};

pub fn section(out: &mut String, m: &Model) {
    let per_host: Vec<(&str, Vec<&crate::diff::Finding>)> = m
        .divergences()
        .into_iter()
        .map(|(host, findings)| (host, findings.into_iter().filter(|f| f.class.drift_area().is_some()).collect()))
        .filter(|(_, f): &(&str, Vec<_>)| !f.is_empty())
        .collect();
    if per_host.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Configuration drift discovered\n");
    let _ = writeln!(out, "Differences from the staging host's configuration map that no fingerprint listed.\n");
    for (host, mut findings) in per_host {
        findings.sort_by_key(|f| (f.class.drift_area(), f.subject.clone()));
        let _ = writeln!(out, "### {}\n", esc(host));
        let _ = writeln!(out, "| Area | Item | Staging | Here | Verdict |\n|---|---|---|---|---|");
        for f in findings {
            let area = f.class.drift_area().map_or("?", |a| a.name());
            let verdict = match f.verdict {
                Some(crate::runbook::OnDivergence::Stop) => "stop",
                Some(crate::runbook::OnDivergence::Warn) => "warn",
                None => "-",
            };
            let _ = writeln!(
                out,
                "| {area} | {} | {} | {} | {verdict} |",
                code(&f.subject),
                version(f.tested.as_deref()),
                version(f.here.as_deref())
            );
        }
        out.push('\n');
    }
}
