//! The one integration-test binary (ripgrep style): one module per area.
mod support;

mod apt;
mod check;
mod check_ssh;
mod inventory;
mod journal;
mod runbook;
mod transport;
