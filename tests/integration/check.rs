//! `check` end to end on the bundled demo (simulated fleet) and against hostile host output.

use std::path::{Path, PathBuf};
use std::process::Command;

use patchdeck::check::{self, Options, Report};
use patchdeck::diag::SourceFile;
use patchdeck::diff::Class;
use patchdeck::pkg::Managers;
use patchdeck::sim::SimTransport;
use patchdeck::sim::{Fleet, SimProber};

use crate::support::demo::{CLEAN_WAVES, clean_demo};

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo")
}

async fn demo_report() -> Report {
    let runbook = patchdeck::runbook::load(&demo_dir().join("runbook.toml")).expect("demo runbook is valid");
    let baseline = patchdeck::baseline::load(&runbook.baseline.file).expect("demo baseline is valid");
    let fleet = Fleet::from_toml(&SourceFile::read(&demo_dir().join("fleet.toml")).unwrap()).unwrap().with_speed(0.0);
    let transport = SimTransport::new(fleet.clone());
    check::run(&runbook, &baseline, &transport, &SimProber(fleet), Managers::standard(), &Options::default(), |_| {})
        .await
}

fn findings(report: &Report, host: &str) -> Vec<(Class, String)> {
    let h = report.hosts.iter().find(|h| h.host() == host).unwrap_or_else(|| panic!("{host} not in report"));
    h.diff.divergences().map(|f| (f.class, f.subject.clone())).collect()
}

#[tokio::test]
async fn demo_planted_divergences_are_all_found() {
    let r = demo_report().await;
    let hosts: Vec<&str> = r.hosts.iter().map(|h| h.host()).collect();
    assert_eq!(hosts, ["canary1", "web1", "web2", "web3", "api1", "shop1"], "staging is not checked against itself");
    assert_eq!(findings(&r, "canary1"), vec![]);
    assert_eq!(findings(&r, "web1"), vec![]);
    assert_eq!(findings(&r, "shop1"), vec![], "shop1 only breaks after its update");
    assert_eq!(findings(&r, "web2"), vec![(Class::UntestedPackage, "libxml2".to_string())]);
    assert_eq!(
        findings(&r, "web3"),
        vec![(Class::VersionMismatch, "libssl3".to_string()), (Class::VersionMismatch, "openssl".to_string())]
    );
    assert_eq!(findings(&r, "api1"), vec![(Class::ConfigDrift, "file:/etc/network/interfaces".to_string())]);
    for h in &r.hosts {
        assert!(h.checks.iter().all(|c| c.ok), "{}: {:?}", h.host(), h.checks);
        assert_eq!(h.diff.changes.len(), 10, "{}: every host changes the 10 tested packages", h.host());
    }
    assert_eq!(r.risk.changes, 10);
    assert!((r.risk.risk - 0.0956).abs() < 1e-3);
    assert_eq!(r.verdict(), check::Verdict::Findings);
}

