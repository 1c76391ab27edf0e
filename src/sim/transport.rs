//! The simulated transport: commands are answered by the in-memory [`Fleet`], with
//! plausible delays scaled by the fleet's speed. Used by the demo, tests and drills. Output
//! streams: a command's lines arrive in a few pieces over its simulated duration.
//!
//! Install and restore commands run their SCRIPT through the host's package manager as
//! the simulator plays it ([`SimManager`]): what the backend wrote is what happens, and a
//! script the simulator does not understand is an error, never a success.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{FaultEffect, Fleet, HostState, Ran, SimManager};
use crate::inventory::Host;
use crate::transport::stream::{self, Discard, Sink, replay};
use crate::transport::{Command, LockOp, OPERATOR_HOST, Output, Purpose, Transport, TransportError};

/// Answers commands from a simulated fleet. Hosts are found by name, then by address.
#[derive(Clone)]
pub struct SimTransport {
    pub fleet: Fleet,
    /// The package managers it can play (apt by default).
    managers: Vec<Arc<dyn SimManager>>,
}

impl std::fmt::Debug for SimTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let managers: Vec<&str> = self.managers.iter().map(|m| m.name()).collect();
        f.debug_struct("SimTransport").field("fleet", &self.fleet).field("managers", &managers).finish()
    }
}

impl SimTransport {
    pub fn new(fleet: Fleet) -> Self {
        Self { fleet, managers: crate::sim::standard() }
    }

    /// Also plays `manager` (hosts whose `manager` names it).
    pub fn with_manager(mut self, manager: Arc<dyn SimManager>) -> Self {
        self.managers.push(manager);
        self
    }
}

fn ok(stdout: String) -> Output {
    Output::whole(Some(0), stdout.into_bytes(), Vec::new())
}

fn failed(status: i32, stderr: String) -> Output {
    Output::whole(Some(status), Vec::new(), stderr.into_bytes())
}

/// How many pieces a simulated command's output arrives in, spread over its duration.
const PIECES: u32 = 4;

#[async_trait]
impl Transport for SimTransport {
    fn kind(&self) -> &'static str {
        "simulated"
    }

    async fn exec(&self, host: &Host, cmd: &Command) -> Result<Output, TransportError> {
        self.exec_streaming(host, cmd, &Discard).await
    }

    async fn exec_streaming(&self, host: &Host, cmd: &Command, sink: &dyn Sink) -> Result<Output, TransportError> {
        // Like a real transport, only the tail of what the host printed is kept.
        let out = self.answer_streaming(host, cmd, sink).await?;
        Ok(out.keep_tail(cmd.purpose.kept_bytes()))
    }

    async fn close(&self) {}
}

