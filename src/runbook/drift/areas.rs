//! Which area a configuration item belongs to, the files whose content is the host's own,
//! and the files left out by default (each with its reason: `docs/drift.md` lists them).

use serde::{Deserialize, Serialize};

use super::glob;

/// The areas of drift; each has its own divergence class and its own reaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    /// Interfaces, addresses, routes, rules, MTUs, firewall, resolver, `net.*` sysctls and
    /// network configuration files.
    Networking,
    /// A locally modified conffile of a package this window changes. Never stored in a map:
    /// decided when comparing, knowing what the window changes.
    Conffiles,
    /// Any other configuration file under /etc.
    Config,
    /// The running kernel, its command line, sysctl and module files.
    Kernel,
    /// Services enabled at boot and local unit files.
    Services,
    /// apt sources, pinning and keys.
    Sources,
}

impl Area {
    pub const ALL: [Area; 6] =
        [Area::Networking, Area::Conffiles, Area::Config, Area::Kernel, Area::Services, Area::Sources];

    /// The word used in the runbook, reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Area::Networking => "networking",
            Area::Conffiles => "conffiles",
            Area::Config => "config",
            Area::Kernel => "kernel",
            Area::Services => "services",
            Area::Sources => "sources",
        }
    }

    pub fn parse(word: &str) -> Option<Area> {
        Area::ALL.into_iter().find(|a| a.name() == word)
    }
}

/// Files by area (first match wins); anything else under /etc is [`Area::Config`].
const FILE_AREAS: &[(&str, Area)] = &[
    ("/etc/network/**", Area::Networking),
    ("/etc/netplan/**", Area::Networking),
    ("/etc/systemd/network/**", Area::Networking),
    ("/etc/NetworkManager/**", Area::Networking),
    ("/etc/dhcp/**", Area::Networking),
    ("/etc/hosts", Area::Networking),
    ("/etc/nftables.conf", Area::Networking),
    ("/etc/iptables/**", Area::Networking),
    ("/etc/apt/sources.list", Area::Sources),
    ("/etc/apt/sources.list.d/**", Area::Sources),
    ("/etc/apt/preferences", Area::Sources),
    ("/etc/apt/preferences.d/**", Area::Sources),
    ("/etc/apt/trusted.gpg", Area::Sources),
    ("/etc/apt/trusted.gpg.d/**", Area::Sources),
    ("/etc/apt/keyrings/**", Area::Sources),
    ("/etc/sysctl.conf", Area::Kernel),
    ("/etc/sysctl.d/**", Area::Kernel),
    ("/etc/modprobe.d/**", Area::Kernel),
    ("/etc/modules", Area::Kernel),
    ("/etc/modules-load.d/**", Area::Kernel),
    ("/etc/default/grub", Area::Kernel),
    ("/etc/default/grub.d/**", Area::Kernel),
    ("/etc/kernel/**", Area::Kernel),
    ("/etc/initramfs-tools/**", Area::Kernel),
    ("/etc/systemd/system/**", Area::Services),
];

/// The area of a file under /etc.
pub fn of_file(path: &str) -> Area {
    FILE_AREAS.iter().find(|(g, _)| glob::matches(g, path)).map_or(Area::Config, |(_, a)| *a)
}

/// Files whose content belongs to the host alone: only their presence is compared (their
/// value becomes `per-host`). The host's name, addresses and machine id inside any other
/// file are replaced by a placeholder instead (see [`crate::drift::normalize`]).
pub const PER_HOST_FILES: &[&str] = &[
    // Keys made on each host at install time; a copied key would be a finding of its own.
    "/etc/ssh/ssh_host_*",
    // The host's identity itself.
    "/etc/hostname",
    "/etc/machine-id",
    "/etc/mailname",
];

pub fn is_per_host(path: &str) -> bool {
    PER_HOST_FILES.iter().any(|g| glob::matches(g, path))
}

/// Left out unless the runbook says otherwise, each for a reason (also in docs/drift.md).
pub const DEFAULT_IGNORE: &[(&str, &str)] = &[
    ("/etc/ld.so.cache", "rebuilt from the installed libraries: package differences already show"),
    ("/etc/adjtime", "the clock's drift record, written by hwclock"),
    ("/etc/*-", "backup copies that passwd, shadow and group tools keep"),
    ("/etc/.pwd.lock", "a lock file"),
    ("/etc/apparmor.d/cache/**", "compiled profiles, rebuilt from the profiles compared"),
    ("/etc/resolv.conf", "compared by its values (net:resolver), not its bytes"),
    ("/etc/.updated", "a timestamp systemd writes"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_land_in_their_area() {
        assert_eq!(of_file("/etc/network/interfaces"), Area::Networking);
        assert_eq!(of_file("/etc/apt/sources.list.d/extra.list"), Area::Sources);
        assert_eq!(of_file("/etc/apt/apt.conf.d/10x"), Area::Config);
        assert_eq!(of_file("/etc/sysctl.d/60-x.conf"), Area::Kernel);
        assert_eq!(of_file("/etc/systemd/system/x.service.d/override.conf"), Area::Services);
        assert_eq!(of_file("/etc/nginx/nginx.conf"), Area::Config);
        assert!(is_per_host("/etc/ssh/ssh_host_ed25519_key.pub") && !is_per_host("/etc/ssh/sshd_config"));
        assert!(Area::ALL.iter().all(|a| Area::parse(a.name()) == Some(*a)));
    }
}
