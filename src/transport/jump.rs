//! Jump hosts (`ProxyJump`, or an inventory's `jump_hosts`): every hop gets the operator's
//! options, and a failure names the hop that failed.
//!
//! Why not plain `ssh -J`: OpenSSH starts the jump's own `ssh` with only `-F` and `-v` of the
//! options it was given, so `--identity`, `--known-hosts`, `BatchMode` and the connect
//! timeout reach only the last hop; and that inner `ssh` writes its complaint (the bastion
//! refused, its host key changed) to a stderr nobody reads, leaving the master to say
//! "kex_exchange_identification: Connection closed by remote host" about the final host.
//!
//! So for a host behind jumps, the master gets a generated ssh_config whose `ProxyCommand`
//! is our own `ssh -W` to the nearest jump, and:
//! - that inner `ssh` reads a second generated file (`-F`) which sets the operator's options
//!   for every host (`BatchMode`, strict host keys as the master has them, the connect
//!   timeout and keep-alives, `--identity`, `--known-hosts`) and then includes the
//!   operator's own ssh_config; earlier jumps are `-J` of that inner `ssh`, and OpenSSH hands
//!   them the same `-F`, so every hop has the same options;
//! - its stderr (and that of every earlier hop, which inherit it) goes to a log file of
//!   ours, read when the connection fails: the first complaint naming a hop's address says
//!   which hop failed and why ([`classify`]); a jump that reached nobody's complaint but its
//!   own "open failed" means the jump could not reach the final host.
//!
//! The generated `ProxyCommand` takes precedence over a `ProxyJump` of the operator's
//! ssh_config for the same host (ssh_config: whichever comes first wins), and its files live
//! in the transport's private control directory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use openssh::KnownHosts;

use super::TransportError;
use super::ssh::{SshOptions, connect_error, sh_quote};
use crate::inventory::Host;
use crate::inventory::ssh_config::{self, check_argv_word};

/// How one host is reached through its jumps, and where the jumps' complaints go.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// The jumps as written (inventory or ssh_config), nearest to us first.
    pub hops: Vec<String>,
    /// The ssh_config the master reads (the `ProxyCommand`, then the operator's config).
    pub master_config: PathBuf,
    /// The ssh_config every hop reads (the operator's options, then the operator's config).
    pub hop_config: PathBuf,
    /// Where the hops' ssh write their stderr.
    pub log: PathBuf,
}

/// The jumps in front of `host`: the inventory's `jump_hosts`, else the `ProxyJump` that
/// ssh_config gives it (`ssh -G`). Empty: reached directly (or by a `ProxyCommand` of the
/// operator's, which is left alone).
pub(crate) async fn hops_of(host: &Host, options: &SshOptions) -> Result<Vec<String>, TransportError> {
    let hops = if host.jump_hosts.is_empty() {
        let plain = Host { jump_hosts: Vec::new(), ..host.clone() };
        match ssh_config::resolve(&plain, options.config_file.as_deref()).await {
            Ok(r) => r.proxy_jump.map(|j| j.split(',').map(str::to_string).collect()).unwrap_or_default(),
            // ssh itself will say what is wrong with the config when it connects.
            Err(_) => Vec::new(),
        }
    } else {
        host.jump_hosts.clone()
    };
    for hop in &hops {
        let bare = hop.strip_prefix("ssh://").unwrap_or(hop);
        check_argv_word(bare).map_err(|reason| TransportError::Other {
            host: host.name.clone(),
            detail: format!(
                "the jump host {:?} cannot be handed to ssh: {reason}",
                crate::safe_text::for_terminal(hop)
            ),
        })?;
    }
    Ok(hops)
}

/// Writes the route's two ssh_config files into `dir` (private), named with `n`.
pub(crate) fn write_route(dir: &Path, n: u64, hops: Vec<String>, options: &SshOptions) -> std::io::Result<Route> {
    let route = Route {
        hops,
        master_config: dir.join(format!("jump-{n}.conf")),
        hop_config: dir.join(format!("jump-{n}.hops.conf")),
        log: dir.join(format!("jump-{n}.log")),
    };
    std::fs::write(&route.hop_config, hop_config(options)?)?;
    std::fs::write(&route.master_config, master_config(&route, options)?)?;
    std::fs::write(&route.log, "")?;
    Ok(route)
}

