//! Commands over the system OpenSSH client, through the `openssh` crate.
//!
//! Why the system `ssh`: operators' ssh_config (aliases, ProxyJump, per-host users and keys),
//! their agent and their known_hosts must apply exactly as when they type `ssh host`. A
//! pure-Rust client would silently differ on exactly the hosts that matter.
//!
//! Shape:
//! - One multiplexed master (`ssh -M`) per destination, created lazily on the first command,
//!   reused by every later command, behind a per-host async mutex so concurrent first
//!   commands open one connection, not many.
//! - A [`Semaphore`] per host bounds concurrent sessions on that connection below sshd's
//!   `MaxSessions` (10 by default), so a burst of commands queues instead of being refused.
//! - `ControlPersist` is bounded (60 s idle by default): if patchdeck is killed before
//!   [`Transport::close`], its masters exit by themselves instead of lingering forever.
//! - Control sockets live in a short private directory (`/tmp/pd-<pid>-<random>`), because a
//!   Unix socket path must stay under ~100 bytes and `$HOME/.local/state/...` may not.
//!
//! Remote commands and their session: dropping the local `ssh` client (timeout, cancelled
//! future) closes the channel but does not, by itself, stop the remote command; sshd gives a
//! non-pty session no SIGHUP. So every command runs under a small POSIX-sh wrapper (see
//! `remote_command`): the script runs in the background with stdin from `/dev/null`, and a
//! watchdog reads the channel's stdin, which we hold open for the command's lifetime. When
//! the channel goes away (we killed our client, or the connection died and sshd noticed), the
//! watchdog sees EOF and sends SIGTERM, then after [`KILL_GRACE_SECS`] SIGKILL, to the
//! session's process group (sshd puts each session in its own), i.e. to the script and
//! everything it started that did not detach on purpose. We chose this over a pty (`-t`),
//! which would also HUP the command but merges stderr into stdout and lets scripts see a
//! terminal.
//!
//! Bounds: `Command::timeout` bounds running the command; opening a connection is bounded by
//! [`SshOptions::connect_timeout`] (plus 2 s of backstop), so no failure to connect waits
//! longer than that. A command killed by a signal on the host reports `128 + signal` as its
//! status, as the remote shell sees it.
//!
//! Output: stdout and stderr are read together as they fill, and each line goes to the
//! caller's sink as it arrives (`exec_streaming`); the whole output is still returned at the
//! end. Our own client's complaints (a refused session) arrive on stderr like the command's.
//!
//! Exit 255: ssh uses it for its own failures too. After a 255 we ask the master
//! (`ssh -O check`): alive means the command really exited 255 (unless our client says the
//! server refused the session: an error, the command did not run); dead means
//! [`TransportError::ConnectionLost`], except when our client provably never reached the
//! master, in which case the command is retried once on a fresh connection.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder};
use tokio::sync::Semaphore;

use super::jump::{self, Route};
use super::local::{SUDO_NEEDS_PASSWORD, first_line, log_end, log_start};
use super::stream::{Discard, Sink, Stream, pump};
use super::{Command, Output, Transport, TransportError};
use crate::inventory::Host;

/// Seconds between SIGTERM and SIGKILL for a remote command whose session went away.
pub const KILL_GRACE_SECS: u32 = 5;

