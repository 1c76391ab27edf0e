//! The one integration-test binary (ripgrep style): one module per area.
mod support;

mod apt;
mod check;
mod check_ssh;
mod fleet;
mod inventory;
mod runbook;
mod transport;
