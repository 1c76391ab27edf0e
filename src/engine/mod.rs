//! The window engine: a state machine over waves x hosts x steps that knows nothing of
//! terminals. Commands go in, events come out; every event is journaled before the action
//! it announces (see [`recorder`]); running commands' output lines go to a lossy [`live`]
//! feed beside them, never to the journal. The cockpit, `run --no-tui`, `patchdeck
//! rollback`, tests and drills all drive it through the same [`Decider`] interface and the
//! same typed vocabulary ([`control`]).
//!
//! - [`control`]: the one list of stop kinds, choices, targets and who decides.
//! - [`event`]: what is journaled; [`state`]: the pure fold over it.
//! - [`recorder`]: write-ahead, then fold, then tell listeners.
//! - `run`: the window (preflight, start time, gates, waves, rollbacks served beside).
//! - `permit`: the rules a change must pass before it starts; stops and their decisions.
//! - `host`, `steps`, `rollback`: one host's way forward, one step, the way back.

pub mod clock;
pub mod control;
pub mod decide;
pub mod event;
mod host;
pub mod live;
mod permit;
pub mod recorder;
mod repair;
mod rollback;
pub mod run;
mod runs;
pub mod scorecard;
pub mod state;
mod steps;

pub use decide::{Decider, Verdict};
pub use run::{Control, Controls, Engine, Parts, Plan, Reaches, Summary, Until};
