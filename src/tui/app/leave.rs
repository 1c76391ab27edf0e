//! Leaving the cockpit: `q` or Ctrl-C, from anywhere. While the window can still change,
//! it asks which way: leave it PAUSED (running steps finish, nothing new starts, an open
//! stop stays open, `--resume` carries on exactly there) or ABORT it (nothing new starts,
//! ever; rollback stays possible), or back. Once the window has ended, leaving is at once.

use super::model::{App, Effect, Mode, Pending, Popup};
use crate::engine::control::Decision;
use crate::engine::decide::Verdict;
use crate::engine::event::Request;
use crate::tui::action::Action;
use crate::tui::strings;

/// `q` / Ctrl-C.
pub(super) fn open(app: &mut App) -> Vec<Effect> {
    if app.mode == Mode::ReadOnly || app.engine_done {
        return vec![Effect::Quit];
    }
    if app.quitting {
        app.status = Some(strings::QUIT_WAITING.into());
        return Vec::new();
    }
    // Over, and nobody is asked anything: nothing is left that leaving would leave behind.
    let asked = app.popups.iter().any(|p| matches!(p, Popup::Stop { .. } | Popup::Countdown { .. }));
    if app.state.finished && !asked {
        app.quitting = true;
        return vec![Effect::Quit];
    }
    // Asked already (behind a stop, say): the question comes back on top.
    app.popups.retain(|p| *p != Popup::Confirm(Pending::Quit));
    app.popups.push(Popup::Confirm(Pending::Quit));
    Vec::new()
}

/// Keys in the leave question.
pub(super) fn leave_input(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::LeavePaused => {
            app.popups.pop();
            app.quitting = true;
            if app.state.paused || app.state.finished {
                return vec![Effect::Quit];
            }
            let pause = Request::Pause { reason: strings::LEFT_PAUSED_REASON.into() };
            vec![Effect::Request { request: pause, by: vec![app.answerer()] }, Effect::Quit]
        }
        Action::LeaveAborted => {
            app.popups.pop();
            app.quitting = true;
            vec![abort(app), Effect::Quit]
        }
        Action::Deny | Action::Back => {
            app.popups.pop();
            Vec::new()
        }
        // `R` does instead what it does beneath: asks about the selected host, or the
        // stop's rollback, or rolls the countdown's host back now.
        Action::RollbackHost if app.rollback_key().is_some() => {
            app.popups.pop();
            super::route(app, Action::RollbackHost)
        }
        _ => Vec::new(),
    }
}

/// Aborting on the way out: the answer of the stop the engine is asking (so it is
/// journaled as that stop's decision), else a request.
fn abort(app: &mut App) -> Effect {
    let stop = app.popups.iter().rev().find_map(|p| match p {
        Popup::Stop { stop, .. } => Some(stop.id),
        _ => None,
    });
    match stop {
        Some(id) => {
            app.popups.retain(|p| !matches!(p, Popup::Stop { stop, .. } if stop.id == id));
            Effect::Decide { stop: id, verdict: Verdict { decision: Decision::abort(), by: app.actor() } }
        }
        None => Effect::Request { request: Request::Abort, by: vec![app.answerer()] },
    }
}
