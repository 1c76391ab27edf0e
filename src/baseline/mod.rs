//! The tested baseline: what was applied and tested on the staging host, and what its
//! config looked like. Every prod host is compared against it before anything changes.
//!
//! Stored as TOML (see `docs/baseline.md`), written by `patchdeck baseline capture`.

pub mod capture;
mod file;

use serde::{Deserialize, Serialize};

pub use file::{load, load_str, to_toml};

use crate::pkg::{OsRelease, PkgName, Version};
use crate::probe::FpValue;
use crate::runbook::Fingerprint;

/// How the update set was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// What the staging host had pending at capture time (capture before upgrading staging).
    Pending,
    /// What the last upgrade in `/var/log/apt/history.log` did (capture after upgrading staging).
    History,
}

/// One update that was applied and tested on staging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestedUpdate {
    pub name: PkgName,
    /// Version before the update; absent if the update newly installed the package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Version>,
    pub to: Version,
    #[serde(default)]
    pub origin: String,
}

/// A config fingerprint as it was on staging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestedFingerprint {
    pub fingerprint: Fingerprint,
    pub value: FpValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    /// The staging host it was captured on.
    pub host: String,
    pub captured_at: jiff::Timestamp,
    pub source: Source,
    pub os: OsRelease,
    pub updates: Vec<TestedUpdate>,
    pub fingerprints: Vec<TestedFingerprint>,
    /// Staging's configuration map ([`crate::drift`]); `None` in a baseline captured before
    /// patchdeck recorded one: drift is then not compared (and `check` says so).
    pub drift: Option<crate::drift::DriftMap>,
}

impl Baseline {
    pub fn update(&self, name: &PkgName) -> Option<&TestedUpdate> {
        self.updates.iter().find(|u| &u.name == name)
    }

    pub fn fingerprint(&self, fp: &Fingerprint) -> Option<&FpValue> {
        self.fingerprints.iter().find(|t| &t.fingerprint == fp).map(|t| &t.value)
    }
}
