//! Per-host values are not drift: the host's own names, addresses and machine id become the
//! placeholder [`SELF`], so a listen directive naming each host's own address reads the
//! same on staging and on prod. Files are normalized on the host by the probe (the same
//! tokens, replaced by `sed`); the network and kernel listings here.

use std::net::{IpAddr, Ipv4Addr};

/// What each host's own name or address becomes.
pub const SELF: &str = "@SELF@";

/// Who a host is, as its probe said (the `id` lines), and the IPv4 networks it sits on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Names, fully qualified names and the machine id (exact tokens).
    pub names: Vec<String>,
    pub addrs: Vec<IpAddr>,
    /// (network, prefix length) of the host's own IPv4 addresses, loopback excepted.
    pub nets: Vec<(Ipv4Addr, u8)>,
}

impl Identity {
    /// Adds one `id` line's token (`name`, `fqdn`, `addr`, `machine`).
    pub fn add(&mut self, kind: &str, token: &str) {
        match kind {
            "addr" => {
                if let Ok(a) = token.parse::<IpAddr>() {
                    self.addrs.push(a);
                }
            }
            "name" | "fqdn" | "machine" if token.len() >= 3 => self.names.push(token.to_string()),
            _ => {}
        }
    }

    /// Adds the network of an address with its prefix (`192.0.2.7/24`), from `ip addr`.
    pub fn add_net(&mut self, cidr: &str) {
        let Some((a, len)) = cidr.split_once('/') else { return };
        let (Ok(a), Ok(len)) = (a.parse::<Ipv4Addr>(), len.parse::<u8>()) else { return };
        if a.is_loopback() || !(8..=30).contains(&len) {
            return;
        }
        let net = Ipv4Addr::from(u32::from(a) & mask(len));
        if !self.nets.contains(&(net, len)) {
            self.nets.push((net, len));
        }
    }

    /// `text` with every token naming this host replaced by [`SELF`], and every other IPv4
    /// address on one of its networks written relative to it (`@NET@+1`: the gateway of
    /// staging's network and of prod's read the same).
    pub fn text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut token = String::new();
        for c in text.chars() {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '_') {
                token.push(c);
            } else {
                out.push_str(&self.token(&token));
                token.clear();
                out.push(c);
            }
        }
        out.push_str(&self.token(&token));
        out
    }

    fn token(&self, t: &str) -> String {
        if t.is_empty() {
            return String::new();
        }
        if let Some(r) = self.exact(t) {
            return r;
        }
        // host:port, or a name or address followed by a full stop.
        for (i, c) in t.char_indices().rev() {
            if matches!(c, ':' | '.')
                && let Some(r) = self.exact(&t[..i])
            {
                return format!("{r}{}", &t[i..]);
            }
        }
        // A fully qualified name of the host under another domain still starts with its name.
        for n in &self.names {
            if t.len() > n.len() && t.starts_with(n.as_str()) && t.as_bytes()[n.len()] == b'.' {
                return format!("{SELF}{}", &t[n.len()..]);
            }
        }
        t.to_string()
    }

    fn exact(&self, t: &str) -> Option<String> {
        if self.names.iter().any(|n| n == t) {
            return Some(SELF.into());
        }
        let ip = t.parse::<IpAddr>().ok()?;
        if self.addrs.contains(&ip) {
            return Some(SELF.into());
        }
        let IpAddr::V4(v4) = ip else { return None };
        let (net, _) = self.nets.iter().find(|(net, len)| u32::from(v4) & mask(*len) == u32::from(*net))?;
        let offset = u32::from(v4) - u32::from(*net);
        Some(if offset == 0 { "@NET@".into() } else { format!("@NET@+{offset}") })
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) }
}

/// Collapses runs of blanks to one space and trims: the form every listed value is kept in.
pub fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// UUIDs (root=UUID=..., resume=...) differ per installed disk, not per configuration.
pub fn uuids(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut w = w.to_string();
            while let Some(at) = find_uuid(&w) {
                w.replace_range(at..at + 36, "@UUID@");
            }
            w
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn find_uuid(w: &str) -> Option<usize> {
    let b = w.as_bytes();
    (0..b.len().saturating_sub(35)).find(|&i| {
        b[i..i + 36]
            .iter()
            .enumerate()
            .all(|(k, c)| if matches!(k, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prod() -> Identity {
        let mut id = Identity::default();
        id.add("name", "prod2");
        id.add("fqdn", "prod2.example.com");
        id.add("addr", "10.1.0.12");
        id.add("addr", "fd00::12");
        id.add("machine", "3d1219c7c4c5404aaa1f6d2a48adfda4");
        id.add_net("10.1.0.12/24");
        id.add_net("127.0.0.1/8");
        id
    }

    fn staging() -> Identity {
        let mut id = Identity::default();
        id.add("name", "staging");
        id.add("addr", "10.9.0.5");
        id.add_net("10.9.0.5/16");
        id
    }

    #[test]
    fn own_names_and_addresses_become_placeholders() {
        let p = prod();
        assert_eq!(p.text("ListenAddress 10.1.0.12:22"), "ListenAddress @SELF@:22");
        assert_eq!(p.text("server_name prod2.example.com prod2;"), "server_name @SELF@ @SELF@;");
        assert_eq!(p.text("inet 10.1.0.12/24 scope global"), "inet @SELF@/24 scope global");
        assert_eq!(p.text("inet6 fd00::12/64"), "inet6 @SELF@/64");
        assert_eq!(p.text("id 3d1219c7c4c5404aaa1f6d2a48adfda4."), "id @SELF@.");
        assert_eq!(p.text("prod2.internal"), "@SELF@.internal");
        // Not the host's: a longer name, another address, a word containing the name.
        assert_eq!(p.text("prod22 10.1.0.120x reprod2 10.2.0.12"), "prod22 10.1.0.120x reprod2 10.2.0.12");
        assert_eq!(p.text("127.0.0.1 localhost"), "127.0.0.1 localhost", "loopback is nobody's own");
    }

    #[test]
    fn routes_of_different_networks_read_the_same() {
        let (p, s) = (prod(), staging());
        let route = |id: &Identity, net: &str, gw: &str, me: &str| {
            id.text(&format!("default via {gw} dev eth0; {net} dev eth0 proto kernel scope link src {me}"))
        };
        let here = route(&p, "10.1.0.0/24", "10.1.0.1", "10.1.0.12");
        assert_eq!(here, "default via @NET@+1 dev eth0; @NET@/24 dev eth0 proto kernel scope link src @SELF@");
        // Staging's /16 differs from prod's /24: that difference is real and stays visible.
        assert_ne!(here, route(&s, "10.9.0.0/16", "10.9.0.1", "10.9.0.5"));
        let mut s24 = Identity::default();
        s24.add("addr", "10.9.0.5");
        s24.add_net("10.9.0.5/24");
        assert_eq!(here, route(&s24, "10.9.0.0/24", "10.9.0.1", "10.9.0.5"));
    }

    #[test]
    fn uuids_and_blanks() {
        let c = "BOOT_IMAGE=/vmlinuz root=UUID=0a1b2c3d-1111-2222-3333-444455556666 ro  quiet";
        assert_eq!(squash(&uuids(c)), "BOOT_IMAGE=/vmlinuz root=UUID=@UUID@ ro quiet");
    }
}
