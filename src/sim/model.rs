//! The simulated fleet's state and its TOML description.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::diag::{Diagnostics, SourceFile};
use crate::health::Prober;
use crate::pkg::{OsRelease, Version, VersionScheme};

/// A version a host's repositories offer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoVersion {
    pub name: String,
    pub version: String,
    #[serde(default = "default_origin")]
    pub origin: String,
    /// A package not installed yet that this version's upgrade of `pulled_in_by` brings in
    /// as a new dependency (apt's "NEW packages"): pending while that upgrade is.
    #[serde(default)]
    pub pulled_in_by: Option<String>,
}

fn default_origin() -> String {
    "Debian:12.12/stable".into()
}

/// A fault planted on a simulated host: the first command whose script contains `on`
/// gets `effect` (drills and tests inject these).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub on: String,
    pub effect: FaultEffect,
    /// Fire once (default) or on every matching command.
    #[serde(default)]
    pub sticky: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultEffect {
    /// The command exits with this status.
    Exit(i32),
    /// The command never finishes (until its timeout).
    Hang,
    /// The host drops off the network before the command runs.
    Unreachable,
    /// A restore leaves this package at its current version (a rollback that lies).
    KeepVersion(String),
    /// The command runs and its changes land, then it exits with this status: an upgrade
    /// whose packages were unpacked before a maintainer script failed.
    ExitAfter(i32),
    /// The command's changes land, then dpkg dies while configuring this package (the ssh
    /// session carrying apt was lost): the package is left half-configured (`iF`), dpkg's
    /// journal unmerged, and apt refuses everything until `dpkg --configure -a`.
    Interrupt(String),
}

/// The package manager a simulated host runs unless its fleet says otherwise.
pub const DEFAULT_MANAGER: &str = "apt";

/// One simulated host. Fields are deliberately plain strings: the simulation may hold
/// hostile text on purpose, to prove it never reaches a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostState {
    pub name: String,
    pub os: OsRelease,
    /// The package manager whose tools the host has (see [`crate::sim::SimManager`]).
    pub manager: String,
    pub installed: BTreeMap<String, String>,
    /// Installed packages marked as automatically installed (pulled in as a dependency).
    pub auto: BTreeSet<String>,
    /// Versions the distribution mirror offers: the ones installed when the fleet was
    /// loaded, which stay installable after an upgrade (that is what makes rollback work).
    pub mirror: BTreeMap<String, String>,
    /// Newer versions the repositories offer (installed versions are offered too unless
    /// listed in `not_installable`).
    pub repo: Vec<RepoVersion>,
    pub not_installable: BTreeSet<String>,
    pub held: BTreeSet<String>,
    pub files: BTreeMap<String, String>,
    /// Derived fleets (drills of a runbook without a fleet file): a path fingerprint whose
    /// file has no content here is answered with this recorded sha256 (the baseline's), as
    /// a hash cannot be inverted into content. Empty for fleets described in TOML.
    pub tested_sha256: BTreeMap<String, String>,
    pub commands: BTreeMap<String, String>,
    pub reachable: bool,
    /// The outside health endpoint answers 200 with the host's name.
    pub healthy: bool,
    /// Installing updates breaks the outside health endpoint (until rolled back).
    pub breaks_after_update: bool,
    pub reboot_required: bool,
    /// Packages a dpkg run left half done, by name: their dpkg status (`iF`, `iU`, `iHR`).
    pub unfinished: BTreeMap<String, String>,
    /// dpkg's journal (`/var/lib/dpkg/updates/`) holds changes its last run never merged.
    pub dpkg_interrupted: bool,
    /// Every command run on this host, in order (for tests and drills).
    pub history: Vec<String>,
    pub faults: Vec<Fault>,
    /// The host's window lock file, as its text (`None`: unlocked); see [`crate::lock::host`].
    pub lock: Option<String>,
}

impl Default for HostState {
    fn default() -> Self {
        Self {
            name: String::new(),
            os: OsRelease::default(),
            manager: DEFAULT_MANAGER.into(),
            installed: BTreeMap::new(),
            auto: BTreeSet::new(),
            mirror: BTreeMap::new(),
            repo: Vec::new(),
            not_installable: BTreeSet::new(),
            held: BTreeSet::new(),
            files: BTreeMap::new(),
            tested_sha256: BTreeMap::new(),
            commands: BTreeMap::new(),
            reachable: false,
            healthy: false,
            breaks_after_update: false,
            reboot_required: false,
            unfinished: BTreeMap::new(),
            dpkg_interrupted: false,
            history: Vec::new(),
            faults: Vec::new(),
            lock: None,
        }
    }
}

