//! Integration tests: runbook loading and validation, asserting messages *and* positions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use patchdeck::diag::Diagnostics;
use patchdeck::inventory::Host;
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
    assert_eq!(rb.fingerprints[2], Fingerprint::Command("sysctl -n net.ipv4.ip_forward net.core.somaxconn".into()));
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

#[test]
fn toml_syntax_error_is_positioned() {
    let err = runbook::load(&fixture("invalid/syntax.toml")).unwrap_err();
    let got = problems(&err);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!((got[0].0, got[0].1), (3, 31));
    assert!(got[0].2.starts_with("TOML syntax error: "), "{}", got[0].2);
}

#[test]
fn unknown_key() {
    assert_one(
        &replaced("name = \"update\"", "name = \"update\"\ntimout = \"5m\""),
        24,
        1,
        "unknown key `timout`: expected one of `name`, `packages`, `run`, `local`, `reboot`, `rollback`, `irreversible`, `timeout`",
    );
}

#[test]
fn unknown_section() {
    let got = rejected(&with("\n[polcy]\nmax_risk = 0.5\n"));
    assert_eq!((got[0].0, got[0].1), (26, 2), "{got:#?}");
    assert!(got[0].2.starts_with("unknown section `polcy`: expected one of `window`"), "{}", got[0].2);
}

#[test]
fn all_unknown_keys_and_wrong_types_of_a_table_are_reported() {
    let text = replaced("hosts = [\"a\", \"b\"]", "hosts = [\"a\", \"b\"]\nparallel = \"two\"\nmax_failure = 1");
    let got = rejected(&text);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0], (21, 12, "wrong type: found string \"two\", expected i64".into()));
    assert_eq!((got[1].0, got[1].1), (22, 1));
    assert!(got[1].2.starts_with("unknown key `max_failure`: expected one of"), "{}", got[1].2);
}

#[test]
fn missing_required_key() {
    assert_one(
        &replaced("rollback_reserve = \"20m\"\n", ""),
        1,
        1,
        "[window] is missing `rollback_reserve`: add `rollback_reserve = \"20m\"`",
    );
}

#[test]
fn unknown_host_in_wave() {
    assert_one(
        &replaced("hosts = [\"a\", \"b\"]", "hosts = [\"a\", \"b\", \"c\"]"),
        20,
        20,
        "unknown host `c` in wave `one`: it is not in the inventory",
    );
}

#[test]
fn host_in_no_wave_points_at_the_host() {
    assert_one(
        &replaced("hosts = [\"a\", \"b\"]", "hosts = [\"a\"]"),
        16,
        8,
        "host `b` is in no wave: add it to a [[wave]] or remove it from the inventory",
    );
}

#[test]
fn host_in_two_waves() {
    assert_one(
        &with("\n[[wave]]\nname = \"two\"\nhosts = [\"b\"]\n"),
        28,
        10,
        "host `b` is already in wave `one`: a host belongs to exactly one wave",
    );
}

#[test]
fn host_in_two_waves_via_tag() {
    let text = replaced("name = \"b\"", "name = \"b\"\ntags = [\"web\"]");
    assert_one(
        &format!("{text}\n[[wave]]\nname = \"two\"\ntags = [\"web\"]\n"),
        29,
        9,
        "host `b` is already in wave `one` (via tag `web`): a host belongs to exactly one wave",
    );
}

#[test]
fn baseline_host_in_a_wave() {
    assert_one(
        &replaced("hosts = [\"a\", \"b\"]", "hosts = [\"a\", \"b\", \"staging\"]"),
        20,
        20,
        "`staging` is the baseline host: it was patched and tested before the window; remove it from wave `one`",
    );
}

#[test]
fn step_without_rollback_or_irreversible() {
    assert_one(
        &with("\n[[step]]\nname = \"restart\"\nrun = \"systemctl restart nginx\"\n"),
        27,
        8,
        "step `restart` cannot be undone: add `rollback = \"...\"` or `irreversible = true`",
    );
}

#[test]
fn step_with_two_actions() {
    assert_one(
        &replaced("packages = \"tested\"", "packages = \"tested\"\nreboot = true"),
        25,
        10,
        "step `update` has two actions (`packages` and `reboot`): a step does one thing; split it into two steps",
    );
}

