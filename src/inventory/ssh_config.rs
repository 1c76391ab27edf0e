//! What OpenSSH itself will do for a host: `ssh -G` resolution.
//!
//! We never parse `ssh_config` ourselves. `Host` aliases, `Match` blocks, `Include`,
//! `ProxyJump` and token expansion have subtle rules, and any re-implementation would drift
//! from what `ssh` actually does when patchdeck connects. `ssh -G` prints OpenSSH's own final
//! answer (one `keyword value` line per option) without connecting anywhere, so the operator
//! sees exactly the user, port, jump host and host-key policy that will be used.
//!
//! This file also owns [`check_argv_word`]: every inventory value that ends up in ssh's argv
//! (host names, addresses, users) must pass it, because an address such as
//! `-oProxyCommand=sh -c ...` would be read by ssh as an option, i.e. a command injection.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::Host;

/// How long `ssh -G` may take. It does no network I/O, but a `Match exec` in the user's
/// config runs arbitrary commands, and a hung resolution must not hang the window.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// OpenSSH's `StrictHostKeyChecking`, as printed by `ssh -G` (`true`/`false` in recent
/// versions, `yes`/`no` in older ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrictHostKeyChecking {
    /// Unknown or changed keys are refused.
    Yes,
    /// Unknown keys are accepted and recorded; changed keys are refused.
    AcceptNew,
    /// ssh asks on a terminal (in patchdeck's non-interactive sessions this means refuse).
    Ask,
    /// Any key is accepted: no protection against a man in the middle.
    No,
    /// A value this version of patchdeck does not know, kept verbatim.
    Other(String),
}

impl StrictHostKeyChecking {
    fn parse(value: &str) -> Self {
        match value.to_ascii_lowercase().as_str() {
            "true" | "yes" => Self::Yes,
            "false" | "no" | "off" => Self::No,
            "ask" => Self::Ask,
            "accept-new" => Self::AcceptNew,
            _ => Self::Other(value.to_string()),
        }
    }
}

/// The options of `ssh -G` that matter for reaching a host and trusting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The real host name or address ssh connects to (after `HostName`).
    pub hostname: String,
    /// `ssh -G` always prints a user; empty only if the output had none.
    pub user: String,
    pub port: u16,
    /// In the order ssh tries them; not expanded (`~` stays as written).
    pub identity_files: Vec<String>,
    pub identities_only: bool,
    pub proxy_jump: Option<String>,
    pub proxy_command: Option<String>,
    pub strict_host_key_checking: Option<StrictHostKeyChecking>,
    pub user_known_hosts_files: Vec<String>,
    pub global_known_hosts_files: Vec<String>,
    pub host_key_alias: Option<String>,
    /// `None` when ssh_config sets no `ConnectTimeout` (ssh waits for the TCP timeout).
    pub connect_timeout: Option<Duration>,
    pub batch_mode: bool,
    pub control_master: Option<String>,
    pub control_path: Option<String>,
}

impl Default for Resolved {
    fn default() -> Self {
        Self {
            hostname: String::new(),
            user: String::new(),
            port: 22,
            identity_files: Vec::new(),
            identities_only: false,
            proxy_jump: None,
            proxy_command: None,
            strict_host_key_checking: None,
            user_known_hosts_files: Vec::new(),
            global_known_hosts_files: Vec::new(),
            host_key_alias: None,
            connect_timeout: None,
            batch_mode: false,
            control_master: None,
            control_path: None,
        }
    }
}

