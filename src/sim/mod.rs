//! A simulated fleet: hosts held in memory, for the demo, tests and drills.
//!
//! Each host has installed packages, repository versions, config files and command outputs.
//! [`crate::transport::simulated::SimTransport`] answers commands from this model, printing
//! what real apt would print so the real parser is exercised; [`SimProber`] answers the
//! operator-side health checks. A fleet is described in TOML (`assets/demo/fleet.toml`).

pub mod apt_output;
mod model;

pub use model::{Fault, FaultEffect, Fleet, HostState, RepoVersion, SimProber};