#[test]
fn packages_step_refuses_a_rollback() {
    assert_one(
        &replaced("packages = \"tested\"", "packages = \"tested\"\nrollback = \"apt-get install old\""),
        25,
        12,
        "the packages step has a built-in rollback (it restores the snapshot): remove `rollback`",
    );
}

#[test]
fn end_before_start() {
    assert_one(
        &replaced("ends = \"2026-11-22T23:30:00Z\"", "ends = \"2026-11-22T21:30:00Z\""),
        4,
        8,
        "the window ends (2026-11-22T21:30:00Z) before it starts (2026-11-22T22:00:00Z): `ends` must be after `starts`",
    );
}

#[test]
fn reserve_longer_than_window() {
    assert_one(
        &replaced("rollback_reserve = \"20m\"", "rollback_reserve = \"2h\""),
        5,
        20,
        "rollback reserve (2h) leaves no working time in a 1h 30m window: shorten it or widen the window",
    );
}

#[test]
fn bad_timestamp() {
    assert_one(
        &replaced("starts = \"2026-11-22T22:00:00Z\"", "starts = \"22:00 tonight\""),
        3,
        10,
        "`22:00 tonight` is not an RFC 3339 timestamp: write it like \"2026-11-22T22:00:00Z\" (with Z or an offset)",
    );
}

#[test]
fn duplicate_host_name() {
    assert_one(
        &with("[[host]]\nname = \"a\"\n"),
        26,
        8,
        "duplicate host `a` (first defined on line 14): host names must be unique",
    );
}

#[test]
fn duplicate_wave_step_and_check_names() {
    let text = with(concat!(
        "\n[[wave]]\nname = \"one\"\nhosts = [\"a\"]\n",            // 25-28
        "\n[[step]]\nname = \"update\"\nreboot = true\n",           // 29-32
        "\n[[check]]\nname = \"c\"\nrun = \"true\"\n",              // 33-36
        "\n[[check]]\nname = \"c\"\ntcp = \"{host.address}:22\"\n", // 37-40
    ));
    assert_eq!(
        rejected(&text),
        vec![
            (27, 8, "duplicate wave name `one` (first used on line 19): rename one".into()),
            (31, 8, "duplicate step name `update` (first used on line 23): rename one".into()),
            (39, 8, "duplicate check name `c` (first used on line 35): rename one".into()),
        ]
    );
}

#[test]
fn unknown_placeholder_points_inside_the_string() {
    let step = "\n[[step]]\nname = \"drain\"\nlocal = \"lbctl drain {host.nmae}\"\nirreversible = true\n";
    let got = rejected(&with(step));
    assert_eq!((got[0].0, got[0].1), (28, 22), "{got:#?}");
    assert!(got[0].2.starts_with("unknown placeholder `{host.nmae}`: use one of {host.name}"), "{}", got[0].2);
    // An escape before the placeholder shifts it by one column in the source.
    let step = "\n[[step]]\nname = \"drain\"\nlocal = \"lbctl\\tdrain {host.nmae}\"\nirreversible = true\n";
    let got = rejected(&with(step));
    assert_eq!((got[0].0, got[0].1), (28, 23), "{got:#?}");
}

#[test]
fn host_user_placeholder_needs_a_user_on_every_host() {
    let check = "\n[[check]]\nname = \"login\"\nrun = \"test $(id -un) = {host.user}\"\n";
    assert_one(
        &with(check),
        28,
        25,
        "`{host.user}` is used but host `staging` has no `user`: set `user` on every host",
    );
}

#[test]
fn step_name_placeholder_is_not_available_in_checks() {
    let check = "\n[[check]]\nname = \"c\"\nrun = \"echo {step.name}\"\n";
    assert_one(&with(check), 28, 13, "`{step.name}` is only available in steps: checks also run outside any step");
}

#[test]
fn bad_duration() {
    assert_one(
        &with("\n[[check]]\nname = \"c\"\nrun = \"true\"\ntimeout = \"ten seconds\"\n"),
        29,
        11,
        "bad duration `ten seconds`: write it like \"90s\", \"20m\" or \"1h 30m\"",
    );
}

#[test]
fn risk_out_of_range() {
    assert_one(
        &with("\n[policy]\nchange_risk = 1.5\n"),
        27,
        15,
        "change_risk 1.5 is out of range: it is a probability from 0 to 1",
    );
}

