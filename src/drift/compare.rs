//! A host's map against staging's, item by item, and a fleet's drift grouped by item so
//! that 500 hosts stay readable.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Area, DriftMap, DriftPolicy, Item, Reaction};
use crate::safe_text::for_terminal;
use crate::verdict::OnDivergence;

/// One item that differs from staging's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemDrift {
    pub key: String,
    pub area: Area,
    /// Staging's item; `None`: only this host has it.
    pub tested: Option<Item>,
    /// This host's item; `None`: only staging has it.
    pub here: Option<Item>,
}

impl ItemDrift {
    /// A sentence for the operator (host text made safe).
    pub fn detail(&self, staging: &str) -> String {
        let key = for_terminal(&self.key);
        let what = match (&self.tested, &self.here) {
            (None, _) => format!("{key} is here but not on {staging}"),
            (_, None) => format!("{key} is on {staging} but not here"),
            (Some(_), Some(_)) => format!("{key} differs from {staging}"),
        };
        let modified = |i: &Option<Item>| i.as_ref().is_some_and(|i| i.modified);
        match (self.area, modified(&self.tested), modified(&self.here)) {
            (Area::Conffiles, _, true) => format!(
                "{what}: locally modified conffile of {}, which this window changes: its upgrade will not go as on {staging}",
                self.package()
            ),
            (Area::Conffiles, ..) => format!(
                "{what}: conffile of {}, which this window changes, modified on {staging} only: its upgrade will not go as tested",
                self.package()
            ),
            _ => what,
        }
    }

    fn package(&self) -> String {
        let p = self.here.as_ref().or(self.tested.as_ref()).and_then(|i| i.package.as_deref()).unwrap_or("?");
        for_terminal(p)
    }
}

/// A value as shown: a checksum shortened, a listing as it is, absence said.
pub fn show(item: Option<&Item>) -> String {
    let Some(i) = item else { return "absent".into() };
    let v = match i.value.strip_prefix("md5:") {
        Some(h) => format!("md5 {}", &h[..12.min(h.len())]),
        None => i.value.clone(),
    };
    let v = if i.modified { format!("{v} (locally modified)") } else { v };
    for_terminal(&v)
}

/// Items of `here` that differ from `tested`, the runbook's ignores and ignored areas left
/// out. A conffile of a package this window changes (`changing`), locally modified on
/// either side, is in [`Area::Conffiles`]; any other item in its own area.
///
/// The settings of an interface only one side has (`eth0` on staging, `ens5` here, a
/// container's veth) are one item for the interface, `sysctl:net.*.IF.*`, not a hundred.
pub fn compare(
    tested: &DriftMap,
    here: &DriftMap,
    policy: &DriftPolicy,
    changing: &dyn Fn(&str) -> bool,
) -> Vec<ItemDrift> {
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = tested.items.keys().chain(here.items.keys()).collect();
    let (on_staging, on_here) = (interfaces(tested), interfaces(here));
    // Interface -> (whether it is here, how many of its settings differ).
    let mut lone: BTreeMap<&str, (bool, usize)> = BTreeMap::new();
    for key in keys {
        let (t, h) = (tested.items.get(key), here.items.get(key));
        if t.map(|i| &i.value) == h.map(|i| &i.value) || policy.ignores(key) {
            continue;
        }
        if let Some(iface) = interface_of(key)
            && on_staging.contains(iface) != on_here.contains(iface)
        {
            lone.entry(iface).or_insert((on_here.contains(iface), 0)).1 += 1;
            continue;
        }
        let either = [t, h];
        // A conffile as its package shipped it on both sides follows the package's version:
        // the package diff already shows that (a baseline from history, a host behind).
        let pristine = |i: Option<&Item>| i.is_some_and(|i| i.package.is_some() && !i.modified);
        if pristine(t) && pristine(h) {
            continue;
        }
        let changed_conffile = either.iter().flatten().any(|i| i.package.as_deref().is_some_and(changing));
        let modified = either.iter().flatten().any(|i| i.modified);
        let area =
            if changed_conffile && modified { Area::Conffiles } else { h.or(t).map_or(Area::Config, |i| i.area) };
        if policy.reaction(area) == Reaction::Ignore {
            continue;
        }
        out.push(ItemDrift { key: key.clone(), area, tested: t.cloned(), here: h.cloned() });
    }
    for (iface, (is_here, n)) in lone {
        let key = format!("sysctl:net.*.{iface}.*");
        if policy.ignores(&key) || policy.reaction(Area::Networking) == Reaction::Ignore {
            continue;
        }
        let item = Item { area: Area::Networking, value: format!("{n} settings"), package: None, modified: false };
        let (tested, here) = if is_here { (None, Some(item)) } else { (Some(item), None) };
        out.push(ItemDrift { key, area: Area::Networking, tested, here });
    }
    out
}

