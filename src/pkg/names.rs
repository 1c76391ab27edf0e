//! Validated package names and versions. Text from a host becomes one of these or is
//! rejected as [`Hostile`]; nothing else from a host ever reaches a command line.
//!
//! Two layers: a refusal every package manager shares (no shell metacharacter, no
//! whitespace or control character, no leading `-`, at most 128 characters), and the
//! rules of the manager that answered ([`VersionScheme`]). Text a host printed goes
//! through both ([`PkgName::parse_in`], [`Version::parse_in`]); text from a file patchdeck
//! wrote (a baseline, the journal) goes through the common refusal ([`PkgName::parse`],
//! [`Version::parse`]), as it carries no manager: on the wire both stay plain strings.
//!
//! A [`Version`] has no order of its own: which of two versions is newer is the manager's
//! business ([`VersionScheme::compare`]), so `a < b` on versions does not compile.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::VersionScheme;

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

/// The refusal every manager shares: ASCII letters and digits and `.+-~:_` only, starting
/// with a letter or digit (never read as an option), 1 to 128 characters. What one manager
/// allows beyond that is its scheme's say.
fn plain(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= 128
        && raw.starts_with(|c: char| c.is_ascii_alphanumeric())
        && raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '~' | ':' | '_'))
}

/// A package name: past the common refusal, and past its manager's rules when it came
/// from a host (Debian's `libc6:amd64`, rpm's `NetworkManager`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PkgName(String);

impl PkgName {
    /// Text from a file patchdeck wrote or from code: the common refusal only.
    pub fn parse(raw: &str) -> Result<Self, Hostile> {
        if plain(raw) { Ok(Self(raw.to_string())) } else { Err(Hostile::new("package name", raw)) }
    }
    /// Text a host printed: the common refusal, then `scheme`'s rules.
    pub fn parse_in(scheme: &dyn VersionScheme, raw: &str) -> Result<Self, Hostile> {
        let name = Self::parse(raw)?;
        if scheme.is_name(raw) { Ok(name) } else { Err(Hostile::new("package name", raw)) }
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

/// A version string, compared as text for equality; ordered only by a manager's scheme.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version(String);

impl Version {
    /// Text from a file patchdeck wrote or from code: the common refusal only.
    pub fn parse(raw: &str) -> Result<Self, Hostile> {
        if plain(raw) { Ok(Self(raw.to_string())) } else { Err(Hostile::new("version", raw)) }
    }
    /// Text a host printed: the common refusal, then `scheme`'s rules.
    pub fn parse_in(scheme: &dyn VersionScheme, raw: &str) -> Result<Self, Hostile> {
        let version = Self::parse(raw)?;
        if scheme.is_version(raw) { Ok(version) } else { Err(Hostile::new("version", raw)) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
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
    use crate::pkg::apt::Debian;
    use crate::pkg::testing::RpmLike;

    #[test]
    fn real_names_and_versions_pass() {
        for n in ["libssl3", "libc6:amd64", "g++-12", "libstdc++6", "tzdata", "python3.11"] {
            PkgName::parse_in(&Debian, n).unwrap();
        }
        for v in ["3.0.15-1~deb12u1", "1:2.38.1-5+deb12u3", "2024a-0+deb12u1", "252.33-1~deb12u1"] {
            Version::parse_in(&Debian, v).unwrap();
        }
    }

    #[test]
    fn shell_metacharacters_and_escapes_are_hostile_under_every_scheme() {
        let schemes: [&dyn VersionScheme; 2] = [&Debian, &RpmLike];
        for n in ["foo;touch /tmp/pwned", "foo bar", "$(id)", "a\x1b[31m", "foo`id`", "-rf", "", "a'b", "a/b"] {
            assert!(PkgName::parse(n).is_err(), "{n:?} accepted");
            for s in schemes {
                assert!(PkgName::parse_in(s, n).is_err(), "{n:?} accepted by {}", s.name());
            }
        }
        for v in ["1.0;rm -rf /", "1.0\n", "$(id)", "\x1b[2J1.0", "", "1.0 2", "-1", "1|2", &"1".repeat(129)] {
            assert!(Version::parse(v).is_err(), "{v:?} accepted");
            for s in schemes {
                assert!(Version::parse_in(s, v).is_err(), "{v:?} accepted by {}", s.name());
            }
        }
        let h = PkgName::parse("a\x1b[2Jb").unwrap_err();
        assert!(!h.shown.contains('\x1b'));
    }

    #[test]
    fn each_manager_adds_its_own_rules() {
        // Debian policy: lowercase, at least two characters; versions start with a digit.
        for n in ["Foo", "x", "a_b"] {
            assert!(PkgName::parse_in(&Debian, n).is_err(), "{n:?} accepted by debian");
        }
        assert!(Version::parse_in(&Debian, "v1.0").is_err());
        // The same text is a fine rpm name, and a file may carry it (no manager there).
        for n in ["NetworkManager", "x", "python3-zope_interface"] {
            PkgName::parse_in(&RpmLike, n).unwrap();
            PkgName::parse(n).unwrap();
        }
    }
}
