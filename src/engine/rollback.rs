//! Rolling a host back: its steps newest first, each journaled ahead and checked on the
//! host (the packages step against its snapshot, every version), then its health checks
//! again: a host is "rolled back" only once it is healthy; still failing is its own stop.

use std::collections::BTreeMap;
use std::time::Instant;

use super::control::{Choice, Decision, StopCode};
use super::event::{Event, HostResult, Outcome, StopKind};
use super::run::{Engine, MAX_ROLLBACK_ATTEMPTS, retry_wait};
use super::runs::Ran;
use super::state::{OpenStop, RollbackCheck};
use super::steps::{changes_between, outcome_of};
use crate::health::CheckResult;
use crate::inventory::Host;
use crate::pkg::{PkgName, Version, verify, verify_states};
use crate::runbook::{Step, StepAction};
use crate::transport::RunWhat;

impl Engine<'_> {
    /// A rollback people asked for, of a host no runner holds: a stop left open on it (a
    /// crash, a pause) is asked first; a rollback stop's answer says how to go on, a
    /// forward stop's does not hold back the rollback asked for. `None`: paused.
    pub(super) async fn requested_rollback(&self, host: &Host) -> eyre::Result<Option<HostResult>> {
        let open: Vec<OpenStop> = self.with_state(|s| {
            s.open_stops.iter().filter(|o| o.host.as_deref() == Some(host.name.as_str())).cloned().collect()
        });
        let mut asked: Option<(OpenStop, Decision)> = None;
        for stop in open {
            let Some(d) = self.decide_again(&stop).await? else { return Ok(None) };
            if stop.rollback {
                asked = Some((stop, d));
            }
        }
        self.roll_back(host, asked.as_ref().map(|(s, d)| (s, d.clone()))).await
    }

    /// Rolls `host` back as far as it goes. `None`: paused before it ended (the journal
    /// knows where it was). A host with nothing to undo ends "not started", unless it was
    /// rolled back already. `asked`: a stop of this rollback that a crash left open, and
    /// what was decided at it now.
    pub(super) async fn roll_back(
        &self,
        host: &Host,
        asked: Option<(&OpenStop, Decision)>,
    ) -> eyre::Result<Option<HostResult>> {
        let name = host.name.as_str();
        let mut interrupted_decided = false;
        if let Some((stop, d)) = asked {
            match (d.choice, stop.stop.code()) {
                (Choice::Retry, StopCode::StillUnhealthy) => return self.health_after_rollback(host).await,
                (_, StopCode::StillUnhealthy) => return Ok(Some(HostResult::RolledBack)),
                (Choice::Retry | Choice::RollbackHost | Choice::RollbackAll, _) => {}
                (Choice::Repair, _) => {
                    let why = stop.stop.repair_reason().unwrap_or_else(|| super::repair::CUT_OFF.to_string());
                    self.repair(host, &why).await?;
                }
                (Choice::Override, _) => {
                    if let Some(i) = stop.step
                        && self.with_state(|s| s.host(name).is_some_and(|h| h.next_to_undo() == Some(i)))
                    {
                        self.mark_undone(name, i).await?;
                    }
                }
                _ => return Ok(Some(HostResult::Failed)),
            }
            interrupted_decided = true;
        }
        let (changed, rolled) =
            self.with_state(|s| s.host(name).map_or((false, None), |h| (h.has_changes(), h.rollback)));
        if !changed {
            return match rolled {
                // Undone, but a crash came before its health was checked: check it now.
                Some(RollbackCheck::Unchecked) => self.health_after_rollback(host).await,
                Some(_) => Ok(Some(HostResult::RolledBack)),
                None => Ok(Some(HostResult::NotStarted)),
            };
        }
        let Some(result) = self.undo_steps(host, interrupted_decided).await? else { return Ok(None) };
        if result != HostResult::RolledBack {
            return Ok(Some(result));
        }
        self.health_after_rollback(host).await
    }

    /// Undoes the host's steps, newest first, each journaled ahead. `decided`: what to do
    /// about a rollback step a crash cut off was decided already.
    async fn undo_steps(&self, host: &Host, decided: bool) -> eyre::Result<Option<HostResult>> {
        let name = host.name.as_str();
        // (step, failed attempts at undoing it): a standing decision such as `--decide
        // rollback` must not retry forever against a host that stays down.
        let mut failures: (usize, u32) = (usize::MAX, 0);
        // A rollback announced in the journal but never finished was cut off by a crash (in
        // this process nothing is left announced between two turns of this loop). The host's
        // record of it says how it ended (its restore is verified as always); when it cannot
        // say, whether it ran is unknown, so people decide before it runs again.
        let mut recovered = None;
        let cut_off = self.with_state(|s| s.host(name).and_then(|h| h.rolling_back));
        if let (false, Some(i)) = (decided, cut_off) {
            recovered = self.recover_rollback(host, i).await?.map(|ended| (i, ended));
        }
        if let (false, Some(i), None) = (decided, cut_off, &recovered) {
            let s = &self.p.runbook.steps[i];
            let repair = (s.action == StepAction::Packages).then(|| super::repair::CUT_OFF.to_string());
            let stop = StopKind::UnknownOutcome { step: format!("rollback of {}", s.name), repair };
            let Some(d) = Box::pin(self.stop(Some(name), stop, Some(i), true)).await? else { return Ok(None) };
            match d.choice {
                // Run that step's rollback again, then the rest.
                Choice::Retry | Choice::RollbackHost | Choice::RollbackAll => {}
                // The same, once the package database is repaired.
                Choice::Repair => {
                    self.repair(host, super::repair::CUT_OFF).await?;
                }
                // The operators say it ran: that step is undone; the rest still is not.
                Choice::Override => self.mark_undone(name, i).await?,
                // Nothing more runs on this host, going back or forward.
                Choice::Skip | Choice::Abort | Choice::RollbackWave | Choice::Go | Choice::StartEarly => {
                    return Ok(Some(HostResult::Failed));
                }
            }
        }
        loop {
            let Some(i) = self.with_state(|s| s.host(name).and_then(|h| h.next_to_undo())) else {
                return Ok(Some(HostResult::RolledBack));
            };
            let step = &self.p.runbook.steps[i];
            let started = Instant::now();
            let (outcome, verified, mismatches) = match (recovered.take(), &step.action) {
                // Read from the host's record (its start was journaled before the crash).
                (Some((j, ended)), _) if j == i => ended,
                (_, StepAction::Packages) => self.rollback_packages(host, i, step).await?,
                (_, StepAction::Reboot) => {
                    self.announce_rollback(name, i, step, String::new()).await?;
                    (Outcome::Ok, None, vec![])
                }
                (_, StepAction::Run(_) | StepAction::Local(_)) => {
                    let c = self.step_command(host, step, step.rollback.as_deref().unwrap_or("true"));
                    self.announce_rollback(name, i, step, c.script.clone()).await?;
                    let c = self.for_runner(name, step, c, RunWhat::Rollback(i));
                    let ran = self.exec_step_command(host, i, step, &c, true).await?;
                    (ran_outcome(ran, step.timeout), None, vec![])
                }
            };
            let millis = started.elapsed().as_millis() as u64;
            let ok = outcome.is_ok() && verified != Some(false);
            tracing::info!(host = name, step = %step.name, outcome = ?outcome, verified = ?verified, "rollback step finished");
            self.record(Event::RollbackFinished {
                host: name.into(),
                step: i,
                outcome: outcome.clone(),
                verified,
                mismatches: mismatches.clone(),
                millis,
            })
            .await?;
            if !ok {
                // apt refuses to restore anything while dpkg is half done: that is the
                // stop (whatever the versions say), and it offers the repair.
                let half_done = match (&step.action, &outcome) {
                    (StepAction::Packages, Outcome::Failed { .. }) => self.half_done(host).await,
                    _ => None,
                };
                let stop = match (half_done, outcome) {
                    (Some(why), Outcome::Failed { status, output_tail }) => StopKind::StepFailed {
                        step: format!("rollback of {}", step.name),
                        status,
                        output_tail,
                        repair: Some(why),
                    },
                    (_, outcome) => rollback_stop(&step.name, outcome, mismatches),
                };
                failures = if failures.0 == i { (i, failures.1 + 1) } else { (i, 1) };
                let Some(d) = Box::pin(self.stop(Some(name), stop.clone(), Some(i), true)).await? else {
                    return Ok(None);
                };
                match d.choice {
                    Choice::Retry | Choice::RollbackHost if failures.1 < MAX_ROLLBACK_ATTEMPTS => {
                        if !self.back_off(name, failures.1).await {
                            return Ok(None);
                        }
                        continue;
                    }
                    // Repaired, then the same rollback step again.
                    Choice::Repair if failures.1 < MAX_ROLLBACK_ATTEMPTS => {
                        let why = stop.repair_reason().unwrap_or_else(|| super::repair::CUT_OFF.to_string());
                        self.repair(host, &why).await?;
                        continue;
                    }
                    // Tried enough: the host is left failed for people to look at.
                    Choice::Retry | Choice::RollbackHost | Choice::Repair => return Ok(Some(HostResult::Failed)),
                    // Accepted as it is: mark the step undone so rollback moves on.
                    Choice::Override => self.mark_undone(name, i).await?,
                    Choice::Skip
                    | Choice::Abort
                    | Choice::RollbackAll
                    | Choice::RollbackWave
                    | Choice::Go
                    | Choice::StartEarly => return Ok(Some(HostResult::Failed)),
                }
            }
        }
    }

    /// Waits before the next attempt at a failed rollback step (longer after each failure),
    /// so a host that is down is not hammered and has time to come back. `false`: the window
    /// was paused meanwhile.
    async fn back_off(&self, host: &str, failures: u32) -> bool {
        let wait = retry_wait(self.p.retry_backoff, failures);
        tracing::info!(host, failures, wait_ms = wait.as_millis() as u64, "waiting before the rollback is tried again");
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            () = self.until_paused() => false,
        }
    }

    async fn announce_rollback(&self, host: &str, i: usize, step: &Step, command: String) -> eyre::Result<()> {
        self.record(Event::RollbackStarted { host: host.into(), step: i, name: step.name.clone(), command }).await
    }

    /// After the steps are undone: the health checks that passed before the window must
    /// pass again. Still failing is a stop ("rolled back, still unhealthy").
    async fn health_after_rollback(&self, host: &Host) -> eyre::Result<Option<HostResult>> {
        loop {
            let results = self.run_checks(host).await;
            let already = self.preflight_failing(&host.name);
            let failing: Vec<CheckResult> =
                results.iter().filter(|r| !r.ok && !already.contains(&r.check)).cloned().collect();
            self.record(Event::Checks { host: host.name.clone(), after_step: None, results, after_rollback: true })
                .await?;
            if failing.is_empty() {
                return Ok(Some(HostResult::RolledBack));
            }
            let stop = StopKind::StillUnhealthy { failing };
            let Some(d) = self.stop(Some(&host.name), stop, None, true).await? else { return Ok(None) };
            if d.choice != Choice::Retry {
                // Accepted, or left for people to look at: rolled back, and the state says
                // it is still unhealthy.
                return Ok(Some(HostResult::RolledBack));
            }
        }
    }

    /// The operators' override at a rollback stop: step `i` counts as undone, unverified,
    /// so the rollback moves on to the next.
    async fn mark_undone(&self, host: &str, i: usize) -> eyre::Result<()> {
        let stop = self.with_state(|s| s.last_stop_id);
        self.record(Event::RollbackAccepted { host: host.into(), step: i, stop }).await
    }

    /// Restores the snapshot: reinstall snapshot versions (downgrades allowed), remove what
    /// the step newly installed, then verify every version equals the snapshot.
    async fn rollback_packages(
        &self,
        host: &Host,
        i: usize,
        step: &Step,
    ) -> eyre::Result<(Outcome, Option<bool>, Vec<String>)> {
        let name = host.name.as_str();
        let Some(snapshot) = self.with_state(|s| s.host(name).and_then(|h| h.snapshot.clone())) else {
            self.announce_rollback(name, i, step, String::new()).await?;
            let failed = Outcome::Failed { status: None, output_tail: "no snapshot in the journal".into() };
            return Ok((failed, Some(false), vec![]));
        };
        let (snap, statuses, unreadable) = read_snapshot(&snapshot);
        if !unreadable.is_empty() {
            self.announce_rollback(name, i, step, String::new()).await?;
            let detail = format!(
                "the journal's snapshot has entries that cannot be read ({}): nothing was changed; restore by hand",
                unreadable.join(", ")
            );
            return Ok((Outcome::Failed { status: None, output_tail: detail }, None, vec![]));
        }
        let now = match self.probe_installed(host).await {
            Ok(f) => f,
            Err(e) => {
                self.announce_rollback(name, i, step, String::new()).await?;
                return Ok((Outcome::Unreachable { detail: e.to_string() }, None, vec![]));
            }
        };
        let restore: Vec<(PkgName, Option<Version>)> = changes_between(&snap, &now.pkg.installed)
            .into_iter()
            .filter_map(|c| {
                Some((PkgName::parse(&c.name).ok()?, c.from.as_deref().and_then(|v| Version::parse(v).ok())))
            })
            .collect();
        let pm = match self.p.managers.named(&now.manager) {
            Ok(pm) => pm,
            Err(e) => {
                self.announce_rollback(name, i, step, String::new()).await?;
                return Ok((Outcome::Failed { status: None, output_tail: e.to_string() }, Some(false), vec![]));
            }
        };
        let cmd = pm.restore(&restore, step.timeout);
        let summary = restore
            .iter()
            .map(|(n, v)| v.as_ref().map_or(format!("{n}-"), |v| format!("{n}={v}")))
            .collect::<Vec<_>>()
            .join(" ");
        self.announce_rollback(name, i, step, format!("{} restore {summary}", pm.name())).await?;
        if restore.is_empty() {
            return Ok((Outcome::Ok, Some(true), vec![]));
        }
        let cmd = cmd.detached(self.run_key(name, RunWhat::Rollback(i)));
        let outcome = ran_outcome(self.exec_change(host, &cmd, i, true, step.timeout).await?, step.timeout);
        match self.verify_restored(host, &snap, &statuses).await {
            Ok((verified, mismatches)) => Ok((outcome, verified, mismatches)),
            Err(detail) => Ok((Outcome::Unreachable { detail }, Some(false), vec![])),
        }
    }

    /// The host's packages against the snapshot after a restore: `Some(true)` and no
    /// mismatches when every version and status is back. `Err`: it could not be probed.
    async fn verify_restored(
        &self,
        host: &Host,
        snap: &BTreeMap<PkgName, Version>,
        statuses: &BTreeMap<PkgName, String>,
    ) -> Result<(Option<bool>, Vec<String>), String> {
        let after = self.probe_installed(host).await.map_err(|e| e.to_string())?;
        // Verified against the whole snapshot, not only what was restored: a restore that
        // pulled in or removed anything else has not put the host back either.
        let expected: Vec<(PkgName, Option<Version>)> = snap
            .iter()
            .map(|(n, v)| (n.clone(), Some(v.clone())))
            .chain(after.pkg.installed.keys().filter(|n| !snap.contains_key(*n)).map(|n| (n.clone(), None)))
            .collect();
        let by_version = verify(&expected, &after.pkg.installed);
        let mut mismatches: Vec<String> = by_version
            .iter()
            .map(|m| {
                let show = |v: &Option<Version>| v.as_ref().map_or("absent".to_string(), |v| v.to_string());
                format!("{}: expected {}, found {}", m.name, show(&m.expected), show(&m.found))
            })
            .collect();
        // And every package's state: the right version half installed is not restored. (A
        // manager that reports no states is verified by version alone.)
        if !after.pkg.states.is_empty() {
            for m in verify_states(statuses, &after.pkg.states) {
                // Already said by its version, unless it is also left half done.
                let half_done = after.pkg.states.get(&m.name).is_some_and(|s| s.unfinished);
                if by_version.iter().any(|v| v.name == m.name) && !half_done {
                    continue;
                }
                let show = |s: &Option<String>| s.clone().unwrap_or_else(|| "absent".into());
                let expected = m.expected.map_or_else(|| "not installed".to_string(), |s| format!("status {s}"));
                mismatches.push(format!("{}: expected {expected}, found status {}", m.name, show(&m.found)));
            }
        }
        Ok((Some(mismatches.is_empty()), mismatches))
    }

    /// Step `i`'s rollback was in flight when patchdeck stopped: how the host's record says
    /// it ended, its restore verified against the snapshot as always (`None`: it cannot say,
    /// or the rollback keeps no record).
    async fn recover_rollback(
        &self,
        host: &Host,
        i: usize,
    ) -> eyre::Result<Option<(Outcome, Option<bool>, Vec<String>)>> {
        let step = &self.p.runbook.steps[i];
        let restores = match &step.action {
            StepAction::Packages => true,
            StepAction::Run(_) => false,
            StepAction::Local(_) | StepAction::Reboot => return Ok(None),
        };
        let key = self.run_key(&host.name, RunWhat::Rollback(i));
        let Some(result) = self.recover_run(host, &key, i, true, step.timeout).await? else { return Ok(None) };
        let outcome = outcome_of(result, step.timeout);
        if !restores {
            return Ok(Some((outcome, None, vec![])));
        }
        let snapshot = self.with_state(|s| s.host(&host.name).and_then(|h| h.snapshot.clone())).unwrap_or_default();
        let (snap, statuses, unreadable) = read_snapshot(&snapshot);
        if !unreadable.is_empty() || snapshot.is_empty() {
            return Ok(None);
        }
        Ok(Some(match self.verify_restored(host, &snap, &statuses).await {
            Ok((verified, mismatches)) => (outcome, verified, mismatches),
            Err(detail) => (Outcome::Unreachable { detail }, Some(false), vec![]),
        }))
    }
}