/// How to reach hosts. [`Default`] is what an operator's own `ssh` would do, plus bounds.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// Host key policy. Default [`KnownHosts::Strict`]: an unknown or changed key is an error
    /// the operator must resolve; patchdeck never adds or ignores host keys on its own.
    pub known_hosts: KnownHosts,
    /// `ssh -F`: use this file instead of `~/.ssh/config` and `/etc/ssh/ssh_config`.
    pub config_file: Option<PathBuf>,
    /// `ssh -i` with `IdentitiesOnly=yes`: offer only this key.
    pub identity_file: Option<PathBuf>,
    /// `UserKnownHostsFile`: check host keys against this file instead of `~/.ssh/known_hosts`.
    pub user_known_hosts_file: Option<PathBuf>,
    /// Bound on opening a connection (TCP, handshake); `ssh -o ConnectTimeout`, in whole
    /// seconds (rounded up), and a backstop on the whole connect just after it.
    pub connect_timeout: Duration,
    /// Concurrent commands per host. Default 8, below sshd's default `MaxSessions` of 10,
    /// leaving room for an operator's own multiplexed session.
    pub sessions_per_host: usize,
    /// How long an idle master stays up (`ControlPersist`). Bounded so that masters of a
    /// killed patchdeck do not stay forever; openssh's builder would persist forever.
    pub control_persist: Duration,
    /// `ServerAliveInterval`: a dead peer is noticed after 3 unanswered probes.
    pub server_alive_interval: Duration,
    /// Where the private control directory is created. Keep it short (see module docs).
    pub control_parent: PathBuf,
    /// Where hosts keep the records of detached runs ([`super::runner`]).
    pub runs_dir: String,
}

impl Default for SshOptions {
    fn default() -> Self {
        Self {
            known_hosts: KnownHosts::Strict,
            config_file: None,
            identity_file: None,
            user_known_hosts_file: None,
            connect_timeout: Duration::from_secs(10),
            sessions_per_host: 8,
            control_persist: Duration::from_secs(60),
            server_alive_interval: Duration::from_secs(15),
            control_parent: PathBuf::from("/tmp"),
            runs_dir: super::runner::RUNS_DIR.to_string(),
        }
    }
}

/// Runs commands on hosts over multiplexed OpenSSH connections. See the module docs.
pub struct SshTransport {
    options: SshOptions,
    hosts: Mutex<HashMap<ConnKey, Arc<HostConn>>>,
    /// Numbers the generated ssh_config files of connections through jump hosts.
    routes: std::sync::atomic::AtomicU64,
    // Declared last: dropped after the sessions (whose own drop removes their subdirectories).
    control_dir: ControlDir,
}

/// Two inventory entries with the same address, user, port, key and jump hosts share one
/// connection.
type ConnKey = (String, Option<String>, Option<u16>, Option<PathBuf>, Vec<String>);

struct HostConn {
    sessions: Semaphore,
    master: tokio::sync::Mutex<Option<Arc<Session>>>,
    /// When a command last finished (or the master was opened): the master's idle clock.
    last_used: Mutex<Instant>,
}

impl SshTransport {
    /// Creates the control directory; connects to nothing until the first command. A file
    /// named in the options (ssh_config, identity, known_hosts) that is not a regular file is
    /// an error carrying [`crate::diag::Diagnostics`]: a `--known-hosts` path with a typo
    /// would otherwise be an empty list of trusted keys.
    pub fn new(options: SshOptions) -> std::io::Result<Self> {
        check_given_files(&options).map_err(std::io::Error::other)?;
        let control_dir = ControlDir::create(&options.control_parent)?;
        Ok(Self { options, hosts: Mutex::new(HashMap::new()), routes: Default::default(), control_dir })
    }

    /// The private directory holding this transport's control sockets. Every master's
    /// command line contains it, which is how tests find leftover processes.
    pub fn control_dir(&self) -> &Path {
        &self.control_dir.path
    }

    fn conn(&self, host: &Host) -> Arc<HostConn> {
        let key =
            (host.address.clone(), host.user.clone(), host.port, host.identity_file.clone(), host.jump_hosts.clone());
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts
            .entry(key)
            .or_insert_with(|| {
                Arc::new(HostConn {
                    sessions: Semaphore::new(self.options.sessions_per_host.max(1)),
                    master: tokio::sync::Mutex::new(None),
                    last_used: Mutex::new(Instant::now()),
                })
            })
            .clone()
    }