/// The options every hop gets, then the operator's own ssh_config.
fn hop_config(o: &SshOptions) -> std::io::Result<String> {
    let strict = match o.known_hosts {
        KnownHosts::Strict => "yes",
        KnownHosts::Add => "accept-new",
        KnownHosts::Accept => "no",
    };
    let mut text = format!(
        "# Written by patchdeck for the jump hosts of one connection; removed when it exits.\n\
         Host *\n  BatchMode yes\n  StrictHostKeyChecking {strict}\n  ConnectTimeout {}\n  ServerAliveInterval {}\n",
        o.connect_timeout.as_secs().max(1),
        o.server_alive_interval.as_secs().max(1),
    );
    if let Some(key) = &o.identity_file {
        text.push_str(&format!("  IdentityFile {}\n  IdentitiesOnly yes\n", config_path(key, true)?));
    }
    if let Some(known) = &o.user_known_hosts_file {
        text.push_str(&format!("  UserKnownHostsFile {}\n", config_path(known, true)?));
    }
    text.push_str(&includes(o)?);
    Ok(text)
}

/// The master's config: the `ProxyCommand` through the hops, then the operator's config.
fn master_config(route: &Route, o: &SshOptions) -> std::io::Result<String> {
    Ok(format!(
        "# Written by patchdeck: reach this host through {}.\nHost *\n  ProxyCommand {}\n{}",
        route.hops.join(", "),
        proxy_command(route),
        includes(o)?
    ))
}

/// `ssh -F <hop config> [-J <earlier hops>] -W '[%h]:%p' <nearest hop> 2>><log>`. Only `%h`
/// and `%p` are ssh's tokens here; every other `%` is doubled.
fn proxy_command(route: &Route) -> String {
    let (last, earlier) = route.hops.split_last().expect("a route has at least one hop");
    let mut cmd = format!("ssh -F {}", sh_quote(&route.hop_config.display().to_string()));
    if !earlier.is_empty() {
        cmd.push_str(&format!(" -J {}", sh_quote(&earlier.join(","))));
    }
    cmd.push_str(&format!(
        " -W '[{{host}}]:{{port}}' -- {} 2>>{}",
        sh_quote(&destination(last)),
        sh_quote(&route.log.display().to_string())
    ));
    cmd.replace('%', "%%").replace("{host}", "%h").replace("{port}", "%p")
}

/// A hop as an ssh destination: `user@host:port` is only understood by `-J`; as a
/// destination it must be the `ssh://` form.
fn destination(hop: &str) -> String {
    if hop.starts_with("ssh://") || hop.matches(':').count() != 1 { hop.to_string() } else { format!("ssh://{hop}") }
}

/// What ssh would read without `-F`: the operator's `--ssh-config`, else the user's and the
/// system's files.
fn includes(o: &SshOptions) -> std::io::Result<String> {
    Ok(match &o.config_file {
        Some(f) => format!("  Include {}\n", config_path(f, false)?),
        None => "  Include ~/.ssh/config\n  Include /etc/ssh/ssh_config\n".to_string(),
    })
}

/// A path as one ssh_config argument (double-quoted); with `tokens`, `%` doubled because
/// ssh expands tokens in that keyword.
fn config_path(path: &Path, tokens: bool) -> std::io::Result<String> {
    let path = path.display().to_string();
    if path.contains(['"', '\n', '\r']) {
        return Err(std::io::Error::other(format!("{path:?} cannot be written into an ssh_config")));
    }
    Ok(format!("\"{}\"", if tokens { path.replace('%', "%%") } else { path }))
}

/// One hop and the address ssh names it by in its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HopAddress {
    /// As written in the inventory or ssh_config.
    pub name: String,
    /// `ssh -G`'s `hostname` and `port` for it.
    pub hostname: String,
    pub port: u16,
}