#[tokio::test]
async fn demo_text_report_names_each_divergence() {
    let text = check::render(&demo_report().await);
    let plain = strip_ansi(&text);
    for needle in [
        "STOP web2",
        "+ libxml2  UNTESTED  2.9.14+dfsg-1.3~deb12u1 -> 2.9.14+dfsg-1.3~deb12u2",
        "~ openssl  VERSION MISMATCH",
        "here -> 3.0.17-1~deb12u3, tested -> 3.0.17-1~deb12u2",
        "! file:/etc/network/interfaces  CONFIG DRIFT",
        "staging: sha256 ",
        "ok   canary1      10 tested, health ok",
        "3 of 6 hosts clean; stop: web2, web3, api1",
    ] {
        assert!(plain.contains(needle), "missing {needle:?} in\n{plain}");
    }
    assert!(plain.lines().all(|l| l.chars().count() <= 80), "lines stay readable:\n{plain}");
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `demo --json` into a fresh directory: its exit code and its JSON.
fn demo_json() -> (Option<i32>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_patchdeck"))
        .args(["demo", "--json", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let v =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), v)
}

/// The keys of a JSON object, sorted.
fn keys(v: &serde_json::Value) -> Vec<&str> {
    let mut k: Vec<&str> =
        v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().map(String::as_str).collect();
    k.sort();
    k
}

/// Sets every duration (`millis`, `probe_millis`) to 0: the only values that may differ
/// between two runs.
fn without_times(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "millis" || k == "probe_millis" {
                    *x = 0.into();
                } else {
                    without_times(x);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(without_times),
        _ => {}
    }
}

/// Stable: the shape is exactly the documented one (docs/check-json.md: every field there,
/// nothing else), and two runs print the same JSON but for durations.
#[test]
fn demo_binary_json_is_stable_and_exit_code_is_3() {
    let (code, v) = demo_json();
    assert_eq!(code, Some(3));
    assert_eq!(v["schema"], "patchdeck.check/1");
    assert_eq!(v["exit_code"], 3);
    assert_eq!(v["window"], "openssl-security-2026-11");
    let web2 = v["hosts"].as_array().unwrap().iter().find(|h| h["diff"]["host"] == "web2").unwrap();
    let untested: Vec<&serde_json::Value> =
        web2["diff"]["findings"].as_array().unwrap().iter().filter(|f| f["class"] == "untested_package").collect();
    assert_eq!(untested.len(), 1);
    assert_eq!(untested[0]["subject"], "libxml2");
    assert_eq!(untested[0]["verdict"], "stop");

    // The documented shape, field by field (optional fields where the demo has them).
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/check-json.md")).unwrap();
    let documented = |fields: &[&str]| {
        for f in fields {
            let named = doc.contains(&format!("`{f}`")) || doc.contains(&format!("`{f}[]`"));
            assert!(named, "{f} is not in docs/check-json.md");
        }
    };
    // The demo's baseline predates the configuration map: `drift_note` says so.
    let top = [
        "baseline_captured_at",
        "baseline_host",
        "drift",
        "drift_note",
        "exit_code",
        "hosts",
        "risk",
        "schema",
        "tested_updates",
        "window",
    ];
    documented(&top);
    assert_eq!(keys(&v), top);
    let risk = ["changes", "max", "over", "p", "risk"];
    documented(&risk);
    assert_eq!(keys(&v["risk"]), risk);
    let hosts = v["hosts"].as_array().unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h["diff"]["host"].as_str().unwrap()).collect();
    assert_eq!(names, ["canary1", "web1", "web2", "web3", "api1", "shop1"], "in wave order");
    for h in hosts {
        assert_eq!(keys(h), ["checks", "diff", "probe_millis", "resolver"], "{h}");
        documented(&["checks", "probe_millis", "resolver"]);
        let diff = ["changes", "findings", "host", "reboot_required", "restart_services"];
        documented(&diff.map(|d| format!("diff.{d}")).each_ref().map(String::as_str));
        assert_eq!(keys(&h["diff"]), diff);
        for c in h["checks"].as_array().unwrap() {
            assert_eq!(keys(c), ["check", "detail", "host", "millis", "ok"], "{c}");
        }
        for f in h["diff"]["findings"].as_array().unwrap() {
            let k = keys(f);
            assert!(["class", "detail", "subject"].iter().all(|r| k.contains(r)), "{f}");
            assert!(k.iter().all(|x| ["class", "detail", "here", "subject", "tested", "verdict"].contains(x)), "{f}");
            documented(&k);
        }
    }
    // Two runs, the same JSON but for how long things took.
    let (_, mut again) = demo_json();
    let mut first = v.clone();
    without_times(&mut first);
    without_times(&mut again);
    assert_eq!(first, again, "two runs of the demo differ");
}

#[test]
fn no_color_means_no_escape_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_patchdeck"))
        .args(["demo", "--dir"])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("UNTESTED"), "{stdout}");
    assert!(!stdout.contains('\x1b'), "NO_COLOR output has escapes:\n{stdout}");
}

/// `patchdeck --simulate FLEET check RUNBOOK [extra]`, its kept probe answers in `dir`.
fn check_cli(dir: &Path, fleet: &Path, runbook: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_patchdeck"))
        .arg("--simulate")
        .arg(fleet)
        .arg("check")
        .arg(runbook)
        .args(extra)
        .env("NO_COLOR", "1")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .output()
        .unwrap()
}

