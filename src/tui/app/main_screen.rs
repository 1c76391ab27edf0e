//! Keys on the main screen (live or read-only): move the selection, switch the wave shown,
//! page through the output or the hosts, open views and the filter, ask for rollbacks and
//! abort (a confirmation each; a wave's or the window's rollback typed).

use super::model::{App, Effect, List, Mode, Pending, Popup};
use crate::engine::event::Request;
use crate::tui::action::Action;
use crate::tui::strings;

pub(super) fn main_input(app: &mut App, action: Action) -> Vec<Effect> {
    let request =
        matches!(action, Action::RollbackHost | Action::RollbackWave | Action::RollbackAll | Action::AbortWindow);
    if request && app.mode == Mode::ReadOnly {
        app.status = Some(strings::READ_ONLY.into());
        return Vec::new();
    }
    match action {
        Action::SelectPrev => move_selection(app, -1),
        Action::SelectNext => move_selection(app, 1),
        Action::ScrollUp | Action::ScrollDown | Action::ScrollTop | Action::ScrollBottom => match app.list {
            List::Output => scroll_output(app, &action),
            List::Hosts => page_hosts(app, &action),
        },
        Action::SwitchList => {
            app.list = match app.list {
                List::Output => List::Hosts,
                List::Hosts => List::Output,
            };
            app.status = Some(strings::list_keys(app.list == List::Hosts));
        }
        Action::PrevWave => switch_wave(app, -1),
        Action::NextWave => switch_wave(app, 1),
        Action::FullDiff => {
            app.view_scroll = 0;
            app.diff_cursor = 0;
            app.popups.push(Popup::FullDiff);
        }
        Action::Filter => app.popups.push(Popup::Filter),
        Action::Back => app.filter.clear(),
        Action::RollbackHost => match app.selected_host() {
            // Nothing ran on it, or it is rolled back already: there is nothing to ask.
            Some(host) if app.state.host(&host).is_some_and(|h| !h.has_changes()) => {
                app.status = Some(strings::nothing_to_undo(&host));
            }
            Some(host) => ask(app, Request::RollbackHost { host }),
            None => app.status = Some(strings::NO_HOST.into()),
        },
        Action::AbortWindow if app.state.finished => app.status = Some(strings::ALREADY_ENDED.into()),
        Action::AbortWindow => ask(app, Request::Abort),
        Action::RollbackWave => {
            if let Some((_, (wave, hosts))) = app.shown_wave() {
                let request = Request::RollbackWave { wave: wave.clone(), hosts: hosts.clone() };
                let wave = wave.clone();
                count(app, request, Some(&wave));
            }
        }
        Action::RollbackAll => count(app, Request::RollbackAll, None),
        _ => {}
    }
    Vec::new()
}

/// A request behind one confirmation, if requests can be made here.
fn ask(app: &mut App, request: Request) {
    if requests_allowed(app) {
        app.popups.push(Popup::Confirm(Pending::Request(request)));
    }
}

/// A wave's or the window's rollback, confirmed by typing how many hosts it rolls back.
fn count(app: &mut App, request: Request, wave: Option<&str>) {
    if !requests_allowed(app) {
        return;
    }
    let hosts = app.hosts_with_changes(wave).len();
    if hosts == 0 {
        app.status = Some(strings::nothing_to_roll_back(wave));
        return;
    }
    app.popups.push(Popup::Count { request, hosts, typed: String::new() });
}

fn requests_allowed(app: &mut App) -> bool {
    if app.mode == Mode::ReadOnly {
        app.status = Some(strings::READ_ONLY.into());
        false
    } else if !app.can_request() {
        app.status = Some(strings::NO_REQUESTS_AFTER_END.into());
        false
    } else {
        true
    }
}

fn scroll_output(app: &mut App, action: &Action) {
    // Reading back pins the host shown.
    app.selected = app.selected_host();
    let max = app.selected.as_deref().map_or(0, |h| app.pane_len(h)).min(u16::MAX as usize) as u16;
    app.scroll = match action {
        Action::ScrollUp => app.scroll.saturating_add(3).min(max),
        Action::ScrollDown => app.scroll.saturating_sub(3),
        Action::ScrollTop => max,
        _ => 0,
    };
}

fn page_hosts(app: &mut App, action: &Action) {
    let hosts = app.visible_hosts();
    if hosts.is_empty() {
        return;
    }
    let page = app.hosts_page() as isize;
    let last = hosts.len() - 1;
    let cur = app.selected_host().and_then(|s| hosts.iter().position(|h| *h == s)).unwrap_or(0) as isize;
    let next = match action {
        Action::ScrollUp => (cur - page).max(0) as usize,
        Action::ScrollDown => ((cur + page) as usize).min(last),
        Action::ScrollTop => 0,
        _ => last,
    };
    select(app, hosts[next].clone());
}

fn move_selection(app: &mut App, delta: isize) {
    let hosts = app.visible_hosts();
    if hosts.is_empty() {
        return;
    }
    let cur = app.selected_host().and_then(|s| hosts.iter().position(|h| *h == s)).unwrap_or(0);
    let next = (cur as isize + delta).clamp(0, hosts.len() as isize - 1) as usize;
    select(app, hosts[next].clone());
}

fn select(app: &mut App, host: String) {
    app.selected = Some(host);
    app.follow = false;
    app.scroll = 0;
}

/// `[` / `]`: every wave stays reachable, during the window and after it.
fn switch_wave(app: &mut App, delta: isize) {
    let n = app.info.waves.len();
    let Some((cur, _)) = app.shown_wave() else { return };
    let next = (cur as isize + delta).clamp(0, n.saturating_sub(1) as isize) as usize;
    app.show_wave(next);
    let hosts = app.visible_hosts();
    let here = app.selected.as_ref().is_some_and(|s| hosts.contains(s));
    if !here && let Some(first) = hosts.first() {
        select(app, first.clone());
    }
    app.follow = false;
}
