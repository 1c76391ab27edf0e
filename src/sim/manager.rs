//! A package manager as the simulator plays it: what its block of the probe prints on a
//! simulated host, and what the install and restore scripts its backend writes do there.
//! One per [`crate::pkg::PackageManager`]; apt's is [`super::apt::AptSim`].

use std::sync::Arc;

use super::HostState;
use crate::pkg::VersionScheme;

/// What a simulated command printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ran {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn failed(status: i32, stderr: impl Into<String>) -> Self {
        Self { status, stdout: String::new(), stderr: stderr.into() }
    }
}

pub trait SimManager: Send + Sync {
    /// As [`crate::pkg::PackageManager::name`] says it, and [`HostState::manager`].
    fn name(&self) -> &'static str;

    /// The order of its versions (which one a host's repositories offer as the candidate).
    fn scheme(&self) -> &dyn VersionScheme;

    /// The sections its block of the probe prints on `h` (after the prelude's).
    fn probe(&self, h: &HostState) -> String;

    /// Runs an install or restore script its backend wrote, changing `h` as the real tool
    /// would; `keep` names a package a fault leaves as it is. `Err` (with the line) when the
    /// script is not one it understands: never guessed, never silently fine.
    fn run(&self, h: &mut HostState, script: &str, keep: Option<&str>) -> Result<Ran, String>;
}

/// The managers the simulator plays by default: apt.
pub fn standard() -> Vec<Arc<dyn SimManager>> {
    vec![Arc::new(super::apt::AptSim)]
}
