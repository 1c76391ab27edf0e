//! The one integration-test binary (ripgrep style): one module per area.
mod support;

mod apt;
mod check;
mod check_ssh;
mod cli;
mod engine;
mod inventory;
mod report;
mod runbook;
mod transport;
