//! Engine scenarios on the simulated fleet: every hard-stop class, decisions, rollback and
//! its verification, driven through the same Decider API the cockpit uses.

use std::path::Path;
use std::sync::{Arc, Mutex};

use patchdeck::diag::SourceFile;
use patchdeck::engine::clock::ManualClock;
use patchdeck::engine::control::Choice;
use patchdeck::engine::decide::Scripted;
use patchdeck::engine::event::{Decided, Event, HostResult, Outcome, StopKind};
use patchdeck::engine::live::{self, Live, LiveFeed, RunId};
use patchdeck::engine::recorder::{MemoryLog, Recorder};
use patchdeck::engine::{Control, Engine, Parts, Plan, Reaches, Summary};
use patchdeck::pkg::Managers;
use patchdeck::sim::SimTransport;
use patchdeck::sim::{Fault, FaultEffect, Fleet, SimProber};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo");

/// The demo runbook with `edit` applied to its text, in a temp dir beside the demo files.
fn runbook(dir: &Path, edit: impl Fn(String) -> String) -> patchdeck::runbook::Runbook {
    for f in ["hosts.toml", "tested.toml"] {
        std::fs::copy(Path::new(DEMO).join(f), dir.join(f)).unwrap();
    }
    let text = edit(std::fs::read_to_string(Path::new(DEMO).join("runbook.toml")).unwrap());
    let path = dir.join("runbook.toml");
    std::fs::write(&path, text).unwrap();
    patchdeck::runbook::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn fleet(setup: impl FnOnce(&Fleet)) -> Fleet {
    let f = Fleet::from_toml(&SourceFile::read(&Path::new(DEMO).join("fleet.toml")).unwrap()).unwrap().with_speed(0.0);
    setup(&f);
    f
}

struct Run {
    summary: Summary,
    events: Vec<Event>,
    seen: Vec<patchdeck::engine::state::OpenStop>,
    fleet: Fleet,
}

async fn run(rb: &patchdeck::runbook::Runbook, fleet: Fleet, decisions: Vec<Choice>, now: &str) -> Run {
    run_watched(rb, fleet, decisions, now, None).await
}

/// [`run`], with a live feed watching (as the cockpit does) when `live` is given.
async fn run_watched(
    rb: &patchdeck::runbook::Runbook,
    fleet: Fleet,
    decisions: Vec<Choice>,
    now: &str,
    live: Option<LiveFeed>,
) -> Run {
    run_scripted(rb, fleet, Scripted::new(decisions), now, live).await
}

async fn run_scripted(
    rb: &patchdeck::runbook::Runbook,
    fleet: Fleet,
    decider: Scripted,
    now: &str,
    live: Option<LiveFeed>,
) -> Run {
    let (summary, events) = crate::support::window::run(rb, &fleet, &decider, now, live).await;
    Run { summary, events, seen: decider.seen(), fleet }
}

const BEFORE_DEADLINE: &str = "2026-11-22T22:05:00Z";

/// Resumes a window from `prior` (a journal cut short by a crash) on `fleet`, as
/// `run --resume` does: the state is the fold of what was journaled.
async fn resume(
    rb: &patchdeck::runbook::Runbook,
    fleet: Fleet,
    prior: &[Event],
    decisions: Vec<(Choice, Option<String>)>,
    now: &str,
) -> Run {
    let h = Harness::resuming(rb.clone(), &fleet, Scripted::with_reasons(decisions), prior, now);
    let summary = h.engine().run().await.unwrap();
    Run { summary, events: h.events(), seen: h.decider.seen(), fleet }
}

fn installed(fleet: &Fleet, host: &str, pkg: &str) -> Option<String> {
    fleet.with_host(host, |h| h.installed.get(pkg).cloned()).flatten()
}

fn only_hosts(hosts: &[&str]) -> impl Fn(String) -> String {
    let list = hosts.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ");
    move |text: String| {
        crate::support::demo::with_waves(
            &text,
            &format!("[[wave]]\nname = \"only\"\nhosts = [{list}]\nmax_failures = 10\n\n"),
        )
    }
}

/// The demo's hosts not in `hosts` must be in some wave: keep them out of the inventory
/// check by listing the rest in a second, untouched wave.
/// canary1 alone in a first wave (so its stops come first), the other hosts in a second.
fn canary_first(text: String) -> String {
    let two = only_hosts(&["web1", "web2", "web3", "api1", "shop1"])(text);
    two.replacen("[[wave]]\n", "[[wave]]\nname = \"canary\"\nhosts = [\"canary1\"]\nmax_failures = 1\n\n[[wave]]\n", 1)
}

/// Every host's whole installed map: package -> version.
fn installed_maps(fleet: &Fleet) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> {
    fleet.host_names().into_iter().map(|h| (h.clone(), fleet.with_host(&h, |s| s.installed.clone()).unwrap())).collect()
}

/// `before` with every tested update of a package it has set to the tested version: what a
/// host that installed exactly the tested versions holds afterwards.
fn with_tested(
    before: &std::collections::BTreeMap<String, String>,
    rb: &patchdeck::runbook::Runbook,
) -> std::collections::BTreeMap<String, String> {
    let baseline = patchdeck::baseline::load(&rb.baseline.file).unwrap();
    let mut after = before.clone();
    for u in &baseline.updates {
        if let Some(v) = after.get_mut(&u.name.to_string()) {
            *v = u.to.to_string();
        }
    }
    assert_ne!(&after, before, "the baseline changes something");
    after
}

#[tokio::test]
async fn clean_run_installs_exactly_the_tested_versions() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"]));
    let f = fleet(|_| {});
    let before = installed_maps(&f);
    // Only the clean hosts are reached: make the others' stops skips.
    let r = run(&rb, f, vec![Choice::Skip; 3], BEFORE_DEADLINE).await;
    assert_eq!(r.summary.results["canary1"], Some(HostResult::Done));
    assert_eq!(r.summary.results["web1"], Some(HostResult::Done));
    // Every host's whole package list: the clean hosts hold exactly what they held plus the
    // tested versions (nothing fewer, nothing more, nothing else); every other host (the
    // skipped ones, shop1 rolled back, staging) exactly what it held.
    let mut expected = before.clone();
    for h in ["canary1", "web1"] {
        expected.insert(h.to_string(), with_tested(&before[h], &rb));
    }
    let after = installed_maps(&r.fleet);
    for (host, want) in &expected {
        assert_eq!(&after[host], want, "{host}'s installed packages");
    }
    assert_eq!(after.len(), expected.len());
    // Each stop was a divergence, on the planted hosts, and they were left untouched.
    let stopped: Vec<_> = r.seen.iter().map(|s| s.host.clone().unwrap()).collect();
    assert_eq!(stopped.len(), 3, "{stopped:?}");
    for h in ["web2", "web3", "api1"] {
        assert!(stopped.contains(&h.to_string()), "{h} did not stop: {stopped:?}");
        assert_eq!(r.summary.results[h], Some(HostResult::Skipped));
    }
    assert!(r.seen.iter().all(|s| matches!(s.stop, StopKind::Divergence { .. })));
    // Write-ahead order for each step: StepStarted precedes its StepFinished; snapshot first.
    let pos = |f: &dyn Fn(&Event) -> bool| r.events.iter().position(f).unwrap();
    let snap = pos(&|e| matches!(e, Event::Snapshot { host, .. } if host == "canary1"));
    let start = pos(&|e| matches!(e, Event::StepStarted { host, step: 1, .. } if host == "canary1"));
    let fin = pos(&|e| matches!(e, Event::StepFinished { host, step: 1, .. } if host == "canary1"));
    assert!(snap < start && start < fin);
    assert!(matches!(r.events.last(), Some(Event::WindowFinished { aborted: false })));
}

