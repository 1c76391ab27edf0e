//! Running one step on a host: the packages step (snapshot, install exactly the tested
//! versions, record what changed), `run` and `local` commands, and a reboot. Each step's
//! start is journaled through [`Engine::start_step`], so it happens only while the rules
//! allow a change.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::event::{Change, Event, Outcome, SnapshotEntry, StopKind};
use super::permit::Gate;
use super::run::{Engine, OPERATOR_HOST};
use super::runs::Ran;
use crate::inventory::Host;
use crate::pkg::{PkgName, Version};
use crate::probe::{HostFacts, Mode, ProbeError, probe_host_with};
use crate::runbook::{Step, StepAction, placeholder};
use crate::transport::{Command, Output, Purpose, RunWhat, Transport, TransportError};

/// How running a step went.
pub(super) enum StepRun {
    /// The rules did not allow it to start (nothing ran): ask for a permit again.
    Refused(Gate),
    /// It ran; `Some(stop)` when it did not succeed.
    Ran(Option<StopKind>),
}

/// What the packages step did.
pub(super) struct Applied {
    pub(super) changes: Vec<Change>,
    /// Packages that want a reboot, when the host wants one.
    pub(super) reboot: Option<Vec<String>>,
}

/// How a step ended: its outcome, what it changed, what wants a reboot.
pub(super) struct Ended {
    pub(super) outcome: Outcome,
    pub(super) changes: Vec<Change>,
    pub(super) reboot: Option<Vec<String>>,
}

/// How the packages step ended.
enum Done {
    Applied(Applied),
    Failed(Outcome),
    /// The link was lost while apt ran and the host's record cannot say how it ended.
    Unknown(String),
}

