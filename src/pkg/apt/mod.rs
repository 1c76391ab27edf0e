//! The apt/dpkg backend.
//!
//! Reads through interfaces meant for machines (`dpkg-query -W -f`, `apt-get -s`,
//! `apt-cache policy`), always with `LC_ALL=C`, and never takes the dpkg lock to read.
//! - [`probe`]: the shell for the probe sections and the history dump;
//! - [`parse`]: section parsers and [`parse::parse_probe`];
//! - [`history`]: `history.log` blocks, for baselines captured from a past upgrade;
//! - [`commands`]: install exact versions, restore a snapshot;
//! - [`scheme`]: Debian's names and versions, and dpkg's version order.

pub mod commands;
pub mod history;
pub mod parse;
pub mod probe;
pub mod scheme;

use std::collections::BTreeMap;
use std::time::Duration;

pub use commands::{InstallOptions, install_exact_with};
pub use scheme::Debian;

use crate::pkg::{Detect, PackageManager, ParseError, Pending, PkgFacts, PkgName, Version, VersionScheme};
use crate::transport::Command;

/// The apt backend. Stateless: all state lives on the host.
#[derive(Debug, Clone, Copy, Default)]
pub struct Apt;

impl PackageManager for Apt {
    fn name(&self) -> &'static str {
        "apt"
    }

    fn scheme(&self) -> &dyn VersionScheme {
        &Debian
    }

    /// Debian and its derivatives (Ubuntu says `ID_LIKE=debian`); dpkg's and apt's tools.
    fn detect(&self) -> Detect {
        Detect { families: &["debian"], tools: &["dpkg-query", "apt-get"] }
    }

    fn probe_script(&self) -> String {
        probe::PROBE_SCRIPT.to_string()
    }

    fn parse_probe(&self, sections: &BTreeMap<String, String>) -> Result<PkgFacts, ParseError> {
        parse::parse_probe(sections)
    }

    fn resolver_sections(&self) -> &'static [&'static str] {
        &probe::RESOLVER_SECTIONS
    }

    fn install_exact(&self, packages: &[(PkgName, Version)], timeout: Duration) -> Command {
        commands::install_exact(packages, timeout)
    }

    fn history_script(&self) -> String {
        probe::HISTORY_SCRIPT.to_string()
    }

    fn parse_last_upgrade(&self, out: &str) -> Result<Vec<Pending>, ParseError> {
        history::parse_last_upgrade(out)
    }

    fn restore(&self, snapshot: &[(PkgName, Option<Version>)], timeout: Duration) -> Command {
        commands::restore(snapshot, timeout)
    }

    fn repair(&self, timeout: Duration) -> Command {
        commands::repair(timeout)
    }
}