#[tokio::test]
async fn version_mismatch_override_installs_the_tested_not_the_newer_version() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"]));
    let reason = "deb12u3 only rebuilds docs; tested deb12u2 is what we install";
    let decisions = vec![(Choice::Skip, None), (Choice::Override, Some(reason.to_string())), (Choice::Skip, None)];
    let r = run_scripted(&rb, fleet(|_| {}), Scripted::with_reasons(decisions), BEFORE_DEADLINE, None).await;
    let web3_stop = r.seen.iter().find(|s| s.host.as_deref() == Some("web3")).unwrap();
    let StopKind::Divergence { findings } = &web3_stop.stop else { panic!("{web3_stop:?}") };
    assert!(findings.iter().all(|f| f.class == patchdeck::diff::Class::VersionMismatch));
    assert_eq!(r.summary.results["web3"], Some(HostResult::Done));
    assert_eq!(installed(&r.fleet, "web3", "openssl").as_deref(), Some("3.0.17-1~deb12u2"));
    let decided = r.events.iter().find_map(|e| match e {
        Event::Decided(Decided { host: Some(h), decision, by, .. })
            if h == "web3" && decision.choice == Choice::Override =>
        {
            Some((decision.reason.clone(), decision.target.clone(), by.clone()))
        }
        _ => None,
    });
    let target = patchdeck::engine::control::Target::Host("web3".into());
    let scripted = patchdeck::engine::control::Actor::Scenario { name: "scripted".into() };
    assert_eq!(decided, Some((Some(reason.to_string()), target, Some(scripted))), "reason, target and who");
}

#[tokio::test]
async fn failing_health_check_auto_rolls_back_and_verifies_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["shop1", "canary1", "web1", "web2", "web3", "api1"]));
    let before: Vec<(String, String)> =
        fleet(|_| {}).with_host("shop1", |h| h.installed.clone().into_iter().collect()).unwrap();
    let r = run(&rb, fleet(|_| {}), vec![Choice::Skip; 3], BEFORE_DEADLINE).await;
    assert_eq!(r.summary.results["shop1"], Some(HostResult::RolledBack));
    let after: Vec<(String, String)> =
        r.fleet.with_host("shop1", |h| h.installed.clone().into_iter().collect()).unwrap();
    assert_eq!(after, before, "rollback restored every version");
    assert!(r.events.iter().any(|e| matches!(e, Event::AutoRollbackArmed { host, .. } if host == "shop1")));
    let verified = r.events.iter().any(|e| {
        matches!(e,
        Event::RollbackFinished { host, step: 1, verified: Some(true), outcome: Outcome::Ok, .. } if host == "shop1")
    });
    assert!(verified, "packages rollback verified");
    // The check failed right after the packages step (1): rollback undid it, then the drain (0).
    let order: Vec<usize> = r
        .events
        .iter()
        .filter_map(|e| match e {
            Event::RollbackStarted { host, step, .. } if host == "shop1" => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(order, [1, 0]);
    // The failure came after a change: shop1's checks passed in preflight.
    assert!(
        r.events.iter().any(
            |e| matches!(e, Event::Preflight { host, checks, .. } if host == "shop1" && checks.iter().all(|c| c.ok))
        )
    );
}

#[tokio::test]
async fn rollback_verification_catches_a_package_left_at_the_wrong_version() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["shop1", "canary1", "web1", "web2", "web3", "api1"]));
    let f = fleet(|f| {
        f.with_host("shop1", |h| {
            h.faults.push(Fault {
                on: "libssl3=3.0.15-1~deb12u1".into(),
                effect: FaultEffect::KeepVersion("libssl3".into()),
                sticky: false,
            })
        });
    });
    // After the unverified rollback stop: abort.
    let r = run(&rb, f, vec![Choice::Skip, Choice::Skip, Choice::Skip, Choice::Abort], BEFORE_DEADLINE).await;
    let unverified = r
        .seen
        .iter()
        .find(|s| matches!(s.stop, StopKind::RollbackUnverified { .. }))
        .expect("unverified rollback stop");
    let StopKind::RollbackUnverified { mismatches } = &unverified.stop else { unreachable!() };
    assert_eq!(mismatches, &["libssl3: expected 3.0.15-1~deb12u1, found 3.0.17-1~deb12u2".to_string()]);
    assert!(
        r.events
            .iter()
            .any(|e| matches!(e, Event::RollbackFinished { host, verified: Some(false), .. } if host == "shop1"))
    );
    assert_ne!(r.summary.results["shop1"], Some(HostResult::RolledBack), "an unverified rollback is never a success");
}

#[tokio::test]
async fn a_packages_step_that_fails_half_way_is_restored_to_its_snapshot() {
    // apt unpacked the new versions, then a maintainer script failed: the step failed, but
    // the packages changed.
    let half_applied = |also_fail_restart: bool| {
        fleet(move |f| {
            f.with_host("canary1", |h| {
                let on = "--no-remove --allow-downgrades".into();
                h.faults.push(Fault { on, effect: FaultEffect::ExitAfter(1), sticky: false });
                if also_fail_restart {
                    let on = "systemctl restart nginx".into();
                    h.faults.push(Fault { on, effect: FaultEffect::Exit(1), sticky: false });
                }
            });
        })
    };
    let dir = tempfile::tempdir().unwrap();
    // canary1 alone in the first wave, so its stops come first; the others only skip.
    let rb = runbook(dir.path(), canary_first);
    let skips = vec![Choice::Skip; 3]; // web2, web3, api1's planted divergences
    let step_failed = |stop: &patchdeck::engine::state::OpenStop, name: &str| {
        matches!(&stop.stop, StopKind::StepFailed { step, status: Some(1), .. } if step == name)
            && stop.host.as_deref() == Some("canary1")
    };
    let verified = |events: &[Event], step: usize| {
        events.iter().any(|e| {
            matches!(e, Event::RollbackFinished { host, step: s, outcome: Outcome::Ok, verified: Some(true), .. }
                if host == "canary1" && *s == step)
        })
    };

    // 1. Rolled back at once: the failed step's snapshot is restored, the drain undone.
    let f = half_applied(false);
    let before = f.with_host("canary1", |h| h.installed.clone()).unwrap();
    let r = run(&rb, f, [vec![Choice::RollbackHost], skips.clone()].concat(), BEFORE_DEADLINE).await;
    assert!(step_failed(&r.seen[0], "apply tested updates"), "{:?}", r.seen[0]);
    assert_eq!(r.summary.results["canary1"], Some(HostResult::RolledBack));
    assert_eq!(r.fleet.with_host("canary1", |h| h.installed.clone()).unwrap(), before);
    assert!(verified(&r.events, 1), "{:#?}", r.events);
    assert!(r.events.iter().any(|e| matches!(e, Event::RollbackFinished { host, step: 0, .. } if host == "canary1")));

    // 2. Retried: the packages are already there, so it succeeds; a later step fails and
    //    the rollback restores the state before the window, not the half-applied one the
    //    retry's snapshot saw.
    let f = half_applied(true);
    let before = f.with_host("canary1", |h| h.installed.clone()).unwrap();
    let r = run(&rb, f, [vec![Choice::Retry, Choice::RollbackHost], skips].concat(), BEFORE_DEADLINE).await;
    assert!(step_failed(&r.seen[0], "apply tested updates"), "{:?}", r.seen[0]);
    assert!(step_failed(&r.seen[1], "restart nginx"), "{:?}", r.seen[1]);
    let snapshots = r.events.iter().filter(|e| matches!(e, Event::Snapshot { host, .. } if host == "canary1")).count();
    assert_eq!(snapshots, 2, "the retry took a snapshot of its own");
    assert_eq!(r.summary.results["canary1"], Some(HostResult::RolledBack));
    assert_eq!(r.fleet.with_host("canary1", |h| h.installed.clone()).unwrap(), before);
    assert!(verified(&r.events, 1), "{:#?}", r.events);
}