    /// How to open `host`'s master. Through jump hosts, `route`'s generated config replaces
    /// `--ssh-config` (it includes it) and carries the jumps ([`jump`]).
    fn builder(&self, host: &Host, route: Option<&Route>) -> SessionBuilder {
        let o = &self.options;
        let mut b = SessionBuilder::default();
        b.known_hosts_check(o.known_hosts.clone())
            .connect_timeout(whole_secs(o.connect_timeout))
            .server_alive_interval(whole_secs(o.server_alive_interval))
            .control_directory(&self.control_dir.path)
            .control_persist(ControlPersist::IdleFor(
                NonZeroUsize::new(whole_secs(o.control_persist).as_secs() as usize).unwrap_or(NonZeroUsize::MIN),
            ));
        if let Some(route) = route {
            b.config_file(&route.master_config);
        } else if let Some(f) = &o.config_file {
            b.config_file(f);
        }
        // The host's own key (its inventory entry) beats the one for every host.
        if let Some(k) = host.identity_file.as_ref().or(o.identity_file.as_ref()) {
            b.keyfile(k);
        }
        if let Some(f) = &o.user_known_hosts_file {
            b.user_known_hosts_file(f);
        }
        if let Some(u) = &host.user {
            b.user(u.clone());
        }
        if let Some(p) = host.port {
            b.port(p);
        }
        b
    }

    /// The host's master, opened if there is none or the one we have has gone away.
    async fn session(&self, host: &Host, conn: &HostConn) -> Result<Arc<Session>, TransportError> {
        let mut master = conn.master.lock().await;
        if let Some(session) = master.as_ref() {
            let idle = conn.last_used.lock().unwrap_or_else(|e| e.into_inner()).elapsed();
            // A master idle for long may have reached ControlPersist and exited; a command
            // sent to a dead master would fail in a way that looks like a lost connection.
            if idle < self.options.control_persist / 2 || master_alive(session).await {
                return Ok(session.clone());
            }
            if let Some(old) = master.take() {
                tokio::spawn(close_session(old));
            }
        }
        let route = self.route(host).await?;
        let builder = self.builder(host, route.as_ref());
        // ssh's ConnectTimeout bounds TCP connect and the handshake; this backstop bounds
        // everything else (a stuck agent, a server that stalls during authentication).
        let backstop = whole_secs(self.options.connect_timeout) + Duration::from_secs(2);
        tracing::info!(host = %host.name, address = %host.address, "opening the ssh connection");
        let opening = Instant::now();
        let session = match tokio::time::timeout(backstop, builder.connect(&host.address)).await {
            Ok(Ok(session)) => Arc::new(session),
            Ok(Err(e)) => {
                return Err(match &route {
                    Some(route) => jump::explain(&host.name, route, &error_text(&e)).await,
                    None => connect_error(&host.name, &error_text(&e)),
                });
            }
            Err(_) => {
                return Err(TransportError::Timeout {
                    host: host.name.clone(),
                    after: backstop,
                    what: "opening the ssh connection".into(),
                });
            }
        };
        tracing::info!(host = %host.name, millis = opening.elapsed().as_millis() as u64, "ssh connection open");
        *conn.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        *master = Some(session.clone());
        Ok(session)
    }

    /// The jump hosts in front of `host`, with fresh generated configs, or `None` when it
    /// is reached directly.
    async fn route(&self, host: &Host) -> Result<Option<Route>, TransportError> {
        let hops = jump::hops_of(host, &self.options).await?;
        if hops.is_empty() {
            return Ok(None);
        }
        let n = self.routes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let route =
            jump::write_route(&self.control_dir.path, n, hops, &self.options).map_err(|e| TransportError::Other {
                host: host.name.clone(),
                detail: format!("cannot write the jump hosts' ssh_config: {e}"),
            })?;
        Ok(Some(route))
    }

