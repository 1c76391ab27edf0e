//! Every operator-facing string of the cockpit, in one place: one voice, one spelling, and
//! one file to review (or translate). Text that came from a host goes through
//! [`crate::safe_text::for_terminal`] before it reaches any of these.

use super::app::model::RollbackKey;
use crate::engine::control::{Choice, Decision};
use crate::engine::event::{Event, HostResult, Outcome, Request, StopKind};
use crate::safe_text::for_terminal;

pub const APP: &str = "patchdeck";
pub const READ_ONLY: &str = "READ-ONLY: watching the journal; this screen cannot send commands";
pub const TOO_SMALL: &str = "The terminal is too small for the cockpit.";
pub const TOO_SMALL_NEED: &str = "It needs at least 80x24; it is";
pub const TOO_SMALL_HINT: &str = "Make it bigger (the window keeps running; the journal records everything).";
pub const STEPS: &str = "Steps";
pub const INTERRUPTED: &str = "OUTCOME UNKNOWN: patchdeck stopped while this ran";
pub const NO_HOST: &str = "no host selected";
pub const NO_MATCH: &str = "no host or diff line matches the filter (Esc clears it)";
pub const NO_DIFF: &str = "no diff yet (preflight runs first)";
pub const NO_OUTPUT: &str = "no command has run on this host yet";
/// `watch` reads the journal, which has each command's outcome but not its live output.
pub const WATCH_OUTPUT_NOTE: &str = "journal: outcomes only, no live output";
/// Before a streamed line that was too long to keep whole (at its start, where it is seen).
pub const LINE_CUT: &str = "(line cut) ";
pub const HELP_TITLE: &str = "Keys (? or Esc closes)";
/// The help screen's sections, one per context.
pub const HELP_MAIN: &str = "Main screen";
pub const HELP_STOP: &str = "Hard stop";
pub const HELP_COUNTDOWN: &str = "Auto-rollback countdown";
pub const HELP_QUESTIONS: &str = "Questions";
pub const HELP_TYPING: &str = "Typing (filter, override)";
pub const HELP_TYPING_WATCH: &str = "Typing (filter)";
pub const HELP_VIEWS: &str = "Views (help, journal, diff)";
pub const HELP_ANYWHERE: &str = "Anywhere: Ctrl-C = q (asks first). No key uses Ctrl-b or the mouse.";
pub const TIMELINE_TITLE: &str = "Timeline: the journal (Esc closes)";
pub const FILTER_PROMPT: &str = "filter: ";
pub const HARD_STOP: &str = "HARD STOP";
pub const STOP_WAITING: &str = "nothing new starts until this is decided";
pub const STOP_DECIDE_FIRST: &str = "decide first: the window waits for this hard stop (a = abort window)";
pub const OVERRIDE_REASON: &str = "Override: why is carrying on safe? (recorded in the journal)";
pub const OVERRIDE_EMPTY: &str = "a reason is required to override";
pub const WINDOW_FINISHED: &str = "window finished";
pub const WINDOW_ABORTED: &str = "window ABORTED";
pub const WINDOW_RUNNING: &str = "window running";
pub const QUIT_WAITING: &str =
    "leaving: the window is paused; waiting for running steps to finish (no remote command is killed)";
pub const NO_REQUESTS_AFTER_END: &str = "the window has ended: nothing more can be requested";
/// The drill marker: in a drill's header, on every screen, in place of [`APP`].
pub const DRILL: &str = "DRILL";

/// The status line once a drill's scorecard is journaled.
pub fn drill_over(passed: bool, live: bool) -> String {
    format!(
        "DRILL over: scorecard {}{}",
        if passed { "PASSED" } else { "FAILED" },
        if live { " (q quits and prints it; t shows the journal)" } else { "" }
    )
}

pub const SIGNAL_RECEIVED: &str =
    "signal received: the window is left paused; running steps finish, nothing new starts (--resume carries on)";

/// Hours and minutes of a duration in seconds, signed: "1h05m", "49m", "-3m".
pub fn hm(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (h, m) = (s / 3600, (s % 3600) / 60);
    if h > 0 { format!("{sign}{h}h{m:02}m") } else { format!("{sign}{m}m") }
}

/// Seconds as "12s" or "3m04s".
pub fn elapsed(secs: u64) -> String {
    if secs >= 60 { format!("{}m{:02}s", secs / 60, secs % 60) } else { format!("{secs}s") }
}

pub fn hhmm(t: jiff::Timestamp) -> String {
    t.strftime("%H:%MZ").to_string()
}

pub fn clock(t: jiff::Timestamp) -> String {
    t.strftime("%H:%M:%SZ").to_string()
}

pub fn ends(at: jiff::Timestamp, left_secs: i64) -> String {
    if left_secs >= 0 {
        format!("ends {} ({} left)", hhmm(at), hm(left_secs))
    } else {
        format!("ended {} ({} ago)", hhmm(at), hm(-left_secs))
    }
}

