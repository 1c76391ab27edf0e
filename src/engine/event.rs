//! What happens in a window, as journaled events. The journal is the source of truth: the
//! engine's state, the cockpit, `watch`, `--resume` and `report` are all folds over these.
//!
//! Write-ahead: an event announcing an action (`StepStarted`, `RollbackStarted`) is
//! journaled and fsynced before the action runs; its outcome follows when known. A
//! `StepStarted` with no outcome after a crash means "outcome unknown", never "not run".

use serde::{Deserialize, Serialize};

use super::control::DecisionWire;
pub use super::control::{Actor, Choice, Decision, StopCode, Target};
pub use super::scorecard::Scorecard;
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
    /// A step (or rollback) exited non-zero. `repair`: why repairing the package database
    /// is offered (a packages step that left it half done).
    StepFailed {
        step: String,
        status: Option<i32>,
        output_tail: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repair: Option<String>,
    },
    /// A step ran past its timeout; its remote command was killed.
    StepTimeout { step: String, after_secs: u64 },
    /// A health check failed after a step. `countdown_interrupted`: an auto-rollback was
    /// counting down when patchdeck stopped (found on `--resume`): nothing was rolled back.
    HealthFailed {
        after_step: String,
        failing: Vec<CheckResult>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        countdown_interrupted: bool,
    },
    /// The host wants a reboot and the runbook plans none.
    RebootRequired { packages: Vec<String> },
    /// "Decide by" (end minus rollback reserve) has passed.
    Deadline { decide_by: jiff::Timestamp },
    /// The window's change risk is over the runbook's maximum.
    RiskOver { risk: f64, max: f64, changes: usize },
    /// The next step cannot be undone.
    Irreversible { step: String },
    /// After a crash, a step was in flight: it may or may not have run. `repair`: why
    /// repairing the package database is offered (the packages step, or its rollback).
    UnknownOutcome {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repair: Option<String>,
    },
    /// Rolling back did not restore the snapshot.
    RollbackUnverified { mismatches: Vec<String> },
    /// More hosts of a wave failed than its `max_failures` allows.
    TooManyFailures { wave: String, failures: usize, max: usize },
    /// The host was rolled back, and a health check that passed before the window still
    /// fails.
    StillUnhealthy { failing: Vec<CheckResult> },
    /// Go/no-go before a wave starts: people say go.
    Gate { wave: String },
    /// The window's start time has not come: nothing changes before it unless people start
    /// early, with a reason.
    BeforeStart { starts: jiff::Timestamp },
    /// Another window holds the host's lock ([`crate::lock::host`]): nothing changes on it.
    /// `holder`: who, as the lock says (escaped). `stale`: its holder is gone (its process
    /// died on this machine, or its window is over): people may decide to break it.
    HostLocked { holder: String, stale: bool },
}

impl StopKind {
    /// The stop's kind, without its details.
    pub fn code(&self) -> StopCode {
        match self {
            StopKind::Divergence { .. } => StopCode::Divergence,
            StopKind::Unreachable { .. } => StopCode::Unreachable,
            StopKind::StepFailed { .. } => StopCode::StepFailed,
            StopKind::StepTimeout { .. } => StopCode::StepTimeout,
            StopKind::HealthFailed { .. } => StopCode::HealthFailed,
            StopKind::RebootRequired { .. } => StopCode::RebootRequired,
            StopKind::Deadline { .. } => StopCode::Deadline,
            StopKind::RiskOver { .. } => StopCode::RiskOver,
            StopKind::Irreversible { .. } => StopCode::Irreversible,
            StopKind::UnknownOutcome { .. } => StopCode::UnknownOutcome,
            StopKind::RollbackUnverified { .. } => StopCode::RollbackUnverified,
            StopKind::TooManyFailures { .. } => StopCode::TooManyFailures,
            StopKind::StillUnhealthy { .. } => StopCode::StillUnhealthy,
            StopKind::Gate { .. } => StopCode::Gate,
            StopKind::BeforeStart { .. } => StopCode::BeforeStart,
            StopKind::HostLocked { .. } => StopCode::HostLocked,
        }
    }

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
            StopKind::HealthFailed { after_step, failing, countdown_interrupted: false } => {
                format!("{} health check(s) failing after \"{after_step}\"", failing.len())
            }
            StopKind::HealthFailed { after_step, failing, countdown_interrupted: true } => format!(
                "{} health check(s) failing after \"{after_step}\"; its auto-rollback was counting down when patchdeck stopped",
                failing.len()
            ),
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
            StopKind::UnknownOutcome { step, .. } => {
                // A crash of patchdeck, or a link lost with a record that cannot say.
                format!("\"{step}\": outcome unknown (cut off from patchdeck while it ran)")
            }
            StopKind::RollbackUnverified { mismatches } => {
                format!("rollback did not restore {} package(s)", mismatches.len())
            }
            StopKind::TooManyFailures { wave, failures, max } => {
                format!("wave {wave}: {failures} host(s) failed, it allows {max}")
            }
            StopKind::StillUnhealthy { failing } => {
                format!("rolled back, still unhealthy: {} health check(s) failing", failing.len())
            }
            StopKind::Gate { wave } => format!("go/no-go: wave {wave} waits for a go"),
            StopKind::BeforeStart { starts } => {
                format!("the window starts at {}: nothing changes before then", starts.strftime("%H:%MZ"))
            }
            StopKind::HostLocked { holder, stale: false } => format!("locked: {holder}"),
            StopKind::HostLocked { holder, stale: true } => {
                format!("locked: {holder}; its holder is gone: break the lock only if that window is over")
            }
        }
    }
}

