//! A second package manager, for tests only: proves that nothing outside a manager assumes
//! apt. [`RpmLike`] orders versions as rpm does (where it differs from dpkg: `1.1` is newer
//! than `1.a` here, older there) and allows names Debian refuses (`NetworkManager`);
//! [`Fake`] prints its own probe sections and writes its own commands (`fakepm ...`).
//! The simulator plays it too ([`crate::sim::testing`]).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use super::{Detect, PackageManager, ParseError, Pending, PkgFacts, PkgName, Version, VersionScheme, apt::Debian};
use crate::transport::{Command, Purpose};

/// rpm's `[epoch:]version[-release]`, compared like `rpmvercmp`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpmLike;

impl VersionScheme for RpmLike {
    fn name(&self) -> &'static str {
        "rpm-like"
    }
    fn is_name(&self, raw: &str) -> bool {
        raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_'))
    }
    fn is_version(&self, raw: &str) -> bool {
        raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '~' | ':' | '_'))
    }
    fn compare(&self, a: &Version, b: &Version) -> Ordering {
        let (ea, va, ra) = evr(a.as_str());
        let (eb, vb, rb) = evr(b.as_str());
        ea.cmp(&eb)
            .then_with(|| rpmvercmp(va, vb))
            .then_with(|| rpmvercmp(ra, rb))
            .then_with(|| a.as_str().cmp(b.as_str()))
    }
}

fn evr(s: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match s.split_once(':') {
        Some((e, r)) => (e.parse().unwrap_or(0), r),
        None => (0, s),
    };
    match rest.rsplit_once('-') {
        Some((v, r)) => (epoch, v, r),
        None => (epoch, rest, ""),
    }
}

/// Segments of digits or letters, anything else separates; a numeric segment is newer than
/// an alphabetic one; `~` sorts before everything, the end included; more segments win.
fn rpmvercmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        a = a.trim_start_matches(|c: char| !c.is_ascii_alphanumeric() && c != '~');
        b = b.trim_start_matches(|c: char| !c.is_ascii_alphanumeric() && c != '~');
        match (a.strip_prefix('~'), b.strip_prefix('~')) {
            (Some(x), Some(y)) => {
                (a, b) = (x, y);
                continue;
            }
            (Some(_), None) => return Ordering::Less,
            (None, Some(_)) => return Ordering::Greater,
            (None, None) => {}
        }
        if a.is_empty() || b.is_empty() {
            // The one with segments left is newer.
            return (!a.is_empty()).cmp(&!b.is_empty());
        }
        let numeric = a.starts_with(|c: char| c.is_ascii_digit());
        let seg = |s: &str| -> usize {
            s.find(|c: char| if numeric { !c.is_ascii_digit() } else { !c.is_ascii_alphabetic() }).unwrap_or(s.len())
        };
        let (sa, sb) = (&a[..seg(a)], &b[..seg(b)]);
        if sb.is_empty() {
            // b's segment is of the other kind: numeric beats alphabetic.
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        let c = if numeric {
            let (x, y) = (sa.trim_start_matches('0'), sb.trim_start_matches('0'));
            x.len().cmp(&y.len()).then_with(|| x.cmp(y))
        } else {
            sa.cmp(sb)
        };
        if c != Ordering::Equal {
            return c;
        }
        (a, b) = (&a[sa.len()..], &b[sb.len()..]);
    }
}

/// A manager that is not apt: sections `NAME.block` (proof that its block ran),
/// `NAME.installed` (`name version`), `NAME.pending` (`name from|- to`) and
/// `NAME.installable` (`name version`); commands `fakepm --exact install name@version...`
/// and `fakepm --exact sync name@version name@...` (nothing after `@`: remove).
#[derive(Debug, Clone)]
pub struct Fake {
    name: &'static str,
    families: &'static [&'static str],
    tools: &'static [&'static str],
}

impl Default for Fake {
    fn default() -> Self {
        Self::new("fake", &["fakeos"], &["fakepm"])
    }
}

