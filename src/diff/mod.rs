//! A host's facts against the tested baseline, sorted into divergence classes.
//!
//! This is the heart of "prod is not what was tested": every pending update, config
//! fingerprint and rollback precondition of a host lands in exactly one [`Class`], and the
//! runbook's policy says whether that class stops the window or only warns.

pub mod risk;

use serde::{Deserialize, Serialize};

use crate::baseline::Baseline;
use crate::drift::Area;
use crate::pkg::{PkgName, Version};
use crate::probe::{FpValue, HostFacts};
use crate::runbook::{Fingerprint, OnDivergence, Policy};

/// What kind of difference a finding is. Ordered from "fine" to "cannot even look".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Pending here exactly as tested (name, from and to versions match).
    Tested,
    /// Already at the tested version here; nothing to do.
    AlreadyTested,
    /// Tested target, but the host starts from another version.
    DifferentStart,
    /// In the baseline but not pending here (and not already at the tested version).
    NotPending,
    /// Pending here, held (apt: `apt-mark hold`) or kept back: the package manager would
    /// not install it.
    Held,
    /// Pending here, never tested.
    UntestedPackage,
    /// Pending here, but the candidate differs from the tested target.
    VersionMismatch,
    /// A config fingerprint differs from staging's.
    ConfigDrift,
    /// The installed version cannot be installed again, so rollback could not restore it.
    RollbackInfeasible,
    /// The host sent text that cannot be a package name or version.
    Hostile,
    /// The host could not be probed.
    Unreachable,
    /// Discovered drift ([`crate::drift`]): the network differs from staging's.
    DriftNetworking,
    /// Discovered drift: a locally modified conffile of a package this window changes.
    DriftConffile,
    /// Discovered drift: another configuration file under /etc.
    DriftConfig,
    /// Discovered drift: the kernel, its command line, sysctl or module files.
    DriftKernel,
    /// Discovered drift: services enabled at boot, local unit files.
    DriftServices,
    /// Discovered drift: apt sources, pinning or keys.
    DriftSources,
    /// Another window holds the host's lock ([`crate::lock::host`]).
    HostLocked,
    /// The package database was left half done (apt: dpkg interrupted, a package
    /// half-installed, unpacked or half-configured): nothing can change until it is repaired.
    DpkgBroken,
    /// Another process holds the package database's lock (apt: dpkg's): a change now would
    /// wait for it or fail.
    DpkgLocked,
    /// The login uses sudo, and `sudo -n` cannot run what the window runs unattended
    /// (password needed, `requiretty`, not allowed, no sudo, a program hidden by
    /// `secure_path`): [`crate::check::sudo`].
    SudoUnusable,
}

impl Class {
    /// The policy's verdict for this class; `None` for classes that are not divergences.
    pub fn verdict(self, policy: &Policy) -> Option<OnDivergence> {
        match self {
            Class::Tested | Class::AlreadyTested => None,
            Class::DifferentStart => Some(policy.different_start),
            Class::NotPending => Some(policy.not_pending),
            Class::Held => Some(policy.held_package),
            Class::UntestedPackage => Some(policy.untested_package),
            Class::VersionMismatch => Some(policy.version_mismatch),
            Class::ConfigDrift => Some(policy.config_drift),
            Class::RollbackInfeasible => Some(policy.rollback_infeasible),
            // Nothing can proceed safely on a host we cannot see or do not trust.
            Class::Hostile | Class::Unreachable => Some(OnDivergence::Stop),
            // apt refuses to change anything then: no policy can make it go.
            Class::DpkgBroken | Class::DpkgLocked => Some(OnDivergence::Stop),
            // Every root command of the window would fail at its first step.
            Class::SudoUnusable => Some(OnDivergence::Stop),
            // Two windows never change one host at once.
            Class::HostLocked => Some(OnDivergence::Stop),
            Class::DriftNetworking
            | Class::DriftConffile
            | Class::DriftConfig
            | Class::DriftKernel
            | Class::DriftServices
            | Class::DriftSources => self.drift_area().and_then(|a| policy.drift.reaction(a).verdict()),
        }
    }