#[tokio::test]
async fn failed_step_stops_and_rollback_undoes_what_was_done() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"]));
    let f = fleet(|f| {
        f.with_host("canary1", |h| {
            h.faults.push(Fault { on: "systemctl restart nginx".into(), effect: FaultEffect::Exit(1), sticky: false })
        });
    });
    let r = run(&rb, f, vec![Choice::RollbackHost, Choice::Abort], BEFORE_DEADLINE).await;
    let first = &r.seen[0];
    assert_eq!(first.host.as_deref(), Some("canary1"));
    assert!(
        matches!(&first.stop, StopKind::StepFailed { step, status: Some(1), .. } if step == "restart nginx"),
        "{first:?}"
    );
    assert_eq!(r.summary.results["canary1"], Some(HostResult::RolledBack));
    assert_eq!(installed(&r.fleet, "canary1", "libssl3").as_deref(), Some("3.0.15-1~deb12u1"));
    assert!(r.summary.aborted);
    // canary1, web1, then web2's divergence is answered with abort: web3 is never touched.
    assert_eq!(installed(&r.fleet, "web1", "libssl3").as_deref(), Some("3.0.17-1~deb12u2"));
    assert_eq!(installed(&r.fleet, "web3", "libssl3").as_deref(), Some("3.0.15-1~deb12u1"), "nothing after abort");
}

#[tokio::test]
async fn unreachable_mid_window_and_step_timeout_are_hard_stops() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), |t| {
        only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"])(t)
            .replace("run = \"systemctl restart nginx\"", "run = \"systemctl restart nginx\"\ntimeout = \"1s\"")
    });
    let f = fleet(|f| {
        f.with_host("canary1", |h| {
            h.faults.push(Fault { on: "systemctl restart nginx".into(), effect: FaultEffect::Hang, sticky: false })
        });
        f.with_host("web1", |h| {
            h.faults.push(Fault {
                on: "systemctl restart nginx".into(),
                effect: FaultEffect::Unreachable,
                sticky: false,
            })
        });
    });
    // canary1 changed before it timed out: it can no longer be skipped; roll it back.
    let r = run(&rb, f, vec![Choice::RollbackHost, Choice::Abort], BEFORE_DEADLINE).await;
    assert!(
        matches!(&r.seen[0].stop, StopKind::StepTimeout { step, after_secs: 1 } if step == "restart nginx"),
        "{:?}",
        r.seen[0]
    );
    assert_eq!(r.seen[1].host.as_deref(), Some("web1"));
    assert!(matches!(&r.seen[1].stop, StopKind::Unreachable { .. }), "{:?}", r.seen[1]);
}

#[tokio::test]
async fn deadline_and_irreversible_steps_need_a_decision() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), |t| {
        only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"])(t).replace(
            "name = \"restart nginx\"\nrun = \"systemctl restart nginx\"\nrollback = \"systemctl restart nginx\"",
            "name = \"restart nginx\"\nrun = \"systemctl restart nginx\"\nirreversible = true",
        )
    });
    // 23:15 is past "decide by" (23:30 - 20m).
    let decisions =
        vec![(Choice::Override, Some("customer approved 10 more minutes".to_string())), (Choice::Abort, None)];
    let r = run_scripted(&rb, fleet(|_| {}), Scripted::with_reasons(decisions), "2026-11-22T23:15:00Z", None).await;
    assert!(matches!(r.seen[0].stop, StopKind::Deadline { .. }), "{:?}", r.seen[0]);
    assert_eq!(r.seen[0].host, None, "the deadline is the window's, not a host's");
    assert!(matches!(&r.seen[1].stop, StopKind::Irreversible { step } if step == "restart nginx"), "{:?}", r.seen[1]);
    assert_eq!(r.seen.len(), 2, "the deadline is decided once for the window");
    assert!(r.summary.aborted);
}

#[tokio::test]
async fn rollback_everything_undoes_earlier_hosts_too() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"]));
    let r = run(&rb, fleet(|_| {}), vec![Choice::RollbackAll], BEFORE_DEADLINE).await;
    assert_eq!(r.seen[0].host.as_deref(), Some("web2"));
    for h in ["canary1", "web1"] {
        assert_eq!(r.summary.results[h], Some(HostResult::RolledBack), "{h}");
        assert_eq!(installed(&r.fleet, h, "libssl3").as_deref(), Some("3.0.15-1~deb12u1"), "{h} restored");
    }
    assert!(r.summary.aborted);
    assert_eq!(installed(&r.fleet, "web3", "libssl3").as_deref(), Some("3.0.15-1~deb12u1"), "never started");
    assert_eq!(r.summary.results["web2"], Some(HostResult::NotStarted), "nothing was done on web2: nothing to undo");
}

#[tokio::test]
async fn risk_over_maximum_stops_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), |t| {
        only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"])(t)
            .replace("max_risk = 0.25", "max_risk = 0.05")
    });
    let r = run(&rb, fleet(|_| {}), vec![Choice::Abort], BEFORE_DEADLINE).await;
    assert!(matches!(r.seen[0].stop, StopKind::RiskOver { changes: 10, .. }), "{:?}", r.seen[0]);
    assert!(!r.events.iter().any(|e| matches!(e, Event::StepStarted { .. })), "nothing ran");
}

#[tokio::test]
async fn reboot_required_without_a_reboot_step_stops() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"]));
    let f = fleet(|f| {
        f.with_host("canary1", |h| h.reboot_required = true);
    });
    let r = run(&rb, f, vec![Choice::RollbackHost, Choice::Abort], BEFORE_DEADLINE).await;
    assert!(matches!(r.seen[0].stop, StopKind::RebootRequired { .. }), "{:?}", r.seen[0]);
    assert_eq!(r.summary.results["canary1"], Some(HostResult::RolledBack));
}

