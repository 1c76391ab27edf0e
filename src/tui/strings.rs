//! Every operator-facing string of the cockpit, in one place: one voice, one spelling, and
//! one file to review (or translate). Text that came from a host goes through
//! [`crate::safe_text::for_terminal`] before it reaches any of these.

use super::app::model::{Held, RollbackKey};
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
pub const HELP_LEAVING: &str = "Leaving (q or Ctrl-C)";
/// The help screen's last lines.
pub const HELP_ANYWHERE: [&str; 2] = [
    "Anywhere: q or Ctrl-C leaves (asks: PAUSED or ABORT), ? help, t journal.",
    "No key uses Ctrl-b (tmux's prefix) or the mouse.",
];
pub const TIMELINE_TITLE: &str = "Timeline: the journal (Esc closes)";
pub const FILTER_PROMPT: &str = "filter: ";
pub const HARD_STOP: &str = "HARD STOP";
pub const STOP_WAITING: &str = "nothing new starts until this is decided";
pub const OVERRIDE_REASON: &str = "Override: why is carrying on safe? (recorded in the journal)";
pub const OVERRIDE_EMPTY: &str = "a reason is required to override";
pub const WINDOW_PAUSED: &str = "window PAUSED: nothing new starts (--resume carries on)";
pub const QUIT_WAITING: &str =
    "leaving: nothing new starts; waiting for running steps to finish (no remote command is killed)";
/// Why the journal says the window was paused when the operators left.
pub const LEFT_PAUSED_REASON: &str = "the operators left the cockpit";

/// The status line once the window has ended: finished or aborted, and whether rollback is
/// still at hand here (it is until the operators leave).
pub fn window_ended(aborted: bool, can_roll_back: bool) -> String {
    let what = if aborted { "window ABORTED" } else { "window finished" };
    if can_roll_back {
        format!("{what}; rollback stays possible: R host, W wave, X all; q leaves")
    } else {
        what.to_string()
    }
}
pub const ALREADY_ENDED: &str = "the window has ended: there is nothing to abort (R, W, X still roll back)";
pub const NO_REQUESTS_AFTER_END: &str =
    "this cockpit no longer serves the window (leaving): roll back with `patchdeck rollback JOURNAL`";
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

/// The too-small screen, and the status of a key pressed meanwhile.
pub const TOO_SMALL_KEYS: &str = "keys do nothing while the terminal is too small: make it bigger first";
pub const QUESTION_WAITING: &str = "A question is waiting for you: make the terminal bigger to see it.";

/// The too-small screen when a hard stop waits.
pub fn decision_waiting(host: Option<&str>, stop: &StopKind) -> String {
    format!(
        "A decision is waiting: {HARD_STOP} {}: {}. Keys do nothing until the terminal is bigger.",
        host.unwrap_or("window"),
        stop.headline()
    )
}

/// The too-small screen when an auto-rollback counts down.
pub fn countdown_waiting(host: &str) -> String {
    format!("{COUNTDOWN_TITLE} {host} is counting down: it rolls back when it ends unless cancelled.")
}

/// The status line when a key was swallowed because something just opened.
pub fn key_held(what: Held) -> String {
    let what = match what {
        Held::Stop => "the stop just opened",
        Held::Countdown => "the countdown just opened",
        Held::Question => "the question just opened",
    };
    format!("key ignored: {what}; read it, then press again")
}

/// In a modal whose keys are held.
pub const HELD_NOTE: &str = "(just opened: keys wait a moment)";

/// The status line when `R` or `W` came right after the selection moved by itself.
/// Enter in the full diff right after a re-check replaced the findings.
pub const FINDINGS_CHANGED: &str =
    "key ignored: the findings were just checked again and may have moved; look, then press again";

pub fn selection_moved(now: Option<&str>) -> String {
    match now {
        Some(h) => format!("key ignored: the selection just moved to {h}; look, then press again"),
        None => "key ignored: the selection just moved; look, then press again".into(),
    }
}

/// `1`..`9` past the last operator.
pub fn no_such_operator(n: usize, ops: &[String]) -> String {
    let list: Vec<String> = ops.iter().enumerate().map(|(i, o)| format!("{} {o}", i + 1)).collect();
    format!("no operator {n}: {}", list.join("  "))
}

