//! What happens in a window, as journaled events. The journal is the source of truth: the
//! engine's state, the cockpit, `watch`, `--resume` and `report` are all folds over these.
//!
//! Write-ahead: an event announcing an action (`StepStarted`, `RollbackStarted`) is
//! journaled and fsynced before the action runs; its outcome follows when known. A
//! `StepStarted` with no outcome after a crash means "outcome unknown", never "not run".

use serde::{Deserialize, Serialize};

use crate::diff::Finding;
use crate::health::CheckResult;

/// Why the window stopped for a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopKind {
    /// A stop-class divergence found in the re-check right before the host's first change.
    Divergence { findings: Vec<Finding> },
    /// The host could not be reached.
    Unreachable { detail: String },
    /// A step (or rollback) exited non-zero.
    StepFailed { step: String, status: Option<i32>, output_tail: String },
    /// A step ran past its timeout; its remote command was killed.
    StepTimeout { step: String, after_secs: u64 },
    /// A health check failed after a step.
    HealthFailed { after_step: String, failing: Vec<CheckResult> },
    /// The host wants a reboot and the runbook plans none.
    RebootRequired { packages: Vec<String> },
    /// "Decide by" (end minus rollback reserve) has passed.
    Deadline { decide_by: jiff::Timestamp },
    /// The window's change risk is over the runbook's maximum.
    RiskOver { risk: f64, max: f64, changes: usize },
    /// The next step cannot be undone.
    Irreversible { step: String },
    /// After a crash, a step was in flight: it may or may not have run.
    UnknownOutcome { step: String },
    /// Rolling back did not restore the snapshot.
    RollbackUnverified { mismatches: Vec<String> },
    /// More hosts of a wave failed or were rolled back than its `max_failures` allows.
    TooManyFailures { wave: String, failures: usize, max: usize },
}

impl StopKind {
    /// One line for the operator: what happened.
    pub fn headline(&self) -> String {
        match self {
            StopKind::Divergence { findings } => {
                format!("{} difference(s) from what was tested", findings.len())
            }
            StopKind::Unreachable { detail } => format!("host unreachable: {detail}"),
            StopKind::StepFailed { step, status, .. } => {
                format!("step \"{step}\" failed (exit {})", status.map_or("signal".into(), |s| s.to_string()))
            }
            StopKind::StepTimeout { step, after_secs } => format!("step \"{step}\" timed out after {after_secs}s"),
            StopKind::HealthFailed { after_step, failing } => {
                format!("{} health check(s) failing after \"{after_step}\"", failing.len())
            }
            StopKind::RebootRequired { .. } => "a reboot is required but the runbook plans none".into(),
            StopKind::Deadline { decide_by } => format!("decide-by time {} has passed", decide_by.strftime("%H:%MZ")),
            StopKind::RiskOver { risk, max, changes } => {
                format!(
                    "window risk {:.1}% for {changes} changes is over the maximum {:.1}%",
                    risk * 100.0,
                    max * 100.0
                )
            }
            StopKind::Irreversible { step } => format!("point of no return: \"{step}\" cannot be undone"),
            StopKind::UnknownOutcome { step } => {
                format!("\"{step}\" was running when patchdeck stopped: outcome unknown")
            }
            StopKind::RollbackUnverified { mismatches } => {
                format!("rollback did not restore {} package(s)", mismatches.len())
            }
            StopKind::TooManyFailures { wave, failures, max } => {
                format!("wave {wave}: {failures} host(s) failed or rolled back, it allows {max}")
            }
        }
    }
}

/// What the operators decided at a hard stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Undo the host's completed steps, newest first.
    Rollback,
    /// Leave the host as it is and carry on with the others.
    SkipHost,
    /// Stop the window; nothing more is started.
    Abort,
    /// Run the step again (after a failure or an unknown outcome).
    Retry,
    /// Stop the window and undo everything done so far, newest first.
    RollbackAll,
    /// Carry on despite the stop; the reason is required and recorded.
    Override { reason: String },
}

impl Decision {
    pub fn label(&self) -> &'static str {
        match self {
            Decision::Rollback => "rollback",
            Decision::RollbackAll => "rollback everything",
            Decision::SkipHost => "skip host",
            Decision::Abort => "abort window",
            Decision::Retry => "retry step",
            Decision::Override { .. } => "override",
        }
    }
}

/// What operators can ask for at any time, not only at a hard stop. A step already running
/// finishes first: a remote command is never killed silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Undo this host's completed steps as soon as it is between steps.
    RollbackHost { host: String },
    /// Undo every host of the current wave.
    RollbackWave { wave: String, hosts: Vec<String> },
    /// Stop starting anything and undo everything done so far in the window.
    RollbackAll,
    /// Stop starting anything; leave hosts as they are.
    Abort,
}

/// How a step (or a step's rollback) ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Failed { status: Option<i32>, output_tail: String },
    Timeout { after_secs: u64 },
    Unreachable { detail: String },
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

/// A package's version before a change (`None`: it was not installed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotEntry {
    pub name: String,
    pub version: Option<String>,
}

/// A package change actually observed on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub name: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// How a host ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostResult {
    Done,
    RolledBack,
    Skipped,
    Failed,
}

/// One journaled event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    WindowStarted {
        window: String,
        operators: Vec<String>,
        hosts: Vec<String>,
        drill: bool,
    },
    Preflight {
        host: String,
        findings: Vec<Finding>,
        checks: Vec<CheckResult>,
    },
    WaveStarted {
        wave: String,
    },
    Recheck {
        host: String,
        findings: Vec<Finding>,
    },
    HardStop {
        id: u64,
        host: Option<String>,
        stop: StopKind,
    },
    Requested {
        request: Request,
        operators: Vec<String>,
    },
    Decided {
        id: u64,
        host: Option<String>,
        decision: Decision,
        operators: Vec<String>,
    },
    Snapshot {
        host: String,
        step: usize,
        packages: Vec<SnapshotEntry>,
    },
    StepStarted {
        host: String,
        step: usize,
        name: String,
        command: String,
    },
    StepFinished {
        host: String,
        step: usize,
        outcome: Outcome,
        changes: Vec<Change>,
        millis: u64,
    },
    Checks {
        host: String,
        after_step: Option<usize>,
        results: Vec<CheckResult>,
    },
    AutoRollbackArmed {
        host: String,
        seconds: u64,
    },
    AutoRollbackCancelled {
        host: String,
        operators: Vec<String>,
    },
    RollbackStarted {
        host: String,
        step: usize,
        name: String,
        command: String,
    },
    RollbackFinished {
        host: String,
        step: usize,
        outcome: Outcome,
        verified: Option<bool>,
        mismatches: Vec<String>,
        millis: u64,
    },
    HostFinished {
        host: String,
        result: HostResult,
    },
    WaveFinished {
        wave: String,
        failures: usize,
    },
    WindowFinished {
        aborted: bool,
    },
    /// A drill injected a fault. `at` is the drill's clock (simulated time from the
    /// window's start, or real time in `--live` drills); `host` is `None` for faults on the
    /// window itself (the clock jumping).
    FaultInjected {
        fault: String,
        host: Option<String>,
        at: jiff::Timestamp,
    },
    /// A drill's scorecard, journaled when the drill ends so `report` includes it.
    DrillScorecard {
        scorecard: Box<crate::drill::Scorecard>,
    },
}
