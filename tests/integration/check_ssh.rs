//! `baseline capture` and `check` through the real binary, the real ssh client and a real
//! sshd on loopback; the host behind it is this Debian machine with its real apt.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::require;
use crate::support::sshd::Sshd;

/// Writes a runbook whose hosts all point at `sshd` (staging and prod1 are the same machine).
fn write_runbook(dir: &Path, sshd: &Sshd, fingerprint: &Path, prod_port: u16) -> PathBuf {
    let host = sshd.host();
    let text = format!(
        r#"
[window]
name = "ssh-test"
starts = "2026-11-22T22:00:00Z"
ends = "2026-11-22T23:30:00Z"
rollback_reserve = "20m"

[baseline]
file = "tested.toml"
host = "staging"

[policy]
max_risk = 1.0

[[host]]
name = "staging"
address = "{addr}"
port = {port}
user = "root"

[[host]]
name = "prod1"
address = "{addr}"
port = {prod_port}
user = "root"

[[fingerprint]]
path = "{fp}"

[[wave]]
name = "all"
hosts = ["prod1"]

[[step]]
name = "apply tested updates"
packages = "tested"

[[check]]
name = "ssh port answers"
tcp = "{{host.address}}:{{host.port}}"

[[check]]
name = "shell works"
run = "test -d /etc"
"#,
        addr = host.address,
        port = host.port.unwrap(),
        fp = fingerprint.display(),
    );
    let path = dir.join("runbook.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn patchdeck(sshd: &Sshd, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchdeck"))
        .arg("--ssh-config")
        .arg(sshd.ssh_config())
        .arg("--known-hosts")
        .arg(sshd.known_hosts())
        .arg("--identity")
        .arg(sshd.client_key())
        .arg("--connect-timeout")
        .arg("5")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run patchdeck")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Updates this machine has pending under `apt_config`, straight from apt (the ground truth