/// Why `ssh -G` could not tell us how a host is reached.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("refusing to hand {what} {value:?} to ssh: {reason}")]
    Unsafe { what: &'static str, value: String, reason: String },
    #[error("cannot run `ssh -G` ({0}); is OpenSSH installed and on PATH?")]
    Spawn(#[source] std::io::Error),
    #[error("`ssh -G` did not answer within {0:?}; check `Match exec` lines in your ssh_config")]
    Timeout(Duration),
    #[error("`ssh -G {address}` failed (exit {code}): {stderr}")]
    Failed { address: String, code: String, stderr: String },
}

/// Parses `ssh -G` output. Pure, so it can be tested without ssh.
///
/// Unknown keywords are ignored; repeated keywords (`identityfile`) accumulate; `none`
/// means unset, as ssh itself prints it.
pub fn parse_ssh_g(output: &str) -> Resolved {
    let mut r = Resolved::default();
    for line in output.lines() {
        let line = line.trim();
        let Some((key, value)) = line.split_once(char::is_whitespace) else { continue };
        let value = value.trim();
        let optional = || (!value.eq_ignore_ascii_case("none")).then(|| value.to_string());
        match key.to_ascii_lowercase().as_str() {
            "hostname" => r.hostname = value.to_string(),
            "user" => r.user = value.to_string(),
            "port" => r.port = value.parse().unwrap_or(22),
            "identityfile" => r.identity_files.push(value.to_string()),
            "identitiesonly" => r.identities_only = is_yes(value),
            "proxyjump" => r.proxy_jump = optional(),
            "proxycommand" => r.proxy_command = optional(),
            "stricthostkeychecking" => r.strict_host_key_checking = Some(StrictHostKeyChecking::parse(value)),
            "userknownhostsfile" => r.user_known_hosts_files = value.split_whitespace().map(String::from).collect(),
            "globalknownhostsfile" => r.global_known_hosts_files = value.split_whitespace().map(String::from).collect(),
            "hostkeyalias" => r.host_key_alias = optional(),
            "connecttimeout" => r.connect_timeout = value.parse().ok().map(Duration::from_secs),
            "batchmode" => r.batch_mode = is_yes(value),
            "controlmaster" => r.control_master = optional(),
            "controlpath" => r.control_path = optional(),
            _ => {}
        }
    }
    r
}

fn is_yes(value: &str) -> bool {
    matches!(value.to_ascii_lowercase().as_str(), "yes" | "true")
}

/// Asks OpenSSH how `host` will be reached: `ssh -G [-F file] [-p port] [-l user] -- address`.
///
/// The host's own user/port (from the inventory) go on the command line, so they win over
/// ssh_config exactly as they will when patchdeck connects. Runs with `LC_ALL=C` so the
/// output format does not depend on the operator's locale.
pub async fn resolve(host: &Host, ssh_config: Option<&Path>) -> Result<Resolved, ResolveError> {
    let unsafe_word = |what: &'static str, value: &str| {
        check_argv_word(value).map_err(|reason| ResolveError::Unsafe { what, value: value.to_string(), reason })
    };
    unsafe_word("address", &host.address)?;
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.arg("-G");
    if let Some(file) = ssh_config {
        cmd.arg("-F").arg(file);
    }
    if let Some(port) = host.port {
        cmd.arg("-p").arg(port.to_string());
    }
    if let Some(user) = &host.user {
        unsafe_word("user", user)?;
        cmd.arg("-l").arg(user);
    }
    if let Some(key) = &host.identity_file {
        cmd.arg("-i").arg(key);
    }
    if !host.jump_hosts.is_empty() {
        for jump in &host.jump_hosts {
            unsafe_word("jump host", jump)?;
        }
        cmd.arg("-J").arg(host.jump_hosts.join(","));
    }
    // `--` as a second line of defence: nothing after it is parsed as an option.
    cmd.arg("--").arg(&host.address);
    cmd.env("LC_ALL", "C").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);

    let output = tokio::time::timeout(RESOLVE_TIMEOUT, cmd.output())
        .await
        .map_err(|_| ResolveError::Timeout(RESOLVE_TIMEOUT))?
        .map_err(ResolveError::Spawn)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Skip ssh's chatter about terminals; keep the line that explains the failure.
        let reason = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Pseudo-terminal"))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ResolveError::Failed {
            address: host.address.clone(),
            code: output.status.code().map_or_else(|| "by signal".to_string(), |c| c.to_string()),
            stderr: crate::safe_text::for_terminal(&reason),
        });
    }
    Ok(parse_ssh_g(&String::from_utf8_lossy(&output.stdout)))
}