impl Engine<'_> {
    /// Runs step `i` on `host`, its start journaled ahead (and only if allowed).
    pub(super) async fn run_step(&self, host: &Host, i: usize, step: &Step) -> eyre::Result<StepRun> {
        let started = Instant::now();
        let name = host.name.clone();
        let timeout = step.timeout;
        let announce =
            |command: String| Event::StepStarted { host: name.clone(), step: i, name: step.name.clone(), command };
        let (outcome, changes, reboot_pkgs) = match &step.action {
            StepAction::Packages => match self.packages_step(host, i, step).await? {
                Err(gate) => return Ok(StepRun::Refused(gate)),
                Ok(Done::Applied(a)) => (Outcome::Ok, a.changes, a.reboot),
                Ok(Done::Failed(outcome)) => (outcome, vec![], None),
                Ok(Done::Unknown(detail)) => return Ok(StepRun::Ran(Some(unknown_stop(step, detail)))),
            },
            StepAction::Run(cmd) | StepAction::Local(cmd) => {
                let c = self.step_command(host, step, cmd);
                if let Err(gate) = self.start_step(&name, announce(c.script.clone())).await? {
                    return Ok(StepRun::Refused(gate));
                }
                let c = self.for_runner(&name, step, c, RunWhat::Step(i));
                match self.exec_step_command(host, i, step, &c, false).await? {
                    Ran::Ended(result) => (outcome_of(result, timeout), vec![], None),
                    Ran::Unknown(detail) => return Ok(StepRun::Ran(Some(unknown_stop(step, detail)))),
                }
            }
            StepAction::Reboot => {
                if let Err(gate) = self.start_step(&name, announce("reboot".into())).await? {
                    return Ok(StepRun::Refused(gate));
                }
                let c = Command {
                    script: "systemctl reboot".into(),
                    purpose: Purpose::Reboot,
                    needs_root: true,
                    timeout,
                    detached: None,
                };
                let out = match self.p.transport.exec(host, &c).await {
                    // The connection dropping is what a reboot looks like.
                    Err(TransportError::ConnectionLost { .. }) | Ok(_) => self.wait_until_back(host, timeout).await,
                    Err(e) => Err(e),
                };
                (outcome_of(out, timeout), vec![], None)
            }
        };
        self.finish_step(host, i, step, Ended { outcome, changes, reboot: reboot_pkgs }, started).await
    }

    /// Journals how step `i` ended and gives the stop it raises, if any.
    pub(super) async fn finish_step(
        &self,
        host: &Host,
        i: usize,
        step: &Step,
        ended: Ended,
        started: Instant,
    ) -> eyre::Result<StepRun> {
        let Ended { outcome, changes, reboot: reboot_pkgs } = ended;
        let name = host.name.clone();
        let millis = started.elapsed().as_millis() as u64;
        tracing::info!(host = %name, step = %step.name, outcome = ?outcome, millis, "step finished");
        // A packages step that failed may have left dpkg half done: then repair is offered.
        let repair = match (&step.action, &outcome) {
            (StepAction::Packages, Outcome::Failed { .. }) => self.half_done(host).await,
            _ => None,
        };
        self.record(Event::StepFinished { host: name, step: i, outcome: outcome.clone(), changes, millis }).await?;
        if let Some(packages) = reboot_pkgs
            && !self.p.runbook.steps.iter().any(|s| s.action == StepAction::Reboot)
        {
            return Ok(StepRun::Ran(Some(StopKind::RebootRequired { packages })));
        }
        let mut stop = stop_of(outcome, &step.name);
        if let Some(StopKind::StepFailed { repair: r, .. }) = &mut stop {
            *r = repair;
        }
        Ok(StepRun::Ran(stop))
    }

    /// A `run`/`local` step's command (or its rollback), placeholders expanded and quoted.
    pub(super) fn step_command(&self, host: &Host, step: &Step, template: &str) -> Command {
        let script = placeholder::expand(template, host, &self.p.runbook.window, Some(&step.name));
        let mut c = Command::shell(script, step.timeout);
        c.needs_root = !matches!(step.action, StepAction::Local(_));
        c
    }

    /// `c` to run detached on the host under the key of `what`'s latest attempt (call after
    /// its start is journaled): a command that changes the host must not die with the link.
    /// A `local` step's runs on the operator's machine, as it always did.
    pub(super) fn for_runner(&self, host: &str, step: &Step, c: Command, what: RunWhat) -> Command {
        match step.action {
            StepAction::Local(_) => c,
            _ => c.detached(self.run_key(host, what)),
        }
    }

    /// Runs a step's command (or its rollback's) where the step runs: on the host, or on the
    /// operator's machine. Its output is shown live as `host`'s either way.
    pub(super) async fn exec_step_command(
        &self,
        host: &Host,
        i: usize,
        step: &Step,
        c: &Command,
        rollback: bool,
    ) -> eyre::Result<Ran> {
        Ok(match step.action {
            StepAction::Local(_) => {
                Ran::Ended(self.exec_watched(self.p.local, &Host::named(OPERATOR_HOST), c, host, i, rollback).await)
            }
            _ => self.exec_change(host, c, i, rollback, step.timeout).await?,
        })
    }

    /// Runs `c` on `on` through `t`, its output going to the live feed (if anyone watches) as
    /// the output of `host`'s step `i` or its rollback. The feed never makes this wait.
    pub(super) async fn exec_watched(
        &self,
        t: &dyn Transport,
        on: &Host,
        c: &Command,
        host: &Host,
        i: usize,
        rollback: bool,
    ) -> Result<Output, TransportError> {
        match &self.p.live {
            Some(feed) => t.exec_streaming(on, c, &feed.sink(&host.name, i, rollback)).await,
            None => t.exec(on, c).await,
        }
    }

    async fn wait_until_back(&self, host: &Host, limit: Duration) -> Result<Output, TransportError> {
        let deadline = Instant::now() + limit;
        tokio::time::sleep(Duration::from_secs(2).min(limit)).await;
        loop {
            match self.p.transport.exec(host, &Command::shell("true", Duration::from_secs(10))).await {
                Ok(o) => return Ok(o),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_secs(3)).await,
            }
        }
    }

    /// Installed versions before and after a change: the resolver is not needed for that.
    pub(super) async fn probe_installed(&self, host: &Host) -> Result<HostFacts, ProbeError> {
        let probed = probe_host_with(
            self.p.transport,
            self.p.managers,
            host,
            &[],
            Duration::from_secs(120),
            Mode::Installed,
            None,
        );
        Ok(probed.await?.0)
    }

    /// The built-in packages step: snapshot every installed version (journaled before
    /// anything changes), install exactly the tested versions, record what changed.
    /// `Err(gate)`: the rules did not allow it to start.
    async fn packages_step(&self, host: &Host, i: usize, step: &Step) -> eyre::Result<Result<Done, Gate>> {
        let before = match self.probe_installed(host).await {
            Ok(f) => f,
            Err(e) => return Ok(Ok(Done::Failed(Outcome::Unreachable { detail: e.to_string() }))),
        };
        let targets: Vec<(PkgName, Version)> = self
            .p
            .baseline
            .updates
            .iter()
            .filter(|u| before.pkg.installed.get(&u.name) != Some(&u.to))
            .map(|u| (u.name.clone(), u.to.clone()))
            .collect();
        let snapshot = snapshot_of(&before.pkg);
        self.record(Event::Snapshot { host: host.name.clone(), step: i, packages: snapshot }).await?;
        // The host's own manager, as its probe named it.
        let pm = match self.p.managers.named(&before.manager) {
            Ok(pm) => pm,
            Err(e) => return Ok(Ok(Done::Failed(Outcome::Failed { status: None, output_tail: e.to_string() }))),
        };
        let cmd = pm.install_exact(&targets, step.timeout);
        let summary = targets.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join(" ");
        let start = Event::StepStarted {
            host: host.name.clone(),
            step: i,
            name: step.name.clone(),
            command: format!("{} install {summary}", pm.name()),
        };
        if let Err(gate) = self.start_step(&host.name, start).await? {
            return Ok(Err(gate));
        }
        if targets.is_empty() {
            return Ok(Ok(Done::Applied(Applied { changes: vec![], reboot: None })));
        }
        let cmd = cmd.detached(self.run_key(&host.name, RunWhat::Step(i)));
        let outcome = match self.exec_change(host, &cmd, i, false, step.timeout).await? {
            Ran::Ended(result) => outcome_of(result, step.timeout),
            Ran::Unknown(detail) => return Ok(Ok(Done::Unknown(detail))),
        };
        if !outcome.is_ok() {
            return Ok(Ok(Done::Failed(outcome)));
        }
        Ok(Ok(match self.packages_after(host, &targets, &before.pkg.installed).await {
            Ok(applied) => Done::Applied(applied),
            Err(outcome) => Done::Failed(outcome),
        }))
    }

    /// After the install ended well: what changed since `before`, and whether exactly the
    /// `targets` are installed now, each healthy. `Err`: how it failed after all.
    pub(super) async fn packages_after(
        &self,
        host: &Host,
        targets: &[(PkgName, Version)],
        before: &BTreeMap<PkgName, Version>,
    ) -> Result<Applied, Outcome> {
        let after = match self.probe_installed(host).await {
            Ok(f) => f,
            Err(e) => return Err(Outcome::Unreachable { detail: e.to_string() }),
        };
        let changes = changes_between(before, &after.pkg.installed);
        // Installed exactly what was tested? Anything else is a failure, not a success.
        let wrong: Vec<String> = targets
            .iter()
            .filter(|(n, v)| after.pkg.installed.get(n) != Some(v))
            .map(|(n, v)| {
                format!(
                    "{n}: wanted {v}, found {}",
                    after.pkg.installed.get(n).map_or("none".into(), |v| v.to_string())
                )
            })
            .collect();
        if !wrong.is_empty() {
            return Err(Outcome::Failed { status: Some(0), output_tail: wrong.join("; ") });
        }
        // The versions are right, but a package left half done (`iHR` is not `ii`) is not
        // installed as tested: apt succeeded only in part.
        if after.pkg.db.needs_repair() {
            let output_tail = crate::safe_text::for_terminal(&after.pkg.db.broken_detail());
            return Err(Outcome::Failed { status: Some(0), output_tail });
        }
        let reboot = after
            .pkg
            .reboot_required
            .then(|| after.pkg.reboot_required_by.iter().map(ToString::to_string).collect::<Vec<_>>());
        Ok(Applied { changes, reboot })
    }
}