/// Operators ask for a rollback while the window runs (the cockpit's key): the host rolls
/// back between steps; the request is journaled with who asked.
#[tokio::test]
async fn rollback_requested_mid_window_is_honoured_between_steps() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"]));
    let f = fleet(|_| {}).with_speed(0.05);
    let baseline = patchdeck::baseline::load(&rb.baseline.file).unwrap();
    let transport = SimTransport::new(f.clone());
    let prober = SimProber(f.clone());
    let clock = ManualClock::new(BEFORE_DEADLINE.parse().unwrap());
    let decider = Scripted::new(vec![Choice::Abort]);
    let (recorder, log) = Recorder::in_memory();
    let engine = Engine::new(Parts::new(
        Plan { runbook: &rb, baseline: &baseline },
        Reaches { transport: &transport, local: &transport, prober: &prober, managers: Managers::standard() },
        Control { clock: &clock, decider: &decider, recorder: &recorder, operators: vec!["carol".into()] },
    ));
    let ask = async {
        // As soon as canary1's packages step has finished, ask for its rollback.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            assert!(std::time::Instant::now() < deadline, "the packages step never finished");
            if recorder.with_state(|s| s.host("canary1").is_some_and(|h| h.done.contains(&1))) {
                let r = patchdeck::engine::event::Request::RollbackHost { host: "canary1".into() };
                engine.request(r, vec!["carol".into()]).await.unwrap();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    let (summary, ()) = tokio::join!(engine.run(), ask);
    let summary = summary.unwrap();
    assert_eq!(summary.results["canary1"], Some(HostResult::RolledBack));
    assert_eq!(installed(&f, "canary1", "libssl3").as_deref(), Some("3.0.15-1~deb12u1"));
    let events = log.lock().unwrap().clone();
    assert!(events.iter().any(|e| matches!(e, Event::Requested { operators, .. } if operators == &["carol"])));
    // The journal replays to the very state the engine ended with.
    assert_eq!(patchdeck::engine::state::WindowState::fold(&events), recorder.state());
}

#[tokio::test]
async fn every_host_finishes_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["shop1", "canary1", "web1", "web2", "web3", "api1"]));
    let r = run(&rb, fleet(|_| {}), vec![Choice::Skip; 3], BEFORE_DEADLINE).await;
    for h in ["shop1", "canary1", "web1", "web2", "web3", "api1"] {
        let n = r.events.iter().filter(|e| matches!(e, Event::HostFinished { host, .. } if host == h)).count();
        assert_eq!(n, 1, "{h} finished {n} times");
    }
    assert_eq!(r.summary.results["shop1"], Some(HostResult::RolledBack), "auto-rollback");
}

/// The demo's "web" wave allows no failures: a host rolled back there is a window-level stop.
#[tokio::test]
async fn a_wave_over_max_failures_stops_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), |t| t);
    let f = fleet(|f| {
        f.with_host("web1", |h| {
            h.faults.push(Fault { on: "systemctl restart nginx".into(), effect: FaultEffect::Exit(1), sticky: false })
        });
    });
    // web1 fails -> rollback; the budget is spent before web2 is even looked at -> abort.
    let decisions = vec![Choice::RollbackHost, Choice::Abort];
    let r = run(&rb, f, decisions, BEFORE_DEADLINE).await;
    // The demo's go/no-go before the web wave was opened first.
    assert!(matches!(&r.seen[0].stop, StopKind::Gate { wave } if wave == "web"), "{:?}", r.seen);
    let seen = &r.seen[1..];
    let last = seen.last().unwrap();
    assert_eq!(seen.len(), 2, "{:?}", r.seen);
    assert_eq!(last.host, None);
    assert!(matches!(&last.stop, StopKind::TooManyFailures { wave, failures: 1, max: 0 } if wave == "web"), "{last:?}");
    assert!(r.summary.aborted);
    assert_eq!(r.summary.results["web1"], Some(HostResult::RolledBack));
    assert_eq!(r.summary.results["web2"], Some(HostResult::NotStarted), "no host of the wave started after it");
    assert_eq!(r.summary.failures, 1, "rolled back, web1 still counts as a failure");
    assert_eq!(r.summary.results["api1"], None, "the core wave never started");
}

/// The demo fleet where canary1 drops off the network during its restart, after the packages
/// step, and stays down: every attempt to roll back its packages fails.
fn canary_gone_after_its_packages() -> Fleet {
    fleet(|f| {
        f.with_host("canary1", |h| {
            h.faults.push(Fault {
                on: "systemctl restart nginx".into(),
                effect: FaultEffect::Unreachable,
                sticky: false,
            })
        });
    })
}

/// A rollback that keeps failing (the host is gone) is not retried forever by a standing
/// "rollback" decision: after a few attempts the host is left failed.
#[tokio::test]
async fn a_standing_rollback_decision_does_not_loop_on_a_dead_host() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"]));
    let f = canary_gone_after_its_packages();
    let r = run(&rb, f, vec![Choice::RollbackHost; 20], BEFORE_DEADLINE).await;
    let on_canary = r.seen.iter().filter(|s| s.host.as_deref() == Some("canary1")).count();
    assert_eq!(on_canary, 1 + 3, "unreachable mid-step, then three failed rollback attempts");
    assert_eq!(r.summary.results["canary1"], Some(HostResult::Failed));
}

/// Scripted answers, noting when each stop of a host was raised.
struct Timed {
    inner: Scripted,
    at: Mutex<Vec<(Option<String>, std::time::Instant)>>,
}

#[async_trait::async_trait]
impl patchdeck::engine::Decider for Timed {
    async fn decide(&self, stop: &patchdeck::engine::state::OpenStop) -> patchdeck::engine::Verdict {
        self.at.lock().unwrap().push((stop.host.clone(), std::time::Instant::now()));
        self.inner.decide(stop).await
    }
    async fn auto_rollback_countdown(&self, host: &str, seconds: u64) -> Option<patchdeck::engine::control::Actor> {
        self.inner.auto_rollback_countdown(host, seconds).await
    }
}

/// A host that stays down fails its rollback at once, every time: the attempts a standing
/// "rollback" decision makes are spread out, each wait longer than the one before.
#[tokio::test]
async fn rollback_retries_of_a_dead_host_back_off() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"]));
    let f = canary_gone_after_its_packages();
    let decider = Timed { inner: Scripted::new(vec![Choice::RollbackHost; 20]), at: Mutex::new(Vec::new()) };
    let backoff = std::time::Duration::from_millis(300);
    let (summary, _) = crate::support::window::run_backing_off(&rb, &f, &decider, BEFORE_DEADLINE, None, backoff).await;
    assert_eq!(summary.results["canary1"], Some(HostResult::Failed));
    let at: Vec<std::time::Instant> = decider
        .at
        .into_inner()
        .unwrap()
        .into_iter()
        .filter(|(h, _)| h.as_deref() == Some("canary1"))
        .map(|(_, t)| t)
        .collect();
    // The stop mid-step, then one per failed rollback attempt.
    assert_eq!(at.len(), 4, "{at:?}");
    let (first, second) = (at[2] - at[1], at[3] - at[2]);
    assert!(first >= backoff, "the second attempt came {first:?} after the first");
    assert!(second >= backoff * 2, "the third attempt came {second:?} after the second: no longer wait");
    // The production wait: seconds, growing, bounded.
    use patchdeck::engine::run::{ROLLBACK_RETRY_BACKOFF, retry_wait};
    assert!(ROLLBACK_RETRY_BACKOFF >= std::time::Duration::from_secs(1));
    assert_eq!(retry_wait(ROLLBACK_RETRY_BACKOFF, 2), ROLLBACK_RETRY_BACKOFF * 2);
    assert_eq!(retry_wait(ROLLBACK_RETRY_BACKOFF, 40), std::time::Duration::from_secs(60));
}

