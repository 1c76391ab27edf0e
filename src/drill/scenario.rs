//! Drill scenarios: which faults to inject, when, and what the operators are expected to
//! see and do. TOML; the format is documented in `docs/drill.md`.

use std::time::Duration;

use serde::Deserialize;

use crate::engine::control::{Choice, StopCode};
use crate::runbook::Runbook;

/// One scenario, parsed and checked against nothing yet (see [`Scenario::check`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Defaults to the file's stem, or the bundled name.
    #[serde(default)]
    pub name: String,
    /// One line, shown by `drill --list` and in the scorecard.
    #[serde(default)]
    pub description: String,
    /// Decisions taken at the hard stops, in order (`rollback`, `skip`, `abort`, `retry`,
    /// `rollback_all`, `override: REASON`). After the list: `--decide`, else abort.
    #[serde(default)]
    pub decisions: Vec<String>,
    /// Rehearsal conditions applied to the drill's copy of the runbook.
    #[serde(default)]
    pub runbook: Conditions,
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultSpec>,
    #[serde(default, rename = "expect")]
    pub expects: Vec<Expect>,
}

/// Conditions of the rehearsed window that are not faults (they hold from the start).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// Only these hosts take part (waves keep their order; empty waves are dropped).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Replaces the runbook's `max_risk`.
    pub max_risk: Option<f64>,
    /// These steps are marked `irreversible = true`.
    #[serde(default)]
    pub irreversible: Vec<String>,
    /// Replaces the runbook's `auto_rollback`.
    pub auto_rollback: Option<bool>,
}

/// One fault: a trigger (`at_step` on a host, or `at` after the window's start) and an effect.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Shown in the journal and the scorecard (default: derived from the effect).
    #[serde(default)]
    pub name: String,
    /// Where the effect lands (not needed for `deadline`).
    pub host: Option<String>,
    /// Fires when this step starts on `step_host` (default: `host`).
    pub at_step: Option<String>,
    pub step_host: Option<String>,
    /// Fires this long after the window's start (drill time), checked before every command.
    pub at: Option<String>,
    pub effect: Effect,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The host's next command exits with this status.
    Exit(i32),
    /// The host's next command never finishes (until the step's timeout).
    Hang,
    /// The host drops off the network (and stays off).
    Unreachable,
    /// The host's outside health check starts failing; restoring its packages heals it.
    Unhealthy,
    /// The host starts asking for a reboot.
    RebootRequired,
    /// The drill clock jumps to one minute past "decide by".
    Deadline,
    /// patchdeck dies while the host's next command runs; the drill resumes from the journal.
    Crash,
    /// A new candidate version of an installed package appears in the host's repositories.
    Candidate { package: String, version: String },
    /// A config file's content changes.
    Drift { path: String, content: String },
    /// The host's next restore leaves this package at its current version.
    KeepVersion(String),
}

impl Effect {
    pub fn describe(&self) -> String {
        match self {
            Effect::Exit(code) => format!("next command exits {code}"),
            Effect::Hang => "next command hangs".into(),
            Effect::Unreachable => "host becomes unreachable".into(),
            Effect::Unhealthy => "health check starts failing".into(),
            Effect::RebootRequired => "host starts requiring a reboot".into(),
            Effect::Deadline => "clock jumps past decide-by".into(),
            Effect::Crash => "patchdeck crashes mid-command".into(),
            Effect::Candidate { package, version } => format!("new candidate {package} {version}"),
            Effect::Drift { path, .. } => format!("{path} drifts"),
            Effect::KeepVersion(p) => format!("restore leaves {p} unchanged"),
        }
    }
}

/// What must have happened for the drill to pass.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The hard stop's kind, as journaled (`divergence`, `step_failed`, ...: every name of
    /// [`StopCode`]).
    #[serde(deserialize_with = "stop_code")]
    pub stop: StopCode,
    /// The stop's host (absent: any host, or the window).
    pub host: Option<String>,
    /// The decision taken at it (`rollback`, `skip`, `abort`, `retry`, `rollback_all`,
    /// `override`, ...: every name of [`Choice`]; `auto-rollback` decisions count as
    /// `rollback`).
    #[serde(default, deserialize_with = "choice")]
    pub decision: Option<Choice>,
    /// `true`: the host ends rolled back with every package as before the window.
    /// `false`: it does not.
    pub rollback_verified: Option<bool>,
}