/// The address of each hop, as ssh resolves it with the hop config (`ssh -G`); a hop ssh
/// cannot resolve keeps its written name.
pub(crate) async fn addresses(route: &Route) -> Vec<HopAddress> {
    let mut out = Vec::new();
    for hop in &route.hops {
        let mut cmd = tokio::process::Command::new("ssh");
        cmd.arg("-G").arg("-F").arg(&route.hop_config).arg("--").arg(destination(hop));
        cmd.env("LC_ALL", "C").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).kill_on_drop(true);
        let resolved = match tokio::time::timeout(ssh_config::RESOLVE_TIMEOUT, cmd.output()).await {
            Ok(Ok(o)) if o.status.success() => Some(ssh_config::parse_ssh_g(&String::from_utf8_lossy(&o.stdout))),
            _ => None,
        };
        let (hostname, port) = match resolved {
            Some(r) if !r.hostname.is_empty() => (r.hostname, r.port),
            _ => (hop.clone(), 22),
        };
        out.push(HopAddress { name: hop.clone(), hostname, port });
    }
    out
}

/// Why a connection through jumps failed: from the hops' log (`jump_log`) and the master's
/// own message (`master`). See the module docs.
pub(crate) fn classify(host: &str, hops: &[HopAddress], jump_log: &str, master: &str) -> TransportError {
    let lines: Vec<&str> = jump_log.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    // A hop reached and asked to connect onwards, which could not (its own words after
    // "open failed:"): the final host is unreachable from there, or the hop forbids forwarding.
    if let Some(reason) = lines.iter().find_map(|l| l.split_once("open failed: ").map(|(_, r)| r)) {
        let reason = crate::safe_text::for_terminal(reason);
        let nearest = hops.last().map_or("the jump host", |h| h.name.as_str());
        if reason.contains("administratively prohibited") {
            return TransportError::Jump {
                host: host.to_string(),
                cause: Box::new(TransportError::Other {
                    host: nearest.to_string(),
                    detail: format!(
                        "refused to forward the connection ({reason}): allow TCP forwarding for this user there"
                    ),
                }),
            };
        }
        return TransportError::Unreachable {
            host: host.to_string(),
            detail: format!("the jump host {nearest} could not connect to it: {reason}"),
        };
    }
    // The first complaint naming a hop says which one failed.
    if let Some(hop) = lines.iter().find_map(|l| hops.iter().find(|h| names(l, h))) {
        return TransportError::Jump { host: host.to_string(), cause: Box::new(connect_error(&hop.name, jump_log)) };
    }
    if !lines.is_empty() {
        let cause = connect_error(&hops.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", "), jump_log);
        return TransportError::Jump { host: host.to_string(), cause: Box::new(cause) };
    }
    connect_error(host, master)
}

/// Whether an ssh message names this hop: `connect to host H port P`, `[H]:P`, `H` with
/// port 22 (host keys), `user@H:` (authentication), `hostname H:` (resolution).
fn names(line: &str, hop: &HopAddress) -> bool {
    let h = hop.hostname.as_str();
    if h.is_empty() || h == "UNKNOWN" {
        return false;
    }
    let p = hop.port;
    line.contains(&format!("host {h} port {p}:"))
        || line.contains(&format!("[{h}]:{p} "))
        || line.contains(&format!("[{h}]:{p}\""))
        || line.contains(&format!("by {h} port {p}"))
        || line.contains(&format!("hostname {h}:"))
        || line.contains(&format!("@{h}: "))
        || (p == 22 && (line.contains(&format!(" for {h} ")) || line.contains(&format!(" for {h}\""))))
}

/// How long the hops' log may be before we stop reading it (it only holds complaints).
const LOG_LIMIT: u64 = 64 * 1024;

/// The hops' log, for [`classify`].
pub(crate) fn read_log(route: &Route) -> String {
    use std::io::Read;
    let mut text = String::new();
    if let Ok(f) = std::fs::File::open(&route.log) {
        let _ = f.take(LOG_LIMIT).read_to_string(&mut text);
    }
    text
}

