//! Shared test fixtures (real sshd on loopback, temp dirs).

pub mod demo;
pub mod fleet;
pub mod require;
pub mod sshd;
pub mod window;