pub fn decide_by(at: jiff::Timestamp, left_secs: i64) -> String {
    if left_secs >= 0 {
        format!("decide by {} (in {})", hhmm(at), hm(left_secs))
    } else {
        format!("! PAST decide by {} ({} ago)", hhmm(at), hm(-left_secs))
    }
}

pub fn risk(risk: f64, max: f64) -> String {
    let over = if risk > max { " OVER" } else { "" };
    format!("risk {:.1}%{over} (max {:.0}%)", risk * 100.0, max * 100.0)
}

pub fn operators(ops: &[String]) -> String {
    if ops.is_empty() { "no operator named".into() } else { format!("operators {}", ops.join("+")) }
}

pub fn wave_title(index: usize, count: usize, name: &str) -> String {
    format!("Wave {index}/{count} \"{name}\"")
}

pub fn diff_title(host: &str, rechecked: bool) -> String {
    format!("{host}: pending vs tested{}", if rechecked { " (rechecked)" } else { " (preflight)" })
}

pub fn output_title(host: &str) -> String {
    format!("Output: {host}")
}

pub fn scrolled_up(lines: usize) -> String {
    format!("scrolled up {lines} lines")
}

/// Where a command's lines never reached the cockpit because it was behind.
pub fn lines_dropped(n: u64) -> String {
    format!("… {n} line{} dropped (the screen fell behind; the command was not slowed)", plural(n))
}

/// Above the oldest line still held for a host.
pub fn lines_not_kept(n: u64) -> String {
    format!("… {n} earlier line{} not kept (only the newest are)", plural(n))
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The filter prompt while it is typed, cursor last, then what it matches.
pub fn filter_prompt(f: &str) -> String {
    format!("{FILTER_PROMPT}{f}_   (a host name, a package, or a class like untested)")
}

pub fn filter_active(f: &str) -> String {
    format!("filter \"{f}\" (/ to change, Esc clears)")
}

pub fn confirm_request(r: &Request) -> String {
    match r {
        Request::RollbackHost { host } => format!(
            "Roll back {host}? Its completed steps are undone newest first, as soon as it is between steps (a running step finishes first)."
        ),
        Request::RollbackWave { wave, hosts } => {
            format!("Roll back wave \"{wave}\" ({})? Each host is undone between steps.", hosts.join(", "))
        }
        Request::RollbackAll => "Stop the window and roll back EVERYTHING done so far, newest first?".into(),
        Request::Abort => {
            "Abort the window? Nothing new starts; hosts are left as they are (rollback stays possible).".into()
        }
        Request::Pause { .. } => {
            "Leave the window paused? Running steps finish; nothing new starts; --resume carries on.".into()
        }
    }
}

pub fn confirm_decision(d: &Decision, host: Option<&str>) -> String {
    let on = host.unwrap_or("the window");
    match d.choice {
        Choice::RollbackHost => format!("Roll back {on} now?"),
        Choice::RollbackWave => format!("Roll back {} now?", crate::narrate::choice(d.choice, &d.target)),
        Choice::RollbackAll => "Abort and roll back EVERYTHING done so far?".into(),
        Choice::Skip => format!("Skip {on} and leave it untouched?"),
        Choice::Abort => {
            "Abort the window? Nothing new starts; hosts are left as they are (rollback stays possible).".into()
        }
        Choice::Retry => format!("Run the step again on {on}?"),
        Choice::Repair => format!("Repair the package database on {on}, then check it again?"),
        Choice::Override => format!("Override and carry on with {on}?"),
        Choice::Go => "Go: start the next wave?".into(),
        Choice::StartEarly => "Start the window now, before its start time?".into(),
    }
}

/// What the reason prompt asks, for a choice that needs one.
pub fn reason_prompt(c: Choice) -> &'static str {
    match c {
        Choice::StartEarly => "Start early: why now, before the window's start? (recorded in the journal)",
        _ => OVERRIDE_REASON,
    }
}

pub fn confirm_quit(running: &[String]) -> String {
    if running.is_empty() {
        "Quit? The window is left PAUSED: nothing new starts; `patchdeck run RUNBOOK --resume` carries on where it is."
            .into()
    } else {
        format!(
            "Quit? Running now: {}. The window is left PAUSED: these finish (no remote command is killed), nothing new starts; --resume carries on.",
            running.join(", ")
        )
    }
}

pub fn override_host_prompt(expected: &str) -> String {
    format!("To confirm the override, type \"{expected}\" and press Enter")
}

pub fn override_mismatch(expected: &str) -> String {
    format!("type exactly \"{expected}\" to override, or Esc to go back")
}

pub const CONFIRM_KEYS: &str = "y yes   n no";

/// The rollback key's words (after "R"), in the footer and beside a question ("instead").
pub fn rollback_key(k: &RollbackKey, instead: bool) -> String {
    let what = match k {
        RollbackKey::Request(h) => format!("ROLLBACK {h}"),
        RollbackKey::Stop { host: Some(h) } => format!("ROLLBACK {h}"),
        RollbackKey::Stop { host: None } => "ROLLBACK everything".into(),
        RollbackKey::Now(_) => "roll back now".into(),
        // In a prompt R is a letter: say how to get to the key.
        RollbackKey::AfterPrompt => return "ROLLBACK once closed".into(),
    };
    if instead { format!("{what} instead") } else { what }
}