impl SimTransport {
    async fn answer_streaming(&self, host: &Host, cmd: &Command, sink: &dyn Sink) -> Result<Output, TransportError> {
        // `local` steps: the operator's machine is simulated too, and always answers.
        if host.name == OPERATOR_HOST {
            self.fleet.pause(Duration::from_millis(200)).await;
            return Ok(ok(String::new()));
        }
        let fault = self.fleet.with_host(&host.name, |h| h.take_fault(&cmd.script)).flatten();
        match fault {
            Some(FaultEffect::Unreachable) => {
                self.fleet.with_host(&host.name, |h| h.reachable = false);
            }
            Some(FaultEffect::Hang) => {
                tokio::time::sleep(cmd.timeout).await;
                return Err(TransportError::Timeout {
                    host: host.name.clone(),
                    after: cmd.timeout,
                    what: "the command did not finish".into(),
                });
            }
            Some(FaultEffect::Exit(code)) => {
                self.fleet.pause(Duration::from_millis(300)).await;
                let out = failed(code, format!("simulated failure (exit {code})\n"));
                replay(&out, sink);
                return Ok(out);
            }
            Some(FaultEffect::KeepVersion(_))
            | Some(FaultEffect::ExitAfter(_))
            | Some(FaultEffect::Interrupt(_))
            | None => {}
        }
        let keep = match &fault {
            Some(FaultEffect::KeepVersion(p)) => Some(p.clone()),
            _ => None,
        };
        let reachable = self
            .fleet
            .with_host(&host.name, |h| h.reachable)
            .or_else(|| self.fleet.with_host(&host.address, |h| h.reachable));
        let key = match reachable {
            None => {
                return Err(TransportError::Unreachable {
                    host: host.name.clone(),
                    detail: format!("ssh: Could not resolve hostname {}: Name or service not known", host.address),
                });
            }
            Some(false) => {
                self.fleet.pause(Duration::from_secs(2).min(cmd.timeout)).await;
                return Err(TransportError::Unreachable {
                    host: host.name.clone(),
                    detail: format!("ssh: connect to host {} port 22: Connection timed out", host.address),
                });
            }
            Some(true) if self.fleet.with_host(&host.name, |_| ()).is_some() => host.name.clone(),
            Some(true) => host.address.clone(),
        };
        let base = match &cmd.purpose {
            Purpose::Probe { .. } => Duration::from_millis(350),
            Purpose::Install | Purpose::Restore => Duration::from_secs(3),
            Purpose::Reboot => Duration::from_secs(5),
            Purpose::Shell | Purpose::HostLock(_) | Purpose::ReadFile { .. } | Purpose::SudoCheck => {
                Duration::from_millis(300)
            }
        };
        let answer = |h: &mut HostState| {
            answer(h, cmd, keep.as_deref(), &self.managers).map_err(|detail| TransportError::Other {
                host: host.name.clone(),
                detail: format!("the simulated host cannot run this command: {detail}"),
            })
        };
        if self.fleet.speed > 0.0 && sink.wants_lines() {
            // The host changes only when the command ends, as before; meanwhile its output is
            // shown in pieces, answered from a copy so that nothing changes early.
            let preview = self.fleet.with_host(&key, |h| answer(&mut h.clone())).transpose()?;
            let lines = preview.as_ref().map(stream::lines).unwrap_or_default();
            let n = lines.len();
            let mut lines = lines.into_iter();
            for piece in 0..PIECES as usize {
                self.fleet.pause(base / PIECES).await;
                let upto = (piece + 1) * n / PIECES as usize - piece * n / PIECES as usize;
                lines.by_ref().take(upto).for_each(|l| sink.line(l));
            }
            let out = self.fleet.with_host(&key, answer).expect("host checked above")?;
            return Ok(self.interrupted(&key, exit_after(out, &fault, sink), &fault, sink));
        }
        let out = self.fleet.with_host(&key, answer).expect("host checked above")?;
        replay(&out, sink);
        Ok(self.interrupted(&key, exit_after(out, &fault, sink), &fault, sink))
    }
}

impl SimTransport {
    /// An `interrupt` fault: the command's changes landed, then dpkg died configuring the
    /// package, leaving it half-configured and its journal unmerged.
    fn interrupted(&self, key: &str, mut out: Output, fault: &Option<FaultEffect>, sink: &dyn Sink) -> Output {
        let Some(FaultEffect::Interrupt(pkg)) = fault else { return out };
        self.fleet.with_host(key, |h| {
            h.unfinished.insert(pkg.clone(), "iF".into());
            h.dpkg_interrupted = true;
        });
        let msg = "E: Sub-process /usr/bin/dpkg received a signal (9).\n".to_string();
        replay(
            &Output { status: None, stdout: Vec::new(), stderr: msg.clone().into_bytes(), ..Default::default() },
            sink,
        );
        out.status = Some(100);
        out.stderr.extend_from_slice(msg.as_bytes());
        out
    }
}

/// An `exit_after` fault: the command's changes landed, then it failed.
fn exit_after(mut out: Output, fault: &Option<FaultEffect>, sink: &dyn Sink) -> Output {
    if let Some(FaultEffect::ExitAfter(code)) = fault
        && out.status == Some(0)
    {
        let msg =
            format!("dpkg: error processing package (--configure): subprocess returned error exit status {code}\n");
        replay(&Output::whole(None, Vec::new(), msg.clone().into_bytes()), sink);
        out.status = Some(*code);
        out.stderr.extend_from_slice(msg.as_bytes());
    }
    out
}

