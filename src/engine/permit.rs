//! The rules that keep control safe, in one place.
//!
//! - A change starts only through [`Engine::start_step`], which journals its start only
//!   while [`Engine::gate`] says go, atomically: abort, pause, a failure budget spent, a
//!   deadline passed or a decision pending anywhere all stop new work, and one journaled a
//!   moment before always wins.
//! - A hard stop is journaled first, then decided, one at a time
//!   ([`Engine::stop`]); a pause while people decide leaves it open for `--resume` to ask
//!   again. Every decision is checked against what the stop allows and the stop's own
//!   subject, so an answer never lands on another host.

use super::control::{Actor, Choice, Decision, StopCode, Target, allowed};
use super::event::{Decided, Event, StopKind, WavePlan};
use super::run::{Engine, journal_err};
use super::state::{OpenStop, WindowState};

/// Why a host's runner stops going forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Halt {
    /// Left paused: the host stays as it is until `--resume`.
    Paused,
    /// The window was aborted: nothing new starts.
    Aborted,
    /// People asked for this host to be rolled back.
    Rollback,
}

/// What the rules say about starting a change on a host now.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Gate {
    Go,
    /// A decision is pending somewhere: wait for it.
    Wait,
    Halt(Halt),
    /// The host's wave spent its failure budget: people decide first.
    Budget(WavePlan),
    /// "Decide by" has passed: carrying on is a decision, taken once for the window.
    Deadline,
}