/// Every package in every state the probe reported, for the journal's snapshot; a manager
/// that reports no states gives its installed versions, as installed and healthy.
pub(super) fn snapshot_of(pkg: &crate::pkg::PkgFacts) -> Vec<SnapshotEntry> {
    if pkg.states.is_empty() {
        return pkg
            .installed
            .iter()
            .map(|(n, v)| SnapshotEntry {
                name: n.to_string(),
                version: Some(v.to_string()),
                status: super::event::INSTALLED_OK.into(),
            })
            .collect();
    }
    pkg.states
        .iter()
        .map(|(n, s)| SnapshotEntry {
            name: n.to_string(),
            // Only an installed package has a version to restore; any other is restored to
            // "not installed", and its status says in which state it was.
            version: pkg.installed.get(n).map(ToString::to_string),
            status: s.status.clone(),
        })
        .collect()
}

/// The stop raised when a step's outcome is unknown: the packages step's offers repair.
pub(super) fn unknown_stop(step: &Step, detail: String) -> StopKind {
    tracing::warn!(step = %step.name, "{detail}");
    let repair = (step.action == StepAction::Packages).then(|| super::repair::CUT_OFF.to_string());
    StopKind::UnknownOutcome { step: step.name.clone(), repair }
}

/// The stop a step's outcome raises (`None`: it went well).
pub(super) fn stop_of(outcome: Outcome, step: &str) -> Option<StopKind> {
    match outcome {
        Outcome::Ok => None,
        Outcome::Failed { status, output_tail } => {
            Some(StopKind::StepFailed { step: step.into(), status, output_tail, repair: None })
        }
        Outcome::Timeout { after_secs } => Some(StopKind::StepTimeout { step: step.into(), after_secs }),
        Outcome::Unreachable { detail } => Some(StopKind::Unreachable { detail }),
    }
}