    /// The drift area of a discovered-drift class.
    pub fn drift_area(self) -> Option<Area> {
        Some(match self {
            Class::DriftNetworking => Area::Networking,
            Class::DriftConffile => Area::Conffiles,
            Class::DriftConfig => Area::Config,
            Class::DriftKernel => Area::Kernel,
            Class::DriftServices => Area::Services,
            Class::DriftSources => Area::Sources,
            _ => return None,
        })
    }

    /// The class of drift found in `area`.
    pub fn of_drift(area: Area) -> Class {
        match area {
            Area::Networking => Class::DriftNetworking,
            Area::Conffiles => Class::DriftConffile,
            Area::Config => Class::DriftConfig,
            Area::Kernel => Class::DriftKernel,
            Area::Services => Class::DriftServices,
            Area::Sources => Class::DriftSources,
        }
    }

    /// One-column symbol, so meaning never depends on colour alone.
    pub fn symbol(self) -> char {
        match self {
            Class::Tested | Class::AlreadyTested => ' ',
            Class::UntestedPackage => '+',
            Class::VersionMismatch | Class::DifferentStart => '~',
            Class::NotPending | Class::Held => '-',
            Class::ConfigDrift
            | Class::RollbackInfeasible
            | Class::Hostile
            | Class::Unreachable
            | Class::DpkgBroken
            | Class::DpkgLocked
            | Class::SudoUnusable => '!',
            Class::DriftNetworking
            | Class::DriftConffile
            | Class::DriftConfig
            | Class::DriftKernel
            | Class::DriftServices
            | Class::DriftSources => '!',
            Class::HostLocked => '!',
        }
    }

    /// Short label for reports and screens.
    pub fn label(self) -> &'static str {
        match self {
            Class::Tested => "tested",
            Class::AlreadyTested => "already at tested version",
            Class::DifferentStart => "different starting version",
            Class::NotPending => "tested but not pending here",
            Class::Held => "held back here",
            Class::UntestedPackage => "UNTESTED",
            Class::VersionMismatch => "VERSION MISMATCH",
            Class::ConfigDrift => "CONFIG DRIFT",
            Class::RollbackInfeasible => "ROLLBACK INFEASIBLE",
            Class::Hostile => "HOSTILE OUTPUT",
            Class::Unreachable => "CANNOT CONNECT",
            Class::DriftNetworking => "NETWORK DRIFT",
            Class::DriftConffile => "MODIFIED CONFFILE",
            Class::DriftConfig => "OTHER CONFIG DRIFT",
            Class::DriftKernel => "KERNEL DRIFT",
            Class::DriftServices => "SERVICES DRIFT",
            Class::DriftSources => "SOURCES DRIFT",
            Class::HostLocked => "LOCKED BY ANOTHER WINDOW",
            Class::DpkgBroken => "DPKG INTERRUPTED",
            Class::DpkgLocked => "DPKG LOCKED",
            Class::SudoUnusable => "SUDO UNUSABLE",
        }
    }
}

/// One line of a host's diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub class: Class,
    /// Package name, fingerprint label, or "host".
    pub subject: String,
    /// What was tested (version or fingerprint), when that makes sense.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tested: Option<String>,
    /// What this host has or would get.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub here: Option<String>,
    /// `stop`, `warn`, or absent when the finding is not a divergence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<OnDivergence>,
    /// A sentence for the operator, safe to print.
    pub detail: String,
}

/// A host's whole diff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostDiff {
    pub host: String,
    pub findings: Vec<Finding>,
    /// Packages the tested packages step would change on this host.
    pub changes: Vec<PkgName>,
    pub reboot_required: bool,
    pub restart_services: Vec<String>,
}

impl HostDiff {
    pub fn stops(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.verdict == Some(OnDivergence::Stop))
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.verdict == Some(OnDivergence::Warn))
    }
    /// Divergences of any verdict.
    pub fn divergences(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.verdict.is_some())
    }
    pub fn is_clean(&self) -> bool {
        self.divergences().next().is_none()
    }

    /// A host that could not be looked at: everything about it is unknown.
    pub fn unreachable(host: &str, detail: &str, class: Class) -> Self {
        Self {
            host: host.to_string(),
            findings: vec![Finding {
                class,
                subject: "host".into(),
                tested: None,
                here: None,
                verdict: Some(OnDivergence::Stop),
                detail: crate::safe_text::for_terminal(detail),
            }],
            changes: Vec::new(),
            reboot_required: false,
            restart_services: Vec::new(),
        }
    }
}