#[test]
fn policy_reaction_must_be_stop_or_warn() {
    assert_one(
        &with("\n[policy]\nheld_package = \"ignore\"\n"),
        27,
        16,
        "`ignore` is not a reaction: use \"stop\" or \"warn\"",
    );
}

#[test]
fn no_waves() {
    // One message, not one more per host "in no wave".
    assert_one(
        &replaced("[[wave]]\nname = \"one\"\nhosts = [\"a\", \"b\"]\n", ""),
        1,
        1,
        "no waves: add at least one [[wave]] with `name` and `hosts = [...]`",
    );
}

#[test]
fn wave_without_hosts_and_tag_matching_nothing() {
    let text = with("\n[[wave]]\nname = \"empty\"\nhosts = []\n\n[[wave]]\nname = \"typo\"\ntags = [\"wbe\"]\n");
    assert_eq!(
        rejected(&text),
        vec![
            (28, 9, "wave `empty` has no hosts: add `hosts = [\"...\"]` or `tags = [\"...\"]`".into()),
            (32, 9, "tag `wbe` matches no host in the inventory".into()),
        ]
    );
}

#[test]
fn fingerprint_with_both_or_neither() {
    let text = with("\n[[fingerprint]]\npath = \"/etc/x\"\ncommand = \"ip a\"\n\n[[fingerprint]]\n");
    assert_eq!(
        rejected(&text),
        vec![
            (28, 11, "a fingerprint has either `path` or `command`, not both: split it in two".into()),
            (30, 1, "fingerprint without `path` or `command`: add `path = \"/etc/...\"` or `command = \"...\"`".into()),
        ]
    );
}

#[test]
fn relative_fingerprint_path() {
    assert_one(
        &with("\n[[fingerprint]]\npath = \"etc/nginx/nginx.conf\"\n"),
        27,
        8,
        "fingerprint path `etc/nginx/nginx.conf` is relative: give the absolute path on the host",
    );
}

#[test]
fn tcp_check_needs_host_and_port() {
    assert_one(
        &with("\n[[check]]\nname = \"ssh\"\ntcp = \"{host.address}\"\n"),
        28,
        7,
        "`{host.address}` is not host:port, e.g. \"{host.address}:443\"",
    );
}

#[test]
fn every_problem_in_runbook_and_hosts_file_at_once() {
    let err = runbook::load(&fixture("invalid/many-problems.toml")).unwrap_err();
    let rb = fixture("invalid/many-problems.toml");
    let hosts = fixture("invalid/bad-hosts.toml");
    let got: Vec<_> = err.iter().map(|d| (d.file.clone(), d.line, d.col)).collect();
    assert_eq!(
        got,
        vec![
            (hosts.clone(), 5, 8), // duplicate host web1
            (hosts.clone(), 6, 1), // unknown key colour
            (rb.clone(), 4, 8),    // ends before starts
            (rb.clone(), 5, 20),   // bad duration
            (rb.clone(), 15, 15),  // change_risk out of range
            (rb.clone(), 16, 16),  // config_drift = "panic"
            (rb.clone(), 20, 18),  // unknown host ghost in the wave
            (rb.clone(), 23, 8),   // step without rollback
            (rb.clone(), 24, 26),  // unknown placeholder {service}
        ],
        "{err}"
    );
    // Every host of the broken hosts file kept its name, so the wave's names are checked too.
    let ghost = err.iter().find(|d| d.line == 20).unwrap();
    assert_eq!(ghost.message, "unknown host `ghost` in wave `first`: it is not in the inventory");
}

const HOSTS: &str = "[[host]]\nname = \"staging\"\n[[host]]\nname = \"a\"\n[[host]]\nname = \"b\"\n";

#[test]
fn bad_host_value_and_unknown_host_in_a_wave_are_reported_together() {
    let text = replaced(HOSTS, &HOSTS.replace("name = \"a\"\n", "name = \"a\"\nport = 0\n"))
        .replace("hosts = [\"a\", \"b\"]", "hosts = [\"a\", \"b\", \"c\"]");
    assert_eq!(
        rejected(&text),
        [
            (15, 8, "port 0 is out of range: use 1 to 65535".to_string()),
            (21, 20, "unknown host `c` in wave `one`: it is not in the inventory".to_string()),
        ]
    );
}

