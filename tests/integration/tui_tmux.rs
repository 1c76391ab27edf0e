//! The real binary's cockpit inside tmux, as an operator in a shared session would use it:
//! keys sent with `send-keys`, the screen read with `capture-pane`, polling for text with
//! a timeout (never fixed sleeps). Each test has its own tmux server (`-L`), killed at the
//! end. The fleet is simulated (`--simulate`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use patchdeck::engine::control::{Choice, StopCode};
use patchdeck::engine::event::Event;

use crate::support::demo::DEMO;
use crate::support::require;

/// The demo window cut down to canary1 then web1 (both clean), plus `fleet_extra` faults.
fn setup(dir: &Path, fleet_extra: &str) -> PathBuf {
    crate::support::demo::clean_demo_now(dir, fleet_extra)
}

const FAIL_RESTART: &str = "[[host.canary1.faults]]\non = \"systemctl restart nginx\"\neffect = { exit = 1 }\n";

fn journal(dir: &Path) -> PathBuf {
    dir.join("openssl-security-2026-11.journal.jsonl")
}

/// A tmux server of our own, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(name: &str) -> Self {
        let socket = format!("patchdeck-{name}-{}", std::process::id());
        Tmux { socket }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux is needed for these tests (tests/run installs it)");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `cmd` (run by sh in `dir`) in a new 80x24 session; when it exits the pane
    /// shows "EXITED <code>" and stays.
    fn start(&self, dir: &Path, cmd: &str) {
        self.start_with(dir, cmd, &[]);
    }

    fn start_with(&self, dir: &Path, cmd: &str, env: &[&str]) {
        let script = format!("cd '{}' && {cmd}; echo EXITED $?; sleep 600", dir.display());
        let xdg = dir.join("config");
        let mut args = vec!["new-session"];
        for e in env {
            args.extend(["-e", e]);
        }
        let xdg_env = format!("XDG_CONFIG_HOME={}", xdg.display());
        args.extend(["-d", "-x", "80", "-y", "24", "-s", "w", "-e", &xdg_env, "sh", "-c", &script]);
        self.tmux(&args);
    }

    fn capture(&self, target: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-t", target])
    }

    fn send(&self, target: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", target];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Polls the pane until `text` is on it; panics with the screen after `secs`.
    fn wait_for(&self, target: &str, text: &str, secs: u64) -> String {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.capture(target);
            if screen.contains(text) {
                return screen;
            }
            assert!(Instant::now() < until, "waited {secs}s for {text:?} on {target}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).output();
    }
}

fn run_cmd() -> String {
    format!(
        "{} --simulate fleet.toml run runbook.toml --operator alice --operator bob",
        env!("CARGO_BIN_EXE_patchdeck")
    )
}

fn events(dir: &Path) -> Vec<Event> {
    patchdeck::journal::replay::<Event>(&journal(dir)).unwrap().records.into_iter().map(|r| r.event).collect()
}

#[test]
fn clean_window_runs_to_the_end_and_restores_the_terminal() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "");
    let t = Tmux::new("clean");
    t.start(dir.path(), &run_cmd());
    let screen = t.wait_for("w", "window finished", 60);
    assert!(screen.contains("operators alice+bob"), "{screen}");
    assert!(screen.contains("v web1") && screen.contains("done"), "{screen}");
    assert!(!screen.contains("ROLLBACK"), "no request keys once the window has ended:\n{screen}");
    // web1's install printed apt's lines while it ran; only the live feed carries them (the
    // journal keeps outcomes). They are above the later steps: scroll up to them.
    for _ in 0..6 {
        t.send("w", &["PPage"]);
    }
    let scrolled = t.wait_for("w", "scrolled up 18 lines", 10);
    assert!(scrolled.contains("Setting up "), "{scrolled}");
    t.send("w", &["q"]);
    let after = t.wait_for("w", "EXITED 0", 10);
    assert!(after.contains("canary1: done") && after.contains("web1: done"), "{after}");
    assert!(!after.contains("┌"), "the cockpit's screen is gone (alternate screen left):\n{after}");
}

