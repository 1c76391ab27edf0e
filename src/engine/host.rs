//! One host's way through the window: what a crash left open first (stops, an in-flight
//! step, a rollback, an armed auto-rollback), the re-check before its first change, then its
//! steps in order, each behind a permit, each followed by its health checks.
//!
//! Where the host stands is read from the journal's state, never from local variables
//! alone, so a resumed runner picks up exactly where the journal says.

use std::time::Duration;

use super::control::{Actor, Choice, Decision, StopCode};
use super::event::{Event, HostResult, StopKind};
use super::permit::{Gate, Halt};
use super::run::Engine;
use super::state::OpenStop;
use super::steps::StepRun;
use crate::diff::diff_host;
use crate::health::{CheckResult, run_check};
use crate::inventory::Host;
use crate::lock::host::{self as lock, Found, Holder, Taken};
use crate::probe::{Mode, probe_host_with};
use crate::runbook::StepAction;

/// How a host's runner ended.
enum End {
    /// It is finished for this window (to be journaled).
    Finished(HostResult),
    /// Finished, and journaled already.
    Journaled(HostResult),
    /// The window was paused: the host stays as it is until `--resume`.
    Paused,
}

/// What to do after a decision at a stop on the way forward.
enum Next {
    /// Carry on from where the journal says the host is.
    Carry,
    /// Ask the same thing again (the re-check before the first change).
    Again,
    End(End),
}

