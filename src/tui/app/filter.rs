//! Keys in the filter prompt: type to narrow the hosts and diff lines shown, Enter keeps
//! the filter, Esc clears it.

use super::model::{App, Effect};
use crate::tui::action::Action;

pub(super) fn filter_input(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Input(c) => app.filter.push(c),
        Action::Backspace => {
            app.filter.pop();
        }
        Action::Submit => {
            app.popups.pop();
        }
        Action::Back => {
            app.filter.clear();
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
