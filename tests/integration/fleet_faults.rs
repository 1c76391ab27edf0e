//! Issue 14, on the real Debian fleet with the real binary: the operator's side dies while
//! apt runs, and the host-side runner keeps the change whole.
//!
//! Each scenario runs the fleet's packages step on prod-clean with a dpkg hook that holds apt
//! between unpacking and configuring (so "mid-apt" is a real, half-done dpkg), injects one
//! fault there, brings the host back, and asserts that the journal ends with the real outcome
//! and that `dpkg-query`'s status and version of every package equal either the tested state
//! or the snapshot (before), never a mix:
//! - (a) sshd killed mid-apt: apt runs on; patchdeck follows it again once sshd is back and
//!   journals its real end from the host's record; no unknown outcome.
//! - (b) power-off mid-apt (every process of the host killed, `fault.sh power-off`): the record
//!   cannot say how apt ended, so the outcome is unknown, repair is offered and decided
//!   (`--decide repair`): `dpkg --configure -a`, then the step again.
//! - (c) patchdeck killed with -9 mid-apt: apt runs on; `--resume` reads the host's record and
//!   journals the real end; no unknown outcome.
//!
//! The trimmed journals and the dpkg states before and after are printed (for the issue's
//! closing note).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use patchdeck::engine::control::Choice;
use patchdeck::engine::event::{Event, HostResult, Outcome, RunFound, StopKind};

use crate::support::fleet::Fleet;
use crate::support::require;

const HOST: &str = "prod-clean";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `${db:Status-Abbrev} ${Package} ${Version}`, one line per package, as the issue asks.
const DPKG_STATE: &str = r"dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\n'";

/// Package -> (status, version) on the host.
fn dpkg_state(fleet: &Fleet) -> BTreeMap<String, (String, String)> {
    fleet
        .exec_ok(HOST, DPKG_STATE)
        .lines()
        .filter_map(|l| {
            let (status, rest) = l.split_at_checked(3)?;
            let (name, version) = rest.trim_start().split_once(' ')?;
            Some((name.to_string(), (status.trim_end().to_string(), version.to_string())))
        })
        .collect()
}

