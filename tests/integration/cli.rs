//! The command line itself: help, completions, man page, exit codes on bad input, logging.

use std::process::Command;

fn patchdeck(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_patchdeck")).args(args).env("NO_COLOR", "1").output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_names_every_command_and_the_exit_codes() {
    let out = patchdeck(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for cmd in ["check", "run", "watch", "drill", "baseline", "report", "demo", "completions", "man"] {
        assert!(help.contains(&format!("\n  {cmd} ")), "{cmd} missing from --help:\n{help}");
    }
    for code in ["0  clean", "1  other failure: `check` reached no host", "2  invalid input", "3  divergence found"] {
        assert!(help.contains(code), "{code:?} missing from --help");
    }
}

#[test]
fn completions_and_man_page_are_generated_from_the_same_definitions() {
    let bash = text(&patchdeck(&["completions", "bash"]).stdout);
    assert!(bash.contains("_patchdeck()") && bash.contains("--known-hosts"), "{bash}");
    let zsh = text(&patchdeck(&["completions", "zsh"]).stdout);
    assert!(zsh.starts_with("#compdef patchdeck"));

    let man = text(&patchdeck(&["man"]).stdout);
    assert!(man.contains(".TH patchdeck 1") && man.contains("check"), "{man}");
    let dir = tempfile::tempdir().unwrap();
    let out = patchdeck(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for page in ["patchdeck.1", "patchdeck-check.1", "patchdeck-baseline-capture.1"] {
        assert!(dir.path().join(page).exists(), "{page} not written");
    }
}

#[test]
fn invalid_runbook_exits_2_with_every_problem_positioned() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/runbooks/invalid/many-problems.toml");
    let out = patchdeck(&["check", fixture]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing on stdout for scripts to misread");
    let err = text(&out.stderr);
    assert!(err.contains("many-problems.toml:4:8: error: the window ends"), "{err}");
    assert!(err.contains("many-problems.toml:24:26: error: unknown placeholder `{service}`"), "{err}");
    assert!(err.contains("^^^^^^^^^"), "carets shown:\n{err}");
    assert!(err.contains("nothing was changed on any host"), "{err}");
}

#[test]
fn missing_runbook_exits_2_naming_the_file() {
    let out = patchdeck(&["check", "/nonexistent/runbook.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/runbook.toml"), "{}", text(&out.stderr));
}

#[test]
fn log_goes_to_the_file_not_the_screen() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pd.log");
    let out = patchdeck(&["--log", log.to_str().unwrap(), "demo", "--json", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("patchdeck started"), "{logged}");
    assert!(!text(&out.stderr).contains("patchdeck started"));
}
