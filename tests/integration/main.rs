//! The one integration-test binary (ripgrep style): one module per area.
mod support;

mod apt;
mod inventory;
mod runbook;
mod transport;