    /// Runs `cmd` once on `session`, streaming its output to `sink`; see [`Transport::exec`].
    async fn run_once(
        &self,
        host: &Host,
        cmd: &Command,
        conn: &HostConn,
        session: &Arc<Session>,
        sink: &dyn Sink,
    ) -> Result<Output, Attempt> {
        let other = |detail: String| Attempt::Failed(TransportError::Other { host: host.name.clone(), detail });
        let as_root = cmd.needs_root && host.sudo;
        let mut child = session
            .raw_command(remote_command(&cmd.script, as_root))
            .stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped())
            .spawn()
            .await
            .map_err(|e| other(format!("cannot start ssh: {}", error_text(&e))))?;
        // Held open until the command ends: its EOF is what tells the remote watchdog that
        // we are gone (see module docs). `Child::wait` would close it, so take it out first.
        let keepalive = child.stdin().take();
        let mut stdout = child.stdout().take();
        let mut stderr = child.stderr().take();
        let run = async {
            // Both pipes at once, so a command filling one while we read the other never blocks.
            let keep = cmd.purpose.kept_bytes();
            let (out, err) = tokio::join!(
                pump(stdout.as_mut(), Stream::Stdout, sink, keep, None),
                pump(stderr.as_mut(), Stream::Stderr, sink, keep, None)
            );
            (out, err, child.wait().await)
        };
        let outcome = tokio::time::timeout(cmd.timeout, run).await;
        // On timeout `run` (and the Child in it) is dropped here, which kills our local ssh
        // client (kill_on_drop); the channel closes and the remote watchdog kills the command.
        drop(keepalive);
        *conn.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        let (out, err, status) = outcome.map_err(|_| {
            Attempt::Failed(TransportError::Timeout {
                host: host.name.clone(),
                after: cmd.timeout,
                what: first_line(&cmd.script),
            })
        })?;

        let status = match status {
            Ok(status) => status.code(),
            // The process-mux backend turns these exit codes into errors; undo that.
            Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => Some(127),
            Err(openssh::Error::RemoteProcessTerminated) => {
                // ssh exits 255 both for its own failures and when the command exits 255.
                // Only a live master after the fact means the command really said 255.
                if master_alive(session).await {
                    if let Some(line) = session_refused(&err.0) {
                        return Err(other(format!(
                            "the server refused another session ({line}); the command did not run. \
                             Is its MaxSessions below sessions_per_host ({})?",
                            self.options.sessions_per_host
                        )));
                    }
                    Some(255)
                } else if let Some(line) = master_not_reached(&err.0) {
                    return Err(Attempt::NotStarted(line));
                } else {
                    self.discard(conn, session).await;
                    return Err(Attempt::Failed(TransportError::ConnectionLost {
                        host: host.name.clone(),
                        detail: lost_detail(&err.0, session),
                    }));
                }
            }
            Err(e) => return Err(other(error_text(&e))),
        };
        let ((stdout, stdout_cut), (stderr, stderr_cut)) = (out, err);
        let output = Output { status, stdout, stderr, stdout_cut, stderr_cut, saved_to: None };
        if as_root && output.status == Some(1) && output.stderr_lossy().contains(SUDO_NEEDS_PASSWORD) {
            return Err(Attempt::Failed(TransportError::SudoRefused {
                host: host.name.clone(),
                detail: SUDO_NEEDS_PASSWORD.into(),
            }));
        }
        Ok(output)
    }

    /// Runs `cmd`, retrying once on a fresh master when the first never reached one.
    async fn exec_with_retry(&self, host: &Host, cmd: &Command, sink: &dyn Sink) -> Result<Output, TransportError> {
        let other = |detail: String| TransportError::Other { host: host.name.clone(), detail };
        if host.address.starts_with('-') {
            return Err(other(format!("address {:?} would be read by ssh as an option", host.address)));
        }
        if cmd.script.contains('\0') {
            return Err(other("the script contains a NUL byte, which cannot be passed to a shell".into()));
        }
        let conn = self.conn(host);
        let _permit = conn.sessions.acquire().await.map_err(|_| other("transport is closed".into()))?;
        // One retry, only when our client provably never reached the master (it expired at
        // ControlPersist or died between commands): the command did not start, so running it
        // on a fresh master cannot run it twice.
        let mut retried = false;
        loop {
            let session = self.session(host, &conn).await?;
            match self.run_once(host, cmd, &conn, &session, sink).await {
                Ok(output) => return Ok(output),
                Err(Attempt::Failed(e)) => return Err(e),
                Err(Attempt::NotStarted(detail)) => {
                    self.discard(&conn, &session).await;
                    tracing::info!(host = %host.name, %detail, retried, "the ssh master was gone before the command started");
                    if retried {
                        return Err(TransportError::Unreachable {
                            host: host.name.clone(),
                            detail: format!("the ssh connection went away before the command started ({detail})"),
                        });
                    }
                    retried = true;
                }
            }
        }
    }

    /// Forgets `session` if it is still the host's master, so the next command reconnects.
    async fn discard(&self, conn: &HostConn, session: &Arc<Session>) {
        let mut master = conn.master.lock().await;
        if master.as_ref().is_some_and(|m| Arc::ptr_eq(m, session))
            && let Some(old) = master.take()
        {
            tokio::spawn(close_session(old));
        }
    }
}