/// Before the operators, in a question with two or more.
pub const BY: &str = "by";
pub const TAB_NEXT: &str = "(Tab: next)";
pub const TAB_NEXT_SHORT: &str = "next operator";

/// Tab on the main screen: which list PgUp/PgDn/Home/End move now.
pub fn list_keys(hosts: bool) -> String {
    let which = if hosts { "the hosts" } else { "the output" };
    format!("PgUp/PgDn/Home/End move {which} (Tab switches)")
}

/// `R` on a host with nothing to undo.
pub fn nothing_to_undo(host: &str) -> String {
    format!("{host} has no changes to undo (nothing ran on it, or it is rolled back already)")
}

/// `W` or `X` with nothing to undo.
pub fn nothing_to_roll_back(wave: Option<&str>) -> String {
    match wave {
        Some(w) => format!("no host of wave {w} has changes to undo"),
        None => "no host has changes to undo: A aborts the window".into(),
    }
}

/// What to type to confirm a wave's or the window's rollback.
pub fn count_prompt(r: &Request, hosts: usize) -> String {
    let what = match r {
        Request::RollbackWave { wave, .. } => format!("wave {wave}'s"),
        _ => "the window's".into(),
    };
    format!("This rolls back {hosts} host(s) with changes ({what}). Type {hosts} (or \"all {hosts}\") and press Enter")
}

pub fn count_mismatch(hosts: usize) -> String {
    format!("type {hosts} (or \"all {hosts}\") to confirm, or Esc to go back")
}

/// `R` at a stop about the whole window: it does nothing; which key does what.
pub fn r_at_window_stop(hosts_with_changes: usize) -> String {
    format!(
        "R rolls back one host; this stop is about the window: X rolls back all {hosts_with_changes} host(s) with changes, a aborts"
    )
}

/// A choice's key at a stop that does not offer it.
pub fn not_a_choice(c: Choice) -> String {
    let (key, _, short, _) = super::keymap::choice_key(c);
    format!("{key} ({short}) is not a choice at this stop: the keys it offers are in the box")
}

/// Titles of the hosts pane's wave: where it stands.
pub const WAVE_DONE: &str = "done";
pub const WAVE_NOW: &str = "now";
pub const WAVE_LATER: &str = "later";
pub const NO_HOST_MATCHES: &str = "no host matches the filter";

/// On the hosts pane while a filter is on.
pub fn filter_badge(f: &str) -> String {
    format!("filter: {f}")
}

/// The modal titles of the go/no-go and of the wait for the start.
pub const GATE_TITLE: &str = "GO/NO-GO: wave";
pub const BEFORE_START_TITLE: &str = "WAITING FOR THE WINDOW'S START";

/// At a go/no-go, above the hosts of the wave that finished.
pub fn gate_previous(wave: &str) -> String {
    format!("wave {wave}, just finished:")
}

pub const LEAVE_TITLE: &str = "Leave the cockpit?";
pub const LEAVE_PAUSED: &str = "PAUSED: nothing new starts; --resume carries on from here";
pub const LEAVE_ABORTED: &str = "ABORT: nothing new starts, ever; rollback stays possible";

/// The leave question.
pub fn leave_question(running: &[String]) -> String {
    if running.is_empty() {
        "Leave the window PAUSED (resumable), or ABORT it? Nothing runs now.".into()
    } else {
        format!(
            "Leave the window PAUSED (resumable), or ABORT it? Running now: {}; it finishes either way (no remote command is killed).",
            running.join(", ")
        )
    }
}

/// The leave question while a hard stop is open.
pub fn leave_stop_stays(host: Option<&str>) -> String {
    format!(
        "Left paused, the {HARD_STOP} {} stays open: `patchdeck run RUNBOOK --resume` asks it again.",
        host.unwrap_or("window")
    )
}

/// `watch`'s status line while an auto-rollback counts down.
pub fn countdown_banner(host: &str, left: i64) -> String {
    format!("{COUNTDOWN_TITLE} {host}: rolls back in {}s unless the operators cancel", left.max(0))
}

/// An answer for a stop that is no longer asked (decided meanwhile, or the start time came).
pub const STOP_GONE: &str = "that stop is no longer open: nothing was decided by this key";

pub const SIGNAL_RECEIVED: &str =
    "signal received: the window is left paused; running steps finish, nothing new starts (--resume carries on)";

