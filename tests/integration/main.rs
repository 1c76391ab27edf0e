//! The one integration-test binary (ripgrep style): one module per area.
mod support;

mod apt;
mod check;
mod check_ssh;
mod cli;
mod control;
mod drill;
mod engine;
mod engine_runs;
mod fleet;
mod fleet_faults;
mod fleet_reach;
mod fuzz;
mod inventory;
mod journal;
mod model;
mod report;
mod run_cli;
mod runbook;
mod runner_ssh;
mod transport;
mod tui;
mod tui_tmux;
