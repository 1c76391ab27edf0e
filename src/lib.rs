//! patchdeck: a terminal cockpit for live maintenance windows.
//!
//! The library does all the work; `main.rs` only hands over to [`cli::main`].
//! Module map (one concern each):
//! - [`diag`]: positioned error messages (file:line:col with a caret) for every input file.
//! - [`runbook`]: the TOML runbook: parsing, validation, placeholders.
//! - [`inventory`]: hosts from TOML, Ansible INI/YAML, resolved with `ssh -G`.
//! - [`transport`]: the one way commands reach a host (the `Transport` trait; ssh, local).
//! - [`pkg`]: the package-manager trait, the registry choosing one per host, version schemes,
//!   and the apt backend (the only place that speaks apt); untrusted-text validation.
//! - [`probe`]: one round trip per host gathering packages + fingerprints.
//! - [`baseline`]: the tested baseline file and its capture.
//! - [`verdict`]: what a divergence does (stop or warn), named by every layer.
//! - [`drift`]: the configuration map of a host (conffiles, /etc, network, kernel, services,
//!   sources), normalized per host and compared with staging's by area.
//! - [`diff`]: a host's facts against the baseline, in divergence classes; risk.
//! - [`health`]: health checks (HTTP and TCP from the operator's machine, commands on the host).
//! - [`journal`]: the write-ahead journal of a window (fsynced JSON lines, lock, replay, follow, appender).
//! - [`lock`]: a window's lock on each host it changes, and one `run` per window on this machine.
//! - [`check`]: the assessment, UI-free: which hosts a window covers, probe, diff and health
//!   checks per host; used by the engine's preflight, by `drill` and by `patchdeck check`.
//! - [`engine`]: runs a window: waves, steps, hard stops, rollback; events out, journaled first;
//!   its [`engine::control`] is the one typed list of stop kinds, choices, targets and deciders.
//! - [`session`]: a window put together from its parts (inputs, journal, reach), UI-free:
//!   `run`, `drill` and `rollback` build their windows here.
//! - [`narrate`]: events and choices in words, one description for every audience.
//! - [`report`]: the Markdown change record of a window, folded from its journal.
//! - [`sim`]: an in-memory fleet for the demo, tests and drills, and the simulated transport
//!   answering from it (it runs the apt backend's own generated scripts).
//! - [`drill`]: rehearsals with injected faults, scored, and the drill history.
//! - [`safe_text`]: host text made safe to print (control characters and escapes shown, not obeyed).
//! - [`demo`]: the bundled demo window (embedded assets).
//! - [`tui`]: the cockpit: `run` without `--no-tui`, and `watch`.
//! - [`cli`]: argument parsing and command dispatch.

pub mod baseline;
pub mod check;
pub mod cli;
pub mod demo;
pub mod diag;
pub mod diff;
pub mod drift;
pub mod drill;
pub mod engine;
pub mod health;
pub mod inventory;
pub mod journal;
pub mod lock;
pub mod narrate;
pub mod pkg;
pub mod probe;
pub mod report;
pub mod runbook;
pub mod safe_text;
pub mod session;
pub mod sim;
pub mod transport;
pub mod tui;
pub mod verdict;
