//! `baseline capture` and `check` end to end against the Debian test fleet (`tests/fleet/`):
//! the real binary, real ssh into each host's own sshd, real apt in each host's own root.
//!
//! One fleet, one test: the scenarios run in sequence because some of them change hosts
//! (faults, an upgrade by hand), each undoing what it did.

use std::collections::BTreeMap;
use std::process::Output;

use crate::support::fleet::Fleet;

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

#[test]
fn fleet_capture_check_and_faults_end_to_end() {
    let fleet = Fleet::up("e2e");
    let runbook = fleet.runbook.to_str().unwrap().to_string();

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
    let mut tested: Vec<_> = baseline.updates.iter().map(|u| (u.name.as_str(), u.to.as_str())).collect();
    tested.sort();
    assert_eq!(tested.len(), 2, "{tested:?}");
    assert_eq!(tested[0].0, "less");
    assert!(tested[0].1.ends_with("+pd1"), "{tested:?}");
    assert_eq!(tested[1], ("pd-web", "1.1"));

    // 2. Check finds every planted divergence, and nothing on the clean hosts.
    let out = fleet.patchdeck(&["check", &runbook]);
    let report_text = text(&out.stdout);
    eprintln!("check on the fresh fleet:\n{report_text}");
    assert_eq!(out.status.code(), Some(3), "{report_text}{}", text(&out.stderr));
    for line in [
        "ok   prod-clean   2 tested, health ok",
        "STOP prod-extra   2 tested, 1 untested, health ok",
        "STOP prod-newer   1 tested, 1 version mismatch, health ok",
        "STOP prod-drift   2 tested, 1 config drift, health ok",
        "ok   prod-breaks  2 tested, health ok",
    ] {
        assert!(report_text.lines().any(|l| l == line), "missing {line:?} in\n{report_text}");
    }
    let out = fleet.patchdeck(&["check", &runbook, "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let report = json(&out);
    assert_eq!(report["exit_code"], 3);
    let found = divergences(&report);
    let expected: BTreeMap<String, Vec<(String, String)>> = [
        ("prod-clean", vec![]),
        ("prod-extra", pair("untested_package", "tree")),
        ("prod-newer", pair("version_mismatch", "less")),
        ("prod-drift", pair("config_drift", "file:/etc/network/interfaces")),
        ("prod-breaks", vec![]),
    ]
    .into_iter()
    .map(|(h, f)| (h.to_string(), f))
    .collect();
    assert_eq!(found, expected);
    for h in ["prod-clean", "prod-extra", "prod-newer", "prod-drift", "prod-breaks"] {
        assert!(checks(&report, h).iter().all(|(_, ok)| *ok), "{h}: {:?}", checks(&report, h));
    }

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
    //    while a real apt run there cannot get the lock.
    fleet.fault("hang-apt", "prod-clean");
    let report = json(&fleet.patchdeck(&["check", &runbook, "--json"]));
    assert_eq!(divergences(&report)["prod-clean"], vec![]);
    let out = fleet.exec("prod-clean", "apt-get install -y -o DPkg::Lock::Timeout=1 pd-web");
    assert!(!out.status.success() && text(&out.stderr).contains("lock"), "{}", text(&out.stderr));
    fleet.fault("restore", "prod-clean");

    // 6. Ready for `run`: applying the tested versions by hand breaks prod-breaks' site (its
    //    local.conf meets pd-web 1.1's bug) but not prod-clean's; installing the previous
    //    versions again (less from the Debian mirror, pd-web 1.0 from the local repository)
    //    heals it. This is what the run and rollback tests will drive through patchdeck.
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
    fleet.exec_ok("prod-breaks", &format!("apt-get install -y -q --allow-downgrades less={less_from} pd-web=1.0"));
    let report = json(&fleet.patchdeck(&["check", &runbook, "--json"]));
    assert!(checks(&report, "prod-breaks").iter().all(|(_, ok)| *ok), "{:?}", checks(&report, "prod-breaks"));
    assert_eq!(divergences(&report)["prod-breaks"], vec![], "back where it started");
}
