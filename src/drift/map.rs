//! The probe's `drift` section into a [`DriftMap`]: lines `KIND<tab>...` (see `probe.sh`).
//! Host text is untrusted: a line of the wrong shape is skipped, paths must be absolute and
//! free of control characters, checksums must be hex; long listings are kept as a digest.

use std::collections::BTreeMap;

use super::normalize::{Identity, squash, uuids};
use super::{DriftMap, Item};
use crate::runbook::drift::areas::{self, Area};

/// Listed values longer than this are kept as their digest (a route table, a ruleset).
const MAX_VALUE: usize = 240;

/// `net.*` sysctls that change by themselves or are secrets made at boot.
pub(crate) const VOLATILE_SYSCTL_SUFFIXES: &[&str] =
    &["_count", "rss_key", "fastopen_key", "stable_secret", "hash_secret"];

/// The map of one host's `drift` section; `None` when the section is absent (an older probe,
/// a probe that did not ask) or did not finish (no `end` line).
pub fn parse(body: Option<&str>) -> Option<DriftMap> {
    let body = body?;
    if !body.lines().any(|l| l == "end") {
        return None;
    }
    let mut id = Identity::default();
    let mut lists: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut conffiles: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut sums: BTreeMap<String, String> = BTreeMap::new();
    let mut norms: BTreeMap<String, String> = BTreeMap::new();
    for line in body.lines() {
        let Some((kind, rest)) = line.split_once('\t') else { continue };
        match kind {
            "id" => {
                if let Some((k, v)) = rest.split_once('\t') {
                    id.add(k, v);
                }
            }
            "cf" => {
                let mut f = rest.splitn(3, '\t');
                if let (Some(pkg), Some(md5), Some(path)) = (f.next(), f.next(), f.next())
                    && is_md5(md5)
                    && crate::pkg::PkgName::parse(pkg).is_ok()
                    && is_path(path)
                {
                    conffiles.insert(path.to_string(), (pkg.to_string(), md5.to_string()));
                }
            }
            "sum" | "norm" => {
                if let Some((md5, path)) = rest.split_once('\t')
                    && is_md5(md5)
                    && is_path(path)
                {
                    let to = if kind == "sum" { &mut sums } else { &mut norms };
                    to.insert(path.to_string(), md5.to_string());
                }
            }
            "addr" => {
                // Own networks, for the gateway and route placeholders.
                let w: Vec<&str> = rest.split_whitespace().collect();
                if let Some(cidr) = after(&w, "inet") {
                    id.add_net(cidr);
                }
                lists.entry(kind).or_default().push(rest);
            }
            "link" | "route" | "route6" | "rule" | "resolv" | "sysctl" | "nft" | "iptables" | "kernel" | "svc" => {
                lists.entry(kind).or_default().push(rest);
            }
            _ => {}
        }
    }
    let mut map = DriftMap::default();
    files(&mut map, &conffiles, &sums, &norms);
    network(&mut map, &id, &lists);
    kernel_and_services(&mut map, &id, &lists);
    Some(map)
}

fn is_md5(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_path(p: &str) -> bool {
    p.starts_with('/') && p.len() < 4096 && !p.chars().any(crate::safe_text::is_hidden) && !p.contains("/../")
}

fn files(
    map: &mut DriftMap,
    conffiles: &BTreeMap<String, (String, String)>,
    sums: &BTreeMap<String, String>,
    norms: &BTreeMap<String, String>,
) {
    let paths = conffiles.keys().chain(sums.keys());
    for path in paths {
        if map.items.contains_key(path) {
            continue;
        }
        let raw = sums.get(path);
        let value = if areas::is_per_host(path) && raw.is_some() {
            "per-host".to_string()
        } else {
            match (norms.get(path), raw) {
                (Some(n), _) => format!("md5:{n}"),
                (None, Some(r)) => format!("md5:{r}"),
                // A conffile without a checksum: removed, or not readable by the probe.
                (None, None) => "missing".to_string(),
            }
        };
        let (package, modified) = match conffiles.get(path) {
            Some((pkg, md5)) => (Some(pkg.clone()), raw != Some(md5)),
            None => (None, false),
        };
        map.items.insert(path.clone(), Item { area: areas::of_file(path), value, package, modified });
    }
}

fn put(map: &mut DriftMap, key: String, area: Area, value: String) {
    let value = if value.len() > MAX_VALUE { digest(&value) } else { value };
    map.items.insert(key, Item { area, value, package: None, modified: false });
}

fn digest(s: &str) -> String {
    use sha2::Digest;
    format!("sha256:{}", &hex::encode(sha2::Sha256::digest(s.as_bytes()))[..16])
}

/// `4: eth0@if9: <...> mtu 1500 ...` -> `eth0`.
fn ifname(line: &str) -> Option<&str> {
    let name = line.split_whitespace().nth(1)?.trim_end_matches(':');
    let name = name.split('@').next()?;
    (!name.is_empty() && name.len() <= 32 && name.bytes().all(|b| b.is_ascii_graphic())).then_some(name)
}

/// The words after `key` in a whitespace-split line.
fn after<'a>(w: &[&'a str], key: &str) -> Option<&'a str> {
    w.iter().position(|x| *x == key).and_then(|i| w.get(i + 1).copied())
}

