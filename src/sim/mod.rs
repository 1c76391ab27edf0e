//! A simulated fleet: hosts held in memory, for the demo, tests and drills.
//!
//! Each host has installed packages, repository versions, config files and command outputs.
//! [`SimTransport`] answers commands from this model: the
//! probe as the real script would print it on the host ([`probe`], with the host's package
//! manager's own sections, so the real parser is exercised), and install and restore
//! scripts by running them through the host's manager as the simulator plays it
//! ([`SimManager`]; apt's is [`apt::AptSim`]). [`SimProber`] answers the operator-side
//! health checks. A fleet is described in TOML (`assets/demo/fleet.toml`).

pub mod apt;
mod manager;
mod model;
pub mod probe;
#[cfg(test)]
pub(crate) mod testing;
mod transport;

pub use manager::{Ran, SimManager, standard};
pub use model::{DEFAULT_MANAGER, Fault, FaultEffect, Fleet, HostState, RepoVersion, SimProber};
pub use transport::SimTransport;
