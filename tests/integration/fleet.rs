//! `baseline capture`, `check` and `run` end to end against the Debian test fleet
//! (`tests/fleet/`): the real binary, real ssh into each host's own sshd, real apt in each
//! host's own root.
//!
//! One fleet, one test: the scenarios run in sequence because they change hosts (faults,
//! upgrades, rollbacks), each putting its host back as it found it (checked with
//! `dpkg-query -W`, byte for byte) so the next one starts from the fleet as built. Bringing
//! the fleet up once and restoring hosts is far cheaper than a fleet per scenario.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use patchdeck::baseline::Baseline;
use patchdeck::drill::Scorecard;
use patchdeck::engine::control::Choice;
use patchdeck::engine::event::{Event, HostResult, Outcome, RunFound, StopKind};

use crate::support::fleet::Fleet;
use crate::support::require;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)))
}

fn host<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["diff"]["host"] == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

/// Per host: every finding that is not "as tested", as (class, subject).
fn divergences(report: &serde_json::Value) -> BTreeMap<String, Vec<(String, String)>> {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let found = h["diff"]["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["class"] != "tested")
                .map(|f| (f["class"].as_str().unwrap().to_string(), f["subject"].as_str().unwrap().to_string()))
                .collect();
            (h["diff"]["host"].as_str().unwrap().to_string(), found)
        })
        .collect()
}

/// Each host's `resolver` in a check report: "ran", "reused" or "shared".
fn resolvers(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["diff"]["host"].as_str().unwrap().to_string(), h["resolver"].as_str().unwrap_or("").to_string()))
        .collect()
}

/// Each host's `resolver`, and for a shared answer the host it came from: "shared:HOST".
fn answered_by(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let r = h["resolver"].as_str().unwrap_or("").to_string();
            let r = match h["shared_from"].as_str() {
                Some(from) => format!("{r}:{from}"),
                None => r,
            };
            (h["diff"]["host"].as_str().unwrap().to_string(), r)
        })
        .collect()
}

/// Every host's diff in `a` equals its diff in `b`.
fn same_diffs(a: &serde_json::Value, b: &serde_json::Value, what: &str) {
    let (a, b) = (a["hosts"].as_array().unwrap(), b["hosts"].as_array().unwrap());
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(b) {
        assert_eq!(a["diff"], b["diff"], "{}: {what}", a["diff"]["host"]);
    }
}

/// Asserts which hosts asked apt in a check that shares answers: among `clones` (hosts
/// whose apt inputs are byte-identical), exactly one ran its resolver and the others
/// shared its answer; every host in `alone` ran its own.
fn assert_shared(report: &serde_json::Value, clones: &[&str], alone: &[&str]) {
    let by = answered_by(report);
    let asked: Vec<&str> = clones.iter().copied().filter(|h| by[*h] == "ran").collect();
    assert_eq!(asked.len(), 1, "one of the clones asks apt: {by:?}");
    for h in clones.iter().filter(|h| **h != asked[0]) {
        assert_eq!(by[*h], format!("shared:{}", asked[0]), "{by:?}");
    }
    for h in alone {
        assert_eq!(by[*h], "ran", "{h} has its own package state: {by:?}");
    }
}

/// `check --json` with apt's kept answers, then `check --json --fresh` asking apt anew once
/// per distinct package state, then `check --json --fresh=per-host` asking every host's own
/// resolver: every host's diff must be the same in all three. Returns the first report and
/// the shared fresh one.
fn check_equals_fresh(fleet: &Fleet, runbook: &str) -> (serde_json::Value, serde_json::Value) {
    let kept = json(&fleet.patchdeck(&["check", runbook, "--json"]));
    let fresh = json(&fleet.patchdeck(&["check", runbook, "--json", "--fresh"]));
    let per_host = json(&fleet.patchdeck(&["check", runbook, "--json", "--fresh=per-host"]));
    assert!(resolvers(&fresh).values().all(|r| r == "ran" || r == "shared"), "{:?}", resolvers(&fresh));
    assert!(resolvers(&per_host).values().all(|r| r == "ran"), "{:?}", resolvers(&per_host));
    same_diffs(&kept, &per_host, "kept answer differs from the host's own resolver's");
    same_diffs(&fresh, &per_host, "shared answer differs from the host's own resolver's");
    (kept, fresh)
}