/// Packages whose version differs between two installed sets (`to: None` = removed).
pub(super) fn changes_between(before: &BTreeMap<PkgName, Version>, after: &BTreeMap<PkgName, Version>) -> Vec<Change> {
    let mut names: Vec<&PkgName> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| before.get(*n) != after.get(*n))
        .map(|n| Change {
            name: n.to_string(),
            from: before.get(n).map(ToString::to_string),
            to: after.get(n).map(ToString::to_string),
        })
        .collect()
}

/// Maps a transport result to a step outcome; output is kept short and made safe to print.
pub(super) fn outcome_of(out: Result<Output, TransportError>, timeout: Duration) -> Outcome {
    match out {
        Ok(o) if o.success() => Outcome::Ok,
        Ok(o) => {
            let text = format!("{}{}", o.stdout_lossy(), o.stderr_lossy());
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            // Only the output's tail was kept: the journal says how much came before it.
            let shown = match o.cut_note() {
                Some(note) => format!("{note} | {}", tail.join(" | ")),
                None => tail.join(" | "),
            };
            Outcome::Failed { status: o.status, output_tail: crate::safe_text::for_terminal(&shown) }
        }
        Err(TransportError::Timeout { .. }) => Outcome::Timeout { after_secs: timeout.as_secs() },
        Err(e) => Outcome::Unreachable { detail: crate::safe_text::for_terminal(&e.to_string()) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14.6: the journal's tail of a failed step says how much output came before it.
    #[test]
    fn a_failed_steps_tail_says_how_much_output_was_not_kept() {
        let whole = Output::whole(Some(2), b"a\nb\n".to_vec(), b"boom\n".to_vec());
        let Outcome::Failed { output_tail, .. } = outcome_of(Ok(whole.clone()), Duration::from_secs(1)) else {
            panic!()
        };
        assert_eq!(output_tail, "a | b | boom");
        let cut = Output { stdout_cut: 287_000_000, ..whole };
        let Outcome::Failed { output_tail, .. } = outcome_of(Ok(cut), Duration::from_secs(1)) else { panic!() };
        assert_eq!(output_tail, "\u{2026} 287 MB earlier output not kept | a | b | boom");
    }
}
