//! Did a restore put every package back? Exact comparison, the same for every package manager.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{PkgName, Version};

/// A package whose state after a restore differs from its snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub name: PkgName,
    /// What the snapshot says; `None` = must be absent.
    pub expected: Option<Version>,
    /// What is installed now; `None` = absent.
    pub found: Option<Version>,
}

/// Compares a host's installed packages with a snapshot, exactly: a version counts only if
/// it is the same string (not merely equal under Debian ordering), and a `None` entry is
/// satisfied only by absence. A restore is verified when this returns nothing.
pub fn verify(snapshot: &[(PkgName, Option<Version>)], installed_after: &BTreeMap<PkgName, Version>) -> Vec<Mismatch> {
    snapshot
        .iter()
        .filter_map(|(name, expected)| {
            let found = installed_after.get(name);
            let same = match (expected, found) {
                (Some(e), Some(f)) => e.as_str() == f.as_str(),
                (None, None) => true,
                _ => false,
            };
            (!same).then(|| Mismatch { name: name.clone(), expected: expected.clone(), found: found.cloned() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> PkgName {
        PkgName::parse(s).unwrap()
    }
    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn verify_is_exact() {
        let snap = [(n("a1"), Some(v("1.0"))), (n("b1"), None), (n("c1"), Some(v("2.0")))];
        let after: BTreeMap<_, _> = [(n("a1"), v("1.0-0")), (n("b1"), v("1"))].into_iter().collect();
        let m = verify(&snap, &after);
        assert_eq!(m.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["a1", "b1", "c1"]);
        let ok: BTreeMap<_, _> = [(n("a1"), v("1.0")), (n("c1"), v("2.0"))].into_iter().collect();
        assert!(verify(&snap, &ok).is_empty());
    }
}
