//! A drill's scorecard as journaled (the drill layer computes it, see
//! `crate::drill::scorecard`): per fault, how fast it was noticed, decided and recovered
//! from; how each host ended; the decisions taken; and whether the scenario's expectations
//! held. Plain data here so the journal's event type owns everything it records.

use serde::{Deserialize, Serialize};

use super::control::{Choice, StopCode};
use super::event::HostResult;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    pub scenario: String,
    pub description: String,
    pub window: String,
    /// `simulated` or `live`.
    pub target: String,
    pub speed: f64,
    /// When the drill ran (real time).
    pub ran_at: jiff::Timestamp,
    pub faults: Vec<FaultScore>,
    /// Hard stops no injected fault explains (the rehearsal's conditions, or a surprise).
    pub other_stops: Vec<StopScore>,
    pub decisions: Vec<DecisionTaken>,
    pub hosts: Vec<HostEnd>,
    pub expectations: Vec<Expectation>,
    pub passed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultScore {
    pub fault: String,
    pub host: Option<String>,
    /// Drill-clock seconds since the window's start; `None`: it never fired.
    pub injected_s: Option<f64>,
    /// The hard stop that caught it, and seconds from injection to each milestone.
    pub stop: Option<StopScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopScore {
    pub id: u64,
    pub host: Option<String>,
    pub kind: StopCode,
    pub headline: String,
    /// Seconds from the fault's injection (or the window's start) to the hard stop.
    pub detect_s: f64,
    /// ... to the operators' decision.
    pub decide_s: Option<f64>,
    pub decision: Option<Choice>,
    /// ... to the host's rollback finishing, every step undone and its packages verified.
    pub recover_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionTaken {
    pub stop: u64,
    pub host: Option<String>,
    pub decision: Choice,
    /// Who decided: a person, a standing order, the scenario or the policy, as the record
    /// names them.
    pub by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostEnd {
    pub host: String,
    pub result: Option<HostResult>,
    /// `Some(true)`: every installed version equals the pre-window snapshot; `None`: could
    /// not be probed at the end.
    pub as_before: Option<bool>,
    /// Differences from the pre-window state (`pkg: before -> now`).
    pub differences: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    pub what: String,
    pub held: bool,
    pub detail: String,
}
