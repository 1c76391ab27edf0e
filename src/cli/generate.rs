//! Shell completions and man pages, generated from the same clap definitions as `--help`.

use std::path::Path;

use clap::CommandFactory;
use eyre::WrapErr;

use super::Cli;

pub fn completions(shell: clap_complete::Shell) -> eyre::Result<u8> {
    clap_complete::generate(shell, &mut Cli::command(), "patchdeck", &mut std::io::stdout());
    Ok(0)
}

pub fn man(out_dir: Option<&Path>) -> eyre::Result<u8> {
    let cmd = Cli::command();
    match out_dir {
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout()).wrap_err("cannot write the man page")?,
        Some(dir) => {
            std::fs::create_dir_all(dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .wrap_err_with(|| format!("cannot write man pages to {}", dir.display()))?;
            eprintln!("man pages written to {}", dir.display());
        }
    }
    Ok(0)
}