fn run_id(host: &str, step: usize, rollback: bool) -> RunId {
    RunId { host: host.into(), step, rollback }
}

#[tokio::test]
async fn output_is_fed_live_between_its_steps_events_and_never_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["shop1", "canary1", "web1", "web2", "web3", "api1"]));
    let (feed, rx) = live::feed(live::CAPACITY);
    let r = run_watched(&rb, fleet(|_| {}), vec![Choice::Skip; 3], BEFORE_DEADLINE, Some(feed)).await;
    let items = rx.try_batch();

    // The feed carries every journaled event, in journal order.
    let events: Vec<&Event> =
        items.iter().filter_map(|i| if let Live::Event(e) = i { Some(e) } else { None }).collect();
    assert_eq!(events, r.events.iter().collect::<Vec<_>>());
    assert!(!items.iter().any(|i| matches!(i, Live::Dropped { .. })), "nothing dropped with room to spare");

    // canary1's install: apt's lines, tagged with the packages step, after its StepStarted
    // and before its StepFinished.
    let pos = |f: &dyn Fn(&Live) -> bool| items.iter().position(f).unwrap();
    let started = pos(&|i| matches!(i, Live::Event(Event::StepStarted { host, step: 1, .. }) if host == "canary1"));
    let finished = pos(&|i| matches!(i, Live::Event(Event::StepFinished { host, step: 1, .. }) if host == "canary1"));
    let lines: Vec<(usize, &str)> = items
        .iter()
        .enumerate()
        .filter_map(|(n, i)| match i {
            Live::Line { run, line } if **run == run_id("canary1", 1, false) => Some((n, line.text.as_str())),
            _ => None,
        })
        .collect();
    assert!(lines.iter().any(|(_, l)| *l == "Setting up libssl3 (3.0.17-1~deb12u2) ..."), "{lines:?}");
    assert!(lines.iter().all(|(n, _)| started < *n && *n < finished), "lines inside their step");

    // shop1's auto-rollback restores its packages: those lines are tagged as the rollback.
    let restored = items.iter().any(|i| {
        matches!(i, Live::Line { run, line } if **run == run_id("shop1", 1, true) && line.text.starts_with("Setting up "))
    });
    assert!(restored, "the rollback's output is fed as the rollback's");
    // The journal holds no line of output beyond the outcomes it always had.
    let journal = serde_json::to_string(&r.events).unwrap();
    assert!(!journal.contains("Setting up libssl3"), "output lines are never journaled");
}

#[tokio::test]
async fn a_watcher_that_never_reads_cannot_hold_the_engine_back() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["shop1", "canary1", "web1", "web2", "web3", "api1"]));
    let decisions = || vec![Choice::Skip; 3];
    // Everything a watcher with room to spare gets...
    let (feed, rx) = live::feed(live::CAPACITY);
    let all = run_watched(&rb, fleet(|_| {}), decisions(), BEFORE_DEADLINE, Some(feed)).await;
    let all_items = rx.try_batch();
    let total = all_items.iter().filter(|i| matches!(i, Live::Line { .. })).count() as u64;
    assert!(total > 20, "{total}");

    // ...against one with room for 3 lines, read only once the window is over.
    let (feed, rx) = live::feed(3);
    let slow = run_watched(&rb, fleet(|_| {}), decisions(), BEFORE_DEADLINE, Some(feed)).await;
    assert_eq!(slow.summary, all.summary, "the window ran to the same end");
    let items = rx.try_batch();
    let kept = items.iter().filter(|i| matches!(i, Live::Line { .. })).count() as u64;
    let dropped: u64 = items.iter().map(|i| if let Live::Dropped { lines, .. } = i { *lines } else { 0 }).sum();
    assert_eq!(kept, 3);
    assert_eq!(kept + dropped, total, "every line is either delivered or counted as dropped");
    let events = items.iter().filter(|i| matches!(i, Live::Event(_))).count();
    assert_eq!(events, slow.events.len(), "events are never dropped");
}

/// A crash in the middle of a host's rollback: on resume the host goes on going back (after
/// a decision about the interrupted rollback step), never forward again.
#[tokio::test]
async fn a_crash_during_a_rollback_resumes_the_rollback_never_the_steps() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"]));
    let with_fault = |f: &Fleet| {
        f.with_host("canary1", |h| {
            h.faults.push(Fault { on: "systemctl restart nginx".into(), effect: FaultEffect::Exit(1), sticky: false })
        });
    };
    let first = run(&rb, fleet(with_fault), vec![Choice::RollbackHost, Choice::Abort], BEFORE_DEADLINE).await;
    assert_eq!(first.summary.results["canary1"], Some(HostResult::RolledBack));
    // Cut the journal right after the packages step's rollback was announced.
    let cut = first
        .events
        .iter()
        .position(|e| matches!(e, Event::RollbackStarted { host, name, .. } if host == "canary1" && name == "apply tested updates"))
        .expect("the packages step was rolled back");
    let prior = &first.events[..=cut];

    for (decision, expect) in [
        ((Choice::Retry, None), HostResult::RolledBack),
        ((Choice::Override, Some("checked by hand: restored".to_string())), HostResult::RolledBack),
        ((Choice::Skip, None), HostResult::Failed),
    ] {
        // The fleet as the crash left it: updated, rollback not yet run.
        let f = fleet(with_fault);
        f.with_host("canary1", |h| {
            for (name, version) in [("libssl3", "3.0.17-1~deb12u2"), ("openssl", "3.0.17-1~deb12u2")] {
                h.installed.insert(name.into(), version.into());
            }
        });
        let r = resume(&rb, f, prior, vec![decision.clone(), (Choice::Abort, None)], BEFORE_DEADLINE).await;
        let stop = &r.seen[0];
        assert!(
            matches!(&stop.stop, StopKind::UnknownOutcome { step, .. } if step == "rollback of apply tested updates"),
            "{decision:?}: {stop:?}"
        );
        assert!(
            !r.events.iter().any(|e| matches!(e, Event::StepStarted { host, .. } if host == "canary1")),
            "{decision:?}: no step of canary1 ran forward after the crash",
        );
        assert_eq!(r.summary.results["canary1"], Some(expect), "{decision:?}");
        let undone: Vec<&str> = r
            .events
            .iter()
            .filter_map(|e| match e {
                Event::RollbackStarted { host, name, .. } if host == "canary1" => Some(name.as_str()),
                _ => None,
            })
            .collect();
        match decision.0 {
            Choice::Retry => {
                assert_eq!(undone, ["apply tested updates", "drain from load balancer"]);
                assert_eq!(installed(&r.fleet, "canary1", "libssl3").as_deref(), Some("3.0.15-1~deb12u1"));
            }
            // The operators said the packages rollback ran: only the steps before it remain.
            Choice::Override => assert_eq!(undone, ["drain from load balancer"]),
            _ => assert!(undone.is_empty(), "skip: nothing more runs on the host: {undone:?}"),
        }
    }
}