/// Where a check from the operator's machine (http, tcp) reaches a host whose inventory
/// address is `address` and which ssh resolves to `resolved`: ssh's `HostName` when an alias
/// names another machine (`Host web1` / `HostName 10.0.0.5`), so a check goes where ssh goes.
///
/// The address stays as written when ssh goes through a jump host or proxy command (its
/// `HostName` is then seen from the proxy, not from here), when `HostName` is the address
/// itself (ssh lowercases it), and when it is not a plain host name or IP address.
pub fn operator_side(address: &str, resolved: &Resolved) -> String {
    let hostname = resolved.hostname.as_str();
    let proxied = resolved.proxy_jump.is_some() || resolved.proxy_command.is_some();
    if proxied || hostname.is_empty() || hostname.eq_ignore_ascii_case(address) || check_argv_word(hostname).is_err() {
        return address.to_string();
    }
    hostname.to_string()
}

/// Warnings for ssh_config settings that switch off host-key verification for `name`.
///
/// patchdeck never disables host-key checking itself; if the operator's ssh_config does, the
/// operator must hear it before a root session goes to whoever answers on that address.
pub fn host_key_warnings(name: &str, resolved: &Resolved) -> Vec<String> {
    let mut warnings = Vec::new();
    if resolved.strict_host_key_checking == Some(StrictHostKeyChecking::No) {
        warnings.push(format!(
            "ssh_config sets `StrictHostKeyChecking no` for {name}: patchdeck overrides it and checks host \
             keys strictly, but your own ssh sessions to {name} accept any key; remove this setting"
        ));
    }
    if resolved.user_known_hosts_files.iter().any(|f| f == "/dev/null") {
        warnings.push(format!(
            "ssh_config sets `UserKnownHostsFile /dev/null` for {name}: no host key is ever known, so \
             patchdeck will refuse to connect; point it at a real known_hosts file"
        ));
    }
    warnings
}