#[test]
fn hard_stop_answered_with_rollback() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), FAIL_RESTART);
    let t = Tmux::new("stop");
    t.start(dir.path(), &run_cmd());
    // Waiting for the modal's last line: a capture can catch it half drawn.
    t.wait_for("w", "HARD STOP canary1", 60);
    let screen = t.wait_for("w", "R roll back canary1", 10);
    assert!(screen.contains("step \"restart nginx\" failed (exit 1)"), "{screen}");
    assert!(screen.contains("R roll back canary1"), "rollback is the first choice:\n{screen}");
    // q does nothing at a stop; rollback takes one key and one confirmation.
    t.send("w", &["q"]);
    t.send("w", &["R"]);
    t.wait_for("w", "Roll back canary1 now?", 10);
    t.send("w", &["y"]);
    // canary1 rolled back, so its wave failed: a window-wide stop follows. Abort it.
    t.wait_for("w", "HARD STOP window", 60);
    t.send("w", &["a"]);
    t.wait_for("w", "Abort the window?", 10);
    t.send("w", &["y"]);
    let end = t.wait_for("w", "window ABORTED", 60);
    assert!(end.contains("< canary1") || end.contains("rolled back"), "{end}");
    t.send("w", &["q"]);
    let after = t.wait_for("w", "EXITED 3", 10);
    assert!(after.contains("canary1: rolled back"), "{after}");
    let ev = events(dir.path());
    assert!(ev.iter().any(|e| matches!(e,
        Event::Decided(d) if d.host.as_deref() == Some("canary1")
            && d.decision.choice == Choice::RollbackHost && d.operators == ["alice"])));
    assert!(
        ev.iter().any(|e| matches!(e, Event::RollbackFinished { host, verified: Some(true), .. } if host == "canary1"))
    );
    assert!(!ev.iter().any(|e| matches!(e, Event::StepStarted { host, .. } if host == "web1")));
}

#[test]
fn resize_mid_window_redraws_and_too_small_says_so() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), FAIL_RESTART);
    let t = Tmux::new("resize");
    t.start(dir.path(), &run_cmd());
    // The engine waits at the stop: the window is mid-way while we resize.
    t.wait_for("w", "HARD STOP canary1", 60);
    t.tmux(&["resize-window", "-t", "w", "-x", "70", "-y", "20"]);
    let small = t.wait_for("w", "too small", 10);
    assert!(small.contains("70x20"), "{small}");
    t.tmux(&["resize-window", "-t", "w", "-x", "120", "-y", "40"]);
    let big = t.wait_for("w", "HARD STOP canary1", 10);
    assert!(big.contains("Wave 1/2 \"canary\""), "three columns at 120 wide:\n{big}");
    t.tmux(&["resize-window", "-t", "w", "-x", "80", "-y", "24"]);
    t.wait_for("w", "R roll back canary1", 10);
    t.send("w", &["a"]);
    t.send("w", &["y"]);
    t.wait_for("w", "window ABORTED", 60);
    t.send("w", &["q"]);
    t.wait_for("w", "EXITED 3", 10);
}

#[test]
fn watch_follows_a_run_in_a_second_pane_read_only() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), FAIL_RESTART);
    let t = Tmux::new("watch");
    t.start(dir.path(), &run_cmd());
    t.wait_for("w", "HARD STOP canary1", 60);
    let watch = format!(
        "cd '{}' && {} watch {}; echo EXITED $?; sleep 600",
        dir.path().display(),
        env!("CARGO_BIN_EXE_patchdeck"),
        journal(dir.path()).display()
    );
    t.tmux(&["split-window", "-t", "w", "-h", "sh", "-c", &watch]);
    t.tmux(&["resize-window", "-t", "w", "-x", "170", "-y", "30"]);
    // The stop is waited for: watch's first frame (READ-ONLY already) can come before it.
    let watched = t.wait_for("w.1", "HARD STOP canary1, operators deciding", 20);
    assert!(watched.contains("READ-ONLY"), "{watched}");
    assert!(!watched.contains("ROLLBACK"), "watch has no rollback key:\n{watched}");
    // R in watch sends nothing.
    t.send("w.1", &["R"]);
    // Decide in the cockpit; watch follows.
    t.send("w.0", &["R"]);
    t.wait_for("w.0", "Roll back canary1 now?", 10);
    t.send("w.0", &["y"]);
    t.wait_for("w.1", "rolled back", 20);
    t.wait_for("w.0", "HARD STOP window", 60);
    t.send("w.0", &["a"]);
    t.send("w.0", &["y"]);
    t.wait_for("w.1", "window ABORTED", 20);
    t.send("w.1", &["q"]);
    t.wait_for("w.1", "EXITED 0", 10);
    t.send("w.0", &["q"]);
    t.wait_for("w.0", "EXITED 3", 10);
    // Exactly one rollback request came from anyone: the cockpit's.
    let decided = events(dir.path())
        .iter()
        .filter(|e| matches!(e, Event::Decided(d) if d.decision.choice == Choice::RollbackHost))
        .count();
    assert_eq!(decided, 1);
}