fn network(map: &mut DriftMap, id: &Identity, lists: &BTreeMap<&str, Vec<&str>>) {
    let list = |k: &str| lists.get(k).map(Vec::as_slice).unwrap_or_default();
    for l in list("link") {
        let Some(name) = ifname(l) else { continue };
        let w: Vec<&str> = l.split_whitespace().collect();
        let value = format!("mtu {} state {}", after(&w, "mtu").unwrap_or("?"), after(&w, "state").unwrap_or("?"));
        put(map, format!("net:link {name}"), Area::Networking, value);
    }
    let mut addrs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in list("addr") {
        let Some(name) = ifname(l) else { continue };
        let w: Vec<&str> = l.split_whitespace().collect();
        // Temporary (privacy) addresses are made up anew on each host.
        if w.contains(&"temporary") {
            continue;
        }
        let (Some(fam), Some(a)) = (w.get(2), w.get(3)) else { continue };
        let scope = after(&w, "scope").unwrap_or("?");
        addrs.entry(name.to_string()).or_default().push(id.text(&format!("{fam} {a} scope {scope}")));
    }
    for (name, mut v) in addrs {
        v.sort();
        put(map, format!("net:addresses {name}"), Area::Networking, v.join("; "));
    }
    for (kind, key) in [("route", "net:routes"), ("route6", "net:routes6"), ("rule", "net:rules")] {
        let mut v: Vec<String> =
            list(kind).iter().map(|l| squash(&id.text(&drop_expiry(l)))).filter(|l| !l.is_empty()).collect();
        v.sort();
        if !v.is_empty() {
            put(map, key.into(), Area::Networking, v.join("; "));
        }
    }
    let resolv: Vec<String> = list("resolv").iter().map(|l| squash(&id.text(l))).filter(|l| !l.is_empty()).collect();
    if !resolv.is_empty() {
        put(map, "net:resolver".into(), Area::Networking, resolv.join("; "));
    }
    let digits_name = id.names.iter().any(|n| numeric(n));
    for l in list("sysctl") {
        let Some((path, value)) = l.split_once(':') else { continue };
        let Some(path) = path.strip_prefix("/proc/sys/") else { continue };
        // One allocation per key: a thousand of them per host, on every check.
        let mut key = String::with_capacity("sysctl:".len() + path.len());
        key.push_str("sysctl:");
        key.extend(path.chars().map(|c| if c == '/' { '.' } else { c }));
        let plain = path.bytes().all(|b| b.is_ascii_graphic());
        if VOLATILE_SYSCTL_SUFFIXES.iter().any(|s| key.ends_with(s))
            || (!plain && path.chars().any(crate::safe_text::is_hidden))
        {
            continue;
        }
        // Most values are numbers, which name no host (unless one is named by digits):
        // only the others are normalized (a thousand lines per host, on every check).
        let value = if numeric(value) && !digits_name { squash(value) } else { squash(&id.text(value)) };
        put(map, key, Area::Networking, value);
    }
    for (kind, key) in [("nft", "net:firewall nft"), ("iptables", "net:firewall iptables")] {
        let rules: Vec<String> = list(kind)
            .iter()
            .filter(|l| !l.starts_with('#'))
            .map(|l| squash(&id.text(&no_counters(l))))
            .filter(|l| !l.is_empty())
            .collect();
        if !rules.is_empty() {
            put(map, key.into(), Area::Networking, format!("{} lines, {}", rules.len(), digest(&rules.join("\n"))));
        }
    }
}

/// Digits, signs and blanks only.
fn numeric(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b' ' | b'\t'))
}

/// Route lifetimes count down by themselves.
fn drop_expiry(l: &str) -> String {
    let w: Vec<&str> = l.split_whitespace().collect();
    let mut out = Vec::with_capacity(w.len());
    let mut i = 0;
    while i < w.len() {
        if w[i] == "expires" {
            i += 2;
            continue;
        }
        out.push(w[i]);
        i += 1;
    }
    out.join(" ")
}

/// Packet counters of a ruleset (`[12:345]`, `counter packets 1 bytes 2`) are traffic, not
/// configuration.
fn no_counters(l: &str) -> String {
    let w: Vec<&str> = l.split_whitespace().collect();
    let mut out = Vec::with_capacity(w.len());
    let mut i = 0;
    while i < w.len() {
        if (w[i] == "packets" || w[i] == "bytes") && w.get(i + 1).is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            i += 2;
            continue;
        }
        if w[i].starts_with('[') && w[i].ends_with(']') && w[i].contains(':') {
            out.push("[counters]");
        } else {
            out.push(w[i]);
        }
        i += 1;
    }
    out.join(" ")
}