/// Engine and decider for a test that needs to act while the window runs.
struct Harness {
    rb: patchdeck::runbook::Runbook,
    baseline: patchdeck::baseline::Baseline,
    transport: SimTransport,
    prober: SimProber,
    clock: ManualClock,
    decider: Scripted,
    recorder: Recorder,
    log: Arc<Mutex<Vec<Event>>>,
}

impl Harness {
    fn new(rb: patchdeck::runbook::Runbook, f: &Fleet, decider: Scripted) -> Self {
        Self::resuming(rb, f, decider, &[], BEFORE_DEADLINE)
    }

    /// Starting from the fold of `prior` (a journal cut short by a crash), as `run --resume`
    /// does; nothing prior is a new window.
    fn resuming(rb: patchdeck::runbook::Runbook, f: &Fleet, decider: Scripted, prior: &[Event], now: &str) -> Self {
        let baseline = patchdeck::baseline::load(&rb.baseline.file).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let write = Box::new(MemoryLog(log.clone()));
        let recorder = Recorder::new(write, patchdeck::engine::state::WindowState::fold(prior));
        Harness {
            rb,
            baseline,
            transport: SimTransport::new(f.clone()),
            prober: SimProber(f.clone()),
            clock: ManualClock::new(now.parse().unwrap()),
            decider,
            recorder,
            log,
        }
    }
    fn engine(&self) -> Engine<'_> {
        Engine::new(Parts::new(
            Plan { runbook: &self.rb, baseline: &self.baseline },
            Reaches {
                transport: &self.transport,
                local: &self.transport,
                prober: &self.prober,
                managers: Managers::standard(),
            },
            Control {
                clock: &self.clock,
                decider: &self.decider,
                recorder: &self.recorder,
                operators: vec!["carol".into()],
            },
        ))
    }
    fn events(&self) -> Vec<Event> {
        self.log.lock().unwrap().clone()
    }
}

/// `W` in the cockpit: the whole current wave goes back, the host already done too.
#[tokio::test]
async fn rollback_of_the_wave_requested_mid_window_undoes_every_host_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), |text: String| {
        crate::support::demo::with_waves(
            &text,
            "[[wave]]\nname = \"pair\"\nhosts = [\"canary1\", \"web1\"]\n\n\
             [[wave]]\nname = \"rest\"\nhosts = [\"web2\", \"web3\", \"api1\", \"shop1\"]\n\n",
        )
    });
    let f = fleet(|_| {}).with_speed(0.05);
    // Rolled back on request, nothing failed: the next wave starts; web2's divergence is
    // answered with abort.
    let live = Harness::new(rb, &f, Scripted::new(vec![Choice::Abort]));
    let engine = live.engine();
    let ask = async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            assert!(std::time::Instant::now() < deadline, "the packages step never finished");
            if live.recorder.with_state(|s| s.host("web1").is_some_and(|h| h.done.contains(&1))) {
                let hosts = vec!["canary1".to_string(), "web1".to_string()];
                let r = patchdeck::engine::event::Request::RollbackWave { wave: "pair".into(), hosts };
                engine.request(r, vec!["carol".into()]).await.unwrap();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    let (summary, ()) = tokio::join!(engine.run(), ask);
    let summary = summary.unwrap();
    let events = live.events();
    for host in ["canary1", "web1"] {
        assert_eq!(summary.results[host], Some(HostResult::RolledBack), "{host}");
        assert_eq!(installed(&f, host, "libssl3").as_deref(), Some("3.0.15-1~deb12u1"), "{host}");
        assert!(
            events.iter().any(|e| matches!(e,
                Event::RollbackFinished { host: h, step: 1, verified: Some(true), .. } if h == host)),
            "{host}: packages rollback verified"
        );
    }
    let seen = live.decider.seen();
    assert!(
        !seen.iter().any(|s| matches!(&s.stop, StopKind::TooManyFailures { .. })),
        "a rollback people asked for is not a failure: {seen:?}"
    );
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].host.as_deref(), Some("web2"));
    assert_eq!(summary.failures, 0);
    assert!(summary.aborted);
    assert_eq!(installed(&f, "web2", "libssl3").as_deref(), Some("3.0.15-1~deb12u1"), "web2 was never touched");
}

/// The operators cancel the countdown: no rollback runs, the failing check becomes a hard
/// stop they answer themselves.
#[tokio::test]
async fn a_cancelled_auto_rollback_is_a_hard_stop_for_people_to_decide() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["shop1", "canary1", "web1", "web2", "web3", "api1"]));
    let f = fleet(|_| {});
    let mut decider = Scripted::new(vec![Choice::Abort]);
    decider.cancel_auto_rollback = true;
    decider.actor = patchdeck::engine::control::Actor::operator("carol");
    let live = Harness::new(rb, &f, decider);
    let summary = live.engine().run().await.unwrap();
    let events = live.events();
    assert!(events.iter().any(|e| matches!(e, Event::AutoRollbackArmed { host, .. } if host == "shop1")));
    assert!(events.iter().any(
        |e| matches!(e, Event::AutoRollbackCancelled { host, operators } if host == "shop1" && operators == &["carol"])
    ));
    let first = &live.decider.seen()[0];
    assert_eq!(first.host.as_deref(), Some("shop1"));
    assert!(matches!(&first.stop, StopKind::HealthFailed { .. }), "{first:?}");
    assert!(!events.iter().any(|e| matches!(e, Event::RollbackStarted { host, .. } if host == "shop1")));
    assert_eq!(summary.results["shop1"], Some(HostResult::Stopped), "changes not undone: rollback stays possible");
    assert_eq!(installed(&f, "shop1", "libssl3").as_deref(), Some("3.0.17-1~deb12u2"), "left as it is, as decided");
}

/// A check failing before the window is labelled as such and never blamed on a step.
#[tokio::test]
async fn a_check_already_failing_in_preflight_is_not_blamed_on_the_change() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"]));
    let f = fleet(|f| {
        f.with_host("canary1", |h| h.healthy = false);
    });
    let live = Harness::new(rb, &f, Scripted::new(vec![Choice::Abort]));
    let summary = live.engine().run().await.unwrap();
    let events = live.events();
    assert!(
        events.iter().any(|e| matches!(e, Event::Preflight { host, checks, .. }
            if host == "canary1" && checks.iter().any(|c| !c.ok && c.check == "site answers from outside"))),
        "the failure is known before the window"
    );
    assert!(
        events.iter().any(|e| matches!(e, Event::Checks { host, after_step: Some(_), results, .. }
            if host == "canary1" && results.iter().any(|c| !c.ok))),
        "it still fails after the steps"
    );
    let canary_stops: Vec<_> =
        live.decider.seen().into_iter().filter(|s| s.host.as_deref() == Some("canary1")).collect();
    assert!(canary_stops.is_empty(), "no stop blames the change: {canary_stops:?}");
    assert_eq!(summary.results["canary1"], Some(HostResult::Done));
    assert_eq!(installed(&f, "canary1", "libssl3").as_deref(), Some("3.0.17-1~deb12u2"));
}