#[async_trait]
impl Transport for SshTransport {
    fn kind(&self) -> &'static str {
        "ssh"
    }

    async fn exec(&self, host: &Host, cmd: &Command) -> Result<Output, TransportError> {
        self.exec_streaming(host, cmd, &Discard).await
    }

    async fn exec_streaming(&self, host: &Host, cmd: &Command, sink: &dyn Sink) -> Result<Output, TransportError> {
        // A command that changes the host runs detached there, through the host-side runner.
        if let Some(key) = &cmd.detached {
            return super::runner::exec(self, host, cmd, key, &self.options.runs_dir, sink).await;
        }
        let started = log_start(self.kind(), host, cmd);
        let result = self.exec_with_retry(host, cmd, sink).await;
        log_end(self.kind(), host, cmd, started, &result);
        result
    }

    async fn close(&self) {
        let conns: Vec<Arc<HostConn>> =
            self.hosts.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, c)| c).collect();
        let closing = conns.iter().map(|conn| async move {
            if let Some(session) = conn.master.lock().await.take() {
                close_session(session).await;
            }
        });
        futures::future::join_all(closing).await;
    }

    fn runs_dir(&self) -> Option<&str> {
        Some(&self.options.runs_dir)
    }
}

/// Every file the operator named for ssh must be a regular file (or a symlink to one).
fn check_given_files(o: &SshOptions) -> Result<(), crate::diag::Diagnostics> {
    let mut problems = crate::diag::Diagnostics::default();
    for (path, flag, what) in [
        (&o.config_file, "--ssh-config", "ssh_config file"),
        (&o.identity_file, "--identity", "private key"),
        (&o.user_known_hosts_file, "--known-hosts", "known_hosts file"),
    ] {
        let Some(path) = path else { continue };
        let problem = match std::fs::metadata(path) {
            Ok(m) if m.is_file() => continue,
            Ok(_) => format!("the {what} given with {flag} is not a regular file"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                format!("the {what} given with {flag} does not exist: check the path")
            }
            Err(e) => format!("cannot read the {what} given with {flag}: {e}"),
        };
        problems.push(crate::diag::Diagnostic::whole_file(path, problem));
    }
    problems.into_result(())
}

