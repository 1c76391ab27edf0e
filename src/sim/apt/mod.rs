//! apt as the simulator plays it: [`output`] prints apt's probe sections from a host's
//! state, [`script`] runs the install and restore scripts the apt backend writes.

pub mod output;
pub mod script;

use super::{HostState, Ran, SimManager};
use crate::pkg::VersionScheme;
use crate::pkg::apt::Debian;

/// The simulated apt.
#[derive(Debug, Clone, Copy, Default)]
pub struct AptSim;

impl SimManager for AptSim {
    fn name(&self) -> &'static str {
        "apt"
    }
    fn scheme(&self) -> &dyn VersionScheme {
        &Debian
    }
    fn probe(&self, h: &HostState) -> String {
        output::probe(h)
    }
    fn run(&self, h: &mut HostState, script: &str, keep: Option<&str>) -> Result<Ran, String> {
        script::run(h, script, keep)
    }
}
