//! Integration tests: runbook loading and validation, asserting messages *and* positions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use patchdeck::diag::Diagnostics;
use patchdeck::runbook::{self, CheckKind, Fingerprint, OnDivergence, Policy, StepAction};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runbooks").join(name)
}

/// `(line, col, message)` of every problem, in order.
fn problems(err: &Diagnostics) -> Vec<(usize, usize, String)> {
    err.iter().map(|d| (d.line, d.col, d.message.clone())).collect()
}

fn load_text(text: &str) -> Result<runbook::Runbook, Diagnostics> {
    runbook::load_str(Path::new("rb.toml"), text)
}

/// Loads `text` expecting failure; returns its problems.
fn rejected(text: &str) -> Vec<(usize, usize, String)> {
    match load_text(text) {
        Ok(_) => panic!("runbook was accepted:\n{text}"),
        Err(e) => problems(&e),
    }
}

/// Asserts exactly one problem, at `line:col`, with `message`.
#[track_caller]
fn assert_one(text: &str, line: usize, col: usize, message: &str) {
    let got = rejected(text);
    assert_eq!(got, vec![(line, col, message.to_string())], "problems: {got:#?}");
}

/// A valid runbook; tests break it in one place. Line numbers are in the comments.
const BASE: &str = r#"[window]
name = "w"
starts = "2026-11-22T22:00:00Z"
ends = "2026-11-22T23:30:00Z"
rollback_reserve = "20m"

[baseline]
file = "tested.toml"
host = "staging"

[[host]]
name = "staging"
[[host]]
name = "a"
[[host]]
name = "b"

[[wave]]
name = "one"
hosts = ["a", "b"]

[[step]]
name = "update"
packages = "tested"
"#;
// 1 [window]  2 name  3 starts  4 ends  5 rollback_reserve  7 [baseline]  8 file  9 host
// 11 [[host]] 12 staging  13 [[host]] 14 a  15 [[host]] 16 b  18 [[wave]] 19 name 20 hosts
// 22 [[step]] 23 name 24 packages  25 (appended text starts here)

fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

fn replaced(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE lacks {from:?}");
    BASE.replacen(from, to, 1)
}

#[test]
fn base_is_valid_with_defaults() {
    let rb = load_text(BASE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rb.policy, Policy::default());
    assert_eq!(rb.baseline.file, Path::new("tested.toml"));
    assert_eq!(rb.steps[0].timeout, Duration::from_secs(600));
    assert_eq!(rb.steps[0].action, StepAction::Packages);
    assert_eq!(rb.waves[0].parallel, 1);
    assert_eq!(rb.waves[0].max_failures, 0);
    assert_eq!(rb.hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), ["staging", "a", "b"]);
}

#[test]
fn demo_runbook_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/runbook.toml");
    let rb = runbook::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rb.window.name, "openssl-security-2026-11");
    assert_eq!(rb.window.decide_by().to_string(), "2026-11-22T23:10:00Z");
    assert_eq!(rb.baseline.host, "staging");
    assert_eq!(rb.baseline.file, path.parent().unwrap().join("tested.toml"));
    let waves: Vec<_> = rb.waves.iter().map(|w| (w.name.as_str(), w.hosts.len(), w.parallel)).collect();
    assert_eq!(waves, [("canary", 1, 1), ("web", 3, 2), ("core", 2, 1)]);
    let weights: Vec<_> = rb.hosts.iter().map(|h| (h.name.as_str(), h.weight)).collect();
    assert_eq!(
        weights,
        [("staging", 1), ("canary1", 1), ("web1", 10), ("web2", 10), ("web3", 10), ("api1", 30), ("shop1", 50)]
    );
    assert!(rb.hosts.iter().all(|h| h.user.as_deref() == Some("deploy") && h.sudo));
    assert_eq!(rb.fingerprints.len(), 3);
    assert_eq!(rb.fingerprints[2], Fingerprint::Command("ip -br addr".into()));
    assert_eq!(rb.steps.len(), 4);
    assert_eq!(rb.steps[0].rollback.as_deref(), Some("lbctl enable {host.name}"));
    assert_eq!(
        rb.checks[0].kind,
        CheckKind::Http {
            url: "http://{host.address}/healthz".into(),
            expect_status: 200,
            contains: Some("{host.name}".into())
        }
    );
    assert!(rb.policy.auto_rollback);
    assert_eq!(rb.policy.rollback_infeasible, OnDivergence::Stop);
    assert_eq!(rb.policy.held_package, OnDivergence::Warn);
}

#[test]
fn valid_fixture_with_inline_hosts_tags_and_toml_datetime() {
    let rb = runbook::load(&fixture("valid/inline-hosts.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rb.window.starts.to_string(), "2026-11-22T22:00:00Z");
    assert_eq!(rb.window.ends.to_string(), "2026-11-22T23:00:00Z");
    assert_eq!(rb.waves[0].hosts, ["db1", "db2"]);
    assert_eq!(rb.hosts[1].address, "10.0.0.2");
    assert_eq!(rb.hosts[0].port, Some(2222));
    assert!(rb.steps[0].irreversible);
    assert_eq!(rb.steps[1].action, StepAction::Reboot);
    assert_eq!(rb.steps[1].timeout, Duration::from_secs(900));
    assert_eq!(rb.checks[0].timeout, Duration::from_secs(10));
}

#[test]
fn valid_fixture_with_hosts_file() {
    let rb = runbook::load(&fixture("valid/with-hosts-file.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rb.hosts.len(), 3);
    assert_eq!(rb.host("one").and_then(|h| h.user.as_deref()), Some("ops"));
}
