//! Keys in the full-screen views (help, timeline, full diff): scroll, close, and `R`,
//! which closes the view and then does what it does beneath.

use super::model::{App, Effect, Mode};
use crate::tui::action::Action;
use crate::tui::strings;

pub(super) fn view_input(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        // The rollback key works here too: the view closes, then `R` does what it
        // does beneath (asks about the selected host, or the hard stop's rollback).
        Action::RollbackHost if app.mode == Mode::ReadOnly => app.status = Some(strings::READ_ONLY.into()),
        Action::RollbackHost => {
            app.popups.pop();
            return super::update(app, Action::RollbackHost);
        }
        Action::ScrollUp => app.view_scroll = app.view_scroll.saturating_sub(1),
        Action::ScrollDown => app.view_scroll = app.view_scroll.saturating_add(1),
        Action::Back => {
            app.popups.pop();
        }
        Action::Quit => {
            app.popups.pop();
            return super::update(app, Action::Quit);
        }
        _ => {}
    }
    Vec::new()
}
