//! Argument definitions (clap derive). The help text is written for someone opening a
//! maintenance window for the first time.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::baseline::Source;

const AFTER_HELP: &str = "\
Start here:
  patchdeck demo                         the bundled demo window on a simulated fleet
  patchdeck check RUNBOOK                how every host differs from what was tested
  patchdeck baseline capture RUNBOOK --host staging -o tested.toml

Exit codes:
  0  clean: every host is as tested
  1  other failure: `check` reached no host of the window at all (the report still says
     why for each), a file cannot be written, ...
  2  invalid input (runbook, inventory, baseline, theme or config file; each
     problem is shown with file:line:col), or an output file that would replace a
     journal, a locked file or (without --force) any existing file
  3  divergence found: some host differs from what was tested or cannot be reached while
     others can, a health check fails, the window's risk is over its maximum, or the wave
     order warning (a first-wave host weighs more than a host of a later wave)

Config file (optional at the default place): $PATCHDECK_CONFIG, else
  $XDG_CONFIG_HOME/patchdeck/config.toml (else ~/.config/patchdeck/config.toml).
  TOML: theme = \"NAME\" (--theme beats it).

Runbook format: docs/runbook.md. Logs: --log FILE (never to the screen).";

/// A terminal cockpit for live maintenance windows: every host diffed against what was
/// tested, hard stops when reality diverges, one-key rollback, and a journal of it all.
#[derive(Debug, Parser)]
#[command(name = "patchdeck", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Global {
    /// How to reach hosts, as these options say.
    pub fn reach(&self) -> crate::session::reach::ReachOptions {
        crate::session::reach::ReachOptions {
            simulate: self.simulate.clone(),
            sim_speed: self.sim_speed,
            connect_timeout: std::time::Duration::from_secs(self.connect_timeout),
            ssh_config: self.ssh_config.clone(),
            known_hosts: self.known_hosts.clone(),
            identity: self.identity.clone(),
            local_output: None,
        }
    }
}

/// Options every command understands.
#[derive(Debug, Args, Default, Clone)]
pub struct Global {
    /// Write a debug log here (logs never go to the screen).
    #[arg(long, global = true, value_name = "FILE", env = "PATCHDECK_LOG")]
    pub log: Option<PathBuf>,

    /// ssh_config file for every ssh connection (default: the runbook's, else your own ~/.ssh/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,

    /// known_hosts file to verify host keys against (default: ssh's own). Host keys are always checked.
    #[arg(long, global = true, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,

    /// Private key for ssh (default: your agent and ssh_config).
    #[arg(long, global = true, value_name = "FILE")]
    pub identity: Option<PathBuf>,

    /// Seconds to wait for an ssh connection.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 10)]
    pub connect_timeout: u64,

    /// Answer from a simulated fleet described in FILE instead of real hosts (what-if, tests).
    #[arg(long, global = true, value_name = "FLEET.toml")]
    pub simulate: Option<PathBuf>,

