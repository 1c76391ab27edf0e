//! The cockpit's state and its one pure transition, [`update`]. No I/O here: what should
//! happen outside (decide, request, quit) comes back as [`Effect`]s for the loop to carry
//! out. Engine events arrive through [`App::on_event`], running commands' output through
//! [`App::on_live`]; the decider's questions through [`App::on_stop`] and
//! [`App::on_countdown`]. The clock is [`App::now`], set by the loop.
//!
//! One job a file:
//! - `model`: the state and what the views and strings read of it.
//! - `fold`: engine events and output folded into the state.
//! - `update` (here): routes each action to the handler of the context it arrived in:
//!   `main_screen`, `stop` (hard stop), `confirm`, `countdown`, `filter` (the text
//!   prompt), `views` (help, timeline, full diff).

mod confirm;
mod countdown;
mod filter;
mod fold;
mod main_screen;
pub mod model;
mod stop;
mod views;

pub use model::{
    App, CommandRun, Effect, Mode, Pending, Popup, RollbackKey, StopStage, WindowInfo, choice, override_word,
};

use super::action::Action;
use super::keymap::Context;

/// The one transition. Pure: effects are returned, never performed.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    if action == Action::Tick {
        return countdown::tick(app);
    }
    app.status = None;
    match app.context() {
        Context::Stop | Context::Confirm | Context::Text if matches!(app.popups.last(), Some(Popup::Stop { .. })) => {
            stop::stop_input(app, action)
        }
        Context::Countdown => countdown::countdown_input(app, action),
        Context::Confirm => confirm::confirm_input(app, action),
        Context::Text => filter::filter_input(app, action),
        Context::View | Context::ReadOnlyView => views::view_input(app, action),
        Context::Main | Context::ReadOnly | Context::Stop => main_screen::main_input(app, action),
    }
}