/// An upgrade that brings in a new dependency: the packages step installs it (it was
/// tested), and rolling back removes it again, verified against the whole snapshot.
#[tokio::test]
async fn rollback_removes_a_package_the_step_newly_installed() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"]));
    // Staging's upgrade of openssl pulled in a new package; the baseline records it.
    let tested = std::fs::read_to_string(dir.path().join("tested.toml")).unwrap();
    let tested =
        format!("{tested}\n[[update]]\nname = \"libpd-newdep1\"\nto = \"1.0-1\"\norigin = \"Debian:12.12/stable\"\n");
    std::fs::write(dir.path().join("tested.toml"), tested).unwrap();
    let new_dep = |f: &Fleet| {
        for host in ["canary1", "web1", "web2", "web3", "api1", "shop1"] {
            f.with_host(host, |h| {
                h.repo.push(patchdeck::sim::RepoVersion {
                    name: "libpd-newdep1".into(),
                    version: "1.0-1".into(),
                    origin: "Debian:12.12/stable".into(),
                    pulled_in_by: Some("openssl".into()),
                })
            });
        }
        f.with_host("canary1", |h| {
            h.faults.push(Fault { on: "systemctl restart nginx".into(), effect: FaultEffect::Exit(1), sticky: false })
        });
    };
    let r = run(&rb, fleet(new_dep), vec![Choice::RollbackHost, Choice::Abort], BEFORE_DEADLINE).await;
    let changed: Vec<&patchdeck::engine::event::Change> = r
        .events
        .iter()
        .filter_map(|e| match e {
            Event::StepFinished { host, step: 1, changes, .. } if host == "canary1" => Some(changes),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        changed.iter().any(|c| c.name == "libpd-newdep1" && c.from.is_none() && c.to.as_deref() == Some("1.0-1")),
        "the new dependency was installed: {changed:?}"
    );
    let restore = r.events.iter().find_map(|e| match e {
        Event::RollbackStarted { host, step: 1, command, .. } if host == "canary1" => Some(command.clone()),
        _ => None,
    });
    assert!(restore.as_deref().is_some_and(|c| c.contains("libpd-newdep1-")), "removed on rollback: {restore:?}");
    assert!(r.events.iter().any(|e| matches!(e,
        Event::RollbackFinished { host, step: 1, verified: Some(true), .. } if host == "canary1")));
    assert_eq!(installed(&r.fleet, "canary1", "libpd-newdep1"), None, "gone again");
    assert_eq!(r.summary.results["canary1"], Some(HostResult::RolledBack));
}

/// `parallel = 2`: two hosts of a wave are worked on at the same time, not one after another.
/// The most hosts of `wave` at work at once, read from the journal's order: a host is at
/// work from its first event after the wave started to its `HostFinished`.
fn peak_hosts_at_work(events: &[Event], wave: &str) -> usize {
    let start = events.iter().position(|e| matches!(e, Event::WaveStarted { wave: w } if w == wave)).unwrap();
    let (mut at_work, mut seen, mut peak) = (std::collections::BTreeSet::new(), std::collections::BTreeSet::new(), 0);
    for e in &events[start..] {
        if let Event::HostFinished { host, .. } = e {
            assert!(at_work.remove(host), "{host} finished without starting");
        } else if let Some(host) = serde_json::to_value(e).unwrap()["host"].as_str()
            && seen.insert(host.to_string())
        {
            at_work.insert(host.to_string());
        }
        peak = peak.max(at_work.len());
        if matches!(e, Event::WaveFinished { wave: w, .. } if w == wave) {
            break;
        }
    }
    assert!(at_work.is_empty(), "{at_work:?} never finished");
    peak
}

#[tokio::test]
async fn hosts_of_a_wave_run_in_parallel_up_to_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = ["canary1", "web1", "web2", "web3", "api1", "shop1"];
    let rb = runbook(dir.path(), |text: String| {
        crate::support::demo::with_waves(
            &text,
            "[[wave]]\nname = \"all\"\nhosts = [\"canary1\", \"web1\", \"web2\", \"web3\", \"api1\", \"shop1\"]\nparallel = 2\n\n",
        )
    });
    // Six hosts as clean as canary1 (the planted divergences removed), each step taking a
    // little real time so that hosts overlap when the engine lets them.
    let f = fleet(|f| {
        let clean = f.with_host("canary1", |h| h.clone()).unwrap();
        for h in hosts {
            f.with_host(h, |s| *s = patchdeck::sim::HostState { name: h.to_string(), ..clean.clone() });
        }
    })
    .with_speed(0.02);
    let before = installed_maps(&f);
    let h = Harness::new(rb, &f, Scripted::new(vec![]));
    let summary = h.engine().run().await.unwrap();
    let events = h.events();
    for host in hosts {
        assert_eq!(summary.results[host], Some(HostResult::Done), "{host}: {events:#?}");
        assert_eq!(installed_maps(&f)[host], with_tested(&before[host], &h.rb), "{host}");
    }
    // Exactly two at once at the busiest moment: the limit is used, and never exceeded.
    assert_eq!(peak_hosts_at_work(&events, "all"), 2, "hosts of the wave at work at once");
}