/// The pid of the pane's command's child (the pane runs `sh -c`, which runs patchdeck).
fn patchdeck_pid(t: &Tmux, target: &str) -> u32 {
    let sh = t.tmux(&["display-message", "-p", "-t", target, "#{pane_pid}"]).trim().to_string();
    let children = std::fs::read_to_string(format!("/proc/{sh}/task/{sh}/children")).unwrap();
    children.split_whitespace().next().expect("patchdeck runs under the pane's sh").parse().unwrap()
}

#[test]
fn ctrl_c_asks_first_and_sigterm_restores_the_terminal_without_killing_the_step() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // canary1's restart hangs (until its 5-minute timeout): a step is running throughout.
    setup(dir.path(), "[[host.canary1.faults]]\non = \"systemctl restart nginx\"\neffect = \"hang\"\n");
    let t = Tmux::new("quit");
    t.start(dir.path(), &run_cmd());
    t.wait_for("w", "step 3 restart nginx: running", 60);
    t.send("w", &["C-c"]);
    let asked = t.wait_for("w", "Running now: canary1: restart nginx", 10);
    assert!(asked.contains("never kills a remote"), "{asked}");
    t.send("w", &["n"]);
    t.wait_for("w", "R ROLLBACK canary1", 10);
    assert!(!events(dir.path()).iter().any(|e| matches!(e, Event::Requested { .. })), "no means no");

    let pid = patchdeck_pid(&t, "w");
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    let after = t.wait_for("w", "SIGTERM", 10);
    assert!(!after.contains("┌"), "the terminal is given back at once:\n{after}");
    // The step is left to finish: patchdeck is still there, and abort was journaled.
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "patchdeck waits for the running step");
    assert!(
        events(dir.path())
            .iter()
            .any(|e| matches!(e, Event::Requested { request: patchdeck::engine::event::Request::Abort, .. }))
    );
    Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
}

#[test]
fn a_bad_theme_is_a_clear_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "");
    let themes = dir.path().join("config/patchdeck/themes");
    std::fs::create_dir_all(&themes).unwrap();
    std::fs::write(themes.join("mine.toml"), "name = \"mine\"\n[styles]\ndanger = { fg = \"red\", blink = true }\n")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_patchdeck"))
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .args(["--simulate", "fleet.toml", "run", "runbook.toml", "--theme", "mine"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("mine.toml:3:") && err.contains("blink"), "{err}");
    assert!(!journal(dir.path()).exists(), "nothing started");

    let out = Command::new(env!("CARGO_BIN_EXE_patchdeck"))
        .current_dir(dir.path())
        .args(["--simulate", "fleet.toml", "run", "runbook.toml", "--theme", "nope"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no theme named \"nope\"") && err.contains("high-contrast"), "{err}");
}

