//! Keys at a hard stop: choose what to do, confirm it, or override with a reason and the
//! typed host name.

use super::model::{App, Effect, Popup, StopStage, choice, override_word};
use crate::engine::event::Decision;
use crate::tui::action::Action;
use crate::tui::strings;

pub(super) fn stop_input(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(Popup::Stop { stop, stage }) = app.popups.last_mut() else { return Vec::new() };
    let stop = stop.clone();
    match stage {
        StopStage::Choose => match action {
            Action::ChooseOverride => *stage = StopStage::Reason(String::new()),
            Action::FullDiff => {
                app.view_scroll = 0;
                app.popups.push(Popup::FullDiff);
            }
            Action::Quit => app.status = Some(strings::STOP_DECIDE_FIRST.into()),
            // `R` from a view over the stop: its rollback.
            Action::RollbackHost => {
                if let Some(d) = choice(&Action::ChooseRollback, &stop) {
                    *stage = StopStage::Confirm(d);
                }
            }
            a => {
                if let Some(d) = choice(&a, &stop) {
                    *stage = StopStage::Confirm(d);
                }
            }
        },
        StopStage::Confirm(d) => match action {
            Action::Confirm => {
                let d = d.clone();
                app.popups.pop();
                return vec![Effect::Decide(d)];
            }
            Action::Deny | Action::Back => *stage = StopStage::Choose,
            // Confirming another choice: `R` asks about the rollback instead.
            Action::RollbackHost | Action::ChooseRollback => {
                if let Some(r) = choice(&Action::ChooseRollback, &stop) {
                    *stage = StopStage::Confirm(r);
                }
            }
            _ => {}
        },
        StopStage::Reason(reason) => match action {
            Action::Input(c) => reason.push(c),
            Action::Backspace => {
                reason.pop();
            }
            Action::Back => *stage = StopStage::Choose,
            Action::Submit => {
                if reason.trim().is_empty() {
                    app.status = Some(strings::OVERRIDE_EMPTY.into());
                } else {
                    *stage = StopStage::Typed { reason: reason.trim().to_string(), typed: String::new() };
                }
            }
            Action::Quit => app.status = Some(strings::STOP_DECIDE_FIRST.into()),
            _ => {}
        },
        StopStage::Typed { reason, typed } => match action {
            Action::Input(c) => typed.push(c),
            Action::Backspace => {
                typed.pop();
            }
            Action::Back => *stage = StopStage::Reason(reason.clone()),
            Action::Submit => {
                let word = override_word(&stop);
                if *typed == word {
                    let reason = reason.clone();
                    app.popups.pop();
                    return vec![Effect::Decide(Decision::Override { reason })];
                }
                app.status = Some(strings::override_mismatch(&word));
            }
            Action::Quit => app.status = Some(strings::STOP_DECIDE_FIRST.into()),
            _ => {}
        },
    }
    Vec::new()
}