impl HostState {
    /// The fault that applies to `script`, consuming it unless sticky.
    pub fn take_fault(&mut self, script: &str) -> Option<FaultEffect> {
        let i = self.faults.iter().position(|f| script.contains(&f.on))?;
        let f = if self.faults[i].sticky { self.faults[i].clone() } else { self.faults.remove(i) };
        Some(f.effect)
    }
}

impl HostState {
    /// Versions of `name` installable now: repository versions plus the mirror's.
    pub fn installable(&self, name: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> =
            self.repo.iter().filter(|r| r.name == name).map(|r| (r.version.clone(), r.origin.clone())).collect();
        if let Some(v) = self.mirror.get(name)
            && !self.not_installable.contains(name)
            && !out.iter().any(|(rv, _)| rv == v)
        {
            out.push((v.clone(), default_origin()));
        }
        out
    }

    /// Packages a pending upgrade would newly install: (name, version, origin).
    pub fn new_dependencies(&self, scheme: &dyn VersionScheme) -> Vec<(String, String, String)> {
        self.repo
            .iter()
            .filter(|r| !self.installed.contains_key(&r.name))
            .filter(|r| r.pulled_in_by.as_deref().is_some_and(|p| self.candidate(p, scheme).is_some()))
            .map(|r| (r.name.clone(), r.version.clone(), r.origin.clone()))
            .collect()
    }

    /// The newest installable version of `name` under `scheme`: (version, origin).
    pub fn newest(&self, name: &str, scheme: &dyn VersionScheme) -> Option<(String, String)> {
        self.installable(name)
            .into_iter()
            .filter_map(|(v, o)| Some((Version::parse_in(scheme, &v).ok()?, o)))
            .max_by(|a, b| scheme.compare(&a.0, &b.0))
            .map(|(v, o)| (v.to_string(), o))
    }

    /// The newest installable version of an installed package, if newer than installed.
    pub fn candidate(&self, name: &str, scheme: &dyn VersionScheme) -> Option<(String, String)> {
        let installed = Version::parse_in(scheme, self.installed.get(name)?).ok()?;
        let (best, origin) = self.newest(name, scheme)?;
        let newer = Version::parse_in(scheme, &best).is_ok_and(|b| scheme.compare(&b, &installed).is_gt());
        newer.then_some((best, origin))
    }

    /// Does the installed version of `name` differ from what the mirror had (the host as
    /// loaded)? A package brought in by an upgrade (`pulled_in_by`) is needed from then on.
    pub fn moved_from_mirror(&self, name: &str) -> bool {
        self.installed.get(name).is_some_and(|v| self.mirror.get(name) != Some(v))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    #[serde(default)]
    common: RawHost,
    #[serde(default)]
    host: BTreeMap<String, RawHost>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHost {
    os: Option<OsRelease>,
    /// The package manager the host runs (default apt).
    manager: Option<String>,
    #[serde(default)]
    installed: BTreeMap<String, String>,
    #[serde(default)]
    repo: Vec<RepoVersion>,
    #[serde(default)]
    not_installable: Vec<String>,
    #[serde(default)]
    held: Vec<String>,
    #[serde(default)]
    files: BTreeMap<String, String>,
    #[serde(default)]
    commands: BTreeMap<String, String>,
    unreachable: Option<bool>,
    unhealthy: Option<bool>,
    breaks_after_update: Option<bool>,
    reboot_required: Option<bool>,
    #[serde(default)]
    faults: Vec<Fault>,
}

/// The whole fleet, shared by the transport and the prober; state changes as commands run.
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    hosts: Arc<Mutex<BTreeMap<String, HostState>>>,
    /// Multiplies every simulated delay; 0 makes everything instant.
    pub speed: f64,
}

impl Fleet {
    /// Parses a fleet description. Hosts inherit `[common]` and override it per key.
    pub fn from_toml(src: &SourceFile) -> Result<Self, Diagnostics> {
        let raw: RawFleet = toml::from_str(&src.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            Diagnostics::from(src.error(span, format!("invalid fleet: {}", e.message())))
        })?;
        let c = &raw.common;
        let hosts = raw
            .host
            .iter()
            .map(|(name, h)| {
                let merge = |a: &BTreeMap<String, String>, b: &BTreeMap<String, String>| {
                    a.iter().chain(b.iter()).map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>()
                };
                let state = HostState {
                    name: name.clone(),
                    os: h.os.clone().or_else(|| c.os.clone()).unwrap_or_default(),
                    manager: h.manager.clone().or_else(|| c.manager.clone()).unwrap_or_else(|| DEFAULT_MANAGER.into()),
                    installed: merge(&c.installed, &h.installed),
                    auto: BTreeSet::new(),
                    mirror: merge(&c.installed, &h.installed),
                    repo: c.repo.iter().chain(h.repo.iter()).cloned().collect(),
                    not_installable: c.not_installable.iter().chain(h.not_installable.iter()).cloned().collect(),
                    held: c.held.iter().chain(h.held.iter()).cloned().collect(),
                    files: merge(&c.files, &h.files),
                    tested_sha256: BTreeMap::new(),
                    commands: merge(&c.commands, &h.commands),
                    reachable: !h.unreachable.or(c.unreachable).unwrap_or(false),
                    healthy: !h.unhealthy.or(c.unhealthy).unwrap_or(false),
                    breaks_after_update: h.breaks_after_update.or(c.breaks_after_update).unwrap_or(false),
                    reboot_required: h.reboot_required.or(c.reboot_required).unwrap_or(false),
                    unfinished: BTreeMap::new(),
                    dpkg_interrupted: false,
                    history: Vec::new(),
                    faults: c.faults.iter().chain(h.faults.iter()).cloned().collect(),
                    lock: None,
                };
                (name.clone(), state)
            })
            .collect();
        Ok(Self { hosts: Arc::new(Mutex::new(hosts)), speed: 1.0 })
    }

