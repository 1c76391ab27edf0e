//! Keys on the main screen (live or read-only): move the selection, scroll the output,
//! open views and the filter, ask for rollbacks and abort (each behind a confirmation), quit.

use super::model::{App, Effect, Mode, Pending, Popup};
use crate::engine::event::Request;
use crate::tui::action::Action;
use crate::tui::strings;

pub(super) fn main_input(app: &mut App, action: Action) -> Vec<Effect> {
    let request = match action {
        Action::SelectPrev => {
            move_selection(app, -1);
            None
        }
        Action::SelectNext => {
            move_selection(app, 1);
            None
        }
        Action::ScrollUp => {
            // Reading back pins the host shown.
            app.selected = app.selected_host();
            let max = app.selected.as_deref().map_or(0, |h| app.pane_len(h)).min(u16::MAX as usize) as u16;
            app.scroll = app.scroll.saturating_add(3).min(max);
            None
        }
        Action::ScrollDown => {
            app.scroll = app.scroll.saturating_sub(3);
            None
        }
        Action::FollowOutput => {
            app.scroll = 0;
            None
        }
        Action::Help => open_view(app, Popup::Help),
        Action::Timeline => {
            open_view(app, Popup::Timeline);
            // The timeline opens at its newest line.
            app.view_scroll = app.events.len().min(u16::MAX as usize) as u16;
            None
        }
        Action::FullDiff => open_view(app, Popup::FullDiff),
        Action::Filter => {
            app.popups.push(Popup::Filter);
            None
        }
        Action::Back => {
            app.filter.clear();
            None
        }
        Action::RollbackHost => app.selected_host().map(|host| Request::RollbackHost { host }),
        Action::RollbackWave => app
            .current_wave()
            .map(|(_, (wave, hosts))| Request::RollbackWave { wave: wave.clone(), hosts: hosts.clone() }),
        Action::RollbackAll => Some(Request::RollbackAll),
        Action::AbortWindow => Some(Request::Abort),
        Action::Quit => {
            // Watching, or the window is over: nothing runs that leaving would leave behind.
            if app.mode == Mode::ReadOnly || app.engine_done || app.state.finished {
                return vec![Effect::Quit];
            }
            if app.quitting {
                app.status = Some(strings::QUIT_WAITING.into());
                return Vec::new();
            }
            app.popups.push(Popup::Confirm(Pending::Quit));
            None
        }
        _ => None,
    };
    if let Some(r) = request {
        if app.mode == Mode::ReadOnly {
            app.status = Some(strings::READ_ONLY.into());
        } else if !app.can_request() {
            app.status = Some(strings::NO_REQUESTS_AFTER_END.into());
        } else {
            app.popups.push(Popup::Confirm(Pending::Request(r)));
        }
    }
    Vec::new()
}

fn open_view(app: &mut App, p: Popup) -> Option<Request> {
    app.view_scroll = 0;
    app.popups.push(p);
    None
}

fn move_selection(app: &mut App, delta: isize) {
    let hosts = app.visible_hosts();
    if hosts.is_empty() {
        return;
    }
    let cur = app.selected_host().and_then(|s| hosts.iter().position(|h| *h == s)).unwrap_or(0);
    let next = (cur as isize + delta).clamp(0, hosts.len() as isize - 1) as usize;
    app.selected = Some(hosts[next].clone());
    app.follow = false;
    app.scroll = 0;
}
