//! Package managers. Nothing outside this module parses package-manager output.
//!
//! A [`PackageManager`] says how a host shows it runs it ([`Detect`]), writes the shell for
//! its block of the probe, parses what came back into [`PkgFacts`], builds install/restore
//! commands, and owns the [`VersionScheme`] its names and versions follow. [`Managers`]
//! holds the ones patchdeck knows and picks a host's from its probe. apt is the one real
//! backend ([`apt::Apt`]); a second one implements the same trait (a test-only one does:
//! `testing::Fake`). Every name and version read from a host is untrusted and is validated
//! into [`PkgName`] / [`Version`] by its manager's scheme before anything else sees it.

pub mod apt;
mod dbhealth;
mod managers;
pub mod names;
mod os;
pub mod scheme;
#[cfg(test)]
pub(crate) mod testing;
pub mod verify;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use dbhealth::{DbHealth, PkgState, StateMismatch, Unfinished, verify_states};
pub use managers::{Detect, MANAGER_SECTION, Managers, OS_SECTION, looks_for};
pub use names::{Hostile, PkgName, Version};
pub use os::OsRelease;
pub use scheme::{VersionScheme, sort_versions};
pub use verify::{Mismatch, verify};

use crate::transport::Command;

/// One update the package manager would apply now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub name: PkgName,
    /// Installed version; `None` if the upgrade would newly install it.
    pub from: Option<Version>,
    /// Candidate version.
    pub to: Version,
    /// Where the candidate comes from, e.g. "Debian-Security:12/stable-security".
    pub origin: String,
    pub security: bool,
}

/// Everything the package manager told us about a host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkgFacts {
    pub os: OsRelease,
    /// Installed packages and their versions.
    pub installed: BTreeMap<PkgName, Version>,
    /// Updates a full upgrade would apply now, by name.
    pub pending: Vec<Pending>,
    /// Packages an upgrade would remove.
    pub removals: BTreeSet<PkgName>,
    /// Packages on hold (apt: `apt-mark showhold`).
    pub held: BTreeSet<PkgName>,
    /// Upgradable packages the manager would keep back.
    pub kept_back: BTreeSet<PkgName>,
    /// `/var/run/reboot-required` exists.
    pub reboot_required: bool,
    /// Packages that asked for the reboot (`reboot-required.pkgs`).
    pub reboot_required_by: BTreeSet<PkgName>,
    /// Services needrestart says need a restart (empty when needrestart is not installed).
    pub restart_services: BTreeSet<String>,
    /// For each package that would change: the versions the host can install again
    /// (from a repository or a cached package file), oldest first by the manager's scheme
    /// (the probe sorts them: [`PkgFacts::sort_installable`]). Rollback is feasible when
    /// the installed version is among them.
    pub installable: BTreeMap<PkgName, Vec<Version>>,
    /// Every package the manager knows of, in every state (apt: dpkg's `db:Status-Abbrev`),
    /// half-installed and config-files-only ones included: what a snapshot records and a
    /// verification compares. Empty in facts written before it was recorded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub states: BTreeMap<PkgName, PkgState>,
    /// Whether the package database finished its last run and is free to change now.
    #[serde(default)]
    pub db: DbHealth,
}

impl PkgFacts {
    /// Puts every package's installable versions in `scheme`'s order, oldest first, once each.
    pub fn sort_installable(&mut self, scheme: &dyn VersionScheme) {
        for versions in self.installable.values_mut() {
            sort_versions(scheme, versions);
        }
    }

    /// Is the currently installed version of `name` installable again (so rollback can restore it)?
    pub fn can_reinstall_current(&self, name: &PkgName) -> bool {
        match self.installed.get(name) {
            None => true, // newly installed: rollback removes it
            Some(v) => self.installable.get(name).is_some_and(|set| set.contains(v)),
        }
    }
}

/// Parsing a probe section failed, or the host sent something we refuse to handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Text that cannot be a package name or version (shell metacharacters, control characters).
    #[error(transparent)]
    Hostile(#[from] Hostile),
    /// The output did not have the expected shape.
    #[error("unexpected output from `{command}`: {detail}")]
    Malformed { command: String, detail: String },
}

/// A package manager (apt; a second one plugs in here).
pub trait PackageManager: Send + Sync {
    /// Its name in the probe's `manager` section, messages and the journal: "apt". A plain
    /// word (`[A-Za-z0-9._-]`), as it is written into the probe script.
    fn name(&self) -> &'static str;

    /// How its names and versions are spelled, and which version is newer.
    fn scheme(&self) -> &dyn VersionScheme;

    /// How a host shows it runs this manager (see [`Managers::probe_script`]).
    fn detect(&self) -> Detect;

    /// Shell that prints this manager's probe sections (see [`crate::probe`] for framing),
    /// run after the prelude of [`Managers::probe_script`] chose this manager.
    /// Runs with `LC_ALL=C`, reads only, never takes the package lock.
    fn probe_script(&self) -> String;

    /// Parses the sections printed by [`Self::probe_script`] (section name -> body; the
    /// prelude's `os` section is read by the probe, not here).
    fn parse_probe(&self, sections: &BTreeMap<String, String>) -> Result<PkgFacts, ParseError>;

    /// The probe sections that only the resolver's run prints: skipped when the host's
    /// package state is unchanged (see [`crate::probe::cache`]), kept and reused instead.
    fn resolver_sections(&self) -> &'static [&'static str] {
        &[]
    }

    /// Installs exactly these versions, non-interactively, keeping local config files.
    fn install_exact(&self, packages: &[(PkgName, Version)], timeout: Duration) -> Command;

    /// Shell that prints the log of past upgrades (for `baseline capture --from history`).
    fn history_script(&self) -> String;

    /// The updates applied by the most recent upgrade in that log, with from/to versions.
    fn parse_last_upgrade(&self, out: &str) -> Result<Vec<Pending>, ParseError>;

    /// Reinstalls snapshot versions (downgrades allowed) and removes packages whose snapshot is `None`.
    fn restore(&self, snapshot: &[(PkgName, Option<Version>)], timeout: Duration) -> Command;

    /// Finishes what an interrupted run left half done (apt: `dpkg --configure -a`), changing
    /// no version on purpose. Run when [`DbHealth::needs_repair`] says so, then probed again.
    fn repair(&self, timeout: Duration) -> Command;
}
