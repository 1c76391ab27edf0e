//! Debian's names and versions: Debian policy for both, dpkg's order for versions (the
//! `debversion` crate implements `dpkg --compare-versions`).

use std::cmp::Ordering;

use crate::pkg::{Version, VersionScheme};

/// The scheme of dpkg and apt.
#[derive(Debug, Clone, Copy, Default)]
pub struct Debian;

impl VersionScheme for Debian {
    fn name(&self) -> &'static str {
        "debian"
    }

    /// Lowercase alphanumerics and `+-.`, at least 2 characters, starting with a letter or
    /// digit; optionally an architecture qualifier (`libc6:amd64`).
    fn is_name(&self, raw: &str) -> bool {
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
        name_ok && arch_ok
    }

    /// `[epoch:]upstream[-revision]`: starts with a digit; alphanumerics and `.+-~:`.
    fn is_version(&self, raw: &str) -> bool {
        !raw.is_empty()
            && raw.len() <= 128
            && raw.starts_with(|c: char| c.is_ascii_digit())
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '~' | ':'))
    }

    fn compare(&self, a: &Version, b: &Version) -> Ordering {
        match (a.as_str().parse::<debversion::Version>(), b.as_str().parse::<debversion::Version>()) {
            (Ok(x), Ok(y)) => x.cmp(&y).then_with(|| a.as_str().cmp(b.as_str())),
            _ => a.as_str().cmp(b.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse_in(&Debian, s).unwrap()
    }

    #[test]
    fn debian_ordering() {
        let lt = |a: &str, b: &str| Debian.compare(&v(a), &v(b)) == Ordering::Less;
        assert!(lt("1.0~rc1", "1.0"));
        assert!(lt("2.0", "1:0.9"), "the epoch wins");
        assert!(lt("3.0.11-1~deb12u2", "3.0.15-1~deb12u1"));
        // dpkg: a letter after the dot sorts after the end of a string of digits.
        assert!(lt("1.1", "1.a"));
        // Ranked alike by dpkg, still two different strings: ordered, never Equal.
        assert_ne!(Debian.compare(&v("1.0"), &v("1.0-0")), Ordering::Equal);
        assert_eq!(Debian.compare(&v("1.0"), &v("1.0")), Ordering::Equal);
    }
}
