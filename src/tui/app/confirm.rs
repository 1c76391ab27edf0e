//! Keys at a question: a request's yes/no ("roll back web-1?", "abort?"), and the typed
//! confirmation of a wave's or the window's rollback (the number of hosts it rolls back).
//! The answer is recorded as the operator chosen to answer (see `App::answerer`).

use super::model::{App, Effect, Pending, Popup, RollbackKey};
use crate::engine::event::Request;
use crate::tui::action::Action;
use crate::tui::strings;

pub(super) fn confirm_input(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(Popup::Confirm(Pending::Request(request))) = app.popups.last().cloned() else { return Vec::new() };
    match action {
        Action::Confirm => {
            app.popups.pop();
            vec![Effect::Request { request, by: vec![app.answerer()] }]
        }
        Action::Deny | Action::Back => {
            app.popups.pop();
            Vec::new()
        }
        // Asked about something else (abort, a wave): `R` asks about rolling back the
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

/// What was typed confirms rolling back `hosts` hosts: the number, or "all N".
pub fn count_typed(typed: &str, hosts: usize) -> bool {
    let t = typed.trim().to_lowercase();
    t == hosts.to_string() || t == format!("all {hosts}")
}

pub(super) fn count_input(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(Popup::Count { request, hosts, typed }) = app.popups.last_mut() else { return Vec::new() };
    match action {
        Action::Input(c) => typed.push(c),
        Action::Backspace => {
            typed.pop();
        }
        Action::Back => {
            app.popups.pop();
        }
        Action::Submit if count_typed(typed, *hosts) => {
            let request = request.clone();
            app.popups.pop();
            return vec![Effect::Request { request, by: vec![app.answerer()] }];
        }
        Action::Submit => app.status = Some(strings::count_mismatch(*hosts)),
        _ => {}
    }
    Vec::new()
}
