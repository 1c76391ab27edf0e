//! Repairing a host's package database at a stop: what an interrupted run left half done
//! (apt: a dpkg killed mid-run) is finished through the host's own package manager
//! ([`crate::pkg::PackageManager::repair`], apt: `dpkg --configure -a`), journaled ahead,
//! then the host is probed again and what is still half done is journaled with the outcome.
//! A repair asks for no version: whatever the step or the rollback was doing is done again
//! afterwards, as decided, and verified as always.

use std::time::{Duration, Instant};

use super::event::{Event, Outcome};
use super::run::Engine;
use super::steps::outcome_of;
use crate::inventory::Host;
use crate::runbook::StepAction;

/// A repair's time limit when the runbook has no packages step to borrow one from.
const REPAIR_TIMEOUT: Duration = Duration::from_secs(600);

/// Repairs tried on one host in a window before a standing order stops asking for more:
/// the next decision to repair leaves the host failed, for people to look at.
pub(super) const MAX_REPAIRS: u32 = 3;

/// Why repair is offered when a packages step (or its rollback) was cut off mid-way.
pub(super) const CUT_OFF: &str = "the packages step was cut off mid-way, so dpkg may be left half done; \
repair runs `dpkg --configure -a` on the host and probes it again";

impl Engine<'_> {
    /// Repairs `host`'s package database and probes it again; `why` says what made it
    /// needed. `true`: nothing is left half done after it.
    pub(super) async fn repair(&self, host: &Host, why: &str) -> eyre::Result<bool> {
        let name = host.name.clone();
        if self.with_state(|s| s.host(&name).map_or(0, |h| h.repairs)) >= MAX_REPAIRS {
            return Ok(false);
        }
        let started = Instant::now();
        let timeout = self
            .p
            .runbook
            .steps
            .iter()
            .find(|s| s.action == StepAction::Packages)
            .map_or(REPAIR_TIMEOUT, |s| s.timeout);
        // The host's own manager, as its probe names it.
        let pm = match self.probe_installed(host).await {
            Ok(f) => self.p.managers.named(&f.manager).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let pm = match pm {
            Ok(pm) => pm,
            Err(detail) => {
                // Nothing ran: journaled as a repair that could not start, and why.
                self.record(Event::RepairStarted { host: name.clone(), command: String::new(), why: why.into() })
                    .await?;
                let outcome = Outcome::Unreachable { detail: crate::safe_text::for_terminal(&detail) };
                let millis = started.elapsed().as_millis() as u64;
                self.record(Event::RepairFinished { host: name, outcome, healthy: None, left: vec![], millis }).await?;
                return Ok(false);
            }
        };
        let cmd = pm.repair(timeout);
        // Journaled as the command that does the work (as a packages step's is), not the
        // whole script around it.
        let command = cmd.script.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        self.record(Event::RepairStarted { host: name.clone(), command, why: why.into() }).await?;
        // Detached on the host like the step it repairs: a repair cut off mid-way is the
        // very thing it is for.
        let cmd = cmd.detached(self.run_key(&name, crate::transport::RunWhat::Repair));
        let outcome = outcome_of(self.p.transport.exec(host, &cmd).await, timeout);
        let (healthy, left) = match self.probe_installed(host).await {
            Ok(after) => {
                let db = &after.pkg.db;
                let mut left: Vec<String> =
                    db.unfinished.iter().map(|u| format!("{} ({})", u.name, u.status)).collect();
                if db.interrupted && left.is_empty() {
                    left.push("dpkg's journal still has unmerged changes".into());
                }
                (Some(!db.needs_repair()), left)
            }
            Err(_) => (None, vec![]),
        };
        let millis = started.elapsed().as_millis() as u64;
        tracing::info!(host = %name, outcome = ?outcome, healthy = ?healthy, "repair finished");
        self.record(Event::RepairFinished { host: name, outcome: outcome.clone(), healthy, left, millis }).await?;
        Ok(outcome.is_ok() && healthy == Some(true))
    }

    /// Why a repair is worth offering on `host` now: what its package database says is left
    /// half done (`None`: nothing, or it could not be probed).
    pub(super) async fn half_done(&self, host: &Host) -> Option<String> {
        let facts = self.probe_installed(host).await.ok()?;
        facts.pkg.db.needs_repair().then(|| crate::safe_text::for_terminal(&facts.pkg.db.broken_detail()))
    }
}
