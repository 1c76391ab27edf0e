//! What real apt and dpkg print for apt's block of the probe, generated from a simulated
//! host's state, so the demo and tests run the same parser as production. Formats follow
//! Debian bookworm's tools run with `LC_ALL=C` (see the captured fixtures under
//! `tests/fixtures/apt/`).

use std::fmt::Write;

use super::super::HostState;
use super::super::probe::section;
use crate::pkg::apt::Debian;
use crate::pkg::{Version, VersionScheme};

/// apt's probe sections for a host (the prelude's `os` and `manager` come before them).
pub fn probe(h: &HostState) -> String {
    let mut out = String::new();
    section(&mut out, "arch");
    out.push_str("amd64\n");

    section(&mut out, "installed");
    for (name, version) in &h.installed {
        // dpkg-query pads the status to three letters.
        let status = h.unfinished.get(name).map_or_else(|| "ii ".to_string(), |s| format!("{s:<3}"));
        let _ = writeln!(out, "{status}\t{name}\t{version}");
    }

    section(&mut out, "upgrade");
    out.push_str(&upgrade_simulation(h));
    out.push_str("patchdeck-exit: 0\n");

    section(&mut out, "held");
    for name in &h.held {
        let _ = writeln!(out, "{name}");
    }

    section(&mut out, "reboot");
    if h.reboot_required {
        out.push_str("reboot-required\n");
    }

    section(&mut out, "policy");
    for name in changing(h).into_iter().map(|(n, _, _)| n) {
        out.push_str(&policy(h, &name));
    }

    section(&mut out, "cache");

    section(&mut out, "dpkg");
    let _ = writeln!(out, "updates {}", if h.dpkg_interrupted { 5 } else { 0 });
    if !h.unfinished.is_empty() {
        out.push_str("audit The following packages are only half configured, probably due to problems\n");
        for name in h.unfinished.keys() {
            let _ = writeln!(out, "audit  {name:<20} (simulated)");
        }
    }
    out
}

/// Installed packages with a newer installable version: (name, from, (to, origin)).
fn changing(h: &HostState) -> Vec<(String, String, (String, String))> {
    h.installed.iter().filter_map(|(n, v)| Some((n.clone(), v.clone(), h.candidate(n, &Debian)?))).collect()
}

/// `apt-get -s dist-upgrade`, as printed by bookworm's apt.
pub fn upgrade_simulation(h: &HostState) -> String {
    let all = changing(h);
    let (held, upgrade): (Vec<_>, Vec<_>) = all.into_iter().partition(|(n, _, _)| h.held.contains(n));
    let mut out = String::from(
        "NOTE: This is only a simulation!\n      apt-get needs root privileges for real execution.\n      \
         Keep also in mind that locking is deactivated,\n      so don't depend on the relevance to the real current situation!\n\
         Reading package lists...\nBuilding dependency tree...\nReading state information...\nCalculating upgrade...\n",
    );
    if !held.is_empty() {
        out.push_str("The following packages have been kept back:\n ");
        for (n, _, _) in &held {
            let _ = write!(out, " {n}");
        }
        out.push('\n');
    }
    if !upgrade.is_empty() {
        out.push_str("The following packages will be upgraded:\n ");
        for (n, _, _) in &upgrade {
            let _ = write!(out, " {n}");
        }
        out.push('\n');
    }
    let new = h.new_dependencies(&Debian);
    if !new.is_empty() {
        out.push_str("The following NEW packages will be installed:\n ");
        for (n, _, _) in &new {
            let _ = write!(out, " {n}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} upgraded, {} newly installed, 0 to remove and {} not upgraded.",
        upgrade.len(),
        new.len(),
        held.len()
    );
    for (n, to, origin) in &new {
        let _ = writeln!(out, "Inst {n} ({to} {origin} [amd64])");
    }
    for (n, from, (to, origin)) in &upgrade {
        let _ = writeln!(out, "Inst {n} [{from}] ({to} {origin} [amd64])");
    }
    for (n, _, (to, origin)) in &upgrade {
        let _ = writeln!(out, "Conf {n} ({to} {origin} [amd64])");
    }
    out
}

/// `apt-cache policy NAME`.
pub fn policy(h: &HostState, name: &str) -> String {
    let installed = h.installed.get(name).cloned().unwrap_or_else(|| "(none)".into());
    let candidate = h.candidate(name, &Debian).map_or_else(|| installed.clone(), |(v, _)| v);
    let mut out = format!("{name}:\n  Installed: {installed}\n  Candidate: {candidate}\n  Version table:\n");
    let mut versions = h.installable(name);
    if h.not_installable.contains(name) {
        versions.retain(|(v, _)| *v != installed);
        versions.push((installed.clone(), String::new()));
    }
    // Newest first, as apt prints its version table (text that is no version, last).
    versions.sort_by(|a, b| match (Version::parse_in(&Debian, &a.0), Version::parse_in(&Debian, &b.0)) {
        (Ok(x), Ok(y)) => Debian.compare(&y, &x),
        (x, y) => y.is_ok().cmp(&x.is_ok()),
    });
    for (v, origin) in versions {
        let star = if v == installed { "***" } else { "   " };
        let _ = writeln!(out, " {star} {v} 500");
        if !origin.is_empty() {
            let suite = if origin.contains("Security") { "bookworm-security/main" } else { "bookworm/main" };
            let _ = writeln!(out, "        500 http://deb.debian.org/debian {suite} amd64 Packages");
        }
        if v == installed {
            out.push_str("        100 /var/lib/dpkg/status\n");
        }
    }
    out
}