/// The journal's snapshot as versions and statuses. Every entry must read back: one that
/// does not (the third list) is never taken for "absent", which would remove the package.
fn read_snapshot(
    snapshot: &[super::event::SnapshotEntry],
) -> (BTreeMap<PkgName, Version>, BTreeMap<PkgName, String>, Vec<String>) {
    let mut snap: BTreeMap<PkgName, Version> = BTreeMap::new();
    let mut statuses: BTreeMap<PkgName, String> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for e in snapshot {
        let status_ok = (1..=3).contains(&e.status.len()) && e.status.bytes().all(|b| b.is_ascii_alphabetic());
        match (PkgName::parse(&e.name), e.version.as_deref().map(Version::parse), status_ok) {
            (Ok(n), Some(Ok(v)), true) => {
                snap.insert(n.clone(), v);
                statuses.insert(n, e.status.clone());
            }
            (Ok(n), None, true) => {
                statuses.insert(n, e.status.clone());
            }
            _ => unreadable.push(crate::safe_text::for_terminal(&e.name)),
        }
    }
    (snap, statuses, unreadable)
}

/// A rollback's outcome. One whose end is unknown (the link was lost and the host's record
/// cannot say) is a host that could not be followed: the rollback stops as for a lost host.
fn ran_outcome(ran: Ran, timeout: std::time::Duration) -> Outcome {
    match ran {
        Ran::Ended(result) => outcome_of(result, timeout),
        Ran::Unknown(detail) => Outcome::Unreachable { detail },
    }
}

/// The stop raised when a step's rollback failed or did not restore the snapshot.
fn rollback_stop(step: &str, outcome: Outcome, mismatches: Vec<String>) -> StopKind {
    let step = format!("rollback of {step}");
    if !mismatches.is_empty() {
        return StopKind::RollbackUnverified { mismatches };
    }
    match outcome {
        Outcome::Unreachable { detail } => StopKind::Unreachable { detail },
        Outcome::Timeout { after_secs } => StopKind::StepTimeout { step, after_secs },
        Outcome::Failed { status, output_tail } => StopKind::StepFailed { step, status, output_tail, repair: None },
        Outcome::Ok => StopKind::RollbackUnverified { mismatches: vec!["verification failed".into()] },
    }
}