impl FaultSpec {
    /// The name shown everywhere.
    pub fn label(&self) -> String {
        if self.name.is_empty() { self.effect.describe() } else { self.name.clone() }
    }

    pub fn trigger_host(&self) -> Option<&str> {
        self.step_host.as_deref().or(self.host.as_deref())
    }

    pub fn at_duration(&self) -> Option<Duration> {
        self.at.as_deref().and_then(|a| humantime::parse_duration(a.trim()).ok())
    }
}

/// A stop kind by its journal name, or a message listing them all.
fn stop_code<'de, D: serde::Deserializer<'de>>(d: D) -> Result<StopCode, D::Error> {
    let word = String::deserialize(d)?;
    StopCode::parse(&word).ok_or_else(|| {
        let all: Vec<&str> = StopCode::ALL.iter().map(|c| c.name()).collect();
        serde::de::Error::custom(format!("unknown stop `{word}` (one of {})", all.join(", ")))
    })
}

/// A choice by its name (or the short words scenarios use), or a message listing them.
fn choice<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Choice>, D::Error> {
    let word = String::deserialize(d)?;
    Choice::parse(&word).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "unknown decision `{word}` (rollback, skip, abort, retry, rollback_all, override, ...)"
        ))
    })
}

/// Parses a decision as written in `decisions = [...]`: a choice, and the reason of an
/// override (`"override: REASON"`).
pub fn parse_decision(text: &str) -> Result<(Choice, Option<String>), String> {
    let t = text.trim();
    if let Some(reason) = t.strip_prefix("override") {
        let reason = reason.trim_start_matches(':').trim();
        if reason.is_empty() {
            return Err("an override needs a reason: \"override: REASON\"".into());
        }
        return Ok((Choice::Override, Some(reason.into())));
    }
    match Choice::parse(t) {
        Some(c) if !c.needs_reason() => Ok((c, None)),
        _ => Err(format!(
            "unknown decision `{t}`: use rollback, skip, abort, retry, rollback_all or \"override: REASON\""
        )),
    }
}

impl Scenario {
    /// Parses a scenario; `name` is used when the file gives none.
    pub fn parse(text: &str, name: &str) -> eyre::Result<Self> {
        let mut s: Scenario =
            toml::from_str(text).map_err(|e| eyre::eyre!("invalid drill scenario {name}: {}", e.message()))?;
        if s.name.is_empty() {
            s.name = name.to_string();
        }
        Ok(s)
    }

    /// The scripted decisions.
    pub fn decisions(&self) -> eyre::Result<Vec<(Choice, Option<String>)>> {
        self.decisions
            .iter()
            .map(|d| parse_decision(d).map_err(|e| eyre::eyre!("scenario {}: {e}", self.name)))
            .collect()
    }

