//! The window's control vocabulary, as types: every kind of hard stop ([`StopCode`]), every
//! choice an operator (or a standing order, or the engine's policy) can make ([`Choice`]),
//! what a choice acts on ([`Target`]) and who made it ([`Actor`]).
//!
//! These are the ONE list. The cockpit's keys, labels, footers and help, the drill
//! scenarios' expectations and scorecards, `--decide` and the report all derive from them
//! with exhaustive `match`es, so adding a variant without handling it everywhere is a compile
//! error, and no layer matches a decision or a stop by its text. The serde names are the
//! journal's: old journals replay unchanged.

use serde::{Deserialize, Serialize};

use super::event::StopKind;

/// The kind of a hard stop, without its details: what the journal's `kind` tag says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopCode {
    Divergence,
    Unreachable,
    StepFailed,
    StepTimeout,
    HealthFailed,
    RebootRequired,
    Deadline,
    RiskOver,
    Irreversible,
    UnknownOutcome,
    RollbackUnverified,
    TooManyFailures,
    StillUnhealthy,
    Gate,
    BeforeStart,
    HostLocked,
}

impl StopCode {
    /// Every stop kind, in the order documentation lists them.
    pub const ALL: [StopCode; 16] = [
        StopCode::Divergence,
        StopCode::Unreachable,
        StopCode::StepFailed,
        StopCode::StepTimeout,
        StopCode::HealthFailed,
        StopCode::RebootRequired,
        StopCode::Deadline,
        StopCode::RiskOver,
        StopCode::Irreversible,
        StopCode::UnknownOutcome,
        StopCode::RollbackUnverified,
        StopCode::TooManyFailures,
        StopCode::StillUnhealthy,
        StopCode::Gate,
        StopCode::BeforeStart,
        StopCode::HostLocked,
    ];

    /// The journal's name (`step_failed`).
    pub fn name(self) -> &'static str {
        match self {
            StopCode::Divergence => "divergence",
            StopCode::Unreachable => "unreachable",
            StopCode::StepFailed => "step_failed",
            StopCode::StepTimeout => "step_timeout",
            StopCode::HealthFailed => "health_failed",
            StopCode::RebootRequired => "reboot_required",
            StopCode::Deadline => "deadline",
            StopCode::RiskOver => "risk_over",
            StopCode::Irreversible => "irreversible",
            StopCode::UnknownOutcome => "unknown_outcome",
            StopCode::RollbackUnverified => "rollback_unverified",
            StopCode::TooManyFailures => "too_many_failures",
            StopCode::StillUnhealthy => "still_unhealthy",
            StopCode::Gate => "gate",
            StopCode::BeforeStart => "before_start",
            StopCode::HostLocked => "host_locked",
        }
    }

    /// A stop kind from its journal name.
    pub fn parse(name: &str) -> Option<StopCode> {
        StopCode::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Questions the plan asks in any window (a gate, the start time), not signs that
    /// something went wrong.
    pub fn is_question(self) -> bool {
        matches!(self, StopCode::Gate | StopCode::BeforeStart)
    }

    /// Stops that are about a problem on a host (its failure budget counts them), as
    /// opposed to a question about the plan (a divergence, a gate, the start time).
    pub fn is_failure(self) -> bool {
        match self {
            StopCode::StepFailed
            | StopCode::StepTimeout
            | StopCode::HealthFailed
            | StopCode::RollbackUnverified
            | StopCode::StillUnhealthy => true,
            StopCode::Divergence
            | StopCode::Unreachable
            | StopCode::RebootRequired
            | StopCode::Deadline
            | StopCode::RiskOver
            | StopCode::Irreversible
            | StopCode::UnknownOutcome
            | StopCode::TooManyFailures
            | StopCode::Gate
            | StopCode::BeforeStart
            | StopCode::HostLocked => false,
        }
    }
}

