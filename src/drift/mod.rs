//! Drift nobody listed: a map of each host's configuration, gathered by the probe in its
//! one round trip and recorded by `baseline capture`, compared with staging's so that a
//! host differing in something no `[[fingerprint]]` names is still seen.
//!
//! - [`map`]: the probe's `drift` section into a [`DriftMap`] (checksums and normalized
//!   values only, never file contents);
//! - [`normalize`]: per-host values (names, addresses, machine id) become placeholders;
//! - [`areas`]: which area a configuration item belongs to, and the paths that are per host
//!   or ignored by default;
//! - [`config`]: the runbook's `[drift]` section (ignored paths, reaction per area);
//! - [`compare`]: a host's map against staging's, and a fleet's drift grouped by item.

pub mod compare;
pub mod fetch;
pub mod map;
pub mod normalize;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::runbook::drift::Area;
pub use crate::runbook::drift::{DriftPolicy, Reaction};
pub use compare::{DriftGroup, ItemDrift, compare, group};

/// The probe section holding the configuration map.
pub const SECTION: &str = "drift";

/// The drift part of the probe (the probe puts it in its own section, [`SECTION`]):
/// read-only, independent of the package manager's part.
pub const PROBE: &str = include_str!("probe.sh");

/// One configuration item of a host, as compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub area: Area,
    /// A checksum (`md5:<hex>`, of the normalized content for a file naming its own host),
    /// a normalized value, or a word (`missing`, `per-host`, `enabled`).
    pub value: String,
    /// The package whose conffile this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// A conffile that differs from its package's own (changed or removed by someone).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub modified: bool,
}

/// A host's configuration map: item key (a path under /etc, or `net:...`, `sysctl:...`,
/// `kernel:...`, `service:...`) to its value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftMap {
    pub items: BTreeMap<String, Item>,
}

impl DriftMap {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe's drift part run for real on this machine, against a directory playing a
    /// host's /etc (`ROOT/etc`, paths read back as `/etc/...`) and a name playing its `uname -n`.
    fn probe(root: &std::path::Path, name: &str) -> DriftMap {
        let script = format!("echo '{}{SECTION}'\n{PROBE}", crate::probe::SECTION_MARK)
            .replace("pd_d_etc=/etc", &format!("pd_d_etc='{}/etc'", root.display()))
            .replace("uname -n", &format!("echo {name}"));
        let out = std::process::Command::new("/bin/sh").args(["-c", &script]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout).replace(&root.display().to_string(), "");
        let sections = crate::probe::split_sections(&stdout);
        map::parse(sections.get(SECTION).map(String::as_str)).expect("a whole map")
    }

    fn host(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, body) in files {
            let p = dir.path().join("etc").join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        dir
    }

    #[test]
    fn per_host_values_are_normalized_on_the_host_and_planted_drift_is_not() {
        let staging = host(&[
            ("hosts", "127.0.0.1 localhost\n10.9.0.5 staging.example.com staging\n"),
            ("hostname", "staging\n"),
            ("ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAAstaging root@staging\n"),
            ("nginx/site.conf", "listen 10.9.0.5:80;\nserver_name staging.example.com;\n"),
            ("sysctl.d/60-x.conf", "vm.swappiness = 10\n"),
        ]);
        let prod = host(&[
            ("hosts", "127.0.0.1 localhost\n10.1.0.12 prod2.example.com prod2\n"),
            ("hostname", "prod2\n"),
            ("ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAAprod root@prod2\n"),
            ("nginx/site.conf", "listen 10.1.0.12:80;\nserver_name prod2.example.com;\n"),
            ("sysctl.d/60-x.conf", "vm.swappiness = 60\n"),
            ("apt/sources.list.d/extra.list", "deb http://example.org/ bookworm main\n"),
        ]);
        let (s, p) = (probe(staging.path(), "staging"), probe(prod.path(), "prod2"));
        let value = |m: &DriftMap, _: &tempfile::TempDir, rel: &str| {
            m.items.get(&format!("/etc/{rel}")).map(|i| i.value.clone())
        };
        for same in ["hosts", "hostname", "ssh/ssh_host_ed25519_key.pub", "nginx/site.conf"] {
            let v = value(&s, &staging, same);
            assert!(v.is_some(), "{same} is mapped");
            assert_eq!(v, value(&p, &prod, same), "{same} differs only by who the host is");
        }
        assert_ne!(value(&s, &staging, "sysctl.d/60-x.conf"), value(&p, &prod, "sysctl.d/60-x.conf"));
        assert_eq!(value(&s, &staging, "apt/sources.list.d/extra.list"), None);
        assert!(value(&p, &prod, "apt/sources.list.d/extra.list").is_some_and(|v| v.starts_with("md5:")));
        // Only checksums of files leave the host.
        assert!(!format!("{p:?}").contains("swappiness"));
    }
}
