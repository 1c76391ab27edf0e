//! Integration tests: apt. Every fixture under `tests/fixtures/apt/` is parsed and checked
//! against facts counted independently (grep/awk on the capture); see its README.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use patchdeck::pkg::apt::{Apt, parse};
use patchdeck::pkg::{Managers, PackageManager, ParseError, PkgFacts, PkgName, Version};

use crate::support::require;

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apt").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The framing convention: `@@patchdeck:NAME` opens a section that runs to the next one.
fn sections(out: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut cur: Option<(String, String)> = None;
    for line in out.lines() {
        if let Some(name) = line.strip_prefix("@@patchdeck:") {
            map.extend(cur.take());
            cur = Some((name.to_string(), String::new()));
        } else if let Some((_, body)) = cur.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    map.extend(cur);
    map
}

fn n(s: &str) -> PkgName {
    PkgName::parse(s).unwrap()
}
fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}
fn names(items: &[&str]) -> BTreeSet<PkgName> {
    items.iter().map(|s| n(s)).collect()
}
/// A fixture parsed as the probe parses a host's output (os-release, versions in Debian's
/// order); the fixtures predate the `manager` section, so it is put in front.
fn probe(name: &str) -> Result<PkgFacts, ParseError> {
    let out = format!("@@patchdeck:manager\napt\n{}", fixture(name));
    patchdeck::probe::parse(Managers::standard(), &[], &out).map(|facts| facts.pkg)
}
fn pending<'a>(f: &'a PkgFacts, name: &str) -> &'a patchdeck::pkg::Pending {
    f.pending.iter().find(|p| p.name.as_str() == name).unwrap_or_else(|| panic!("{name} not pending"))
}
fn amd64() -> parse::NativeArch {
    parse::NativeArch::new("amd64")
}

