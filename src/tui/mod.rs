//! The cockpit: the terminal UI over the window engine (`patchdeck run`) and over a
//! journal (`patchdeck watch`).
//!
//! One concern per file:
//! - `action`: every operator action, as data (serde names).
//! - `keymap`: keys to actions per context; help and footer come from it. No Ctrl-b.
//! - `app/`: the state (`model`), engine events folded into it (`fold`), and the pure
//!   `update(&mut App, Action) -> Vec<Effect>` with one input handler file per context.
//! - `transcript`: each host's output pane, streamed lines bounded.
//! - `pace`: when to redraw (at once for keys and events, once a frame for output).
//! - `view/*`: drawing from `&App` only.
//! - `strings`: every operator-facing string.
//! - `theme`: themes (built in, user overrides, NO_COLOR).
//! - `config`: the user's config file (`theme = "NAME"`), beaten by `--theme`.
//! - `terminal`: setup/restore, panic hook, signals.
//! - `decider`: the engine's `Decider`, answered through the UI.
//! - `run`: the event loop over a live window; `watch`: the read-only loop over a journal.

pub mod action;
pub mod app;
pub mod config;
pub mod decider;
pub mod keymap;
pub mod pace;
pub mod run;
pub mod strings;
pub mod terminal;
pub mod theme;
pub mod transcript;
pub mod view;
pub mod watch;
