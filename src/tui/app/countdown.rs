//! Keys at an auto-rollback countdown (cancel it, or roll back now), and the tick that
//! rolls back when its deadline passes.

use super::model::{App, Effect, Popup};
use crate::tui::action::Action;
use crate::tui::strings;

pub(super) fn tick(app: &mut App) -> Vec<Effect> {
    let mut effects = Vec::new();
    app.popups.retain(|p| match p {
        Popup::Countdown { host, deadline } if app.now >= *deadline => {
            effects.push(Effect::AutoRollback { host: host.clone(), roll_back: true });
            false
        }
        _ => true,
    });
    effects
}

pub(super) fn countdown_input(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(Popup::Countdown { host, .. }) = app.popups.last().cloned() else { return Vec::new() };
    match action {
        Action::CancelAutoRollback => {
            app.popups.pop();
            vec![Effect::AutoRollback { host, roll_back: false }]
        }
        Action::RollbackNow | Action::RollbackHost => {
            app.popups.pop();
            vec![Effect::AutoRollback { host, roll_back: true }]
        }
        Action::Quit => {
            app.status = Some(strings::COUNTDOWN_HINT.into());
            Vec::new()
        }
        _ => Vec::new(),
    }
}