/// The interfaces a map has settings of.
fn interfaces(map: &DriftMap) -> BTreeSet<&str> {
    map.items.keys().filter_map(|k| interface_of(k)).collect()
}

/// `sysctl:net.ipv4.conf.eth0.rp_filter` -> `eth0`: a setting of one interface (not of
/// `all` or `default`). A setting's name has no dot; an interface's may (`eth0.100`).
fn interface_of(key: &str) -> Option<&str> {
    let (_family, rest) = key.strip_prefix("sysctl:net.")?.split_once('.')?;
    let rest = rest.strip_prefix("conf.").or_else(|| rest.strip_prefix("neigh."))?;
    let (iface, _setting) = rest.rsplit_once('.')?;
    (!iface.is_empty() && iface != "all" && iface != "default").then_some(iface)
}

/// One host's drift finding, as grouping reads it.
#[derive(Debug, Clone)]
pub struct Seen<'a> {
    pub host: &'a str,
    pub subject: &'a str,
    pub area: Area,
    pub here: Option<&'a str>,
    pub verdict: Option<OnDivergence>,
}

/// One item across the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftGroup {
    pub subject: String,
    pub area: Area,
    /// The strongest reaction of the hosts that differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<OnDivergence>,
    /// Hosts whose item differs from staging's, in fleet order.
    pub differ: Vec<String>,
    /// Hosts compared whose item is as on staging.
    pub same: usize,
    /// Every compared host (two at least) differs from staging, all in the same way: staging
    /// is the odd one out.
    pub staging_odd: bool,
}

/// How many host names a line shows before "and N more".
const NAMES_SHOWN: usize = 8;

impl DriftGroup {
    /// `/etc/sysctl.d/60-x.conf (kernel): 2 hosts differ from staging: prod2, prod12; 48 same`.
    pub fn line(&self, staging: &str) -> String {
        let n = self.differ.len();
        let shown: Vec<&str> = self.differ.iter().take(NAMES_SHOWN).map(String::as_str).collect();
        let more = if n > NAMES_SHOWN { format!(" and {} more", n - NAMES_SHOWN) } else { String::new() };
        let hosts = if n == 1 { "host differs" } else { "hosts differ" };
        let subject = for_terminal(&self.subject);
        if self.staging_odd {
            return format!(
                "{subject} ({}): {staging} is the odd one out: all {n} hosts agree with each other, not with {staging}",
                self.area.name()
            );
        }
        format!(
            "{subject} ({}): {n} {hosts} from {staging}: {}{more}; {} same",
            self.area.name(),
            shown.join(", "),
            self.same
        )
    }
}

