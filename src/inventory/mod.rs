//! Hosts: where they are, how to reach them, how much they matter.
//!
//! Sources: inline `[[host]]` tables in the runbook, a TOML hosts file, or an Ansible
//! inventory (INI or YAML). `ssh -G` resolution (OpenSSH's own view of ssh_config) is in
//! [`ssh_config`]; what a name may be, in every format, is in [`names`].

pub mod ansible_ini;
pub mod ansible_yaml;
pub mod names;
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
    /// Private key offered for this host (`ssh -i`), e.g. an inventory's
    /// `ansible_ssh_private_key_file`; `None`: `--identity`, else ssh_config and the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<std::path::PathBuf>,
    /// Jump hosts (`ssh -J`), e.g. from an inventory's `ansible_ssh_common_args`; empty:
    /// ssh_config decides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jump_hosts: Vec<String>,
}

impl Host {
    /// A host reached by its own name, with defaults everywhere else.
    pub fn named(name: impl Into<String>) -> Self {
        let name = name.into();
        Self {
            address: name.clone(),
            name,
            user: None,
            port: None,
            sudo: false,
            tags: Vec::new(),
            weight: 1,
            identity_file: None,
            jump_hosts: Vec::new(),
        }
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

/// Loads an inventory file, choosing the parser by extension as Ansible users expect:
/// `.yaml`/`.yml`/`.json` are Ansible YAML, anything else (`.ini`, no extension, `hosts`,
/// `hosts.prod`) is Ansible INI. Read failures become a diagnostic naming the file.
///
/// A `.toml` hosts file is the runbook loader's business (it shares the runbook's syntax and
/// error reporting); it is rejected here so a mix-up is explained instead of misparsed.
pub fn load_file(path: &std::path::Path) -> Result<Inventory, crate::diag::Diagnostics> {
    use crate::diag::{Diagnostic, Limit, SourceFile};
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if ext.as_deref() == Some("toml") {
        return Err(Diagnostic::whole_file(
            path,
            "TOML hosts files are loaded by the runbook loader, not as an Ansible inventory",
        )
        .with_help("reference it from the runbook, or use an Ansible INI/YAML inventory here")
        .into());
    }
    let src = SourceFile::read_limited(path, Limit::HOSTS)?;
    match ext.as_deref() {
        Some("yaml" | "yml" | "json") => ansible_yaml::parse(&src),
        _ => ansible_ini::parse(&src),
    }
}
