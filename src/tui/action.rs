//! Everything an operator can do, as data: the keymap maps keys to these names, the help
//! screen lists them, and tests drive the cockpit through the same values.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    // Moving around.
    SelectPrev,
    SelectNext,
    /// A page up in the list that has the keys (the output, the hosts, a view).
    ScrollUp,
    ScrollDown,
    /// The top of the list (the oldest output, the first host, a view's start).
    ScrollTop,
    /// The end of the list: the newest output, following it again; the last host.
    ScrollBottom,
    /// Which list of the main screen PgUp/PgDn/Home/End move: the output or the hosts.
    SwitchList,
    /// Show the previous / next wave's hosts (every wave stays reachable after it ends).
    PrevWave,
    NextWave,
    // Views.
    Help,
    Timeline,
    FullDiff,
    /// In the full diff, on a drifted file: its diff against staging's file.
    DriftDiff,
    Filter,
    /// Close the topmost popup / cancel the current prompt.
    Back,
    // Requests at any time (a confirmation each; window- and wave-wide ones typed).
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
    // Questions.
    Confirm,
    Deny,
    /// With two operators or more: who is answering, by their number in the list (0-based).
    Operator(usize),
    /// The next operator in the list (Tab in a question).
    NextOperator,
    // Prompts.
    Input(char),
    Backspace,
    Submit,
    // Leaving.
    /// Leave: asks whether to leave the window paused or abort it (at once once it ended).
    Quit,
    /// In the leave question: leave the window paused (`--resume` carries on).
    LeavePaused,
    /// In the leave question: abort the window, then leave.
    LeaveAborted,
    /// The clock ticked (the loop sets `App::now` first).
    Tick,
    /// The loop fetched a drifted file from the host and from staging.
    DriftFetched {
        host: String,
        path: String,
        staging: crate::drift::fetch::Fetched,
        here: crate::drift::fetch::Fetched,
    },
}