/// `patchdeck run` with a config file; what it printed on stderr and its exit code. Without
/// a terminal the cockpit refuses to open, but only after the theme was chosen.
fn run_with_config(dir: &Path, config: &Path, args: &[&str]) -> (String, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_patchdeck"))
        .current_dir(dir)
        .env("PATCHDECK_CONFIG", config)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .args(["--simulate", "fleet.toml", "run", "runbook.toml"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code())
}

#[test]
fn the_config_file_chooses_the_theme_and_theme_beats_it() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "");
    let config = dir.path().join("patchdeck.toml");
    let needs_terminal = "the cockpit needs a terminal";

    // The config file's theme is the one loaded: a name that is no theme is an error that
    // points into the config file.
    std::fs::write(&config, "# my cockpit\ntheme = \"nope\"\n").unwrap();
    let (err, code) = run_with_config(dir.path(), &config, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("patchdeck.toml:2:9: error: invalid config: theme: no theme named \"nope\""), "{err}");
    // --theme beats it: that theme loads, and only the missing terminal stops the run.
    let (err, code) = run_with_config(dir.path(), &config, &["--theme", "light"]);
    assert!(err.contains(needs_terminal) && !err.contains("nope"), "{err}");
    assert_eq!(code, Some(1), "{err}");
    // A theme that exists, from the config file: loaded, then the terminal is missing.
    std::fs::write(&config, "theme = \"high-contrast\"\n").unwrap();
    let (err, _) = run_with_config(dir.path(), &config, &[]);
    assert!(err.contains(needs_terminal), "{err}");

    // An unknown key is an error naming the key, the file, the line and the column.
    std::fs::write(&config, "theme = \"light\"\nthem = \"dark\"\n").unwrap();
    let (err, code) = run_with_config(dir.path(), &config, &["--theme", "light"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("patchdeck.toml:2:1: error: invalid config: unknown field `them`"), "{err}");
    assert!(!journal(dir.path()).exists(), "nothing started");

    // A config file that $PATCHDECK_CONFIG names must exist; none at the default place is fine.
    let (err, code) = run_with_config(dir.path(), &dir.path().join("missing.toml"), &[]);
    assert!(err.contains("$PATCHDECK_CONFIG names") && err.contains("missing.toml"), "{err}");
    assert_eq!(code, Some(1), "{err}");
    let (err, _) = run_with_config(dir.path(), Path::new(""), &[]);
    assert!(err.contains(needs_terminal), "{err}");
}

#[test]
fn no_color_draws_without_colours_and_256_colours_with_them() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "");
    let t = Tmux::new("nocolor");
    t.start_with(dir.path(), &run_cmd(), &["NO_COLOR=1"]);
    t.wait_for("w", "window finished", 60);
    let styled = t.tmux(&["capture-pane", "-p", "-e", "-t", "w"]);
    assert!(!styled.contains("38;5;") && !styled.contains("[32m") && !styled.contains("[31m"), "{styled:?}");
    assert!(styled.contains("[7m") || styled.contains(";7m"), "reverse video marks the header and selection");
    t.send("w", &["q"]);
    t.wait_for("w", "EXITED 0", 10);

    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "");
    let t = Tmux::new("color");
    t.start(dir.path(), &run_cmd());
    t.wait_for("w", "window finished", 60);
    let styled = t.tmux(&["capture-pane", "-p", "-e", "-t", "w"]);
    assert!(styled.contains("38;5;"), "the default theme uses the 256-colour palette: {styled:?}");
}

/// CPU time (user + system, in clock ticks) a process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn idle_at_a_hard_stop_costs_next_to_no_cpu() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), FAIL_RESTART);
    let t = Tmux::new("idle");
    t.start(dir.path(), &run_cmd());
    t.wait_for("w", "HARD STOP canary1", 60);
    let pid = patchdeck_pid(&t, "w");
    let before = cpu_ticks(pid);
    // Measuring over a span of time is the point here, not waiting for something.
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(pid) - before;
    // One redraw a second for the clock: far below 5% of one CPU (15 ticks of 300).
    assert!(used <= 15, "{used} ticks in 3 s while idle");
    t.send("w", &["a"]);
    t.send("w", &["y"]);
    t.wait_for("w", "window ABORTED", 60);
}