#[test]
fn a_host_without_a_valid_name_leaves_wave_names_unchecked() {
    // `b c` is refused, so `b` cannot be known: saying "unknown host `b`" would be a guess.
    let text = replaced("name = \"b\"", "name = \"b c\"");
    assert_eq!(rejected(&text), [(16, 8, "host name `b c` contains a space: a name is letters, digits, '.', '_' and '-' (docs/runbook.md, \"Names\")".to_string())]);
}

#[test]
fn a_lost_tag_or_user_invents_no_further_problem() {
    // a's tag is refused: the wave selecting it by that tag is not "empty", a is not "in no
    // wave"; b's user is refused: `{host.user}` is not "used on a host without user".
    let hosts = "[[host]]\nname = \"staging\"\nuser = \"ops\"\nport = 22\n\
                 [[host]]\nname = \"a\"\nuser = \"ops\"\nport = 22\ntags = [\"x y\"]\n\
                 [[host]]\nname = \"b\"\nuser = \"o p\"\nport = 22\n";
    let text = replaced(HOSTS, hosts).replace("hosts = [\"a\", \"b\"]", "hosts = [\"b\"]")
        + "\n[[wave]]\nname = \"two\"\ntags = [\"x y\"]\n\n[[check]]\nname = \"who\"\nrun = \"test {host.user}\"\n";
    assert_eq!(
        rejected(&text),
        [
            (
                19,
                9,
                "tag `x y` contains a space: a name is letters, digits, '.', '_' and '-' (docs/runbook.md, \"Names\")"
                    .to_string()
            ),
            (
                22,
                8,
                "user `o p` contains a space: a name is letters, digits, '.', '_' and '-' (docs/runbook.md, \"Names\")"
                    .to_string()
            ),
        ]
    );
    // The same runbook with both values valid is accepted: the checks skipped above are real.
    let fixed = text.replace("\"x y\"", "\"x\"").replace("\"o p\"", "\"ops\"");
    let rb = load_text(&fixed).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rb.waves[1].hosts, ["a"]);
}

#[test]
fn missing_ansible_inventory_is_reported_at_its_file_key() {
    let err = runbook::load(&fixture("invalid/ansible-hosts.toml")).unwrap_err();
    let got = problems(&err);
    assert_eq!((got[0].0, got[0].1), (8, 8), "{got:#?}");
    assert!(got[0].2.starts_with("inventory file `") && got[0].2.contains("cannot read the inventory"), "{}", got[0].2);
}

/// The hosts every `valid/ansible/hosts.*` inventory gives, whichever its format.
fn ansible_hosts() -> Vec<Host> {
    let host = |name: &str, address: &str, user: &str, port: Option<u16>, sudo: bool, tags: &[&str], weight| Host {
        name: name.into(),
        address: address.into(),
        user: Some(user.into()),
        port,
        sudo,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        weight,
        ..Host::named(name)
    };
    vec![
        // `all:vars` give user and become; ansible_host is the address.
        host("staging.example.net", "10.0.0.5", "deploy", None, true, &[], 1),
        host("web1.example.net", "10.0.1.11", "deploy", Some(2222), true, &["web"], 1),
        // `name:port`, and host vars over `all:vars` (user, become=false).
        host("web2.example.net", "web2.example.net", "svc_patch", Some(2200), false, &["web"], 1),
        // Group vars over `all:vars`; patchdeck_weight is the weight.
        host("db1.internal", "10.0.2.21", "dba", None, true, &["db"], 50),
    ]
}

#[test]
fn runbook_loads_its_hosts_from_an_ansible_inventory() {
    for kind in ["ini", "yml", "json"] {
        let path = fixture(&format!("valid/ansible/runbook-{kind}.toml"));
        let rb = runbook::load(&path).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(rb.hosts, ansible_hosts(), "{kind}");
        let waves: Vec<(&str, Vec<&str>)> =
            rb.waves.iter().map(|w| (w.name.as_str(), w.hosts.iter().map(String::as_str).collect())).collect();
        assert_eq!(
            waves,
            [("canary", vec!["web1.example.net"]), ("web", vec!["web2.example.net"]), ("db", vec!["db1.internal"])],
            "{kind}: the `db` group selects its host as a tag"
        );
    }
}

