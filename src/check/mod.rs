//! `patchdeck check`: probe every host at once, diff each against the tested baseline, run
//! every health check once, and say in seconds what differs from what was tested.

mod json;
pub mod sudo;
mod text;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use json::to_json;
pub use text::render;

use crate::baseline::Baseline;
use crate::diff::risk::{self, Risk};
use crate::diff::{Class, HostDiff, diff_host};
use crate::health::{CheckResult, Prober, run_check};
use crate::inventory::Host;
use crate::pkg::{Managers, ParseError};
use crate::probe::{Mode, ProbeCache, ProbeError, Probed, Resolver, Sharing, probe_host_shared, probe_host_with};
use crate::runbook::{CheckKind, Runbook};
use crate::transport::{Transport, pool};

/// What a check found, overall (the CLI turns it into an exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every host is as tested, every health check passes, risk and order are fine.
    Clean,
    /// No host of the window could be reached.
    NothingReached,
    /// A finding on a reachable host, a failing health check, risk over the maximum, or the
    /// order warning; unreachable hosts count here too when at least one host was reached.
    Findings,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Hosts probed at once.
    pub concurrency: usize,
    /// Bound on one host's probe.
    pub probe_timeout: Duration,
    /// Kept resolver answers: a host whose package state is unchanged is not asked again.
    /// `None` asks every host's resolver.
    pub probe_cache: Option<Arc<ProbeCache>>,
    /// Hosts whose package state has the same content share one resolver run
    /// ([`crate::probe::share`]); `false` asks each host's own resolver.
    pub share_resolver: bool,
    /// The window this check is for, as it locks hosts: its own lock is not another
    /// window's. `None`: every lock found is another window's.
    pub own_lock: Option<crate::lock::host::Holder>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            concurrency: pool::DEFAULT_LIMIT,
            probe_timeout: Duration::from_secs(60),
            probe_cache: None,
            share_resolver: true,
            own_lock: None,
        }
    }
}

/// One host's part of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostReport {
    pub diff: HostDiff,
    pub checks: Vec<CheckResult>,
    pub probe_millis: u64,
    /// Whether the host's resolver ran, its kept answer was reused, or another host's answer
    /// for the same package state served (absent: not probed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<Resolver>,
    /// With `resolver == shared`: the host whose resolver's answer served this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_from: Option<String>,
}

impl HostReport {
    pub fn host(&self) -> &str {
        &self.diff.host
    }
    pub fn failing_checks(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| !c.ok)
    }
    pub fn is_clean(&self) -> bool {
        self.diff.is_clean() && self.failing_checks().next().is_none()
    }
    /// The host could not be connected to or probed: nothing about it is known.
    pub fn is_unreachable(&self) -> bool {
        self.diff.findings.iter().any(|f| f.class == Class::Unreachable)
    }
}

/// The whole fleet's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub window: String,
    pub baseline_host: String,
    pub baseline_captured_at: jiff::Timestamp,
    pub tested_updates: usize,
    pub hosts: Vec<HostReport>,
    pub risk: Risk,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_warning: Option<String>,
    /// Discovered configuration drift grouped by item across the fleet ([`crate::drift`]).
    #[serde(default)]
    pub drift: Vec<crate::drift::DriftGroup>,
    /// Why drift was not compared (a baseline captured before it had a configuration map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_note: Option<String>,
}

impl Report {
    /// No host of the window could be reached, so nothing was compared with the baseline.
    pub fn nothing_reached(&self) -> bool {
        !self.hosts.is_empty() && self.hosts.iter().all(HostReport::is_unreachable)
    }

    /// Nothing reached, any finding (including unreachable hosts beside reachable ones, and
    /// the order warning), or clean.
    pub fn verdict(&self) -> Verdict {
        if self.nothing_reached() {
            return Verdict::NothingReached;
        }
        let dirty = self.hosts.iter().any(|h| !h.is_clean()) || self.risk.over || self.order_warning.is_some();
        if dirty { Verdict::Findings } else { Verdict::Clean }
    }
}

/// The hosts a window changes: every host in a wave, in wave order.
pub fn window_hosts(runbook: &Runbook) -> Vec<Host> {
    runbook.waves.iter().flat_map(|w| w.hosts.iter()).filter_map(|name| runbook.host(name).cloned()).collect()
}

