//! Commands that change a host, through the host-side runner ([`crate::transport::runner`]):
//! each run's key (window, host, step, attempt as the journal counts them), following a run
//! again when the link is lost while it runs, reading a run's record when a resume finds it
//! in flight, and removing a finished host's records.
//!
//! What the host's record said is journaled ([`Event::RunRecord`]) before the outcome taken
//! from it, so the record says where an outcome came from. A record that cannot say how a
//! run ended (its processes died with the host) is never guessed at: the operators decide,
//! as with any outcome unknown.

use std::time::{Duration, Instant};

use super::event::{Event, RunFound};
use super::run::Engine;
use crate::inventory::Host;
use crate::transport::{Command, Output, Recovered, RunKey, RunWhat, TransportError, WindowKey};

/// How a host-changing command ended, as far as anyone can tell.
pub(super) enum Ran {
    /// It ended (or could not be run): its result.
    Ended(Result<Output, TransportError>),
    /// The link was lost while it ran and the host's record cannot say how it ended.
    Unknown(String),
}

/// The first wait before reading a run's record again after the host could not be reached;
/// doubled each time up to [`MAX_REATTACH_WAIT`].
const FIRST_REATTACH_WAIT: Duration = Duration::from_secs(1);
const MAX_REATTACH_WAIT: Duration = Duration::from_secs(8);