/// to compare with).
fn pending_here(apt_config: &Path) -> Vec<String> {
    let out = Command::new("apt-get")
        .args(["-s", "-o", "Debug::NoLocking=1", "dist-upgrade"])
        .env("LC_ALL", "C")
        .env("APT_CONFIG", apt_config)
        .output()
        .unwrap();
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

/// This machine's real apt and dpkg, looking at a repository of its own (a flat `file:`
/// repository in `dir`, through `APT_CONFIG`: the machine's sources, lists and caches are
/// left alone) that offers one pending update: `hostname`, as installed with `+pd1`
/// appended to its version. So the staging host has exactly one pending update, whatever
/// the machine's own mirror says. Returns the `APT_CONFIG` file.
fn one_pending_update(dir: &Path) -> PathBuf {
    for d in ["repo", "lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let status = Command::new("dpkg-query").args(["-s", "hostname"]).output().unwrap();
    assert!(status.status.success(), "hostname is Essential on Debian: {}", text(&status.stderr));
    let mut stanza = String::new();
    let mut in_conffiles = false;
    for line in text(&status.stdout).lines() {
        in_conffiles = line.starts_with("Conffiles:") || (in_conffiles && line.starts_with(' '));
        if in_conffiles || line.starts_with("Status:") {
            continue;
        }
        match line.strip_prefix("Version: ") {
            Some(v) => stanza.push_str(&format!("Version: {v}+pd1\n")),
            None => stanza.push_str(&format!("{line}\n")),
        }
    }
    stanza.push_str("Filename: ./hostname.deb\nSize: 1\n\n");
    std::fs::write(dir.join("repo/Packages"), stanza).unwrap();
    std::fs::write(dir.join("sources.list"), format!("deb [trusted=yes] file:{} ./\n", dir.join("repo").display()))
        .unwrap();
    let d = dir.display();
    let conf = dir.join("apt.conf");
    std::fs::write(
        &conf,
        format!(
            "Dir::Etc::sourcelist \"{d}/sources.list\";\nDir::Etc::sourceparts \"{d}/sources.list.d\";\n\
             Dir::Etc::preferences \"{d}/preferences\";\nDir::Etc::preferencesparts \"{d}/preferences.d\";\n\
             Dir::State::lists \"{d}/lists/\";\nDir::Cache \"{d}/cache/\";\nAPT::Sandbox::User \"root\";\n"
        ),
    )
    .unwrap();
    let update =
        Command::new("apt-get").args(["update", "-q"]).env("APT_CONFIG", &conf).env("LC_ALL", "C").output().unwrap();
    assert_eq!(pending_here(&conf), ["hostname"], "apt-get update: {}{}", text(&update.stdout), text(&update.stderr));
    conf
}

/// A baseline captured on staging with nothing tested: every pending update is untested.
fn write_empty_baseline(dir: &Path) {
    std::fs::write(
        dir.join("tested.toml"),
        "host = \"staging\"\ncaptured_at = \"2026-11-22T00:00:00Z\"\nsource = \"pending\"\n",
    )
    .unwrap();
}

fn sha256_file(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    text(&out.stdout).split_whitespace().next().unwrap().to_string()
}

fn prod_findings(json: &serde_json::Value) -> Vec<(String, String)> {
    let prod = json["hosts"].as_array().unwrap().iter().find(|h| h["diff"]["host"] == "prod1").unwrap();
    prod["diff"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["class"].as_str().unwrap().to_string(), f["subject"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn capture_then_check_over_real_ssh_finds_config_drift() {
    if !require::sshd() || !require::debian() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let apt = tempfile::tempdir().unwrap();
    let apt_config = one_pending_update(apt.path());
    // Every session on this host sees the repository with the one pending update.
    let sshd = Sshd::start_with(&format!("SetEnv APT_CONFIG={}\n", apt_config.display()));
    let interfaces = dir.path().join("interfaces");
    std::fs::write(&interfaces, "auto lo\niface lo inet loopback\n").unwrap();
    let runbook = write_runbook(dir.path(), &sshd, &interfaces, sshd.host().port.unwrap());
    let baseline = dir.path().join("tested.toml");

    let out = patchdeck(&sshd, &["baseline", "capture", runbook.to_str().unwrap(), "-o", baseline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "capture failed: {}", text(&out.stderr));
    let b = patchdeck::baseline::load(&baseline).expect("captured baseline loads");
    assert_eq!(b.host, "staging");
    let installed = Command::new("dpkg-query").args(["-W", "-f=${Version}", "hostname"]).output().unwrap();
    let installed = text(&installed.stdout);
    let updates: Vec<(String, Option<String>, String)> = b
        .updates
        .iter()
        .map(|u| (u.name.to_string(), u.from.as_ref().map(ToString::to_string), u.to.to_string()))
        .collect();
    let want = ("hostname".to_string(), Some(installed.clone()), format!("{installed}+pd1"));
    assert_eq!(updates, [want], "the pending update, exactly");
    assert_eq!(b.os.id, "debian");
    assert_eq!(b.fingerprints[0].value, patchdeck::probe::FpValue::Sha256(sha256_file(&interfaces)));
    let pending = pending_here(&apt_config).len();

    // Same machine, same moment: nothing is untested, mismatched or drifted. (Whether the
    // installed versions can be reinstalled depends on the mirror, so that class may appear.)
    let out = patchdeck(&sshd, &["check", runbook.to_str().unwrap(), "--json", "--fresh"]);
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    let findings = prod_findings(&json);
    assert!(
        findings.iter().all(|(c, _)| c == "tested" || c == "rollback_infeasible"),
        "unexpected findings: {findings:?}"
    );
    assert_eq!(findings.iter().filter(|(c, _)| c == "tested").count(), pending);
    let checks = json["hosts"][0]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2);
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");

    // The config changes on prod: check must say so, with exit code 3.
    std::fs::write(&interfaces, "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n").unwrap();
    let out = patchdeck(&sshd, &["check", runbook.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    eprintln!("check over a real sshd on loopback, after the fingerprinted file changed:\n{stdout}");
    assert_eq!(out.status.code(), Some(3), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains(&format!("! file:{}  CONFIG DRIFT", interfaces.display())), "{stdout}");
    assert!(stdout.contains("STOP prod1"), "{stdout}");
}

/// Each way of failing to reach a host gets its own message, in the report and fast.
#[test]
fn connection_failures_are_distinct_and_bounded() {
    if !require::sshd() {
        return;
    }
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let fp = dir.path().join("f");
    std::fs::write(&fp, "x").unwrap();
    write_empty_baseline(dir.path());

    let good_known_hosts = sshd.known_hosts();
    let good_key = sshd.client_key();
    let unknown = tempfile::NamedTempFile::new().unwrap();
    let cases = [
        ("unknown host key", unknown.path().to_path_buf(), good_key.clone(), "host key is not in known_hosts"),
        ("refused key", good_known_hosts.clone(), sshd.unauthorized_key(), "refused our key"),
        ("changed host key", sshd.wrong_known_hosts(), good_key.clone(), "HOST KEY CHANGED"),
    ];
    let runbook = write_runbook(dir.path(), &sshd, &fp, sshd.host().port.unwrap());
    for (what, known_hosts, key, expect) in cases {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_patchdeck"))
            .arg("--ssh-config")
            .arg(sshd.ssh_config())
            .arg("--known-hosts")
            .arg(&known_hosts)
            .arg("--identity")
            .arg(&key)
            .args(["--connect-timeout", "5", "check", runbook.to_str().unwrap()])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        // The window's only host cannot be reached: nothing was checked, exit 1.
        assert_eq!(out.status.code(), Some(1), "{what}: {stdout}{}", text(&out.stderr));
        assert!(
            stdout.contains("CANNOT CONNECT") && stdout.contains(expect),
            "{what}: expected {expect:?} in\n{stdout}"
        );
        assert!(stdout.contains("No host could be reached"), "{what}: {stdout}");
        assert!(started.elapsed() < Duration::from_secs(20), "{what} took {:?}", started.elapsed());
    }

    // Nothing listens on this port: unreachable, quickly.
    let closed = crate::support::sshd::free_port(sshd.host().address.parse().unwrap());
    let runbook = write_runbook(dir.path(), &sshd, &fp, closed);
    let started = Instant::now();
    let out = patchdeck(&sshd, &["check", runbook.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "no host reached: {stdout}");
    assert!(stdout.contains("CANNOT CONNECT") && stdout.contains("Connection refused"), "{stdout}");
    assert!(stdout.lines().all(|l| l.chars().count() <= 80), "{stdout}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let out = patchdeck(&sshd, &["check", runbook.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "--json exits alike");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the report is printed");
    assert_eq!(json["exit_code"], 1);
    assert_eq!(prod_findings(&json), [("unreachable".to_string(), "host".to_string())]);

    // prod1 answers and prod2 does not: a finding on a window that was checked, exit 3.
    let runbook = write_runbook(dir.path(), &sshd, &fp, sshd.host().port.unwrap());
    let rb =
        std::fs::read_to_string(&runbook).unwrap().replace("hosts = [\"prod1\"]", "hosts = [\"prod1\", \"prod2\"]");
    let prod2 = format!(
        "[[host]]\nname = \"prod2\"\naddress = \"{}\"\nport = {closed}\nuser = \"root\"\n\n[[fingerprint]]",
        sshd.host().address
    );
    std::fs::write(&runbook, rb.replacen("[[fingerprint]]", &prod2, 1)).unwrap();
    let out = patchdeck(&sshd, &["check", runbook.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["exit_code"], 3);
    let hosts = json["hosts"].as_array().unwrap();
    let prod2 = hosts.iter().find(|h| h["diff"]["host"] == "prod2").expect("prod2 reported");
    assert_eq!(prod2["diff"]["findings"][0]["class"], "unreachable", "{prod2}");
    assert!(prod2["diff"]["findings"][0]["detail"].as_str().unwrap().contains("Connection refused"), "{prod2}");
    let prod1 = hosts.iter().find(|h| h["diff"]["host"] == "prod1").expect("prod1 reported");
    assert!(prod1["diff"]["findings"].as_array().unwrap().iter().all(|f| f["class"] != "unreachable"), "{prod1}");
    let out = patchdeck(&sshd, &["check", runbook.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("STOP prod2") && !stdout.contains("No host could be reached"), "{stdout}");
}

/// A host whose package database holds shell metacharacters and escape sequences is
/// reported as hostile: nothing of it runs, nothing of it reaches the terminal raw.
#[test]
fn hostile_host_output_is_refused_and_never_executed() {
    if !require::sshd() {
        return;
    }
    let fakebin = tempfile::tempdir().unwrap();
    let pwned = fakebin.path().join("pwned");
    let fake = format!(
        "#!/bin/sh\nprintf 'ii \\tfoo;touch {p}\\t1.0\\n'\nprintf 'ii \\tlibok\\t1.0\\033[2J\\n'\n",
        p = pwned.display()
    );
    let dpkg_query = fakebin.path().join("dpkg-query");
    std::fs::write(&dpkg_query, fake).unwrap();
    std::fs::set_permissions(&dpkg_query, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let sshd = Sshd::start_with(&format!("SetEnv PATH={}:/usr/sbin:/usr/bin:/sbin:/bin\n", fakebin.path().display()));

    let dir = tempfile::tempdir().unwrap();
    let fp = dir.path().join("f");
    std::fs::write(&fp, "x").unwrap();
    write_empty_baseline(dir.path());
    let runbook = write_runbook(dir.path(), &sshd, &fp, sshd.host().port.unwrap());

    let out = patchdeck(&sshd, &["check", runbook.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("HOSTILE OUTPUT") && stdout.contains("package name"), "{stdout}");
    assert!(!stdout.contains('\x1b') && !text(&out.stderr).contains('\x1b'), "raw escape reached the terminal");
    assert!(!pwned.exists(), "text from the host was executed");
}

/// An http/tcp check of a host written as an ssh alias goes where ssh goes: `{host.address}`
/// is the alias's `HostName` as `ssh -G` resolves it from the runbook's ssh_config. Needs the
/// real ssh client but no server (ssh itself fails to connect: nothing listens on its port).
#[test]
fn operator_side_checks_reach_the_hostname_an_ssh_alias_resolves_to() {
    use std::io::{Read, Write};
    if !require::ssh_client() {
        return;
    }
    let ip: std::net::Ipv4Addr = "127.0.0.77".parse().unwrap();
    let tcp = std::net::TcpListener::bind((ip, 0)).unwrap();
    let tcp_port = tcp.local_addr().unwrap().port();
    let http = std::net::TcpListener::bind((ip, 0)).unwrap();
    let http_port = http.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = http.accept().unwrap();
        let mut request = [0u8; 1024];
        let n = conn.read(&mut request).unwrap();
        let body = "web1 ok";
        let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        conn.write_all(reply.as_bytes()).unwrap();
        String::from_utf8_lossy(&request[..n]).into_owned()
    });
    let ssh_port = crate::support::sshd::free_port(ip);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ssh_config"), format!("Host web-alias\n  HostName {ip}\n  Port {ssh_port}\n"))
        .unwrap();
    write_empty_baseline(dir.path());
    let runbook = dir.path().join("runbook.toml");
    std::fs::write(
        &runbook,
        format!(
            r#"
[window]
name = "alias"
starts = "2026-11-22T22:00:00Z"
ends = "2026-11-22T23:30:00Z"
rollback_reserve = "20m"

[inventory]
ssh_config = "ssh_config"

[baseline]
file = "tested.toml"
host = "staging"

[[host]]
name = "web1"
address = "web-alias"
user = "root"

[[wave]]
name = "all"
hosts = ["web1"]

[[step]]
name = "apply tested updates"
packages = "tested"

[[check]]
name = "port from here"
tcp = "{{host.address}}:{tcp_port}"

[[check]]
name = "site from here"
http = "http://{{host.address}}:{http_port}/healthz"
contains = "{{host.name}}"
"#
        ),
    )
    .unwrap();
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, "").unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_patchdeck"))
        .arg("--known-hosts")
        .arg(&known_hosts)
        .args(["--connect-timeout", "5", "check", "--json"])
        .arg(&runbook)
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .output()
        .unwrap();
    // ssh itself reaches nothing (the only host is unreachable: exit 1), yet the checks from
    // this machine ran against the alias's HostName.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let detail = json["hosts"][0]["diff"]["findings"][0]["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("Connection refused"), "ssh went to the HostName too: {detail}");
    let checks: Vec<(bool, String)> = json["hosts"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["ok"].as_bool().unwrap(), c["detail"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        checks,
        [(true, format!("tcp {ip}:{tcp_port} open")), (true, format!("GET http://{ip}:{http_port}/healthz -> 200"))]
    );
    let request = server.join().unwrap();
    assert!(request.starts_with("GET /healthz HTTP/1.1\r\n"), "{request}");
}

/// A runbook whose prod1 is an ssh alias reached through the alias `bastion` (ssh_config
/// `ProxyJump`, as operators write it); nothing but `ProxyJump` in that ssh_config: the
/// key and known_hosts come from `--identity` and `--known-hosts` and must reach both hops.
fn behind_bastion(dir: &Path, bastion: &Sshd, target: &Sshd) -> PathBuf {
    let (b, t) = (bastion.host(), target.host());
    std::fs::write(
        dir.join("ssh_config"),
        format!(
            "Host bastion\n  HostName {}\n  Port {}\n  User root\n\n\
             Host prod1-behind\n  HostName {}\n  Port {}\n  User root\n  ProxyJump bastion\n",
            b.address,
            b.port.unwrap(),
            t.address,
            t.port.unwrap()
        ),
    )
    .unwrap();
    write_empty_baseline(dir);
    let runbook = dir.join("runbook.toml");
    std::fs::write(
        &runbook,
        r#"
[window]
name = "bastion"
starts = "2026-11-22T22:00:00Z"
ends = "2026-11-22T23:30:00Z"
rollback_reserve = "20m"

[inventory]
ssh_config = "ssh_config"

[baseline]
file = "tested.toml"
host = "staging"

[[host]]
name = "prod1"
address = "prod1-behind"

[[wave]]
name = "all"
hosts = ["prod1"]

[[step]]
name = "apply tested updates"
packages = "tested"

[[check]]
name = "ssh port from here"
tcp = "{host.address}:22"
"#,
    )
    .unwrap();
    runbook
}

/// `patchdeck check --json` with only `--identity` and `--known-hosts` (the runbook names the
/// ssh_config).
fn check_json(runbook: &Path, identity: &Path, known_hosts: &Path) -> (Option<i32>, serde_json::Value, String) {
    let dir = runbook.parent().unwrap();
    let run = |json: bool| {
        Command::new(env!("CARGO_BIN_EXE_patchdeck"))
            .arg("--known-hosts")
            .arg(known_hosts)
            .arg("--identity")
            .arg(identity)
            .args(["--connect-timeout", "5", "check"])
            .args(json.then_some("--json"))
            .arg(runbook)
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .output()
            .expect("run patchdeck")
    };
    let out = run(true);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    let console = run(false);
    (out.status.code(), json, format!("{}{}", text(&console.stdout), text(&console.stderr)))
}

fn unreachable_detail(json: &serde_json::Value) -> Option<String> {
    json["hosts"][0]["diff"]["findings"]
        .as_array()?
        .iter()
        .find(|f| f["class"] == "unreachable")
        .map(|f| f["detail"].as_str().unwrap().to_string())
}

/// Through a bastion: `--known-hosts` and `--identity` reach the jump too; a bastion whose
/// key is unknown, or that is down, is named as the hop that failed, not as prod1's fault;
/// and a check of `{host.address}` (an alias only ssh_config knows) says so.
#[test]
fn through_a_bastion_every_hop_has_our_options_and_failures_name_the_hop() {
    if !require::sshd() {
        return;
    }
    let target = Sshd::start();
    let mut bastion = Sshd::start();
    bastion.authorize(&target.client_key());
    let dir = tempfile::tempdir().unwrap();
    let runbook = behind_bastion(dir.path(), &bastion, &target);
    let both = dir.path().join("known_hosts");
    std::fs::write(&both, format!("{}{}", bastion.known_hosts_entry(), target.known_hosts_entry())).unwrap();

    // Both keys known in --known-hosts, one --identity for both: prod1 is reached.
    let (_, json, console) = check_json(&runbook, &target.client_key(), &both);
    let trimmed: Vec<&str> = console.lines().filter(|l| !l.contains("UNTESTED")).collect();
    eprintln!("check through the bastion (untested packages left out):\n{}", trimmed.join("\n"));
    assert_eq!(unreachable_detail(&json), None, "{json}");
    let checks = json["hosts"][0]["checks"].as_array().unwrap();
    let detail = checks[0]["detail"].as_str().unwrap();
    assert_eq!(checks[0]["ok"], false);
    assert!(
        detail.contains("\"prod1-behind\", which this machine cannot resolve")
            && detail.contains("set `address` for prod1"),
        "{detail}"
    );

    // The bastion's key is not in --known-hosts (prod1's is): the bastion is named.
    let only_target = dir.path().join("known_hosts_target");
    std::fs::write(&only_target, target.known_hosts_entry()).unwrap();
    let (code, json, console) = check_json(&runbook, &target.client_key(), &only_target);
    eprintln!("check with the bastion's host key unknown:\n{console}");
    assert_eq!(code, Some(1), "{json}");
    let detail = unreachable_detail(&json).expect("prod1 unreachable");
    assert!(
        detail.starts_with("prod1: through the jump host bastion: host key is not in known_hosts")
            && detail.contains(&format!("[{}]:{}", bastion.host().address, bastion.host().port.unwrap())),
        "{detail}"
    );
    assert!(console.contains("through the jump host bastion"), "{console}");

    // prod1's key unknown behind a working bastion: prod1's own fault, not the bastion's.
    let only_bastion = dir.path().join("known_hosts_bastion");
    std::fs::write(&only_bastion, bastion.known_hosts_entry()).unwrap();
    let (_, json, _) = check_json(&runbook, &target.client_key(), &only_bastion);
    let detail = unreachable_detail(&json).expect("prod1 unreachable");
    assert!(detail.starts_with("prod1: host key is not in known_hosts"), "{detail}");

    // The bastion is down: named, with why.
    bastion.kill();
    let (code, json, console) = check_json(&runbook, &target.client_key(), &both);
    eprintln!("check with the bastion down:\n{console}");
    assert_eq!(code, Some(1), "{json}");
    let detail = unreachable_detail(&json).expect("prod1 unreachable");
    assert!(
        detail.starts_with("prod1: through the jump host bastion: unreachable")
            && detail.contains("Connection refused"),
        "{detail}"
    );
}

/// A host logging in as a user whose sudo needs a password (here: a user with no sudo rights
/// at all, for which real sudo asks a password): `check` stops it, exit 3, naming the cause
/// and the fix, while the probe itself (as that user) still works.
#[test]
fn a_login_whose_sudo_needs_a_password_is_a_stop_naming_it() {
    if !require::sudo_login() || !require::debian() {
        return;
    }
    let sshd = Sshd::start();
    let host = sshd.sudo_user_host();
    let dir = tempfile::tempdir().unwrap();
    let fp = dir.path().join("f");
    std::fs::write(&fp, "x").unwrap();
    write_empty_baseline(dir.path());
    let runbook = write_runbook(dir.path(), &sshd, &fp, sshd.host().port.unwrap());
    let rb = std::fs::read_to_string(&runbook).unwrap();
    let prod1 =
        format!("name = \"prod1\"\naddress = \"{}\"\nport = {}\nuser = \"root\"", host.address, host.port.unwrap());
    assert!(rb.contains(&prod1), "{rb}");
    let as_user = format!(
        "name = \"prod1\"\naddress = \"{}\"\nport = {}\nuser = \"{}\"\nsudo = true",
        host.address,
        host.port.unwrap(),
        host.user.as_deref().unwrap()
    );
    std::fs::write(&runbook, rb.replace(&prod1, &as_user)).unwrap();

    let out = patchdeck(&sshd, &["check", runbook.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let prod = json["hosts"].as_array().unwrap().iter().find(|h| h["diff"]["host"] == "prod1").unwrap();
    let sudo: Vec<&serde_json::Value> =
        prod["diff"]["findings"].as_array().unwrap().iter().filter(|f| f["class"] == "sudo_unusable").collect();
    assert_eq!(sudo.len(), 1, "{prod}");
    assert_eq!((sudo[0]["verdict"].as_str(), sudo[0]["here"].as_str()), (Some("stop"), Some("password needed")));
    let detail = sudo[0]["detail"].as_str().unwrap();
    assert!(detail.contains("sudo needs a password for pd-sudo-test") && detail.contains("NOPASSWD"), "{detail}");
    assert!(!prod["diff"]["findings"].as_array().unwrap().iter().any(|f| f["class"] == "unreachable"), "{prod}");
    // One cause, one finding: what is read as root (the lock, the fingerprint, the drift
    // map) would only repeat sudo's refusal, so it waits until sudo works, and says so.
    assert!(detail.contains("not checked until it works"), "{detail}");
    for echo in ["host_locked", "config_drift", "drift_config"] {
        assert!(!prod["diff"]["findings"].as_array().unwrap().iter().any(|f| f["class"] == echo), "{echo}: {prod}");
    }

    let out = patchdeck(&sshd, &["check", runbook.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    let trimmed: Vec<&str> = stdout.lines().filter(|l| !l.contains("UNTESTED")).collect();
    eprintln!("check of a login whose sudo needs a password:\n{}", trimmed.join("\n"));
    assert_eq!(out.status.code(), Some(3));
    assert!(stdout.contains("SUDO UNUSABLE") && stdout.contains("password"), "{stdout}");
}
