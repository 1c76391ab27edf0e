use super::*;
use crate::baseline::{Source, TestedFingerprint, TestedUpdate};
use crate::pkg::{Pending, PkgFacts};

fn n(s: &str) -> PkgName {
    PkgName::parse(s).unwrap()
}
fn ver(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn baseline() -> Baseline {
    let upd = |name: &str, from: &str, to: &str| TestedUpdate {
        name: n(name),
        from: Some(ver(from)),
        to: ver(to),
        origin: "Debian-Security:12/stable-security".into(),
    };
    Baseline {
        host: "staging".into(),
        captured_at: "2026-11-20T14:00:00Z".parse().unwrap(),
        source: Source::Pending,
        os: Default::default(),
        updates: vec![
            upd("openssl", "3.0.15-1", "3.0.17-1"),
            upd("libssl3", "3.0.15-1", "3.0.17-1"),
            upd("tzdata", "2024b-0", "2025b-0"),
            upd("curl", "7.88.1-10", "7.88.1-12"),
        ],
        fingerprints: vec![TestedFingerprint {
            fingerprint: Fingerprint::Path("/etc/network/interfaces".into()),
            value: FpValue::Sha256("a".repeat(64)),
        }],
        drift: None,
    }
}

/// A host exactly like staging: everything pending as tested, all versions reinstallable.
fn facts_as_tested() -> HostFacts {
    let mut pkg = PkgFacts::default();
    for u in baseline().updates {
        pkg.installed.insert(u.name.clone(), u.from.clone().unwrap());
        pkg.installable.insert(u.name.clone(), vec![u.from.clone().unwrap(), u.to.clone()]);
        pkg.pending.push(Pending { name: u.name, from: u.from, to: u.to, origin: u.origin, security: true });
    }
    let mut facts = HostFacts { pkg, ..Default::default() };
    facts.fingerprints.insert("file:/etc/network/interfaces".into(), FpValue::Sha256("a".repeat(64)));
    facts
}

fn run(facts: &HostFacts) -> HostDiff {
    let fps = [Fingerprint::Path("/etc/network/interfaces".into())];
    diff_host("prod1", facts, &baseline(), &fps, &Policy::default())
}

fn classes(d: &HostDiff) -> Vec<(Class, String)> {
    d.divergences().map(|f| (f.class, f.subject.clone())).collect()
}

#[test]
fn identical_host_is_clean() {
    let d = run(&facts_as_tested());
    assert!(d.is_clean(), "{:?}", classes(&d));
    assert_eq!(d.findings.iter().filter(|f| f.class == Class::Tested).count(), 4);
    assert_eq!(d.changes.len(), 4);
}

#[test]
fn untested_package_stops() {
    let mut f = facts_as_tested();
    f.pkg.pending.push(Pending {
        name: n("libxml2"),
        from: Some(ver("2.9.14-1")),
        to: ver("2.9.14-2"),
        origin: "x".into(),
        security: true,
    });
    let d = run(&f);
    assert_eq!(classes(&d), vec![(Class::UntestedPackage, "libxml2".into())]);
    assert_eq!(d.stops().count(), 1);
    // Untested packages are not installed by the packages step, so they add no change.
    assert_eq!(d.changes.len(), 4);
}

#[test]
fn newer_candidate_is_version_mismatch() {
    let mut f = facts_as_tested();
    f.pkg.pending[0].to = ver("3.0.17-2");
    let d = run(&f);
    assert_eq!(classes(&d), vec![(Class::VersionMismatch, "openssl".into())]);
    let finding = d.divergences().next().unwrap();
    assert_eq!(finding.tested.as_deref(), Some("3.0.15-1 -> 3.0.17-1"));
    assert_eq!(finding.here.as_deref(), Some("3.0.15-1 -> 3.0.17-2"));
}

#[test]
fn different_start_warns() {
    let mut f = facts_as_tested();
    f.pkg.pending[2].from = Some(ver("2024a-0"));
    f.pkg.installed.insert(n("tzdata"), ver("2024a-0"));
    f.pkg.installable.get_mut(&n("tzdata")).unwrap().push(ver("2024a-0"));
    let d = run(&f);
    assert_eq!(classes(&d), vec![(Class::DifferentStart, "tzdata".into())]);
    assert_eq!(d.warnings().count(), 1);
    assert_eq!(d.stops().count(), 0);
}

#[test]
fn not_pending_and_already_tested() {
    let mut f = facts_as_tested();
    // curl: already at the tested version; tzdata: no update offered, still old.
    f.pkg.pending.retain(|p| p.name.as_str() != "curl" && p.name.as_str() != "tzdata");
    f.pkg.installed.insert(n("curl"), ver("7.88.1-12"));
    let d = run(&f);
    assert_eq!(classes(&d), vec![(Class::NotPending, "tzdata".into())]);
    assert!(d.findings.iter().any(|x| x.class == Class::AlreadyTested && x.subject == "curl"));
}

#[test]
fn held_package_is_reported() {
    let mut f = facts_as_tested();
    f.pkg.held.insert(n("openssl"));
    assert_eq!(classes(&run(&f)), vec![(Class::Held, "openssl".into())]);
}

#[test]
fn messages_name_the_hosts_own_package_manager() {
    let detail = |manager: &str| {
        let mut f = facts_as_tested();
        f.manager = manager.into();
        f.pkg.held.insert(n("openssl"));
        f.pkg.pending.retain(|p| p.name.as_str() != "tzdata");
        let d = run(&f);
        d.findings.iter().filter(|x| x.verdict.is_some()).map(|x| x.detail.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        detail("fake"),
        [
            "openssl is held or kept back here; fake would not install it",
            "tzdata: staging went to 2025b-0, here it is 2024b-0 and fake offers no update"
        ]
    );
    assert!(detail("apt")[0].ends_with("; apt would not install it"));
    assert!(detail("")[0].ends_with("; the package manager would not install it"));
}

#[test]
fn config_drift_missing_and_unrecorded() {
    let mut f = facts_as_tested();
    f.fingerprints.insert("file:/etc/network/interfaces".into(), FpValue::Sha256("b".repeat(64)));
    let d = run(&f);
    assert_eq!(classes(&d), vec![(Class::ConfigDrift, "file:/etc/network/interfaces".into())]);
    assert_eq!(d.stops().count(), 1);

    f.fingerprints.insert("file:/etc/network/interfaces".into(), FpValue::Missing);
    assert_eq!(run(&f).divergences().next().unwrap().here.as_deref(), Some("missing"));

    // A fingerprint the runbook asks for but the baseline never recorded is drift too:
    // we cannot say it is the same.
    let fps = [Fingerprint::Command("sysctl -a".into())];
    let d = diff_host("prod1", &facts_as_tested(), &baseline(), &fps, &Policy::default());
    assert!(d.divergences().next().unwrap().detail.contains("capture the baseline again"));
}

#[test]
fn rollback_infeasible_when_installed_version_is_gone() {
    let mut f = facts_as_tested();
    f.pkg.installable.insert(n("libssl3"), vec![ver("3.0.17-1")]);
    let d = run(&f);
    assert_eq!(classes(&d), vec![(Class::RollbackInfeasible, "libssl3".into())]);
    assert!(d.stops().next().unwrap().detail.contains("rollback could not restore it"));
}

#[test]
fn warn_policy_turns_a_stop_into_a_warning() {
    let mut f = facts_as_tested();
    f.pkg.pending[0].to = ver("3.0.17-2");
    let policy = Policy { version_mismatch: OnDivergence::Warn, ..Policy::default() };
    let fps = [Fingerprint::Path("/etc/network/interfaces".into())];
    let d = diff_host("prod1", &f, &baseline(), &fps, &policy);
    assert_eq!((d.stops().count(), d.warnings().count()), (0, 1));
}

#[test]
fn discovered_drift_lands_in_its_area_with_the_area_reaction() {
    use crate::drift::{Area, DriftMap, Item};
    let item = |area, value: &str, package: Option<&str>, modified| Item {
        area,
        value: value.into(),
        package: package.map(Into::into),
        modified,
    };
    let map = |items: Vec<(&str, Item)>| DriftMap { items: items.into_iter().map(|(k, i)| (k.into(), i)).collect() };
    let mut b = baseline();
    b.drift = Some(map(vec![
        ("/etc/network/interfaces", item(Area::Networking, "md5:1", None, false)),
        ("/etc/ssl/openssl.cnf", item(Area::Config, "md5:pkg", Some("openssl"), false)),
        ("/etc/sysctl.d/60-x.conf", item(Area::Kernel, "md5:k", None, false)),
        ("/etc/motd", item(Area::Config, "md5:m", None, false)),
    ]));
    let mut facts = facts_as_tested();
    facts.drift = Some(map(vec![
        ("/etc/network/interfaces", item(Area::Networking, "md5:2", None, false)),
        ("/etc/ssl/openssl.cnf", item(Area::Config, "md5:local", Some("openssl"), true)),
        ("/etc/sysctl.d/60-x.conf", item(Area::Kernel, "md5:k2", None, false)),
        ("/etc/motd", item(Area::Config, "md5:m", None, false)),
        ("/etc/apt/sources.list.d/extra.list", item(Area::Sources, "md5:s", None, false)),
    ]));
    facts.fingerprints.insert("file:/etc/network/interfaces".into(), FpValue::Sha256("b".repeat(64)));
    let fps = [Fingerprint::Path("/etc/network/interfaces".into())];
    let d = diff_host("prod1", &facts, &b, &fps, &Policy::default());
    let got: Vec<(Class, &str, Option<OnDivergence>)> =
        d.divergences().map(|f| (f.class, f.subject.as_str(), f.verdict)).collect();
    let (stop, warn) = (Some(OnDivergence::Stop), Some(OnDivergence::Warn));
    // The network file is also a fingerprint: judged by it (config_drift), not twice.
    assert_eq!(
        got,
        vec![
            (Class::ConfigDrift, "file:/etc/network/interfaces", stop),
            (Class::DriftSources, "/etc/apt/sources.list.d/extra.list", stop),
            (Class::DriftConffile, "/etc/ssl/openssl.cnf", stop),
            (Class::DriftKernel, "/etc/sysctl.d/60-x.conf", warn),
        ]
    );
    let conffile = d.findings.iter().find(|f| f.class == Class::DriftConffile).unwrap();
    assert!(conffile.detail.contains("locally modified conffile of openssl"), "{}", conffile.detail);
    assert_eq!(conffile.here.as_deref(), Some("md5 local (locally modified)"));

    // The runbook turns the kernel off and networking down to a warning.
    let mut policy = Policy::default();
    policy.drift.set(Area::Kernel, crate::drift::Reaction::Ignore);
    policy.drift.set(Area::Networking, crate::drift::Reaction::Warn);
    let d = diff_host("prod1", &facts, &b, &[], &policy);
    assert!(d.findings.iter().all(|f| f.class != Class::DriftKernel));
    assert_eq!(d.findings.iter().find(|f| f.class == Class::DriftNetworking).unwrap().verdict, warn);

    // A host whose map did not come back says so; a baseline without a map compares nothing.
    facts.drift = None;
    facts.fingerprints.insert("file:/etc/network/interfaces".into(), FpValue::Sha256("a".repeat(64)));
    let d = diff_host("prod1", &facts, &b, &fps, &Policy::default());
    assert_eq!(classes(&d), vec![(Class::DriftConfig, crate::diff::MAP_MISSING.to_string())]);
    assert!(run(&facts).is_clean());
}

#[test]
fn an_interrupted_dpkg_is_a_stop_naming_each_package_and_the_fix() {
    use crate::pkg::{DbHealth, Unfinished};
    let lax = Policy {
        different_start: OnDivergence::Warn,
        not_pending: OnDivergence::Warn,
        untested_package: OnDivergence::Warn,
        version_mismatch: OnDivergence::Warn,
        config_drift: OnDivergence::Warn,
        rollback_infeasible: OnDivergence::Warn,
        held_package: OnDivergence::Warn,
        ..Policy::default()
    };
    let mut f = facts_as_tested();
    f.pkg.db = DbHealth {
        unfinished: vec![Unfinished { name: n("tzdata"), status: "iHR".into() }],
        interrupted: true,
        fix: "dpkg --configure -a".into(),
        ..DbHealth::default()
    };
    let fps = [Fingerprint::Path("/etc/network/interfaces".into())];
    // Whatever the policy says: apt refuses to change anything on such a host.
    let d = diff_host("prod1", &f, &baseline(), &fps, &lax);
    assert_eq!(classes(&d), vec![(Class::DpkgBroken, "tzdata".into())]);
    let stop = d.stops().next().unwrap();
    assert_eq!(stop.here.as_deref(), Some("iHR"));
    assert!(stop.detail.contains("`dpkg --configure -a`") && stop.detail.contains("tzdata (iHR)"), "{}", stop.detail);

    // Only the journal says so (killed before any package changed state): still a stop.
    f.pkg.db.unfinished.clear();
    assert_eq!(classes(&run(&f)), vec![(Class::DpkgBroken, "dpkg".into())]);

    // Another process holds the lock: a stop naming the holder.
    f.pkg.db = DbHealth { locked_by: vec!["/var/lib/dpkg/lock (pid 812)".into()], ..DbHealth::default() };
    let d = run(&f);
    assert_eq!(classes(&d), vec![(Class::DpkgLocked, "dpkg".into())]);
    assert!(d.stops().next().unwrap().detail.contains("pid 812"));
    assert!(run(&facts_as_tested()).is_clean());
}