/// Probes and diffs one host, then runs its health checks.
#[allow(clippy::too_many_arguments)]
async fn check_host(
    runbook: &Runbook,
    baseline: &Baseline,
    transport: &dyn Transport,
    prober: &dyn Prober,
    managers: &Managers,
    host: &Host,
    opts: &Options,
    sharing: Option<&Sharing>,
) -> HostReport {
    let started = Instant::now();
    let cache = opts.probe_cache.as_deref();
    let (fps, timeout) = (&runbook.fingerprints, opts.probe_timeout);
    let probed = match sharing {
        Some(sharing) => probe_host_shared(transport, managers, host, fps, timeout, cache, sharing).await,
        None => probe_host_with(transport, managers, host, fps, timeout, Mode::Full, cache)
            .await
            .map(|(facts, resolver)| Probed { facts, resolver, shared_from: None }),
    };
    let probe_millis = started.elapsed().as_millis() as u64;
    let resolver = probed.as_ref().ok().map(|p| p.resolver);
    let shared_from = probed.as_ref().ok().and_then(|p| p.shared_from.clone());
    let probed = probed.map(|p| p.facts);
    let diff = match &probed {
        Ok(facts) => diff_host(&host.name, facts, baseline, &runbook.fingerprints, &runbook.policy),
        Err(ProbeError::Parse { source: ParseError::Hostile(h), .. }) => {
            HostDiff::unreachable(&host.name, &format!("refused to use this host's output: {h}"), Class::Hostile)
        }
        Err(e) => HostDiff::unreachable(&host.name, &e.to_string(), Class::Unreachable),
    };
    // A host we could not reach would fail every command check with the same error;
    // checks from the operator's side still say whether its service answers.
    let reachable = !matches!(probed, Err(ProbeError::Transport(_)));
    let _place = match sharing {
        Some(s) => s.place().await,
        None => None,
    };
    let mut diff = diff;
    // Sudo first: when it cannot serve the window, everything read as root would fail with
    // its error under other names; one cause, one finding, and the rest once sudo works.
    let mut sudo_unusable = false;
    if reachable && host.sudo {
        let tools = probed.as_ref().ok().and_then(|f| managers.get(&f.manager)).map_or(&[][..], |m| m.detect().tools);
        let mut found = sudo::check(transport, host, &sudo::programs(runbook, tools)).await;
        sudo_unusable = found.iter().any(sudo::is_whole);
        if sudo_unusable {
            diff.findings.retain(|f| !sudo::needs_root(f.class));
            for f in found.iter_mut().filter(|f| sudo::is_whole(f)) {
                f.detail.push_str(
                    "; not checked until it works: the host's lock, fingerprints, configuration drift, on-host checks",
                );
            }
        }
        diff.findings.extend(found);
    }
    if reachable && !sudo_unusable {
        diff.findings.extend(lock_finding(transport, host, opts.own_lock.as_ref()).await);
    }
    let on_host_runs = reachable && !sudo_unusable;
    let mut checks = Vec::new();
    for check in runbook.checks.iter().filter(|c| on_host_runs || !matches!(c.kind, CheckKind::Run(_))) {
        checks.push(run_check(check, host, &runbook.window, transport, prober).await);
    }
    HostReport { diff, checks, probe_millis, resolver, shared_from }
}

/// A stop-class finding when another window holds `host`'s lock; a lock that cannot be
/// read is a warning (the window itself will stop at it).
async fn lock_finding(
    transport: &dyn Transport,
    host: &Host,
    own: Option<&crate::lock::host::Holder>,
) -> Option<crate::diff::Finding> {
    use crate::lock::host::{Found, read};
    let finding = |verdict, detail: String| crate::diff::Finding {
        class: Class::HostLocked,
        subject: "host".into(),
        tested: None,
        here: None,
        verdict: Some(verdict),
        detail,
    };
    match read(transport, host).await {
        Ok(Found::Free) => None,
        Ok(Found::Held { holder: Some(h), .. }) if own.is_some_and(|me| me.same_run(&h)) => None,
        Ok(found) => Some(finding(crate::runbook::OnDivergence::Stop, found.describe(&host.name))),
        Err(e) => Some(finding(
            crate::runbook::OnDivergence::Warn,
            format!("its window lock could not be read: {}", crate::safe_text::for_terminal(&e.to_string())),
        )),
    }
}