/// Checks a value that will become one word of ssh's argv (host name, address, user).
///
/// Allow-list rather than deny-list: letters, digits and `. - _ : % @` cover DNS names,
/// IPv4, IPv6 (with `%zone`) and `user@domain` logins. A leading `-` is refused because ssh
/// would parse the word as an option (`-oProxyCommand=...` runs a command locally).
/// The error is a sentence for the operator, without the value (callers show it with position).
pub fn check_argv_word(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("it is empty".to_string());
    }
    if value.starts_with('-') {
        return Err("it starts with '-', so ssh would read it as an option".to_string());
    }
    if let Some(c) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || ".-_:%@".contains(*c))) {
        let what = if c.is_whitespace() {
            "whitespace"
        } else if c.is_control() {
            "a control character"
        } else if "|&;<>()$`\\\"'*?[]#~=!{}".contains(c) {
            "a shell metacharacter"
        } else {
            "a character outside letters, digits and . - _ : % @"
        };
        return Err(format!("it contains {what} ({c:?})"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
user deploy
hostname 10.20.0.7
port 2222
identityfile ~/.ssh/id_ed25519
identityfile ~/.ssh/patch_key
identitiesonly yes
proxyjump ops@bastion.example.net:2022
stricthostkeychecking accept-new
userknownhostsfile ~/.ssh/known_hosts ~/.ssh/known_hosts2
globalknownhostsfile /etc/ssh/ssh_known_hosts
connecttimeout 7
batchmode yes
controlpath none
ciphers chacha20-poly1305@openssh.com,aes128-ctr
";

    #[test]
    fn parses_the_fields_we_use() {
        let r = parse_ssh_g(SAMPLE);
        assert_eq!(r.hostname, "10.20.0.7");
        assert_eq!(r.user, "deploy");
        assert_eq!(r.port, 2222);
        assert_eq!(r.identity_files, vec!["~/.ssh/id_ed25519", "~/.ssh/patch_key"]);
        assert!(r.identities_only);
        assert_eq!(r.proxy_jump.as_deref(), Some("ops@bastion.example.net:2022"));
        assert_eq!(r.proxy_command, None);
        assert_eq!(r.strict_host_key_checking, Some(StrictHostKeyChecking::AcceptNew));
        assert_eq!(r.user_known_hosts_files, vec!["~/.ssh/known_hosts", "~/.ssh/known_hosts2"]);
        assert_eq!(r.global_known_hosts_files, vec!["/etc/ssh/ssh_known_hosts"]);
        assert_eq!(r.connect_timeout, Some(Duration::from_secs(7)));
        assert!(r.batch_mode);
        assert_eq!(r.control_path, None, "`none` means unset");
        assert!(host_key_warnings("web01", &r).is_empty());
    }

    #[test]
    fn none_and_missing_values_are_unset() {
        let r = parse_ssh_g("hostname h\nconnecttimeout none\nproxycommand none\n");
        assert_eq!(r.connect_timeout, None);
        assert_eq!(r.proxy_command, None);
        assert_eq!(r.port, 22, "ssh's default when no port line");
        assert_eq!(r.strict_host_key_checking, None);
    }

    #[test]
    fn strict_host_key_checking_values() {
        for (text, want) in [
            ("true", StrictHostKeyChecking::Yes),
            ("yes", StrictHostKeyChecking::Yes),
            ("false", StrictHostKeyChecking::No),
            ("no", StrictHostKeyChecking::No),
            ("ask", StrictHostKeyChecking::Ask),
            ("accept-new", StrictHostKeyChecking::AcceptNew),
            ("weird", StrictHostKeyChecking::Other("weird".into())),
        ] {
            let r = parse_ssh_g(&format!("stricthostkeychecking {text}\n"));
            assert_eq!(r.strict_host_key_checking, Some(want), "{text}");
        }
    }

    #[test]
    fn warns_when_host_key_checking_is_off() {
        let r = parse_ssh_g("stricthostkeychecking false\nuserknownhostsfile /dev/null\n");
        let w = host_key_warnings("db-a", &r);
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("`StrictHostKeyChecking no` for db-a"), "{}", w[0]);
        assert!(w[1].contains("`UserKnownHostsFile /dev/null` for db-a"), "{}", w[1]);
    }

    #[test]
    fn operator_side_follows_hostname_unless_proxied() {
        let r = |text: &str| parse_ssh_g(text);
        assert_eq!(operator_side("web1", &r("hostname 10.0.0.5\n")), "10.0.0.5");
        assert_eq!(operator_side("Web1.Example.net", &r("hostname web1.example.net\n")), "Web1.Example.net");
        assert_eq!(operator_side("web1", &r("hostname 10.0.0.5\nproxyjump bastion\n")), "web1");
        assert_eq!(operator_side("web1", &r("hostname 10.0.0.5\nproxycommand nc %h %p\n")), "web1");
        assert_eq!(operator_side("web1", &r("hostname 10.0.0.5\nproxyjump none\n")), "10.0.0.5");
        assert_eq!(operator_side("web1", &r("user x\n")), "web1", "no hostname line");
        assert_eq!(operator_side("web1", &r("hostname a;b\n")), "web1", "not a host name");
    }

    #[test]
    fn argv_words() {
        for ok in ["web01.example.com", "10.0.0.1", "fe80::1%eth0", "deploy", "svc_patch", "ops@corp.example"] {
            assert_eq!(check_argv_word(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            check_argv_word("-oProxyCommand=touch /tmp/x").unwrap_err(),
            "it starts with '-', so ssh would read it as an option"
        );
        assert_eq!(check_argv_word("web 1").unwrap_err(), "it contains whitespace (' ')");
        assert_eq!(check_argv_word("a;reboot").unwrap_err(), "it contains a shell metacharacter (';')");
        assert_eq!(check_argv_word("a$(id)").unwrap_err(), "it contains a shell metacharacter ('$')");
        assert_eq!(check_argv_word("a\nb").unwrap_err(), "it contains whitespace ('\\n')");
        assert_eq!(check_argv_word("a\x1bb").unwrap_err(), "it contains a control character ('\\u{1b}')");
        assert_eq!(check_argv_word("").unwrap_err(), "it is empty");
        assert!(check_argv_word("héllo").unwrap_err().contains("outside letters"));
    }
}