/// Text and JSON output of `check` on a runbook, with the exit code of each (they must agree).
fn check_both(dir: &Path, runbook: &Path) -> (i32, String, serde_json::Value) {
    let fleet = dir.join("fleet.toml");
    let out = check_cli(dir, &fleet, runbook, &[]);
    let code = out.status.code().expect("exited");
    let text = String::from_utf8(out.stdout).unwrap();
    let json_out = check_cli(dir, &fleet, runbook, &["--json"]);
    assert_eq!(json_out.status.code(), Some(code), "text and --json exit alike");
    let json: serde_json::Value = serde_json::from_slice(&json_out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&json_out.stderr)));
    assert_eq!(json["exit_code"], code, "the JSON says the exit code");
    (code, text, json)
}

/// Words of `text` joined by single spaces, so wrapped lines read as one.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn check_exits_0_when_every_host_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let runbook = clean_demo(dir.path(), CLEAN_WAVES, |r| r, |f| f);
    let (code, text, json) = check_both(dir.path(), &runbook);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("2 of 2 hosts clean"), "{text}");
    assert!(text.contains("Every host is as tested. Ready for the window."), "{text}");
    assert!(!text.contains("! wave order:"), "{text}");
    assert_eq!(json["hosts"].as_array().unwrap().len(), 2);
    assert!(json.get("order_warning").is_none(), "{json}");
    assert_eq!(json["risk"]["over"], false);
}

#[test]
fn check_exits_3_on_the_full_demo() {
    let dir = tempfile::tempdir().unwrap();
    let out = check_cli(dir.path(), &demo_dir().join("fleet.toml"), &demo_dir().join("runbook.toml"), &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("3 of 6 hosts clean; stop: web2, web3, api1"), "{text}");
}

#[test]
fn check_exits_1_when_no_host_can_be_reached_and_still_reports_each() {
    let dir = tempfile::tempdir().unwrap();
    let unreachable = |f: String| {
        f.replace("[host.canary1]\n", "[host.canary1]\nunreachable = true\n")
            .replace("[host.web1]\n", "[host.web1]\nunreachable = true\n")
    };
    let runbook = clean_demo(dir.path(), CLEAN_WAVES, |r| r, unreachable);
    let (code, text, json) = check_both(dir.path(), &runbook);
    assert_eq!(code, 1, "{text}");
    for host in ["canary1", "web1"] {
        assert!(text.contains(&format!("STOP {host}")), "{host} in\n{text}");
    }
    assert_eq!(text.matches("CANNOT CONNECT").count(), 2, "{text}");
    assert!(text.contains("Connection timed out"), "{text}");
    assert!(text.contains("No host could be reached: nothing was compared with the baseline."), "{text}");
    for h in json["hosts"].as_array().unwrap() {
        let classes: Vec<&str> =
            h["diff"]["findings"].as_array().unwrap().iter().map(|f| f["class"].as_str().unwrap()).collect();
        assert_eq!(classes, ["unreachable"], "{h}");
    }
}

#[test]
fn check_exits_3_when_one_host_is_reached_and_another_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let runbook =
        clean_demo(dir.path(), CLEAN_WAVES, |r| r, |f| f.replace("[host.web1]\n", "[host.web1]\nunreachable = true\n"));
    let (code, text, json) = check_both(dir.path(), &runbook);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("1 of 2 hosts clean; stop: web1"), "{text}");
    assert!(text.contains("CANNOT CONNECT") && !text.contains("No host could be reached"), "{text}");
    let web1 = json["hosts"].as_array().unwrap().iter().find(|h| h["diff"]["host"] == "web1").unwrap();
    assert_eq!(web1["diff"]["findings"][0]["class"], "unreachable");
}

#[test]
fn check_warns_when_the_first_wave_holds_the_heaviest_host() {
    let dir = tempfile::tempdir().unwrap();
    // web1 (weight 10) first, canary1 (weight 1) after it: backwards.
    let runbook = clean_demo(dir.path(), &[("first", &["web1"]), ("then", &["canary1"])], |r| r, |f| f);
    let (code, text, json) = check_both(dir.path(), &runbook);
    let warning = "first wave \"first\" holds web1 (weight 10), heavier than canary1 (weight 1) in the later \
                   wave \"then\": the first wave should hold the hosts whose failure hurts least";
    assert_eq!(code, 3, "the order warning is a finding even with every host clean:\n{text}");
    assert!(text.contains("2 of 2 hosts clean"), "{text}");
    assert!(one_line(&text).contains(&format!("! wave order: {warning}")), "{text}");
    assert!(text.contains("the window's risk or wave order needs a look"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 80), "the warning is wrapped:\n{text}");
    assert_eq!(json["order_warning"], warning);
}

