//! Events and the control vocabulary in words: ONE description of each, which every
//! audience shapes its own way ([`progress_line`] for headless runs, [`cockpit_line`] for
//! the cockpit's timeline, `report` for the change record). Every piece of text that came
//! from a host or a file is made safe for a terminal here ([`crate::safe_text`]), so no
//! audience can print it raw; no debug formatting ever reaches a person.

use crate::engine::control::{Choice, Decision, StopCode, Target};
use crate::engine::event::{Event, HostResult, Outcome, Request};
use crate::engine::state::{RollbackCheck, Standing};
use crate::safe_text::for_terminal;

/// What an event says: about which host (if one), in one sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narration {
    pub host: Option<String>,
    pub text: String,
    /// Worth a line in a headless run's log (progress), not only in the full timeline.
    pub progress: bool,
}

fn about(host: &str, text: String, progress: bool) -> Narration {
    Narration { host: Some(for_terminal(host)), text, progress }
}

fn window(text: String, progress: bool) -> Narration {
    Narration { host: None, text, progress }
}

fn names(list: &[String]) -> String {
    list.iter().map(|n| for_terminal(n)).collect::<Vec<_>>().join("+")
}

fn secs(millis: u64) -> String {
    format!("{:.1}s", millis as f64 / 1000.0)
}

/// How a step (or a rollback step) ended, in words (a failure's output is shown apart:
/// [`outcome_with_output`]).
pub fn outcome(o: &Outcome, millis: u64) -> String {
    let t = secs(millis);
    match o {
        Outcome::Ok => format!("ok in {t}"),
        Outcome::Failed { status, .. } => {
            let exit = status.map_or("killed by a signal".into(), |s| format!("exit {s}"));
            format!("FAILED ({exit}) after {t}")
        }
        Outcome::Timeout { after_secs } => format!("TIMED OUT after {after_secs}s (the command was ended)"),
        Outcome::Unreachable { detail } => format!("UNREACHABLE: {}", for_terminal(detail)),
    }
}

/// [`outcome`], and the last of a failed command's output after it, on one line.
pub fn outcome_with_output(o: &Outcome, millis: u64) -> String {
    match o {
        Outcome::Failed { output_tail, .. } if !output_tail.trim().is_empty() => {
            format!("{}: {}", outcome(o, millis), for_terminal(output_tail))
        }
        o => outcome(o, millis),
    }
}

/// How a host ended.
pub fn host_result(r: HostResult) -> &'static str {
    match r {
        HostResult::Done => "done",
        HostResult::RolledBack => "rolled back",
        HostResult::Skipped => "skipped",
        HostResult::Failed => "FAILED",
        HostResult::NotStarted => "not started",
        HostResult::Stopped => "stopped with changes not undone",
    }
}

/// Where a host stands.
pub fn standing(s: Standing) -> String {
    match s {
        Standing::NotStarted => "not started".into(),
        Standing::Underway { done } => format!("underway, {done} step(s) done"),
        Standing::Done => "done".into(),
        Standing::DoneOverride => "done (override)".into(),
        Standing::Failed => "FAILED".into(),
        Standing::Skipped => "skipped".into(),
        Standing::Stopped { done } => format!("stopped with {done} step(s) done, not undone"),
        Standing::RolledBack(RollbackCheck::Verified) => "rolled back, verified".into(),
        Standing::RolledBack(RollbackCheck::Unverified) => "rolled back, UNVERIFIED".into(),
        Standing::RolledBack(RollbackCheck::Unchecked) => "rolled back, health NOT CHECKED".into(),
        Standing::RolledBack(RollbackCheck::StillUnhealthy) => "rolled back, STILL UNHEALTHY".into(),
    }
}

/// A stop kind as people say it.
pub fn stop_kind(c: StopCode) -> &'static str {
    match c {
        StopCode::Divergence => "divergence from what was tested",
        StopCode::Unreachable => "host unreachable",
        StopCode::StepFailed => "step failed",
        StopCode::StepTimeout => "step timed out",
        StopCode::HealthFailed => "health check failed",
        StopCode::RebootRequired => "reboot required",
        StopCode::Deadline => "decide-by time passed",
        StopCode::RiskOver => "risk over the maximum",
        StopCode::Irreversible => "point of no return",
        StopCode::UnknownOutcome => "outcome unknown",
        StopCode::RollbackUnverified => "rollback not verified",
        StopCode::TooManyFailures => "too many failures in a wave",
        StopCode::StillUnhealthy => "rolled back, still unhealthy",
        StopCode::Gate => "go/no-go before a wave",
        StopCode::BeforeStart => "before the window's start",
        StopCode::HostLocked => "host locked by another window",
    }
}

