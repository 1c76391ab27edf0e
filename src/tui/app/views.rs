//! Full-screen views (help, timeline, full diff): open them over anything, scroll a line
//! or a page, jump to either end, close, and `R`, which closes the view and then does what
//! it does beneath.

use super::model::{App, Effect, Mode, Popup};
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
        }
        _ => {}
    }
    Vec::new()
}