    /// A fleet from host states built in code (drills derive one from a runbook).
    pub fn from_hosts(hosts: impl IntoIterator<Item = HostState>) -> Self {
        let hosts = hosts.into_iter().map(|h| (h.name.clone(), h)).collect();
        Self { hosts: Arc::new(Mutex::new(hosts)), speed: 1.0 }
    }

    pub fn with_speed(mut self, speed: f64) -> Self {
        self.speed = speed.max(0.0);
        self
    }

    /// Runs `f` on a host's state (by host name or address). `None` if no such host.
    pub fn with_host<T>(&self, name_or_address: &str, f: impl FnOnce(&mut HostState) -> T) -> Option<T> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let key = if hosts.contains_key(name_or_address) {
            name_or_address.to_string()
        } else {
            // Addresses like `web1.demo.internal` resolve to host `web1`.
            let short = name_or_address.split('.').next().unwrap_or_default();
            hosts.contains_key(short).then(|| short.to_string())?
        };
        hosts.get_mut(&key).map(f)
    }

    pub fn host_names(&self) -> Vec<String> {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }

    /// A plausible delay for an operation that takes `base` on a real host.
    pub async fn pause(&self, base: Duration) {
        if self.speed > 0.0 {
            tokio::time::sleep(base.mul_f64(self.speed)).await;
        }
    }
}

/// Operator-side checks against the simulated fleet: a URL or address names a host.
pub struct SimProber(pub Fleet);

fn host_of(url_or_addr: &str) -> &str {
    let rest = url_or_addr.split_once("://").map_or(url_or_addr, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

#[async_trait]
impl Prober for SimProber {
    async fn http_get(&self, url: &str, timeout: Duration) -> Result<(u16, String), String> {
        self.0.pause(Duration::from_millis(40)).await;
        let state = self.0.with_host(host_of(url), |h| (h.reachable, h.healthy, h.name.clone()));
        match state {
            None => Err(format!("cannot connect: {} does not resolve", host_of(url))),
            Some((false, _, _)) => Err(format!("timed out after {timeout:?}")),
            Some((true, true, name)) => Ok((200, format!("ok {name}\n"))),
            Some((true, false, _)) => Ok((503, "upstream connect error\n".into())),
        }
    }

    async fn tcp_connect(&self, address: &str, timeout: Duration) -> Result<(), String> {
        self.0.pause(Duration::from_millis(20)).await;
        match self.0.with_host(host_of(address), |h| h.reachable && h.healthy) {
            None => Err(format!("{} does not resolve", host_of(address))),
            Some(true) => Ok(()),
            Some(false) => Err(format!("no connection within {timeout:?}")),
        }
    }
}