/// Closes a master explicitly. `Session`'s own `Drop` would do it with a blocking wait.
async fn close_session(session: Arc<Session>) {
    match Arc::try_unwrap(session) {
        Ok(session) => match tokio::time::timeout(Duration::from_secs(5), session.close()).await {
            Ok(Ok(())) => {}
            // An already-dead master reports why it died; nothing is left to close.
            Ok(Err(e)) => tracing::debug!("closing ssh master: {}", error_text(&e)),
            Err(_) => tracing::warn!("ssh master did not exit within 5s"),
        },
        // A command still holds it (close() during a command): tell the master to exit
        // through its socket; the holder's drop then finds nothing left to do.
        Err(session) => {
            let exit = tokio::process::Command::new("ssh")
                .arg("-S")
                .arg(session.control_socket())
                .args(["-O", "exit", "none"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .status();
            let _ = tokio::time::timeout(Duration::from_secs(5), exit).await;
        }
    }
}

/// Whether the master still answers `ssh -O check`, bounded so a wedged master cannot hang us.
async fn master_alive(session: &Session) -> bool {
    matches!(tokio::time::timeout(Duration::from_secs(5), session.check()).await, Ok(Ok(())))
}

/// How one attempt at a command failed.
enum Attempt {
    /// Our client never reached the master, so the command did not start: safe to retry.
    NotStarted(String),
    Failed(TransportError),
}

/// The line in which our ssh client, finding no master behind the control socket, fell back
/// to connecting to the placeholder destination (`none`, port 9) that openssh gives it for
/// exactly this case. The command cannot have started.
fn master_not_reached(stderr: &[u8]) -> Option<String> {
    let stderr = String::from_utf8_lossy(stderr);
    let line = stderr.lines().map(str::trim).rev().find(|l| !l.is_empty())?;
    let line = line.strip_prefix("ssh: ").unwrap_or(line);
    let fell_back = line.starts_with("Could not resolve hostname none:")
        || line.starts_with("connect to host none port 9:")
        || line.starts_with("Control socket connect(");
    fell_back.then(|| crate::safe_text::for_terminal(line))
}

/// The line in which our ssh client says the master could not open a session for the
/// command, which then never ran (e.g. sshd's `MaxSessions` reached).
fn session_refused(stderr: &[u8]) -> Option<String> {
    let stderr = String::from_utf8_lossy(stderr);
    let line = stderr
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("mux_client_request_session:") || l.contains("Session open refused by peer"))?;
    Some(crate::safe_text::for_terminal(line))
}

/// The reason a master died, from the command's stderr or the master's log.
fn lost_detail(stderr: &[u8], session: &Session) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    let log = session.control_socket().parent().and_then(|d| std::fs::read_to_string(d.join("log")).ok());
    let text = log.filter(|l| !l.trim().is_empty()).unwrap_or_else(|| stderr.into_owned());
    let line = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("the ssh connection closed underneath the command");
    crate::safe_text::for_terminal(line.strip_prefix("ssh: ").unwrap_or(line))
}

/// `d` rounded up to whole seconds, at least one: ssh's timeouts are in seconds and 0 means
/// "no timeout" to it.
fn whole_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(Duration::from_secs(1))
}

/// An openssh error with its causes, one per line: the cause carries ssh's own message
/// (several lines of it for host key trouble), which [`connect_error`] reads line by line.
fn error_text(e: &openssh::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push('\n');
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Quotes `s` as one word for a POSIX shell: single quotes, each `'` as `'\''`. Works for
/// any byte string without NUL, including newlines, `$`, backquotes and backslashes.
pub(crate) fn sh_quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('\'');
    for c in s.chars() {
        if c == '\'' {
            q.push_str("'\\''");
        } else {
            q.push(c);
        }
    }
    q.push('\'');
    q
}

