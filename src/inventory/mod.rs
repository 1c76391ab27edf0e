//! Hosts: where they are, how to reach them, how much they matter.
//!
//! Sources: inline `[[host]]` tables in the runbook, a TOML hosts file, or an Ansible
//! inventory (INI or YAML). `ssh -G` resolution (OpenSSH's own view of ssh_config) is in
//! [`ssh_config`].

pub mod ansible_ini;
pub mod ansible_yaml;
pub mod ssh_config;
pub mod toml_file;

use serde::{Deserialize, Serialize};

/// One host of the fleet, as the runbook knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// Unique name used in waves, journal and screens.
    pub name: String,
    /// Hostname, IP address or ssh alias handed to ssh. Defaults to `name`.
    pub address: String,
    /// Remote user; `None` lets ssh_config decide.
    pub user: Option<String>,
    /// Remote port; `None` lets ssh_config decide.
    pub port: Option<u16>,
    /// Commands that need root run through `sudo -n`.
    pub sudo: bool,
    pub tags: Vec<String>,
    /// Customer impact: higher means more customers hurt if this host breaks.
    pub weight: u32,
}

impl Host {
    /// A host reached by its own name, with defaults everywhere else.
    pub fn named(name: impl Into<String>) -> Self {
        let name = name.into();
        Self { address: name.clone(), name, user: None, port: None, sudo: false, tags: Vec::new(), weight: 1 }
    }
}

/// Where in a file a host was declared, so later validation can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostOrigin {
    pub file: std::path::PathBuf,
    /// Byte span of the host's name in that file.
    pub span: std::ops::Range<usize>,
}

/// Hosts in file order, each with where it came from.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub hosts: Vec<(Host, HostOrigin)>,
}