impl StopKind {
    /// Why "repair" (finish what the package database left half done, then probe again) is
    /// offered at this stop; `None`: it is not. Said in the modal and in headless output.
    pub fn repair_reason(&self) -> Option<String> {
        match self {
            // Each such finding's detail names every package left half done, and the fix.
            StopKind::Divergence { findings } => {
                findings.iter().find(|f| f.class == crate::diff::Class::DpkgBroken).map(|f| f.detail.clone())
            }
            StopKind::StepFailed { repair, .. } | StopKind::UnknownOutcome { repair, .. } => repair.clone(),
            _ => None,
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
    /// Leave the window paused: nothing new starts, running steps end, `--resume` carries
    /// on where it was (the operator quit, or a signal).
    Pause { reason: String },
}

impl Request {
    /// The choice this request stands for, and its target (`None`: pausing is not a choice
    /// at a stop).
    pub fn decision(&self) -> Option<Decision> {
        Some(match self {
            Request::RollbackHost { host } => Decision::new(Choice::RollbackHost, Target::Host(host.clone())),
            Request::RollbackWave { wave, .. } => Decision::new(Choice::RollbackWave, Target::Wave(wave.clone())),
            Request::RollbackAll => Decision::new(Choice::RollbackAll, Target::Window),
            Request::Abort => Decision::new(Choice::Abort, Target::Window),
            Request::Pause { .. } => return None,
        })
    }
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

/// A package before a change: its version (`None`: it was not installed) and its status
/// as the package database recorded it (apt: `ii`, `rc`, `iHR`...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotEntry {
    pub name: String,
    pub version: Option<String>,
    /// Snapshots journaled before statuses were recorded listed installed packages only:
    /// those read as installed and healthy.
    #[serde(default = "installed_ok")]
    pub status: String,
}

/// dpkg's status of a package installed and configured, with nothing wanted of it.
pub const INSTALLED_OK: &str = "ii";

fn installed_ok() -> String {
    INSTALLED_OK.to_string()
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
    /// Nothing ran on it (the window ended before it, or it was never reached).
    NotStarted,
    /// The window ended (abort, deadline, failure limit) with some of its steps done and
    /// not undone: it can still be rolled back.
    Stopped,
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
        /// The plan: waves in order with their hosts and failure budgets (absent in
        /// journals written before it was recorded).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        waves: Vec<WavePlan>,
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
        /// The step (0-based) the stop is about, when it is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<usize>,
        /// Raised while the host was being rolled back.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        rollback: bool,
    },
    Requested {
        request: Request,
        operators: Vec<String>,
    },
    Decided(Decided),
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
        /// Run after the host was rolled back.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        after_rollback: bool,
    },
    /// The operators accepted a step that failed or whose outcome is unknown as done (an
    /// override): it counts as done, and a rollback undoes it.
    StepAccepted {
        host: String,
        step: usize,
        stop: u64,
    },
    /// The operators accepted a step's rollback that failed or whose outcome is unknown as
    /// undone (an override at a rollback stop): the rollback moves on, and the host's
    /// rollback is unverified.
    RollbackAccepted {
        host: String,
        step: usize,
        stop: u64,
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
        scorecard: Box<Scorecard>,
    },
    /// Repairing a host's package database, decided at a stop (apt: `dpkg --configure -a`):
    /// journaled before it runs. `why`: what made it needed.
    RepairStarted {
        host: String,
        command: String,
        why: String,
    },
    /// How the repair ended, and the package database as probed after it: `healthy` when
    /// nothing is left half done (`None`: it could not be probed), `left` what still is.
    RepairFinished {
        host: String,
        outcome: Outcome,
        healthy: Option<bool>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        left: Vec<String>,
        millis: u64,
    },
    /// The window was taken up again by `--resume` (or `patchdeck rollback`): who, and which
    /// process on which machine.
    Resumed {
        operators: Vec<String>,
        pid: u32,
        machine: String,
    },
    /// What the host's own record said about a run of a step (or of its rollback) whose end
    /// patchdeck did not see: the link was lost while it ran, or patchdeck stopped
    /// ([`crate::transport::runner`]). An outcome journaled after it came from the host's
    /// record, not from watching the command end.
    RunRecord {
        host: String,
        step: usize,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        rollback: bool,
        attempt: u32,
        found: RunFound,
    },
}