    /// How fast the simulated fleet works (1 = plausible real durations). Not a flag: the
    /// demo sets it so its cockpit shows real progress; otherwise simulations run at 0.2.
    #[arg(skip)]
    pub sim_speed: Option<f64>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Before a window: probe every host and show how it differs from the tested baseline.
    Check(CheckArgs),
    /// Run a window in the cockpit (or --no-tui --yes without one).
    Run(RunArgs),
    /// Follow a running window read-only, from its journal: the cockpit's screens, no commands.
    Watch {
        /// The journal of the window to follow.
        journal: PathBuf,
        /// Cockpit theme: dark (default), light, high-contrast, monochrome, or a file in
        /// $XDG_CONFIG_HOME/patchdeck/themes/NAME.toml. Beats `theme = "NAME"` in the config
        /// file ($PATCHDECK_CONFIG, else $XDG_CONFIG_HOME/patchdeck/config.toml).
        #[arg(long, value_name = "NAME")]
        theme: Option<String>,
    },
    /// Rehearse a window against injected faults and score the recovery (`drill --list`).
    Drill(super::drill::DrillArgs),
    /// Capture the tested baseline from the staging host.
    Baseline {
        #[command(subcommand)]
        command: BaselineCommand,
    },
    /// Roll hosts back from a window's journal: during the window, after it, after a crash.
    Rollback(RollbackArgs),
    /// Turn a window's journal into a Markdown change record.
    Report {
        /// The journal to report on.
        journal: PathBuf,
        /// Write the record here (default: standard output). Never over the journal, another
        /// journal or a locked file; over any other existing file only with --force.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace FILE if it exists (never a journal or a locked file).
        #[arg(long, requires = "output")]
        force: bool,
    },
    /// The bundled demo window in the cockpit, against a simulated fleet (the default with no command).
    Demo(DemoArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Write the man pages (patchdeck.1 and one per command) to a directory, or print the main one.
    Man {
        /// Write every page here (created if missing); an existing page only with --force.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// Replace pages already in DIR.
        #[arg(long, requires = "out_dir")]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The window's runbook (TOML).
    pub runbook: PathBuf,
    /// Print the stable JSON report (docs/check-json.md) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Hosts probed at once.
    #[arg(long, value_name = "N", default_value_t = crate::transport::pool::DEFAULT_LIMIT)]
    pub concurrency: usize,
    /// Seconds allowed for one host's probe.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
    /// Ask the package manager anew, once per distinct package state, even where a host's
    /// package state (for apt: dpkg database, lists, sources, preferences, config) is
    /// unchanged since the last check: hosts whose inputs are byte-identical share one
    /// resolver run (the default, `--fresh` alone). `--fresh=per-host` asks every host's own
    /// resolver, sharing nothing.
    /// The new answers are kept for the next check.
    #[arg(long, value_name = "HOW", num_args = 0..=1, require_equals = true, default_missing_value = "shared")]
    pub fresh: Option<Fresh>,
}

/// How `check --fresh` asks the package manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fresh {
    /// Once per distinct package state: clones share one resolver run.
    Shared,
    /// Every host's own resolver.
    PerHost,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The window's runbook (TOML).
    pub runbook: PathBuf,
    /// No cockpit: print progress lines; stops at the first hard stop unless --decide says otherwise.
    #[arg(long)]
    pub no_tui: bool,
    /// Confirm running without a person at the keyboard (required with --no-tui).
    #[arg(long)]
    pub yes: bool,
    /// What --no-tui decides at a hard stop (never override). Without it: abort and exit 3.
    #[arg(long, value_enum)]
    pub decide: Option<DecideArg>,
    /// With --no-tui: start before the window's start time, for this reason (journaled).
    /// Without it, --no-tui refuses to start early.
    #[arg(long, value_name = "REASON")]
    pub start_early: Option<String>,
    /// Continue a window from its journal (after a crash, a quit or a signal): open stops
    /// are asked again, in-flight steps need a decision. A finished window is left as it
    /// is (roll hosts back with `patchdeck rollback`).
    #[arg(long)]
    pub resume: bool,
    /// The journal file (default: <window>.journal.jsonl beside the runbook).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Who is running the window (repeat for pair operation; default: $PATCHDECK_OPERATORS or $USER).
    #[arg(long, value_name = "NAME")]
    pub operator: Vec<String>,
    /// Cockpit theme: dark (default), light, high-contrast, monochrome, or a file in
    /// $XDG_CONFIG_HOME/patchdeck/themes/NAME.toml. Beats `theme = "NAME"` in the config
    /// file ($PATCHDECK_CONFIG, else $XDG_CONFIG_HOME/patchdeck/config.toml).
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DecideArg {
    Rollback,
    Skip,
    Abort,
    /// Repair the package database (`dpkg --configure -a`) where a stop offers it.
    Repair,
}

impl From<DecideArg> for crate::engine::control::Choice {
    fn from(d: DecideArg) -> Self {
        match d {
            DecideArg::Rollback => Self::RollbackHost,
            DecideArg::Skip => Self::Skip,
            DecideArg::Abort => Self::Abort,
            DecideArg::Repair => Self::Repair,
        }
    }
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The window's journal: its snapshots and steps say what to undo.
    pub journal: PathBuf,
    /// Roll back this host (repeat for more).
    #[arg(long, value_name = "HOST")]
    pub host: Vec<String>,
    /// Roll back every host of this wave with changes not undone.
    #[arg(long, value_name = "WAVE")]
    pub wave: Option<String>,
    /// Roll back every host of the window with changes not undone.
    #[arg(long, conflicts_with_all = ["host", "wave"])]
    pub all: bool,
    /// The runbook the window ran (default: the one its journal names).
    #[arg(long, value_name = "FILE")]
    pub runbook: Option<PathBuf>,
    /// Confirm rolling back without a person at the keyboard.
    #[arg(long)]
    pub yes: bool,
    /// What to decide at a hard stop during the rollback (e.g. it could not be verified):
    /// without it, abort (the host is left for people to look at).
    #[arg(long, value_enum)]
    pub decide: Option<DecideArg>,
    /// Who is rolling back (default: $PATCHDECK_OPERATORS or $USER).
    #[arg(long, value_name = "NAME")]
    pub operator: Vec<String>,
}

#[derive(Debug, Args, Default)]
pub struct DemoArgs {
    /// Where to write the demo's files (default: a directory under $TMPDIR).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print the JSON check report instead of opening the cockpit.
    #[arg(long)]
    pub json: bool,
    /// Print the check report instead of opening the cockpit (also when not on a terminal).
    #[arg(long)]
    pub check: bool,
    /// The cockpit's theme (dark, light, high-contrast, monochrome, or one of yours); beats
    /// `theme` in the config file.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Record what the staging host has pending (or just installed) and its config fingerprints.
    Capture(CaptureArgs),
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// The runbook (for the inventory and the fingerprints).
    pub runbook: PathBuf,
    /// The staging host (default: the runbook's `[baseline] host`).
    #[arg(long)]
    pub host: Option<String>,
    /// Where to write the baseline (default: standard output). Over an existing file only
    /// with --force (never over the runbook, a journal or a locked file).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long, requires = "output")]
    pub force: bool,
    /// `pending`: what staging would install now (capture before upgrading it);
    /// `history`: what its last upgrade did (capture after).
    #[arg(long, value_enum, default_value = "pending")]
    pub from: SourceArg,
    /// Seconds allowed for the capture.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub timeout: u64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SourceArg {
    Pending,
    History,
}

impl From<SourceArg> for Source {
    fn from(s: SourceArg) -> Self {
        match s {
            SourceArg::Pending => Source::Pending,
            SourceArg::History => Source::History,
        }
    }
}