/// The one string handed to ssh, which the remote login shell runs as `$SHELL -c <it>`.
///
/// It is `sh -c <wrapper>`, so the wrapper is POSIX sh whatever the login shell is (as long as
/// it parses single quotes like sh). The wrapper:
/// 1. keeps the channel's stdin as fd 3 for the watchdog, and starts `sh -c <script>` in the
///    background with stdin from `/dev/null` (nothing may wait for input unattended); with
///    `as_root`, through `sudo -n` unless the remote user is already root;
/// 2. starts the watchdog: when stdin reaches EOF (our client is gone), SIGTERM, then SIGKILL
///    after [`KILL_GRACE_SECS`], to the session's whole process group (`kill 0`);
/// 3. waits for the script, stops the watchdog and exits with the script's status.
pub(crate) fn remote_command(script: &str, as_root: bool) -> String {
    let sudo = if as_root { r#"if [ "$(id -u)" = 0 ]; then s=; else s='sudo -n'; fi"# } else { "s=" };
    let wrapper = format!(
        "exec 3<&0\n\
         {sudo}\n\
         $s sh -c {script} </dev/null 3<&- &\n\
         c=$!\n\
         {{ cat >/dev/null; trap '' TERM; kill -TERM 0; sleep {KILL_GRACE_SECS}; kill -KILL 0; }} <&3 >/dev/null 2>&1 &\n\
         w=$!\n\
         exec 3<&-\n\
         wait $c\n\
         r=$?\n\
         kill $w 2>/dev/null\n\
         exit $r",
        script = sh_quote(script),
    );
    format!("sh -c {}", sh_quote(&wrapper))
}

/// Turns ssh's complaint about a failed connection into the error that tells the operator
/// what to fix. Order matters: a changed key also prints "Host key verification failed".
pub(crate) fn connect_error(host: &str, text: &str) -> TransportError {
    let host = host.to_string();
    let line_with = |needle: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.contains(needle))
            .map(|l| crate::safe_text::for_terminal(l.strip_prefix("ssh: ").unwrap_or(l).trim_end_matches('.')))
    };
    if let Some(line) = line_with("REMOTE HOST IDENTIFICATION HAS CHANGED").or_else(|| line_with("has changed and")) {
        let offered = line_with("SHA256:").map(|f| format!("; the server now offers {f}")).unwrap_or_default();
        let offending = line_with("Offending").map(|o| format!("; known_hosts has: {o}")).unwrap_or_default();
        let line = line_with("Host key for").unwrap_or(line);
        return TransportError::HostKeyChanged { host, detail: format!("{line}{offered}{offending}") };
    }
    if let Some(line) = line_with("host key is known for").or_else(|| line_with("Host key verification failed")) {
        return TransportError::HostKeyUnknown { host, detail: line };
    }
    if let Some(line) = line_with("Permission denied (").or_else(|| line_with("Too many authentication failures")) {
        return TransportError::AuthRefused { host, detail: line };
    }
    for needle in [
        "Connection refused",
        "timed out",
        "No route to host",
        "Network is unreachable",
        "Could not resolve hostname",
        "Name or service not known",
        "Connection reset",
        "Connection closed by",
        "kex_exchange_identification",
    ] {
        if let Some(line) = line_with(needle) {
            return TransportError::Unreachable { host, detail: line };
        }
    }
    let line = text.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("ssh failed without a message");
    TransportError::Other { host, detail: crate::safe_text::for_terminal(line) }
}

/// A private (0700) directory for control sockets, removed on drop.
struct ControlDir {
    path: PathBuf,
}