    /// Checks the scenario against the runbook it drills: every host and step it names exists,
    /// every fault has exactly one trigger. All problems at once.
    pub fn check(&self, runbook: &Runbook) -> eyre::Result<()> {
        let mut problems = Vec::new();
        let host_ok = |h: &str| runbook.host(h).is_some();
        for h in &self.runbook.hosts {
            if !host_ok(h) {
                problems.push(format!("[runbook] hosts: `{h}` is not in the runbook's inventory"));
            }
        }
        for s in &self.runbook.irreversible {
            if !runbook.steps.iter().any(|st| &st.name == s) {
                problems.push(format!("[runbook] irreversible: no step is named `{s}`"));
            }
        }
        for (i, f) in self.faults.iter().enumerate() {
            let at = format!("fault {} ({})", i + 1, f.label());
            match (&f.at_step, &f.at) {
                (Some(_), Some(_)) => problems.push(format!("{at}: give `at_step` or `at`, not both")),
                (None, None) => problems.push(format!("{at}: needs a trigger: `at_step` (with `host`) or `at`")),
                _ => {}
            }
            if let Some(step) = &f.at_step {
                if !runbook.steps.iter().any(|s| &s.name == step) {
                    problems.push(format!("{at}: no step is named `{step}`"));
                }
                if f.trigger_host().is_none() {
                    problems.push(format!("{at}: `at_step` needs `host` (or `step_host`)"));
                }
            }
            if let Some(a) = &f.at
                && f.at_duration().is_none()
            {
                problems.push(format!("{at}: bad duration `{a}`: write it like \"30s\" or \"5m\""));
            }
            for h in [f.host.as_deref(), f.step_host.as_deref()].into_iter().flatten() {
                if !host_ok(h) {
                    problems.push(format!("{at}: host `{h}` is not in the runbook's inventory"));
                }
            }
            if f.host.is_none() && f.effect != Effect::Deadline {
                problems.push(format!("{at}: needs `host` (where the effect lands)"));
            }
        }
        if let Err(e) = self.decisions() {
            problems.push(e.to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            eyre::bail!(
                "drill scenario {} does not fit {}:\n  {}",
                self.name,
                runbook.path.display(),
                problems.join("\n  ")
            )
        }
    }

    /// The runbook as this scenario rehearses it.
    pub fn apply(&self, runbook: &Runbook) -> Runbook {
        let mut rb = runbook.clone();
        let c = &self.runbook;
        if !c.hosts.is_empty() {
            for w in &mut rb.waves {
                w.hosts.retain(|h| c.hosts.contains(h));
            }
            rb.waves.retain(|w| !w.hosts.is_empty());
        }
        if let Some(m) = c.max_risk {
            rb.policy.max_risk = m;
        }
        if let Some(a) = c.auto_rollback {
            rb.policy.auto_rollback = a;
        }
        for s in &mut rb.steps {
            if c.irreversible.contains(&s.name) {
                s.irreversible = true;
            }
        }
        rb
    }
}

/// The scenarios shipped with patchdeck (written for the demo window; any runbook with the
/// same hosts and step names can use them).
pub const BUNDLED: &[(&str, &str)] = &[
    ("untested-package", include_str!("../../assets/drills/untested-package.toml")),
    ("version-mismatch", include_str!("../../assets/drills/version-mismatch.toml")),
    ("config-drift", include_str!("../../assets/drills/config-drift.toml")),
    ("host-unreachable", include_str!("../../assets/drills/host-unreachable.toml")),
    ("step-failed", include_str!("../../assets/drills/step-failed.toml")),
    ("step-timeout", include_str!("../../assets/drills/step-timeout.toml")),
    ("health-failed", include_str!("../../assets/drills/health-failed.toml")),
    ("health-fails-at-time", include_str!("../../assets/drills/health-fails-at-time.toml")),
    ("reboot-required", include_str!("../../assets/drills/reboot-required.toml")),
    ("deadline", include_str!("../../assets/drills/deadline.toml")),
    ("risk-over", include_str!("../../assets/drills/risk-over.toml")),
    ("irreversible", include_str!("../../assets/drills/irreversible.toml")),
    ("crash-unknown-outcome", include_str!("../../assets/drills/crash-unknown-outcome.toml")),
    ("rollback-unverified", include_str!("../../assets/drills/rollback-unverified.toml")),
];

/// A bundled scenario by name.
pub fn bundled(name: &str) -> Option<Scenario> {
    BUNDLED.iter().find(|(n, _)| *n == name).map(|(n, t)| Scenario::parse(t, n).expect("bundled scenarios parse"))
}

/// Every bundled scenario, parsed.
pub fn all_bundled() -> Vec<Scenario> {
    BUNDLED.iter().map(|(n, t)| Scenario::parse(t, n).expect("bundled scenarios parse")).collect()
}

/// `--scenario FILE|NAME`: a file if one exists at that path, else a bundled name.
pub fn load(file_or_name: &str) -> eyre::Result<Scenario> {
    let path = std::path::Path::new(file_or_name);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| eyre::eyre!("cannot read drill scenario {}: {e}", path.display()))?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario");
        return Scenario::parse(&text, stem);
    }
    bundled(file_or_name).ok_or_else(|| {
        let names: Vec<&str> = BUNDLED.iter().map(|(n, _)| *n).collect();
        eyre::eyre!("no scenario file or bundled scenario named `{file_or_name}`; bundled: {}", names.join(", "))
    })
}
