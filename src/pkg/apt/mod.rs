//! The apt/dpkg backend.
//!
//! Reads through interfaces meant for machines (`dpkg-query -W -f`, `apt-get -s`,
//! `apt-cache policy`), always with `LC_ALL=C`, and never takes the dpkg lock to read.

pub mod commands;
pub mod parse;
pub mod probe;

/// The apt backend. Stateless: all state lives on the host.
#[derive(Debug, Clone, Copy, Default)]
pub struct Apt;