impl ControlDir {
    /// `<parent>/pd-<pid>-<random>`: short, unique per process and per transport. The random
    /// part comes from the clock; a collision (another transport this same nanosecond) retries.
    fn create(parent: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let pid = std::process::id();
        let mut last_err = None;
        for attempt in 0u32..16 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path = parent.join(format!("pd-{pid}-{:x}", nanos.wrapping_add(attempt) & 0xff_ffff));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::other("cannot create a control directory")))
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_sh() {
        for s in ["plain", "it's", "a'b'c", "$HOME `x` \\n \"q\"", "line1\nline2", "", "'"] {
            let out = std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", sh_quote(s))).output();
            assert_eq!(String::from_utf8(out.unwrap().stdout).unwrap(), s);
        }
    }

    #[test]
    fn wrapper_runs_script_locally() {
        let script = "printf '%s' \"$1x\"; echo 'err' >&2; exit 3";
        // Like sshd does: a process group of its own (the watchdog signals the whole group),
        // stdin a pipe held open until the command is done.
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(remote_command(script, false))
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let keepalive = child.stdin.take();
        let out = child.wait_with_output().unwrap();
        drop(keepalive);
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "x");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    }

    #[test]
    fn errors_are_classified() {
        let changed = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
            @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
            The fingerprint for the ED25519 key sent by the remote host is\nSHA256:abc.\n\
            Offending ED25519 key in /tmp/kh:1\n\
            Host key for [127.0.0.5]:2222 has changed and you have requested strict checking.\n\
            Host key verification failed.";
        assert!(matches!(connect_error("h", changed), TransportError::HostKeyChanged { .. }));
        let unknown = "No ED25519 host key is known for [127.0.0.5]:2222 and you have requested strict checking.\n\
            Host key verification failed.";
        assert!(matches!(connect_error("h", unknown), TransportError::HostKeyUnknown { .. }));
        let denied = "root@127.0.0.5: Permission denied (publickey).";
        assert!(matches!(connect_error("h", denied), TransportError::AuthRefused { .. }));
        let refused = "ssh: connect to host 127.0.0.9 port 1: Connection refused";
        match connect_error("h", refused) {
            TransportError::Unreachable { detail, .. } => {
                assert_eq!(detail, "connect to host 127.0.0.9 port 1: Connection refused")
            }
            e => panic!("{e:?}"),
        }
        match connect_error("h", changed) {
            TransportError::HostKeyChanged { detail, .. } => {
                assert_eq!(
                    detail,
                    "Host key for [127.0.0.5]:2222 has changed and you have requested strict checking; \
                     the server now offers SHA256:abc; known_hosts has: Offending ED25519 key in /tmp/kh:1"
                )
            }
            e => panic!("{e:?}"),
        }
        let dns = "ssh: Could not resolve hostname nope.invalid: Name or service not known";
        assert!(matches!(connect_error("h", dns), TransportError::Unreachable { .. }));
        assert!(matches!(connect_error("h", "something else\x1b[2J"), TransportError::Other { .. }));
    }

    #[test]
    fn mux_failures_are_recognised() {
        let fallback = b"Could not resolve hostname none: Name or service not known\r\n";
        assert!(master_not_reached(fallback).is_some());
        assert!(master_not_reached(b"ssh: connect to host none port 9: Connection refused\n").is_some());
        assert!(master_not_reached(b"the command's own output\n").is_none());
        let refused = b"mux_client_request_session: session request failed: Session open refused by peer\r\n\
            ssh: Could not resolve hostname none: Name or service not known\r\n";
        assert!(session_refused(refused).is_some());
        assert!(session_refused(b"exit 255 on purpose").is_none());
    }

    #[test]
    fn defaults_are_strict_and_bounded() {
        let o = SshOptions::default();
        assert!(matches!(o.known_hosts, KnownHosts::Strict));
        assert_eq!(o.connect_timeout, Duration::from_secs(10));
        assert_eq!(o.sessions_per_host, 8);
        assert_eq!(o.control_persist, Duration::from_secs(60));
    }

    #[test]
    fn whole_secs_rounds_up() {
        assert_eq!(whole_secs(Duration::from_millis(1500)), Duration::from_secs(2));
        assert_eq!(whole_secs(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(whole_secs(Duration::from_secs(10)), Duration::from_secs(10));
    }

    #[test]
    fn control_dir_is_short_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = ControlDir::create(Path::new("/tmp")).unwrap();
        let path = dir.path.clone();
        assert!(path.as_os_str().len() < 40, "{path:?}");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o700);
        drop(dir);
        assert!(!path.exists());
    }
}