/// A choice applied to its target, as a short phrase ("roll back web2", "abort the window").
pub fn choice(c: Choice, target: &Target) -> String {
    let on = match target {
        Target::Host(h) => for_terminal(h),
        Target::Wave(w) => format!("wave {}", for_terminal(w)),
        Target::Window => "the window".into(),
    };
    match c {
        Choice::RollbackHost | Choice::RollbackWave => format!("roll back {on}"),
        Choice::RollbackAll => "roll back everything".into(),
        Choice::Skip => format!("skip {on}"),
        Choice::Abort => "abort the window".into(),
        Choice::Retry => format!("retry on {on}"),
        Choice::Repair => format!("repair {on}"),
        Choice::Override => format!("override on {on}"),
        Choice::Go => "go".into(),
        Choice::StartEarly => "start early".into(),
    }
}

/// A decision in words, with its reason.
pub fn decision(d: &Decision) -> String {
    let what = choice(d.choice, &d.target);
    match &d.reason {
        Some(r) => format!("{what}: \"{}\"", for_terminal(r)),
        None => what,
    }
}

/// A request (outside a stop) in words.
pub fn request(r: &Request) -> String {
    match r {
        Request::Pause { reason } => format!("leave the window paused ({})", for_terminal(reason)),
        r => r.decision().map_or_else(String::new, |d| choice(d.choice, &d.target)),
    }
}

/// Why "repair" is among a stop's choices: the modal's line and headless output's.
pub fn repair_offered(why: &str) -> String {
    format!("repair offered: {}", for_terminal(why))
}

/// The one description of an event.
pub fn describe(e: &Event) -> Narration {
    match e {
        Event::WindowStarted { window: w, operators, hosts, drill, .. } => window(
            format!(
                "window {} started by {} on {} host(s){}",
                for_terminal(w),
                names(operators),
                hosts.len(),
                if *drill { " (DRILL)" } else { "" }
            ),
            false,
        ),
        Event::Preflight { host, findings, checks } => {
            let stops = findings.iter().filter(|f| f.verdict == Some(crate::runbook::OnDivergence::Stop)).count();
            let failing = checks.iter().filter(|c| !c.ok).count();
            about(host, format!("preflight: {stops} stop finding(s), {failing} failing check(s)"), false)
        }
        Event::WaveStarted { wave } => window(format!("wave {}: started", for_terminal(wave)), true),
        Event::Recheck { host, findings } => about(host, format!("rechecked ({} finding(s))", findings.len()), false),
        Event::HardStop { id, host, stop, .. } => {
            let text = format!("HARD STOP #{id}: {}", for_terminal(&stop.headline()));
            match host {
                Some(h) => about(h, text, false),
                None => window(text, false),
            }
        }
        Event::Requested { request: r, operators } => {
            window(format!("{} asked: {}", names(operators), request(r)), true)
        }
        Event::Decided(d) => {
            let text = format!("stop #{}: {} decided {}", d.id, names(&d.operators), decision(&d.decision));
            match &d.host {
                Some(h) => about(h, text, false),
                None => window(text, false),
            }
        }
        Event::Snapshot { host, packages, .. } => {
            about(host, format!("snapshot of {} package(s)", packages.len()), false)
        }
        Event::StepStarted { host, name, command, .. } => {
            about(host, format!("{}: {}", for_terminal(name), for_terminal(command)), true)
        }
        Event::StepFinished { host, step, outcome: o, millis, .. } => {
            about(host, format!("step {} {}", step + 1, outcome_with_output(o, *millis)), true)
        }
        Event::StepAccepted { host, step, stop } => {
            about(host, format!("step {} accepted as done (override at stop #{stop})", step + 1), true)
        }
        Event::RollbackAccepted { host, step, stop } => {
            about(host, format!("rollback of step {} accepted, UNVERIFIED (override at stop #{stop})", step + 1), true)
        }
        Event::Checks { host, results, after_rollback, .. } => {
            let bad = results.iter().filter(|r| !r.ok).count();
            let when = if *after_rollback { " after rollback" } else { "" };
            let text = if bad == 0 {
                format!("health checks pass{when}")
            } else {
                format!("{bad} health check(s) FAIL{when}")
            };
            about(host, text, *after_rollback || bad > 0)
        }
        Event::AutoRollbackArmed { host, seconds } => about(host, format!("auto-rollback armed ({seconds}s)"), true),
        Event::AutoRollbackCancelled { host, operators } => {
            about(host, format!("auto-rollback cancelled by {}", names(operators)), true)
        }
        Event::RollbackStarted { host, name, .. } => about(host, format!("rolling back {}", for_terminal(name)), true),
        Event::RollbackFinished { host, step, outcome: o, verified, mismatches, millis } => {
            let v = match (o.is_ok(), verified) {
                (_, Some(false)) => format!(", NOT VERIFIED: {}", for_terminal(&mismatches.join("; "))),
                (true, Some(true)) => ", packages verified on the host".into(),
                (true, None) | (false, _) => String::new(),
            };
            about(host, format!("rollback of step {} {}{v}", step + 1, outcome_with_output(o, *millis)), true)
        }
        Event::RepairStarted { host, command, why } => about(
            host,
            format!("repairing the package database ({}): {}", for_terminal(why), for_terminal(command)),
            true,
        ),
        Event::RepairFinished { host, outcome: o, healthy, left, millis } => {
            let after = match healthy {
                Some(true) => ", nothing left half done".to_string(),
                Some(false) => format!(", STILL HALF DONE: {}", for_terminal(&left.join(", "))),
                None => ", could not be checked after".to_string(),
            };
            about(host, format!("repair {}{after}", outcome_with_output(o, *millis)), true)
        }
        Event::RunRecord { host, step, rollback, attempt, found } => about(
            host,
            format!(
                "{} {} (attempt {attempt}): read from the host's record: {}",
                if *rollback { "rollback of step" } else { "step" },
                step + 1,
                for_terminal(&found.describe())
            ),
            true,
        ),
        Event::HostFinished { host, result } => about(host, host_result(*result).to_string(), true),
        Event::WaveFinished { wave, failures } => {
            window(format!("wave {}: finished, {failures} failure(s)", for_terminal(wave)), true)
        }
        Event::WindowFinished { aborted } => {
            window((if *aborted { "window ABORTED" } else { "window finished" }).to_string(), true)
        }
        Event::Resumed { operators, pid, machine } => {
            window(format!("window resumed by {} (process {pid} on {})", names(operators), for_terminal(machine)), true)
        }
        Event::FaultInjected { fault, host, .. } => {
            let text = format!("DRILL fault injected: {}", for_terminal(fault));
            match host {
                Some(h) => about(h, text, true),
                None => window(text, true),
            }
        }
        Event::DrillScorecard { scorecard } => {
            window(format!("DRILL scorecard: {}", if scorecard.passed { "passed" } else { "FAILED" }), false)
        }
    }
}

