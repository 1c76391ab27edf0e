//! Keys at a confirmation ("roll back web-1?", "quit?"): yes does it, no or Esc closes.

use super::model::{App, Effect, Pending, Popup, RollbackKey};
use crate::engine::event::Request;
use crate::tui::action::Action;

pub(super) fn confirm_input(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(Popup::Confirm(pending)) = app.popups.last().cloned() else { return Vec::new() };
    match action {
        Action::Confirm => {
            app.popups.pop();
            match pending {
                Pending::Request(r) => vec![Effect::Request(r)],
                Pending::Quit => {
                    app.quitting = true;
                    // Leaving pauses the window: running steps end, nothing new starts,
                    // `--resume` carries on where it was.
                    if app.state.paused || app.state.finished {
                        vec![Effect::Quit]
                    } else {
                        let pause = Request::Pause { reason: "the operators quit the cockpit".into() };
                        vec![Effect::Request(pause), Effect::Quit]
                    }
                }
            }
        }
        Action::Deny | Action::Back => {
            app.popups.pop();
            Vec::new()
        }
        // Asked about something else (abort, quit, a wave): `R` asks about rolling back the
        // selected host instead.
        Action::RollbackHost => {
            if let Some(RollbackKey::Request(host)) = app.rollback_key() {
                app.popups.pop();
                app.popups.push(Popup::Confirm(Pending::Request(Request::RollbackHost { host })));
            }
            Vec::new()
        }
        _ => Vec::new(),
    }
}
