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

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

pub use args::Cli;
use args::{BaselineCommand, Command};

/// Entry point of the `patchdeck` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let colour = use_colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR"));
    // The hooks only format panics (real bugs: their backtrace helps, when RUST_BACKTRACE asks
    // for it); errors are printed below as sentences, never with a backtrace.
    let theme = if colour { color_eyre::config::Theme::dark() } else { color_eyre::config::Theme::new() };
    if let Err(e) = color_eyre::config::HookBuilder::default().theme(theme).display_env_section(false).install() {
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
            tracing::error!(error = %format!("{e:#}"), "patchdeck stopped with an error");
            if let Some(d) = input_problems(&e) {
                eprintln!("{d}");
                return ExitCode::from(exit::INVALID_INPUT);
            }
            if let Some(not_a_file @ crate::journal::JournalError::NotAFile { .. }) =
                e.chain().find_map(|c| c.downcast_ref::<crate::journal::JournalError>())
            {
                eprintln!("patchdeck: {not_a_file}");
                return ExitCode::from(exit::INVALID_INPUT);
            }
            if let Some(refused) = e.downcast_ref::<output::Refused>() {
                eprintln!("patchdeck: {refused}");
                return ExitCode::from(exit::INVALID_INPUT);
            }
            eprint!("{}", error_text(&e, colour));
            ExitCode::from(exit::OTHER_FAILURE)
        }
    }
}

/// Colour on stderr only for a person at a terminal, and never with `NO_COLOR` set
/// (to anything non-empty, as no-color.org says).
fn use_colour(stderr_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The problems of an input file behind `e`, however it was wrapped on its way up.
fn input_problems(e: &eyre::Report) -> Option<&crate::diag::Diagnostics> {
    e.chain().find_map(|cause| {
        cause
            .downcast_ref::<crate::diag::Diagnostics>()
            .or_else(|| cause.downcast_ref::<std::io::Error>()?.get_ref()?.downcast_ref::<crate::diag::Diagnostics>())
    })
}

/// An error as sentences: the message, then each cause on its own line. No backtrace and no
/// debug formatting, whatever `RUST_BACKTRACE` says: a user error is not a bug.
fn error_text(e: &eyre::Report, colour: bool) -> String {
    use crate::safe_text::for_terminal as safe;
    let label = anstyle::AnsiColor::Red.on_default().bold();
    let label = if colour { format!("{label}error:{label:#}") } else { "error:".to_string() };
    let mut out = format!("patchdeck: {label} {}\n", safe(&e.to_string()));
    for cause in e.chain().skip(1) {
        out.push_str(&format!("  because: {}\n", safe(&cause.to_string())));
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some("".into())));
        assert!(!use_colour(true, Some("1".into())));
        assert!(!use_colour(false, None));
    }

    #[test]
    fn an_error_is_sentences_with_its_causes_and_colour_only_when_asked() {
        use eyre::WrapErr;
        let e = Err::<(), _>(std::io::Error::other("disk full\x1b[2J")).wrap_err("cannot write x").unwrap_err();
        assert_eq!(error_text(&e, false), "patchdeck: error: cannot write x\n  because: disk full\\u{1b}[2J\n");
        assert!(
            error_text(&e, true).contains("\x1b[1m\x1b[31merror:\x1b[0m") || error_text(&e, true).contains("\x1b[")
        );
        let wrapped = Err::<(), _>(crate::diag::Diagnostics::from(crate::diag::Diagnostic::whole_file("f", "bad")))
            .wrap_err("loading")
            .unwrap_err();
        assert_eq!(input_problems(&wrapped).map(|d| d.len()), Some(1));
        let inside_io = eyre::Report::new(std::io::Error::other(crate::diag::Diagnostics::from(
            crate::diag::Diagnostic::whole_file("f", "bad"),
        )));
        assert_eq!(input_problems(&inside_io).map(|d| d.len()), Some(1));
    }
}
