//! Runs commands on this machine, with the same contract as the ssh transport.
//!
//! Used for `--local` drills and for the host patchdeck itself runs on. The script runs as
//! `sh -c <script>` with stdin from `/dev/null` (no command may wait for input during a
//! maintenance window), in a process group of its own so that a timeout kills the whole
//! pipeline it started, not only the shell.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::stream::{Discard, OutputCopy, Sink, Stream, human_bytes, pump};
use super::{Command, Output, Purpose, Transport, TransportError};
use crate::inventory::Host;

/// What `sudo -n` prints when it would need a password. Shared with the ssh transport.
pub(crate) const SUDO_NEEDS_PASSWORD: &str = "sudo: a password is required";

/// Runs commands on the local machine through `sh -c`.
#[derive(Debug, Clone)]
pub struct LocalTransport {
    /// Whether we already run as root; then `sudo` is never needed (and may not be installed).
    is_root: bool,
    /// Where each command's whole output is written (capped), besides the tail kept in
    /// memory: the directory beside the journal. `None`: only the tail is kept.
    output_dir: Option<PathBuf>,
    /// Numbers the output files of this process.
    files: Arc<AtomicU64>,
    /// Where detached commands keep their records ([`super::runner`]); `None`: they run
    /// as any other command.
    runs_dir: Option<String>,
}

/// Bytes of a command's output its file keeps (the first ones; the newest are the tail in
/// memory and the journal): a runaway step cannot fill the operator's disk.
pub const OUTPUT_FILE_CAP: u64 = 256 * 1024 * 1024;

impl Default for LocalTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalTransport {
    pub fn new() -> Self {
        Self { is_root: effective_uid() == Some(0), output_dir: None, files: Arc::default(), runs_dir: None }
    }

    /// Runs detached commands through the host-side runner, their records under `dir`.
    pub fn with_runs_dir(mut self, dir: impl Into<String>) -> Self {
        self.runs_dir = Some(dir.into());
        self
    }