impl Engine<'_> {
    /// May `host` start a change now? Pure: reads the state and the clock.
    pub(super) fn gate(&self, s: &WindowState, host: &str) -> Gate {
        if s.paused {
            return Gate::Halt(Halt::Paused);
        }
        if s.host(host).is_some_and(|h| h.rollback_pending) {
            return Gate::Halt(Halt::Rollback);
        }
        if s.aborted {
            return Gate::Halt(Halt::Aborted);
        }
        if s.deciding() {
            return Gate::Wait;
        }
        let wave = self.p.runbook.waves.iter().find(|w| w.hosts.iter().any(|h| h == host));
        if let Some(w) = wave {
            let plan = WavePlan { name: w.name.clone(), hosts: w.hosts.clone(), max_failures: w.max_failures };
            if s.budget_spent(&plan) {
                return Gate::Budget(plan);
            }
        }
        if self.p.clock.now() > self.p.runbook.window.decide_by() && !s.past_deadline_accepted {
            return Gate::Deadline;
        }
        Gate::Go
    }

    /// Waits until `host` may start a change, settling what stands in the way (a spent
    /// budget, the deadline) through their stops. `Err(halt)`: it may not, any more.
    pub(super) async fn permit(&self, host: &str) -> eyre::Result<Result<(), Halt>> {
        loop {
            let mut changed = self.p.recorder.watch();
            match self.with_state(|s| self.gate(s, host)) {
                Gate::Go => return Ok(Ok(())),
                Gate::Halt(h) => return Ok(Err(h)),
                Gate::Wait => {
                    if changed.changed().await.is_err() {
                        return Ok(Err(Halt::Aborted));
                    }
                }
                Gate::Budget(wave) => {
                    self.budget_allows(&wave).await?;
                }
                Gate::Deadline => {
                    let decide_by = self.p.runbook.window.decide_by();
                    let raise_if = |s: &WindowState| {
                        !s.past_deadline_accepted && s.open_stops.iter().all(|o| o.stop.code() != StopCode::Deadline)
                    };
                    self.stop_if(None, StopKind::Deadline { decide_by }, None, false, raise_if).await?;
                }
            }
        }
    }

    /// Journals `event` (a step's start) only if `host` may start a change now. `Err`: it
    /// may not; go back to [`Engine::permit`].
    pub(super) async fn start_step(&self, host: &str, event: Event) -> eyre::Result<Result<(), Gate>> {
        let made = self.p.recorder.record_with(|s| match self.gate(s, host) {
            Gate::Go => Ok(event),
            other => Err(other),
        });
        Ok(made.await.map_err(journal_err)?.map(|_| ()))
    }

    /// Raises a hard stop and waits for its decision; nothing new starts meanwhile.
    /// `None`: the window was paused before anyone decided (the stop stays open).
    pub(super) async fn stop(
        &self,
        host: Option<&str>,
        stop: StopKind,
        step: Option<usize>,
        rollback: bool,
    ) -> eyre::Result<Option<Decision>> {
        self.stop_if(host, stop, step, rollback, |_| true).await
    }

    /// [`Engine::stop`], raised only if `raise_if` holds when it would be journaled (so
    /// two runners never raise the same window-wide stop). `None` when not raised.
    pub(super) async fn stop_if(
        &self,
        host: Option<&str>,
        stop: StopKind,
        step: Option<usize>,
        rollback: bool,
        raise_if: impl FnOnce(&WindowState) -> bool,
    ) -> eyre::Result<Option<Decision>> {
        let Some(open) = self.raise(host, stop, step, rollback, raise_if).await? else { return Ok(None) };
        self.decide_again(&open).await
    }

    pub(super) async fn raise(
        &self,
        host: Option<&str>,
        stop: StopKind,
        step: Option<usize>,
        rollback: bool,
        raise_if: impl FnOnce(&WindowState) -> bool,
    ) -> eyre::Result<Option<OpenStop>> {
        let host = host.map(str::to_string);
        let made = self.p.recorder.record_with(|s| {
            if !raise_if(s) {
                return Err(());
            }
            let id = s.last_stop_id + 1;
            Ok(Event::HardStop { id, host: host.clone(), stop: stop.clone(), step, rollback })
        });
        Ok(match made.await.map_err(journal_err)? {
            Ok(Event::HardStop { id, host, stop, step, rollback }) => Some(OpenStop { id, host, stop, step, rollback }),
            _ => None,
        })
    }

    /// Asks for the decision of an open stop (a new one, or one a crash left unanswered)
    /// and journals it. `None`: the window was paused first.
    pub(super) async fn decide_again(&self, open: &OpenStop) -> eyre::Result<Option<Decision>> {
        let _one = tokio::select! {
            g = self.deciding.lock() => g,
            () = self.until_paused() => return Ok(None),
        };
        // Decided while this waited (another runner, or the fold after a resume).
        if !self.with_state(|s| s.open_stops.iter().any(|o| o.id == open.id)) {
            return Ok(None);
        }
        let verdict = tokio::select! {
            v = self.p.decider.decide(open) => v,
            () = self.until_paused() => return Ok(None),
        };
        let decision = self.admissible(open, verdict.decision);
        self.record_decision(open, decision.clone(), verdict.by).await?;
        Ok(Some(decision))
    }

    /// A stop that also resolves by itself when `resolves` completes (the start time
    /// comes): whichever is first. `false`: the window was paused.
    pub(super) async fn stop_until(&self, stop: StopKind, resolves: impl Future<Output = ()>) -> eyre::Result<bool> {
        let Some(open) = self.raise(None, stop, None, false, |_| true).await? else { return Ok(false) };
        tokio::select! {
            d = self.decide_again(&open) => Ok(d?.is_some()),
            () = resolves => {
                let go = Decision::new(Choice::Go, Target::Window);
                self.record_decision(&open, go, Actor::StartTime).await?;
                Ok(true)
            }
        }
    }

    async fn record_decision(&self, open: &OpenStop, decision: Decision, by: Actor) -> eyre::Result<()> {
        tracing::info!(stop = open.id, decision = ?decision, by = ?by, "decided");
        self.record(Event::Decided(Decided {
            id: open.id,
            host: open.host.clone(),
            decision,
            operators: vec![by.describe()],
            by: Some(by),
        }))
        .await
    }

    /// The decision if the stop allows it for its own subject; else abort (the safe
    /// answer: nothing new starts), so no answer ever acts on another host.
    fn admissible(&self, open: &OpenStop, d: Decision) -> Decision {
        let host = open.host.as_deref();
        let changed = host.is_some_and(|h| self.with_state(|s| s.host(h).is_some_and(|h| h.has_changes())));
        let fits_target = match d.choice {
            Choice::RollbackHost | Choice::Skip | Choice::Retry | Choice::Repair | Choice::Override => {
                d.target == open.target()
            }
            Choice::RollbackAll | Choice::Abort | Choice::Go | Choice::StartEarly => d.target == Target::Window,
            Choice::RollbackWave => matches!(d.target, Target::Wave(_)),
        };
        let has_reason = !d.choice.needs_reason() || d.reason.as_deref().is_some_and(|r| !r.trim().is_empty());
        if allowed(&open.stop, host, changed).contains(&d.choice) && fits_target && has_reason {
            d
        } else {
            tracing::warn!(stop = open.id, refused = ?d, "decision not allowed at this stop: aborting instead");
            Decision::abort()
        }
    }

    /// Resolves once the window is paused.
    pub(super) async fn until_paused(&self) {
        loop {
            let mut changed = self.p.recorder.watch();
            if self.with_state(|s| s.paused) {
                return;
            }
            if changed.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}