/// Health check results of one host, as (name, ok).
fn checks(report: &serde_json::Value, name: &str) -> Vec<(String, bool)> {
    host(report, name)["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap().to_string(), c["ok"].as_bool().unwrap()))
        .collect()
}

fn pair(class: &str, subject: &str) -> Vec<(String, String)> {
    vec![(class.to_string(), subject.to_string())]
}

const WEB_CHECK: &str = "web page names the host";
/// Planted configuration the map finds (no fingerprint names them).
const PDREPO_NEWER: &str = "/etc/apt/sources.list.d/pdrepo-newer.list";
const PD_WEB_LOCAL: &str = "/etc/pd-web/local.conf";

#[test]
fn fleet_end_to_end() {
    if !require::fleet() {
        return;
    }
    let started = Instant::now();
    let fleet = Fleet::up("e2e");
    eprintln!("fleet up in {:.1}s", started.elapsed().as_secs_f64());
    let mut lap = Instant::now();
    let mut timed = |what: &str| {
        eprintln!("TIMING {what}: {:.1}s", lap.elapsed().as_secs_f64());
        lap = Instant::now();
    };
    let baseline = capture_check_and_faults(&fleet);
    timed("capture, check and faults");
    run_clean_window(&fleet, &baseline);
    timed("run: clean window");
    run_failing_step_rolls_back(&fleet);
    timed("run: failing step, rollback");
    run_breaking_web_rolls_back(&fleet);
    timed("run: prod-breaks, health stop, rollback");
    run_sshd_killed_mid_step(&fleet);
    timed("run: sshd killed mid-step");
    run_killed_then_resumed(&fleet);
    timed("run: kill -9 then --resume");
    run_paused_mid_step_resumed_then_rolled_back(&fleet, &baseline);
    timed("run: SIGTERM mid-step, --resume to the end, patchdeck rollback after");
    run_abort_at_a_stop_starts_nothing_then_rolled_back(&fleet);
    timed("run: abort at a hard stop, patchdeck rollback --all after");
    drill_live_outside_its_window_touches_nothing(&fleet);
    drill_live_scenarios(&fleet, &baseline);
    timed("drill --live: five scenarios");
    fleet.down();
    timed("down");
    eprintln!("TIMING whole fleet test (up to down): {:.1}s", started.elapsed().as_secs_f64());
}

/// Drift nobody listed (issue 16): with no `[[fingerprint]]` at all, `check` names every
/// planted configuration difference under its area (prod-drift's network file, sysctl file,
/// a locally changed conffile of login and one of pd-web, which the window upgrades; prod-newer's extra apt source; prod-breaks' local pd-web
/// settings), nothing on prod-clean, and none of what differs per host by nature (name,
/// hosts file, sshd_config naming the host's own address, ssh host keys).
#[test]
fn fleet_drift_nobody_listed() {
    if !require::fleet() {
        return;
    }
    let fleet = Fleet::up("drift");
    let listed = std::fs::read_to_string(&fleet.runbook).unwrap();
    let unlisted = listed.replace("[[fingerprint]]\npath = \"/etc/network/interfaces\"", "");
    assert!(!unlisted.contains("[[fingerprint]]"), "{unlisted}");
    let runbook = fleet.dir.join("no-fingerprints.toml");
    std::fs::write(&runbook, unlisted).unwrap();
    let runbook = runbook.to_str().unwrap();
    let out =
        fleet.patchdeck(&["baseline", "capture", runbook, "--host", "staging", "-o", fleet.baseline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "capture: {}{}", text(&out.stdout), text(&out.stderr));
    let baseline = std::fs::read_to_string(&fleet.baseline).unwrap();
    assert!(baseline.contains("\"/etc/login.defs\" = { area = \"config\""), "{baseline}");
    assert!(!baseline.contains("ListenAddress") && !baseline.contains("swappiness"), "no file contents");

    let out = fleet.patchdeck(&["check", runbook]);
    let report_text = text(&out.stdout);
    eprintln!("check with no fingerprints:\n{report_text}");
    assert_eq!(out.status.code(), Some(3), "{report_text}{}", text(&out.stderr));
    let report = json(&fleet.patchdeck(&["check", runbook, "--json"]));
    let drift: BTreeMap<String, Vec<(String, String)>> = divergences(&report)
        .into_iter()
        .map(|(h, f)| (h, f.into_iter().filter(|(c, _)| c.starts_with("drift_")).collect()))
        .collect();
    let expected: BTreeMap<String, Vec<(String, String)>> = [
        ("prod-clean", vec![]),
        ("prod-extra", vec![]),
        ("prod-newer", vec![("drift_sources", "/etc/apt/sources.list.d/pdrepo-newer.list")]),
        (
            "prod-drift",
            vec![
                ("drift_config", "/etc/login.defs"),
                ("drift_networking", "/etc/network/interfaces"),
                ("drift_conffile", "/etc/pd-web/pd-web.conf"),
                ("drift_kernel", "/etc/sysctl.d/60-patchdeck.conf"),
            ],
        ),
        ("prod-breaks", vec![("drift_config", "/etc/pd-web/local.conf")]),
    ]
    .into_iter()
    .map(|(h, f)| (h.to_string(), f.into_iter().map(|(c, s)| (c.to_string(), s.to_string())).collect()))
    .collect();
    assert_eq!(drift, expected, "{report_text}");
    let login = host(&report, "prod-drift")["diff"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject"] == "/etc/login.defs")
        .cloned()
        .unwrap();
    assert!(login["here"].as_str().unwrap().ends_with("(locally modified)"), "{login}");
    for line in [
        "ok   prod-clean   2 tested, health ok",
        "! /etc/network/interfaces (networking): 1 host differs from staging:",
        "! /etc/apt/sources.list.d/pdrepo-newer.list (sources): 1 host differs from",
        "~ /etc/sysctl.d/60-patchdeck.conf (kernel): 1 host differs from staging:",
        "! /etc/pd-web/pd-web.conf (conffiles): 1 host differs from staging:",
    ] {
        assert!(
            report_text.lines().any(|l| l.trim_start().starts_with(line.trim_start())),
            "{line:?} in\n{report_text}"
        );
    }
    assert_eq!(report["drift"].as_array().unwrap().len(), 6, "{}", report["drift"]);

    // With the fleet's own runbook, the fingerprinted network file is judged by its
    // fingerprint alone (what fleet_end_to_end expects of the same fleet).
    let listed = fleet.runbook.to_str().unwrap();
    std::fs::remove_file(&fleet.baseline).unwrap();
    let out =
        fleet.patchdeck(&["baseline", "capture", listed, "--host", "staging", "-o", fleet.baseline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "capture: {}{}", text(&out.stdout), text(&out.stderr));
    let out = fleet.patchdeck(&["check", listed]);
    let listed_text = text(&out.stdout);
    for line in [
        "STOP prod-newer   1 tested, 1 version mismatch, 1 sources drift, health ok",
        "STOP prod-drift   2 tested, 1 config drift, 1 other config drift, 1 modified conffile, 1 kernel drift, health ok",
        "WARN prod-breaks  2 tested, 1 other config drift, health ok",
    ] {
        assert!(listed_text.lines().any(|l| l == line), "missing {line:?} in\n{listed_text}");
    }
    assert!(!listed_text.contains("/etc/network/interfaces (networking)"), "{listed_text}");
    fleet.down();
}

/// Acceptance (teardown): a fleet left running, as by a test killed outright, is torn down by
/// the next `up.sh` of the same instance before it builds the new one: every process the old
/// one started is gone (up.sh's, one fault.sh started, and one inside a host root that no
/// state file knows, as an ssh session's orphan), its mounts are undone rather than buried
/// under the new ones, and the new fleet answers. Then `down.sh` leaves nothing behind.
#[test]
fn fleet_crashed_run_is_cleaned_by_the_next() {
    if !require::fleet() {
        return;
    }
    let started = Instant::now();
    let old = Fleet::up("crash");
    old.fault("hang-apt", "prod-clean");
    let stray = old.stray("prod-drift");
    let procs = old.recorded();
    let hosts = old.hosts().len();
    // Each host: its sshd and httpd; plus fault.sh's lock holder.
    assert_eq!(procs.len(), 2 * hosts + 1, "{procs:#?}");
    assert!(procs.iter().chain([&stray]).all(|p| p.alive()), "{procs:#?}");
    assert!(procs.iter().any(|p| p.what == "prod-clean hang-apt"), "{procs:#?}");
    // Each host: the overlay root, its /proc, /dev, /dev/pts and /run.
    let mounts = crate::support::fleet::mounts_under(&old.dir);
    assert_eq!(mounts.len(), 5 * hosts, "{mounts:#?}");
    let dir = old.dir.clone();
    old.crash();

    let new = Fleet::up("crash");
    assert_eq!(new.dir, dir, "the same instance");
    let alive: Vec<_> = procs.iter().chain([&stray]).filter(|p| p.alive()).collect();
    assert!(alive.is_empty(), "the previous fleet's processes still run: {alive:#?}");
    let now = crate::support::fleet::mounts_under(&new.dir);
    assert_eq!(now.len(), mounts.len(), "the old mounts were undone, not stacked: {now:#?}");
    assert!(new.recorded().iter().all(|p| p.alive() && !procs.contains(p)), "only the new fleet's processes");
    for h in new.hosts() {
        let (status, body) = new.http_get(h);
        assert!(status == 200 && body.contains(h), "{h}: {status} {body}");
    }
    let ssh = std::process::Command::new("ssh")
        .arg("-F")
        .arg(new.dir.join("ssh_config"))
        .args(["-p", &new.ssh_port().to_string(), &new.address("prod-clean").to_string(), "cat /etc/hostname"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(text(&ssh.stdout).trim(), "prod-clean", "{}", text(&ssh.stderr));
    // dpkg's locks died with the old fleet's lock holder.
    new.exec_ok("prod-clean", "apt-get install -y -q -o DPkg::Lock::Timeout=0 --no-upgrade less");
    new.down();
    assert!(crate::support::fleet::processes_under(&dir).is_empty() && !dir.exists());
    eprintln!("TIMING crashed fleet cleaned by the next, then down: {:.1}s", started.elapsed().as_secs_f64());
}

/// `baseline capture` on staging, to the fleet's baseline file; the baseline as loaded.
fn capture_baseline(fleet: &Fleet) -> Baseline {
    let runbook = fleet.runbook.to_str().unwrap();
    let out =
        fleet.patchdeck(&["baseline", "capture", runbook, "--host", "staging", "-o", fleet.baseline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "capture: {}{}", text(&out.stdout), text(&out.stderr));
    patchdeck::baseline::load(&fleet.baseline).expect("captured baseline loads")
}

/// `baseline capture` and `check` on the fresh fleet, then faults; leaves every host as it
/// was built. Returns the captured baseline.
fn capture_check_and_faults(fleet: &Fleet) -> Baseline {
    let runbook = fleet.runbook.to_str().unwrap().to_string();
    let pristine: BTreeMap<&str, String> = fleet.hosts().into_iter().map(|h| (h, fleet.installed(h))).collect();

    // The fleet is what it claims: every host has the tested updates pending from the local
    // repository, and the installed version stays installable from the machine's mirror.
    for h in fleet.hosts() {
        let policy = fleet.exec_ok(h, "apt-cache policy less");
        assert!(policy.contains("Candidate: ") && policy.contains("+pd"), "{h}: {policy}");
        let installed = policy.lines().find_map(|l| l.trim().strip_prefix("Installed: ")).unwrap().to_string();
        let after = policy.split(&format!("*** {installed} ")).nth(1).unwrap_or_else(|| panic!("{h}: {policy}"));
        assert!(
            after.lines().nth(1).is_some_and(|l| l.contains(fleet.mirror())),
            "{h}: the installed less {installed} is not offered by {}:\n{policy}",
            fleet.mirror()
        );
    }
    let newer = fleet.exec_ok("prod-newer", "apt-cache policy less");
    assert!(
        newer.contains("Candidate: ") && newer.lines().any(|l| l.contains("Candidate:") && l.ends_with("+pd2")),
        "{newer}"
    );

    // 1. Capture the tested baseline on staging.
    let baseline = capture_baseline(fleet);
    let mut tested: Vec<_> = baseline.updates.iter().map(|u| (u.name.as_str(), u.to.as_str())).collect();
    tested.sort();
    assert_eq!(tested.len(), 2, "{tested:?}");
    assert_eq!(tested[0].0, "less");
    assert!(tested[0].1.ends_with("+pd1"), "{tested:?}");
    assert_eq!(tested[1], ("pd-web", "1.1"));

    // 2. Check finds every planted divergence, and nothing on the clean hosts. First contact
    //    (nothing kept): prod-clean, prod-drift and prod-breaks have byte-identical apt
    //    inputs (their plants are outside apt's), so one of them asks apt for all three;
    //    prod-extra (tree installed) and prod-newer (another source, its list) ask their own.
    let out = fleet.patchdeck(&["check", &runbook]);
    let report_text = text(&out.stdout);
    eprintln!("check on the fresh fleet:\n{report_text}");
    assert_eq!(out.status.code(), Some(3), "{report_text}{}", text(&out.stderr));
    let sharing = "package manager's answer shared by identical hosts: 2 of 5 (--fresh=per-host asks each)";
    assert!(report_text.contains(sharing), "{report_text}");
    for line in [
        "ok   prod-clean   2 tested, health ok",
        "STOP prod-extra   2 tested, 1 untested, health ok",
        "STOP prod-newer   1 tested, 1 version mismatch, 1 sources drift, health ok",
        // The network file is a fingerprint here: judged by it alone. The rest is found by
        // the configuration map (see fleet_drift_nobody_listed).
        "STOP prod-drift   2 tested, 1 config drift, 1 other config drift, 1 modified conffile, 1 kernel drift, health ok",
        "WARN prod-breaks  2 tested, 1 other config drift, health ok",
    ] {
        assert!(report_text.lines().any(|l| l == line), "missing {line:?} in\n{report_text}");
    }
    let out = fleet.patchdeck(&["check", &runbook, "--json", "--fresh"]);
    assert_eq!(out.status.code(), Some(3));
    let report = json(&out);
    assert_eq!(report["exit_code"], 3);
    let clones = ["prod-clean", "prod-drift", "prod-breaks"];
    assert_shared(&report, &clones, &["prod-extra", "prod-newer"]);
    // Each host's own resolver, asked anew: for EVERY host the same diff as with sharing.
    let per_host = json(&fleet.patchdeck(&["check", &runbook, "--json", "--fresh=per-host"]));
    assert!(resolvers(&per_host).values().all(|r| r == "ran"), "{:?}", resolvers(&per_host));
    same_diffs(&report, &per_host, "shared answer differs from the host's own resolver's");
    let found = divergences(&report);
    let expected: BTreeMap<String, Vec<(String, String)>> = [
        ("prod-clean", vec![]),
        ("prod-extra", pair("untested_package", "tree")),
        ("prod-newer", [pair("version_mismatch", "less"), pair("drift_sources", PDREPO_NEWER)].concat()),
        (
            "prod-drift",
            [
                pair("config_drift", "file:/etc/network/interfaces"),
                pair("drift_config", "/etc/login.defs"),
                pair("drift_conffile", "/etc/pd-web/pd-web.conf"),
                pair("drift_kernel", "/etc/sysctl.d/60-patchdeck.conf"),
            ]
            .concat(),
        ),
        ("prod-breaks", pair("drift_config", PD_WEB_LOCAL)),
    ]
    .into_iter()
    .map(|(h, f)| (h.to_string(), f))
    .collect();
    assert_eq!(found, expected);
    for h in ["prod-clean", "prod-extra", "prod-newer", "prod-drift", "prod-breaks"] {
        assert!(checks(&report, h).iter().all(|(_, ok)| *ok), "{h}: {:?}", checks(&report, h));
    }

    // 2b. Nothing moved since: apt's kept answers stand on every host, and they equal what
    //     every host's resolver says when asked again. A real change (a hold) makes that
    //     host's resolver run again and the check sees it; undoing it does too.
    let (report, fresh) = check_equals_fresh(fleet, &runbook);
    assert!(resolvers(&report).values().all(|r| r == "reused"), "{:?}", resolvers(&report));
    assert_eq!(divergences(&report), expected);
    assert_shared(&fresh, &clones, &["prod-extra", "prod-newer"]);
    let out = fleet.patchdeck(&["check", &runbook]);
    assert!(
        text(&out.stdout)
            .contains("package manager not asked again on 5 of 5 hosts: package state unchanged (--fresh asks)"),
        "{}",
        text(&out.stdout)
    );
    fleet.exec_ok("prod-clean", "apt-mark hold less");
    let (report, fresh) = check_equals_fresh(fleet, &runbook);
    let ran: Vec<String> = resolvers(&report).into_iter().filter(|(_, r)| r == "ran").map(|(h, _)| h).collect();
    assert_eq!(ran, ["prod-clean"]);
    assert_eq!(divergences(&report)["prod-clean"], pair("not_pending", "less"), "a held package is not pending");
    // The hold is in dpkg's status: prod-clean is no longer a clone of the other two.
    assert_shared(&fresh, &["prod-drift", "prod-breaks"], &["prod-clean", "prod-extra", "prod-newer"]);
    fleet.exec_ok("prod-clean", "apt-mark unhold less");
    let (report, _) = check_equals_fresh(fleet, &runbook);
    // Unheld: its kept answer (for the held state) cannot stand. dpkg rewrote its status,
    // not necessarily byte for byte as built, so it asks apt, or a clone's answer serves.
    assert!(matches!(resolvers(&report)["prod-clean"].as_str(), "ran" | "shared"), "{:?}", answered_by(&report));
    assert_eq!(divergences(&report), expected);

    // 3. kill-sshd: the host cannot be reached, and says so; restore brings it back.
    fleet.fault("kill-sshd", "prod-clean");
    let out = fleet.patchdeck(&["check", &runbook]);
    let report_text = text(&out.stdout);
    eprintln!("check after kill-sshd prod-clean:\n{report_text}");
    assert_eq!(out.status.code(), Some(3));
    assert!(report_text.contains("STOP prod-clean") && report_text.contains("CANNOT CONNECT"), "{report_text}");
    let refused = format!("connect to host {} port {}:", fleet.address("prod-clean"), fleet.ssh_port());
    assert!(report_text.contains(&refused) && report_text.contains("Connection refused"), "{report_text}");
    let report = json(&fleet.patchdeck(&["check", &runbook, "--json"]));
    assert_eq!(divergences(&report)["prod-clean"].iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(), ["unreachable"]);
    assert_eq!(divergences(&report)["prod-extra"], pair("untested_package", "tree"), "other hosts unaffected");
    fleet.fault("restore", "prod-clean");
    let report = json(&fleet.patchdeck(&["check", &runbook, "--json"]));
    assert_eq!(divergences(&report)["prod-clean"], vec![]);

    // 4. break-web: the outside http check fails (404), only there; restore heals it.
    fleet.fault("break-web", "prod-clean");
    let out = fleet.patchdeck(&["check", &runbook, "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let report = json(&out);
    assert_eq!(
        checks(&report, "prod-clean"),
        [(WEB_CHECK.to_string(), false), ("dpkg is consistent".to_string(), true)]
    );
    assert!(checks(&report, "prod-breaks").iter().all(|(_, ok)| *ok));
    let detail = host(&report, "prod-clean")["checks"][0]["detail"].as_str().unwrap().to_string();
    let url = format!("GET http://{}:{}/ -> 404", fleet.address("prod-clean"), fleet.web_port());
    assert!(detail.starts_with(&url), "{detail}");
    let out = fleet.patchdeck(&["check", &runbook]);
    eprintln!("check after break-web prod-clean:\n{}", text(&out.stdout));
    fleet.fault("restore", "prod-clean");
    let report = json(&fleet.patchdeck(&["check", &runbook, "--json"]));
    assert!(checks(&report, "prod-clean").iter().all(|(_, ok)| *ok));

    // 5. hang-apt: the probe never takes apt's lock, so check still sees the host as it is,
    //    and says who holds the lock (a stop: a window would wait for it or fail), while a
    //    real apt run there cannot get the lock.
    fleet.fault("hang-apt", "prod-clean");
    let report = json(&fleet.patchdeck(&["check", &runbook, "--json"]));
    assert_eq!(divergences(&report)["prod-clean"], pair("dpkg_locked", "dpkg"));
    let out = fleet.exec("prod-clean", "apt-get install -y -o DPkg::Lock::Timeout=1 pd-web");
    assert!(!out.status.success() && text(&out.stderr).contains("lock"), "{}", text(&out.stderr));
    fleet.fault("restore", "prod-clean");

    // 6. Ready for `run`: applying the tested versions by hand breaks prod-breaks' site (its
    //    local.conf meets pd-web 1.1's bug) but not prod-clean's; installing the previous
    //    versions again (less from apt's cache, where the base keeps the original .deb:
    //    `--no-download` fails if it is missing; pd-web 1.0 from the local repository) heals
    //    it. This is what the run and rollback tests will drive through patchdeck.
    let less_update = baseline.updates.iter().find(|u| u.name.as_str() == "less").unwrap();
    let less_from = less_update.from.as_ref().expect("less was installed on staging").to_string();
    let less_to = tested[0].1;
    for h in ["prod-clean", "prod-breaks"] {
        fleet.exec_ok(h, &format!("apt-get install -y -q less={less_to} pd-web=1.1"));
    }
    let report = json(&fleet.patchdeck(&["check", &runbook, "--json"]));
    assert_eq!(
        checks(&report, "prod-breaks")[0],
        (WEB_CHECK.to_string(), false),
        "{:?}",
        checks(&report, "prod-breaks")
    );
    assert_eq!(checks(&report, "prod-clean")[0], (WEB_CHECK.to_string(), true));
    for h in ["prod-breaks", "prod-clean"] {
        // (pd-web separately: with --no-download apt fails on a flat file: repository.)
        fleet.exec_ok(h, &format!("apt-get install -y -q --no-download --allow-downgrades less={less_from}"));
        fleet.exec_ok(h, "apt-get install -y -q --allow-downgrades pd-web=1.0");
    }
    let report = json(&fleet.patchdeck(&["check", &runbook, "--json"]));
    assert!(checks(&report, "prod-breaks").iter().all(|(_, ok)| *ok), "{:?}", checks(&report, "prod-breaks"));
    assert_eq!(divergences(&report)["prod-breaks"], pair("drift_config", PD_WEB_LOCAL), "back where it started");
    assert_eq!(divergences(&report)["prod-clean"], vec![], "back where it started");
    for (h, before) in &pristine {
        assert_eq!(&fleet.installed(h), before, "{h}: dpkg-query -W as the fleet was built");
    }
    baseline
}

// ---- `patchdeck run` on the real fleet ----

/// The journal of the fleet window `name` (beside its runbook).
fn journal_of(fleet: &Fleet, name: &str) -> PathBuf {
    fleet.dir.join(format!("{name}.journal.jsonl"))
}

/// Replays a journal: it must parse whole (no torn tail), with records numbered 1, 2, 3...
fn events(journal: &Path) -> Vec<Event> {
    let r = patchdeck::journal::replay::<Event>(journal).unwrap_or_else(|e| panic!("{}: {e}", journal.display()));
    assert_eq!(r.torn_tail, None, "{}", journal.display());
    let seqs: Vec<u64> = r.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "contiguous records");
    r.records.into_iter().map(|r| r.event).collect()
}

/// `run RUNBOOK --no-tui --yes --operator fleet-test EXTRA...`
fn run_window(fleet: &Fleet, runbook: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", runbook.to_str().unwrap(), "--no-tui", "--yes", "--operator", "fleet-test"];
    args.extend_from_slice(extra);
    let out = fleet.patchdeck(&args);
    eprintln!("run {}:\n{}{}", runbook.display(), text(&out.stdout), text(&out.stderr));
    out
}

/// Package name -> version, from `dpkg-query -W` output.
fn versions(dpkg: &str) -> BTreeMap<String, String> {
    dpkg.lines().filter_map(|l| l.split_once('\t')).map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

/// Waits until the journal holds a `StepStarted` for `step` (by name).
fn wait_for_step(journal: &Path, step: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    let needle = format!("\"name\":\"{step}\"");
    loop {
        let started = std::fs::read_to_string(journal)
            .map(|j| j.lines().any(|l| l.contains("\"type\":\"step_started\"") && l.contains(&needle)))
            .unwrap_or(false);
        if started {
            return;
        }
        assert!(Instant::now() < deadline, "step {step:?} never started ({})", journal.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `host`'s runner records the run `run` (e.g. `step1-1`) with its pid.
fn wait_for_host_run(fleet: &Fleet, host: &str, run: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    let runs = fleet.root(host).join("var/lib/patchdeck/runs");
    loop {
        let recorded = std::fs::read_dir(&runs)
            .map(|ws| ws.flatten().any(|w| w.path().join(run).join("pid").exists()))
            .unwrap_or(false);
        if recorded {
            return;
        }
        assert!(Instant::now() < deadline, "{host}: run {run} never recorded under {}", runs.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn count<F: Fn(&Event) -> bool>(ev: &[Event], f: F) -> usize {
    ev.iter().filter(|e| f(e)).count()
}

/// The hard stops raised for `host`; every other stop must be the window's own stop for its
/// one wave having a failed host (`max_failures` 0), which the run decides the same way.
fn host_stops<'a>(ev: &'a [Event], host: &str) -> Vec<&'a StopKind> {
    let mut stops = vec![];
    for e in ev {
        match e {
            Event::HardStop { host: Some(h), stop, .. } if h == host => stops.push(stop),
            Event::HardStop { host: None, stop: StopKind::TooManyFailures { wave, failures: 1, max: 0 }, .. }
                if wave == "only" => {}
            Event::HardStop { .. } => panic!("unexpected stop {e:?}"),
            _ => {}
        }
    }
    stops
}

fn host_result(ev: &[Event], host: &str) -> Vec<HostResult> {
    ev.iter()
        .filter_map(|e| match e {
            Event::HostFinished { host: h, result } if h == host => Some(*result),
            _ => None,
        })
        .collect()
}

/// Acceptance 1: the canary window on prod-clean installs exactly the tested versions and
/// changes nothing else; then the host is put back by hand for the next scenario.
fn run_clean_window(fleet: &Fleet, baseline: &Baseline) {
    let rb = fleet.window("fleet-clean", "prod-clean", "", None);
    let before = fleet.installed("prod-clean");
    let out = run_window(fleet, &rb, &[]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let after = fleet.installed("prod-clean");

    // Exactly the tested packages changed, each from the baseline's `from` to its `to`.
    let (b, a) = (versions(&before), versions(&after));
    assert_eq!(b.keys().collect::<Vec<_>>(), a.keys().collect::<Vec<_>>(), "nothing installed or removed");
    let changed: BTreeMap<&str, (&str, &str)> =
        b.iter().filter(|(n, v)| a[*n] != **v).map(|(n, v)| (n.as_str(), (v.as_str(), a[n].as_str()))).collect();
    let tested: BTreeMap<&str, (&str, &str)> = baseline
        .updates
        .iter()
        .map(|u| (u.name.as_str(), (u.from.as_ref().map(|v| v.as_str()).unwrap(), u.to.as_str())))
        .collect();
    assert_eq!(changed, tested, "dpkg-query -W before/after differs in exactly the tested packages");
    eprintln!("prod-clean after the clean window, changed: {changed:?}");

    let ev = events(&journal_of(fleet, "fleet-clean"));
    assert!(matches!(ev.first(), Some(Event::WindowStarted { operators, .. }) if operators == &["fleet-test"]));
    assert_eq!(count(&ev, |e| matches!(e, Event::HardStop { .. })), 0, "{ev:#?}");
    let journaled: Vec<(String, Option<String>, Option<String>)> = ev
        .iter()
        .find_map(|e| match e {
            Event::StepFinished { host, outcome: Outcome::Ok, changes, .. } if host == "prod-clean" => {
                Some(changes.iter().map(|c| (c.name.clone(), c.from.clone(), c.to.clone())).collect())
            }
            _ => None,
        })
        .expect("the packages step finished ok");
    let expected: Vec<_> =
        tested.iter().map(|(n, (f, t))| (n.to_string(), Some(f.to_string()), Some(t.to_string()))).collect();
    assert_eq!(journaled, expected, "the journal records exactly what changed");
    assert_eq!(host_result(&ev, "prod-clean"), [HostResult::Done]);
    assert!(matches!(ev.last(), Some(Event::WindowFinished { aborted: false })));
    let (status, body) = fleet.http_get("prod-clean");
    assert!(status == 200 && body.contains("prod-clean"), "{status} {body}");

    // Back as built, for the next scenarios.
    let undo: Vec<String> = tested.iter().map(|(n, (f, _))| format!("{n}={f}")).collect();
    fleet.exec_ok("prod-clean", &format!("apt-get install -y -q --allow-downgrades {}", undo.join(" ")));
    assert_eq!(fleet.installed("prod-clean"), before);
}

/// Acceptance 2: a step failing after the packages step, `--decide rollback`: every package
/// is back at its snapshot version, `dpkg-query -W` byte for byte as before the window.
fn run_failing_step_rolls_back(fleet: &Fleet) {
    let steps = r#"[[step]]
name = "apply tested updates"
packages = "tested"

[[step]]
name = "migrate"
run = "echo migration failed on purpose >&2; exit 7"
rollback = "true"
"#;
    let rb = fleet.window("fleet-fail", "prod-clean", "", Some(steps));
    let before = fleet.installed("prod-clean");
    let out = run_window(fleet, &rb, &["--decide", "rollback"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("prod-clean: rolled back, verified"), "{stdout}");
    let after = fleet.installed("prod-clean");
    assert_eq!(after, before, "dpkg-query -W after the rollback is byte for byte the one before the window");

    let ev = events(&journal_of(fleet, "fleet-fail"));
    let stops = host_stops(&ev, "prod-clean");
    assert!(
        matches!(stops.as_slice(), [StopKind::StepFailed { step, status: Some(7), output_tail, .. }]
            if step == "migrate" && output_tail.contains("migration failed on purpose")),
        "{stops:#?}"
    );
    assert!(ev.iter().any(|e| matches!(e, Event::Decided(d) if d.decision.choice == Choice::RollbackHost)));
    // The packages step really changed something, and its rollback verified against the snapshot.
    assert!(ev.iter().any(|e| matches!(e, Event::StepFinished { step: 0, outcome: Outcome::Ok, changes, .. }
        if changes.len() == 2)));
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::RollbackFinished { step: 0, outcome: Outcome::Ok, verified: Some(true), .. }))
    );
    assert_eq!(host_result(&ev, "prod-clean"), [HostResult::RolledBack]);
}

/// Acceptance 3: pd-web 1.1 breaks prod-breaks' page: the health check after the packages
/// step fails, a hard stop (the fleet runbook's policy: decide) and `--decide rollback`; the
/// page answers again and the packages are back. Then the same with `auto_rollback`: the
/// host rolls itself back after the countdown, no decision needed.
fn run_breaking_web_rolls_back(fleet: &Fleet) {
    for (name, policy, extra) in [
        ("fleet-breaks", "", &["--decide", "rollback"][..]),
        ("fleet-breaks-auto", "auto_rollback = true\nauto_rollback_countdown = \"1s\"\n", &[][..]),
    ] {
        let rb = fleet.window(name, "prod-breaks", policy, None);
        let before = fleet.installed("prod-breaks");
        assert_eq!(fleet.http_get("prod-breaks").0, 200);
        let out = run_window(fleet, &rb, extra);
        assert_eq!(out.status.code(), Some(3), "{name}: {}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(fleet.installed("prod-breaks"), before, "{name}: dpkg-query -W byte for byte as before");
        let (status, body) = fleet.http_get("prod-breaks");
        assert!(status == 200 && body.contains("prod-breaks"), "{name}: the page answers again: {status} {body}");

        let ev = events(&journal_of(fleet, name));
        let health: Vec<&Vec<patchdeck::health::CheckResult>> =
            ev.iter()
                .filter_map(|e| match e {
                    Event::HardStop {
                        host: Some(h), stop: StopKind::HealthFailed { after_step, failing, .. }, ..
                    } if h == "prod-breaks" && after_step == "apply tested updates" => Some(failing),
                    _ => None,
                })
                .collect();
        assert_eq!(health.len(), 1, "{name}: {ev:#?}");
        assert_eq!(host_stops(&ev, "prod-breaks").len(), 1, "{name}: the health stop, nothing else");
        assert_eq!(health[0].iter().map(|c| c.check.as_str()).collect::<Vec<_>>(), [WEB_CHECK], "{name}");
        assert!(health[0][0].detail.contains("404"), "{name}: {:?}", health[0][0]);
        let armed = count(&ev, |e| matches!(e, Event::AutoRollbackArmed { host, seconds: 1 } if host == "prod-breaks"));
        let decided_by: Vec<&Vec<String>> = ev
            .iter()
            .filter_map(|e| match e {
                Event::Decided(d)
                    if d.host.as_deref() == Some("prod-breaks") && d.decision.choice == Choice::RollbackHost =>
                {
                    Some(&d.operators)
                }
                _ => None,
            })
            .collect();
        if policy.is_empty() {
            assert_eq!(armed, 0, "{name}: no auto-rollback in the fleet's policy");
            // Decided by the run's `--decide rollback`, and the journal says so.
            assert_eq!(decided_by, [&vec!["--decide rollback (standing order of fleet-test)".to_string()]], "{name}");
        } else {
            assert_eq!(armed, 1, "{name}");
            assert_eq!(decided_by, [&vec!["auto-rollback".to_string()]], "{name}");
        }
        assert!(
            ev.iter().any(|e| matches!(e, Event::RollbackFinished { step: 0, outcome: Outcome::Ok, verified: Some(true), mismatches, .. } if mismatches.is_empty())),
            "{name}"
        );
        assert_eq!(host_result(&ev, "prod-breaks"), [HostResult::RolledBack], "{name}");
    }
}

/// Acceptance 4: sshd (and the session running the step) killed while a slow step runs: a
/// hard stop for a lost host, the window aborted, the journal whole and contiguous. (The step
/// runs on, detached on the host; patchdeck reads its record until the step's timeout, 10 s
/// here, then the host is lost: `fleet_faults` has the host coming back in time.)
fn run_sshd_killed_mid_step(fleet: &Fleet) {
    let steps = r#"[[step]]
name = "slow step"
run = "sleep 20"
rollback = "true"
timeout = "10s"
"#;
    let rb = fleet.window("fleet-sshd", "prod-clean", "", Some(steps));
    let before = fleet.installed("prod-clean");
    let journal = journal_of(fleet, "fleet-sshd");
    let args = ["run", rb.to_str().unwrap(), "--no-tui", "--yes", "--operator", "fleet-test"];
    let child = fleet.patchdeck_cmd(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for_step(&journal, "slow step", Duration::from_secs(120));
    let killed = Instant::now();
    fleet.fault("kill-sshd", "prod-clean");
    let out = child.wait_with_output().unwrap();
    eprintln!(
        "run after kill-sshd ({:.1}s):\n{}{}",
        killed.elapsed().as_secs_f64(),
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(killed.elapsed() < Duration::from_secs(20), "the lost host was given up at the step's timeout");

    let ev = events(&journal);
    assert_eq!(count(&ev, |e| matches!(e, Event::StepStarted { name, .. } if name == "slow step")), 1);
    // The ssh client exits 255 and the master is gone: a lost connection, whose outcome is
    // unknown (never a failed step: the command did not say it failed).
    let stops = host_stops(&ev, "prod-clean");
    assert!(
        matches!(stops.as_slice(), [StopKind::Unreachable { detail }]
            if detail.contains("connection lost while running a command")),
        "{stops:#?}"
    );
    assert!(ev.iter().any(|e| matches!(e,
        Event::StepFinished { step: 0, outcome: Outcome::Unreachable { detail }, .. }
            if detail.contains("connection lost while running a command"))));
    assert!(ev.iter().any(|e| matches!(e, Event::Decided(d) if d.decision.choice == Choice::Abort)));
    assert!(matches!(ev.last(), Some(Event::WindowFinished { aborted: true })));

    fleet.fault("restore", "prod-clean");
    assert_eq!(fleet.installed("prod-clean"), before, "the step changed no package");
    // The aborted window's lock stays on the host (its step's outcome is unknown), and
    // another window's check says so; people clear it once they have looked.
    let report = json(&fleet.patchdeck(&["check", fleet.runbook.to_str().unwrap(), "--json"]));
    assert_eq!(divergences(&report)["prod-clean"], pair("host_locked", "host"), "the lock outlives the link");
    let lock = fleet.exec_ok("prod-clean", "cat /var/lib/patchdeck/lock");
    assert!(lock.contains("fleet-sshd"), "the lock names the window that holds it: {lock}");
    fleet.exec_ok("prod-clean", "rm /var/lib/patchdeck/lock");
    let report = json(&fleet.patchdeck(&["check", fleet.runbook.to_str().unwrap(), "--json"]));
    assert_eq!(divergences(&report)["prod-clean"], vec![], "reachable again");
}

/// Acceptance 5: patchdeck killed (SIGKILL) while a slow step runs after the packages step;
/// `--resume --decide rollback` neither loses nor repeats a step: the journal before the
/// kill is a prefix of the one after, the in-flight step started once, and (issue 14) its
/// outcome is no longer unknown: the step ran on, detached on the host, and the resume
/// follows it again to its end from the host's record. `patchdeck rollback` then restores
/// the host.
fn run_killed_then_resumed(fleet: &Fleet) {
    let steps = r#"[[step]]
name = "apply tested updates"
packages = "tested"

[[step]]
name = "slow step"
run = "sleep 20"
rollback = "true"
timeout = "2m"
"#;
    let rb = fleet.window("fleet-kill9", "prod-clean", "", Some(steps));
    let before = fleet.installed("prod-clean");
    let journal = journal_of(fleet, "fleet-kill9");
    let args = ["run", rb.to_str().unwrap(), "--no-tui", "--yes", "--operator", "fleet-test"];
    let mut child = fleet.patchdeck_cmd(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for_step(&journal, "slow step", Duration::from_secs(180));
    // Journaled ahead is not yet started on the host: killed in between, the host has no
    // record and the resume must ask (outcome unknown). This scenario is the other one:
    // killed once the host's runner has the step (its pid recorded).
    wait_for_host_run(fleet, "prod-clean", "step1-1", Duration::from_secs(60));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let cut = std::fs::read(&journal).unwrap();
    let before_kill = events(&journal);
    assert!(matches!(before_kill.last(), Some(Event::StepStarted { step: 1, .. })), "{before_kill:#?}");
    assert_ne!(fleet.installed("prod-clean"), before, "the packages step ran before the kill");

    let out = run_window(fleet, &rb, &["--resume", "--decide", "rollback"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(!stdout.contains("outcome unknown"), "{stdout}");
    let after_bytes = std::fs::read(&journal).unwrap();
    assert!(after_bytes.starts_with(&cut), "the journal before the kill is a byte prefix of the one after");
    let after = events(&journal);
    assert_eq!(&after[..before_kill.len()], &before_kill[..], "nothing journaled before the kill was lost or changed");
    for step in ["apply tested updates", "slow step"] {
        assert_eq!(count(&after, |e| matches!(e, Event::StepStarted { name, .. } if name == step)), 1, "{step}");
    }
    assert_eq!(host_stops(&after, "prod-clean"), Vec::<&StopKind>::new(), "the host's record said how it ended");
    let resumed = &after[before_kill.len()..];
    assert!(
        resumed.iter().any(|e| matches!(
            e,
            Event::RunRecord { step: 1, found: RunFound::Running | RunFound::Finished { status: Some(0) }, .. }
        )),
        "{resumed:#?}"
    );
    assert!(resumed.iter().any(|e| matches!(e, Event::StepFinished { step: 1, outcome: Outcome::Ok, .. })));
    assert_eq!(host_result(&after, "prod-clean"), [HostResult::Done]);
    assert!(matches!(after.last(), Some(Event::WindowFinished { .. })));
    let from = after.len();
    let out = rollback_cmd(fleet, &journal, &["--host", "prod-clean"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    rolled_back_verified(&events(&journal), from, "prod-clean");
    assert_eq!(fleet.installed("prod-clean"), before, "dpkg-query -W byte for byte as before the window");
}

/// Sends `signal` to `pid` with kill(1).
fn kill(pid: u32, signal: &str) {
    let st = std::process::Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap();
    assert!(st.success(), "kill -{signal} {pid}");
}

/// `patchdeck rollback JOURNAL ARGS... --yes --operator fleet-test`
fn rollback_cmd(fleet: &Fleet, journal: &Path, args: &[&str]) -> Output {
    let mut all = vec!["rollback", journal.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--yes", "--operator", "fleet-test"]);
    let out = fleet.patchdeck(&all);
    eprintln!("rollback {}:\n{}{}", journal.display(), text(&out.stdout), text(&out.stderr));
    out
}

/// The rollbacks `patchdeck rollback` journaled for `host` after event `from`: every
/// rollback finished ok and verified on the host, and its health checks ran after it.
fn rolled_back_verified(ev: &[Event], from: usize, host: &str) {
    let after = &ev[from..];
    assert!(matches!(&after[0], Event::Resumed { operators, .. } if operators == &["fleet-test"]), "{:#?}", after[0]);
    let finished: Vec<_> = after
        .iter()
        .filter_map(|e| match e {
            Event::RollbackFinished { host: h, outcome, verified, .. } if h == host => {
                Some((outcome.clone(), *verified))
            }
            _ => None,
        })
        .collect();
    assert!(!finished.is_empty(), "{host} rolled back: {after:#?}");
    assert!(finished.iter().all(|(o, v)| *o == Outcome::Ok && *v != Some(false)), "{host}: {finished:?}");
    let checks = after.iter().find_map(|e| match e {
        Event::Checks { host: h, after_rollback: true, results, .. } if h == host => Some(results.clone()),
        _ => None,
    });
    let checks = checks.unwrap_or_else(|| panic!("{host}: health checked after the rollback: {after:#?}"));
    assert!(!checks.is_empty() && checks.iter().all(|c| c.ok), "{host}: {checks:?}");
}

/// Issue 13, on the real fleet: SIGTERM while a step runs leaves the window paused (the
/// running step ends, nothing new starts, exit 4); `--resume` carries on to the end where it
/// was (no step twice) and installs exactly the tested versions; then, the window finished,
/// `patchdeck rollback --host` puts the host back byte for byte and re-checks its health.
fn run_paused_mid_step_resumed_then_rolled_back(fleet: &Fleet, baseline: &Baseline) {
    let steps = r#"[[step]]
name = "apply tested updates"
packages = "tested"

[[step]]
name = "slow step"
run = "sleep 4"
rollback = "true"
timeout = "1m"

[[step]]
name = "after the pause"
run = "true"
rollback = "true"
"#;
    let rb = fleet.window("fleet-pause", "prod-clean", "", Some(steps));
    let before = fleet.installed("prod-clean");
    let journal = journal_of(fleet, "fleet-pause");
    let args = ["run", rb.to_str().unwrap(), "--no-tui", "--yes", "--operator", "fleet-test"];
    let child = fleet.patchdeck_cmd(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for_step(&journal, "slow step", Duration::from_secs(180));
    kill(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    eprintln!("paused run:\n{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(4), "left paused");
    let paused = events(&journal);
    let at = paused
        .iter()
        .position(|e| matches!(e, Event::Requested { request: patchdeck::engine::event::Request::Pause { .. }, .. }))
        .expect("the pause is journaled");
    assert!(!paused[at..].iter().any(|e| matches!(e, Event::StepStarted { .. })), "nothing started after the pause");
    assert!(
        paused[at..].iter().any(|e| matches!(e, Event::StepFinished { step: 1, outcome: Outcome::Ok, .. })),
        "the running step ran to its end and is recorded as it ended: {:#?}",
        &paused[at..]
    );
    assert!(!paused.iter().any(|e| matches!(e, Event::WindowFinished { .. })));

    let out = run_window(fleet, &rb, &["--resume"]);
    assert_eq!(out.status.code(), Some(0), "resumed to the end");
    let done = events(&journal);
    assert_eq!(&done[..paused.len()], &paused[..], "nothing journaled before was changed");
    assert!(matches!(&done[paused.len()], Event::Resumed { operators, .. } if operators == &["fleet-test"]));
    for step in ["apply tested updates", "slow step", "after the pause"] {
        assert_eq!(count(&done, |e| matches!(e, Event::StepStarted { name, .. } if name == step)), 1, "{step} once");
    }
    assert!(matches!(done.last(), Some(Event::WindowFinished { aborted: false })));
    let after = versions(&fleet.installed("prod-clean"));
    for u in &baseline.updates {
        assert_eq!(after.get(u.name.as_str()).map(String::as_str), Some(u.to.as_str()), "{} as tested", u.name);
    }

    // The window is over: rollback is still there.
    let out = rollback_cmd(fleet, &journal, &["--host", "prod-clean"]);
    assert_eq!(out.status.code(), Some(0), "rolled back and verified");
    assert_eq!(fleet.installed("prod-clean"), before, "dpkg-query -W byte for byte as before the window");
    rolled_back_verified(&events(&journal), done.len(), "prod-clean");
}

/// Issue 13, on the real fleet: two hosts in parallel; prod-clean's step fails while
/// prod-drift's runs; `--decide abort` at the hard stop: prod-drift's running step ends and
/// is recorded as it ended, and no step starts anywhere after the decision. Then, the window
/// aborted, `patchdeck rollback --all` puts both hosts back byte for byte.
fn run_abort_at_a_stop_starts_nothing_then_rolled_back(fleet: &Fleet) {
    let steps = r#"[[step]]
name = "apply tested updates"
packages = "tested"

[[step]]
name = "migrate"
run = "if [ -e /etc/pd-fail-here ]; then sleep 3; echo failing here on purpose >&2; exit 9; fi; sleep 10"
rollback = "true"
timeout = "1m"

[[step]]
name = "never after an abort"
run = "true"
rollback = "true"
"#;
    let hosts = ["prod-clean", "prod-drift"];
    let rb = fleet.window_of("fleet-abort", &hosts, "parallel = 2", "", Some(steps));
    // prod-drift differs from staging in its configuration (its /etc/network/interfaces,
    // compared by the fleet runbook's fingerprint and by the drift map, and files the drift
    // map finds): accepted here, this scenario is about control, so the host is as clean as
    // prod-clean for the window.
    let text_rb = std::fs::read_to_string(&rb).unwrap();
    let fingerprint = "[[fingerprint]]\npath = \"/etc/network/interfaces\"";
    assert!(text_rb.contains(fingerprint), "{text_rb}");
    let accepted =
        "[drift]\nnetworking = \"ignore\"\nconffiles = \"ignore\"\nconfig = \"ignore\"\nkernel = \"ignore\"\n";
    std::fs::write(&rb, text_rb.replace(fingerprint, accepted)).unwrap();
    let before: Vec<String> = hosts.iter().map(|h| fleet.installed(h)).collect();
    fleet.exec_ok("prod-clean", "touch /etc/pd-fail-here");
    let journal = journal_of(fleet, "fleet-abort");

    let out = run_window(fleet, &rb, &["--decide", "abort"]);
    fleet.exec_ok("prod-clean", "rm /etc/pd-fail-here");
    assert_eq!(out.status.code(), Some(3), "aborted");
    let ev = events(&journal);
    let at = ev
        .iter()
        .position(|e| {
            matches!(e, Event::Decided(d) if d.decision.choice == Choice::Abort && d.host.as_deref() == Some("prod-clean"))
        })
        .unwrap_or_else(|| panic!("abort decided at prod-clean's stop: {ev:#?}"));
    assert!(
        ev[..at].iter().any(|e| matches!(e, Event::HardStop { host: Some(h), stop: StopKind::StepFailed { .. }, .. } if h == "prod-clean")),
        "{ev:#?}"
    );
    assert!(
        !ev[at..].iter().any(|e| matches!(e, Event::StepStarted { .. })),
        "nothing started after the abort: {:#?}",
        &ev[at..]
    );
    assert_eq!(count(&ev, |e| matches!(e, Event::StepStarted { name, .. } if name == "never after an abort")), 0);
    let drift_migrate: Vec<&Outcome> = ev
        .iter()
        .filter_map(|e| match e {
            Event::StepFinished { host, step: 1, outcome, .. } if host == "prod-drift" => Some(outcome),
            _ => None,
        })
        .collect();
    assert_eq!(
        drift_migrate,
        [&Outcome::Ok],
        "prod-drift's migrate (started 3s before prod-clean's failed) ran to its end, recorded as it ended"
    );
    assert!(matches!(ev.last(), Some(Event::WindowFinished { aborted: true })));
    for (h, b) in hosts.iter().zip(&before) {
        assert_ne!(&fleet.installed(h), b, "{h}: the abort left its packages changed");
    }

    // The window is over (aborted): rollback is still there, for every host with changes.
    let out = rollback_cmd(fleet, &journal, &["--all"]);
    assert_eq!(out.status.code(), Some(0), "rolled back and verified");
    let after = events(&journal);
    for (h, b) in hosts.iter().zip(&before) {
        assert_eq!(&fleet.installed(h), b, "{h}: dpkg-query -W byte for byte as before the window");
        rolled_back_verified(&after, ev.len(), h);
    }
}

// ---- `patchdeck drill --live` on the real fleet ----

fn drill_scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleet/drills").join(format!("{name}.toml")).display().to_string()
}

/// A declared drill window around now.
fn drill_window_now() -> String {
    let now = jiff::Timestamp::now();
    let (a, b) = (now - jiff::SignedDuration::from_mins(5), now + jiff::SignedDuration::from_hours(2));
    format!("{}/{}", a.strftime("%Y-%m-%dT%H:%M:%SZ"), b.strftime("%Y-%m-%dT%H:%M:%SZ"))
}

/// Acceptance (drills): `--live` outside the declared drill window is refused before
/// anything happens: no journal, no fault command, not one ssh connection.
fn drill_live_outside_its_window_touches_nothing(fleet: &Fleet) {
    let rb = fleet.drill_runbook();
    let journal = fleet.dir.join("drill-refused.journal.jsonl");
    let marker = fleet.dir.join("fault-cmd-ran");
    let sshd_before = fleet.sshd_log("prod-clean");
    let out = fleet.patchdeck(&[
        "drill",
        rb.to_str().unwrap(),
        "--scenario",
        &drill_scenario("step-failed"),
        "--live",
        "--no-tui",
        "--yes",
        "--drill-window",
        "2020-01-01T00:00:00Z/2020-01-01T02:00:00Z",
        "--fault-cmd",
        &format!("touch {}", marker.display()),
        "--decide",
        "rollback",
        "--journal",
        journal.to_str().unwrap(),
        "--no-history",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}{err}", text(&out.stdout));
    assert!(err.contains("outside the drill window 2020-01-01T00:00:00Z/2020-01-01T02:00:00Z"), "{err}");
    assert!(err.contains("--force"), "says how to override: {err}");
    assert!(!journal.exists() && !marker.exists());
    assert_eq!(fleet.sshd_log("prod-clean"), sshd_before, "no ssh connection was made");
}

/// Processes inside the host's root whose program (argv[0]) is one of `programs`, as
/// "/proc/PID: command line" (e.g. a hang the drill left behind).
fn procs_in(fleet: &Fleet, host: &str, programs: &[&str]) -> Vec<String> {
    let root = std::fs::canonicalize(fleet.root(host)).unwrap();
    let mut found = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let p = e.path();
        let in_host = std::fs::read_link(p.join("root")).is_ok_and(|r| r == root);
        let cmd = std::fs::read(p.join("cmdline")).unwrap_or_default();
        let argv0 = cmd.split(|b| *b == 0).next().unwrap_or_default();
        if in_host && programs.iter().any(|p| p.as_bytes() == argv0) {
            found.push(format!("{}: {}", p.display(), text(&cmd).replace('\0', " ")));
        }
    }
    found
}

/// Polls [`procs_in`] until none is left (the ssh watchdog TERMs a timed-out command's
/// group, waits its grace, then KILLs what is left), at most 30 s; what is left.
fn wait_gone(fleet: &Fleet, host: &str, programs: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut left = procs_in(fleet, host, programs);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        left = procs_in(fleet, host, programs);
    }
    left
}

/// Acceptance (drills): the fleet's drill window rehearsed `--live` on prod-clean, one
/// scenario of `tests/fleet/drills/` at a time, decided by `--decide rollback`: each fault
/// really happens on the host (a command that really exits 3 there, one that really hangs
/// until the step's timeout, the packages step's real apt waiting on dpkg's lock held by
/// `hang-apt`, the page really gone, sshd really killed), patchdeck stops hard, rolls back
/// and verifies where it can, and the fault command puts the host right when the drill ends. The scorecard is checked field by field against the journal, and
/// `dpkg-query -W` against the one before the drill, byte for byte.
fn drill_live_scenarios(fleet: &Fleet, baseline: &Baseline) {
    let rb = fleet.drill_runbook();
    let window = drill_window_now();
    let history = fleet.dir.join("drills.jsonl");
    // (scenario, the stop it must raise, does the rollback restore the host?)
    let cases = [
        ("step-failed", "step_failed", true),
        ("step-timeout", "step_timeout", true),
        ("apt-hangs", "step_timeout", true),
        ("health-failed", "health_failed", true),
        ("host-unreachable", "unreachable", false),
    ];
    for (name, stop_kind, restores) in cases {
        let before = fleet.installed("prod-clean");
        let journal = fleet.dir.join(format!("drill-{name}.journal.jsonl"));
        let started = Instant::now();
        let child = fleet
            .patchdeck_cmd(&[
                "drill",
                rb.to_str().unwrap(),
                "--scenario",
                &drill_scenario(name),
                "--live",
                "--no-tui",
                "--yes",
                "--drill-window",
                &window,
                "--fault-cmd",
                &fleet.fault_cmd(),
                "--decide",
                "rollback",
                "--journal",
                journal.to_str().unwrap(),
                "--operator",
                "fleet-test",
                "--history-file",
                history.to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let drill = std::thread::spawn(move || child.wait_with_output().unwrap());
        // Meanwhile on the host: apt-get waiting while hang-apt's perl holds dpkg's locks?
        let mut apt_waited_on_the_lock = false;
        while !drill.is_finished() {
            let now = procs_in(fleet, "prod-clean", &["apt-get", "perl"]);
            let running = |p: &str| now.iter().any(|l| l.split_once(": ").is_some_and(|(_, c)| c.starts_with(p)));
            apt_waited_on_the_lock |= running("apt-get install") && running("perl");
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = drill.join().unwrap();
        let stdout = text(&out.stdout);
        eprintln!("drill --live {name} ({:.1}s):\n{stdout}{}", started.elapsed().as_secs_f64(), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{name}: the scorecard passed");
        assert!(stdout.lines().all(|l| l.starts_with("[DRILL] ")), "{name}: {stdout}");
        assert!(stdout.contains(&format!("SCORECARD {name} (fleet-drill, live): PASSED")), "{name}: {stdout}");

        // The journal: a drill, the fault, the stop, the decision, the scorecard last.
        let replay = patchdeck::journal::replay::<Event>(&journal).unwrap();
        assert!(replay.header.drill, "{name}: DRILL in the journal's header");
        let ev = events(&journal);
        assert!(
            matches!(ev.first(), Some(Event::WindowStarted { drill: true, operators, .. }) if operators == &["fleet-test"])
        );
        assert_eq!(count(&ev, |e| matches!(e, Event::FaultInjected { host: Some(h), .. } if h == "prod-clean")), 1);
        let Some(Event::DrillScorecard { scorecard }) = ev.last() else { panic!("{name}: no scorecard last") };
        let sc: &Scorecard = scorecard;
        assert!(sc.passed && sc.target == "live", "{name}: {sc:#?}");
        let caught = sc.faults[0].stop.as_ref().unwrap_or_else(|| panic!("{name}: the fault was not caught: {sc:#?}"));
        assert_eq!((caught.kind.name(), caught.host.as_deref()), (stop_kind, Some("prod-clean")), "{name}");
        assert_eq!(caught.decision, Some(Choice::RollbackHost), "{name}");
        assert!(sc.faults[0].injected_s.is_some_and(|s| s > 0.0), "{name}: {sc:#?}");
        let decide = caught.decide_s.unwrap_or_else(|| panic!("{name}: no decision time"));
        assert!(caught.detect_s >= 0.0 && decide >= caught.detect_s, "{name}: {caught:?}");
        assert_eq!(sc.decisions[0].by, ["--decide rollback (standing order of fleet-test)"], "{name}");
        let end = sc.hosts.iter().find(|h| h.host == "prod-clean").unwrap();
        let undone = sc.expectations.iter().filter(|e| e.what == "faults undone after the drill").collect::<Vec<_>>();

        if restores {
            let recover = caught.recover_s.unwrap_or_else(|| panic!("{name}: no recovery time: {caught:?}"));
            assert!(recover >= decide, "{name}: {caught:?}");
            assert_eq!((end.result, end.as_before), (Some(HostResult::RolledBack), Some(true)), "{name}: {end:?}");
            assert!(
                ev.iter().any(|e| matches!(
                    e,
                    Event::RollbackFinished { step: 0, outcome: Outcome::Ok, verified: Some(true), .. }
                )),
                "{name}: the packages' rollback verified"
            );
            assert_eq!(
                fleet.installed("prod-clean"),
                before,
                "{name}: dpkg-query -W byte for byte as before the drill"
            );
        } else {
            // sshd was killed after the updates: no rollback could reach the host, and the
            // drill says so instead of pretending.
            assert_eq!(caught.recover_s, None, "{name}");
            assert_eq!((end.result, end.as_before), (Some(HostResult::Failed), Some(false)), "{name}: {end:?}");
            assert_eq!(end.differences.len(), 2, "{name}: upgraded, not restored: {end:?}");
        }

        // What each fault really did on the host, and that the host is usable again.
        assert_eq!(apt_waited_on_the_lock, name == "apt-hangs", "{name}: only apt-hangs holds dpkg's locks");
        match name {
            "step-failed" => {
                assert!(ev.iter().any(|e| matches!(e,
                Event::StepFinished { step: 1, outcome: Outcome::Failed { status: Some(3), output_tail }, .. }
                    if output_tail.contains("drill: injected failure (exit 3) instead of: dpkg-query -W less pd-web"))))
            }
            "step-timeout" => {
                assert!(ev.iter().any(|e| matches!(e,
                    Event::StepFinished { step: 1, outcome: Outcome::Timeout { after_secs: 15 }, millis, .. } if *millis >= 15_000)));
                assert_eq!(wait_gone(fleet, "prod-clean", &["sleep"]), Vec::<String>::new(), "the hang was killed");
            }
            "apt-hangs" => {
                // The real `apt-get install` waited for the lock until the step's 20 s were up,
                // never got it (nothing changed: checked above), and the smoke test never ran.
                assert!(ev.iter().any(|e| matches!(e,
                    Event::StepFinished { step: 0, outcome: Outcome::Timeout { after_secs: 20 }, millis, .. } if *millis >= 20_000)));
                assert_eq!(count(&ev, |e| matches!(e, Event::StepStarted { name, .. } if name == "smoke test")), 0);
                assert!(
                    undone.len() == 1 && undone[0].held && undone[0].detail.contains("restore prod-clean"),
                    "{undone:?}"
                );
                let left = wait_gone(fleet, "prod-clean", &["apt-get", "perl"]);
                assert_eq!(left, Vec::<String>::new(), "apt killed by the watchdog, the lock holder by restore");
                // The lock is free again: apt takes it at once (and changes nothing).
                fleet.exec_ok("prod-clean", "apt-get install -y -q -o DPkg::Lock::Timeout=0 --no-upgrade less");
            }
            "health-failed" => {
                assert!(ev.iter().any(|e| matches!(e,
                    Event::HardStop { stop: StopKind::HealthFailed { after_step, failing, .. }, .. }
                        if after_step == "smoke test" && failing[0].detail.contains("404"))));
                assert_eq!(undone.len(), 1, "{sc:#?}");
                assert!(undone[0].held && undone[0].detail.contains("restore prod-clean"), "{undone:?}");
                let (status, body) = fleet.http_get("prod-clean");
                assert!(status == 200 && body.contains("prod-clean"), "the page is back: {status} {body}");
            }
            "host-unreachable" => {
                assert!(undone.len() == 1 && undone[0].held, "{undone:?}");
                // Back on the network: the last probe read its packages (as_before above);
                // put them back by hand for whatever runs next.
                let undo: Vec<String> =
                    baseline.updates.iter().map(|u| format!("{}={}", u.name, u.from.as_ref().unwrap())).collect();
                fleet.exec_ok("prod-clean", &format!("apt-get install -y -q --allow-downgrades {}", undo.join(" ")));
                assert_eq!(fleet.installed("prod-clean"), before, "{name}: back as built");
                // The drill's window still holds the host (its changes were never undone by
                // it): people, having put the host back, clear the lock.
                let lock = fleet.exec_ok("prod-clean", "cat /var/lib/patchdeck/lock");
                assert!(lock.contains("window=fleet-drill\n"), "the drill's lock stays: {lock}");
                fleet.exec_ok("prod-clean", "rm /var/lib/patchdeck/lock");
                let report = json(&fleet.patchdeck(&["check", fleet.runbook.to_str().unwrap(), "--json"]));
                assert_eq!(divergences(&report)["prod-clean"], vec![], "reachable again");
            }
            _ => unreachable!(),
        }
    }
    // Each drill went into the history, and the table compares them.
    let table = text(&fleet.patchdeck(&["drill", "--history", "--history-file", history.to_str().unwrap()]).stdout);
    eprintln!("drill history:\n{table}");
    assert_eq!(table.lines().count(), 1 + cases.len(), "{table}");
}

/// Issue 14.5 on the real fleet: a window that stopped with changes not undone leaves its
/// lock on the host (root-only); `check` of a second window shows it as a stop, and the
/// second window is refused the host before any change (its holder's process is gone, so
/// the lock is stale: only a typed override would break it, and `--decide skip` does not);
/// rolling the first window back releases the lock.
#[test]
fn fleet_a_second_window_is_refused_a_locked_host() {
    if !require::fleet() {
        return;
    }
    let fleet = Fleet::up("locks");
    capture_baseline(&fleet);
    let pristine = fleet.installed("prod-clean");

    // Window A: its packages step changes the host, then a step fails: abort, changes left.
    let steps = "[[step]]\nname = \"apply tested updates\"\npackages = \"tested\"\n\n\
                 [[step]]\nname = \"migrate\"\nrun = \"echo migration failed >&2; exit 7\"\nrollback = \"true\"\n";
    let a = fleet.window("fleet-lock-a", "prod-clean", "", Some(steps));
    let out = run_window(&fleet, &a, &["--decide", "abort"]);
    assert_eq!(out.status.code(), Some(3), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_ne!(fleet.installed("prod-clean"), pristine, "window A changed the host");
    let lock = fleet.exec_ok("prod-clean", "cat /var/lib/patchdeck/lock");
    assert!(lock.contains("window=fleet-lock-a\n") && lock.contains("operators=fleet-test\n"), "{lock}");
    assert_eq!(fleet.exec_ok("prod-clean", "stat -c %a /var/lib/patchdeck").trim(), "700");
    let changed = fleet.installed("prod-clean");

    // Window B: `check` says who holds the host; `run` is refused it and changes nothing.
    let b = fleet.window("fleet-lock-b", "prod-clean", "", None);
    let out = fleet.patchdeck(&["check", b.to_str().unwrap()]);
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{shown}{}", text(&out.stderr));
    assert!(shown.contains("STOP prod-clean") && shown.contains("LOCKED BY ANOTHER WINDOW"), "{shown}");
    assert!(one_line(&shown).contains("prod-clean is in window fleet-lock-a run by fleet-test from"), "{shown}");
    let out = run_window(&fleet, &b, &["--decide", "skip"]);
    assert_eq!(out.status.code(), Some(3), "{}{}", text(&out.stdout), text(&out.stderr));
    let ev = events(&journal_of(&fleet, "fleet-lock-b"));
    let stops = host_stops(&ev, "prod-clean");
    assert!(
        matches!(stops.as_slice(), [StopKind::HostLocked { holder, stale: true }]
            if holder.starts_with("prod-clean is in window fleet-lock-a run by fleet-test from")),
        "{stops:#?}"
    );
    assert_eq!(count(&ev, |e| matches!(e, Event::StepStarted { .. })), 0, "nothing started");
    assert_eq!(host_result(&ev, "prod-clean"), [HostResult::Skipped]);
    assert_eq!(fleet.installed("prod-clean"), changed, "window B changed nothing");
    assert!(fleet.exec_ok("prod-clean", "cat /var/lib/patchdeck/lock").contains("window=fleet-lock-a\n"));

    // Window A rolled back: the host is as before and the lock is gone.
    let journal_a = journal_of(&fleet, "fleet-lock-a");
    let out = fleet.patchdeck(&["rollback", journal_a.to_str().unwrap(), "--all", "--yes", "--operator", "fleet-test"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(fleet.installed("prod-clean"), pristine);
    assert!(!fleet.exec("prod-clean", "test -e /var/lib/patchdeck/lock").status.success(), "released");
    fleet.down();
}

/// Text with its line breaks as spaces (a long finding wraps at 80 columns).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Issue 14.2-14.4 on real dpkg: a dpkg killed mid-run (the `interrupt-dpkg` fault: a
/// package half-configured, dpkg's journal in `/var/lib/dpkg/updates/` unmerged, its status
/// file untouched) between two checks: the second is not served from the kept answer and
/// stops, exit 3, naming the host, the package and the fix; a held lock is a stop naming its
/// holder; a window decided `--decide repair` repairs the host (journaled), checks it again
/// and installs the tested versions.
#[test]
fn fleet_dpkg_interrupted_is_a_stop_and_repair_fixes_it() {
    if !require::fleet() {
        return;
    }
    let started = Instant::now();
    let fleet = Fleet::up("dpkg");
    let runbook = fleet.runbook.to_str().unwrap().to_string();
    capture_baseline(&fleet);

    // Two checks of the healthy fleet: the second reuses prod-clean's kept answer.
    let first = json(&fleet.patchdeck(&["check", &runbook, "--json"]));
    assert!(divergences(&first)["prod-clean"].is_empty(), "{:?}", divergences(&first));
    let second = json(&fleet.patchdeck(&["check", &runbook, "--json"]));
    assert_eq!(resolvers(&second)["prod-clean"], "reused", "{:?}", resolvers(&second));

    // dpkg killed mid-run: only its journal changed, not its status file.
    let status_before = std::fs::read(fleet.root("prod-clean").join("var/lib/dpkg/status")).unwrap();
    fleet.fault("interrupt-dpkg", "prod-clean");
    let status_after = std::fs::read(fleet.root("prod-clean").join("var/lib/dpkg/status")).unwrap();
    assert_eq!(status_before, status_after, "the fault leaves dpkg's status file as it was");
    let journal = fleet.exec_ok("prod-clean", "ls /var/lib/dpkg/updates/");
    assert!(journal.lines().any(|l| l == "0000"), "{journal}");
    let dpkg_before = fleet.exec_ok("prod-clean", "dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\\n'");
    eprintln!(
        "prod-clean, dpkg interrupted:\n{}",
        dpkg_before.lines().filter(|l| !l.starts_with("ii ")).collect::<Vec<_>>().join("\n")
    );
    assert!(dpkg_before.lines().any(|l| l == "iF  pd-interrupt 1.0"), "{dpkg_before}");

    let out = fleet.patchdeck(&["check", &runbook, "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}{}", text(&out.stdout), text(&out.stderr));
    let third = json(&out);
    assert_ne!(resolvers(&third)["prod-clean"], "reused", "a kept answer never describes another state");
    assert_eq!(divergences(&third)["prod-clean"], pair("dpkg_broken", "pd-interrupt"));
    let f = &host(&third, "prod-clean")["diff"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["class"] == "dpkg_broken")
        .cloned()
        .unwrap();
    assert_eq!((f["here"].as_str(), f["verdict"].as_str()), (Some("iF"), Some("stop")));
    assert!(f["detail"].as_str().unwrap().contains("dpkg --configure -a"), "{f}");
    let out = fleet.patchdeck(&["check", &runbook]);
    let report = text(&out.stdout);
    eprintln!("check with dpkg interrupted on prod-clean:\n{report}");
    assert_eq!(out.status.code(), Some(3), "{report}");
    assert!(report.lines().any(|l| l.starts_with("STOP prod-clean") && l.contains("dpkg interrupted")), "{report}");
    assert!(report.contains("pd-interrupt  DPKG INTERRUPTED") && report.contains("dpkg --configure -a"), "{report}");

    // Another process holds dpkg's locks (fcntl, as apt does): a stop naming the holder.
    fleet.fault("hang-apt", "prod-extra");
    let locked = json(&fleet.patchdeck(&["check", &runbook, "--json"]));
    let found = &divergences(&locked)["prod-extra"];
    assert!(found.contains(&("dpkg_locked".to_string(), "dpkg".to_string())), "{found:?}");
    let holder = host(&locked, "prod-extra")["diff"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["class"] == "dpkg_locked")
        .and_then(|f| f["here"].as_str().map(str::to_string))
        .unwrap();
    assert!(
        holder.contains("/var/lib/dpkg/lock-frontend (pid ") && holder.contains("/var/lib/dpkg/lock (pid "),
        "{holder}"
    );
    fleet.fault("restore", "prod-extra");
    let free = json(&fleet.patchdeck(&["check", &runbook, "--json"]));
    assert!(!divergences(&free)["prod-extra"].iter().any(|(c, _)| c == "dpkg_locked"), "{:?}", divergences(&free));

    // The window, decided `--decide repair`: the re-check stops, repair runs on the host,
    // the re-check passes, the tested versions go in.
    let rb = fleet.window("fleet-dpkg", "prod-clean", "", None);
    let out = run_window(&fleet, &rb, &["--decide", "repair"]);
    let stdout = text(&out.stdout);
    // 3: a stop was raised (and decided), as for every window that met one.
    assert_eq!(out.status.code(), Some(3), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("repair offered: the package database was interrupted: pd-interrupt (iF) left half done"),
        "{stdout}"
    );
    assert!(
        stdout.contains("repairing the package database")
            && stdout.contains(": dpkg --force-confdef --force-confold --configure -a\n"),
        "{stdout}"
    );
    let ev = events(&journal_of(&fleet, "fleet-dpkg"));
    let repaired: Vec<&Event> = ev.iter().filter(|e| matches!(e, Event::RepairFinished { .. })).collect();
    assert!(
        matches!(repaired.as_slice(), [Event::RepairFinished { host, outcome: Outcome::Ok, healthy: Some(true), .. }] if host == "prod-clean"),
        "{ev:#?}"
    );
    assert_eq!(host_result(&ev, "prod-clean"), [HostResult::Done]);
    let dpkg_after = fleet.exec_ok("prod-clean", "dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\\n'");
    let unhealthy: Vec<&str> = dpkg_after.lines().filter(|l| !l.starts_with("ii ") && !l.starts_with("rc ")).collect();
    assert!(unhealthy.is_empty(), "{unhealthy:?}");
    assert!(dpkg_after.lines().any(|l| l == "ii  pd-interrupt 1.0"), "{dpkg_after}");
    assert!(fleet.exec_ok("prod-clean", "ls /var/lib/dpkg/updates/").trim().is_empty());
    let after = json(&fleet.patchdeck(&["check", &runbook, "--json"]));
    assert!(!divergences(&after)["prod-clean"].iter().any(|(c, _)| c.starts_with("dpkg")), "{:?}", divergences(&after));
    fleet.down();
    eprintln!("TIMING dpkg interrupted, check, lock, repair: {:.1}s", started.elapsed().as_secs_f64());
}