    /// Also writes each command's whole output, up to [`OUTPUT_FILE_CAP`], to a file of its
    /// own in `dir` (created when first needed, private to the user).
    pub fn with_output_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.output_dir = Some(dir.into());
        self
    }

    fn output_file(&self) -> Option<OutputFile> {
        let dir = self.output_dir.as_ref()?;
        let n = self.files.fetch_add(1, Ordering::Relaxed) + 1;
        let name = format!("{}-{}-{n}.log", jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ"), std::process::id());
        Some(OutputFile { path: dir.join(name), cap: OUTPUT_FILE_CAP, state: Mutex::default() })
    }

    /// Builds the process for `cmd`: `sh -c script`, or `sudo -n sh -c script` when the
    /// command needs root, the host allows sudo and we are not root already.
    fn process(&self, host: &Host, cmd: &Command) -> (tokio::process::Command, bool) {
        let use_sudo = cmd.needs_root && host.sudo && !self.is_root;
        let mut p = if use_sudo {
            let mut p = tokio::process::Command::new("sudo");
            p.arg("-n").arg("sh");
            p
        } else {
            tokio::process::Command::new("sh")
        };
        p.arg("-c")
            .arg(&cmd.script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A new process group (pgid = the child's pid) so a timeout can kill everything the
            // script started; kill_on_drop covers a cancelled `exec` future.
            .process_group(0)
            .kill_on_drop(true);
        (p, use_sudo)
    }
}

#[async_trait]
impl Transport for LocalTransport {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn exec(&self, host: &Host, cmd: &Command) -> Result<Output, TransportError> {
        self.exec_streaming(host, cmd, &Discard).await
    }

    async fn exec_streaming(&self, host: &Host, cmd: &Command, sink: &dyn Sink) -> Result<Output, TransportError> {
        if let (Some(key), Some(base)) = (&cmd.detached, &self.runs_dir) {
            return super::runner::exec(self, host, cmd, key, base, sink).await;
        }
        let started = log_start(self.kind(), host, cmd);
        let result = self.run(host, cmd, sink).await;
        log_end(self.kind(), host, cmd, started, &result);
        result
    }

    async fn close(&self) {}

    fn runs_dir(&self) -> Option<&str> {
        self.runs_dir.as_deref()
    }
}

impl LocalTransport {
    async fn run(&self, host: &Host, cmd: &Command, sink: &dyn Sink) -> Result<Output, TransportError> {
        let (mut process, used_sudo) = self.process(host, cmd);
        let mut child = process
            .spawn()
            .map_err(|e| TransportError::Other { host: host.name.clone(), detail: format!("cannot start sh: {e}") })?;
        let pgid = child.id();
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let file = self.output_file();
        let copy = file.as_ref().map(|f| f as &dyn OutputCopy);
        let run = async {
            // Both pipes at once, so a command filling one while we read the other never blocks.
            let keep = cmd.purpose.kept_bytes();
            let (out, err) = tokio::join!(
                pump(stdout.as_mut(), Stream::Stdout, sink, keep, copy),
                pump(stderr.as_mut(), Stream::Stderr, sink, keep, copy)
            );
            let status = child.wait().await;
            (out, err, status)
        };
        let (out, err, status) = match tokio::time::timeout(cmd.timeout, run).await {
            Ok(done) => done,
            Err(_) => {
                // The shell is still our un-reaped child here, so its pid (= the group id)
                // cannot have been reused: killing the group hits only what the script started.
                if let Some(pgid) = pgid {
                    kill_process_group(pgid).await;
                }
                let _ = child.kill().await;
                return Err(TransportError::Timeout {
                    host: host.name.clone(),
                    after: cmd.timeout,
                    what: first_line(&cmd.script),
                });
            }
        };
        let status = status.map_err(|e| TransportError::Other { host: host.name.clone(), detail: e.to_string() })?;
        let ((stdout, stdout_cut), (stderr, stderr_cut)) = (out, err);
        let saved_to = file.and_then(OutputFile::finish);
        let output = Output { status: status.code(), stdout, stderr, stdout_cut, stderr_cut, saved_to };
        if used_sudo && output.status == Some(1) && output.stderr_lossy().contains(SUDO_NEEDS_PASSWORD) {
            return Err(TransportError::SudoRefused { host: host.name.clone(), detail: SUDO_NEEDS_PASSWORD.into() });
        }
        Ok(output)
    }
}

/// A command's whole output as a file: both streams as they were read, the first `cap`
/// bytes of them, then a line saying how much more there was.
struct OutputFile {
    path: PathBuf,
    cap: u64,
    state: Mutex<FileState>,
}

#[derive(Default)]
struct FileState {
    file: Option<std::fs::File>,
    written: u64,
    over: u64,
    /// It could not be created or written: the tail in memory is all there is.
    failed: bool,
}

impl OutputCopy for OutputFile {
    fn write(&self, _: Stream, bytes: &[u8]) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.failed {
            return;
        }
        let room = self.cap.saturating_sub(st.written).min(bytes.len() as u64) as usize;
        st.over += (bytes.len() - room) as u64;
        if room == 0 {
            return;
        }
        if st.file.is_none() {
            match create_private(&self.path) {
                Ok(f) => st.file = Some(f),
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), "cannot keep the whole output: {e}");
                    st.failed = true;
                    return;
                }
            }
        }
        let wrote = st.file.as_mut().map(|f| f.write_all(&bytes[..room]));
        match wrote {
            Some(Ok(())) => st.written += room as u64,
            Some(Err(e)) => {
                tracing::warn!(path = %self.path.display(), "cannot write the whole output: {e}");
                st.failed = true;
            }
            None => {}
        }
    }
}

impl OutputFile {
    /// Closes the file, saying what it left out; its path if it holds anything.
    fn finish(self) -> Option<PathBuf> {
        let mut st = self.state.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut file = st.file.take()?;
        if st.over > 0 {
            let note = format!(
                "\n[patchdeck: {} more output not written here: this file keeps the first {}]\n",
                human_bytes(st.over),
                human_bytes(self.cap)
            );
            let _ = file.write_all(note.as_bytes());
        }
        Some(self.path)
    }
}

/// Creates `path` for the user alone (its directory too): a step's output may hold secrets.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

/// What a command is for, in the log's words.
pub(crate) fn purpose_label(purpose: &Purpose) -> &'static str {
    match purpose {
        Purpose::Shell => "runbook command",
        Purpose::Probe { .. } => "probe",
        Purpose::Install => "install",
        Purpose::Restore => "restore",
        Purpose::Reboot => "reboot",
        Purpose::HostLock(_) => "host lock",
        Purpose::ReadFile { .. } => "file read",
        Purpose::SudoCheck => "sudo check",
    }
}