#[test]
fn resume_after_kill_9_in_the_cockpit_asks_about_the_in_flight_step() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "[[host.canary1.faults]]\non = \"systemctl restart nginx\"\neffect = \"hang\"\n");
    let t = Tmux::new("crash");
    t.start(dir.path(), &run_cmd());
    t.wait_for("w", "step 3 restart nginx: running", 60);
    let pid = patchdeck_pid(&t, "w");
    Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    drop(t);

    let t = Tmux::new("resume");
    t.start(dir.path(), &format!("{} --resume", run_cmd()));
    // Each text waited for on its own: a capture can catch the modal half drawn.
    t.wait_for("w", "HARD STOP canary1", 60);
    t.wait_for("w", "outcome unknown", 10);
    t.wait_for("w", "e retry step", 10);
    // The full-screen diff from the stop, then back: each screen waited for, so no key
    // lands early (an Escape straight before `R` would reach the cockpit as Alt-R).
    t.send("w", &["d"]);
    let diff = t.wait_for("w", "(Esc closes)", 10);
    assert!(diff.contains("canary1"), "{diff}");
    t.send("w", &["Escape"]);
    // Back at the stop once the whole frame is redrawn (a capture can catch it half way).
    let until = Instant::now() + Duration::from_secs(10);
    let behind = loop {
        let screen = t.capture("w");
        if screen.contains("outcome unknown") && !screen.contains("(Esc closes)") {
            break screen;
        }
        assert!(Instant::now() < until, "Esc did not close the diff back to the stop:\n{screen}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!behind.contains("restart nginx: running"), "nothing claims the step still runs: {behind}");
    t.send("w", &["R"]);
    t.wait_for("w", "Roll back canary1 now?", 10);
    t.send("w", &["y"]);
    t.wait_for("w", "HARD STOP window", 60);
    t.send("w", &["a"]);
    t.send("w", &["y"]);
    t.wait_for("w", "window ABORTED", 60);
    t.send("w", &["q"]);
    t.wait_for("w", "EXITED 3", 10);
    let started = events(dir.path())
        .iter()
        .filter(|e| matches!(e, Event::StepStarted { host, step: 2, .. } if host == "canary1"))
        .count();
    assert_eq!(started, 1, "the in-flight step was not run again");
}

#[test]
fn the_cockpit_without_a_terminal_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "");
    let out = Command::new(env!("CARGO_BIN_EXE_patchdeck"))
        .current_dir(dir.path())
        .args(["--simulate", "fleet.toml", "run", "runbook.toml"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("needs a terminal") && err.contains("--no-tui --yes"), "{err}");
    assert!(!journal(dir.path()).exists(), "nothing started");
}

/// `patchdeck` with no command (here `demo --dir`, to keep the files in the test's temp dir)
/// opens the cockpit on the bundled demo and meets its first planted divergence.
#[test]
fn the_demo_opens_the_cockpit_and_stops_at_the_planted_divergence() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::new("demo");
    let demo_dir = dir.path().join("demo");
    let cmd = format!("{} demo --dir '{}'", env!("CARGO_BIN_EXE_patchdeck"), demo_dir.display());
    t.start_with(dir.path(), &cmd, &["PATCHDECK_OPERATORS=alice,bob"]);
    t.wait_for("w", "HARD STOP web2", 90);
    let screen = t.wait_for("w", "R roll back web2", 10);
    assert!(screen.contains("openssl-security-2026-11") && screen.contains("alice+bob"), "{screen}");
    assert!(screen.contains("UNTESTED") && screen.contains("libxml2"), "{screen}");
    t.send("w", &["a"]);
    t.wait_for("w", "Abort the window?", 10);
    t.send("w", &["y"]);
    t.wait_for("w", "window ABORTED", 60);
    t.send("w", &["q"]);
    t.wait_for("w", "EXITED 3", 30);
    // The demo's window was placed around now, so no deadline stop met it first.
    let ev: Vec<Event> = patchdeck::journal::replay::<Event>(&demo_dir.join("openssl-security-2026-11.journal.jsonl"))
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.event)
        .collect();
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::HardStop { stop: patchdeck::engine::event::StopKind::Deadline { .. }, .. }))
    );
}

