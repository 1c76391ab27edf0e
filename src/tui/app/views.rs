//! Full-screen views (help, timeline, full diff, a drifted file's diff): open them over
//! anything, scroll a line or a page, jump to either end, close, and `R`, which closes the
//! view and then does what it does beneath. In the full diff the keys move a selected
//! finding instead, and Enter on a drifted file opens its diff against staging's.

use super::model::{App, DriftBody, DriftView, Effect, Mode, Popup};
use crate::diff::drifted_file;
use crate::drift::fetch::{Fetched, unified};
use crate::tui::action::Action;
use crate::tui::strings;

/// Opens `view` over whatever is open. A view already on top gives way to it; the same
/// view again closes it (`?` twice).
pub(super) fn open(app: &mut App, view: Popup) {
    if app.popups.last().is_some_and(Popup::is_view) {
        let top = app.popups.pop();
        if top.as_ref() == Some(&view) {
            return;
        }
    }
    app.popups.push(view);
    // The journal opens at its newest line; the others at their top.
    app.view_scroll = if app.popups.last() == Some(&Popup::Timeline) { app.view_max() } else { 0 };
}

pub(super) fn view_input(app: &mut App, action: Action) -> Vec<Effect> {
    if app.popups.last() == Some(&Popup::FullDiff)
        && let Some(effects) = full_diff_input(app, &action)
    {
        return effects;
    }
    let page = app.view_page();
    let max = app.view_max();
    match action {
        // The rollback key works here too: the view closes, then `R` does what it
        // does beneath (asks about the selected host, or the hard stop's rollback).
        Action::RollbackHost if app.mode == Mode::ReadOnly => app.status = Some(strings::READ_ONLY.into()),
        Action::RollbackHost => {
            app.popups.pop();
            return super::route(app, Action::RollbackHost);
        }
        Action::SelectPrev => app.view_scroll = app.view_scroll.saturating_sub(1),
        Action::SelectNext => app.view_scroll = app.view_scroll.saturating_add(1).min(max),
        Action::ScrollUp => app.view_scroll = app.view_scroll.saturating_sub(page),
        Action::ScrollDown => app.view_scroll = app.view_scroll.saturating_add(page).min(max),
        Action::ScrollTop => app.view_scroll = 0,
        Action::ScrollBottom => app.view_scroll = max,
        Action::Back => {
            app.popups.pop();
            // Back from a drifted file to the full diff, at the finding it was opened from.
            if app.popups.last() == Some(&Popup::FullDiff) {
                follow_cursor(app);
            }
        }
        _ => {}
    }
    Vec::new()
}

/// The full diff's own keys: moving the selected finding (the view follows it), and opening
/// a drifted file's diff. `None`: not one of them.
fn full_diff_input(app: &mut App, action: &Action) -> Option<Vec<Effect>> {
    let host = app.selected_host()?;
    let last = app.diff_lines(&host).len().saturating_sub(1);
    let half_page = usize::from(app.view_page() / 2).max(1);
    let cursor = app.diff_cursor.min(last);
    app.diff_cursor = match action {
        Action::SelectPrev => cursor.saturating_sub(1),
        Action::SelectNext => (cursor + 1).min(last),
        Action::ScrollUp => cursor.saturating_sub(half_page),
        Action::ScrollDown => (cursor + half_page).min(last),
        Action::ScrollTop => 0,
        Action::ScrollBottom => last,
        Action::DriftDiff => return Some(open_drift(app, &host, cursor)),
        _ => return None,
    };
    follow_cursor(app);
    Some(Vec::new())
}

/// Scrolls the full diff so the selected finding's two rows are on screen.
fn follow_cursor(app: &mut App) {
    let row = u16::try_from(2 * app.diff_cursor).unwrap_or(u16::MAX);
    let page = app.view_page();
    if row < app.view_scroll {
        app.view_scroll = row;
    } else if row.saturating_add(2) > app.view_scroll.saturating_add(page) {
        app.view_scroll = row.saturating_add(2).saturating_sub(page);
    }
    app.view_scroll = app.view_scroll.min(app.view_max());
}

/// Enter on the selected finding: a drifted file opens its diff (fetched now), anything
/// else says why nothing opens.
fn open_drift(app: &mut App, host: &str, cursor: usize) -> Vec<Effect> {
    let path = match app.diff_lines(host).get(cursor).and_then(|f| drifted_file(f)) {
        Some(path) => path.to_string(),
        None => {
            app.status = Some(strings::NOT_A_DRIFTED_FILE.into());
            return Vec::new();
        }
    };
    let Some(staging) = app.baseline_host.clone() else {
        app.status = Some(strings::NO_BASELINE_HOST.into());
        return Vec::new();
    };
    let view = DriftView { host: host.to_string(), path: path.clone(), staging, body: DriftBody::Fetching };
    app.popups.push(Popup::DriftDiff(Box::new(view)));
    app.view_scroll = 0;
    vec![Effect::FetchDrift { host: host.to_string(), path }]
}

/// Both files arrived: shown only in the view that asked for them, if still open.
pub(super) fn drift_fetched(app: &mut App, host: &str, path: &str, staging: Fetched, here: Fetched) {
    let Some(view) = app.popups.iter_mut().rev().find_map(|p| match p {
        Popup::DriftDiff(v) if v.host == host && v.path == path && v.body == DriftBody::Fetching => Some(v),
        _ => None,
    }) else {
        return;
    };
    view.body = match (staging, here) {
        (Fetched::Text(a), Fetched::Text(b)) if a == b => DriftBody::Same,
        (Fetched::Text(a), Fetched::Text(b)) => DriftBody::Diff(unified(path, &view.staging, &a, host, &b)),
        (a, b) => DriftBody::Refused(
            [(view.staging.clone(), a), (host.to_string(), b)]
                .into_iter()
                .filter_map(|(on, f)| match f {
                    Fetched::Refused(why) => Some((on, why)),
                    Fetched::Text(_) => None,
                })
                .collect(),
        ),
    };
}