/// Runs the whole check. Hosts are probed concurrently (bounded); the report keeps wave order.
pub async fn run(
    runbook: &Runbook,
    baseline: &Baseline,
    transport: &dyn Transport,
    prober: &dyn Prober,
    managers: &Managers,
    opts: &Options,
    on_progress: impl FnMut(pool::Progress<'_>),
) -> Report {
    let hosts = window_hosts(runbook);
    // Sharing bounds the work itself (a host waiting for another's resolver holds no place),
    // so the pool lets every host in; without it, the pool bounds it.
    let sharing =
        opts.share_resolver.then(|| Sharing::new(managers, &hosts, opts.probe_cache.as_deref(), opts.concurrency));
    let limit = if sharing.is_some() { hosts.len() } else { opts.concurrency };
    let sharing = sharing.as_ref();
    let check_one = |host: Host| async move {
        check_host(runbook, baseline, transport, prober, managers, &host, opts, sharing).await
    };
    let hosts: Vec<HostReport> = pool::for_each_host_with_progress(&hosts, limit, check_one, on_progress)
        .await
        .into_iter()
        .map(|(_, report)| report)
        .collect();

    let mut changed: Vec<&str> = hosts.iter().flat_map(|h| h.diff.changes.iter().map(|n| n.as_str())).collect();
    changed.sort_unstable();
    changed.dedup();
    let policy = &runbook.policy;
    Report {
        window: runbook.window.name.clone(),
        baseline_host: baseline.host.clone(),
        baseline_captured_at: baseline.captured_at,
        tested_updates: baseline.updates.len(),
        risk: risk::assess(policy.change_risk, policy.max_risk, changed.len()),
        order_warning: risk::order_warning(&runbook.waves, &runbook.hosts),
        drift: drift_groups(&hosts),
        drift_note: baseline.drift.is_none().then(|| NO_MAP.to_string()),
        hosts,
    }
}

/// Said once when the baseline has no configuration map.
pub const NO_MAP: &str = "the baseline has no configuration map (captured before patchdeck recorded one): \
     configuration drift was not compared; capture the baseline again to compare it";

/// The fleet's discovered drift, by item: hosts compared are those reached whose map came back.
fn drift_groups(hosts: &[HostReport]) -> Vec<crate::drift::DriftGroup> {
    let is_drift = |f: &&crate::diff::Finding| f.class.drift_area().is_some() && f.subject != crate::diff::MAP_MISSING;
    let compared: Vec<&str> = hosts
        .iter()
        .filter(|h| !h.is_unreachable() && !h.diff.findings.iter().any(|f| f.subject == crate::diff::MAP_MISSING))
        .filter(|h| !h.diff.findings.iter().any(|f| f.class == Class::Hostile))
        .map(HostReport::host)
        .collect();
    let seen: Vec<crate::drift::compare::Seen<'_>> = hosts
        .iter()
        .flat_map(|h| h.diff.findings.iter().filter(is_drift).map(move |f| (h.host(), f)))
        .filter_map(|(host, f)| {
            Some(crate::drift::compare::Seen {
                host,
                subject: &f.subject,
                area: f.class.drift_area()?,
                here: f.here.as_deref(),
                verdict: f.verdict,
            })
        })
        .collect();
    crate::drift::group(&compared, &seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, reachable: bool) -> HostReport {
        let diff = if reachable {
            HostDiff {
                host: name.into(),
                findings: Vec::new(),
                changes: Vec::new(),
                reboot_required: false,
                restart_services: Vec::new(),
            }
        } else {
            HostDiff::unreachable(name, "Connection refused", Class::Unreachable)
        };
        HostReport { diff, checks: Vec::new(), probe_millis: 1, resolver: None, shared_from: None }
    }

    fn report(hosts: Vec<HostReport>) -> Report {
        Report {
            window: "w".into(),
            baseline_host: "staging".into(),
            baseline_captured_at: jiff::Timestamp::UNIX_EPOCH,
            tested_updates: 0,
            hosts,
            risk: risk::assess(0.01, 0.25, 0),
            order_warning: None,
            drift: Vec::new(),
            drift_note: None,
        }
    }

    #[test]
    fn verdict_says_clean_findings_or_nothing_reached() {
        assert_eq!(report(vec![host("a", true), host("b", true)]).verdict(), Verdict::Clean);
        assert_eq!(report(vec![host("a", true), host("b", false)]).verdict(), Verdict::Findings);
        let none = report(vec![host("a", false), host("b", false)]);
        assert!(none.nothing_reached());
        assert_eq!(none.verdict(), Verdict::NothingReached);
        let hostile = HostReport {
            diff: HostDiff::unreachable("c", "refused to use this host's output", Class::Hostile),
            ..host("c", true)
        };
        assert_eq!(report(vec![host("a", false), hostile]).verdict(), Verdict::Findings, "a hostile host answered");
        let mut ordered = report(vec![host("a", true)]);
        ordered.order_warning = Some("first wave holds the heaviest host".into());
        assert_eq!(ordered.verdict(), Verdict::Findings, "the order warning is a finding");
    }

    /// Issue 14.7: a host not reached ran none of its own checks; the report never says its
    /// health is ok (even when the checks from the operator's side passed).
    #[test]
    fn a_host_not_reached_never_shows_health_ok() {
        let passed = CheckResult { check: "port".into(), host: "b".into(), ok: true, detail: "open".into(), millis: 1 };
        let mut down = host("b", false);
        down.checks.push(passed);
        let text = super::text::render(&report(vec![host("a", true), down]));
        let line = |h: &str| text.lines().find(|l| l.contains(&format!(" {h} "))).unwrap().to_string();
        assert!(line("a").contains("health ok"), "{text}");
        assert!(line("b").contains("health not checked") && !line("b").contains("health ok"), "{text}");
    }
}