fn kernel_and_services(map: &mut DriftMap, id: &Identity, lists: &BTreeMap<&str, Vec<&str>>) {
    for l in lists.get("kernel").map(Vec::as_slice).unwrap_or_default() {
        let Some((k, v)) = l.split_once('\t') else { continue };
        if matches!(k, "release" | "cmdline") {
            put(map, format!("kernel:{k}"), Area::Kernel, squash(&uuids(&id.text(v))));
        }
    }
    for l in lists.get("svc").map(Vec::as_slice).unwrap_or_default() {
        if l.len() < 200 && !l.chars().any(crate::safe_text::is_hidden) && !l.contains(' ') {
            put(map, format!("service:{l}"), Area::Services, "enabled".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAGING: &str = "id\tname\tstaging\nid\taddr\t10.9.0.5\n\
        cf\topenssh-server\t11111111111111111111111111111111\t/etc/ssh/sshd_config\n\
        cf\tless\t22222222222222222222222222222222\t/etc/lesskey\n\
        sum\t33333333333333333333333333333333\t/etc/ssh/sshd_config\n\
        norm\t44444444444444444444444444444444\t/etc/ssh/sshd_config\n\
        sum\t22222222222222222222222222222222\t/etc/lesskey\n\
        sum\t55555555555555555555555555555555\t/etc/ssh/ssh_host_ed25519_key\n\
        sum\t66666666666666666666666666666666\t/etc/sysctl.d/60-x.conf\n\
        link\t2: eth0: <BROADCAST,UP> mtu 1500 qdisc fq state UP mode DEFAULT\n\
        addr\t2: eth0    inet 10.9.0.5/24 brd 10.9.0.255 scope global eth0\\  valid_lft forever\n\
        route\tdefault via 10.9.0.1 dev eth0 proto dhcp expires 3000sec\n\
        sysctl\t/proc/sys/net/ipv4/ip_forward:0\n\
        sysctl\t/proc/sys/net/netfilter/nf_conntrack_count:17\n\
        kernel\tcmdline\troot=UUID=0a1b2c3d-1111-2222-3333-444455556666 ro\n\
        svc\tmulti-user.target.wants/ssh.service\n\
        garbage line\nsum\tnothex\t/etc/x\nsum\t77777777777777777777777777777777\trelative\nend\n";

    #[test]
    fn a_section_becomes_normalized_items() {
        let m = parse(Some(STAGING)).unwrap();
        let item = |k: &str| m.items.get(k).unwrap_or_else(|| panic!("{k} in {:?}", m.items.keys()));
        let sshd = item("/etc/ssh/sshd_config");
        assert_eq!((sshd.value.as_str(), sshd.modified), ("md5:44444444444444444444444444444444", true));
        assert_eq!(sshd.package.as_deref(), Some("openssh-server"));
        assert!(!item("/etc/lesskey").modified);
        assert_eq!(item("/etc/ssh/ssh_host_ed25519_key").value, "per-host");
        assert_eq!(item("/etc/sysctl.d/60-x.conf").area, Area::Kernel);
        assert_eq!(item("net:link eth0").value, "mtu 1500 state UP");
        assert_eq!(item("net:addresses eth0").value, "inet @SELF@/24 scope global");
        assert_eq!(item("net:routes").value, "default via @NET@+1 dev eth0 proto dhcp");
        assert_eq!(item("sysctl:net.ipv4.ip_forward").value, "0");
        assert_eq!(item("kernel:cmdline").value, "root=UUID=@UUID@ ro");
        assert_eq!(item("service:multi-user.target.wants/ssh.service").value, "enabled");
        assert!(!m.items.contains_key("sysctl:net.netfilter.nf_conntrack_count"), "volatile");
        assert!(!m.items.contains_key("/etc/x") && !m.items.contains_key("relative"), "bad lines skipped");
    }

    #[test]
    fn sysctl_numbers_are_kept_as_they_are_unless_a_name_is_digits() {
        let body = |name: &str| {
            format!(
                "id\tname\t{name}\nsysctl\t/proc/sys/net/ipv4/tcp_rmem:4096\t131072  6291456\nsysctl\t/proc/sys/net/core/x:123\nend\n"
            )
        };
        let m = parse(Some(&body("web1"))).unwrap();
        assert_eq!(m.items["sysctl:net.ipv4.tcp_rmem"].value, "4096 131072 6291456");
        assert_eq!(m.items["sysctl:net.core.x"].value, "123");
        // A host named "123": its name in a value is its own, as anywhere else.
        let m = parse(Some(&body("123"))).unwrap();
        assert_eq!(m.items["sysctl:net.core.x"].value, crate::drift::normalize::SELF);
    }

    #[test]
    fn no_map_without_the_section_or_its_end() {
        assert_eq!(parse(None), None);
        assert_eq!(parse(Some("id\tname\tx\n")), None, "cut short");
        let removed = "cf\tless\t22222222222222222222222222222222\t/etc/lesskey\nend\n";
        let m = parse(Some(removed)).unwrap();
        assert_eq!((m.items["/etc/lesskey"].value.as_str(), m.items["/etc/lesskey"].modified), ("missing", true));
    }
}
