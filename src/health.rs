//! Health checks. HTTP and TCP checks run from the operator's machine (a check from inside
//! the host passes while real traffic fails); command checks run on the host.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::inventory::Host;
use crate::runbook::{Check, CheckKind, Window, placeholder};
use crate::transport::{Command, Transport};

/// Reaches services from the operator's side. Real: [`NetProber`]; the simulated fleet
/// answers for its own hosts.
#[async_trait]
pub trait Prober: Send + Sync {
    /// GET `url`; returns status and up to 64 KiB of body.
    async fn http_get(&self, url: &str, timeout: Duration) -> Result<(u16, String), String>;
    /// Opens a TCP connection to `address` (`host:port`).
    async fn tcp_connect(&self, address: &str, timeout: Duration) -> Result<(), String>;
    /// What `{host.address}` means in this prober's checks. Default: the address as the
    /// inventory writes it.
    async fn operator_address(&self, host: &Host) -> String {
        host.address.clone()
    }
    /// Why `address` (a `{host.address}`) cannot be reached by name from here, if it cannot:
    /// say, an ssh alias of a host behind a jump host, whose name only the jump host knows.
    /// Default: no opinion (the check itself then says what it could not reach).
    async fn unresolvable(&self, _address: &str) -> Option<String> {
        None
    }
}

/// The real network, from this machine. `{host.address}` in its checks is the machine ssh
/// connects to: an ssh alias is resolved with `ssh -G` to its `HostName`
/// ([`crate::inventory::ssh_config::operator_side`]), once per host.
#[derive(Debug, Default)]
pub struct NetProber {
    /// The ssh_config ssh is given (`None`: ssh's own default, `~/.ssh/config`).
    ssh_config: Option<PathBuf>,
    /// Address for checks, by how ssh is asked.
    resolved: Mutex<HashMap<SshTarget, String>>,
}

/// What `ssh -G` is asked about: address, user, port.
type SshTarget = (String, Option<String>, Option<u16>);

impl NetProber {
    /// Resolves ssh aliases with `ssh_config`, the file every ssh connection of the run uses.
    pub fn new(ssh_config: Option<PathBuf>) -> Self {
        Self { ssh_config, resolved: Mutex::default() }
    }
}

#[async_trait]
impl Prober for NetProber {
    async fn operator_address(&self, host: &Host) -> String {
        let key = (host.address.clone(), host.user.clone(), host.port);
        if let Some(known) = self.resolved.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return known.clone();
        }
        // Without an answer from ssh (not installed, a `Match exec` that hangs), the address
        // stays as written: the check then says what it could not reach.
        let address = match crate::inventory::ssh_config::resolve(host, self.ssh_config.as_deref()).await {
            Ok(r) => crate::inventory::ssh_config::operator_side(&host.address, &r),
            Err(_) => host.address.clone(),
        };
        self.resolved.lock().unwrap_or_else(|e| e.into_inner()).insert(key, address.clone());
        address
    }

    async fn unresolvable(&self, address: &str) -> Option<String> {
        // An IP address needs no resolving; a name must resolve here, where the check runs.
        if address.parse::<std::net::IpAddr>().is_ok() {
            return None;
        }
        let lookup = tokio::net::lookup_host((address, 0));
        match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
            Ok(Ok(mut found)) => found.next().is_none().then(|| "no address".into()),
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("no answer within {RESOLVE_TIMEOUT:?}")),
        }
    }

    async fn http_get(&self, url: &str, timeout: Duration) -> Result<(u16, String), String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| e.to_string())?;
        let resp = client.get(url).send().await.map_err(|e| describe_reqwest(&e))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| describe_reqwest(&e))?;
        let body = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]).into_owned();
        Ok((status, body))
    }

    async fn tcp_connect(&self, address: &str, timeout: Duration) -> Result<(), String> {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no connection within {timeout:?}")),
        }
    }
}

/// How long a name lookup for a check may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

fn describe_reqwest(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("cannot connect: {}", std::error::Error::source(e).map_or_else(|| e.to_string(), |s| s.to_string()))
    } else {
        e.to_string()
    }
}

