//! Shell completions and man pages, generated from the same clap definitions as `--help`.

use std::path::Path;

use clap::CommandFactory;
use eyre::WrapErr;

use super::Cli;
use super::output;

pub fn completions(shell: clap_complete::Shell) -> eyre::Result<u8> {
    clap_complete::generate(shell, &mut Cli::command(), "patchdeck", &mut std::io::stdout());
    Ok(0)
}

/// Prints the main man page, or writes every page to `out_dir`: none is written unless
/// all may be (an existing page is replaced only with `force`).
pub fn man(out_dir: Option<&Path>, force: bool) -> eyre::Result<u8> {
    let cmd = Cli::command();
    match out_dir {
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout()).wrap_err("cannot write the man page")?,
        Some(dir) => {
            let pages = man_pages(cmd).wrap_err("cannot render the man pages")?;
            let rules = output::Rules { force, inputs: &[] };
            for (name, _) in &pages {
                output::check(&dir.join(name), rules)?;
            }
            std::fs::create_dir_all(dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
            for (name, page) in &pages {
                output::write(&dir.join(name), page, rules)?;
            }
            eprintln!("man pages written to {}", dir.display());
        }
    }
    Ok(0)
}

/// (file name, page) for the command and every visible subcommand, as
/// `clap_mangen::generate_to` names and renders them.
fn man_pages(cmd: clap::Command) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    fn add(cmd: clap::Command, pages: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
            add(sub, pages)?;
        }
        let man = clap_mangen::Man::new(cmd);
        let mut page = Vec::new();
        man.render(&mut page)?;
        pages.push((man.get_filename(), page));
        Ok(())
    }
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    add(cmd, &mut pages)?;
    Ok(pages)
}