#[test]
fn check_suggests_a_split_when_the_risk_is_over_the_maximum() {
    let dir = tempfile::tempdir().unwrap();
    // 10 packages at p=0.01 is 9.6%, over a 5% maximum.
    let lower = |r: String| r.replace("max_risk = 0.25", "max_risk = 0.05");
    let runbook = clean_demo(dir.path(), CLEAN_WAVES, lower, |f| f);
    let (code, text, json) = check_both(dir.path(), &runbook);
    let suggestion = "10 changes at p=0.01 give 9.6% > max 5.0%: split into windows of at most 5 packages";
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("risk 9.6% for 10 changed packages (p=0.01, max 5%)"), "{text}");
    assert!(one_line(&text).contains(&format!("! {suggestion}")), "{text}");
    assert!(!text.contains("! wave order:"), "{text}");
    assert_eq!(json["risk"]["over"], true);
    assert_eq!(json["risk"]["suggestion"], suggestion);
    assert!(json.get("order_warning").is_none(), "{json}");
}

#[tokio::test]
async fn text_from_files_cannot_forge_lines_or_drive_the_terminal_in_the_text_report() {
    let mut r = demo_report().await;
    r.window = "w\n[ok] every host patched\x1b[2J".into();
    r.baseline_host = "stag\u{200b}ing".into();
    r.hosts[0].diff.host = "canary1\u{202e}1yranac".into();
    let check = &mut r.hosts[1].checks[0];
    check.ok = false;
    check.check = "site\nOK all good".into();
    check.detail = "refused\x07\x1b]0;owned\x07".into();
    let text = check::render(&r);
    let plain = strip_ansi(&text);
    assert!(!text.contains("\x1b[2J") && !text.contains('\x07') && !text.contains("\x1b]0"), "{text:?}");
    for hidden in ['\u{200b}', '\u{202e}'] {
        assert!(!plain.contains(hidden), "{hidden:?} printed raw:\n{plain}");
    }
    for forged in ["[ok] every host patched", "OK all good"] {
        assert!(!plain.lines().any(|l| l.trim_start().starts_with(forged)), "{forged:?} forged a line:\n{plain}");
    }
    for shown in [
        "w\\u{a}[ok] every host patched\\u{1b}[2J",
        "stag\\u{200b}ing",
        "canary1\\u{202e}1yranac",
        "site\\u{a}OK all good",
    ] {
        assert!(plain.contains(shown), "{shown:?} missing:\n{plain}");
    }
}

