//! The drill's scorecard: per fault, how fast it was noticed, decided and recovered from;
//! whether every host ended as before the window (or upgraded, when it finished); the
//! decisions taken; and whether the scenario's expectations held.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::scenario::Scenario;
use crate::engine::control::{Choice, StopCode};
use crate::engine::event::{Decided, Event, HostResult};
pub use crate::engine::scorecard::{DecisionTaken, Expectation, FaultScore, HostEnd, Scorecard, StopScore};

/// Seconds on the drill clock between two moments.
fn secs(from: jiff::Timestamp, to: jiff::Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64()
}

/// Everything the scorecard is computed from.
pub struct Inputs<'a> {
    pub scenario: &'a Scenario,
    pub window: &'a str,
    pub target: &'a str,
    pub speed: f64,
    pub start: jiff::Timestamp,
    /// Every journaled event with its drill-clock time.
    pub timed: &'a [(jiff::Timestamp, Event)],
    /// Per window host: installed versions before the window and at its end (`None`: unknown).
    pub before: &'a BTreeMap<String, BTreeMap<String, String>>,
    pub after: &'a BTreeMap<String, Option<BTreeMap<String, String>>>,
    /// Problems found outside the expectations (faults that never fired or failed to apply).
    pub problems: Vec<String>,
    /// Live drills: each fault command undone after the drill (`CMD restore HOST`), or why not.
    pub undone: Vec<Result<String, String>>,
}

