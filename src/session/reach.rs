//! How a window reaches its fleet: real hosts over ssh (with this machine for `local`
//! steps), or a simulated fleet (the demo, tests, drills).

use std::path::{Path, PathBuf};
use std::time::Duration;

use eyre::WrapErr;

use crate::diag::SourceFile;
use crate::health::{NetProber, Prober};
use crate::runbook::Runbook;
use crate::sim::SimTransport;
use crate::sim::{self, SimProber};
use crate::transport::Transport;

/// The operator's choices about reaching hosts (the command line's global options).
#[derive(Debug, Clone, Default)]
pub struct ReachOptions {
    /// Answer from this simulated fleet instead of real hosts.
    pub simulate: Option<PathBuf>,
    /// Scales the simulated fleet's delays (default 0.2).
    pub sim_speed: Option<f64>,
    pub connect_timeout: Duration,
    pub ssh_config: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub identity: Option<PathBuf>,
    /// Where `local` steps write their whole output (capped), beside the journal; `None`:
    /// only its tail is kept.
    pub local_output: Option<PathBuf>,
}

/// Where the whole output of a window's `local` steps goes: a directory beside its journal
/// (`<journal>.output/`).
pub fn local_output_dir(journal: &Path) -> PathBuf {
    let mut name = journal.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "journal".into());
    name.push(".output");
    journal.with_file_name(name)
}

/// A transport plus the operator-side prober that go together.
pub struct Reach {
    pub transport: Box<dyn Transport>,
    pub prober: Box<dyn Prober>,
    /// Runs `local` steps: this machine, or the simulation's stand-in for it.
    pub local: Box<dyn Transport>,
}

impl Reach {
    /// A simulated fleet from a fleet file.
    pub fn simulated(fleet_file: &Path, speed: f64) -> eyre::Result<Self> {
        let src = SourceFile::read(fleet_file)?;
        Ok(Self::of_fleet(sim::Fleet::from_toml(&src)?.with_speed(speed)))
    }

    /// A simulated fleet already in memory.
    pub fn of_fleet(fleet: sim::Fleet) -> Self {
        Self {
            transport: Box::new(SimTransport::new(fleet.clone())),
            local: Box::new(SimTransport::new(fleet.clone())),
            prober: Box::new(SimProber(fleet)),
        }
    }

    /// Real hosts over ssh (or the simulation when `simulate` is given).
    pub fn for_runbook(opts: &ReachOptions, runbook: &Runbook) -> eyre::Result<Self> {
        if let Some(fleet) = &opts.simulate {
            return Self::simulated(fleet, opts.sim_speed.unwrap_or(0.2));
        }
        let mut ssh = crate::transport::ssh::SshOptions { connect_timeout: opts.connect_timeout, ..Default::default() };
        ssh.config_file = opts.ssh_config.clone().or_else(|| runbook.ssh_config.clone());
        ssh.user_known_hosts_file = opts.known_hosts.clone();
        ssh.identity_file = opts.identity.clone();
        // Checks from this machine go where ssh goes: the same ssh_config resolves aliases.
        let prober = NetProber::new(ssh.config_file.clone());
        let transport = crate::transport::ssh::SshTransport::new(ssh).wrap_err("cannot prepare ssh")?;
        Ok(Self {
            transport: Box::new(transport),
            prober: Box::new(prober),
            local: Box::new(match &opts.local_output {
                Some(dir) => crate::transport::local::LocalTransport::new().with_output_dir(dir),
                None => crate::transport::local::LocalTransport::new(),
            }),
        })
    }
}