/// The demo with a baseline captured from its staging host, so it carries a configuration
/// map: with no `[[fingerprint]]` at all, api1's network file is still found, under its area,
/// and grouped once for the fleet; the demo's old baseline (no map) says drift was not compared.
#[tokio::test]
async fn drift_nobody_listed_is_found_by_area_and_grouped() {
    let mut runbook = patchdeck::runbook::load(&demo_dir().join("runbook.toml")).unwrap();
    runbook.fingerprints.clear();
    let fleet = Fleet::from_toml(&SourceFile::read(&demo_dir().join("fleet.toml")).unwrap()).unwrap().with_speed(0.0);
    let transport = SimTransport::new(fleet.clone());
    let managers = Managers::standard();
    let staging = patchdeck::inventory::Host::named("staging");
    let timeout = std::time::Duration::from_secs(10);
    let source = patchdeck::baseline::Source::Pending;
    let baseline =
        patchdeck::baseline::capture::capture(&transport, managers, &staging, &[], source, timeout).await.unwrap();
    assert!(baseline.drift.as_ref().is_some_and(|m| m.items.contains_key("/etc/network/interfaces")));
    let prober = SimProber(fleet);
    let r = check::run(&runbook, &baseline, &transport, &prober, managers, &Options::default(), |_| {}).await;
    assert_eq!(findings(&r, "api1"), vec![(Class::DriftNetworking, "/etc/network/interfaces".to_string())]);
    for clean in ["canary1", "web1", "shop1"] {
        assert_eq!(findings(&r, clean), vec![], "{clean}");
    }
    assert_eq!(r.drift.len(), 1, "{:?}", r.drift);
    let line = r.drift[0].line("staging");
    assert_eq!(line, "/etc/network/interfaces (networking): 1 host differs from staging: api1; 5 same");
    let plain = strip_ansi(&check::render(&r));
    assert!(plain.contains("! /etc/network/interfaces (networking): 1 host differs from staging: api1; 5"), "{plain}");
    assert!(!plain.contains("MAP"), "{plain}");
    let json: serde_json::Value = serde_json::from_str(&check::to_json(&r, 1)).unwrap();
    assert_eq!(json["drift"][0]["differ"], serde_json::json!(["api1"]));
    assert_eq!(json["drift"][0]["area"], "networking");

    let old = patchdeck::baseline::load(&runbook.baseline.file).unwrap();
    let r = check::run(&runbook, &old, &transport, &prober, managers, &Options::default(), |_| {}).await;
    assert!(r.drift.is_empty() && r.drift_note.is_some());
    assert!(strip_ansi(&check::render(&r)).contains("configuration drift was not compared"));
}

/// Issue 14.5: `check` shows another window's lock on a host as a stop, naming the window,
/// who runs it, from where and since when (escaped: the lock is host text).
#[tokio::test]
async fn a_host_locked_by_another_window_is_a_stop_in_check() {
    let runbook = patchdeck::runbook::load(&demo_dir().join("runbook.toml")).unwrap();
    let baseline = patchdeck::baseline::load(&runbook.baseline.file).unwrap();
    let fleet = Fleet::from_toml(&SourceFile::read(&demo_dir().join("fleet.toml")).unwrap()).unwrap().with_speed(0.0);
    let theirs = patchdeck::lock::host::Holder {
        window: "kernel-2026-11".into(),
        digest: "ab".into(),
        operators: vec!["alice".into()],
        machine: "laptop-2".into(),
        pid: 77,
        since: "2026-11-22T02:14:00Z".parse().unwrap(),
        until: "2026-11-22T05:00:00Z".parse().unwrap(),
    };
    fleet.with_host("canary1", |h| h.lock = Some(theirs.render()));
    // What a host says is untrusted: a lock with an escape sequence is not read as a lock
    // of ours, yet still a lock (a stop), its first line shown escaped.
    let hostile = format!("\u{1b}[2J{}", theirs.render());
    fleet.with_host("web2", |h| h.lock = Some(hostile));
    let transport = SimTransport::new(fleet.clone());
    let r = check::run(
        &runbook,
        &baseline,
        &transport,
        &SimProber(fleet),
        Managers::standard(),
        &Options::default(),
        |_| {},
    )
    .await;
    let canary = r.hosts.iter().find(|h| h.host() == "canary1").unwrap();
    let locked: Vec<_> = canary.diff.stops().filter(|f| f.class == Class::HostLocked).collect();
    assert_eq!(locked.len(), 1, "{:?}", canary.diff.findings);
    assert_eq!(
        locked[0].detail,
        "canary1 is in window kernel-2026-11 run by alice from laptop-2 (pid 77) since 2026-11-22 02:14Z"
    );
    let web2 = r.hosts.iter().find(|h| h.host() == "web2").unwrap();
    let odd = web2.diff.stops().find(|f| f.class == Class::HostLocked).expect("an unreadable lock is a stop");
    assert_eq!(
        odd.detail,
        "web2 is locked by something this patchdeck cannot read (/var/lib/patchdeck/lock: \\u{1b}[2Jpatchdeck-host-lock 1)"
    );
    assert!(findings(&r, "web1").is_empty(), "an unlocked host is as before");
    let text = strip_ansi(&check::render(&r));
    assert!(text.contains("STOP canary1"), "{text}");
    assert!(text.contains("LOCKED BY ANOTHER WINDOW"), "{text}");
    assert!(!check::render(&r).contains("\u{1b}[2J"), "the host's escape is shown, not obeyed");
}