#[test]
fn plain_bookworm_probe() {
    let f = probe("probe-bookworm-plain.txt").unwrap();
    assert_eq!(f.os.id, "debian");
    assert_eq!(f.os.version_id, "12");
    assert_eq!(f.os.codename, "bookworm");
    assert_eq!(f.os.pretty_name, "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(f.installed.len(), 712);
    assert_eq!(f.installed[&n("bc")], v("1.07.1-3+b1"));
    assert_eq!(f.installed[&n("libcap2")], v("1:2.66-4+deb12u2+b2"));
    assert_eq!(f.pending.len(), 131);
    assert_eq!(f.pending.iter().filter(|p| p.security).count(), 81);
    assert!(f.pending.iter().all(|p| p.from.is_some()), "no new installs in the plain capture");
    assert!(f.removals.is_empty() && f.held.is_empty() && f.kept_back.is_empty());
    assert!(!f.reboot_required && f.reboot_required_by.is_empty() && f.restart_services.is_empty());

    let ssl = pending(&f, "libssl3");
    // Installable versions come oldest first, in dpkg's order: the candidate is the last.
    assert_eq!(ssl.to.as_str(), f.installable[&n("libssl3")].last().unwrap().as_str());
    assert!(ssl.security);
    let g = pending(&f, "libgcrypt20");
    assert_eq!(g.from, Some(v("1.10.1-3")));
    assert_eq!(g.to, v("1.10.1-3+deb12u1"));
    assert_eq!(g.origin, "Debian:12.15/oldstable, Debian-Security:12/oldstable-security");
    assert!(g.security);
    let base = pending(&f, "base-files");
    assert_eq!((base.origin.as_str(), base.security), ("Debian:12.15/oldstable", false));
    let cap = pending(&f, "libcap2");
    assert_eq!((cap.from.clone(), cap.to.clone()), (Some(v("1:2.66-4+deb12u2+b2")), v("1:2.66-4+deb12u3+b1")));

    // Rollback feasibility: apt 2.6.1 is still in bookworm/main; bash 5.2.15-2+b8 and
    // libgcrypt20 1.10.1-3 exist only in /var/lib/dpkg/status.
    assert!(f.can_reinstall_current(&n("apt")));
    assert!(!f.can_reinstall_current(&n("bash")));
    assert!(!f.can_reinstall_current(&n("libgcrypt20")));
    assert_eq!(f.installable[&n("bash")], [v("5.2.15-2+b13")]);
}

#[test]
fn localrepo_new_install_removal_hold_kept_back() {
    let f = probe("probe-bookworm-localrepo-held.txt").unwrap();
    assert_eq!(f.installed.len(), 712, "the held jq is `hi`: installed");
    assert_eq!(f.installed[&n("jq")], v("1.6-2.1+deb12u1"));
    assert_eq!(f.pending.len(), 132);
    assert_eq!(f.pending.iter().filter(|p| p.security).count(), 79);
    let new = pending(&f, "pd-newdep");
    assert_eq!(
        (new.from.clone(), new.to.clone(), new.origin.as_str(), new.security),
        (None, v("1.0"), "localhost", false)
    );
    let bc = pending(&f, "bc");
    assert_eq!((bc.from.clone(), bc.to.clone()), (Some(v("1.07.1-3+b1")), v("1.07.1-3+b1+pd1")));
    assert_eq!(pending(&f, "time").to, v("1.9-0.2+pd1"));
    assert_eq!(f.pending.iter().filter(|p| p.from.is_none()).count(), 1);
    assert_eq!(f.removals, names(&["ed"]));
    assert_eq!(f.held, names(&["jq"]));
    assert_eq!(f.kept_back, names(&["jq", "libjq1"]));
    assert!(f.pending.iter().all(|p| p.name.as_str() != "jq"));

    // jq: installed deb12u1 is gone from the archive (deb12u2 and deb12u3 are not).
    assert_eq!(f.installable[&n("jq")], [v("1.6-2.1+deb12u2"), v("1.6-2.1+deb12u3")]);
    assert!(!f.can_reinstall_current(&n("jq")));
    // ed is removed by the upgrade but 1.19-1 is in bookworm: a rollback can put it back.
    assert!(f.can_reinstall_current(&n("ed")));
    assert!(f.can_reinstall_current(&n("pd-newdep")), "new installs roll back by removal");
    assert_eq!(f.installable[&n("bc")], [v("1.07.1-3+b1"), v("1.07.1-3+b1+pd1")]);
}

#[test]
fn noisy_and_german_upgrade_output_parse_to_the_same_plan() {
    let c = sections(&fixture("probe-bookworm-localrepo-held.txt"));
    let reference = parse::upgrade(&c["upgrade"], &amd64()).unwrap();
    assert_eq!(reference.pending.len(), 132);

    let noisy = fixture("upgrade-noisy-apt-2to1.txt");
    assert!(noisy.contains("WARNING: apt does not have a stable CLI interface"));
    assert!(noisy.contains("\nW: Target Packages"));
    assert_eq!(parse::upgrade(&noisy, &amd64()).unwrap(), reference);

    let de = fixture("upgrade-de_DE-2to1.txt");
    assert!(de.contains("Paketlisten werden gelesen"));
    let german = parse::upgrade(&de, &amd64()).unwrap();
    assert_eq!(german.pending, reference.pending);
    assert_eq!(german.removals, reference.removals);
    // The kept-back list is prose; in German it is not read (hence LC_ALL=C in the probe).
    assert!(german.kept_back.is_empty());

    let pol_de = parse::policy(&fixture("policy-de_DE.txt"), &amd64()).unwrap();
    let pol_c = parse::policy(&c["policy"], &amd64()).unwrap();
    assert_eq!(pol_de.keys().cloned().collect::<BTreeSet<_>>(), names(&["bc", "ed", "jq", "libjq1", "pd-newdep"]));
    // The C capture asked only about Inst/Remv names and holds (libjq1 is neither).
    for name in ["bc", "ed", "jq", "pd-newdep"] {
        assert_eq!(pol_de[&n(name)], pol_c[&n(name)], "{name}");
    }
    let pd = &pol_de[&n("pd-newdep")];
    assert_eq!((pd.installed.clone(), pd.candidate.clone()), (None, Some(v("1.0"))));
}

#[test]
fn cache_reboot_needrestart_sections() {
    let cache = parse::cache(&fixture("cache-listing.txt"), &amd64());
    assert_eq!(
        cache,
        vec![(n("bash"), v("5.2.15-2+b13")), (n("jq"), v("1.6-2.1+deb12u2")), (n("libcap2"), v("1:2.66-4+deb12u3+b1")),]
    );

    let mut s = sections(&fixture("probe-bookworm-plain.txt"));
    s.insert("reboot".into(), fixture("reboot-section.txt"));
    s.insert("needrestart".into(), fixture("needrestart-section.txt"));
    s.insert(
        "cache".into(),
        "bash_5.2.15-2%3a_amd64.deb\nbash_5.2.15-2+b8_amd64.deb\nzzz_1.0_amd64.deb\nnot-a-deb\n".into(),
    );
    let f = Apt.parse_probe(&s).unwrap();
    assert!(f.reboot_required);
    assert_eq!(f.reboot_required_by, names(&["libc6", "libssl3", "linux-image-6.1.0-41-amd64"]));
    assert_eq!(
        f.restart_services,
        ["cron.service", "ssh.service", "systemd-journald.service", "user@1000.service"].map(String::from).into()
    );
    // The cached .deb makes the installed bash reinstallable; unrelated packages are ignored.
    assert!(f.can_reinstall_current(&n("bash")));
    assert!(!f.installable.contains_key(&n("zzz")));
}

#[test]
fn hostile_fixtures_are_refused_without_raw_escapes() {
    for (file, what) in [
        ("probe-hostile-name.txt", "package name"),
        ("probe-hostile-version.txt", "version"),
        ("probe-hostile-held.txt", "package name"),
    ] {
        match probe(file) {
            Err(ParseError::Hostile(h)) => {
                assert_eq!(h.what, what, "{file}");
                assert!(!h.shown.contains('\x1b'), "{file}: {:?}", h.shown);
                assert!(!ParseError::Hostile(h.clone()).to_string().contains('\x1b'));
            }
            other => panic!("{file}: expected Hostile, got {other:?}"),
        }
    }
    let e = probe("probe-hostile-name.txt").unwrap_err();
    assert!(e.to_string().contains("foo;touch /tmp/pwned"), "{e}");
}

#[test]
fn truncated_and_garbled_input_never_panics() {
    let full = fixture("probe-bookworm-localrepo-held.txt");
    // Cut the capture at many points (as a dropped connection would) and flip bytes.
    for cut in (0..full.len()).step_by(997) {
        let Some(head) = full.get(..cut) else { continue };
        let _ = Apt.parse_probe(&sections(head));
    }
    let mut s = sections(&full);
    s.insert("installed".into(), String::new());
    assert!(matches!(Apt.parse_probe(&s), Err(ParseError::Malformed { .. })));
    s = sections(&full);
    s.insert("upgrade".into(), "E: The package lists or status file could not be parsed\npatchdeck-exit: 100\n".into());
    let e = Apt.parse_probe(&s).unwrap_err();
    assert!(e.to_string().contains("could not be parsed"), "{e}");
}

#[test]
fn history_last_upgrade() {
    // The newest block with an Upgrade: line (the later sshd install also upgraded openssh-client).
    let got = Apt.parse_last_upgrade(&fixture("history-script-bookworm.txt")).unwrap();
    let plain = Apt.parse_last_upgrade(&fixture("history-bookworm.log")).unwrap();
    assert_eq!(got, plain, "the native arch is inferred the same without the header");
    let short: Vec<(&str, Option<&str>, &str)> =
        got.iter().map(|p| (p.name.as_str(), p.from.as_ref().map(Version::as_str), p.to.as_str())).collect();
    assert_eq!(
        short,
        [
            ("libwrap0", None, "7.6.q-32"),
            ("ncurses-term", None, "6.4-4"),
            ("openssh-client", Some("1:9.2p1-2+deb12u6"), "1:9.2p1-2+deb12u10"),
            ("openssh-server", None, "1:9.2p1-2+deb12u10"),
            ("openssh-sftp-server", None, "1:9.2p1-2+deb12u10"),
            ("runit-helper", None, "2.15.2"),
        ]
    );
    assert!(got.iter().all(|p| p.origin == "history" && !p.security));

    // Rotated logs concatenated newest-first still pick the newest upgrade by Start-Date.
    let log = fixture("history-bookworm.log");
    let split = log.find("Start-Date: 2026-09-22  04:48:20").unwrap();
    let reordered = format!("{}\n{}", &log[split..], &log[..split]);
    assert_eq!(Apt.parse_last_upgrade(&reordered).unwrap(), got);
}

/// Runs the real probe on this machine through `sh -c`, framed as the fleet probe frames it.
#[test]
fn real_apt_probe_on_this_machine() {
    if !require::debian() {
        return;
    }
    let script = format!("export LC_ALL=C LANG=C LANGUAGE=C\n{}", Managers::standard().probe_script());
    let out = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let host = patchdeck::probe::parse(Managers::standard(), &[], &String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(host.manager, "apt", "a Debian-family machine answers as apt");
    let facts = host.pkg;

    let direct = std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev}\t${binary:Package}\t${Version}\n"])
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    let arch = std::process::Command::new("dpkg").arg("--print-architecture").output().unwrap();
    let arch = parse::NativeArch::new(&String::from_utf8_lossy(&arch.stdout));
    let mut expected = BTreeMap::new();
    for line in String::from_utf8_lossy(&direct.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f[0].trim() == "ii" || f[0].trim() == "hi" {
            expected.insert(arch.name(f[1]).unwrap(), v(f[2]));
        }
    }
    assert_eq!(facts.installed, expected);
    assert!(!facts.os.id.is_empty());
    for p in &facts.pending {
        if let Some(from) = &p.from {
            assert_eq!(facts.installed.get(&p.name), Some(from), "{}", p.name);
        }
    }

    let hist = std::process::Command::new("sh").args(["-c", &Apt.history_script()]).output().unwrap();
    assert!(hist.status.success());
    Apt.parse_last_upgrade(&String::from_utf8_lossy(&hist.stdout)).unwrap();
}

/// The probe's `pkgstate` on this machine: (stat digest, content digest, keyword).
fn pkgstate(mode: &str) -> (String, String, String, BTreeMap<String, String>) {
    let script =
        format!("export LC_ALL=C LANG=C LANGUAGE=C\nPD_PROBE_MODE={mode}\n{}", Managers::standard().probe_script());
    let out = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = sections(&String::from_utf8_lossy(&out.stdout));
    let mut lines = s["pkgstate"].lines();
    let state = lines.next().unwrap_or("").to_string();
    let mut content = String::new();
    let mut word = String::new();
    for l in lines {
        match l.strip_prefix("content ") {
            Some(c) => content = c.to_string(),
            None => word = l.to_string(),
        }
    }
    (state, content, word, s)
}

/// `PD_PROBE_MODE=digests` on this machine: both digests, no resolver section, and the same
/// content digest as a full probe prints with the resolver's answer.
#[test]
fn digests_mode_on_this_machine() {
    if !require::debian() {
        return;
    }
    let hex = |d: &str| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    // Same files, same digests. Something else may change apt's state in between (then the
    // stat digest moved too): try again, a few times; under tests/run it must settle.
    for attempt in 1..=5 {
        let (state, content, word, s) = pkgstate("digests");
        assert!(hex(&state) && hex(&content), "{:?}", s["pkgstate"]);
        assert_eq!(word, "deferred");
        for name in patchdeck::pkg::apt::probe::RESOLVER_SECTIONS {
            assert!(!s.contains_key(name), "{name} printed in digests mode");
        }
        assert!(s.contains_key("installed") && s.contains_key("reboot") && s.contains_key("cache"));
        let (state2, content2, word2, full) = pkgstate("full");
        assert_eq!(word2, "", "a full probe runs the resolver");
        assert!(full["upgrade"].contains("patchdeck-exit: "), "{}", full["upgrade"]);
        if state2 == state {
            assert_eq!(content2, content, "same apt state (attempt {attempt}), same content digest");
            return;
        }
    }
    require::or_skip("apt's state to hold still", Some("it changed during each of 5 attempts".into()));
}

#[test]
fn current_probe_script_capture() {
    // Captured with the final probe.sh: stderr merged into `upgrade`, `patchdeck-exit: 0`.
    let s = sections(&fixture("probe-bookworm-current.txt"));
    assert!(s["upgrade"].contains("patchdeck-exit: 0"));
    let f = probe("probe-bookworm-current.txt").unwrap();
    assert_eq!(f.os.codename, "bookworm");
    assert!(f.installed.contains_key(&n("openssh-server")));
    assert!(!f.pending.is_empty());
    assert!(f.pending.iter().all(|p| f.installable.contains_key(&p.name)), "policy covers every pending package");
}

#[test]
fn generated_scripts_are_valid_posix_sh() {
    use std::time::Duration;
    let pkgs = [(n("libssl3"), v("3.0.15-1~deb12u1")), (n("libc6:i386"), v("1:2.36-9+deb12u14"))];
    let snap = [(n("bc"), Some(v("1.07.1-3+b1"))), (n("pd-newdep"), None)];
    for script in [
        Apt.install_exact(&pkgs, Duration::from_secs(60)).script,
        Apt.restore(&snap, Duration::from_secs(60)).script,
        Apt.restore(&snap[..1], Duration::from_secs(60)).script,
        Apt.restore(&[], Duration::from_secs(60)).script,
        Apt.probe_script(),
        Managers::standard().probe_script(),
        Apt.history_script(),
    ] {
        let out = std::process::Command::new("sh").args(["-n", "-c", &script]).output().unwrap();
        assert!(out.status.success(), "{script}\n{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The restore guard, run against a fake apt-get: an unplanned removal aborts before any
/// real (non-simulated) apt-get call; a clean plan proceeds to exactly one real install.
#[test]
fn restore_guard_aborts_on_unplanned_removal() {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls");
    let fake = format!(
        "#!/bin/sh\necho \"$*\" >> '{}'\ncase \" $* \" in *' -s '*) printf 'Remv pd-newdep [1.0]\\n%s\\n' \"$FAKE_EXTRA\";; esac\n",
        log.display()
    );
    for tool in ["apt-get", "apt-mark"] {
        let p = dir.path().join(tool);
        std::fs::write(&p, &fake).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let cmd = Apt.restore(&[(n("bc"), Some(v("1.07.1-3+b1"))), (n("pd-newdep"), None)], Duration::from_secs(5));
    let run = |extra: &str| {
        let _ = std::fs::remove_file(&log);
        let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap_or_default());
        let out = std::process::Command::new("sh")
            .args(["-c", &cmd.script])
            .env("PATH", path)
            .env("FAKE_EXTRA", extra)
            .output()
            .unwrap();
        (out.status.code(), std::fs::read_to_string(&log).unwrap_or_default())
    };
    let (code, calls) = run("Remv cscope [15.9-1]");
    assert_eq!(code, Some(101), "{calls}");
    assert!(calls.lines().all(|l| !l.starts_with("install -y")), "{calls}");
    let (code, calls) = run("Inst bc [1.07.1-3+b1+pd1] (1.07.1-3+b1 Debian:12.15/oldstable [amd64])");
    assert_eq!(code, Some(0), "{calls}");
    assert_eq!(calls.lines().filter(|l| l.starts_with("install -y")).count(), 1, "{calls}");
}