pub fn compute(i: Inputs<'_>) -> Scorecard {
    let ev = i.timed;
    // Stops in order, with their milestones.
    let mut stops: Vec<(usize, StopScore)> = Vec::new();
    let mut decisions = Vec::new();
    for (k, (at, e)) in ev.iter().enumerate() {
        match e {
            Event::HardStop { id, host, stop, .. } => stops.push((
                k,
                StopScore {
                    id: *id,
                    host: host.clone(),
                    kind: stop.code(),
                    headline: stop.headline(),
                    detect_s: secs(i.start, *at),
                    decide_s: None,
                    decision: None,
                    recover_s: None,
                },
            )),
            Event::Decided(Decided { id, host, decision, operators, by }) => {
                decisions.push(DecisionTaken {
                    stop: *id,
                    host: host.clone(),
                    decision: decision.choice,
                    by: by.as_ref().map_or_else(|| operators.clone(), |a| vec![a.describe()]),
                });
            }
            _ => {}
        }
    }
    let stop_time = |k: usize| ev[k].0;
    // Milestones relative to `origin`.
    let milestones = |k: usize, s: &mut StopScore, origin: jiff::Timestamp| {
        s.detect_s = secs(origin, stop_time(k));
        // A failed health check is noticed when auto-rollback is armed; the stop itself is
        // journaled after the countdown.
        if s.kind == StopCode::HealthFailed
            && let Some((at, _)) = ev[..k]
                .iter()
                .rev()
                .find(|(_, e)| matches!(e, Event::AutoRollbackArmed { host, .. } if Some(host) == s.host.as_ref()))
        {
            s.detect_s = secs(origin, *at);
        }
        let decided = ev[k..].iter().find(|(_, e)| matches!(e, Event::Decided(d) if d.id == s.id));
        if let Some((at, Event::Decided(d))) = decided {
            s.decide_s = Some(secs(origin, *at));
            s.decision = Some(d.decision.choice);
        }
        // The host this stop concerns: its own, or (window-wide stops) the one being driven.
        let host = s.host.clone();
        let recovered = ev[k..].iter().find(|(_, e)| match e {
            Event::HostFinished { host: h, result: HostResult::RolledBack } => host.as_ref().is_none_or(|x| x == h),
            _ => false,
        });
        let verified_ok = |h: &str| i.after.get(h).and_then(|a| a.as_ref()).map(|a| Some(a) == i.before.get(h));
        if let Some((at, Event::HostFinished { host: h, .. })) = recovered
            && verified_ok(h) != Some(false)
        {
            s.recover_s = Some(secs(origin, *at));
        }
    };

    let mut used = BTreeSet::new();
    let mut faults = Vec::new();
    for (n, f) in i.scenario.faults.iter().enumerate() {
        let label = f.label();
        // The n-th FaultInjected with this label.
        let nth = i.scenario.faults[..n].iter().filter(|g| g.label() == label).count();
        let injected = ev
            .iter()
            .enumerate()
            .filter(|(_, (_, e))| matches!(e, Event::FaultInjected { fault, .. } if *fault == label))
            .nth(nth);
        let mut score = FaultScore { fault: label, host: f.host.clone(), injected_s: None, stop: None };
        if let Some((k0, (_, Event::FaultInjected { at: at0, .. }))) = injected {
            score.injected_s = Some(secs(i.start, *at0));
            // The first stop after the injection, on its host or the window, not yet claimed.
            if let Some((k, s)) = stops.iter().find(|(k, s)| {
                *k > k0 && !used.contains(&s.id) && (s.host.is_none() || f.host.is_none() || s.host == f.host)
            }) {
                used.insert(s.id);
                let mut s = s.clone();
                milestones(*k, &mut s, *at0);
                score.stop = Some(s);
            }
        }
        faults.push(score);
    }
    let other_stops: Vec<StopScore> = stops
        .iter()
        .filter(|(_, s)| !used.contains(&s.id))
        .map(|(k, s)| {
            let mut s = s.clone();
            milestones(*k, &mut s, i.start);
            s
        })
        .collect();

    let results: BTreeMap<String, HostResult> = ev
        .iter()
        .filter_map(|(_, e)| match e {
            Event::HostFinished { host, result } => Some((host.clone(), *result)),
            _ => None,
        })
        .collect();
    let hosts: Vec<HostEnd> = i
        .after
        .iter()
        .map(|(h, after)| {
            let (as_before, differences) = match (i.before.get(h), after) {
                (None, _) | (_, None) => (None, vec![]),
                (Some(before), Some(a)) => {
                    let names: BTreeSet<&String> = before.keys().chain(a.keys()).collect();
                    let d: Vec<String> = names
                        .into_iter()
                        .filter(|n| before.get(*n) != a.get(*n))
                        .map(|n| {
                            let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "absent".into());
                            format!("{n}: {} -> {}", show(before.get(n)), show(a.get(n)))
                        })
                        .collect();
                    (Some(d.is_empty()), d)
                }
            };
            HostEnd { host: h.clone(), result: results.get(h).copied(), as_before, differences }
        })
        .collect();

    // Expectations, each matched to the first unclaimed stop of its kind (and host).
    let mut expectations = Vec::new();
    let mut claimed = BTreeSet::new();
    let all: Vec<&StopScore> =
        faults.iter().filter_map(|f| f.stop.as_ref()).chain(other_stops.iter()).collect::<Vec<_>>();
    let mut all = all;
    all.sort_by_key(|s| s.id);
    for x in &i.scenario.expects {
        let what = format!(
            "{} stop{}{}{}",
            x.stop.name(),
            x.host.as_ref().map(|h| format!(" on {h}")).unwrap_or_default(),
            x.decision.map(|d| format!(", decision {}", d.name())).unwrap_or_default(),
            match x.rollback_verified {
                Some(true) => ", rolled back to exactly the pre-window versions",
                Some(false) => ", not restored",
                None => "",
            }
        );
        let found = all
            .iter()
            // A window-wide stop (deadline, risk) matches an expectation about any host.
            .find(|s| {
                !claimed.contains(&s.id)
                    && s.kind == x.stop
                    && (x.host.is_none() || s.host.is_none() || s.host == x.host)
            });
        let (held, detail) = match found {
            None => (false, "no such hard stop".to_string()),
            Some(s) => {
                claimed.insert(s.id);
                let mut bad = Vec::new();
                if let Some(d) = x.decision
                    && s.decision != Some(d)
                {
                    bad.push(format!("decision was {}", s.decision.map_or("none", Choice::name)));
                }
                if let Some(want) = x.rollback_verified {
                    let host = x.host.clone().or_else(|| s.host.clone());
                    let end = host.as_ref().and_then(|h| hosts.iter().find(|e| &e.host == h));
                    let restored =
                        end.is_some_and(|e| e.result == Some(HostResult::RolledBack) && e.as_before == Some(true));
                    if restored != want {
                        bad.push(match end {
                            Some(e) => format!(
                                "{} ended {}, packages {}",
                                e.host,
                                e.result.map_or("untouched", crate::narrate::host_result),
                                match e.as_before {
                                    Some(true) => "as before".to_string(),
                                    Some(false) => format!("differ ({})", e.differences.join(", ")),
                                    None => "unknown".to_string(),
                                }
                            ),
                            None => "no host to check".into(),
                        });
                    }
                }
                (bad.is_empty(), if bad.is_empty() { format!("stop #{}", s.id) } else { bad.join("; ") })
            }
        };
        expectations.push(Expectation { what, held, detail });
    }
    for p in i.problems {
        expectations.push(Expectation { what: "every fault injected".into(), held: false, detail: p });
    }
    for u in i.undone {
        let (held, detail) = match u {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        expectations.push(Expectation { what: "faults undone after the drill".into(), held, detail });
    }
    let passed = expectations.iter().all(|e| e.held);
    Scorecard {
        scenario: i.scenario.name.clone(),
        description: i.scenario.description.clone(),
        window: i.window.to_string(),
        target: i.target.to_string(),
        speed: i.speed,
        ran_at: jiff::Timestamp::now(),
        faults,
        other_stops,
        decisions,
        hosts,
        expectations,
        passed,
    }
}