/// Hours and minutes of a duration in seconds, signed: "1h05m", "49m", "-3m".
pub fn hm(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (h, m) = (s / 3600, (s % 3600) / 60);
    if h > 0 { format!("{sign}{h}h{m:02}m") } else { format!("{sign}{m}m") }
}

/// A countdown in seconds: "1h05m09s", "4m09s", "9s".
pub fn hms(secs: i64) -> String {
    let s = secs.max(0);
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h{m:02}m{sec:02}s")
    } else if m > 0 {
        format!("{m}m{sec:02}s")
    } else {
        format!("{sec}s")
    }
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

/// Enter in the full diff on a line that is not a drifted file.
pub const NOT_A_DRIFTED_FILE: &str = "Enter shows a file's diff only on a drift line naming a file (/...)";
/// No baseline host to fetch staging's file from (watch, or no runbook).
pub const NO_BASELINE_HOST: &str = "no staging host to fetch the file from here";
pub const DRIFT_FETCHING: &str = "fetching both files (read only, not journaled)...";
pub const DRIFT_SAME: &str = "The two files are the same now: one of them changed since the probe.";

/// The drift diff view's header.
pub fn drift_title(path: &str, staging: &str, host: &str) -> String {
    format!("drift: {path}  {staging} vs {host}")
}

/// Why a drifted file is not shown, in a sentence.
pub fn drift_refused(on: &str, why: &crate::drift::fetch::Refusal) -> String {
    use crate::drift::fetch::{MAX_BYTES, Refusal};
    match why {
        Refusal::NotAFile => format!("On {on} the file is missing or not a regular file."),
        Refusal::NotWorldReadable => {
            format!("On {on} the file is not world-readable: it is compared by checksum only, never shown.")
        }
        Refusal::TooBig => format!("On {on} the file is larger than {} KiB: not shown.", MAX_BYTES / 1024),
        Refusal::NotText => format!("On {on} the file is not text: not shown."),
        Refusal::UnknownHost(h) => {
            format!("The file cannot be fetched from {h}: it is not a host of the inventory.")
        }
        Refusal::Failed(e) => format!("On {on} the file could not be read: {e}"),
    }
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

pub fn override_host_prompt(expected: &str) -> String {
    format!("To confirm the override, type \"{expected}\" and press Enter")
}

pub fn override_mismatch(expected: &str) -> String {
    format!("type exactly \"{expected}\" to override, or Esc to go back")
}

/// The rollback key's words (after "R"), in the footer and beside a question ("instead").
pub fn rollback_key(k: &RollbackKey, instead: bool) -> String {
    let what = match k {
        RollbackKey::Request(h) | RollbackKey::Stop(h) => format!("ROLLBACK {h}"),
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

pub fn host_result(r: HostResult) -> &'static str {
    crate::narrate::host_result(r)
}

pub fn outcome(o: &Outcome, millis: u64) -> String {
    crate::narrate::outcome(o, millis)
}

/// What the stop is about, beyond its headline: the lines of the modal's body.
pub fn stop_body(stop: &StopKind, ends: Option<jiff::Timestamp>, now: jiff::Timestamp) -> Vec<String> {
    let mut body = kind_body(stop, ends, now);
    if let Some(why) = stop.repair_reason() {
        body.push(repair_offered(&why));
    }
    body
}

pub fn repair_offered(why: &str) -> String {
    crate::narrate::repair_offered(why)
}

fn kind_body(stop: &StopKind, ends: Option<jiff::Timestamp>, now: jiff::Timestamp) -> Vec<String> {
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
        StopKind::Gate { wave } => vec![format!(
            "look at the hosts of the wave before: g starts wave {}, a aborts, X rolls back every host with changes.",
            for_terminal(wave)
        )],
        StopKind::BeforeStart { starts } => {
            let left = (starts.as_second() - now.as_second()).max(0);
            vec![
                format!("it is {}; the window starts at {}: in {}.", hhmm(now), hhmm(*starts), hms(left)),
                "it starts by itself then; S starts it now (type why: it is journaled), a aborts.".into(),
            ]
        }
        StopKind::HostLocked { holder, stale } => {
            let mut v = vec![for_terminal(holder), "nothing has changed on this host.".into()];
            v.push(if *stale {
                "its holder is gone: override (typed) breaks the lock, only if that window is over.".into()
            } else {
                "retry once that window released it, or skip the host.".into()
            });
            v
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