fn v(o: Option<&Version>) -> String {
    o.map_or_else(|| "(not installed)".to_string(), |v| v.to_string())
}

/// Compares one host's facts with the baseline.
pub fn diff_host(
    host: &str,
    facts: &HostFacts,
    baseline: &Baseline,
    fingerprints: &[Fingerprint],
    policy: &Policy,
) -> HostDiff {
    let mut findings = Vec::new();
    let mut changes = Vec::new();
    let mut push = |class: Class, subject: &str, tested: Option<String>, here: Option<String>, detail: String| {
        findings.push(Finding {
            class,
            subject: subject.to_string(),
            tested,
            here,
            verdict: class.verdict(policy),
            detail,
        });
    };
    let pkg = &facts.pkg;
    // Messages name the host's own package manager.
    let manager = if facts.manager.is_empty() { "the package manager" } else { facts.manager.as_str() };

    for p in &pkg.pending {
        let name = p.name.as_str();
        let here = format!("{} -> {}", v(p.from.as_ref()), p.to);
        let Some(t) = baseline.update(&p.name) else {
            push(
                Class::UntestedPackage,
                name,
                None,
                Some(here),
                format!("{name} {} was never tested on {}", p.to, baseline.host),
            );
            continue;
        };
        let tested = format!("{} -> {}", v(t.from.as_ref()), t.to);
        changes.push(p.name.clone());
        if pkg.held.contains(&p.name) || pkg.kept_back.contains(&p.name) {
            push(
                Class::Held,
                name,
                Some(tested),
                Some(here),
                format!("{name} is held or kept back here; {manager} would not install it"),
            );
        } else if p.to != t.to {
            let detail = format!(
                "{name}: this host would get {}, staging tested {}; installing exactly {} instead",
                p.to, t.to, t.to
            );
            push(Class::VersionMismatch, name, Some(tested), Some(here), detail);
        } else if p.from != t.from {
            let detail = format!("{name}: starts from {} here, {} on staging", v(p.from.as_ref()), v(t.from.as_ref()));
            push(Class::DifferentStart, name, Some(tested), Some(here), detail);
        } else {
            push(Class::Tested, name, Some(tested), Some(here), format!("{name} as tested"));
        }
    }

    for t in &baseline.updates {
        if pkg.pending.iter().any(|p| p.name == t.name) {
            continue;
        }
        let name = t.name.as_str();
        let tested = format!("{} -> {}", v(t.from.as_ref()), t.to);
        let installed = pkg.installed.get(&t.name);
        if installed == Some(&t.to) {
            push(
                Class::AlreadyTested,
                name,
                Some(tested),
                installed.map(ToString::to_string),
                format!("{name} already at {}", t.to),
            );
        } else {
            // Not pending, yet not at the target: the repo here lacks the tested version or
            // the package is absent. Installing exactly the tested version may still work.
            changes.push(t.name.clone());
            let detail =
                format!("{name}: staging went to {}, here it is {} and {manager} offers no update", t.to, v(installed));
            push(Class::NotPending, name, Some(tested), Some(v(installed)), detail);
        }
    }

    for name in &changes {
        if !pkg.can_reinstall_current(name) {
            let installed = v(pkg.installed.get(name));
            let detail = format!(
                "{name} {installed} is installed but no longer installable (not in any repo or the {manager} cache): rollback could not restore it"
            );
            push(Class::RollbackInfeasible, name.as_str(), None, Some(installed), detail);
        }
    }

    for fp in fingerprints {
        let label = fp.label();
        let here = facts.fingerprints.get(&label);
        let tested = baseline.fingerprint(fp);
        let show = |v: Option<&FpValue>| match v {
            Some(FpValue::Sha256(h)) => format!("sha256 {}", &h[..12.min(h.len())]),
            Some(FpValue::Missing) => "missing".into(),
            Some(FpValue::Error(e)) => format!("unreadable: {e}"),
            None => "not recorded".into(),
        };
        match (tested, here) {
            (Some(t), Some(h)) if t == h && !matches!(h, FpValue::Error(_)) => {}
            (None, _) => push(
                Class::ConfigDrift,
                &label,
                None,
                Some(show(here)),
                format!("{label} is not in the baseline: capture the baseline again with this runbook"),
            ),
            (t, h) => push(
                Class::ConfigDrift,
                &label,
                Some(show(t)),
                Some(show(h)),
                format!("{label} differs from {}", baseline.host),
            ),
        }
    }

    for (class, subject, here, detail) in db_findings(facts) {
        push(class, &subject, None, Some(here), detail);
    }
    findings.extend(drift_findings(facts, baseline, &changes, fingerprints, policy));

    HostDiff {
        host: host.to_string(),
        findings,
        changes,
        reboot_required: pkg.reboot_required,
        restart_services: pkg.restart_services.iter().cloned().collect(),
    }
}