/// Every choice that can be made, at a hard stop or at any time. Fieldless: the one list.
/// The serde names are the journal's (`rollback` for a host's rollback, `skip_host`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// Undo this host's completed steps, newest first, then verify and re-check health.
    #[serde(rename = "rollback")]
    RollbackHost,
    /// The same for every host of a wave with changes not undone.
    RollbackWave,
    /// Nothing new starts, and every host with changes not undone is rolled back.
    RollbackAll,
    /// Leave the host untouched and carry on with the others (only before its first change).
    #[serde(rename = "skip_host", alias = "skip")]
    Skip,
    /// Nothing new starts, ever; running steps end; rollback stays available.
    Abort,
    /// Run the step (or the rollback step) again.
    Retry,
    /// Repair the host's package database first (`dpkg --configure -a`), then re-probe.
    Repair,
    /// Carry on despite the stop: needs a reason and the exact target's name.
    Override,
    /// Start the next wave (a go/no-go gate).
    Go,
    /// Start before the window's start time: needs a reason.
    StartEarly,
}

impl Choice {
    pub const ALL: [Choice; 10] = [
        Choice::RollbackHost,
        Choice::RollbackWave,
        Choice::RollbackAll,
        Choice::Skip,
        Choice::Abort,
        Choice::Retry,
        Choice::Repair,
        Choice::Override,
        Choice::Go,
        Choice::StartEarly,
    ];

    /// The journal's name (`rollback`, `skip_host`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Choice::RollbackHost => "rollback",
            Choice::RollbackWave => "rollback_wave",
            Choice::RollbackAll => "rollback_all",
            Choice::Skip => "skip_host",
            Choice::Abort => "abort",
            Choice::Retry => "retry",
            Choice::Repair => "repair",
            Choice::Override => "override",
            Choice::Go => "go",
            Choice::StartEarly => "start_early",
        }
    }

    /// A choice from its journal name, or the short words scenarios and `--decide` use
    /// (`skip`, `rollback_all`).
    pub fn parse(word: &str) -> Option<Choice> {
        match word {
            "skip" => Some(Choice::Skip),
            "rollback everything" => Some(Choice::RollbackAll),
            w => Choice::ALL.into_iter().find(|c| c.name() == w),
        }
    }

    /// Does this choice need a typed reason (recorded in the journal)?
    pub fn needs_reason(self) -> bool {
        match self {
            Choice::Override | Choice::StartEarly => true,
            Choice::RollbackHost
            | Choice::RollbackWave
            | Choice::RollbackAll
            | Choice::Skip
            | Choice::Abort
            | Choice::Retry
            | Choice::Repair
            | Choice::Go => false,
        }
    }

    /// Nothing new starts after it (abort, and rolling back everything).
    pub fn ends_window(self) -> bool {
        match self {
            Choice::Abort | Choice::RollbackAll => true,
            Choice::RollbackHost
            | Choice::RollbackWave
            | Choice::Skip
            | Choice::Retry
            | Choice::Repair
            | Choice::Override
            | Choice::Go
            | Choice::StartEarly => false,
        }
    }
}

/// What a decision acts on. Carried explicitly so that no layer reinterprets a key: `R` on
/// `web1` is `host:web1` whatever opened meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Host(String),
    Wave(String),
    Window,
}

impl Target {
    /// A stop's subject: its host, or the window.
    pub fn of(host: Option<&str>) -> Target {
        host.map_or(Target::Window, |h| Target::Host(h.to_string()))
    }

    pub fn host(&self) -> Option<&str> {
        match self {
            Target::Host(h) => Some(h),
            Target::Wave(_) | Target::Window => None,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Host(h) => write!(f, "host:{h}"),
            Target::Wave(w) => write!(f, "wave:{w}"),
            Target::Window => f.write_str("window"),
        }
    }
}

/// A decision: a choice, what it acts on, and the reason when the choice needs one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    #[serde(rename = "decision")]
    pub choice: Choice,
    pub target: Target,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Decision {
    pub fn new(choice: Choice, target: Target) -> Self {
        Self { choice, target, reason: None }
    }

    pub fn with_reason(choice: Choice, target: Target, reason: impl Into<String>) -> Self {
        Self { choice, target, reason: Some(reason.into()) }
    }

    /// Abort the window: the safe answer when nobody can answer.
    pub fn abort() -> Self {
        Self::new(Choice::Abort, Target::Window)
    }

    /// The target a choice has at a stop about `host` (or the window): a host's own
    /// choices act on it, window-wide ones on the window. What journals written before
    /// targets were recorded mean.
    pub fn at_stop(choice: Choice, host: Option<&str>, wave: Option<&str>) -> Self {
        let target = match choice {
            Choice::RollbackAll | Choice::Abort | Choice::Go | Choice::StartEarly => Target::Window,
            Choice::RollbackWave => wave.map_or(Target::Window, |w| Target::Wave(w.to_string())),
            Choice::RollbackHost | Choice::Skip | Choice::Retry | Choice::Repair | Choice::Override => Target::of(host),
        };
        Self::new(choice, target)
    }
}