#[test]
fn ansible_inventory_problems_point_into_the_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("hosts.json");
    std::fs::write(&inventory, "{\"all\": {\"hosts\": {\"web1\": {\"ansible_port\": \"x\"}}}}\n").unwrap();
    let text = std::fs::read_to_string(fixture("valid/ansible/runbook-json.toml")).unwrap();
    let err = runbook::load_str(&dir.path().join("rb.toml"), &text).unwrap_err();
    let got: Vec<_> = err.iter().map(|d| (d.file.clone(), d.line, d.col, d.message.clone())).collect();
    assert_eq!(
        got[0],
        (inventory, 1, 45, "ansible_port: port must be a number from 1 to 65535, got \"x\"".to_string()),
        "{err}"
    );
}

#[test]
fn display_shows_file_line_col_and_caret() {
    let err = load_text(&replaced("hosts = [\"a\", \"b\"]", "hosts = [\"a\", \"b\", \"c\"]")).unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("rb.toml:20:20: error: unknown host `c`"), "{shown}");
    assert!(shown.contains("20 | hosts = [\"a\", \"b\", \"c\"]\n   |                    ^^^\n"), "{shown}");
}

#[test]
fn hosts_given_twice() {
    assert_one(
        &with("\n[inventory]\nfile = \"hosts.toml\"\n"),
        27,
        8,
        "hosts are given twice: `[inventory] file` and inline [[host]] tables; keep one",
    );
}

#[test]
fn reboot_step_needs_no_rollback_and_refuses_one() {
    assert!(load_text(&with("\n[[step]]\nname = \"reboot\"\nreboot = true\n")).is_ok());
    assert_one(
        &with("\n[[step]]\nname = \"reboot\"\nreboot = true\nrollback = \"true\"\n"),
        29,
        12,
        "a reboot cannot be rolled back: remove `rollback`",
    );
}

// ---------------------------------------------------------------------------------------
// Names are identifiers (issue 15): the same rule wherever a name is written.
// ---------------------------------------------------------------------------------------

const NAME_RULE: &str = "a name is letters, digits, '.', '_' and '-' (docs/runbook.md, \"Names\")";
const LABEL_RULE: &str = "a step or check name is letters, digits, '.', '_', '-' and single spaces between words (docs/runbook.md, \"Names\")";

#[test]
fn a_host_name_that_would_inject_shell_syntax_is_refused_in_every_inventory_format() {
    let hostile = "h1$(touch${IFS}pwned)";
    let message = format!("host name `{hostile}` contains '$': {NAME_RULE}");
    let dir = tempfile::tempdir().unwrap();
    let runbook = |file: &str| {
        replaced("[[host]]\nname = \"staging\"\n[[host]]\nname = \"a\"\n[[host]]\nname = \"b\"\n", "")
            .replace("[baseline]", &format!("[inventory]\nfile = \"{file}\"\n\n[baseline]"))
    };
    let cases = [
        (
            "hosts.toml",
            format!("[[host]]\nname = \"staging\"\n[[host]]\nname = \"a\"\n[[host]]\nname = \"{hostile}\"\n"),
            (6, 8),
        ),
        ("hosts.ini", format!("staging\na\n{hostile}\n"), (3, 1)),
        ("hosts.yml", format!("all:\n  hosts:\n    staging:\n    a:\n    \"{hostile}\":\n"), (5, 6)),
        (
            "hosts.json",
            format!("{{\"all\": {{\"hosts\": {{\"staging\": null, \"a\": null,\n \"{hostile}\": null}}}}}}\n"),
            (2, 3),
        ),
    ];
    for (file, text, at) in cases {
        std::fs::write(dir.path().join(file), text).unwrap();
        let path = dir.path().join("rb.toml");
        std::fs::write(&path, runbook(file)).unwrap();
        let err = runbook::load(&path).unwrap_err();
        let d = err.iter().find(|d| d.file.ends_with(file)).unwrap_or_else(|| panic!("{file}: {err}"));
        assert_eq!((d.line, d.col, d.message.as_str()), (at.0, at.1, message.as_str()), "{file}: {err}");
    }
}

