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

/// Every visible command of the clap definitions (the path below `patchdeck`, the command)
/// and every visible long option it takes (its own and the global ones), as `--name`.
fn commands_and_options() -> Vec<(Vec<String>, Vec<String>)> {
    fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, Vec<String>)>) {
        let longs =
            cmd.get_arguments().filter(|a| !a.is_hide_set()).filter_map(|a| a.get_long()).map(|l| format!("--{l}"));
        out.push((path.clone(), longs.collect()));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            walk(sub, [path.clone(), vec![sub.get_name().to_string()]].concat(), out);
        }
    }
    let mut cmd = <patchdeck::cli::Cli as clap::CommandFactory>::command();
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, Vec::new(), &mut out);
    out
}

/// The bash completion's words for one command (its `opts="..."` line).
fn bash_words<'a>(bash: &'a str, path: &[String]) -> Vec<&'a str> {
    let case = ["patchdeck".to_string()].iter().chain(path).cloned().collect::<Vec<_>>().join("__subcmd__");
    let at = bash
        .find(&format!("\n        {case})\n"))
        .unwrap_or_else(|| panic!("bash completion has no case for {path:?}"));
    let opts = bash[at..].lines().find_map(|l| l.trim().strip_prefix("opts=\"")).expect("an opts line");
    opts.trim_end_matches('"').split_whitespace().collect()
}

#[test]
fn completions_and_man_page_are_generated_from_the_same_definitions() {
    let bash = text(&patchdeck(&["completions", "bash"]).stdout);
    assert!(bash.contains("_patchdeck()"), "{bash}");
    let zsh = text(&patchdeck(&["completions", "zsh"]).stdout);
    assert!(zsh.starts_with("#compdef patchdeck"));
    let man = text(&patchdeck(&["man"]).stdout);
    assert!(man.contains(".TH patchdeck 1"), "{man}");
    let dir = tempfile::tempdir().unwrap();
    let out = patchdeck(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Every command, with every option, in each of --help, bash, zsh and its own man page;
    // and nothing in bash that the definitions do not have.
    let commands = commands_and_options();
    assert!(commands.len() > 10, "{commands:?}");
    let mut pages = Vec::new();
    for (path, longs) in &commands {
        let args: Vec<&str> = path.iter().map(String::as_str).chain(["--help"]).collect();
        let help = text(&patchdeck(&args).stdout);
        let page_name = ["patchdeck".to_string()].iter().chain(path).cloned().collect::<Vec<_>>().join("-") + ".1";
        let page = std::fs::read_to_string(dir.path().join(&page_name))
            .unwrap_or_else(|e| panic!("{page_name} not written for {path:?}: {e}"))
            .replace("\\-", "-");
        pages.push(page_name.clone());
        let bash_longs: std::collections::BTreeSet<&str> =
            bash_words(&bash, path).into_iter().filter(|w| w.starts_with("--")).collect();
        let want: std::collections::BTreeSet<&str> = longs.iter().map(String::as_str).collect();
        assert_eq!(bash_longs, want, "bash options of {path:?}");
        for long in longs {
            assert!(help.contains(long), "{path:?} --help lacks {long}:\n{help}");
            let described = |spec: &str| zsh.contains(&format!("{long}{spec}"));
            assert!(described("[") || described("=["), "zsh lacks {long} ({path:?})");
            assert!(page.contains(&format!("\\fB{long}\\fR")), "{page_name} lacks {long}");
        }
    }
    // And no page for a command that does not exist.
    let mut written: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    written.sort();
    pages.sort();
    assert_eq!(written, pages);
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

/// Runs patchdeck with `env`, failing the test if it has not exited within `secs`: a hang is
/// a failure here, never a stuck test run. Output goes to files so no pipe can fill.
fn patchdeck_within(secs: u64, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchdeck"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("patchdeck {args:?} still running after {secs}s: {}", std::fs::read_to_string(&err_path).unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: std::fs::read(&out_path).unwrap(),
        stderr: std::fs::read(&err_path).unwrap(),
    }
}

/// The bundled demo's files copied into `dir`; returns the runbook's path.
fn demo_copy(dir: &std::path::Path) -> String {
    let demo = std::path::Path::new(crate::support::demo::DEMO);
    for f in ["runbook.toml", "hosts.toml", "tested.toml", "fleet.toml"] {
        std::fs::copy(demo.join(f), dir.join(f)).unwrap();
    }
    dir.join("runbook.toml").to_str().unwrap().to_string()
}

fn mkfifo(path: &std::path::Path) {
    let _ = std::fs::remove_file(path);
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

#[test]
fn a_fifo_a_directory_or_a_device_as_any_input_is_exit_2_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.toml");
    mkfifo(&fifo);
    let fifo = fifo.to_str().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    for (runbook, why) in [(fifo, "is a FIFO"), ("/dev/zero", "is a device"), (dir_arg, "is a directory")] {
        let out = patchdeck_within(30, &["check", runbook], &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "check {runbook}: {err}");
        assert!(err.contains(why) && err.contains(runbook), "check {runbook}: {err}");
    }
    // The hosts file, the baseline and the simulated fleet a runbook leads to.
    for file in ["hosts.toml", "tested.toml", "fleet.toml"] {
        let case = tempfile::tempdir().unwrap();
        let runbook = demo_copy(case.path());
        mkfifo(&case.path().join(file));
        let fleet = case.path().join("fleet.toml");
        let out = patchdeck_within(30, &["check", &runbook, "--simulate", fleet.to_str().unwrap()], &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file} as a FIFO: {err}");
        assert!(err.contains("FIFO") && err.contains(file), "{file} as a FIFO: {err}");
    }
}

#[test]
fn a_config_file_that_is_a_fifo_is_exit_2_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let runbook = demo_copy(dir.path());
    let config = dir.path().join("config.toml");
    mkfifo(&config);
    let out = patchdeck_within(30, &["run", &runbook], &[("PATCHDECK_CONFIG", config.to_str().unwrap())]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("FIFO"), "{err}");
}