/// Groups drift findings by item. `compared`: the hosts whose map was compared (reachable,
/// with a map), in fleet order. Groups come stops first, then by how many hosts differ.
pub fn group(compared: &[&str], seen: &[Seen<'_>]) -> Vec<DriftGroup> {
    let mut by: BTreeMap<&str, Vec<&Seen<'_>>> = BTreeMap::new();
    for s in seen {
        by.entry(s.subject).or_default().push(s);
    }
    let order = |h: &str| compared.iter().position(|c| *c == h).unwrap_or(usize::MAX);
    let mut groups: Vec<DriftGroup> = by
        .into_iter()
        .map(|(subject, mut hosts)| {
            hosts.sort_by_key(|s| order(s.host));
            hosts.dedup_by_key(|s| s.host);
            let verdict = if hosts.iter().any(|s| s.verdict == Some(OnDivergence::Stop)) {
                Some(OnDivergence::Stop)
            } else {
                hosts.iter().find_map(|s| s.verdict)
            };
            let differ: Vec<String> = hosts.iter().map(|s| s.host.to_string()).collect();
            let same = compared.iter().filter(|c| !differ.iter().any(|d| d == *c)).count();
            let one_value = hosts.windows(2).all(|w| w[0].here == w[1].here);
            let staging_odd = same == 0 && differ.len() >= 2 && one_value;
            // The area of the strongest finding (a conffile stop over its warn elsewhere).
            let area = hosts.iter().find(|s| s.verdict == verdict).map_or(hosts[0].area, |s| s.area);
            DriftGroup { subject: subject.to_string(), area, verdict, differ, same, staging_odd }
        })
        .collect();
    groups.sort_by(|a, b| {
        let stop = |g: &DriftGroup| g.verdict != Some(OnDivergence::Stop);
        (stop(a), std::cmp::Reverse(a.differ.len()), &a.subject).cmp(&(
            stop(b),
            std::cmp::Reverse(b.differ.len()),
            &b.subject,
        ))
    });
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(area: Area, value: &str) -> Item {
        Item { area, value: value.into(), package: None, modified: false }
    }

    fn map(items: &[(&str, Item)]) -> DriftMap {
        DriftMap { items: items.iter().map(|(k, i)| (k.to_string(), i.clone())).collect() }
    }

    #[test]
    fn only_differences_outside_ignores_and_conffiles_of_changed_packages_by_themselves() {
        let conf = |v: &str, modified| Item {
            area: Area::Config,
            value: v.into(),
            package: Some("openssh-server".into()),
            modified,
        };
        let staging = map(&[
            ("/etc/network/interfaces", item(Area::Networking, "md5:1")),
            ("/etc/ssh/sshd_config", conf("md5:a", false)),
            ("/etc/adjtime", item(Area::Config, "md5:x")),
            ("/etc/motd", item(Area::Config, "md5:m")),
            ("service:multi-user.target.wants/ssh.service", item(Area::Services, "enabled")),
        ]);
        let prod = map(&[
            ("/etc/network/interfaces", item(Area::Networking, "md5:2")),
            ("/etc/ssh/sshd_config", conf("md5:b", true)),
            ("/etc/adjtime", item(Area::Config, "md5:y")),
            ("/etc/motd", item(Area::Config, "md5:m")),
            ("/etc/apt/sources.list.d/extra.list", item(Area::Sources, "md5:s")),
        ]);
        let policy = DriftPolicy::default();
        let got = |changing: &dyn Fn(&str) -> bool, policy: &DriftPolicy| {
            compare(&staging, &prod, policy, changing)
                .into_iter()
                .map(|d| (d.key, d.area, d.tested.is_some(), d.here.is_some()))
                .collect::<Vec<_>>()
        };
        let k = |s: &str| s.to_string();
        assert_eq!(
            got(&|p| p == "openssh-server", &policy),
            vec![
                (k("/etc/apt/sources.list.d/extra.list"), Area::Sources, false, true),
                (k("/etc/network/interfaces"), Area::Networking, true, true),
                (k("/etc/ssh/sshd_config"), Area::Conffiles, true, true),
                (k("service:multi-user.target.wants/ssh.service"), Area::Services, true, false),
            ],
            "/etc/adjtime is ignored by default, /etc/motd is the same"
        );
        // The package is not changed by this window: its conffile is just configuration.
        assert_eq!(got(&|_| false, &policy)[2].1, Area::Config);
        // Unmodified on both sides (each as its package shipped it): the package's version
        // explains it, not drift.
        let mut shipped = prod.clone();
        shipped.items.insert("/etc/ssh/sshd_config".into(), conf("md5:c", false));
        assert!(compare(&staging, &shipped, &policy, &|_| true).iter().all(|d| d.key != "/etc/ssh/sshd_config"));
        let mut quiet = DriftPolicy::default();
        quiet.set(Area::Services, Reaction::Ignore);
        quiet.ignore.push("/etc/network/**".into());
        let keys: Vec<String> = got(&|_| false, &quiet).into_iter().map(|g| g.0).collect();
        assert_eq!(keys, vec![k("/etc/apt/sources.list.d/extra.list"), k("/etc/ssh/sshd_config")]);
    }

    fn seen<'a>(host: &'a str, subject: &'a str, here: &'a str) -> Seen<'a> {
        Seen { host, subject, area: Area::Kernel, here: Some(here), verdict: Some(OnDivergence::Warn) }
    }

    #[test]
    fn an_interface_only_one_side_has_is_one_item_not_one_per_setting() {
        let net = |v: &str| item(Area::Networking, v);
        let settings = |iface: &str| {
            ["ipv4.conf", "ipv6.conf", "ipv4.neigh"]
                .map(|k| (format!("sysctl:net.{k}.{iface}.x"), net("1")))
                .into_iter()
                .collect::<Vec<_>>()
        };
        let both = |extra: &[(&str, &str)], ifaces: &[&str]| {
            let mut m = map(&[
                ("sysctl:net.ipv4.conf.all.rp_filter", net("1")),
                ("sysctl:net.ipv4.conf.default.rp_filter", net("1")),
                ("sysctl:net.ipv4.conf.lo.arp_ignore", net("0")),
            ]);
            for iface in ifaces {
                m.items.extend(settings(iface));
            }
            m.items.extend(extra.iter().map(|(k, v)| (k.to_string(), net(v))));
            m
        };
        // Staging names its NIC eth0, this host ens5 and has a VLAN (a dot in its name); lo
        // is on both, with a setting changed and one only this host's kernel has.
        let staging = both(&[], &["eth0"]);
        let prod = both(
            &[("sysctl:net.ipv4.conf.lo.arp_ignore", "1"), ("sysctl:net.ipv4.conf.lo.newer", "0")],
            &["ens5", "ens5.100"],
        );
        let got = |policy: &DriftPolicy| {
            compare(&staging, &prod, policy, &|_| false)
                .into_iter()
                .map(|d| (d.key, d.tested.map(|i| i.value), d.here.map(|i| i.value)))
                .collect::<Vec<_>>()
        };
        let k = |s: &str| s.to_string();
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            got(&DriftPolicy::default()),
            [
                (k("sysctl:net.ipv4.conf.lo.arp_ignore"), some("0"), some("1")),
                (k("sysctl:net.ipv4.conf.lo.newer"), None, some("0")),
                (k("sysctl:net.*.ens5.*"), None, some("3 settings")),
                (k("sysctl:net.*.ens5.100.*"), None, some("3 settings")),
                (k("sysctl:net.*.eth0.*"), some("3 settings"), None),
            ]
        );
        // The runbook can leave an interface out by its item, or its settings one by one.
        let mut policy = DriftPolicy::default();
        policy.ignore.extend([
            k("sysctl:net.*.ens5.100.*"),
            k("sysctl:net.ipv6.conf.*"),
            k("sysctl:net.ipv4.*.eth0.x"),
        ]);
        let folded: Vec<_> = got(&policy).into_iter().filter(|(key, ..)| key.starts_with("sysctl:net.*")).collect();
        assert_eq!(folded, [(k("sysctl:net.*.ens5.*"), None, some("2 settings"))]);
    }

    #[test]
    fn a_fleet_groups_by_item_and_names_the_odd_staging() {
        let names: Vec<String> = (1..=50).map(|i| format!("prod{i}")).collect();
        let compared: Vec<&str> = names.iter().map(String::as_str).collect();
        let f = "/etc/sysctl.d/60-x.conf";
        let mut s = vec![seen("prod12", f, "md5 a"), seen("prod2", f, "md5 b")];
        // Every host has the same motd, staging another one.
        s.extend(compared.iter().map(|h| seen(h, "/etc/motd", "md5 m")));
        let g = group(&compared, &s);
        assert_eq!(g.len(), 2);
        assert_eq!(
            g[0].line("staging"),
            "/etc/motd (kernel): staging is the odd one out: all 50 hosts agree with each other, not with staging"
        );
        assert!(g[0].staging_odd);
        assert_eq!(
            g[1].line("staging"),
            "/etc/sysctl.d/60-x.conf (kernel): 2 hosts differ from staging: prod2, prod12; 48 same"
        );
        assert!(!g[1].staging_odd);
        // Many hosts differing in different ways: named up to a point, staging not odd.
        let many: Vec<Seen<'_>> =
            compared.iter().enumerate().map(|(i, h)| seen(h, "/etc/x", if i % 2 == 0 { "a" } else { "b" })).collect();
        let g = group(&compared, &many);
        assert!(!g[0].staging_odd);
        assert!(g[0].line("staging").ends_with("prod8 and 42 more; 0 same"), "{}", g[0].line("staging"));
        // A stop sorts before a warn however many hosts the warn has.
        let mut mixed = many.clone();
        mixed.push(Seen {
            verdict: Some(OnDivergence::Stop),
            area: Area::Networking,
            ..seen("prod3", "net:routes", "r")
        });
        assert_eq!(group(&compared, &mixed)[0].subject, "net:routes");
    }
}