/// Issue 14.4: apt dies mid-run (its session lost): a package is left half-configured and
/// apt refuses everything. The stop says why repair is offered; repair runs `dpkg
/// --configure -a` on the host, journaled, then the step (or the rollback) goes on.
#[tokio::test]
async fn a_packages_step_cut_off_mid_run_offers_repair_and_repair_lets_it_finish() {
    let interrupted = || {
        fleet(|f| {
            f.with_host("canary1", |h| {
                let on = "--no-remove --allow-downgrades".into();
                h.faults.push(Fault { on, effect: FaultEffect::Interrupt("libssl3".into()), sticky: false });
            });
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), canary_first);
    let skips = vec![Choice::Skip; 3]; // web2, web3, api1's planted divergences
    let repairs = |events: &[Event]| -> Vec<(String, Option<bool>)> {
        let started: Vec<&Event> =
            events.iter().filter(|e| matches!(e, Event::RepairStarted { host, .. } if host == "canary1")).collect();
        for e in &started {
            let Event::RepairStarted { command, why, .. } = e else { unreachable!() };
            assert!(command.contains("dpkg --force-confdef --force-confold --configure -a"), "{command}");
            assert!(!why.is_empty());
        }
        events
            .iter()
            .filter_map(|e| match e {
                Event::RepairFinished { host, outcome, healthy, .. } if host == "canary1" => {
                    Some((format!("{outcome:?}"), *healthy))
                }
                _ => None,
            })
            .collect()
    };

    // 1. Repaired, then the step runs again: the host ends with exactly the tested versions.
    let f = interrupted();
    let before = f.with_host("canary1", |h| h.installed.clone()).unwrap();
    let r = run(&rb, f, [vec![Choice::Repair], skips.clone()].concat(), BEFORE_DEADLINE).await;
    let first = &r.seen[0];
    let StopKind::StepFailed { step, repair: Some(why), .. } = &first.stop else { panic!("{first:?}") };
    assert_eq!(step, "apply tested updates");
    assert!(why.contains("libssl3 (iF)") && why.contains("dpkg --configure -a"), "{why}");
    assert!(patchdeck::engine::control::allowed(&first.stop, Some("canary1"), true).contains(&Choice::Repair));
    assert_eq!(repairs(&r.events), [("Ok".to_string(), Some(true))]);
    assert_eq!(r.summary.results["canary1"], Some(HostResult::Done), "{:#?}", r.events);
    assert!(r.fleet.with_host("canary1", |h| h.unfinished.is_empty() && !h.dpkg_interrupted).unwrap());
    assert_eq!(r.fleet.with_host("canary1", |h| h.installed.clone()).unwrap(), with_tested(&before, &rb));
    // Repair comes after the stop and its decision, before the step runs again.
    let at = |f: &dyn Fn(&Event) -> bool| r.events.iter().position(f).unwrap();
    let decided = at(&|e| matches!(e, Event::Decided(d) if d.host.as_deref() == Some("canary1")));
    let repaired = at(&|e| matches!(e, Event::RepairFinished { .. }));
    let again = r
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Event::StepStarted { host, step, .. } if host == "canary1" && Some(*step) == first.step))
        .map(|(i, _)| i)
        .nth(1)
        .expect("the packages step ran again");
    assert!(decided < repaired && repaired < again);

    // 2. Rolled back at once: apt refuses to restore while dpkg is half done, so the
    //    rollback's stop offers repair too; repaired, the rollback restores the snapshot,
    //    verified by version and status.
    let f = interrupted();
    let before = f.with_host("canary1", |h| h.installed.clone()).unwrap();
    let r = run(&rb, f, [vec![Choice::RollbackHost, Choice::Repair], skips].concat(), BEFORE_DEADLINE).await;
    let rollback_stop = &r.seen[1];
    assert!(rollback_stop.rollback, "{rollback_stop:?}");
    let StopKind::StepFailed { output_tail, repair: Some(why), .. } = &rollback_stop.stop else {
        panic!("{rollback_stop:?}")
    };
    assert!(output_tail.contains("dpkg was interrupted"), "{output_tail}");
    // Before the repair the rollback was not verified, by status too: `iF` is not `ii`.
    let unverified = r.events.iter().find_map(|e| match e {
        Event::RollbackFinished { host, step: 1, verified: Some(false), mismatches, .. } if host == "canary1" => {
            Some(mismatches.clone())
        }
        _ => None,
    });
    let unverified = unverified.expect("the first rollback attempt was not verified");
    assert!(unverified.contains(&"libssl3: expected status ii, found status iF".to_string()), "{unverified:?}");
    assert!(why.contains("libssl3 (iF)"), "{why}");
    assert_eq!(repairs(&r.events), [("Ok".to_string(), Some(true))]);
    assert_eq!(r.summary.results["canary1"], Some(HostResult::RolledBack), "{:#?}", r.events);
    assert_eq!(r.fleet.with_host("canary1", |h| h.installed.clone()).unwrap(), before);
    assert!(r.events.iter().any(|e| matches!(e,
        Event::RollbackFinished { host, step: 1, verified: Some(true), .. } if host == "canary1")));
}

/// Issue 14.2/14.4: a host whose dpkg was interrupted before the window is a stop at the
/// re-check before its first change, naming the package; repair, and it goes on.
#[tokio::test]
async fn an_interrupted_dpkg_found_before_the_first_change_is_repaired_then_rechecked() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"]));
    let f = fleet(|f| {
        f.with_host("shop1", |h| {
            h.unfinished.insert("tzdata".into(), "iHR".into());
            h.dpkg_interrupted = true;
        });
    });
    // web2, web3, api1's planted divergences come first, then shop1's.
    let mut choices = vec![Choice::Skip; 3];
    choices.push(Choice::Repair);
    let r = run(&rb, f, choices, BEFORE_DEADLINE).await;
    let stop = r.seen.iter().find(|s| s.host.as_deref() == Some("shop1")).unwrap_or_else(|| panic!("{:#?}", r.seen));
    let StopKind::Divergence { findings } = &stop.stop else { panic!("{stop:?}") };
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!((findings[0].class, findings[0].subject.as_str()), (patchdeck::diff::Class::DpkgBroken, "tzdata"));
    assert_eq!(findings[0].here.as_deref(), Some("iHR"));
    assert!(stop.stop.repair_reason().unwrap().contains("tzdata"));
    // Repaired (journaled), then checked again, clean: its first step starts after that.
    let at = |f: &dyn Fn(&Event) -> bool| r.events.iter().position(f).unwrap_or_else(|| panic!("{:#?}", r.events));
    let repaired = at(&|e| matches!(e, Event::RepairFinished { host, healthy: Some(true), .. } if host == "shop1"));
    let rechecked = at(&|e| {
        matches!(e, Event::Recheck { host, findings }
        if host == "shop1" && findings.iter().all(|f| f.class != patchdeck::diff::Class::DpkgBroken))
    });
    let started = at(&|e| matches!(e, Event::StepStarted { host, .. } if host == "shop1"));
    assert!(repaired < rechecked && rechecked < started, "{:#?}", r.events);
    assert!(r.fleet.with_host("shop1", |h| h.unfinished.is_empty() && !h.dpkg_interrupted).unwrap());
}

/// Issue 14 (losing the operator mid-apt): patchdeck died with the packages step in flight
/// and dpkg half done on the host. `--resume` raises "outcome unknown" offering repair (why:
/// the packages step was cut off); repaired, the step runs again and the host ends with
/// exactly the tested versions, nothing left half done.
#[tokio::test]
async fn resumed_with_the_packages_step_in_flight_offers_repair_first() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), canary_first);
    let first = run(&rb, fleet(|_| {}), vec![Choice::Abort], BEFORE_DEADLINE).await;
    let cut = first
        .events
        .iter()
        .position(|e| matches!(e, Event::StepStarted { host, name, .. } if host == "canary1" && name == "apply tested updates"))
        .expect("the packages step started");
    let prior = &first.events[..=cut];
    // The host as the crash left it: updated, dpkg killed configuring libssl3.
    let f = fleet(|_| {});
    let before = f.with_host("canary1", |h| h.installed.clone()).unwrap();
    f.with_host("canary1", |h| {
        for (name, version) in [("libssl3", "3.0.17-1~deb12u2"), ("openssl", "3.0.17-1~deb12u2")] {
            h.installed.insert(name.into(), version.into());
        }
        h.unfinished.insert("libssl3".into(), "iF".into());
        h.dpkg_interrupted = true;
    });
    let decisions = [vec![(Choice::Repair, None)], vec![(Choice::Skip, None); 3]].concat();
    let r = resume(&rb, f, prior, decisions, BEFORE_DEADLINE).await;
    let stop = &r.seen[0];
    let StopKind::UnknownOutcome { step, repair: Some(why) } = &stop.stop else { panic!("{stop:?}") };
    assert_eq!(step, "apply tested updates");
    assert!(why.contains("cut off") && why.contains("dpkg --configure -a"), "{why}");
    assert!(
        r.events.iter().any(|e| matches!(e,
        Event::RepairFinished { host, healthy: Some(true), .. } if host == "canary1")),
        "{:#?}",
        r.events
    );
    assert_eq!(r.summary.results["canary1"], Some(HostResult::Done), "{:#?}", r.events);
    assert!(r.fleet.with_host("canary1", |h| h.unfinished.is_empty() && !h.dpkg_interrupted).unwrap());
    assert_eq!(r.fleet.with_host("canary1", |h| h.installed.clone()).unwrap(), with_tested(&before, &rb));
}
