//! The cockpit's state and its one pure transition, [`update`]. No I/O here: what should
//! happen outside (decide, request, quit) comes back as [`Effect`]s for the loop to carry
//! out. Engine events arrive through [`App::on_event`], running commands' output through
//! [`App::on_live`]; the decider's questions through [`App::on_stop`] and
//! [`App::on_countdown`]. The clock is [`App::now`] and [`App::uptime`], set by the loop.
//!
//! One job a file:
//! - `model`: the state and what the views and strings read of it.
//! - `fold`: engine events and output folded into the state.
//! - `guard`: when a key must do nothing (just opened, moved, too small).
//! - `update` (here): the guards, what works everywhere (leave, help, the journal, who
//!   answers), then the handler of the context the key arrived in: `main_screen`, `stop`
//!   (hard stop), `confirm` (questions, typed counts), `leave`, `countdown`, `filter` (the
//!   text prompt), `views` (help, timeline, full diff).

mod confirm;
mod countdown;
mod filter;
mod fold;
mod guard;
mod leave;
mod main_screen;
pub mod model;
mod stop;
mod views;

pub use model::{
    App, CommandRun, DriftBody, DriftView, Effect, GRACE, Held, List, Modal, Mode, Pending, Popup, RollbackKey,
    StopStage, WindowInfo, choice, override_word,
};

use super::action::Action;
use super::keymap::Context;
use super::strings;

/// The one transition. Pure: effects are returned, never performed.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    if action == Action::Tick {
        return countdown::tick(app);
    }
    // An answer, not a key: no guard holds it back, and it lands only on its own view.
    if let Action::DriftFetched { host, path, staging, here } = action {
        views::drift_fetched(app, &host, &path, staging, here);
        return Vec::new();
    }
    app.status = None;
    let effects = match guard::refuse(app, &action) {
        Some(why) => {
            app.status = Some(why);
            Vec::new()
        }
        None => {
            let depth = app.popups.len();
            let effects = route(app, action);
            app.after_key(depth);
            effects
        }
    };
    // What the key did is said for a while, then the window's own state again.
    app.status_until = app.uptime + model::STATUS_SHOWN;
    effects
}

fn route(app: &mut App, action: Action) -> Vec<Effect> {
    let context = app.context();
    match action {
        Action::Quit => return leave::open(app),
        Action::Operator(i) => {
            choose_operator(app, i);
            return Vec::new();
        }
        Action::NextOperator => {
            let n = app.operators().len();
            app.by = (app.by + 1) % n;
            return Vec::new();
        }
        Action::Help | Action::Timeline if context != Context::Text => {
            views::open(app, if action == Action::Help { Popup::Help } else { Popup::Timeline });
            return Vec::new();
        }
        _ => {}
    }
    match context {
        Context::Stop | Context::Confirm | Context::Text if matches!(app.popups.last(), Some(Popup::Stop { .. })) => {
            stop::stop_input(app, action)
        }
        Context::Countdown => countdown::countdown_input(app, action),
        Context::Leave => leave::leave_input(app, action),
        Context::Confirm => confirm::confirm_input(app, action),
        Context::Text if matches!(app.popups.last(), Some(Popup::Count { .. })) => confirm::count_input(app, action),
        Context::Text => filter::filter_input(app, action),
        Context::View | Context::ReadOnlyView => views::view_input(app, action),
        Context::Main | Context::ReadOnly | Context::Stop => main_screen::main_input(app, action),
    }
}

/// `1`..`9`: who answers the question open now.
fn choose_operator(app: &mut App, i: usize) {
    let ops = app.operators();
    if i < ops.len() {
        app.by = i;
    } else if ops.len() > 1 {
        app.status = Some(strings::no_such_operator(i + 1, &ops));
    }
}