/// Journals written before targets were recorded say `{"decision":"rollback"}`: the target
/// comes from the stop then (see [`super::event::Event::Decided`]). Read into this, then
/// completed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DecisionWire {
    #[serde(rename = "decision")]
    pub choice: Choice,
    #[serde(default)]
    pub target: Option<Target>,
    #[serde(default)]
    pub reason: Option<String>,
}

impl<'de> Deserialize<'de> for Decision {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = DecisionWire::deserialize(d)?;
        // Without a recorded target, the window: `Event::Decided` puts the stop's host back.
        Ok(Decision { choice: w.choice, target: w.target.unwrap_or(Target::Window), reason: w.reason })
    }
}

/// Who made a decision: a person, a standing order given up front, a drill scenario, or the
/// runbook's policy (auto-rollback, the start time). The record never credits a person with
/// what a flag, a script or the clock did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Actor {
    Operator {
        name: String,
    },
    /// `run --no-tui --decide X`, `--yes` at a gate: the flag as typed, and who gave it.
    StandingOrder {
        order: String,
        given_by: Vec<String>,
    },
    Scenario {
        name: String,
    },
    /// The runbook's auto-rollback, after a failed health check.
    AutoRollback,
    /// The window's start time came.
    StartTime,
    /// Nobody was left to answer (the cockpit went away): abort, the safe answer.
    Nobody,
}

impl Actor {
    pub fn operator(name: impl Into<String>) -> Self {
        Actor::Operator { name: name.into() }
    }

    /// How the record names it.
    pub fn describe(&self) -> String {
        match self {
            Actor::Operator { name } => name.clone(),
            Actor::StandingOrder { order, given_by } => {
                format!("{order} (standing order of {})", given_by.join(", "))
            }
            Actor::Scenario { name } => format!("drill scenario {name}"),
            Actor::AutoRollback => "auto-rollback".into(),
            Actor::StartTime => "the start time".into(),
            Actor::Nobody => "nobody (the cockpit went away)".into(),
        }
    }
}