/// Logs a command as it starts (`--log`): which transport, host, purpose and command. The
/// whole script goes to the `trace` level. Shared with the ssh transport.
pub(crate) fn log_start(transport: &str, host: &Host, cmd: &Command) -> std::time::Instant {
    tracing::info!(
        transport,
        host = %host.name,
        address = %host.address,
        purpose = purpose_label(&cmd.purpose),
        command = %first_line(&cmd.script),
        as_root = cmd.needs_root && host.sudo,
        timeout_secs = cmd.timeout.as_secs(),
        "command started"
    );
    tracing::trace!(transport, host = %host.name, script = %crate::safe_text::for_terminal(&cmd.script), "command script");
    std::time::Instant::now()
}

/// Logs how a command ended: its exit status and output sizes, or the error, with its duration.
pub(crate) fn log_end(
    transport: &str,
    host: &Host,
    cmd: &Command,
    started: std::time::Instant,
    result: &Result<Output, TransportError>,
) {
    let millis = started.elapsed().as_millis() as u64;
    let purpose = purpose_label(&cmd.purpose);
    match result {
        Ok(out) => tracing::info!(
            transport,
            host = %host.name,
            purpose,
            millis,
            status = ?out.status,
            stdout_bytes = out.stdout.len(),
            stderr_bytes = out.stderr.len(),
            "command finished"
        ),
        Err(e) => tracing::warn!(transport, host = %host.name, purpose, millis, error = %e, "command failed"),
    }
}

/// SIGKILLs a whole process group. std has no killpg and the crate does not depend on libc,
/// so this uses the POSIX `kill` utility; a timeout is rare enough for one extra process.
async fn kill_process_group(pgid: u32) {
    let killed = tokio::process::Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match tokio::time::timeout(Duration::from_secs(5), killed).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!("could not kill process group {pgid}: {e}"),
        Err(_) => tracing::warn!("`kill` of process group {pgid} did not finish"),
    }
}

/// The effective uid of this process, from `/proc/self/status` (Linux). `None` when it
/// cannot be read, in which case `sudo -n` is used when asked for.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// A short description of a script for timeout messages: its first line, cut to 80 chars.
pub(crate) fn first_line(script: &str) -> String {
    let line = script.trim().lines().next().unwrap_or("");
    let mut s: String = line.chars().take(80).collect();
    if s.len() < line.len() || script.trim().lines().nth(1).is_some() {
        s.push_str(" ...");
    }
    crate::safe_text::for_terminal(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_is_short_and_safe() {
        assert_eq!(first_line("sleep 30"), "sleep 30");
        assert_eq!(first_line("a\nb"), "a ...");
        assert_eq!(first_line("\x1b[2J"), "\\u{1b}[2J");
    }

    /// Set in the child process of the test below.
    const LOG_CHILD: &str = "PATCHDECK_LOCAL_LOG_CHILD";

    /// Runs in a child process of its own: tracing caches per callsite whether anyone
    /// listens, so a subscriber set in one test thread may miss events that other test
    /// threads' commands already decided nobody wanted.
    #[test]
    fn every_command_is_logged_with_host_purpose_status_and_duration() {
        if std::env::var_os(LOG_CHILD).is_some() {
            tracing_subscriber::fmt().with_writer(std::io::stdout).with_ansi(false).init();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let (t, host) = (LocalTransport::new(), Host::named("web1"));
                let _ = t.exec(&host, &Command::shell("echo hi; exit 3", Duration::from_secs(10))).await;
                let _ = t.exec(&host, &Command::shell("sleep 5", Duration::from_millis(100))).await;
            });
            return;
        }
        let this = "transport::local::tests::every_command_is_logged_with_host_purpose_status_and_duration";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([this, "--exact", "--nocapture", "--test-threads=1"])
            .env(LOG_CHILD, "1")
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = log.lines().filter(|l| l.contains("patchdeck::transport::local")).collect();
        assert_eq!(lines.len(), 4, "{log}");
        for (line, words) in lines.iter().zip([
            &["command started", "transport=\"local\"", "host=web1", "runbook command", "command=echo hi; exit 3"][..],
            &["command finished", "host=web1", "millis=", "status=Some(3)", "stdout_bytes=3"][..],
            &["command started", "command=sleep 5"][..],
            &["WARN", "command failed", "host=web1", "millis=", "no answer within 100ms"][..],
        ]) {
            for w in words {
                assert!(line.contains(w), "{w:?} missing from {line}");
            }
        }
    }

    #[test]
    fn reads_own_uid() {
        assert!(effective_uid().is_some());
    }
}