/// The hops' addresses in time for a failure message, bounded as every connect step is.
pub(crate) async fn explain(host: &str, route: &Route, master: &str) -> TransportError {
    let hops = match tokio::time::timeout(Duration::from_secs(10), addresses(route)).await {
        Ok(hops) => hops,
        Err(_) => route.hops.iter().map(|h| HopAddress { name: h.clone(), hostname: h.clone(), port: 22 }).collect(),
    };
    classify(host, &hops, &read_log(route), master)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bastion() -> Vec<HopAddress> {
        vec![HopAddress { name: "bastion".into(), hostname: "127.0.0.201".into(), port: 2201 }]
    }

    /// What the master says whenever its ProxyCommand fails (captured from OpenSSH 9.2).
    const MASTER_SYMPTOM: &str =
        "kex_exchange_identification: Connection closed by remote host\nConnection closed by UNKNOWN port 65535\n";

    fn jump_cause(e: TransportError) -> TransportError {
        match e {
            TransportError::Jump { host, cause } => {
                assert_eq!(host, "prod1");
                *cause
            }
            e => panic!("not a jump failure: {e:?}"),
        }
    }

    #[test]
    fn bastion_down_names_the_bastion() {
        let log = "ssh: connect to host 127.0.0.201 port 2201: Connection refused\n";
        let e = classify("prod1", &bastion(), log, MASTER_SYMPTOM);
        assert_eq!(
            e.to_string(),
            "prod1: through the jump host bastion: unreachable: connect to host 127.0.0.201 port 2201: Connection refused"
        );
        assert!(matches!(jump_cause(e), TransportError::Unreachable { host, .. } if host == "bastion"));
        let timeout = "ssh: connect to host 127.0.0.201 port 2201: Connection timed out\n";
        assert!(matches!(
            jump_cause(classify("prod1", &bastion(), timeout, MASTER_SYMPTOM)),
            TransportError::Unreachable { .. }
        ));
    }

    #[test]
    fn bastion_host_keys_and_auth_name_the_bastion() {
        let unknown = "No ED25519 host key is known for [127.0.0.201]:2201 and you have requested strict checking.\n\
                       Host key verification failed.\n";
        let e = jump_cause(classify("prod1", &bastion(), unknown, MASTER_SYMPTOM));
        assert!(matches!(&e, TransportError::HostKeyUnknown { host, .. } if host == "bastion"), "{e:?}");

        let changed = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
            @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
            @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
            IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
            The fingerprint for the ED25519 key sent by the remote host is\n\
            SHA256:oYWc1pdKhr+F7ImCn3baa/wRyZhx4kOHh026WyoZRBc.\n\
            Please contact your system administrator.\n\
            Add correct host key in /tmp/jx/kh_wrong to get rid of this message.\n\
            Offending ED25519 key in /tmp/jx/kh_wrong:1\n\
            \x20 remove with:\n\
            \x20 ssh-keygen -f \"/tmp/jx/kh_wrong\" -R \"[127.0.0.201]:2201\"\n\
            Host key for [127.0.0.201]:2201 has changed and you have requested strict checking.\n\
            Host key verification failed.\n";
        let e = jump_cause(classify("prod1", &bastion(), changed, MASTER_SYMPTOM));
        assert!(matches!(&e, TransportError::HostKeyChanged { host, .. } if host == "bastion"), "{e:?}");

        let denied = "root@127.0.0.201: Permission denied (publickey).\n";
        let e = jump_cause(classify("prod1", &bastion(), denied, MASTER_SYMPTOM));
        assert!(matches!(&e, TransportError::AuthRefused { host, .. } if host == "bastion"), "{e:?}");

        let dns = "ssh: Could not resolve hostname nope.invalid: Name or service not known\n";
        let hops = [HopAddress { name: "bastion".into(), hostname: "nope.invalid".into(), port: 22 }];
        let e = jump_cause(classify("prod1", &hops, dns, MASTER_SYMPTOM));
        assert!(matches!(&e, TransportError::Unreachable { host, .. } if host == "bastion"), "{e:?}");
    }

    #[test]
    fn the_final_hosts_own_failures_stay_the_final_hosts() {
        // Through a working bastion, the final host's key is unknown: only the master says so.
        let master = format!(
            "{MASTER_SYMPTOM}No ED25519 host key is known for [127.0.0.202]:2202 and you have requested strict checking.\n\
             Host key verification failed.\n"
        );
        let e = classify("prod1", &bastion(), "", &master);
        assert!(
            matches!(&e, TransportError::HostKeyUnknown { host, detail } if host == "prod1" && detail.contains("127.0.0.202")),
            "{e:?}"
        );
        let e = classify("prod1", &bastion(), "", "root@127.0.0.202: Permission denied (publickey).\n");
        assert!(matches!(&e, TransportError::AuthRefused { host, .. } if host == "prod1"), "{e:?}");
        // The final host is down: the bastion says it could not connect onwards.
        let onwards = "channel 0: open failed: connect failed: Connection refused\nstdio forwarding failed\n";
        let e = classify("prod1", &bastion(), onwards, MASTER_SYMPTOM);
        assert_eq!(
            e.to_string(),
            "prod1: unreachable: the jump host bastion could not connect to it: connect failed: Connection refused"
        );
        // The bastion forbids forwarding: its fault, named.
        let forbidden = "channel 0: open failed: administratively prohibited: open failed\nstdio forwarding failed\n";
        let e = classify("prod1", &bastion(), forbidden, MASTER_SYMPTOM);
        assert!(e.to_string().starts_with("prod1: through the jump host bastion: refused to forward"), "{e}");
    }

    #[test]
    fn the_first_hop_named_is_the_one_that_failed() {
        // a -> b -> prod1, a is down: b's ssh only reports the closed proxy.
        let hops = vec![
            HopAddress { name: "a".into(), hostname: "10.0.0.1".into(), port: 22 },
            HopAddress { name: "b".into(), hostname: "10.0.0.2".into(), port: 22 },
        ];
        let log = format!("ssh: connect to host 10.0.0.1 port 22: Connection refused\n{MASTER_SYMPTOM}");
        let e = jump_cause(classify("prod1", &hops, &log, MASTER_SYMPTOM));
        assert!(matches!(&e, TransportError::Unreachable { host, .. } if host == "a"), "{e:?}");
        // A similar address is not the hop's.
        let other = HopAddress { name: "c".into(), hostname: "10.0.0.10".into(), port: 22 };
        assert!(!names("ssh: connect to host 10.0.0.1 port 22: Connection refused", &other));
        assert!(names("No ED25519 host key is known for 10.0.0.10 and you have requested strict checking.", &other));
    }

    #[test]
    fn generated_configs_carry_the_options_to_every_hop() {
        let dir = tempfile::tempdir().unwrap();
        let options = SshOptions {
            identity_file: Some("/keys/id 1".into()),
            user_known_hosts_file: Some("/kh/known%hosts".into()),
            config_file: Some("/etc/pd/ssh_config".into()),
            ..SshOptions::default()
        };
        let route = write_route(dir.path(), 7, vec!["jump1".into(), "ops@bastion:2222".into()], &options).unwrap();
        let hop = std::fs::read_to_string(&route.hop_config).unwrap();
        for want in [
            "BatchMode yes",
            "StrictHostKeyChecking yes",
            "IdentityFile \"/keys/id 1\"",
            "IdentitiesOnly yes",
            "UserKnownHostsFile \"/kh/known%%hosts\"",
            "Include \"/etc/pd/ssh_config\"",
        ] {
            assert!(hop.contains(want), "{want} missing from:\n{hop}");
        }
        let master = std::fs::read_to_string(&route.master_config).unwrap();
        let pc = master.lines().find_map(|l| l.trim().strip_prefix("ProxyCommand ")).unwrap();
        assert!(pc.contains("-J 'jump1'") && pc.contains("-- 'ssh://ops@bastion:2222'"), "{pc}");
        assert!(pc.contains("-W '[%h]:%p'") && pc.contains(&format!("2>>'{}'", route.log.display())), "{pc}");
        // `ssh -G` reads the generated files as we mean them (no network involved).
        let out = std::process::Command::new("ssh")
            .arg("-G")
            .arg("-F")
            .arg(&route.hop_config)
            .arg("somehost")
            .output()
            .expect("ssh (openssh-client) is installed");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let g = String::from_utf8_lossy(&out.stdout);
        assert!(g.lines().any(|l| l == "identityfile /keys/id 1"), "{g}");
        assert!(g.lines().any(|l| l == "userknownhostsfile /kh/known%hosts"), "{g}");
        assert!(g.lines().any(|l| l == "batchmode yes"), "{g}");
    }
}