/// The choices a stop allows, rollback first (it must be the easy one); repair only where
/// [`StopKind::repair_reason`] says why. `host`: the stop's
/// host (`None`: about the window); `changed`: that host has changes not undone (skipping
/// it is only possible before its first change).
pub fn allowed(stop: &StopKind, host: Option<&str>, changed: bool) -> Vec<Choice> {
    let code = stop.code();
    let mut v: Vec<Choice> = Vec::new();
    match code {
        StopCode::Gate => return vec![Choice::Go, Choice::Abort, Choice::RollbackAll],
        StopCode::BeforeStart => return vec![Choice::StartEarly, Choice::Abort],
        _ => {}
    }
    if host.is_some() {
        v.push(Choice::RollbackHost);
        if !changed {
            v.push(Choice::Skip);
        }
    }
    v.extend([Choice::Abort, Choice::RollbackAll]);
    // The package database left half done: apt refuses to install or restore anything
    // until it is repaired, so repair comes before trying again (the stop says why).
    if host.is_some() && stop.repair_reason().is_some() {
        v.push(Choice::Repair);
    }
    match code {
        StopCode::StepFailed
        | StopCode::StepTimeout
        | StopCode::Unreachable
        | StopCode::UnknownOutcome
        | StopCode::RollbackUnverified
        | StopCode::StillUnhealthy
        | StopCode::HostLocked => v.push(Choice::Retry),
        StopCode::Divergence
        | StopCode::HealthFailed
        | StopCode::RebootRequired
        | StopCode::Deadline
        | StopCode::RiskOver
        | StopCode::Irreversible
        | StopCode::TooManyFailures
        | StopCode::Gate
        | StopCode::BeforeStart => {}
    }
    // Breaking another window's lock is for a holder that is gone, never a live one.
    if !matches!(stop, StopKind::HostLocked { stale: false, .. }) {
        v.push(Choice::Override);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for c in StopCode::ALL {
            assert_eq!(StopCode::parse(c.name()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.name()));
        }
        for c in Choice::ALL {
            assert_eq!(Choice::parse(c.name()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.name()));
        }
        assert_eq!(Choice::parse("skip"), Some(Choice::Skip));
        let old: Choice = serde_json::from_str("\"skip\"").unwrap();
        assert_eq!(old, Choice::Skip, "drill histories written with the short word still read");
    }

    #[test]
    fn old_decisions_read_without_a_target_and_new_ones_keep_it() {
        let old: Decision = serde_json::from_str(r#"{"decision":"override","reason":"ok"}"#).unwrap();
        assert_eq!(old, Decision::with_reason(Choice::Override, Target::Window, "ok"));
        let new = Decision::new(Choice::RollbackHost, Target::Host("web1".into()));
        let json = serde_json::to_string(&new).unwrap();
        assert_eq!(json, r#"{"decision":"rollback","target":{"host":"web1"}}"#);
        assert_eq!(serde_json::from_str::<Decision>(&json).unwrap(), new);
    }

    #[test]
    fn a_window_wide_stop_offers_no_host_choice() {
        let stop = StopKind::TooManyFailures { wave: "web".into(), failures: 2, max: 0 };
        let choices = allowed(&stop, None, false);
        assert!(!choices.contains(&Choice::RollbackHost) && !choices.contains(&Choice::Skip));
        assert_eq!(choices[0], Choice::Abort);
        let host_stop = StopKind::Irreversible { step: "s".into() };
        assert_eq!(allowed(&host_stop, Some("a"), false)[0], Choice::RollbackHost, "rollback first");
        assert!(allowed(&host_stop, Some("a"), false).contains(&Choice::Skip));
        assert!(!allowed(&host_stop, Some("a"), true).contains(&Choice::Skip), "skip only before any change");
    }

    /// Issue 14.5: a live window's lock cannot be overridden; a stale one can, as a typed
    /// decision (a reason); waiting for it (retry) always can.
    #[test]
    fn only_a_stale_host_lock_can_be_broken() {
        let live = StopKind::HostLocked { holder: "window X".into(), stale: false };
        let stale = StopKind::HostLocked { holder: "window X".into(), stale: true };
        assert!(!allowed(&live, Some("a"), false).contains(&Choice::Override));
        assert!(allowed(&live, Some("a"), false).contains(&Choice::Retry));
        assert!(allowed(&live, Some("a"), false).contains(&Choice::Skip));
        assert!(allowed(&stale, Some("a"), false).contains(&Choice::Override));
        assert!(Choice::Override.needs_reason());
    }

    #[test]
    fn repair_is_offered_only_where_the_stop_says_why() {
        let cut_off = StopKind::UnknownOutcome { step: "apply".into(), repair: Some("dpkg may be half done".into()) };
        let choices = allowed(&cut_off, Some("a"), true);
        let at = |c| choices.iter().position(|x| *x == c).unwrap();
        assert!(at(Choice::RollbackHost) < at(Choice::Repair) && at(Choice::Repair) < at(Choice::Retry));
        let plain = StopKind::UnknownOutcome { step: "restart".into(), repair: None };
        assert!(!allowed(&plain, Some("a"), true).contains(&Choice::Repair));
        let failed =
            StopKind::StepFailed { step: "apply".into(), status: Some(100), output_tail: String::new(), repair: None };
        assert!(!allowed(&failed, Some("a"), true).contains(&Choice::Repair));
        let broken = |class| StopKind::Divergence {
            findings: vec![crate::diff::Finding {
                class,
                subject: "tzdata".into(),
                tested: None,
                here: Some("iHR".into()),
                verdict: Some(crate::runbook::OnDivergence::Stop),
                detail: "run `dpkg --configure -a`".into(),
            }],
        };
        let d = broken(crate::diff::Class::DpkgBroken);
        assert!(allowed(&d, Some("a"), false).contains(&Choice::Repair));
        assert_eq!(d.repair_reason().as_deref(), Some("run `dpkg --configure -a`"), "the finding's own words");
        // Locked is not broken: repairing would only fight the lock's holder.
        assert!(!allowed(&broken(crate::diff::Class::DpkgLocked), Some("a"), false).contains(&Choice::Repair));
        assert!(!allowed(&broken(crate::diff::Class::VersionMismatch), Some("a"), false).contains(&Choice::Repair));
    }
}
