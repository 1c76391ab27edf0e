//! `check` end to end on the bundled demo (simulated fleet) and against hostile host output.

use std::path::{Path, PathBuf};
use std::process::Command;

use patchdeck::check::{self, Options, Report};
use patchdeck::diag::SourceFile;
use patchdeck::diff::Class;
use patchdeck::pkg::apt::Apt;
use patchdeck::sim::{Fleet, SimProber};
use patchdeck::transport::simulated::SimTransport;

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo")
}

async fn demo_report() -> Report {
    let runbook = patchdeck::runbook::load(&demo_dir().join("runbook.toml")).expect("demo runbook is valid");
    let baseline = patchdeck::baseline::load(&runbook.baseline.file).expect("demo baseline is valid");
    let fleet = Fleet::from_toml(&SourceFile::read(&demo_dir().join("fleet.toml")).unwrap()).unwrap().with_speed(0.0);
    let transport = SimTransport::new(fleet.clone());
    check::run(&runbook, &baseline, &transport, &SimProber(fleet), &Apt, &Options::default(), |_| {}).await
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
    assert_eq!(r.exit_code(), check::exit::DIVERGENCE);
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

#[test]
fn demo_binary_json_is_stable_and_exit_code_is_3() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_patchdeck"))
        .args(["demo", "--json", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "patchdeck.check/1");
    assert_eq!(v["exit_code"], 3);
    assert_eq!(v["window"], "openssl-security-2026-11");
    let web2 = v["hosts"].as_array().unwrap().iter().find(|h| h["diff"]["host"] == "web2").unwrap();
    let untested: Vec<&serde_json::Value> =
        web2["diff"]["findings"].as_array().unwrap().iter().filter(|f| f["class"] == "untested_package").collect();
    assert_eq!(untested.len(), 1);
    assert_eq!(untested[0]["subject"], "libxml2");
    assert_eq!(untested[0]["verdict"], "stop");
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