/// A text prompt's keys in the footer: the filter's, and an override's.
pub const FILTER_ENTER: &str = "keep filter";
pub const FILTER_ESC: &str = "clear and close";
pub const PROMPT_ENTER: &str = "accept";
pub const PROMPT_ESC: &str = "back";

/// A choice at a hard stop, as shown in the modal.
pub fn choice(c: Choice, host: Option<&str>, override_word: &str) -> String {
    let h = host.unwrap_or("window");
    match c {
        Choice::RollbackHost => format!("roll back {h}"),
        Choice::RollbackWave => "roll back its wave".into(),
        Choice::Skip => format!("skip {h}"),
        Choice::Abort => "abort window".into(),
        Choice::RollbackAll => "roll back everything".into(),
        Choice::Retry => "retry step".into(),
        Choice::Repair => "repair dpkg".into(),
        Choice::Override => format!("override (type a reason, then \"{override_word}\")"),
        Choice::Go => "go".into(),
        Choice::StartEarly => "start early (type a reason)".into(),
    }
}

pub fn countdown(host: &str, left: i64) -> String {
    format!("{host}: health check failed after a change. Rolling back in {left}s.")
}
pub const COUNTDOWN_TITLE: &str = "AUTO-ROLLBACK";
pub const COUNTDOWN_HINT: &str = "c cancels (then you decide at a hard stop)   R rolls back now";

pub fn host_result(r: HostResult) -> &'static str {
    crate::narrate::host_result(r)
}

pub fn outcome(o: &Outcome, millis: u64) -> String {
    crate::narrate::outcome(o, millis)
}

/// What the stop is about, beyond its headline: the lines of the modal's body.
pub fn stop_body(stop: &StopKind, ends: Option<jiff::Timestamp>, now: jiff::Timestamp) -> Vec<String> {
    match stop {
        StopKind::Divergence { .. } => vec!["compared with what was tested on staging:".into()],
        StopKind::Unreachable { detail } => vec![for_terminal(detail)],
        StopKind::StepFailed { output_tail, .. } => {
            let mut v = vec!["last output:".to_string()];
            v.extend(output_tail.lines().rev().take(6).collect::<Vec<_>>().into_iter().rev().map(for_terminal));
            v
        }
        StopKind::StepTimeout { .. } => vec!["the remote command was killed at its timeout".into()],
        StopKind::HealthFailed { failing, .. } => {
            failing.iter().map(|c| format!("x {}: {}", for_terminal(&c.check), for_terminal(&c.detail))).collect()
        }
        StopKind::RebootRequired { packages } => {
            vec![format!("wanted by: {}", packages.iter().map(|p| for_terminal(p)).collect::<Vec<_>>().join(", "))]
        }
        StopKind::Deadline { decide_by: at } => {
            let mut v = vec![format!("it is {}; decide by was {}.", hhmm(now), hhmm(*at))];
            if let Some(end) = ends {
                let left = end.as_second() - now.as_second();
                v.push(format!("the window ends {}: {} left, rollback reserve included.", hhmm(end), hm(left)));
            }
            v.push("carrying on eats into the time kept to roll everything back.".into());
            v
        }
        StopKind::RiskOver { .. } => vec!["split the window, or override with a reason.".into()],
        StopKind::Irreversible { .. } => vec![
            "POINT OF NO RETURN: once this step runs, this host cannot be rolled back.".into(),
            "override (typed) to run it; anything else leaves the host before it.".into(),
        ],
        StopKind::UnknownOutcome { .. } => {
            vec!["it may or may not have run: check the host before retrying.".into()]
        }
        StopKind::RollbackUnverified { mismatches } => mismatches.iter().map(|m| for_terminal(m)).collect(),
        StopKind::TooManyFailures { .. } => vec![
            "the wave's failure budget (max_failures) is spent: no host of it starts anything.".into(),
            "roll back everything, abort, or override to carry on.".into(),
        ],
        StopKind::StillUnhealthy { failing } => {
            let mut v = vec!["every step is undone, yet a check that passed before the window fails:".to_string()];
            v.extend(failing.iter().map(|c| format!("x {}: {}", for_terminal(&c.check), for_terminal(&c.detail))));
            v
        }
        StopKind::Gate { .. } => vec!["look at the last wave's hosts; go starts the next wave.".into()],
        StopKind::BeforeStart { starts } => {
            let left = starts.as_second() - now.as_second();
            vec![format!("it is {}; the window starts at {} (in {}).", hhmm(now), hhmm(*starts), hm(left))]
        }
    }
}

pub fn stop_banner(host: Option<&str>, stop: &StopKind) -> String {
    format!("{HARD_STOP} {}, operators deciding: {}", host.unwrap_or("window"), stop.headline())
}

/// One line of the timeline for an event.
pub fn event_line(e: &Event) -> String {
    crate::narrate::cockpit_line(e)
}

pub fn request_label(r: &Request) -> String {
    crate::narrate::request(r)
}
