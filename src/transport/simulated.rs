//! The simulated transport: commands are answered by the in-memory [`Fleet`], with
//! plausible delays scaled by the fleet's speed. Used by the demo, tests and drills.

use std::time::Duration;

use async_trait::async_trait;

use super::{Command, Output, Purpose, Transport, TransportError};
use crate::inventory::Host;
use crate::sim::{FaultEffect, Fleet, apt_output};

/// Answers commands from a simulated fleet. Hosts are found by name, then by address.
#[derive(Debug, Clone)]
pub struct SimTransport {
    pub fleet: Fleet,
}

impl SimTransport {
    pub fn new(fleet: Fleet) -> Self {
        Self { fleet }
    }
}

fn ok(stdout: String) -> Output {
    Output { status: Some(0), stdout: stdout.into_bytes(), stderr: Vec::new() }
}

fn failed(status: i32, stderr: String) -> Output {
    Output { status: Some(status), stdout: Vec::new(), stderr: stderr.into_bytes() }
}

#[async_trait]
impl Transport for SimTransport {
    fn kind(&self) -> &'static str {
        "simulated"
    }

    async fn exec(&self, host: &Host, cmd: &Command) -> Result<Output, TransportError> {
        // `local` steps: the operator's machine is simulated too, and always answers.
        if host.name == crate::engine::run::OPERATOR_HOST {
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
                return Ok(failed(code, format!("simulated failure (exit {code})\n")));
            }
            Some(FaultEffect::KeepVersion(_)) | Some(FaultEffect::ExitAfter(_)) | None => {}
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
            Purpose::Install { .. } | Purpose::Restore { .. } => Duration::from_secs(3),
            Purpose::Reboot => Duration::from_secs(5),
            Purpose::Shell => Duration::from_millis(300),
        };
        self.fleet.pause(base).await;
        let out = self
            .fleet
            .with_host(&key, |h| {
                h.history.push(cmd.script.clone());
                match &cmd.purpose {
                    Purpose::Probe { fingerprints } => ok(apt_output::probe(h, fingerprints)),
                    Purpose::Install { packages } => {
                        let mut log = String::new();
                        for (name, version) in packages {
                            if !h.installable(name).iter().any(|(v, _)| v == version) {
                                return failed(100, format!("E: Version '{version}' for '{name}' was not found\n"));
                            }
                        }
                        for (name, version) in packages {
                            let from = h.installed.insert(name.clone(), version.clone());
                            log.push_str(&format!(
                                "Preparing to unpack .../{name}_{version}_amd64.deb ...\nUnpacking {name} ({version}) over ({}) ...\nSetting up {name} ({version}) ...\n",
                                from.unwrap_or_default()
                            ));
                        }
                        if h.breaks_after_update {
                            h.healthy = false;
                        }
                        ok(log)
                    }
                    Purpose::Restore { packages } => {
                        let mut log = String::new();
                        for (name, version) in packages {
                            match version {
                                Some(_) if keep.as_deref() == Some(name.as_str()) => {}
                                Some(v) if h.installable(name).iter().any(|(iv, _)| iv == v) => {
                                    h.installed.insert(name.clone(), v.clone());
                                    log.push_str(&format!("Setting up {name} ({v}) ...\n"));
                                }
                                Some(v) => return failed(100, format!("E: Version '{v}' for '{name}' was not found\n")),
                                None => {
                                    h.installed.remove(name);
                                    log.push_str(&format!("Removing {name} ...\n"));
                                }
                            }
                        }
                        if h.breaks_after_update {
                            h.healthy = true;
                        }
                        ok(log)
                    }
                    Purpose::Reboot => {
                        h.reboot_required = false;
                        ok(String::new())
                    }
                    Purpose::Shell => match h.commands.get(cmd.script.trim()) {
                        Some(out) => ok(format!("{out}\n")),
                        None => ok(String::new()),
                    },
                }
            })
            .expect("host checked above");
        match fault {
            Some(FaultEffect::ExitAfter(code)) if out.status == Some(0) => {
                let mut out = out;
                out.status = Some(code);
                out.stderr.extend_from_slice(
                    format!(
                        "dpkg: error processing package (--configure): subprocess returned error exit status {code}\n"
                    )
                    .as_bytes(),
                );
                Ok(out)
            }
            _ => Ok(out),
        }
    }

    async fn close(&self) {}
}
