//! Drift nobody listed: a map of each host's configuration, gathered by the probe in its
//! one round trip and recorded by `baseline capture`, compared with staging's so that a
//! host differing in something no `[[fingerprint]]` names is still seen.
//!
//! - [`map`]: the probe's `drift` section into a [`DriftMap`] (checksums and normalized
//!   values only, never file contents);
//! - [`normalize`]: per-host values (names, addresses, machine id) become placeholders;
//! - [`areas`]: which area a configuration item belongs to, and the paths that are per host
//!   or ignored by default;
//! - [`config`]: the runbook's `[drift]` section (ignored paths, reaction per area);
//! - [`compare`]: a host's map against staging's, and a fleet's drift grouped by item.

pub mod compare;
pub mod fetch;
pub mod map;
pub mod normalize;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::runbook::drift::Area;
pub use crate::runbook::drift::{DriftPolicy, Reaction};
pub use compare::{DriftGroup, ItemDrift, compare, group};

/// The probe section holding the configuration map.
pub const SECTION: &str = "drift";

/// The drift part of the probe (the probe puts it in its own section, [`SECTION`]):
/// read-only, independent of the package manager's part.
pub const PROBE: &str = include_str!("probe.sh");

/// [`PROBE`] as sent to a host: without its comments, blank lines and indentation, which
/// every shell between ssh and the probe would otherwise parse again, on every host at every
/// check (a third of its size; no heredoc or quoted text in it starts a line with them).
pub fn probe_as_sent() -> &'static str {
    static SENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        PROBE
            .lines()
            .map(str::trim_start)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    });
    &SENT
}

/// One configuration item of a host, as compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub area: Area,
    /// A checksum (`md5:<hex>`, of the normalized content for a file naming its own host),
    /// a normalized value, or a word (`missing`, `per-host`, `enabled`).
    pub value: String,
    /// The package whose conffile this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// A conffile that differs from its package's own (changed or removed by someone).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub modified: bool,
}

/// A host's configuration map: item key (a path under /etc, or `net:...`, `sysctl:...`,
/// `kernel:...`, `service:...`) to its value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftMap {
    pub items: BTreeMap<String, Item>,
}

impl DriftMap {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    /// The probe's drift part run for real on this machine, against a directory playing a
    /// host's /etc and /proc (`ROOT/etc`, paths read back as `/etc/...`; `ROOT/proc` with the
    /// kernel's host name, `name`, and whatever the test put there); its output.
    fn run_probe(root: &std::path::Path, name: &str, env: &[(&str, &str)]) -> String {
        run_script(probe_as_sent(), root, name, env)
    }