/// What the simulated host answers to `cmd`, changing its state as the command would.
/// `Err`: the host runs a package manager the simulator cannot play, or the script is not
/// one its manager understands.
fn answer(
    h: &mut HostState,
    cmd: &Command,
    keep: Option<&str>,
    managers: &[Arc<dyn SimManager>],
) -> Result<Output, String> {
    if let Purpose::HostLock(op) = &cmd.purpose {
        // Not in the history: tests and drills read it for what the window did to the host.
        return Ok(lock_answer(h, op));
    }
    if let Purpose::ReadFile { path } = &cmd.purpose {
        // Read-only: not in the history either.
        return Ok(read_answer(h, path));
    }
    h.history.push(cmd.script.clone());
    match &cmd.purpose {
        Purpose::Probe { fingerprints } => crate::sim::probe::output(h, managers, &cmd.script, fingerprints).map(ok),
        Purpose::Install | Purpose::Restore => {
            let manager = managers
                .iter()
                .find(|m| m.name() == h.manager)
                .ok_or_else(|| format!("the simulator cannot play package manager `{}`", h.manager))?;
            let Ran { status, stdout, stderr } = manager.run(h, &cmd.script, keep)?;
            Ok(Output::whole(Some(status), stdout.into_bytes(), stderr.into_bytes()))
        }
        Purpose::Reboot => {
            h.reboot_required = false;
            Ok(ok(String::new()))
        }
        Purpose::HostLock(op) => Ok(lock_answer(h, op)),
        Purpose::ReadFile { path } => Ok(read_answer(h, path)),
        // The simulated hosts' sudo works and finds every program.
        Purpose::SudoCheck => {
            Ok(ok("works\nsecurepath /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n".into()))
        }
        // An on-host check is its command behind the PATH line ([`crate::health::on_host_check`]).
        Purpose::Shell => {
            match h.commands.get(cmd.script.strip_prefix(crate::health::SBIN_ON_PATH).unwrap_or(&cmd.script).trim()) {
                Some(out) => Ok(ok(format!("{out}\n"))),
                None => Ok(ok(String::new())),
            }
        }
    }
}

/// A file as the read script ([`crate::drift::fetch`]) would print it. The simulated
/// hosts' files are all world-readable; a NUL makes one binary.
fn read_answer(h: &HostState, path: &str) -> Output {
    use crate::drift::fetch::{MAX_BYTES, REFUSED};
    let refuse = |why: &str| Output::whole(Some(REFUSED), format!("{why}\n").into_bytes(), Vec::new());
    match h.files.get(path) {
        None => refuse("not_a_file"),
        Some(c) if c.len() > MAX_BYTES => refuse("too_big"),
        Some(c) if c.contains('\0') => refuse("not_text"),
        Some(c) => ok(c.clone()),
    }
}

