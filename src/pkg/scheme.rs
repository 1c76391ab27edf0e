//! How one package manager spells package names and versions, and which of two versions
//! is newer. Each [`super::PackageManager`] has one ([`super::apt::Debian`] for apt): no
//! code outside a manager orders versions or judges a name by one distribution's rules.

use std::cmp::Ordering;

use super::Version;

pub trait VersionScheme: Send + Sync {
    /// For messages: "debian".
    fn name(&self) -> &'static str;

    /// Is `raw` a package name under this manager's rules? Asked only of text that passed
    /// the refusal every manager shares (see [`super::names`]).
    fn is_name(&self, raw: &str) -> bool;

    /// Is `raw` a version under this manager's rules? As for [`Self::is_name`].
    fn is_version(&self, raw: &str) -> bool;

    /// Which of two versions of one package is newer. Total, and `Equal` only for the same
    /// text: two spellings the manager ranks alike (Debian's `1.0` and `1.0-0`) still
    /// differ, by their text, as they do for [`Version`]'s equality.
    fn compare(&self, a: &Version, b: &Version) -> Ordering;
}

/// Sorts `versions` oldest first under `scheme` and drops repeats.
pub fn sort_versions(scheme: &dyn VersionScheme, versions: &mut Vec<Version>) {
    versions.sort_by(|a, b| scheme.compare(a, b));
    versions.dedup();
}
