//! What a divergence from the plan does, a leaf every layer may name: the runbook's policy
//! sets it, drift discovery and the diff give it, `check`, the cockpit and the report show it.

use serde::{Deserialize, Serialize};

/// What to do when reality differs from the plan in a given way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDivergence {
    /// Hard stop: a recorded decision is required.
    Stop,
    /// Shown prominently, the window carries on.
    Warn,
}
