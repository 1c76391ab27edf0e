//! Deciding with nobody at the keys (`run --no-tui --yes`, `rollback --yes`): every stop
//! gets the standing order given up front (`--decide`), else abort: never an override.
//! Gates open on `--yes` (that is what it confirmed); the start time is waited for unless
//! `--start-early REASON` was given. The journal names the flag and who gave it, never a
//! person who was not asked.

use async_trait::async_trait;

use crate::engine::control::{Actor, Choice, Decision, StopCode, Target, allowed};
use crate::engine::decide::{Decider, Verdict};
use crate::engine::state::OpenStop;

/// Where the decider's lines go (stdout, for the CLI).
pub type Say = Box<dyn Fn(String) + Send + Sync>;

pub struct Headless {
    /// `--decide`: the standing order at hard stops.
    pub decide: Option<Choice>,
    /// `--start-early REASON`.
    pub start_early: Option<String>,
    /// Who gave the orders.
    pub operators: Vec<String>,
    pub say: Say,
}

impl Headless {
    fn order(&self, flag: String) -> Actor {
        Actor::StandingOrder { order: flag, given_by: self.operators.clone() }
    }

    /// What the standing order means at this stop, and how the record names the order.
    fn answer(&self, stop: &OpenStop) -> (Decision, Actor, &'static str) {
        match stop.stop.code() {
            StopCode::Gate => (Decision::new(Choice::Go, Target::Window), self.order("--yes".into()), "--yes"),
            StopCode::BeforeStart => match &self.start_early {
                Some(reason) => (
                    Decision::with_reason(Choice::StartEarly, Target::Window, reason.clone()),
                    self.order("--start-early".into()),
                    "--start-early",
                ),
                None => (Decision::abort(), self.order("--no-tui without --start-early".into()), "no --start-early"),
            },
            _ => match self.decide {
                // A standing order means what it says where the stop allows it: a host's
                // rollback at a host's stop. Anywhere else (a window-wide stop, a host that
                // can no longer be skipped) nothing new starts: abort.
                Some(c) if allowed(&stop.stop, stop.host.as_deref(), true).contains(&c) || c == Choice::Skip => {
                    let d = Decision::at_stop(c, stop.host.as_deref(), None);
                    (d, self.order(format!("--decide {}", flag_word(c))), "--decide")
                }
                Some(c) => {
                    (Decision::abort(), self.order(format!("--decide {} (abort here)", flag_word(c))), "--decide")
                }
                None => (Decision::abort(), self.order("--no-tui without --decide".into()), "no --decide given"),
            },
        }
    }
}

/// The `--decide` word for a choice.
pub fn flag_word(c: Choice) -> &'static str {
    match c {
        Choice::Skip => "skip",
        c => c.name(),
    }
}

#[async_trait]
impl Decider for Headless {
    async fn decide(&self, stop: &OpenStop) -> Verdict {
        let on = stop.host.as_deref().unwrap_or("window");
        (self.say)(format!("HARD STOP {on}: {}", crate::safe_text::for_terminal(&stop.stop.headline())));
        if let Some(why) = stop.stop.repair_reason() {
            (self.say)(format!("  {} (--decide repair)", crate::narrate::repair_offered(&why)));
        }
        let (decision, by, why) = self.answer(stop);
        (self.say)(format!("  decision: {} ({why})", crate::narrate::decision(&decision)));
        Verdict { decision, by }
    }

    async fn auto_rollback_countdown(&self, host: &str, seconds: u64) -> Option<Actor> {
        (self.say)(format!(
            "{host}: health check failed; rolling back in {seconds}s (no operator to cancel in --no-tui)"
        ));
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
        None
    }
}