/// `host` as operator-side checks see it: its address is the prober's
/// [`Prober::operator_address`], asked only when a template uses `{host.address}`. `Err`:
/// that address cannot be resolved from here, in words telling the operator what to set.
async fn seen_from_here<'t>(
    host: &Host,
    prober: &dyn Prober,
    templates: impl IntoIterator<Item = &'t String>,
) -> Result<Host, String> {
    let mut seen = host.clone();
    if templates.into_iter().any(|t| placeholder::used(t).iter().any(|(name, _)| *name == "host.address")) {
        seen.address = prober.operator_address(host).await;
        if let Some(why) = prober.unresolvable(&seen.address).await {
            return Err(format!(
                "{{host.address}} is {:?}, which this machine cannot resolve ({why}); ssh may reach it through a \
                 jump host that knows the name, but this check runs from here: set `address` for {} in the \
                 inventory to a name or IP this machine can reach",
                seen.address, host.name
            ));
        }
    }
    Ok(seen)
}

/// The outcome of one check on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: String,
    pub host: String,
    pub ok: bool,
    /// What was seen, safe to print ("200, body contains web1", "connection refused").
    pub detail: String,
    pub millis: u64,
}

/// Runs one check against one host.
pub async fn run_check(
    check: &Check,
    host: &Host,
    window: &Window,
    transport: &dyn Transport,
    prober: &dyn Prober,
) -> CheckResult {
    let started = Instant::now();
    let (ok, detail) = match &check.kind {
        CheckKind::Http { url, expect_status, contains } => {
            let templates = [Some(url), contains.as_ref()];
            match seen_from_here(host, prober, templates.into_iter().flatten()).await {
                Err(why) => (false, why),
                Ok(host) => http(check, url, *expect_status, contains.as_ref(), &host, window, prober).await,
            }
        }
        CheckKind::Tcp { address } => match seen_from_here(host, prober, [address]).await {
            Err(why) => (false, why),
            Ok(seen) => {
                let address = placeholder::expand_unquoted(address, &seen, window, None);
                match prober.tcp_connect(&address, check.timeout).await {
                    Ok(()) => (true, format!("tcp {address} open")),
                    Err(e) => (false, format!("tcp {address}: {e}")),
                }
            }
        },
        CheckKind::Run(cmd) => {
            let script = placeholder::expand(cmd, host, window, None);
            match transport.exec(host, &on_host_check(script, check.timeout)).await {
                Ok(out) if out.success() => (true, "exit 0".to_string()),
                Ok(out) => {
                    let tail =
                        out.stderr_lossy().lines().chain(out.stdout_lossy().lines()).last().unwrap_or("").to_string();
                    (false, format!("exit {}: {tail}", out.status.map_or("signal".into(), |s| s.to_string())))
                }
                Err(e) => (false, e.to_string()),
            }
        }
    };
    CheckResult {
        check: check.name.clone(),
        host: host.name.clone(),
        ok,
        detail: crate::safe_text::for_terminal(&detail),
        millis: started.elapsed().as_millis() as u64,
    }
}

/// An on-host check as the window's own commands run: as root (through `sudo -n` on a host
/// that uses sudo) with the sbin directories on PATH, so `nginx -t` is found and can read
/// what it checks.
pub fn on_host_check(script: String, timeout: Duration) -> Command {
    Command { needs_root: true, ..Command::shell(format!("{SBIN_ON_PATH}{script}"), timeout) }
}

/// The first line of an on-host check's script: root's command directories on PATH.
pub const SBIN_ON_PATH: &str = "PATH=\"$PATH:/usr/local/sbin:/usr/sbin:/sbin\"; export PATH\n";

/// One http check, `host` already as seen from here.
async fn http(
    check: &Check,
    url: &str,
    expect_status: u16,
    contains: Option<&String>,
    host: &Host,
    window: &Window,
    prober: &dyn Prober,
) -> (bool, String) {
    let url = placeholder::expand_unquoted(url, host, window, None);
    match prober.http_get(&url, check.timeout).await {
        Ok((status, body)) => {
            let want = contains.as_ref().map(|c| placeholder::expand_unquoted(c, host, window, None));
            let status_ok = status == expect_status;
            let body_ok = want.as_ref().is_none_or(|w| body.contains(w.as_str()));
            let mut detail = format!("GET {url} -> {status}");
            if !status_ok {
                detail.push_str(&format!(" (expected {expect_status})"));
            }
            if let Some(w) = want.filter(|_| !body_ok) {
                detail.push_str(&format!(", body lacks {w:?}"));
            }
            (status_ok && body_ok, detail)
        }
        Err(e) => (false, format!("GET {url}: {e}")),
    }
}
