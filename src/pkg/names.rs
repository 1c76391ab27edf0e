//! Validated package names and versions. Text from a host becomes one of these or is
//! rejected as [`Hostile`]; nothing else from a host ever reaches a command line.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Text from a host that cannot be what it claims to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("hostile or corrupt {what}: {shown}")]
pub struct Hostile {
    /// "package name", "version", ...
    pub what: &'static str,
    /// The offending text, made safe to print (control characters escaped).
    pub shown: String,
}

impl Hostile {
    pub fn new(what: &'static str, raw: &str) -> Self {
        let mut shown = crate::safe_text::for_terminal(raw);
        if shown.chars().count() > 80 {
            shown = shown.chars().take(77).collect::<String>() + "...";
        }
        Self { what, shown: format!("{shown:?}") }
    }
}

/// A Debian-policy package name (lowercase alphanumerics and `+-.`, at least 2 chars),
/// optionally with an architecture qualifier (`libc6:amd64`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PkgName(String);

impl PkgName {
    pub fn parse(raw: &str) -> Result<Self, Hostile> {
        let (name, arch) = match raw.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (raw, None),
        };
        let name_ok = name.len() >= 2
            && name.len() <= 128
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
        let arch_ok = arch.is_none_or(|a| {
            !a.is_empty()
                && a.len() <= 32
                && a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
        if name_ok && arch_ok { Ok(Self(raw.to_string())) } else { Err(Hostile::new("package name", raw)) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PkgName {
    type Error = Hostile;
    fn try_from(s: String) -> Result<Self, Hostile> {
        Self::parse(&s)
    }
}
impl From<PkgName> for String {
    fn from(n: PkgName) -> String {
        n.0
    }
}
impl fmt::Display for PkgName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Debian version string (`[epoch:]upstream[-revision]`), ordered by Debian rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version(String);

impl Version {
    pub fn parse(raw: &str) -> Result<Self, Hostile> {
        let ok = !raw.is_empty()
            && raw.len() <= 128
            && raw.starts_with(|c: char| c.is_ascii_digit())
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '~' | ':'));
        if ok { Ok(Self(raw.to_string())) } else { Err(Hostile::new("version", raw)) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.0.parse::<debversion::Version>(), other.0.parse::<debversion::Version>()) {
            (Ok(a), Ok(b)) => a.cmp(&b).then_with(|| self.0.cmp(&other.0)),
            _ => self.0.cmp(&other.0),
        }
    }
}
impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl TryFrom<String> for Version {
    type Error = Hostile;
    fn try_from(s: String) -> Result<Self, Hostile> {
        Self::parse(&s)
    }
}
impl From<Version> for String {
    fn from(v: Version) -> String {
        v.0
    }
}
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_names_and_versions_pass() {
        for n in ["libssl3", "libc6:amd64", "g++-12", "libstdc++6", "tzdata", "python3.11"] {
            PkgName::parse(n).unwrap();
        }
        for v in ["3.0.15-1~deb12u1", "1:2.38.1-5+deb12u3", "2024a-0+deb12u1", "252.33-1~deb12u1"] {
            Version::parse(v).unwrap();
        }
    }

    #[test]
    fn shell_metacharacters_and_escapes_are_hostile() {
        for n in ["foo;touch /tmp/pwned", "foo bar", "$(id)", "a\x1b[31m", "Foo", "x", "foo`id`"] {
            assert!(PkgName::parse(n).is_err(), "{n:?} accepted");
        }
        for v in ["1.0;rm -rf /", "1.0\n", "$(id)", "\x1b[2J1.0", "", "1.0 2"] {
            assert!(Version::parse(v).is_err(), "{v:?} accepted");
        }
        let h = PkgName::parse("a\x1b[2Jb").unwrap_err();
        assert!(!h.shown.contains('\x1b'));
    }

    #[test]
    fn debian_ordering() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("1.0~rc1") < v("1.0"));
        assert!(v("1:0.9") > v("2.0"));
        assert!(v("3.0.11-1~deb12u2") < v("3.0.15-1~deb12u1"));
    }
}
