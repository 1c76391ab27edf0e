//! The window engine: a state machine over waves x hosts x steps that knows nothing of
//! terminals. Commands go in, events come out; every event is journaled before the action
//! it announces (see [`recorder`]); running commands' output lines go to a lossy [`live`]
//! feed beside them, never to the journal. The cockpit, `run --no-tui`, tests and drills all
//! drive it through the same [`Decider`] interface.

pub mod clock;
pub mod decide;
pub mod event;
pub mod live;
pub mod recorder;
pub mod run;
pub mod state;

pub use decide::Decider;
pub use run::{Engine, Summary};
