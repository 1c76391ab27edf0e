//! Keys at an auto-rollback countdown (cancel it, or roll back now), and the tick that
//! rolls back when its deadline passes.

use super::model::{App, Effect, Popup};
use crate::tui::action::Action;

pub(super) fn tick(app: &mut App) -> Vec<Effect> {
    let mut effects = Vec::new();
    app.popups.retain(|p| match p {
        Popup::Countdown { host, deadline } if app.now >= *deadline => {
            effects.push(Effect::AutoRollback { host: host.clone(), cancelled_by: None });
            false
        }
        _ => true,
    });
    if !effects.is_empty() {
        // Whatever it revealed opened by itself: keys wait a moment.
        app.opened_by_itself();
    }
    effects
}

pub(super) fn countdown_input(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(Popup::Countdown { host, .. }) = app.popups.last().cloned() else { return Vec::new() };
    match action {
        Action::CancelAutoRollback => {
            app.popups.pop();
            vec![Effect::AutoRollback { host, cancelled_by: Some(app.actor()) }]
        }
        Action::RollbackNow | Action::RollbackHost => {
            app.popups.pop();
            vec![Effect::AutoRollback { host, cancelled_by: None }]
        }
        _ => Vec::new(),
    }
}