#[test]
fn invisible_bidi_and_newline_characters_in_names_are_refused_at_their_position() {
    let text = replaced("name = \"w\"", "name = \"w\\nINJECTED\"");
    assert_one(
        &text,
        2,
        8,
        &format!("window name `w\\u{{a}}INJECTED` contains the invisible character U+000A: {NAME_RULE}"),
    );
    let text = replaced("name = \"a\"\n[[host]]", "name = \"a\u{200b}\"\n[[host]]");
    let got = rejected(&text);
    assert_eq!(got[0].0, 14, "{got:#?}");
    assert!(got[0].2.contains("U+200B"), "{got:#?}");
    let text = replaced("name = \"one\"", "name = \"o\u{202e}ne\"");
    assert_one(
        &text,
        19,
        8,
        &format!("wave name `o\\u{{202e}}ne` contains the invisible character U+202E: {NAME_RULE}"),
    );
    let text = replaced("name = \"update\"", "name = \"update\\n[ok] all hosts done\"");
    assert_one(
        &text,
        23,
        8,
        &format!("step name `update\\u{{a}}[ok] all hosts done` contains the invisible character U+000A: {LABEL_RULE}"),
    );
    let text = with("\n[[check]]\nname = \"say \\\"hi\\\"\"\nrun = \"true\"\n");
    assert_one(&text, 27, 8, &format!("check name `say \"hi\"` contains '\"': {LABEL_RULE}"));
}

#[test]
fn step_and_check_names_are_labels_with_single_spaces() {
    let text = replaced("name = \"update\"", "name = \"apply tested updates\"");
    assert_eq!(load_text(&text).unwrap_or_else(|e| panic!("{e}")).steps[0].name, "apply tested updates");
    let text = replaced("name = \"update\"", "name = \"apply  tested\"");
    assert_one(&text, 23, 8, &format!("step name `apply  tested` has a space at an end or two in a row: {LABEL_RULE}"));
    // Waves and windows are identifiers: no spaces.
    let text = replaced("name = \"one\"", "name = \"wave one\"");
    assert_one(&text, 19, 8, &format!("wave name `wave one` contains a space: {NAME_RULE}"));
}