/// Discovered drift: the host's configuration map against staging's (nothing when the
/// baseline has no map: `check` says so once for the fleet).
/// A file the runbook fingerprints is judged by its fingerprint alone, not twice.
fn drift_findings(
    facts: &HostFacts,
    baseline: &Baseline,
    changes: &[PkgName],
    fingerprints: &[Fingerprint],
    policy: &Policy,
) -> Vec<Finding> {
    let Some(tested) = &baseline.drift else { return Vec::new() };
    let Some(here) = &facts.drift else {
        return vec![Finding {
            class: Class::DriftConfig,
            subject: MAP_MISSING.into(),
            tested: None,
            here: None,
            verdict: policy.drift.reaction(Area::Config).verdict().or(Some(OnDivergence::Warn)),
            detail: "this host's configuration map did not come back whole: its drift was not compared".into(),
        }];
    };
    let changing = |p: &str| changes.iter().any(|c| c.as_str() == p);
    let fingerprinted = |key: &str| fingerprints.iter().any(|f| matches!(f, Fingerprint::Path(p) if p == key));
    crate::drift::compare(tested, here, &policy.drift, &changing)
        .into_iter()
        .filter(|d| !fingerprinted(&d.key))
        .map(|d| {
            let class = Class::of_drift(d.area);
            Finding {
                class,
                subject: crate::safe_text::for_terminal(&d.key),
                tested: Some(crate::drift::compare::show(d.tested.as_ref())),
                here: Some(crate::drift::compare::show(d.here.as_ref())),
                verdict: class.verdict(policy),
                detail: d.detail(&baseline.host),
            }
        })
        .collect()
}

/// The subject of the finding for a host whose map is missing.
pub const MAP_MISSING: &str = "configuration map";

/// The package database's own state as findings: one per package a run left half done
/// (naming its status), one for an interrupted journal with no package to name, one for a
/// lock another process holds. `(class, subject, here, detail)`.
pub fn db_findings(facts: &HostFacts) -> Vec<(Class, String, String, String)> {
    let db = &facts.pkg.db;
    let mut out = Vec::new();
    if db.needs_repair() {
        let detail = crate::safe_text::for_terminal(&db.broken_detail());
        for u in &db.unfinished {
            out.push((Class::DpkgBroken, u.name.to_string(), u.status.clone(), detail.clone()));
        }
        if db.unfinished.is_empty() {
            out.push((Class::DpkgBroken, "dpkg".into(), "interrupted".into(), detail));
        }
    }
    if db.locked() {
        let holders = db.locked_by.join(", ");
        let detail = crate::safe_text::for_terminal(&format!(
            "another process holds the package database's lock: {holders}; let it finish (unattended-upgrades?) and check again"
        ));
        out.push((Class::DpkgLocked, "dpkg".into(), holders, detail));
    }
    out
}

#[cfg(test)]
mod tests;

/// The file a drift finding is about, if it is about a file: discovered drift under a path,
/// or a `[[fingerprint]]` of a path (`file:PATH`).
pub fn drifted_file(f: &Finding) -> Option<&str> {
    let path = match f.class {
        Class::ConfigDrift => f.subject.strip_prefix("file:")?,
        c if c.drift_area().is_some() => f.subject.as_str(),
        _ => return None,
    };
    path.starts_with('/').then_some(path)
}
