//! Keys at a hard stop: choose what to do, confirm it, or override with a reason and the
//! typed host name.

use super::model::{App, Effect, Popup, StopStage, choice, override_word};
use crate::engine::control::{Choice, Decision};
use crate::tui::action::Action;
use crate::tui::strings;

pub(super) fn stop_input(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(Popup::Stop { stop, .. }) = app.popups.last() else { return Vec::new() };
    let stop = stop.clone();
    let changed = app.stop_changed(&stop);
    let Some(Popup::Stop { stage, .. }) = app.popups.last_mut() else { return Vec::new() };
    match stage {
        StopStage::Choose => match action {
            Action::FullDiff => {
                app.view_scroll = 0;
                app.popups.push(Popup::FullDiff);
            }
            Action::Quit => app.status = Some(strings::STOP_DECIDE_FIRST.into()),
            // `R` from a view over the stop: its rollback (of this host; never more).
            Action::RollbackHost => {
                if let Some(d) = choice(Choice::RollbackHost, &stop, changed) {
                    *stage = StopStage::Confirm(d);
                }
            }
            Action::Choose(c) => {
                if let Some(d) = choice(c, &stop, changed) {
                    *stage = if c.needs_reason() {
                        StopStage::Reason { choice: c, text: String::new() }
                    } else {
                        StopStage::Confirm(d)
                    };
                }
            }
            _ => {}
        },
        StopStage::Confirm(d) => match action {
            Action::Confirm => {
                let d = d.clone();
                app.popups.pop();
                return vec![Effect::Decide(d)];
            }
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
                    app.status = Some(strings::OVERRIDE_EMPTY.into());
                } else if c == Choice::Override {
                    *stage = StopStage::Typed { choice: c, reason, typed: String::new() };
                } else {
                    *stage = StopStage::Confirm(Decision::with_reason(c, stop.target(), reason));
                }
            }
            Action::Quit => app.status = Some(strings::STOP_DECIDE_FIRST.into()),
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
                    let d = Decision::with_reason(*c, stop.target(), reason.clone());
                    app.popups.pop();
                    return vec![Effect::Decide(d)];
                }
                app.status = Some(strings::override_mismatch(&word));
            }
            Action::Quit => app.status = Some(strings::STOP_DECIDE_FIRST.into()),
            _ => {}
        },
    }
    Vec::new()
}
