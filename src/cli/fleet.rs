//! Chooses how to reach the fleet for a command: real ssh, or a simulated fleet.

use std::path::Path;
use std::time::Duration;

use eyre::WrapErr;

use super::args::Global;
use crate::diag::SourceFile;
use crate::health::{NetProber, Prober};
use crate::runbook::Runbook;
use crate::sim::{self, SimProber};
use crate::transport::Transport;
use crate::transport::simulated::SimTransport;

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
        let fleet = sim::Fleet::from_toml(&src)?.with_speed(speed);
        Ok(Self {
            transport: Box::new(SimTransport::new(fleet.clone())),
            local: Box::new(SimTransport::new(fleet.clone())),
            prober: Box::new(SimProber(fleet)),
        })
    }

    /// Real hosts over ssh (or the simulation when `--simulate` is given).
    pub fn for_runbook(global: &Global, runbook: &Runbook) -> eyre::Result<Self> {
        if let Some(fleet) = &global.simulate {
            return Self::simulated(fleet, global.sim_speed.unwrap_or(0.2));
        }
        let mut opts = crate::transport::ssh::SshOptions {
            connect_timeout: Duration::from_secs(global.connect_timeout),
            ..Default::default()
        };
        opts.config_file = global.ssh_config.clone().or_else(|| runbook.ssh_config.clone());
        opts.user_known_hosts_file = global.known_hosts.clone();
        opts.identity_file = global.identity.clone();
        // Checks from this machine go where ssh goes: the same ssh_config resolves aliases.
        let prober = NetProber::new(opts.config_file.clone());
        let transport = crate::transport::ssh::SshTransport::new(opts).wrap_err("cannot prepare ssh")?;
        Ok(Self {
            transport: Box::new(transport),
            prober: Box::new(prober),
            local: Box::new(crate::transport::local::LocalTransport::new()),
        })
    }
}