#[test]
fn problems_of_the_runbook_its_hosts_file_and_its_baseline_come_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let runbook = demo_copy(dir.path());
    let edit = |file: &str, from: &str, to: &str| {
        let path = dir.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} lacks {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit("runbook.toml", "max_failures = 0", "max_failures = -1");
    edit("hosts.toml", "weight = ", "weight = 0\nwieght = ");
    edit("tested.toml", "source = \"pending\"", "source = \"pendnig\"");
    edit("tested.toml", "[[update]]\n", "[[update]]\ncolour = \"x\"\n");
    let out = patchdeck_within(30, &["check", &runbook], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needle in [
        "runbook.toml:",
        "`max_failures` is -1",
        "hosts.toml:",
        "unknown key `wieght`",
        "tested.toml:",
        "unknown variant `pendnig`",
        "unknown key `colour`",
    ] {
        assert!(err.contains(needle), "{needle:?} missing:\n{err}");
    }
    assert!(err.contains("5 problems found"), "{err}");
}

#[test]
fn a_user_error_is_a_sentence_without_backtrace_or_colour_whatever_rust_backtrace_says() {
    let dir = tempfile::tempdir().unwrap();
    let runbook = demo_copy(dir.path());
    for backtrace in ["1", "full"] {
        let env = [("RUST_BACKTRACE", backtrace), ("RUST_LIB_BACKTRACE", backtrace), ("NO_COLOR", "")];
        // Not a terminal: no colour even without NO_COLOR.
        let out = patchdeck_within(30, &["run", &runbook, "--no-tui"], &env);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.starts_with("patchdeck: error: --no-tui proceeds without a person"), "{err}");
        for noise in ["\x1b[", "Location:", "acktrace", "BACKTRACE", "Error {", "Failed {"] {
            assert!(!err.contains(noise), "{noise:?} in a user error:\n{err}");
        }
        // Input problems too.
        let out = patchdeck_within(30, &["check", "/nonexistent/runbook.toml"], &env);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(!err.contains("acktrace") && !err.contains("\x1b["), "{err}");
    }
}

#[test]
fn a_known_hosts_file_that_does_not_exist_is_an_error_not_an_empty_list() {
    let dir = tempfile::tempdir().unwrap();
    let runbook = demo_copy(dir.path());
    let missing = dir.path().join("known_hosts.typo");
    let out = patchdeck_within(30, &["--known-hosts", missing.to_str().unwrap(), "check", &runbook], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("known_hosts.typo: error: the known_hosts file given with --known-hosts does not exist"),
        "{err}"
    );
    let out = patchdeck_within(30, &["--known-hosts", dir.path().to_str().unwrap(), "check", &runbook], &[]);
    assert!(text(&out.stderr).contains("is not a regular file"), "{}", text(&out.stderr));
}

/// A journal path that is a FIFO or a directory: `report`, `rollback`, `watch` and
/// `run --resume` say so at once (exit 2) instead of waiting for ever on the read.
#[test]
fn a_fifo_as_the_journal_is_exit_2_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let runbook = demo_copy(dir.path());
    let fifo = dir.path().join("journal.jsonl");
    mkfifo(&fifo);
    let fifo = fifo.to_str().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    for (journal, why) in [(fifo, "is a FIFO"), (dir_arg, "is a directory")] {
        let cases: [Vec<&str>; 3] = [
            vec!["report", journal],
            vec!["rollback", journal, "--all", "--yes"],
            vec!["run", &runbook, "--resume", "--journal", journal, "--no-tui", "--yes"],
        ];
        for args in cases {
            let out = patchdeck_within(30, &args, &[]);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(why) && err.contains(journal), "{args:?}: {err}");
        }
    }
}