#[test]
fn an_address_starting_with_a_dash_is_refused_at_load_in_a_toml_inventory() {
    let text = replaced("name = \"b\"\n", "name = \"b\"\naddress = \"-oProxyCommand=touch${IFS}pwned\"\n");
    let got = rejected(&text);
    assert_eq!((got[0].0, got[0].1), (17, 11), "{got:#?}");
    assert!(
        got[0].2.starts_with(
            "address `-oProxyCommand=touch${IFS}pwned` is not a hostname, IP address or ssh alias: it starts with '-'"
        ),
        "{got:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// Placeholders cannot be unquoted by the template (issue 15).
// ---------------------------------------------------------------------------------------

/// Values no inventory accepts any more, as if one slipped through: each tries to run
/// `touch pwned` in the working directory.
const HOSTILE: &[&str] = &[
    "h1$(touch${IFS}pwned)",
    "h1$(touch pwned)",
    "`touch pwned`",
    "a'b$(touch pwned)'c",
    "a\"$(touch pwned)\"b",
    "x;touch pwned",
    "x\ntouch pwned",
    "x\\$(touch pwned)",
    "x' ; touch pwned ; '",
    "$(touch pwned) #",
];

/// Runs `script` with `sh -c` in a fresh directory; whether `pwned` appeared there.
fn runs_marker(script: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let _ = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    dir.path().join("pwned").exists()
}

fn hostile_host(value: &str) -> Host {
    Host { address: value.to_string(), user: Some(value.to_string()), ..Host::named(value) }
}

/// Every quoting context a placeholder can be put in, for each key that runs a command.
const QUOTED: &[(&str, &str)] = &[
    ("echo \"on {host.name}\"", "inside double quotes"),
    ("echo 'on {host.name}'", "inside single quotes"),
    ("echo `echo {host.name}`", "inside backquotes"),
    ("echo $(echo {host.name})", "inside `$(...)`"),
    ("echo ${{X:-{host.name}}}", "inside `${...}`"),
    ("echo $(( {host.port} + 1 ))", "inside `$((...))`"),
    ("echo \\{host.name}", "right after a `\\`, which would unquote its value"),
    ("cat <<EOF\n{host.name}\nEOF", "in a here-document"),
];

#[test]
fn a_placeholder_inside_quotes_is_refused_in_run_local_rollback_and_check_run() {
    let base = replaced("name = \"b\"\n", "name = \"b\"\nport = 22\n")
        .replace("name = \"a\"\n", "name = \"a\"\nport = 22\n")
        .replace("name = \"staging\"\n", "name = \"staging\"\nport = 22\n");
    for (template, context) in QUOTED {
        let literal = format!("'''{template}'''");
        for (extra, line) in [
            (format!("\n[[step]]\nname = \"s\"\nrun = {literal}\nirreversible = true\n"), 28),
            (format!("\n[[step]]\nname = \"s\"\nlocal = {literal}\nirreversible = true\n"), 28),
            (format!("\n[[step]]\nname = \"s\"\nrun = \"true\"\nrollback = {literal}\n"), 29),
            (format!("\n[[check]]\nname = \"c\"\nrun = {literal}\n"), 28),
        ] {
            let got = rejected(&format!("{base}{extra}"));
            let placeholder = if template.contains("host.port") { "{host.port}" } else { "{host.name}" };
            let want = format!(
                "`{placeholder}` is {context}: drop the quotes around it, values are already quoted for the shell (docs/runbook.md, \"Placeholders\")"
            );
            assert_eq!(got.len(), 1, "{template}: {got:#?}");
            assert_eq!(got[0].2, want, "{template}");
            // The caret is on the placeholder itself, inside the string.
            let text = format!("{base}{extra}");
            let source_line = text.lines().nth(got[0].0 - 1).unwrap();
            let col = got[0].1 - 1;
            assert!(got[0].0 >= line, "{template}: {got:#?}");
            assert!(source_line.chars().skip(col).collect::<String>().starts_with(placeholder), "{template}: {got:#?}");
        }
    }
}

#[test]
fn refused_contexts_are_the_ones_where_a_hostile_value_runs() {
    // Why the rule exists: a value quoted for the shell and then put inside "...", `...`,
    // $(...) or after a backslash is code again.
    let window = load_text(BASE).unwrap().window;
    for template in ["echo \"on {host.name}\"", "echo \\{host.name}", "echo $(echo \"{host.name}\")"] {
        let ran = HOSTILE
            .iter()
            .any(|v| runs_marker(&runbook::placeholder::expand(template, &hostile_host(v), &window, None)));
        assert!(ran, "{template}: no hostile value ran, so the test proves nothing");
    }
}

#[test]
fn accepted_templates_run_nothing_a_hostile_value_holds() {
    let rb = load_text(&with(
        "\n[[step]]\nname = \"s\"\nlocal = '''echo {host.name} {host.address} {host.user}; printf '%s\\n' {window.name} {step.name} > out; test -n {host.name} && echo ok'''\nirreversible = true\n\n[[step]]\nname = \"t\"\nrun = '''cat <<EOF > f\nbody\nEOF\necho {host.name}>{host.name}.txt # done'''\nrollback = \"rm -f f\"\n",
    ))
    .map(|_| ())
    .unwrap_err();
    // `{host.user}` needs a user on every host; the templates themselves are fine.
    assert!(problems(&rb).iter().all(|p| p.2.contains("has no `user`")), "{rb}");
    let mut base = BASE.to_string();
    for h in ["staging", "a", "b"] {
        base = base.replace(&format!("name = \"{h}\"\n"), &format!("name = \"{h}\"\nuser = \"ops\"\n"));
    }
    let rb = load_text(&format!(
        "{base}\n[[step]]\nname = \"s\"\nlocal = '''echo {{host.name}} {{host.address}} {{host.user}}; printf '%s\\n' {{window.name}} {{step.name}} > out; test -n {{host.name}} && echo ok'''\nirreversible = true\n\n[[step]]\nname = \"t\"\nrun = '''cat <<EOF > f\nbody\nEOF\necho {{host.name}}>{{host.name}}.txt # done'''\nrollback = \"rm -f f\"\n\n[[check]]\nname = \"c\"\nrun = \"test {{host.name}} != x\"\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let mut templates: Vec<(&str, Option<&str>)> = Vec::new();
    for step in &rb.steps {
        match &step.action {
            StepAction::Run(t) | StepAction::Local(t) => templates.push((t, Some(&step.name))),
            _ => {}
        }
    }
    for check in &rb.checks {
        if let CheckKind::Run(t) = &check.kind {
            templates.push((t, None));
        }
    }
    assert_eq!(templates.len(), 3);
    for (template, step) in templates {
        for value in HOSTILE {
            let mut window = rb.window.clone();
            window.name = value.to_string();
            let script = runbook::placeholder::expand(template, &hostile_host(value), &window, step.map(|_| *value));
            assert!(!runs_marker(&script), "{value:?} ran through {template:?}:\n{script}");
        }
    }
}
