//! `/etc/os-release`: which system a host runs. The probe's prelude prints it for every
//! host, before any package manager is asked (see [`super::Managers::probe_script`]).

use serde::{Deserialize, Serialize};

use crate::safe_text::for_terminal;

/// `/etc/os-release` essentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsRelease {
    /// e.g. "debian"
    pub id: String,
    /// e.g. "12"
    pub version_id: String,
    /// e.g. "bookworm"
    pub codename: String,
    /// e.g. "Debian GNU/Linux 12 (bookworm)"
    pub pretty_name: String,
}

impl OsRelease {
    /// `KEY=value` lines with optional shell quoting. Values are display-only, so they are
    /// made terminal-safe rather than rejected.
    pub fn parse(body: &str) -> Self {
        let mut os = OsRelease::default();
        for line in body.lines() {
            let Some((k, v)) = line.trim().split_once('=') else { continue };
            let v = for_terminal(&unquote(v.trim()));
            match k.trim() {
                "ID" => os.id = v,
                "VERSION_ID" => os.version_id = v,
                "VERSION_CODENAME" => os.codename = v,
                "PRETTY_NAME" => os.pretty_name = v,
                _ => {}
            }
        }
        os
    }
}

fn unquote(v: &str) -> String {
    let inner =
        if v.len() >= 2 && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\''))) {
            &v[1..v.len() - 1]
        } else {
            v
        };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_and_escaped_values() {
        let os = OsRelease::parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID='12'\nVERSION_CODENAME=book\\worm\nNAME=\"x\x1b[2J\"\n",
        );
        assert_eq!(os.pretty_name, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!((os.id.as_str(), os.version_id.as_str(), os.codename.as_str()), ("debian", "12", "bookworm"));
        assert!(!OsRelease::parse("ID=\"a\x1b[31mb\"").id.contains('\x1b'));
    }
}