impl Engine<'_> {
    /// Runs (or resumes) one host; journals how it finished. `None`: paused.
    pub(super) async fn run_host(&self, host: &Host) -> eyre::Result<Option<HostResult>> {
        let lock = self.host_lock(&host.name);
        let _mine = lock.lock().await;
        if let Some(done) = self.with_state(|s| s.host(&host.name).and_then(|h| h.result)) {
            return Ok(Some(done));
        }
        let result = match self.drive_host(host).await? {
            End::Paused => return Ok(None),
            End::Journaled(result) => result,
            End::Finished(result) => {
                self.record(Event::HostFinished { host: host.name.clone(), result }).await?;
                result
            }
        };
        self.unlock_host(host, result).await;
        Ok(Some(result))
    }

    /// How an aborted window leaves this host: untouched, or stopped with changes that can
    /// still be rolled back.
    fn left_as_is(&self, host: &str) -> HostResult {
        if self.with_state(|s| s.host(host).is_some_and(|h| h.has_changes())) {
            HostResult::Stopped
        } else {
            HostResult::NotStarted
        }
    }

    async fn halted(&self, host: &Host, halt: Halt) -> eyre::Result<End> {
        Ok(match halt {
            Halt::Paused => End::Paused,
            Halt::Aborted => End::Finished(self.left_as_is(&host.name)),
            Halt::Rollback => ended(self.roll_back(host, None).await?),
        })
    }

    async fn drive_host(&self, host: &Host) -> eyre::Result<End> {
        let name = host.name.as_str();

        // Stops a crash (or a pause) left unanswered on this host are asked again first.
        let open: Vec<OpenStop> =
            self.with_state(|s| s.open_stops.iter().filter(|o| o.host.as_deref() == Some(name)).cloned().collect());
        for stop in open {
            let Some(d) = self.decide_again(&stop).await? else { return Ok(End::Paused) };
            if stop.rollback {
                // It was going back: it carries on going back, as decided.
                return Ok(ended(self.roll_back(host, Some((&stop, d))).await?));
            }
            if let Next::End(end) = self.settle(host, &stop, d).await? {
                return Ok(end);
            }
        }

        // Resumed after a crash in the middle of this host's rollback: the host was going
        // back, never forward. The rollback asks about the interrupted step itself.
        if self.with_state(|s| s.host(name).is_some_and(|h| h.rolling_back.is_some())) {
            return Ok(ended(self.roll_back(host, None).await?));
        }

        // Resumed with an auto-rollback counting down: it is a stop now, not a rollback
        // nobody saw coming, nor a host carried forward.
        if self.with_state(|s| s.host(name).is_some_and(|h| h.auto_rollback_armed)) {
            let (after_step, failing) = self.last_failing_checks(name);
            let stop = StopKind::HealthFailed { after_step, failing, countdown_interrupted: true };
            if let Next::End(end) = self.stop_and_settle(host, stop, None).await? {
                return Ok(end);
            }
        }

        // Resumed after a crash that came between a step's end and what follows it: its
        // failure is raised as the stop it was going to be; its health checks run now.
        if let Some((i, outcome)) = self.with_state(|s| s.host(name).and_then(|h| h.unsettled_failure.clone())) {
            if let Some(stop) = super::steps::stop_of(outcome, &self.p.runbook.steps[i].name)
                && let Next::End(end) = self.stop_and_settle(host, stop, Some(i)).await?
            {
                return Ok(end);
            }
        } else if let Some(i) = self.with_state(|s| s.host(name).and_then(|h| h.checks_due))
            && let Some(end) = self.after_step_checks(host, i).await?
        {
            return Ok(end);
        }

        // Resumed after a crash with a step in flight: never repeat it blindly. The host's
        // record of it says how it ended (followed again if it is still going); only when it
        // cannot say do the operators decide.
        if let Some(step) = self.with_state(|s| s.host(name).and_then(|h| h.in_flight)) {
            match self.recover_step(host, step).await? {
                Some(StepRun::Ran(Some(stop))) => {
                    if let Next::End(end) = self.stop_and_settle(host, stop, Some(step)).await? {
                        return Ok(end);
                    }
                }
                Some(StepRun::Ran(None)) => {
                    if let Some(end) = self.after_step_checks(host, step).await? {
                        return Ok(end);
                    }
                }
                Some(StepRun::Refused(_)) | None => {
                    let s = &self.p.runbook.steps[step];
                    let repair = (s.action == StepAction::Packages).then(|| super::repair::CUT_OFF.to_string());
                    let stop = StopKind::UnknownOutcome { step: s.name.clone(), repair };
                    if let Next::End(end) = self.stop_and_settle(host, stop, Some(step)).await? {
                        return Ok(end);
                    }
                }
            }
        }

        // Re-check right before the first change: the world may have moved since preflight.
        // Not when nothing may start anyway (a spent budget, an abort): people are not asked
        // about a host the window will not touch.
        // Asked again (a repair at its stop): probed again, whatever was journaled.
        let mut again = false;
        while std::mem::take(&mut again)
            || self.with_state(|s| s.host(name).is_none_or(|h| h.done.is_empty() && !h.rechecked))
        {
            if let Err(halt) = self.permit(name).await? {
                return self.halted(host, halt).await;
            }
            match self.recheck(host).await? {
                None => break,
                Some(stop) => match self.stop_and_settle(host, stop, None).await? {
                    Next::End(end) => return Ok(end),
                    Next::Again => {
                        again = true;
                        continue;
                    }
                    Next::Carry => break,
                },
            }
        }

        // This window's lock on the host, before its first change (and again on resume: its
        // own lock from before is taken over, another window's is a stop).
        if self.next_step(name).is_some()
            && let Some(end) = self.lock_host(host).await?
        {
            return Ok(end);
        }

        while let Some(i) = self.next_step(name) {
            if let Err(halt) = self.permit(name).await? {
                return self.halted(host, halt).await;
            }
            let step = &self.p.runbook.steps[i];
            let accepted =
                self.with_state(|s| s.host(name).is_some_and(|h| h.irreversible_accepted.contains(&step.name)));
            if step.irreversible && !accepted {
                let stop = StopKind::Irreversible { step: step.name.clone() };
                match self.stop_and_settle(host, stop, Some(i)).await? {
                    Next::End(end) => return Ok(end),
                    Next::Carry | Next::Again => continue,
                }
            }
            match self.run_step(host, i, step).await? {
                // Something stood in the way after the permit: back to the rules.
                StepRun::Refused(Gate::Halt(halt)) => return self.halted(host, halt).await,
                StepRun::Refused(_) => continue,
                StepRun::Ran(Some(stop)) => {
                    if let Next::End(end) = self.stop_and_settle(host, stop, Some(i)).await? {
                        return Ok(end);
                    }
                    continue;
                }
                StepRun::Ran(None) => {}
            }
            if let Some(end) = self.after_step_checks(host, i).await? {
                return Ok(end);
            }
        }

        // Done, unless a rollback was asked for meanwhile: journaled atomically with that
        // check, so a request can never slip in between and be lost.
        let finished = self
            .p
            .recorder
            .record_with(|s| {
                if s.host(name).is_some_and(|h| h.rollback_pending) {
                    Err(())
                } else {
                    Ok(Event::HostFinished { host: name.to_string(), result: HostResult::Done })
                }
            })
            .await
            .map_err(super::run::journal_err)?;
        if finished.is_err() {
            return self.halted(host, Halt::Rollback).await;
        }
        Ok(End::Journaled(HostResult::Done))
    }

    /// The first step not yet done (steps run in order, so after the last done one).
    fn next_step(&self, host: &str) -> Option<usize> {
        let next = self.with_state(|s| s.host(host).and_then(|h| h.done.iter().max().map(|m| m + 1))).unwrap_or(0);
        (next < self.p.runbook.steps.len()).then_some(next)
    }

    /// Probes and diffs the host again; `Some(stop)` for a stop-class divergence or when
    /// it cannot be reached.
    async fn recheck(&self, host: &Host) -> eyre::Result<Option<StopKind>> {
        let name = host.name.as_str();
        let (fps, cache) = (&self.p.runbook.fingerprints, Some(self.p.probe_cache.as_ref()));
        let probed =
            probe_host_with(self.p.transport, self.p.managers, host, fps, Duration::from_secs(120), Mode::Full, cache)
                .await;
        Ok(match probed {
            Ok((facts, _)) => {
                let rb = self.p.runbook;
                let d = diff_host(name, &facts, self.p.baseline, &rb.fingerprints, &rb.policy);
                let stops: Vec<_> = d.stops().cloned().collect();
                self.record(Event::Recheck { host: name.into(), findings: d.findings.clone() }).await?;
                (!stops.is_empty()).then_some(StopKind::Divergence { findings: stops })
            }
            Err(e) => {
                self.record(Event::Recheck { host: name.into(), findings: vec![] }).await?;
                Some(StopKind::Unreachable { detail: e.to_string() })
            }
        })
    }

    async fn stop_and_settle(&self, host: &Host, stop: StopKind, step: Option<usize>) -> eyre::Result<Next> {
        let Some(open) = self.raise(Some(&host.name), stop, step, false, |_| true).await? else {
            return Ok(Next::End(End::Paused));
        };
        let Some(d) = self.decide_again(&open).await? else { return Ok(Next::End(End::Paused)) };
        self.settle(host, &open, d).await
    }

    /// Acts on a decision taken at a stop of this host on its way forward.
    async fn settle(&self, host: &Host, stop: &OpenStop, d: Decision) -> eyre::Result<Next> {
        let name = host.name.as_str();
        Ok(match d.choice {
            Choice::Override => {
                // A step that failed (or may or may not have run) is accepted as done: it
                // counts as done, and a rollback undoes it.
                let about_step = matches!(
                    stop.stop.code(),
                    StopCode::StepFailed | StopCode::StepTimeout | StopCode::Unreachable | StopCode::UnknownOutcome
                );
                if let (true, Some(step)) = (about_step, stop.step) {
                    self.record(Event::StepAccepted { host: name.into(), step, stop: stop.id }).await?;
                }
                Next::Carry
            }
            // The package database first, then as a retry: the step (or the re-check) again.
            Choice::Repair => {
                if let Err(halt) = self.permit(name).await? {
                    return Ok(Next::End(self.halted(host, halt).await?));
                }
                if self.with_state(|s| s.host(name).map_or(0, |h| h.repairs)) >= super::repair::MAX_REPAIRS {
                    // Repaired enough without effect: left failed for people to look at.
                    return Ok(Next::End(End::Finished(HostResult::Failed)));
                }
                let why = stop.stop.repair_reason().unwrap_or_else(|| super::repair::CUT_OFF.to_string());
                self.repair(host, &why).await?;
                if stop.step.is_none() { Next::Again } else { Next::Carry }
            }
            // The failed step is not done: the loop runs it again. A re-check asks again.
            Choice::Retry => {
                if stop.step.is_none() {
                    Next::Again
                } else {
                    Next::Carry
                }
            }
            Choice::Skip => Next::End(End::Finished(HostResult::Skipped)),
            Choice::RollbackHost | Choice::RollbackAll | Choice::RollbackWave => {
                Next::End(ended(self.roll_back(host, None).await?))
            }
            Choice::Abort => Next::End(End::Finished(self.left_as_is(name))),
            // Not choices at a host's stop (refused before they get here).
            Choice::Go | Choice::StartEarly => Next::Carry,
        })
    }

    /// The checks journaled last for the host, failing ones only, and the step after
    /// which they ran.
    fn last_failing_checks(&self, host: &str) -> (String, Vec<CheckResult>) {
        let (step, failing) = self.with_state(|s| {
            s.host(host).map_or((None, vec![]), |h| (h.done.last().copied(), h.failing_checks.clone()))
        });
        let name = step.map_or_else(|| "a step".to_string(), |i| self.p.runbook.steps[i].name.clone());
        (name, failing)
    }

    /// Health checks after a step. Only checks that passed in preflight count against the
    /// change; one already failing before the window is not blamed on it.
    async fn after_step_checks(&self, host: &Host, step: usize) -> eyre::Result<Option<End>> {
        let results = self.run_checks(host).await;
        self.record(Event::Checks {
            host: host.name.clone(),
            after_step: Some(step),
            results: results.clone(),
            after_rollback: false,
        })
        .await?;
        let already = self.preflight_failing(&host.name);
        let failing: Vec<CheckResult> = results.into_iter().filter(|r| !r.ok && !already.contains(&r.check)).collect();
        if failing.is_empty() {
            return Ok(None);
        }
        let after_step = self.p.runbook.steps[step].name.clone();
        if self.p.runbook.policy.auto_rollback {
            let secs = self.p.runbook.policy.auto_rollback_countdown.as_secs();
            self.record(Event::AutoRollbackArmed { host: host.name.clone(), seconds: secs }).await?;
            let cancelled = tokio::select! {
                c = self.p.decider.auto_rollback_countdown(&host.name, secs) => c,
                () = self.until_paused() => return Ok(Some(End::Paused)),
            };
            match cancelled {
                None => {
                    let stop = StopKind::HealthFailed { after_step, failing, countdown_interrupted: false };
                    let d = Decision::at_stop(Choice::RollbackHost, Some(&host.name), None);
                    self.auto_decided(host, stop, d).await?;
                    return Ok(Some(ended(self.roll_back(host, None).await?)));
                }
                Some(who) => {
                    self.record(Event::AutoRollbackCancelled {
                        host: host.name.clone(),
                        operators: vec![who.describe()],
                    })
                    .await?;
                }
            }
        }
        let stop = StopKind::HealthFailed { after_step, failing, countdown_interrupted: false };
        Ok(match self.stop_and_settle(host, stop, Some(step)).await? {
            Next::End(end) => Some(end),
            Next::Carry | Next::Again => None,
        })
    }

    /// The auto-rollback's stop and decision, journaled together: the policy decided.
    async fn auto_decided(&self, host: &Host, stop: StopKind, d: Decision) -> eyre::Result<()> {
        let _one = self.deciding.lock().await;
        let id = self.with_state(|s| s.last_stop_id) + 1;
        self.record(Event::HardStop { id, host: Some(host.name.clone()), stop, step: None, rollback: false }).await?;
        let by = Actor::AutoRollback;
        self.record(Event::Decided(super::event::Decided {
            id,
            host: Some(host.name.clone()),
            decision: d,
            operators: vec![by.describe()],
            by: Some(by),
        }))
        .await
    }

    pub(super) fn preflight_failing(&self, host: &str) -> Vec<String> {
        self.with_state(|s| s.preflight_failing.get(host).cloned().unwrap_or_default())
    }

    pub(super) async fn run_checks(&self, host: &Host) -> Vec<CheckResult> {
        let mut out = Vec::new();
        for c in &self.p.runbook.checks {
            out.push(run_check(c, host, &self.p.runbook.window, self.p.transport, self.p.prober).await);
        }
        out
    }
}

