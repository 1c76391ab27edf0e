//! The runbook: one maintenance window as a TOML file.
//!
//! [`load`] parses and validates a runbook and everything it references (inventory file),
//! reporting **all** problems at once with positions (see [`crate::diag`]).
//! The format is documented in `docs/runbook.md`.

pub mod drift;
pub mod duration;
pub mod load;
pub mod placeholder;
pub mod raw;
pub mod validate;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::inventory::Host;

pub use load::{load, load_str, load_with};

/// A validated runbook. Every reference in it resolves; every step can be undone or says it cannot.
#[derive(Debug, Clone)]
pub struct Runbook {
    /// The runbook file; relative paths inside it are resolved against its directory.
    pub path: PathBuf,
    pub window: Window,
    /// The fleet, in inventory order.
    pub hosts: Vec<Host>,
    /// An ssh_config file handed to ssh with `-F`, if the runbook names one.
    pub ssh_config: Option<PathBuf>,
    pub baseline: BaselineRef,
    pub policy: Policy,
    pub fingerprints: Vec<Fingerprint>,
    pub waves: Vec<Wave>,
    pub steps: Vec<Step>,
    pub checks: Vec<Check>,
}

impl Runbook {
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub name: String,
    pub starts: jiff::Timestamp,
    pub ends: jiff::Timestamp,
    /// Time kept back to roll everything back: "decide by" = ends - reserve.
    pub rollback_reserve: Duration,
}

impl Window {
    /// After this instant, carrying on needs a deliberate decision.
    pub fn decide_by(&self) -> jiff::Timestamp {
        let reserve = jiff::SignedDuration::try_from(self.rollback_reserve).unwrap_or(jiff::SignedDuration::ZERO);
        self.ends.checked_sub(reserve).unwrap_or(self.starts)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineRef {
    /// The tested baseline file (resolved against the runbook's directory).
    pub file: PathBuf,
    /// The staging host it was captured on (a host of the inventory or just a label).
    pub host: String,
}

pub use crate::verdict::OnDivergence;

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Chance p that any one changed package breaks the host.
    pub change_risk: f64,
    /// Window risk 1-(1-p)^n above which a stop is raised.
    pub max_risk: f64,
    pub untested_package: OnDivergence,
    pub version_mismatch: OnDivergence,
    pub different_start: OnDivergence,
    pub not_pending: OnDivergence,
    pub config_drift: OnDivergence,
    pub rollback_infeasible: OnDivergence,
    pub held_package: OnDivergence,
    pub auto_rollback: bool,
    pub auto_rollback_countdown: Duration,
    /// Every wave after the first waits for a go (unless the wave says `gate = false`).
    pub gate_between_waves: bool,
    /// The `[drift]` section: what configuration drift is ignored, and each area's reaction.
    pub drift: drift::DriftPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            change_risk: 0.01,
            max_risk: 0.25,
            untested_package: OnDivergence::Stop,
            version_mismatch: OnDivergence::Stop,
            different_start: OnDivergence::Warn,
            not_pending: OnDivergence::Warn,
            config_drift: OnDivergence::Stop,
            rollback_infeasible: OnDivergence::Stop,
            held_package: OnDivergence::Warn,
            auto_rollback: false,
            auto_rollback_countdown: Duration::from_secs(15),
            gate_between_waves: false,
            drift: drift::DriftPolicy::default(),
        }
    }
}

/// What "same config as tested" means: a file's sha256 or a command's normalized output.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fingerprint {
    Path(String),
    Command(String),
}

impl Fingerprint {
    /// Stable label used in baselines, diffs and the journal, e.g. `file:/etc/network/interfaces`.
    pub fn label(&self) -> String {
        match self {
            Fingerprint::Path(p) => format!("file:{p}"),
            Fingerprint::Command(c) => format!("command:{c}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    pub name: String,
    pub hosts: Vec<String>,
    /// Hosts worked on at once within this wave.
    pub parallel: usize,
    /// Failed hosts tolerated before the wave stops.
    pub max_failures: usize,
    /// Go/no-go: before this wave starts, people say go (journaled with who).
    pub gate: bool,
    /// `gate` was written for this wave (else the policy's `gate_between_waves` decides).
    pub gate_set: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAction {
    /// Built in: snapshot, install exactly the tested versions; rollback restores the snapshot.
    Packages,
    /// A command on the host.
    Run(String),
    /// A command on the operator's machine.
    Local(String),
    /// Reboot the host and wait for it to come back.
    Reboot,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub action: StepAction,
    /// How to undo the step, run where the step runs (host or local).
    pub rollback: Option<String>,
    /// The step cannot be undone; a point-of-no-return stop precedes it.
    pub irreversible: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// HTTP(S) GET from the operator's machine.
    Http { url: String, expect_status: u16, contains: Option<String> },
    /// TCP connect from the operator's machine to `host:port`.
    Tcp { address: String },
    /// A command on the host; exit 0 is healthy.
    Run(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub kind: CheckKind,
    pub timeout: Duration,
}
