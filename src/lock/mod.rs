//! Locks that keep two windows apart: [`host`] on every host a window changes (a file on
//! the host, through the transport), and [`run`] on the operator's machine (one `run` of a
//! window at a time, whatever `--journal` says).

pub mod host;
pub mod run;
