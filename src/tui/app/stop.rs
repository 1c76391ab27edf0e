//! Keys at a hard stop: choose what to do, confirm it (saying who decides), override with a
//! reason and the typed host name, or roll back every host with changes by typing how many
//! they are. Every decision names the stop it answers and acts on that stop's own subject.

use super::model::{App, Effect, Popup, StopStage, choice, override_word};
use crate::engine::control::{Choice, Decision};
use crate::engine::decide::Verdict;
use crate::engine::state::OpenStop;
use crate::tui::action::Action;
use crate::tui::strings;

pub(super) fn stop_input(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(Popup::Stop { stop, .. }) = app.popups.last() else { return Vec::new() };
    let stop = stop.clone();
    let changed = app.stop_changed(&stop);
    let everything = app.hosts_with_changes(None).len();
    let by = app.actor();
    let Some(Popup::Stop { stage, .. }) = app.popups.last_mut() else { return Vec::new() };
    let decide = |d: Decision| Effect::Decide { stop: stop.id, verdict: Verdict { decision: d, by: by.clone() } };
    let mut status = None;
    let mut effects = Vec::new();
    match stage {
        StopStage::Choose => match action {
            Action::FullDiff => {
                app.view_scroll = 0;
                app.diff_cursor = 0;
                app.popups.push(Popup::FullDiff);
                return Vec::new();
            }
            // `R` from a view over the stop: its rollback (of this host; never more).
            Action::RollbackHost | Action::Choose(_) => {
                let c = if let Action::Choose(c) = action { c } else { Choice::RollbackHost };
                match choice(c, &stop, changed) {
                    Some(_) if c == Choice::RollbackAll => {
                        *stage = StopStage::Count { choice: c, hosts: everything, typed: String::new() }
                    }
                    Some(_) if c.needs_reason() => *stage = StopStage::Reason { choice: c, text: String::new() },
                    Some(d) => *stage = StopStage::Confirm(d),
                    None => status = Some(not_here(c, &stop, everything)),
                }
            }
            _ => {}
        },
        StopStage::Confirm(d) => match action {
            Action::Confirm => effects.push(decide(d.clone())),
            Action::Deny | Action::Back => *stage = StopStage::Choose,
            // Confirming another choice: `R` asks about the rollback instead.
            Action::RollbackHost | Action::Choose(Choice::RollbackHost) => {
                if let Some(r) = choice(Choice::RollbackHost, &stop, changed) {
                    *stage = StopStage::Confirm(r);
                }
            }
            _ => {}
        },
        StopStage::Reason { choice: c, text: reason } => match action {
            Action::Input(ch) => reason.push(ch),
            Action::Backspace => {
                reason.pop();
            }
            Action::Back => *stage = StopStage::Choose,
            Action::Submit => {
                let (c, reason) = (*c, reason.trim().to_string());
                if reason.is_empty() {
                    status = Some(strings::OVERRIDE_EMPTY.into());
                } else if c == Choice::Override {
                    *stage = StopStage::Typed { choice: c, reason, typed: String::new() };
                } else {
                    *stage = StopStage::Confirm(Decision::with_reason(c, stop.target(), reason));
                }
            }
            _ => {}
        },
        StopStage::Typed { choice: c, reason, typed } => match action {
            Action::Input(ch) => typed.push(ch),
            Action::Backspace => {
                typed.pop();
            }
            Action::Back => *stage = StopStage::Reason { choice: *c, text: reason.clone() },
            Action::Submit => {
                let word = override_word(&stop);
                if *typed == word {
                    effects.push(decide(Decision::with_reason(*c, stop.target(), reason.clone())));
                } else {
                    status = Some(strings::override_mismatch(&word));
                }
            }
            _ => {}
        },
        StopStage::Count { choice: c, hosts, typed } => match action {
            Action::Input(ch) => typed.push(ch),
            Action::Backspace => {
                typed.pop();
            }
            Action::Back => *stage = StopStage::Choose,
            Action::Submit if super::confirm::count_typed(typed, *hosts) => {
                effects.push(decide(Decision::at_stop(*c, stop.host.as_deref(), None)));
            }
            Action::Submit => status = Some(strings::count_mismatch(*hosts)),
            _ => {}
        },
    }
    if !effects.is_empty() {
        app.popups.pop();
    }
    app.status = status;
    effects
}

/// Why a choice's key does nothing at this stop, and which keys do what instead.
fn not_here(c: Choice, stop: &OpenStop, everything: usize) -> String {
    if c == Choice::RollbackHost && stop.host.is_none() {
        return strings::r_at_window_stop(everything);
    }
    strings::not_a_choice(c)
}