impl Engine<'_> {
    /// This window's runs on `host` (see [`WindowKey`]).
    pub(super) fn window_key(&self, host: &str) -> WindowKey {
        WindowKey::new(&self.p.runbook.window.name, &self.p.runbook_digest, host)
    }

    /// The key of the latest attempt of `what` on `host`, as the journal counts its starts:
    /// call it after the start is journaled. A retried step gets a key of its own.
    pub(super) fn run_key(&self, host: &str, what: RunWhat) -> RunKey {
        let attempt = self.with_state(|s| {
            s.host(host).map_or(0, |h| match what {
                RunWhat::Step(i) => h.step_starts.get(&i).copied().unwrap_or(0),
                RunWhat::Rollback(i) => h.rollback_starts.get(&i).copied().unwrap_or(0),
                RunWhat::Repair => h.repairs,
            })
        });
        RunKey { window: self.window_key(host), what, attempt: attempt.max(1) }
    }

    /// Runs `c` on `host` for step `i` (or its rollback), its output to the live feed. When
    /// it runs detached and the link is lost meanwhile, the host's record is read until
    /// `limit` (the step's timeout) has passed since it started: a run that ended gives its
    /// real outcome, one still going is followed again, and only a record that cannot say is
    /// [`Ran::Unknown`]. Still unreachable at the end: the lost link is the result.
    pub(super) async fn exec_change(
        &self,
        host: &Host,
        c: &Command,
        i: usize,
        rollback: bool,
        limit: Duration,
    ) -> eyre::Result<Ran> {
        if let Some(ran) = self.previous_attempt_outcome(host, c, i, rollback, limit).await? {
            return Ok(ran);
        }
        let deadline = Instant::now() + limit;
        let first = self.exec_watched(self.p.transport, host, c, host, i, rollback).await;
        let (Err(lost @ TransportError::ConnectionLost { .. }), Some(key)) = (&first, &c.detached) else {
            return Ok(Ran::Ended(first));
        };
        tracing::info!(host = %host.name, run = %key.name(), "link lost while the run went on; reading its record");
        let mut wait = FIRST_REATTACH_WAIT;
        loop {
            match self.p.transport.recover(host, key).await {
                // Never started on the host (or the transport keeps no records): as lost.
                Ok(Recovered::Missing) => return Ok(Ran::Ended(first)),
                Ok(found) => match self.followed(host, key, i, rollback, found, remaining(deadline)).await? {
                    Some(Err(TransportError::ConnectionLost { .. })) => {}
                    Some(result) => return Ok(Ran::Ended(result)),
                    None => return Ok(Ran::Unknown(self.unknown_detail(host, key))),
                },
                Err(e) => tracing::info!(host = %host.name, "the run's record cannot be read yet: {e}"),
            }
            if Instant::now() + wait >= deadline {
                return Ok(Ran::Ended(Err(lost.clone())));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_REATTACH_WAIT);
        }
    }

    /// A retry (attempt N > 1) never changes the host a second time while attempt N - 1 may
    /// have done the change: still running on the host (the link stayed down past its
    /// timeout, and nobody ended it), it is followed to its end; ended while the host was
    /// unreachable (its end never seen, [`super::state::HostState::unseen_ends`]), its end as
    /// the host recorded it is taken. Either way that outcome is this one's (`Some`). `None`:
    /// start anew (its end was seen, it never started, or the host cannot say).
    async fn previous_attempt_outcome(
        &self,
        host: &Host,
        c: &Command,
        i: usize,
        rollback: bool,
        limit: Duration,
    ) -> eyre::Result<Option<Ran>> {
        let Some(key) = c.detached.as_ref().filter(|k| k.attempt > 1) else { return Ok(None) };
        let previous = RunKey { attempt: key.attempt - 1, ..key.clone() };
        let unseen = self.with_state(|s| s.host(&host.name).is_some_and(|h| h.unseen_ends.contains(&(rollback, i))));
        let found = match self.p.transport.recover(host, &previous).await {
            Ok(found @ Recovered::Running { .. }) => found,
            Ok(found @ Recovered::Finished { .. }) if unseen => found,
            _ => return Ok(None),
        };
        tracing::info!(host = %host.name, run = %previous.name(), "the attempt before may have done it: taking its end");
        Ok(Some(match self.followed(host, &previous, i, rollback, found, limit).await? {
            Some(result) => Ran::Ended(result),
            None => Ran::Unknown(self.unknown_detail(host, &previous)),
        }))
    }

    /// Journals what the record said and acts on it: `Some(result)` of a run that ended (or
    /// was followed to its end, bounded by `limit`); `None` when the record cannot say.
    async fn followed(
        &self,
        host: &Host,
        key: &RunKey,
        i: usize,
        rollback: bool,
        found: Recovered,
        limit: Duration,
    ) -> eyre::Result<Option<Result<Output, TransportError>>> {
        let record = |found: RunFound| Event::RunRecord {
            host: host.name.clone(),
            step: i,
            rollback,
            attempt: key.attempt,
            found,
        };
        Ok(match found {
            Recovered::Finished { output } => {
                self.record(record(RunFound::Finished { status: output.status })).await?;
                Some(Ok(output))
            }
            Recovered::Running { .. } => {
                self.record(record(RunFound::Running)).await?;
                let sink = self.p.live.as_ref().map(|feed| feed.sink(&host.name, i, rollback));
                let discard = crate::transport::stream::Discard;
                let sink: &dyn crate::transport::Sink = match &sink {
                    Some(s) => s,
                    None => &discard,
                };
                Some(self.p.transport.attach(host, key, limit.max(Duration::from_secs(1)), sink).await)
            }
            Recovered::Missing => {
                self.record(record(RunFound::Missing)).await?;
                None
            }
            Recovered::Inconsistent { detail } => {
                let detail = crate::safe_text::for_terminal(&detail);
                self.record(record(RunFound::Inconsistent { detail })).await?;
                None
            }
        })
    }

    /// The host's record of a run a crash left in flight: `Some(result)` of how it ended
    /// (followed again to its end, bounded by `limit`, when still going); `None` when it
    /// cannot be told (no record, an inconsistent one, the host unreachable, a transport that
    /// keeps none): then the operators decide, as before.
    pub(super) async fn recover_run(
        &self,
        host: &Host,
        key: &RunKey,
        i: usize,
        rollback: bool,
        limit: Duration,
    ) -> eyre::Result<Option<Result<Output, TransportError>>> {
        if self.p.transport.runs_dir().is_none() {
            return Ok(None);
        }
        match self.p.transport.recover(host, key).await {
            Ok(found) => match self.followed(host, key, i, rollback, found, limit).await? {
                Some(Err(TransportError::ConnectionLost { .. })) => Ok(None),
                other => Ok(other),
            },
            Err(e) => {
                let detail = crate::safe_text::for_terminal(&e.to_string());
                let found = RunFound::Unreadable { detail };
                self.record(Event::RunRecord {
                    host: host.name.clone(),
                    step: i,
                    rollback,
                    attempt: key.attempt,
                    found,
                })
                .await?;
                Ok(None)
            }
        }
    }

    fn unknown_detail(&self, host: &Host, key: &RunKey) -> String {
        format!(
            "the link to {} was lost while the command ran, and the host's record ({}) cannot say how it ended",
            crate::safe_text::for_terminal(&host.name),
            key.name()
        )
    }

    /// Removes this window's run records from a host it is finished with (done, or nothing
    /// left to undo): the journal holds their outcomes. A host left with changes keeps them,
    /// for a later resume or rollback to read.
    pub(super) async fn clean_runs(&self, host: &Host) {
        if let Err(e) = self.p.transport.clean_runs(host, &self.window_key(&host.name)).await {
            tracing::warn!(host = %host.name, "the run records stay on the host: {e}");
        }
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

impl Engine<'_> {
    /// Step `i` was in flight when patchdeck stopped: how the host's record says it ended,
    /// journaled as the step's end (`None`: it cannot say, or the step has no record).
    pub(super) async fn recover_step(&self, host: &Host, i: usize) -> eyre::Result<Option<super::steps::StepRun>> {
        use crate::runbook::StepAction;
        let step = &self.p.runbook.steps[i];
        if !matches!(step.action, StepAction::Packages | StepAction::Run(_)) {
            return Ok(None);
        }
        let started = Instant::now();
        let key = self.run_key(&host.name, RunWhat::Step(i));
        let Some(result) = self.recover_run(host, &key, i, false, step.timeout).await? else { return Ok(None) };
        let outcome = super::steps::outcome_of(result, step.timeout);
        let (outcome, changes, reboot) = match (&step.action, outcome) {
            (StepAction::Packages, super::event::Outcome::Ok) => {
                // What it was to install: the tested versions its snapshot did not have.
                let before = self.snapshot_installed(&host.name);
                let targets: Vec<_> = self
                    .p
                    .baseline
                    .updates
                    .iter()
                    .filter(|u| before.get(&u.name) != Some(&u.to))
                    .map(|u| (u.name.clone(), u.to.clone()))
                    .collect();
                match self.packages_after(host, &targets, &before).await {
                    Ok(applied) => (super::event::Outcome::Ok, applied.changes, applied.reboot),
                    Err(outcome) => (outcome, vec![], None),
                }
            }
            (_, outcome) => (outcome, vec![], None),
        };
        let ended = super::steps::Ended { outcome, changes, reboot };
        Ok(Some(self.finish_step(host, i, step, ended, started).await?))
    }

    /// The installed versions the journal's snapshot of `host` records (entries that cannot
    /// be read are left out: they only name what changed).
    fn snapshot_installed(&self, host: &str) -> std::collections::BTreeMap<crate::pkg::PkgName, crate::pkg::Version> {
        let snapshot = self.with_state(|s| s.host(host).and_then(|h| h.snapshot.clone())).unwrap_or_default();
        snapshot
            .iter()
            .filter_map(|e| {
                let v = crate::pkg::Version::parse(e.version.as_deref()?).ok()?;
                Some((crate::pkg::PkgName::parse(&e.name).ok()?, v))
            })
            .collect()
    }
}