/// What a host's record of a run said ([`Event::RunRecord`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RunFound {
    /// It had ended with this status (`None`: patchdeck ended it, at a timeout).
    Finished { status: Option<i32> },
    /// It was still running: patchdeck followed it again to its end.
    Running,
    /// There is no record: it never started on the host.
    Missing,
    /// The record cannot say how it ended (its processes died without writing a status,
    /// as with a power-off).
    Inconsistent { detail: String },
    /// The host could not be reached to read it.
    Unreadable { detail: String },
}

impl RunFound {
    /// In words, for the progress lines and the report.
    pub fn describe(&self) -> String {
        match self {
            RunFound::Finished { status: Some(s) } => format!("it had ended on the host, exit {s}"),
            RunFound::Finished { status: None } => "it had been ended on the host (timeout)".into(),
            RunFound::Running => "it was still running on the host; followed again".into(),
            RunFound::Missing => "the host has no record of it: it never started there".into(),
            RunFound::Inconsistent { detail } => format!("the host's record cannot say how it ended: {detail}"),
            RunFound::Unreadable { detail } => format!("the host's record could not be read: {detail}"),
        }
    }
}

/// One wave of the plan, as journaled when the window starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WavePlan {
    pub name: String,
    pub hosts: Vec<String>,
    pub max_failures: usize,
}

/// A decision at a hard stop, journaled. `operators` is how the record names whoever
/// decided (kept for older readers); `by` says what kind of decider it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "DecidedWire")]
pub struct Decided {
    pub id: u64,
    pub host: Option<String>,
    pub decision: Decision,
    pub operators: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Actor>,
}

#[derive(Deserialize)]
struct DecidedWire {
    id: u64,
    host: Option<String>,
    decision: DecisionWire,
    operators: Vec<String>,
    #[serde(default)]
    by: Option<Actor>,
}

impl From<DecidedWire> for Decided {
    /// Journals written before decisions carried their target: the target follows from the
    /// choice and the stop's host.
    fn from(w: DecidedWire) -> Self {
        let d = w.decision;
        let target = d.target.unwrap_or_else(|| Decision::at_stop(d.choice, w.host.as_deref(), None).target);
        Decided {
            id: w.id,
            host: w.host,
            decision: Decision { choice: d.choice, target, reason: d.reason },
            operators: w.operators,
            by: w.by,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_journaled_before_statuses_read_as_installed_and_healthy() {
        let old: SnapshotEntry = serde_json::from_str(r#"{"name":"tzdata","version":"2024b-0+deb12u1"}"#).unwrap();
        assert_eq!(old.status, INSTALLED_OK);
        let new = SnapshotEntry { name: "tzdata".into(), version: None, status: "iHR".into() };
        let json = serde_json::to_string(&new).unwrap();
        assert_eq!(serde_json::from_str::<SnapshotEntry>(&json).unwrap(), new);
        // Stops journaled before `repair` was recorded read as offering none.
        let old: StopKind = serde_json::from_str(r#"{"kind":"unknown_outcome","step":"apply"}"#).unwrap();
        assert_eq!(old.repair_reason(), None);
        let old: StopKind =
            serde_json::from_str(r#"{"kind":"step_failed","step":"apply","status":100,"output_tail":"E"}"#).unwrap();
        assert_eq!(old.repair_reason(), None);
    }
}
