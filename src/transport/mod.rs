//! The one way commands reach a host. Nothing outside this module spawns ssh.
//!
//! Implementations: [`ssh::SshTransport`] (the system OpenSSH client through the `openssh`
//! crate, one multiplexed master per host), [`local::LocalTransport`] (this machine) and
//! [`crate::sim::SimTransport`] (an in-memory fleet for the demo, tests and drills).
//! [`pool`] bounds how many hosts are worked on at once; [`stream`] cuts output into lines
//! while a command runs.

pub(crate) mod jump;
pub mod local;
pub mod pool;
pub mod runner;
pub mod ssh;
pub mod stream;

use std::time::Duration;

use async_trait::async_trait;

use crate::inventory::Host;
use crate::runbook::Fingerprint;
pub use runner::{Recovered, RunKey, RunWhat, WindowKey};
pub use stream::{OutputLine, Sink, Stream};

/// The name under which `local` steps run (on the operator's machine): the engine gives
/// it to them, and the simulated transport answers for it as for the operator's machine.
pub const OPERATOR_HOST: &str = "(operator)";

/// What a command is for: a label for logs, timings and drills. Real transports only run
/// `script`, and so does the simulated one for package changes: it runs an install or
/// restore script through its model of the host's package manager, never from a list
/// carried here (so a wrong script fails in the simulator as it would on a host). It
/// answers probes and runbook commands from its in-memory model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// An arbitrary runbook command (step, rollback, health check).
    Shell,
    /// The one-round-trip probe: package facts plus these fingerprints.
    Probe { fingerprints: Vec<Fingerprint> },
    /// The package manager installs exact versions (the script says which).
    Install,
    /// The package manager puts packages back to a snapshot (the script says how).
    Restore,
    /// Reboot the host.
    Reboot,
    /// Take, release or read the host's window lock ([`crate::lock::host`]).
    HostLock(LockOp),
    /// Read one file to show it (a drifted file beside staging's: [`crate::drift::fetch`]).
    /// Read-only and never journaled.
    ReadFile { path: String },
    /// Whether `sudo -n` works unattended for what the window runs ([`crate::check::sudo`]).
    /// Read-only, asked by `check` on hosts that use sudo.
    SudoCheck,
}

impl Purpose {
    /// Bytes of each output stream kept in memory ([`stream::Tail`]): a probe is parsed
    /// whole, so it keeps more (and is refused past that); everything else keeps a tail.
    pub fn kept_bytes(&self) -> usize {
        match self {
            Purpose::Probe { .. } => stream::KEPT_PROBE_BYTES,
            Purpose::Shell
            | Purpose::Install
            | Purpose::Restore
            | Purpose::Reboot
            | Purpose::HostLock(_)
            | Purpose::ReadFile { .. }
            | Purpose::SudoCheck => stream::KEPT_BYTES,
        }
    }
}

/// A command for one host. `script` is a POSIX shell script run by `sh -c` on the host;
/// every piece of it that came from a host or a file has been validated and quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub script: String,
    pub purpose: Purpose,
    /// Run as root through `sudo -n` when the host is configured with `sudo = true`.
    pub needs_root: bool,
    pub timeout: Duration,
    /// Run it on the host detached from the connection, recorded under this key
    /// ([`runner`]): a command that changes the host, whose end must not depend on the link
    /// or on patchdeck living. Transports without a host-side runner run it as any other.
    pub detached: Option<RunKey>,
}

impl Command {
    pub fn shell(script: impl Into<String>, timeout: Duration) -> Self {
        Self { script: script.into(), purpose: Purpose::Shell, needs_root: false, timeout, detached: None }
    }

    /// The same command, run detached under `key` ([`Command::detached`]).
    pub fn detached(self, key: RunKey) -> Self {
        Self { detached: Some(key), ..self }
    }
}

/// What a finished command produced: the newest part of each stream (at most its
/// purpose's [`Purpose::kept_bytes`]) and how much came before it that was not kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// Exit code; `None` when killed by a signal.
    pub status: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Bytes of stdout before `stdout` that were not kept.
    pub stdout_cut: u64,
    /// Bytes of stderr before `stderr` that were not kept.
    pub stderr_cut: u64,
    /// Where the whole output was written, when it was (a local step's output file).
    pub saved_to: Option<std::path::PathBuf>,
}

impl Output {
    /// A finished command's output, every byte kept.
    pub fn whole(status: Option<i32>, stdout: Vec<u8>, stderr: Vec<u8>) -> Self {
        Self { status, stdout, stderr, ..Self::default() }
    }

    /// Keeps only the newest `limit` bytes of each stream, counting what goes.
    pub fn keep_tail(self, limit: usize) -> Self {
        let keep = |bytes: Vec<u8>, cut: u64| {
            let mut tail = stream::Tail::new(limit);
            tail.push(&bytes);
            let (kept, more) = tail.finish();
            (kept, cut + more)
        };
        let (stdout, stdout_cut) = keep(self.stdout, self.stdout_cut);
        let (stderr, stderr_cut) = keep(self.stderr, self.stderr_cut);
        Self { stdout, stderr, stdout_cut, stderr_cut, ..self }
    }

    /// Bytes of output not kept, both streams.
    pub fn cut(&self) -> u64 {
        self.stdout_cut + self.stderr_cut
    }