impl Engine<'_> {
    /// What this window writes in the locks it takes.
    pub(super) fn lock_holder(&self) -> Holder {
        Holder {
            window: self.p.runbook.window.name.clone(),
            digest: self.p.runbook_digest.clone(),
            operators: self.p.operators.clone(),
            machine: super::run::machine_name(),
            pid: std::process::id(),
            since: self.p.clock.now(),
            until: self.p.runbook.window.ends,
        }
    }

    /// Takes the host's lock; another window's is a stop (a stale one may be broken by a
    /// typed override, journaled with the stop). `Some(end)`: the host goes no further.
    async fn lock_host(&self, host: &Host) -> eyre::Result<Option<End>> {
        let name = host.name.as_str();
        // The lock found there that may be replaced: our own, or a stale one people broke.
        let mut replacing: Option<String> = None;
        loop {
            if let Err(halt) = self.permit(name).await? {
                return Ok(Some(self.halted(host, halt).await?));
            }
            let me = self.lock_holder();
            let mut seen = None;
            let stop = match lock::take(self.p.transport, host, &me, replacing.as_deref()).await {
                Ok(Taken::Yes) => {
                    tracing::info!(host = name, broke = replacing.is_some(), "host lock taken");
                    self.locked.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string());
                    return Ok(None);
                }
                Ok(Taken::HeldBy(Found::Free)) => continue, // released as we looked
                Ok(Taken::HeldBy(found @ Found::Held { .. })) => {
                    let Found::Held { raw, holder } = &found else { unreachable!() };
                    if holder.as_ref().is_some_and(|h| h.same_run(&me)) && replacing.as_deref() != Some(raw) {
                        replacing = Some(raw.clone());
                        continue;
                    }
                    seen = Some(raw.clone());
                    let stale = found.is_stale(&me.machine, self.p.clock.now());
                    StopKind::HostLocked { holder: found.describe(name), stale }
                }
                Err(e) => StopKind::Unreachable {
                    detail: crate::safe_text::for_terminal(&format!("before taking the host's lock: {e}")),
                },
            };
            let breakable = matches!(stop, StopKind::HostLocked { stale: true, .. });
            match self.stop_and_settle(host, stop, None).await? {
                Next::End(end) => return Ok(Some(end)),
                // Overridden at a stale lock: break exactly the lock seen, nothing newer.
                Next::Carry if breakable => replacing = seen,
                Next::Carry | Next::Again => replacing = None,
            }
        }
    }

    /// Releases the host's lock once the host is finished with: done, or with no change
    /// left to undo. A host left with changes keeps it, so no other window starts on it.
    pub(super) async fn unlock_host(&self, host: &Host, result: HostResult) {
        let name = host.name.as_str();
        let changes_left = self.with_state(|s| s.host(name).is_some_and(|h| h.has_changes()));
        if result != HostResult::Done && changes_left {
            return;
        }
        // A host this window changed (or undid) was locked by it, perhaps by an earlier
        // process of it (a crash, `patchdeck rollback` later on).
        let touched =
            result == HostResult::RolledBack || self.with_state(|s| s.host(name).is_some_and(|h| !h.done.is_empty()));
        let took = self.locked.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
        if !took && !touched {
            return; // never locked by this window
        }
        match lock::release(self.p.transport, host, &self.lock_holder()).await {
            Ok(()) => tracing::info!(host = name, "host lock released"),
            Err(e) => tracing::warn!(host = name, "the host's lock stays: {e}"),
        }
        // Its runs' records go with the lock: their outcomes are in the journal.
        self.clean_runs(host).await;
    }
}

/// A rollback's end as a runner's end (`None`: paused).
fn ended(r: Option<HostResult>) -> End {
    r.map_or(End::Paused, End::Finished)
}