/// `patchdeck drill` without `--no-tui`: the bundled step-failed scenario on the demo
/// window in the cockpit. DRILL is on the screen (and on `watch` of its journal in a
/// second pane), the injected failure raises the hard stop, the operators answer rollback
/// in the modal, and the scorecard is printed after quitting and journaled last.
#[test]
fn a_drill_in_the_cockpit_is_marked_decided_by_the_operators_and_scored() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for f in ["runbook.toml", "hosts.toml", "tested.toml", "fleet.toml"] {
        std::fs::copy(Path::new(DEMO).join(f), dir.path().join(f)).unwrap();
    }
    let t = Tmux::new("drill");
    let cmd = format!(
        "{} drill runbook.toml --scenario step-failed --speed 0 --journal drill.jsonl --operator alice --operator bob",
        env!("CARGO_BIN_EXE_patchdeck")
    );
    let history = format!("PATCHDECK_DRILL_HISTORY={}", dir.path().join("drills.jsonl").display());
    t.start_with(dir.path(), &cmd, &[&history]);
    let screen = t.wait_for("w", "HARD STOP canary1", 60);
    assert!(screen.starts_with(" DRILL "), "DRILL first in the header:\n{screen}");
    assert!(screen.contains("step \"restart nginx\" failed (exit 1)"), "{screen}");
    assert!(screen.contains("drill: injected failure (exit 1)"), "{screen}");

    // `watch` of the drill's journal says DRILL too.
    let watch = format!(
        "cd '{}' && {} watch drill.jsonl; echo EXITED $?; sleep 600",
        dir.path().display(),
        env!("CARGO_BIN_EXE_patchdeck")
    );
    t.tmux(&["split-window", "-t", "w", "-h", "sh", "-c", &watch]);
    t.tmux(&["resize-window", "-t", "w", "-x", "170", "-y", "30"]);
    // Waiting for the stop, not for READ-ONLY: watch draws its frame before it has read
    // the journal, so READ-ONLY can be on screen before the stop is.
    let watched = t.wait_for("w.1", "HARD STOP canary1, operators deciding", 20);
    assert!(watched.starts_with(" DRILL ") && watched.contains("READ-ONLY"), "{watched}");
    t.send("w.1", &["q"]);
    t.wait_for("w.1", "EXITED 0", 10);

    // The operators decide, in the modal: rollback, then abort at the wave's stop.
    t.send("w.0", &["R"]);
    t.wait_for("w.0", "Roll back canary1 now?", 10);
    t.send("w.0", &["y"]);
    let stop = t.wait_for("w.0", "HARD STOP window", 60);
    assert!(stop.starts_with(" DRILL "), "{stop}");
    t.send("w.0", &["a"]);
    t.wait_for("w.0", "Abort the window?", 10);
    t.send("w.0", &["y"]);
    let end = t.wait_for("w.0", "DRILL over: scorecard PASSED", 60);
    assert!(end.contains("rolled back"), "{end}");
    t.send("w.0", &["q"]);
    let after = t.wait_for("w.0", "EXITED 0", 10);
    assert!(after.contains("[DRILL] SCORECARD step-failed"), "{after}");
    assert!(!after.contains("┌"), "the cockpit's screen is gone:\n{after}");

    let replay = patchdeck::journal::replay::<Event>(&dir.path().join("drill.jsonl")).unwrap();
    assert!(replay.header.drill, "the journal's header says drill");
    let ev: Vec<Event> = replay.records.into_iter().map(|r| r.event).collect();
    assert!(matches!(ev.first(), Some(Event::WindowStarted { drill: true, .. })));
    assert!(ev.iter().any(|e| matches!(e, Event::FaultInjected { host: Some(h), .. } if h == "canary1")));
    assert!(ev.iter().any(|e| matches!(e,
        Event::Decided(d) if d.host.as_deref() == Some("canary1")
            && d.decision.choice == Choice::RollbackHost && d.operators == ["alice"])));
    let Some(Event::DrillScorecard { scorecard }) = ev.last() else { panic!("the scorecard is journaled last") };
    assert!(scorecard.passed, "{scorecard:#?}");
    let fault = &scorecard.faults[0];
    let caught = fault.stop.as_ref().expect("the fault was caught");
    assert_eq!((caught.kind, caught.decision), (StopCode::StepFailed, Some(Choice::RollbackHost)));
    assert!(caught.recover_s.is_some(), "{caught:?}");
    let canary = scorecard.hosts.iter().find(|h| h.host == "canary1").unwrap();
    assert_eq!(canary.as_before, Some(true), "{canary:?}");
    assert!(dir.path().join("drills.jsonl").exists(), "the drill is in the history");
}