fn show_s(v: Option<f64>) -> String {
    v.map_or("-".into(), |s| format!("{s:.1}s"))
}

impl Scorecard {
    /// The scorecard as text, one line per item (the caller prefixes `[DRILL]`).
    pub fn render(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.push(format!(
            "SCORECARD {} ({}, {}): {}",
            self.scenario,
            self.window,
            self.target,
            if self.passed { "PASSED" } else { "FAILED" }
        ));
        if !self.description.is_empty() {
            out.push(format!("  {}", self.description));
        }
        out.push("  fault                                host      injected  stop                  detect  decide  recover  decision".into());
        let row = |name: &str, host: &str, inj: String, s: Option<&StopScore>| {
            let mut l = String::new();
            let _ = write!(l, "  {name:<36.36} {host:<9.9} {inj:>8}  ");
            match s {
                Some(s) => {
                    let _ = write!(
                        l,
                        "{:<20.20} {:>7} {:>7} {:>8}  {}",
                        format!("#{} {}", s.id, s.kind.name()),
                        show_s(Some(s.detect_s)),
                        show_s(s.decide_s),
                        show_s(s.recover_s),
                        s.decision.map_or("-", Choice::name)
                    );
                }
                None => l.push_str("NOT DETECTED"),
            }
            l
        };
        for f in &self.faults {
            out.push(row(&f.fault, f.host.as_deref().unwrap_or("window"), show_s(f.injected_s), f.stop.as_ref()));
        }
        for s in &self.other_stops {
            out.push(row("(no injected fault)", s.host.as_deref().unwrap_or("window"), "-".into(), Some(s)));
        }
        out.push("  times: drill clock, from the fault's injection (other stops: from the window's start)".into());
        for h in &self.hosts {
            let state = match h.as_before {
                Some(true) => "packages as before the window".to_string(),
                Some(false) if h.result == Some(HostResult::Done) => {
                    format!("upgraded as planned ({} package(s) changed)", h.differences.len())
                }
                Some(false) => format!("packages differ: {}", h.differences.join(", ")),
                None => "unknown (could not probe)".to_string(),
            };
            let result = h.result.map_or("untouched", crate::narrate::host_result);
            out.push(format!("  host {:<9} {result:<10} {state}", h.host));
        }
        for d in &self.decisions {
            out.push(format!(
                "  decision at stop #{} ({}): {} by {}",
                d.stop,
                d.host.as_deref().unwrap_or("window"),
                d.decision.name(),
                d.by.join(", ")
            ));
        }
        for e in &self.expectations {
            out.push(format!("  expect {}: {} ({})", e.what, if e.held { "ok" } else { "FAILED" }, e.detail));
        }
        out
    }
}