fn show(state: &BTreeMap<String, (String, String)>, only: &[String]) -> String {
    state
        .iter()
        .filter(|(n, _)| only.contains(n))
        .map(|(n, (s, v))| format!("  {s:<3} {n} {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Arms a dpkg hook in the host: before dpkg's first configure it sleeps 15 s (once), so
/// that apt is caught with packages unpacked and not configured. `/tmp/pd-slow-hit` says it
/// holds.
fn arm_slow_dpkg(fleet: &Fleet) {
    fleet.exec_ok(
        HOST,
        "cat >/usr/local/sbin/pd-slow-hook <<'EOF'\n\
         #!/bin/sh\n\
         if [ \"$DPKG_HOOK_ACTION\" = configure ] && [ -e /etc/pd-slow-armed ]; then\n\
           rm -f /etc/pd-slow-armed; : >/tmp/pd-slow-hit; sleep 15\n\
         fi\n\
         exit 0\n\
         EOF\n\
         chmod 755 /usr/local/sbin/pd-slow-hook\n\
         echo 'pre-invoke=/usr/local/sbin/pd-slow-hook' >/etc/dpkg/dpkg.cfg.d/pd-slow\n\
         rm -f /tmp/pd-slow-hit; : >/etc/pd-slow-armed",
    );
}

fn disarm_slow_dpkg(fleet: &Fleet) {
    fleet.exec_ok(
        HOST,
        "rm -f /etc/dpkg/dpkg.cfg.d/pd-slow /usr/local/sbin/pd-slow-hook /etc/pd-slow-armed /tmp/pd-slow-hit",
    );
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn journal_of(fleet: &Fleet, name: &str) -> PathBuf {
    fleet.dir.join(format!("{name}.journal.jsonl"))
}

fn events(journal: &Path) -> Vec<Event> {
    let r = patchdeck::journal::replay::<Event>(journal).unwrap_or_else(|e| panic!("{}: {e}", journal.display()));
    assert_eq!(r.torn_tail, None, "{}", journal.display());
    r.records.into_iter().map(|r| r.event).collect()
}

/// The journal, one line per event as `watch` tells it, for the closing note.
fn trimmed(ev: &[Event]) -> String {
    ev.iter()
        .map(|e| {
            let n = patchdeck::narrate::describe(e);
            let line = format!("  {}{}", n.host.map(|h| format!("{h}: ")).unwrap_or_default(), n.text);
            line.chars().take(220).collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn run_args(runbook: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["run", runbook.to_str().unwrap(), "--no-tui", "--yes", "--operator", "fleet-test"].map(String::from).to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn spawn_run(fleet: &Fleet, runbook: &Path, extra: &[&str]) -> Child {
    let args = run_args(runbook, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fleet.patchdeck_cmd(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start patchdeck run")
}

/// Waits (bounded) for a spawned run to end; its output.
fn finish(child: Child, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("patchdeck's output"),
        Err(_) => {
            let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("patchdeck run still going after {limit:?}");
        }
    }
}

/// Waits until the journal has started the packages step and the host's dpkg sits in the
/// hook, between unpack and configure.
fn wait_mid_apt(fleet: &Fleet, journal: &Path) {
    wait_until("the packages step started", Duration::from_secs(240), || {
        std::fs::read_to_string(journal).is_ok_and(|j| j.contains("\"type\":\"step_started\""))
    });
    let hit = fleet.root(HOST).join("tmp/pd-slow-hit");
    wait_until("apt reached the dpkg hook (mid-apt)", Duration::from_secs(120), || hit.exists());
}

/// The host's record directory of the window's packages step, attempt `n`, once it exists.
fn record_dir(fleet: &Fleet, n: u32) -> Option<PathBuf> {
    let runs = fleet.root(HOST).join("var/lib/patchdeck/runs");
    std::fs::read_dir(runs).ok()?.flatten().map(|w| w.path().join(format!("step0-{n}"))).find(|p| p.exists())
}

/// What the tested state is: `before` with every tested update installed and configured.
fn tested_state(
    before: &BTreeMap<String, (String, String)>,
    baseline: &patchdeck::baseline::Baseline,
) -> BTreeMap<String, (String, String)> {
    let mut tested = before.clone();
    for u in &baseline.updates {
        tested.insert(u.name.to_string(), ("ii".into(), u.to.to_string()));
    }
    tested
}

/// Puts prod-clean back as built (the tested packages at their `from` versions).
fn put_back(fleet: &Fleet, baseline: &patchdeck::baseline::Baseline, before: &BTreeMap<String, (String, String)>) {
    let undo: Vec<String> =
        baseline.updates.iter().filter_map(|u| Some(format!("{}={}", u.name, u.from.as_ref()?))).collect();
    fleet.exec_ok(HOST, &format!("apt-get install -y -q --allow-downgrades {}", undo.join(" ")));
    assert_eq!(&dpkg_state(fleet), before, "prod-clean is back as built");
    let lock = fleet.root(HOST).join("var/lib/patchdeck/lock");
    assert!(!lock.exists(), "the window released its lock: {:?}", std::fs::read_to_string(&lock));
}

/// Prints and checks the end state: exactly tested or exactly before, never a mix.
fn assert_whole(
    what: &str,
    fleet: &Fleet,
    before: &BTreeMap<String, (String, String)>,
    tested: &BTreeMap<String, (String, String)>,
) -> bool {
    let after = dpkg_state(fleet);
    let names: Vec<String> = tested.iter().filter(|(n, v)| before.get(*n) != Some(v)).map(|(n, _)| n.clone()).collect();
    eprintln!("{what}: dpkg state of the tested packages BEFORE:\n{}", show(before, &names));
    eprintln!("{what}: dpkg state of the tested packages AFTER:\n{}", show(&after, &names));
    let is_tested = &after == tested;
    assert!(is_tested || &after == before, "{what}: a mix of tested and before:\n{}", show(&after, &names));
    is_tested
}

fn scenario_window(fleet: &Fleet, name: &str) -> (PathBuf, PathBuf) {
    let rb = fleet.window(name, HOST, "", None);
    (rb.clone(), journal_of(fleet, name))
}

fn run_record_finished(ev: &[Event]) -> bool {
    ev.iter().any(|e| matches!(e, Event::RunRecord { step: 0, found: RunFound::Finished { status: Some(0) }, .. }))
}

fn no_unknown_outcome(ev: &[Event]) -> bool {
    !ev.iter().any(|e| matches!(e, Event::HardStop { stop: StopKind::UnknownOutcome { .. }, .. }))
}

fn host_done(ev: &[Event]) -> bool {
    ev.iter().any(|e| matches!(e, Event::HostFinished { host, result: HostResult::Done } if host == HOST))
}

/// (a) sshd killed mid-apt.
fn sshd_killed_mid_apt(fleet: &Fleet, baseline: &patchdeck::baseline::Baseline) {
    let before = dpkg_state(fleet);
    let tested = tested_state(&before, baseline);
    let (rb, journal) = scenario_window(fleet, "faults-sshd");
    arm_slow_dpkg(fleet);
    let child = spawn_run(fleet, &rb, &[]);
    wait_mid_apt(fleet, &journal);
    fleet.fault("kill-sshd", HOST);
    let record = record_dir(fleet, 1).expect("the packages step runs under the host-side runner");
    wait_until("apt ended on the host without its link", Duration::from_secs(180), || record.join("exit").exists());
    let status = std::fs::read_to_string(record.join("exit")).unwrap();
    fleet.fault("restore", HOST);
    let out = finish(child, Duration::from_secs(180));
    eprintln!("(a) run:\n{}{}", text(&out.stdout), text(&out.stderr));
    let ev = events(&journal);
    eprintln!("(a) sshd killed mid-apt, journal:\n{}", trimmed(&ev));
    assert_eq!(status.trim(), "0", "apt went on to its end on the host");
    assert_eq!(out.status.code(), Some(0), "the window ended well");
    assert!(run_record_finished(&ev), "the outcome came from the host's record");
    assert!(no_unknown_outcome(&ev), "no unknown outcome: the host's record said");
    let ends: Vec<&Outcome> = ev
        .iter()
        .filter_map(|e| match e {
            Event::StepFinished { step: 0, outcome, .. } => Some(outcome),
            _ => None,
        })
        .collect();
    assert_eq!(ends, [&Outcome::Ok], "one end, the real one");
    assert!(host_done(&ev));
    assert!(assert_whole("(a)", fleet, &before, &tested), "(a) ends in the tested state");
    assert!(record_dir(fleet, 1).is_none(), "the finished host's run records are removed");
    disarm_slow_dpkg(fleet);
    put_back(fleet, baseline, &before);
}

/// (b) power-off mid-apt.
fn power_off_mid_apt(fleet: &Fleet, baseline: &patchdeck::baseline::Baseline) {
    let before = dpkg_state(fleet);
    let tested = tested_state(&before, baseline);
    let (rb, journal) = scenario_window(fleet, "faults-power");
    arm_slow_dpkg(fleet);
    let child = spawn_run(fleet, &rb, &["--decide", "repair"]);
    wait_mid_apt(fleet, &journal);
    fleet.fault("power-off", HOST);
    let mid = dpkg_state(fleet);
    let names: Vec<String> = tested.iter().filter(|(n, v)| before.get(*n) != Some(v)).map(|(n, _)| n.clone()).collect();
    eprintln!("(b) dpkg state right after the power-off:\n{}", show(&mid, &names));
    assert!(names.iter().any(|n| mid[n].0 != "ii"), "the power-off came mid-apt: dpkg left half done");
    fleet.fault("power-on", HOST);
    let out = finish(child, Duration::from_secs(300));
    eprintln!("(b) run:\n{}{}", text(&out.stdout), text(&out.stderr));
    let ev = events(&journal);
    eprintln!("(b) power-off mid-apt, journal:\n{}", trimmed(&ev));
    assert!(
        ev.iter().any(|e| matches!(e, Event::RunRecord { step: 0, found: RunFound::Inconsistent { .. }, .. })),
        "the host's record cannot say how apt ended"
    );
    assert!(
        ev.iter().any(|e| matches!(e, Event::HardStop { stop: StopKind::UnknownOutcome { repair: Some(_), .. }, .. })),
        "an unknown outcome, repair offered"
    );
    assert!(ev.iter().any(|e| matches!(e, Event::Decided(d) if d.decision.choice == Choice::Repair)));
    assert!(ev.iter().any(|e| matches!(e, Event::RepairFinished { healthy: Some(true), .. })));
    assert!(matches!(ev.last(), Some(Event::WindowFinished { aborted: false })), "{:#?}", ev.last());
    assert_eq!(out.status.code(), Some(3), "a window with a hard stop is not clean");
    assert!(host_done(&ev), "repaired, then the step again: done");
    assert!(assert_whole("(b)", fleet, &before, &tested), "(b) ends in the tested state");
    disarm_slow_dpkg(fleet);
    put_back(fleet, baseline, &before);
}

/// (c) patchdeck killed with -9 mid-apt.
fn patchdeck_killed_mid_apt(fleet: &Fleet, baseline: &patchdeck::baseline::Baseline) {
    let before = dpkg_state(fleet);
    let tested = tested_state(&before, baseline);
    let (rb, journal) = scenario_window(fleet, "faults-kill9");
    arm_slow_dpkg(fleet);
    let mut child = spawn_run(fleet, &rb, &[]);
    wait_mid_apt(fleet, &journal);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before_kill = events(&journal);
    assert!(matches!(before_kill.last(), Some(Event::StepStarted { step: 0, .. })), "{before_kill:#?}");
    let record = record_dir(fleet, 1).expect("the packages step runs under the host-side runner");
    wait_until("apt ended on the host without patchdeck", Duration::from_secs(180), || record.join("exit").exists());
    let args = run_args(&rb, &["--resume"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = fleet.patchdeck(&args);
    eprintln!("(c) --resume:\n{}{}", text(&out.stdout), text(&out.stderr));
    let ev = events(&journal);
    eprintln!("(c) patchdeck killed -9 mid-apt, then --resume, journal:\n{}", trimmed(&ev));
    assert_eq!(&ev[..before_kill.len()], &before_kill[..], "the journal before the kill is kept");
    assert_eq!(out.status.code(), Some(0), "the resumed window ended well");
    assert!(run_record_finished(&ev[before_kill.len()..]), "the resume read the host's record");
    assert!(no_unknown_outcome(&ev), "no unknown outcome: the host's record said");
    assert_eq!(ev.iter().filter(|e| matches!(e, Event::StepStarted { step: 0, .. })).count(), 1, "apt ran once");
    assert!(ev.iter().any(
        |e| matches!(e, Event::StepFinished { step: 0, outcome: Outcome::Ok, changes, .. } if !changes.is_empty())
    ));
    assert!(host_done(&ev));
    assert!(assert_whole("(c)", fleet, &before, &tested), "(c) ends in the tested state");
    disarm_slow_dpkg(fleet);
    put_back(fleet, baseline, &before);
}

#[test]
fn fleet_faults_mid_apt() {
    if !require::fleet() {
        return;
    }
    let fleet = Fleet::up("faults");
    let runbook = fleet.runbook.to_str().unwrap().to_string();
    let out = fleet.patchdeck(&[
        "baseline",
        "capture",
        &runbook,
        "--host",
        "staging",
        "-o",
        fleet.baseline.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "capture: {}{}", text(&out.stdout), text(&out.stderr));
    let baseline = patchdeck::baseline::load(&fleet.baseline).expect("captured baseline loads");
    assert!(!baseline.updates.is_empty(), "prod-clean has tested updates to install");
    sshd_killed_mid_apt(&fleet, &baseline);
    patchdeck_killed_mid_apt(&fleet, &baseline);
    power_off_mid_apt(&fleet, &baseline);
    fleet.down();
}
