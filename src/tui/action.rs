//! Everything an operator can do, as data: the keymap maps keys to these names, the help
//! screen lists them, and tests drive the cockpit through the same values.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    // Moving around.
    SelectPrev,
    SelectNext,
    ScrollUp,
    ScrollDown,
    /// Back to the newest output, following it again.
    FollowOutput,
    // Views.
    Help,
    Timeline,
    FullDiff,
    Filter,
    /// Close the topmost popup / cancel the current prompt.
    Back,
    // Requests at any time (one confirmation each).
    RollbackHost,
    RollbackWave,
    RollbackAll,
    AbortWindow,
    /// At a hard stop: one of the engine's choices (keys come from the one list, see
    /// `keymap::choice_key`).
    Choose(crate::engine::control::Choice),
    // Auto-rollback countdown.
    CancelAutoRollback,
    RollbackNow,
    // Prompts.
    Confirm,
    Deny,
    Input(char),
    Backspace,
    Submit,
    // Leaving.
    Quit,
    /// The clock ticked (the loop sets `App::now` first).
    Tick,
}
