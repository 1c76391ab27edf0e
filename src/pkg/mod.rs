//! Package managers. Nothing outside this module parses package-manager output.
//!
//! A [`PackageManager`] writes the shell for its part of the probe, parses what came back
//! into [`PkgFacts`], and builds install/restore commands. apt is first ([`apt::Apt`]);
//! dnf can implement the same trait. Every name and version read from a host is untrusted
//! and is validated into [`PkgName`] / [`Version`] before anything else sees it.

pub mod apt;
pub mod names;
pub mod verify;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use names::{Hostile, PkgName, Version};
pub use verify::{Mismatch, verify};

use crate::transport::Command;

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

/// One update apt would apply now.
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
    /// Packages on hold (`apt-mark showhold`).
    pub held: BTreeSet<PkgName>,
    /// Upgradable packages apt would keep back.
    pub kept_back: BTreeSet<PkgName>,
    /// `/var/run/reboot-required` exists.
    pub reboot_required: bool,
    /// Packages that asked for the reboot (`reboot-required.pkgs`).
    pub reboot_required_by: BTreeSet<PkgName>,
    /// Services needrestart says need a restart (empty when needrestart is not installed).
    pub restart_services: BTreeSet<String>,
    /// For each package that would change: the versions the host can install again
    /// (from a repository or a cached .deb). Rollback is feasible when the installed
    /// version is among them.
    pub installable: BTreeMap<PkgName, BTreeSet<Version>>,
}

impl PkgFacts {
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

/// A package manager (apt, later dnf).
pub trait PackageManager: Send + Sync {
    fn name(&self) -> &'static str;

    /// Shell that prints this manager's probe sections (see [`crate::probe`] for framing).
    /// Runs with `LC_ALL=C`, reads only, never takes the package lock.
    fn probe_script(&self) -> String;

    /// Parses the sections printed by [`Self::probe_script`] (section name -> body).
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
}