/// The line a headless run prints for an event, if it prints one: "host: what".
pub fn progress_line(e: &Event) -> Option<String> {
    let n = describe(e);
    // Stops and decisions are printed by the headless decider itself, with the decision.
    n.progress.then(|| line(&n))
}

/// The cockpit timeline's line for an event: every event, "host: what".
pub fn cockpit_line(e: &Event) -> String {
    line(&describe(e))
}

fn line(n: &Narration) -> String {
    match &n.host {
        Some(h) => format!("{h}: {}", n.text),
        None => n.text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_debug_text_and_host_text_is_escaped() {
        let failed = Event::StepFinished {
            host: "web1".into(),
            step: 1,
            outcome: Outcome::Failed { status: Some(100), output_tail: "E: \u{1b}[31mbroken".into() },
            changes: vec![],
            millis: 1500,
        };
        let line = progress_line(&failed).unwrap();
        assert_eq!(line, "web1: step 2 FAILED (exit 100) after 1.5s: E: \\u{1b}[31mbroken");
        assert!(!line.contains("Failed {") && !line.contains('\u{1b}'));
        let timeout = Event::StepFinished {
            host: "web1".into(),
            step: 0,
            outcome: Outcome::Timeout { after_secs: 40 },
            changes: vec![],
            millis: 40_000,
        };
        assert_eq!(progress_line(&timeout).unwrap(), "web1: step 1 TIMED OUT after 40s (the command was ended)");
    }

    #[test]
    fn a_repair_says_why_what_ran_and_what_is_left() {
        let started = Event::RepairStarted {
            host: "web1".into(),
            command: "dpkg --configure -a".into(),
            why: "tzdata (iHR) left half done".into(),
        };
        assert_eq!(
            progress_line(&started).unwrap(),
            "web1: repairing the package database (tzdata (iHR) left half done): dpkg --configure -a"
        );
        let still = Event::RepairFinished {
            host: "web1".into(),
            outcome: Outcome::Failed { status: Some(1), output_tail: "dpkg: error".into() },
            healthy: Some(false),
            left: vec!["tzdata (iHR)".into()],
            millis: 2000,
        };
        let line = progress_line(&still).unwrap();
        assert!(
            line.starts_with("web1: repair FAILED (exit 1)") && line.ends_with("STILL HALF DONE: tzdata (iHR)"),
            "{line}"
        );
        let fixed = Event::RepairFinished {
            host: "web1".into(),
            outcome: Outcome::Ok,
            healthy: Some(true),
            left: vec![],
            millis: 400,
        };
        assert_eq!(progress_line(&fixed).unwrap(), "web1: repair ok in 0.4s, nothing left half done");
        // The modal and headless output give the stop's reason in the same words.
        assert_eq!(repair_offered("dpkg \u{1b}[2J"), "repair offered: dpkg \\u{1b}[2J");
    }
}