impl Fake {
    pub fn new(name: &'static str, families: &'static [&'static str], tools: &'static [&'static str]) -> Self {
        Self { name, families, tools }
    }
}

fn pairs(body: Option<&String>) -> impl Iterator<Item = Vec<&str>> {
    body.map_or("", |b| b.as_str()).lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).filter(|w| !w.is_empty())
}

fn bad(detail: &str) -> ParseError {
    ParseError::Malformed { command: "fakepm".into(), detail: detail.into() }
}

impl PackageManager for Fake {
    fn name(&self) -> &'static str {
        self.name
    }
    fn scheme(&self) -> &dyn VersionScheme {
        &RpmLike
    }
    fn detect(&self) -> Detect {
        Detect { families: self.families, tools: self.tools }
    }
    fn probe_script(&self) -> String {
        format!("echo '@@patchdeck:{}.block'\nfakepm list 2>/dev/null || true\n", self.name)
    }
    fn parse_probe(&self, sections: &BTreeMap<String, String>) -> Result<PkgFacts, ParseError> {
        let s = |k: &str| sections.get(&format!("{}.{k}", self.name));
        let (name, version) = (|r| PkgName::parse_in(&RpmLike, r), |r| Version::parse_in(&RpmLike, r));
        let mut facts = PkgFacts::default();
        for w in pairs(s("installed")) {
            let [n, v] = w[..] else { return Err(bad("installed: name version")) };
            facts.installed.insert(name(n)?, version(v)?);
        }
        for w in pairs(s("pending")) {
            let [n, from, to] = w[..] else { return Err(bad("pending: name from to")) };
            let from = if from == "-" { None } else { Some(version(from)?) };
            facts.pending.push(Pending {
                name: name(n)?,
                from,
                to: version(to)?,
                origin: "fake".into(),
                security: false,
            });
        }
        for w in pairs(s("installable")) {
            let [n, v] = w[..] else { return Err(bad("installable: name version")) };
            facts.installable.entry(name(n)?).or_default().push(version(v)?);
        }
        Ok(facts)
    }
    fn install_exact(&self, packages: &[(PkgName, Version)], timeout: Duration) -> Command {
        let args: String = packages.iter().map(|(n, v)| format!(" {n}@{v}")).collect();
        Command {
            script: format!("fakepm --exact install{args}\n"),
            purpose: Purpose::Install,
            needs_root: true,
            timeout,
            detached: None,
        }
    }
    fn history_script(&self) -> String {
        "fakepm history\n".into()
    }
    fn parse_last_upgrade(&self, out: &str) -> Result<Vec<Pending>, ParseError> {
        let mut sections = BTreeMap::new();
        sections.insert(format!("{}.pending", self.name), out.to_string());
        Ok(self.parse_probe(&sections)?.pending)
    }
    fn restore(&self, snapshot: &[(PkgName, Option<Version>)], timeout: Duration) -> Command {
        let mut args = String::new();
        for (n, v) in snapshot {
            let _ = write!(args, " {n}@{}", v.as_ref().map_or("", |v| v.as_str()));
        }
        Command {
            script: format!("fakepm --exact sync{args}\n"),
            purpose: Purpose::Restore,
            needs_root: true,
            timeout,
            detached: None,
        }
    }
    fn repair(&self, timeout: Duration) -> Command {
        Command {
            script: "fakepm --repair\n".into(),
            purpose: Purpose::Install,
            needs_root: true,
            timeout,
            detached: None,
        }
    }
}

#[test]
fn rpm_order_differs_from_dpkg_where_it_should() {
    let v = |s: &str| Version::parse(s).unwrap();
    let rpm = |a: &str, b: &str| RpmLike.compare(&v(a), &v(b));
    let deb = |a: &str, b: &str| Debian.compare(&v(a), &v(b));
    assert_eq!((rpm("1.1", "1.a"), deb("1.1", "1.a")), (Ordering::Greater, Ordering::Less));
    assert_eq!(rpm("1.10", "1.9"), Ordering::Greater);
    assert_eq!(rpm("1.0~rc1", "1.0"), Ordering::Less);
    assert_eq!(rpm("2:1.0-1", "1.5-1"), Ordering::Greater);
    assert_eq!(rpm("1.0-2", "1.0-10"), Ordering::Less);
    assert_eq!(rpm("1.0.1", "1.0"), Ordering::Greater);
    assert_eq!(rpm("1.0", "1.0"), Ordering::Equal);
    assert_ne!(rpm("1_0", "1.0"), Ordering::Equal, "alike for rpm, still two strings");
}