    fn run_script(probe: &str, root: &std::path::Path, name: &str, env: &[(&str, &str)]) -> String {
        let kernel = root.join("proc/sys/kernel");
        std::fs::create_dir_all(&kernel).unwrap();
        std::fs::write(kernel.join("hostname"), format!("{name}\n")).unwrap();
        let script = format!("echo '{}{SECTION}'\n{probe}", crate::probe::SECTION_MARK)
            .replace("pd_d_etc=/etc", &format!("pd_d_etc='{}/etc'", root.display()))
            .replace("pd_d_proc=/proc", &format!("pd_d_proc='{}/proc'", root.display()));
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &script])
            .envs(env.iter().copied())
            .current_dir(root)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).replace(&root.display().to_string(), "")
    }

    fn probe(root: &std::path::Path, name: &str) -> DriftMap {
        let stdout = run_probe(root, name, &[]);
        let sections = crate::probe::split_sections(&stdout);
        map::parse(sections.get(SECTION).map(String::as_str)).expect("a whole map")
    }

    fn lines<'a>(out: &'a str, kind: &str) -> Vec<&'a str> {
        out.lines().filter_map(|l| l.strip_prefix(kind)?.strip_prefix('\t')).collect()
    }

    #[test]
    fn the_probe_as_sent_prints_what_the_probe_as_written_prints() {
        let root = host(&[
            ("hosts", "127.0.0.1 localhost\n10.9.0.5 staging.example.com staging\n"),
            ("hostname", "staging\n"),
            ("nginx/site.conf", "listen 10.9.0.5:80;\nserver_name staging.example.com;\n"),
            ("resolv.conf", "# a comment\n  ; another\nnameserver 10.0.0.53\n\nsearch example.com\n"),
        ]);
        let forward = root.path().join("proc/sys/net/ipv4/ip_forward");
        std::fs::create_dir_all(forward.parent().unwrap()).unwrap();
        std::fs::write(&forward, "1\n").unwrap();
        let written = run_script(PROBE, root.path(), "staging", &[]);
        let sent = run_script(probe_as_sent(), root.path(), "staging", &[]);
        for kind in ["id", "kept", "cf", "sum", "norm", "resolv", "sysctl", "kernel", "svc"] {
            assert_eq!(lines(&sent, kind), lines(&written, kind), "{kind}");
        }
        assert!(lines(&sent, "norm").iter().any(|l| l.ends_with("\t/etc/nginx/site.conf")), "{sent}");
        assert_eq!(lines(&sent, "resolv"), ["nameserver 10.0.0.53", "", "search example.com"]);
        assert!(probe_as_sent().len() < PROBE.len() * 2 / 3);
    }

    #[test]
    fn the_hosts_own_names_and_addresses_come_from_its_hosts_file_read_by_the_shell() {
        // Comments, tabs, a glob character, other hosts, a name that only starts like this
        // one's, and a last line without its newline.
        let root = host(&[
            ("hostname", "web1\n"),
            (
                "hosts",
                "127.0.0.1 localhost\n# 10.9.9.9 web1\n10.0.0.5\tweb1.example.org web1 *  # web1.bad\n  \
                 10.0.0.6   other web1.x.y\n10.0.0.7 web1xyz\n::ffff:10.0.0.8 web1.v6 # c\n10.0.0.9 web1.z",
            ),
        ]);
        // A file named like a fully qualified name of this host, where the `*` would find it
        // if the shell globbed (the probe runs there).
        std::fs::write(root.path().join("web1.glob"), "").unwrap();
        let out = run_probe(root.path(), "kernel-name", &[]);
        assert_eq!(
            lines(&out, "id"),
            [
                "name\tweb1",
                "name\tkernel-name",
                "addr\t10.0.0.5",
                "fqdn\tweb1.example.org",
                "addr\t10.0.0.6",
                "fqdn\tweb1.x.y",
                "addr\t::ffff:10.0.0.8",
                "fqdn\tweb1.v6",
                "addr\t10.0.0.9",
                "fqdn\tweb1.z",
            ]
            .iter()
            .copied()
            // This machine's own addresses (the probe asks `ip`, where there is one).
            .chain(lines(&out, "id").into_iter().filter(|l| l.starts_with("addr\t") && !l.contains("10.0.0.")))
            .collect::<Vec<_>>(),
            "{out}"
        );
    }

    #[test]
    fn without_a_find_that_prints_metadata_the_files_are_always_sent() {
        // busybox's find has no -printf (nor -fprintf): it prints nothing, and nothing may read
        // as unchanged.
        let root = host(&[("hostname", "web1\n"), ("sysctl.d/60-x.conf", "vm.swappiness = 10\n")]);
        let path = wrapped_find(
            root.path(),
            "for a; do case $a in -printf|-fprintf) echo \"find: unrecognized: $a\" >&2; exit 1 ;; esac; done",
        );
        let known = |out: &str| lines(out, "kept").into_iter().find(|l| l.starts_with("files\t")).unwrap().to_string();
        let out = run_probe(root.path(), "web1", &[("PATH", &path)]);
        assert_eq!(known(&out), "files\tfresh\t", "no digest to keep: {out}");
        // Whatever digest patchdeck kept, the files come again.
        let ids = format!("{:x}", sha2::Sha256::digest(b"ids web1\n"));
        let again = run_probe(root.path(), "web1", &[("PATH", &path), ("PD_KNOWN_DRIFT_FILES", &ids)]);
        assert_eq!(known(&again), "files\tfresh\t", "{again}");
        assert!(lines(&again, "sum").iter().any(|l| l.ends_with("\t/etc/sysctl.d/60-x.conf")), "{again}");
    }

    #[test]
    fn one_find_reads_an_unchanged_host_and_each_part_is_sent_again_alone_when_it_moves() {
        let root = host(&[("hostname", "web1\n"), ("sysctl.d/60-x.conf", "vm.swappiness = 10\n")]);
        let put = |rel: &str, body: &str| put_sysctl(root.path(), rel, body);
        put("ipv4/ip_forward", "0\n");
        // Values ending in empty lines: what is read must be hashed to its last newline.
        put("core/blank", "\n\n");
        put("core/multi", "a\n\nb\n\n");
        // A find that counts its runs.
        let count = root.path().join("finds");
        let path = wrapped_find(root.path(), &format!("echo run >> '{}'", count.display()));
        let finds = || std::fs::read_to_string(&count).map(|s| s.lines().count()).unwrap_or(0);
        // Probes `root` sending the digests of `kept` (as patchdeck does); each part's word
        // and digest, how many finds ran, and the output.
        let run = |kept: &[String; 3]| {
            let _ = std::fs::remove_file(&count);
            let env = [
                ("PATH", path.as_str()),
                ("PD_KNOWN_DRIFT_MAP", kept[0].as_str()),
                ("PD_KNOWN_DRIFT_FILES", kept[1].as_str()),
                ("PD_KNOWN_DRIFT_SYSCTL", kept[2].as_str()),
            ];
            let out = run_probe(root.path(), "web1", &env);
            let part = |name: &str| {
                let l = lines(&out, "kept").into_iter().find(|l| l.starts_with(&format!("{name}\t"))).unwrap();
                let mut w = l.split('\t').skip(1);
                (w.next().unwrap().to_string(), w.next().unwrap_or("").to_string())
            };
            ([part("map"), part("files"), part("sysctl")], finds(), out)
        };
        let digests = |p: &[(String, String); 3]| p.clone().map(|(_, d)| d);
        let words = |p: &[(String, String); 3]| p.clone().map(|(w, _)| w);

        let (first, _, out) = run(&Default::default());
        assert_eq!(words(&first), ["fresh"; 3], "{out}");
        assert!(first.iter().all(|(_, d)| d.len() == 64), "{out}");
        assert!(lines(&out, "sysctl").contains(&"/proc/sys/net/ipv4/ip_forward:0"), "{out}");
        // Nothing moved: one find, and the host says so for each part, sending neither.
        let kept = digests(&first);
        let (same, runs, out) = run(&kept);
        assert_eq!(same, [0, 1, 2].map(|i| ("unchanged".to_string(), kept[i].clone())), "{out}");
        assert_eq!(runs, 1, "one find read the whole map: {out}");
        assert!(lines(&out, "sysctl").is_empty() && lines(&out, "sum").is_empty(), "{out}");
        // A sysctl set at run time: its lines again, the files still kept.
        put("ipv4/ip_forward", "1\n");
        let (moved, _, out) = run(&kept);
        assert_eq!(words(&moved), ["fresh", "unchanged", "fresh"], "{out}");
        assert_eq!(moved[1].1, kept[1]);
        assert!(moved[0].1 != kept[0] && moved[2].1 != kept[2], "{out}");
        assert!(lines(&out, "sysctl").contains(&"/proc/sys/net/ipv4/ip_forward:1"), "{out}");
        assert!(lines(&out, "sum").is_empty(), "{out}");
        // A file edited: its checksum again, the sysctls still kept.
        let kept = digests(&moved);
        std::fs::write(root.path().join("etc/sysctl.d/60-x.conf"), "vm.swappiness = 60\n").unwrap();
        let (edited, _, out) = run(&kept);
        assert_eq!(words(&edited), ["fresh", "fresh", "unchanged"], "{out}");
        assert_eq!(edited[2].1, kept[2]);
        assert!(lines(&out, "sum").iter().any(|l| l.ends_with("\t/etc/sysctl.d/60-x.conf")), "{out}");
        assert!(lines(&out, "sysctl").is_empty(), "{out}");
        // ... and what it now says it read is what it reads when nothing moves.
        let (still, runs, out) = run(&digests(&edited));
        assert_eq!((words(&still), runs), (["unchanged"; 3].map(String::from), 1), "{out}");
    }

    #[test]
    fn sysctls_are_sent_as_grep_prints_them_without_the_volatile_ones_which_never_move_the_digest() {
        let root = host(&[("hostname", "web1\n")]);
        let put = |rel: &str, body: &str| put_sysctl(root.path(), rel, body);
        put("ipv4/ip_forward", "1\n");
        put("ipv4/conf/eth0/rp_filter", "2\n");
        put("ipv4/tcp_rmem", "4096\t131072\t6291456\n");
        // Lines of their own, one of them empty, and an empty value.
        put("core/multi", "a\n\nb\n");
        put("core/blank", "\n");
        put("core/empty", "");
        for (i, suffix) in map::VOLATILE_SYSCTL_SUFFIXES.iter().enumerate() {
            put(&format!("core/x{suffix}"), &format!("{i}\n"));
        }
        let out = run_probe(root.path(), "web1", &[]);
        let mut sent = lines(&out, "sysctl");
        sent.sort();
        let mut grep = vec![
            "/proc/sys/net/core/blank:",
            "/proc/sys/net/core/multi:",
            "/proc/sys/net/core/multi:a",
            "/proc/sys/net/core/multi:b",
            "/proc/sys/net/ipv4/conf/eth0/rp_filter:2",
            "/proc/sys/net/ipv4/ip_forward:1",
            "/proc/sys/net/ipv4/tcp_rmem:4096\t131072\t6291456",
        ];
        grep.sort();
        assert_eq!(sent, grep, "{out}");
        let digest = |out: &str| {
            let l = lines(out, "kept").into_iter().find(|l| l.starts_with("sysctl\t")).unwrap().to_string();
            l.rsplit('\t').next().unwrap().to_string()
        };
        let first = digest(&out);
        assert_eq!(first.len(), 64, "{out}");
        // Asked again with that digest: unchanged, and nothing sent.
        let again = run_probe(root.path(), "web1", &[("PD_KNOWN_DRIFT_SYSCTL", &first)]);
        assert!(again.contains(&format!("kept\tsysctl\tunchanged\t{first}\n")), "{again}");
        assert!(lines(&again, "sysctl").is_empty());
        // A volatile value ticking moves nothing; a setting changing is sent again.
        for suffix in map::VOLATILE_SYSCTL_SUFFIXES {
            put(&format!("core/x{suffix}"), "999\n");
        }
        let ticked = run_probe(root.path(), "web1", &[("PD_KNOWN_DRIFT_SYSCTL", &first)]);
        assert!(ticked.contains("kept\tsysctl\tunchanged\t"), "{ticked}");
        put("ipv4/ip_forward", "0\n");
        let moved = run_probe(root.path(), "web1", &[("PD_KNOWN_DRIFT_SYSCTL", &first)]);
        assert!(moved.contains("kept\tsysctl\tfresh\t"), "{moved}");
        assert!(lines(&moved, "sysctl").contains(&"/proc/sys/net/ipv4/ip_forward:0"));
        assert_ne!(digest(&moved), first);
    }

    /// Puts a sysctl's value into the played /proc under `root`.
    fn put_sysctl(root: &std::path::Path, rel: &str, body: &str) {
        let p = root.join("proc/sys/net").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }

    /// A `find` under `root/bin` that runs `first` (shell) and then the real find; the
    /// PATH that puts it first.
    fn wrapped_find(root: &std::path::Path, first: &str) -> String {
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let real = ["/usr/bin/find", "/bin/find"].into_iter().find(|p| std::path::Path::new(p).exists()).unwrap();
        let find = bin.join("find");
        std::fs::write(&find, format!("#!/bin/sh\n{first}\nexec {real} \"$@\"\n")).unwrap();
        std::fs::set_permissions(&find, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
    }

    fn host(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, body) in files {
            let p = dir.path().join("etc").join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        dir
    }

    #[test]
    fn per_host_values_are_normalized_on_the_host_and_planted_drift_is_not() {
        let staging = host(&[
            ("hosts", "127.0.0.1 localhost\n10.9.0.5 staging.example.com staging\n"),
            ("hostname", "staging\n"),
            ("ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAAstaging root@staging\n"),
            ("nginx/site.conf", "listen 10.9.0.5:80;\nserver_name staging.example.com;\n"),
            ("sysctl.d/60-x.conf", "vm.swappiness = 10\n"),
        ]);
        let prod = host(&[
            ("hosts", "127.0.0.1 localhost\n10.1.0.12 prod2.example.com prod2\n"),
            ("hostname", "prod2\n"),
            ("ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAAprod root@prod2\n"),
            ("nginx/site.conf", "listen 10.1.0.12:80;\nserver_name prod2.example.com;\n"),
            ("sysctl.d/60-x.conf", "vm.swappiness = 60\n"),
            ("apt/sources.list.d/extra.list", "deb http://example.org/ bookworm main\n"),
        ]);
        let (s, p) = (probe(staging.path(), "staging"), probe(prod.path(), "prod2"));
        let value = |m: &DriftMap, _: &tempfile::TempDir, rel: &str| {
            m.items.get(&format!("/etc/{rel}")).map(|i| i.value.clone())
        };
        for same in ["hosts", "hostname", "ssh/ssh_host_ed25519_key.pub", "nginx/site.conf"] {
            let v = value(&s, &staging, same);
            assert!(v.is_some(), "{same} is mapped");
            assert_eq!(v, value(&p, &prod, same), "{same} differs only by who the host is");
        }
        assert_ne!(value(&s, &staging, "sysctl.d/60-x.conf"), value(&p, &prod, "sysctl.d/60-x.conf"));
        assert_eq!(value(&s, &staging, "apt/sources.list.d/extra.list"), None);
        assert!(value(&p, &prod, "apt/sources.list.d/extra.list").is_some_and(|v| v.starts_with("md5:")));
        // Only checksums of files leave the host.
        assert!(!format!("{p:?}").contains("swappiness"));
    }
}