/// The host's lock file as the lock script would leave it (see [`crate::lock::host`]).
fn lock_answer(h: &mut HostState, op: &LockOp) -> Output {
    match op {
        LockOp::Read => ok(h.lock.clone().unwrap_or_default()),
        LockOp::Take { content, replacing } => {
            if h.lock.is_none() || (replacing.is_some() && h.lock == *replacing) {
                h.lock = Some(content.clone());
                ok(String::new())
            } else {
                Output::whole(Some(3), h.lock.clone().unwrap_or_default().into_bytes(), Vec::new())
            }
        }
        LockOp::Release { content } => {
            let ours = crate::lock::host::Holder::parse(content);
            let held = h.lock.as_deref().and_then(crate::lock::host::Holder::parse);
            if let (Some(ours), Some(held)) = (ours, held)
                && ours.same_run(&held)
            {
                h.lock = None;
            }
            ok(String::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::pkg::apt::Apt;
    use crate::pkg::{PackageManager, PkgName, Version};
    use crate::sim::RepoVersion;
    use crate::transport::OutputLine;

    fn fleet(speed: f64) -> Fleet {
        let mut h = HostState { name: "web1".into(), reachable: true, healthy: true, ..Default::default() };
        for p in ["curl", "nginx", "openssl"] {
            h.installed.insert(p.into(), "1".into());
            h.repo.push(RepoVersion { name: p.into(), version: "2".into(), origin: "o".into(), pulled_in_by: None });
        }
        Fleet::from_hosts([h]).with_speed(speed)
    }

    fn install() -> Command {
        let packages = ["curl", "nginx", "openssl"].map(|p| (PkgName::parse(p).unwrap(), Version::parse("2").unwrap()));
        Apt.install_exact(&packages, Duration::from_secs(60))
    }

    /// Each line as it arrives, with the host's nginx version at that moment.
    async fn streamed(fleet: &Fleet) -> (Output, Vec<(String, String)>) {
        let t = SimTransport::new(fleet.clone());
        let seen = Mutex::new(Vec::new());
        let sink = |l: OutputLine| {
            let nginx = fleet.with_host("web1", |h| h.installed["nginx"].clone()).unwrap();
            seen.lock().unwrap().push((l.text, nginx));
        };
        let out = t.exec_streaming(&Host::named("web1"), &install(), &sink).await.unwrap();
        (out, seen.into_inner().unwrap())
    }

    #[tokio::test]
    async fn output_streams_while_the_simulated_command_runs_and_the_host_changes_at_its_end() {
        let f = fleet(0.01);
        let (out, seen) = streamed(&f).await;
        assert_eq!(seen.len(), 9, "three lines per package: {seen:?}");
        assert!(seen.iter().all(|(_, v)| v == "1"), "every line arrives before the host changes: {seen:?}");
        let text: Vec<&str> = seen.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(text.join("\n") + "\n", out.stdout_lossy(), "the lines are the output");
        assert_eq!(f.with_host("web1", |h| h.installed["nginx"].clone()).unwrap(), "2");
    }

    #[tokio::test]
    async fn a_file_is_read_from_the_model_and_refused_as_the_read_script_would() {
        use crate::drift::fetch::{Fetched, MAX_BYTES, Refusal, fetch};
        let f = fleet(0.0);
        f.with_host("web1", |h| {
            h.files.insert("/etc/hosts".into(), "127.0.0.1 localhost\n".into());
            h.files.insert("/etc/blob".into(), "a\0b".into());
            h.files.insert("/etc/huge".into(), "x".repeat(MAX_BYTES + 1));
        })
        .unwrap();
        let t = SimTransport::new(f.clone());
        let hosts = [Host::named("web1")];
        let read = |p: &'static str| fetch(&t, &hosts, "web1", p);
        assert_eq!(read("/etc/hosts").await, Fetched::Text("127.0.0.1 localhost\n".into()));
        assert_eq!(read("/etc/blob").await, Fetched::Refused(Refusal::NotText));
        assert_eq!(read("/etc/huge").await, Fetched::Refused(Refusal::TooBig));
        assert_eq!(read("/etc/none").await, Fetched::Refused(Refusal::NotAFile));
        assert_eq!(
            fetch(&t, &hosts, "staging", "/etc/hosts").await,
            Fetched::Refused(Refusal::UnknownHost("staging".into()))
        );
        assert!(f.with_host("web1", |h| h.history.is_empty()).unwrap(), "a read is not something done to the host");
    }

    #[tokio::test]
    async fn without_delays_the_output_is_given_at_the_end() {
        let f = fleet(0.0);
        let (out, seen) = streamed(&f).await;
        assert_eq!(seen.len(), 9);
        assert!(seen.iter().all(|(_, v)| v == "2"), "the instant fleet answers first, then streams");
        assert!(out.success());
    }

    #[tokio::test]
    async fn a_package_script_the_simulator_does_not_understand_is_an_error_not_a_success() {
        let f = fleet(0.0);
        let t = SimTransport::new(f.clone());
        let odd = Command { script: "apt-get dist-upgrade -y\n".into(), ..install() };
        let err = t.exec(&Host::named("web1"), &odd).await.unwrap_err();
        assert!(matches!(err, TransportError::Other { .. }), "{err:?}");
        assert!(err.to_string().contains("cannot run this command: line 1: apt-get dist-upgrade -y"), "{err}");
        assert_eq!(f.with_host("web1", |h| h.installed["nginx"].clone()).unwrap(), "1", "nothing changed");
        // A host running a manager the simulator cannot play: no answer is made up.
        f.with_host("web1", |h| h.manager = "dnf".into());
        for cmd in [install(), crate::probe::command(crate::pkg::Managers::standard(), &[], Duration::from_secs(5))] {
            let err = t.exec(&Host::named("web1"), &cmd).await.unwrap_err();
            assert!(err.to_string().contains("cannot play package manager `dnf`"), "{err}");
        }
    }
}
