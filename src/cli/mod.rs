//! The command line: parse arguments, then hand over to the library. Exit codes are
//! documented in the README and in `--help`.

mod args;
mod baseline;
mod check;
mod drill;
pub mod exit;
mod generate;
mod output;
mod rollback;
mod run;

use std::process::ExitCode;

use clap::Parser;

pub use args::Cli;
use args::{BaselineCommand, Command};

/// Entry point of the `patchdeck` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = color_eyre::install() {
        eprintln!("patchdeck: cannot install the error reporter: {e}");
    }
    if let Some(path) = &cli.global.log {
        if let Err(e) = output::check_appendable(path) {
            eprintln!("patchdeck: --log: {e}");
            return ExitCode::from(exit::INVALID_INPUT);
        }
        if let Err(e) = start_log(path) {
            eprintln!("patchdeck: cannot write the log {}: {e}", path.display());
            return ExitCode::from(exit::OTHER_FAILURE);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("patchdeck: cannot start the async runtime: {e}");
            return ExitCode::from(exit::OTHER_FAILURE);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if let Some(d) = e.downcast_ref::<crate::diag::Diagnostics>() {
                eprintln!("{d}");
                return ExitCode::from(exit::INVALID_INPUT);
            }
            if let Some(refused) = e.downcast_ref::<output::Refused>() {
                eprintln!("patchdeck: {refused}");
                return ExitCode::from(exit::INVALID_INPUT);
            }
            eprintln!("patchdeck: error: {e:?}");
            ExitCode::from(exit::OTHER_FAILURE)
        }
    }
}

async fn dispatch(cli: Cli) -> eyre::Result<u8> {
    match cli.command.unwrap_or(Command::Demo(Default::default())) {
        Command::Check(a) => check::run(&cli.global, a).await,
        Command::Demo(a) => check::demo(&cli.global, a).await,
        Command::Baseline { command: BaselineCommand::Capture(a) } => baseline::capture(&cli.global, a).await,
        Command::Completions { shell } => generate::completions(shell),
        Command::Man { out_dir, force } => generate::man(out_dir.as_deref(), force),
        Command::Run(a) => run::run(&cli.global, a).await,
        Command::Watch { journal, theme } => run::watch(&journal, theme.as_deref()).await,
        Command::Drill(a) => drill::run(&cli.global, a).await,
        Command::Rollback(a) => rollback::rollback(&cli.global, a).await,
        Command::Report { journal, output, force } => report(&journal, output.as_deref(), force),
    }
}

/// `patchdeck report`: the journal as a Markdown change record. The output never replaces
/// the journal it reads, any journal, or a locked file; an existing file only with --force.
fn report(journal: &std::path::Path, out: Option<&std::path::Path>, force: bool) -> eyre::Result<u8> {
    let rules = output::Rules { force, inputs: &[(journal, "the journal being reported on")] };
    if let Some(path) = out {
        output::check(path, rules)?;
    }
    let text = crate::report::from_journal(journal)?;
    match out {
        Some(path) => {
            output::write(path, text.as_bytes(), rules)?;
            eprintln!("change record written to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(0)
}

/// Debug log to a file (never to the screen, which belongs to the operator).
/// `RUST_LOG` narrows or widens it; the default is debug for patchdeck, info for the rest.
fn start_log(path: &std::path::Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,patchdeck=debug"));
    tracing_subscriber::fmt().with_writer(std::sync::Mutex::new(file)).with_ansi(false).with_env_filter(filter).init();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "patchdeck started");
    Ok(())
}