    /// What a shown tail leaves out, in words (and where the whole of it is, if anywhere).
    pub fn cut_note(&self) -> Option<String> {
        let note = stream::cut_note(self.cut())?;
        Some(match &self.saved_to {
            Some(path) => {
                format!("{note} here (more in {})", crate::safe_text::for_terminal(&path.display().to_string()))
            }
            None => note,
        })
    }

    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Why a command could not be run to completion. Each variant has its own message so the
/// operator knows what to fix (network, key, known_hosts, the command itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("{host}: unreachable: {detail}")]
    Unreachable { host: String, detail: String },
    #[error("{host}: the server refused our key or password ({detail}); check the user and `ssh-add -l`")]
    AuthRefused { host: String, detail: String },
    #[error(
        "{host}: host key is not in known_hosts ({detail}); verify it, then add it with `ssh-keyscan` or one manual `ssh`"
    )]
    HostKeyUnknown { host: String, detail: String },
    #[error("{host}: HOST KEY CHANGED ({detail}); this may be an attack; do not proceed until verified")]
    HostKeyChanged { host: String, detail: String },
    #[error("{host}: `sudo -n` needs a password ({detail}); allow passwordless sudo for this user or connect as root")]
    SudoRefused { host: String, detail: String },
    #[error("{host}: no answer within {after:?} ({what})")]
    Timeout { host: String, after: Duration, what: String },
    #[error("{host}: connection lost while running a command ({detail}); its outcome is unknown")]
    ConnectionLost { host: String, detail: String },
    /// A jump host in front of `host` failed; `cause` names that hop and says why.
    #[error("{host}: through the jump host {cause}")]
    Jump { host: String, cause: Box<TransportError> },
    #[error("{host}: {detail}")]
    Other { host: String, detail: String },
}

impl TransportError {
    pub fn host(&self) -> &str {
        match self {
            TransportError::Unreachable { host, .. }
            | TransportError::AuthRefused { host, .. }
            | TransportError::HostKeyUnknown { host, .. }
            | TransportError::HostKeyChanged { host, .. }
            | TransportError::SudoRefused { host, .. }
            | TransportError::Timeout { host, .. }
            | TransportError::ConnectionLost { host, .. }
            | TransportError::Jump { host, .. }
            | TransportError::Other { host, .. } => host,
        }
    }
}

/// Runs commands on hosts. Implementations keep per-host connections and must be safe to
/// call for many hosts at once.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Short name for messages and the journal: "ssh", "local", "simulated".
    fn kind(&self) -> &'static str;

    /// Runs `cmd` on `host` and waits for it, bounded by `cmd.timeout`.
    async fn exec(&self, host: &Host, cmd: &Command) -> Result<Output, TransportError>;

    /// Like [`Transport::exec`], and gives `sink` each line of output (stdout and stderr,
    /// tagged) as it arrives. The returned [`Output`] is the same as `exec`'s. This default
    /// cannot stream: it hands over the whole output once the command has ended.
    async fn exec_streaming(&self, host: &Host, cmd: &Command, sink: &dyn Sink) -> Result<Output, TransportError> {
        let output = self.exec(host, cmd).await?;
        stream::replay(&output, sink);
        Ok(output)
    }

    /// Closes every connection this transport opened. Call before exiting.
    async fn close(&self);

    /// Where hosts keep the records of detached runs ([`runner`]); `None`: this transport
    /// has no host-side runner (detached commands run as any other, nothing is recorded).
    fn runs_dir(&self) -> Option<&str> {
        None
    }

    /// What the host's record says about the run `key` (after a lost link or a restart).
    /// Without a host-side runner: [`Recovered::Missing`].
    async fn recover(&self, host: &Host, key: &RunKey) -> Result<Recovered, TransportError> {
        match self.runs_dir() {
            Some(base) => runner::recover(self, host, key, base).await,
            None => Ok(Recovered::Missing),
        }
    }

    /// Follows the run `key`, still going on the host, to its end (bounded by `timeout`,
    /// after which it is ended as a timed-out command is), its output to `sink`.
    async fn attach(
        &self,
        host: &Host,
        key: &RunKey,
        timeout: Duration,
        sink: &dyn Sink,
    ) -> Result<Output, TransportError> {
        match self.runs_dir() {
            Some(base) => runner::attach(self, host, key, base, timeout, sink).await,
            None => Err(TransportError::Other {
                host: host.name.clone(),
                detail: format!("the {} transport keeps no host-side runs to re-attach to", self.kind()),
            }),
        }
    }

    /// Removes the window's run records from the host (never one still going).
    async fn clean_runs(&self, host: &Host, window: &WindowKey) -> Result<(), TransportError> {
        match self.runs_dir() {
            Some(base) => runner::cleanup(self, host, window, base).await,
            None => Ok(()),
        }
    }
}

/// What to do to a host's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOp {
    /// Take it for `content` (a `lock::host::Holder::render`ed lock). `replacing`: the lock found
    /// there, to be replaced only if it is still exactly that (our own from before a crash,
    /// or a stale one people decided to break); `None`: only if there is none.
    Take { content: String, replacing: Option<String> },
    /// Remove it if it is this window's (same window, runbook and machine).
    Release { content: String },
    /// Say what it holds (nothing: unlocked).
    Read,
}
