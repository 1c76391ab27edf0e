//! The real binary's cockpit inside tmux, as an operator in a shared session would use it:
//! keys sent with `send-keys`, the screen read with `capture-pane`, polling for text with
//! a deadline (never fixed sleeps). Each test has its own tmux server (`-L`), killed at the
//! end. The fleet is simulated (`--simulate`). Every key sent at a modal that opened by
//! itself waits until its keys are let go (the modal says so while they are held).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use patchdeck::engine::control::{Actor, Choice, StopCode};
use patchdeck::engine::event::{Event, Outcome, Request};

use crate::support::demo::DEMO;
use crate::support::require;

/// The demo window cut down to canary1 then web1 (both clean), plus `fleet_extra` faults.
fn setup(dir: &Path, fleet_extra: &str) -> PathBuf {
    crate::support::demo::clean_demo_now(dir, fleet_extra)
}

/// [`setup`] with the runbook's text edited too.
fn setup_with(dir: &Path, waves: &[(&str, &[&str])], edit: impl Fn(String) -> String, fleet_extra: &str) {
    crate::support::demo::clean_demo(
        dir,
        waves,
        |rb| edit(patchdeck::demo::window_around(&rb, jiff::Timestamp::now())),
        |fleet| format!("{fleet}\n{fleet_extra}"),
    );
}

/// [`setup`] where canary1's restart hangs until its timeout of `secs` (a step that runs,
/// then ends, on its own).
fn hanging_restart(dir: &Path, secs: u64) {
    let short = |rb: String| {
        let timed = format!("run = \"systemctl restart nginx\"\ntimeout = \"{secs}s\"\n");
        rb.replacen("run = \"systemctl restart nginx\"\n", &timed, 1)
    };
    setup_with(dir, crate::support::demo::CLEAN_WAVES, short, HANG_RESTART);
}

const FAIL_RESTART: &str = "[[host.canary1.faults]]\non = \"systemctl restart nginx\"\neffect = { exit = 1 }\n";
const HANG_RESTART: &str = "[[host.canary1.faults]]\non = \"systemctl restart nginx\"\neffect = \"hang\"\n";
/// Shown in a modal while it holds the keys, just after it opened by itself.
const HELD: &str = "(just opened: keys wait a moment)";

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
        // A fresh line first: the program may leave the cursor at the end of one, and the
        // marker must never wrap.
        let script = format!("cd '{}' && {cmd}; rc=$?; printf '\\r\\nEXITED %s\\n' \"$rc\"; sleep 600", dir.display());
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

    /// Types `text` literally (no key names).
    fn type_text(&self, target: &str, text: &str) {
        self.tmux(&["send-keys", "-t", target, "-l", text]);
    }

    /// Polls the pane until `done` holds for it; panics with the screen after `secs`.
    fn wait_until(&self, target: &str, what: &str, secs: u64, done: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.capture(target);
            if done(&screen) {
                return screen;
            }
            assert!(Instant::now() < until, "waited {secs}s for {what} on {target}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls the pane until `text` is on it.
    fn wait_for(&self, target: &str, text: &str, secs: u64) -> String {
        self.wait_until(target, &format!("{text:?}"), secs, |s| s.contains(text))
    }

    /// At a stop: `a` (abort the window), then `y`.
    fn abort(&self, target: &str) {
        self.send(target, &["a"]);
        self.wait_for(target, "Abort the window?", 10);
        self.send(target, &["y"]);
    }

    /// At `host`'s stop: `R`, then `y`.
    fn roll_back(&self, target: &str, host: &str) {
        self.send(target, &["R"]);
        self.wait_for(target, &format!("Roll back {host} now?"), 10);
        self.send(target, &["y"]);
    }

    /// Polls the pane until `text` is on it and the keys are no longer held: what the
    /// operator reads before answering. Two captures in a row must say so: one can catch a
    /// modal half drawn, its last line (the hold's note) not yet there.
    fn ready(&self, target: &str, text: &str, secs: u64) -> String {
        let ok = |s: &str| s.contains(text) && !s.contains(HELD);
        let until = Instant::now() + Duration::from_secs(secs);
        let mut before = false;
        loop {
            let screen = self.capture(target);
            let now = ok(&screen);
            if now && before {
                return screen;
            }
            before = now;
            assert!(Instant::now() < until, "waited {secs}s for {text:?}, keys let go, on {target}:\n{screen}");
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

/// The pid of the pane's command's child (the pane runs `sh -c`, which runs patchdeck).
fn patchdeck_pid(t: &Tmux, target: &str) -> u32 {
    let sh = t.tmux(&["display-message", "-p", "-t", target, "#{pane_pid}"]).trim().to_string();
    let children = std::fs::read_to_string(format!("/proc/{sh}/task/{sh}/children")).unwrap();
    children.split_whitespace().next().expect("patchdeck runs under the pane's sh").parse().unwrap()
}

/// Whether `pid` is there at all: `kill -0` answers for a zombie too, so this is only false
/// once its parent has reaped it, i.e. it has really exited.
fn exists(pid: u32) -> bool {
    Command::new("kill").args(["-0", &pid.to_string()]).status().unwrap().success()
}

/// Whether `pid` is running (there, and not a zombie).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat[stat.rfind(')').unwrap() + 2..].starts_with(|c| c != 'Z'))
}

/// Polls until `pid` is gone (exited and reaped); panics after `secs`.
fn wait_gone(pid: u32, secs: u64) {
    let until = Instant::now() + Duration::from_secs(secs);
    while exists(pid) {
        assert!(Instant::now() < until, "process {pid} still there after {secs}s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The text inside the modal box titled `title` on `screen`, its lines joined by spaces
/// (a modal wraps its sentences wherever the width falls).
fn modal_text(screen: &str, title: &str) -> String {
    let lines: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let Some((top, left)) = lines.iter().enumerate().find_map(|(y, l)| {
        let s: String = l.iter().collect();
        let at = s.find(&format!("┌ {title}"))?;
        Some((y, s[..at].chars().count()))
    }) else {
        panic!("no modal {title:?} on the screen:\n{screen}")
    };
    let right = lines[top].iter().skip(left + 1).position(|c| *c == '┐').map(|p| left + 1 + p).unwrap();
    let mut text = Vec::new();
    for l in &lines[top + 1..] {
        if l.get(left) == Some(&'└') {
            break;
        }
        let inside: String = l.iter().skip(left + 1).take(right - left - 1).collect();
        text.push(inside.trim().to_string());
    }
    text.join(" ")
}

/// Where the first event for which `f` holds is in the journal.
fn position(ev: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    ev.iter().position(f).unwrap_or_else(|| panic!("not in the journal: {ev:#?}"))
}

/// A journaled decision: its stop's host, the choice, who (the actor), and the names.
type Made = (Option<String>, Choice, Option<Actor>, Vec<String>);

/// `Decided` events, as (host, choice, who, names).
fn decisions(ev: &[Event]) -> Vec<Made> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Decided(d) => Some((d.host.clone(), d.decision.choice, d.by.clone(), d.operators.clone())),
            _ => None,
        })
        .collect()
}

fn alice() -> Option<Actor> {
    Some(Actor::operator("alice"))
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
    let screen = t.wait_for("w", "window finished; rollback stays possible: R host, W wave, X all; q leaves", 60);
    assert!(screen.contains("operators alice+bob"), "{screen}");
    assert!(screen.contains("v web1 done"), "{screen}");
    assert!(screen.contains(" R ROLLBACK web1 "), "rollback stays offered once the window ended:\n{screen}");
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
    let screen = t.ready("w", "R roll back canary1", 60);
    assert!(screen.contains("HARD STOP canary1") && screen.contains("step \"restart nginx\" failed (exit 1)"));
    // q at a stop asks how to leave, and decides nothing; Esc is back at the stop.
    t.send("w", &["q"]);
    t.wait_for("w", "Leave the cockpit?", 10);
    t.send("w", &["Escape"]);
    let back = t.wait_until("w", "the stop again", 10, |s| {
        !s.contains("Leave the cockpit?") && s.contains("R roll back canary1")
    });
    assert!(back.contains("HARD STOP canary1"), "{back}");
    assert!(
        !events(dir.path()).iter().any(|e| matches!(e, Event::Decided(_) | Event::Requested { .. })),
        "q and Esc asked for nothing"
    );
    // Rollback takes one key and one confirmation.
    t.roll_back("w", "canary1");
    // canary1 failed, so its wave's budget is spent: a window-wide stop follows. Abort it.
    t.ready("w", "HARD STOP window", 60);
    t.abort("w");
    let end = t.wait_for("w", "window ABORTED", 60);
    assert!(end.contains("< canary1 RB verified"), "rolled back, and verified on the host:\n{end}");
    t.send("w", &["q"]);
    let after = t.wait_for("w", "EXITED 3", 10);
    assert!(after.contains("canary1: rolled back"), "{after}");
    let ev = events(dir.path());
    assert_eq!(
        decisions(&ev),
        [
            (Some("canary1".into()), Choice::RollbackHost, alice(), vec!["alice".to_string()]),
            (None, Choice::Abort, alice(), vec!["alice".to_string()]),
        ]
    );
    assert!(
        ev.iter().any(|e| matches!(e, Event::RollbackFinished { host, verified: Some(true), .. } if host == "canary1"))
    );
    assert!(ev.iter().any(|e| matches!(e,
        Event::Checks { host, after_rollback: true, results, .. } if host == "canary1" && results.iter().all(|r| r.ok))));
    assert!(!ev.iter().any(|e| matches!(e, Event::StepStarted { host, .. } if host == "web1")));
}

#[test]
fn a_key_pressed_as_the_stop_opens_is_swallowed() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), FAIL_RESTART);
    let t = Tmux::new("held");
    // A long hold (as for a pair whose view lags), so the key surely lands inside it.
    t.start_with(dir.path(), &run_cmd(), &["PATCHDECK_KEY_GRACE_MS=3000"]);
    // `a` as soon as the stop is seen: it was meant for whatever was there before.
    t.wait_for("w", "HARD STOP canary1", 60);
    t.send("w", &["a"]);
    let held = t.wait_for("w", "key ignored: the stop just opened; read it, then press again", 10);
    assert!(held.contains(HELD), "the modal says its keys wait:\n{held}");
    // Once the keys are let go, nothing was asked or decided by that `a`.
    let after = t.ready("w", "R roll back canary1", 10);
    assert!(!after.contains("Abort the window?"), "{after}");
    assert!(!events(dir.path()).iter().any(|e| matches!(e, Event::Decided(_))));
    // The same key now, seen, works.
    t.abort("w");
    t.wait_for("w", "window ABORTED", 60);
    t.send("w", &["q"]);
    t.wait_for("w", "EXITED 3", 10);
    assert_eq!(
        decisions(&events(dir.path())),
        [(Some("canary1".into()), Choice::Abort, alice(), vec!["alice".to_string()])]
    );
}

/// canary1 and web1 in one wave, two at a time: when canary1's restart fails web1 is
/// part-way. Aborting at the stop starts nothing anywhere afterwards.
#[test]
fn abort_at_a_hard_stop_starts_nothing_afterwards() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let both = |rb: String| {
        rb.replacen("hosts = [\"canary1\", \"web1\"]\n", "hosts = [\"canary1\", \"web1\"]\nparallel = 2\n", 1)
    };
    setup_with(dir.path(), &[("all", &["canary1", "web1"])], both, FAIL_RESTART);
    let t = Tmux::new("abort");
    t.start(dir.path(), &run_cmd());
    t.ready("w", "R roll back canary1", 60);
    t.abort("w");
    t.wait_for("w", "window ABORTED", 60);
    t.send("w", &["q"]);
    t.wait_for("w", "EXITED 3", 10);
    let ev = events(dir.path());
    let abort = position(&ev, |e| matches!(e, Event::Decided(d) if d.decision.choice == Choice::Abort));
    let started: Vec<&Event> = ev[abort..].iter().filter(|e| matches!(e, Event::StepStarted { .. })).collect();
    assert!(started.is_empty(), "started after the abort: {started:#?}");
    assert!(
        ev[..abort].iter().any(|e| matches!(e, Event::StepStarted { host, .. } if host == "web1")),
        "web1 was under way when canary1 stopped (the abort had something to stop)"
    );
    assert!(matches!(ev.last(), Some(Event::WindowFinished { aborted: true })), "{:?}", ev.last());
}
/// Answers whatever the resumed demo asks until it finishes: go at the web wave's
/// go/no-go, the planted divergences are skipped, shop1's auto-rollback rolls back now, and
/// the core wave's spent budget is overridden with a reason. Every key waits until the
/// modal's keys are let go.
fn answer_the_demo(t: &Tmux) {
    let until = Instant::now() + Duration::from_secs(180);
    loop {
        let screen = t.capture("w");
        assert!(Instant::now() < until, "the demo did not finish; the screen:\n{screen}");
        if screen.contains("window finished") {
            return;
        }
        if screen.contains(HELD) {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        if screen.contains("GO/NO-GO: wave web") && screen.contains("g go") {
            t.send("w", &["g"]);
            t.wait_for("w", "Go: start the next wave?", 10);
            t.send("w", &["y"]);
            t.wait_until("w", "the go to be taken", 20, |s| !s.contains("GO/NO-GO"));
        } else if let Some(host) =
            ["web2", "web3", "api1"].into_iter().find(|h| screen.contains(&format!("s skip {h}")))
        {
            t.send("w", &["s"]);
            t.wait_for("w", &format!("Skip {host} and leave it untouched?"), 10);
            t.send("w", &["y"]);
            t.wait_until("w", "the skip to be taken", 20, |s| !s.contains(&format!("s skip {host}")));
        } else if screen.contains("AUTO-ROLLBACK shop1") && screen.contains("R roll back now") {
            t.send("w", &["R"]);
            t.wait_until("w", "the countdown to close", 20, |s| !s.contains("R roll back now"));
        } else if screen.contains("HARD STOP window") && screen.contains("o override") {
            t.send("w", &["o"]);
            t.wait_for("w", "Override: why is carrying on safe?", 10);
            t.type_text("w", "shop1 rolled back; the rest is fine");
            t.send("w", &["Enter"]);
            t.wait_for("w", "type \"override\"", 10);
            t.type_text("w", "override");
            t.send("w", &["Enter"]);
            t.wait_until("w", "the override to be taken", 20, |s| !s.contains("HARD STOP window"));
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The demo (its fleet at plausible speeds: an install takes three seconds) left PAUSED
/// while canary1's install runs, then `run --resume` carries on from exactly there and the
/// window finishes.
#[test]
fn quit_mid_step_then_resume_finishes_the_window() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let t = Tmux::new("pause");
    let cmd = format!("{} demo --dir '{}'", env!("CARGO_BIN_EXE_patchdeck"), demo.display());
    t.start_with(dir.path(), &cmd, &["PATCHDECK_OPERATORS=alice,bob"]);
    t.wait_for("w", "step 2 apply tested updates: running", 60);
    t.send("w", &["q"]);
    let asked = modal_text(&t.wait_for("w", "Leave the cockpit?", 10), "Leave the cockpit?");
    assert!(asked.contains("Running now: canary1: apply tested updates; it finishes either way"), "{asked}");
    t.send("w", &["2"]);
    t.wait_for("w", "2 [bob]", 10);
    t.send("w", &["p"]);
    let left = t.wait_for("w", "EXITED 4", 30);
    assert!(left.contains("left PAUSED: resume with `patchdeck run"), "{left}");
    let jpath = demo.join("openssl-security-2026-11.journal.jsonl");
    let replay = |p: &Path| -> Vec<Event> {
        patchdeck::journal::replay::<Event>(p).unwrap().records.into_iter().map(|r| r.event).collect()
    };
    let ev = replay(&jpath);
    let pause = position(&ev, |e| matches!(e, Event::Requested { request: Request::Pause { .. }, .. }));
    assert!(
        matches!(&ev[pause], Event::Requested { request: Request::Pause { reason }, operators }
            if reason == "the operators left the cockpit" && operators == &["bob".to_string()]),
        "{:?}",
        ev[pause]
    );
    // Mid-step: the install had started and had not finished when the pause was journaled;
    // it finished (ok) after it, and nothing started after it.
    let installing = position(&ev, |e| matches!(e, Event::StepStarted { host, step: 1, .. } if host == "canary1"));
    let installed = position(&ev, |e| matches!(e, Event::StepFinished { host, step: 1, .. } if host == "canary1"));
    assert!(installing < pause && pause < installed, "paused mid-step: {installing} < {pause} < {installed}");
    assert!(matches!(&ev[installed], Event::StepFinished { outcome: Outcome::Ok, .. }));
    assert!(!ev[pause..].iter().any(|e| matches!(e, Event::StepStarted { .. })), "nothing new started");
    drop(t);

    // Resumed: canary1 goes on at its third step, and the window runs to its end.
    let t = Tmux::new("resumed");
    let cmd = format!(
        "{} --simulate fleet.toml run runbook.toml --resume --operator alice --operator bob",
        env!("CARGO_BIN_EXE_patchdeck")
    );
    t.start(&demo, &cmd);
    answer_the_demo(&t);
    t.send("w", &["q"]);
    t.wait_for("w", "EXITED 3", 30);
    let ev = replay(&jpath);
    let resumed = position(&ev, |e| matches!(e, Event::Resumed { .. }));
    let canary: Vec<usize> = ev[resumed..]
        .iter()
        .filter_map(|e| match e {
            Event::StepStarted { host, step, .. } if host == "canary1" => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(canary, [2, 3], "canary1 went on where it was, nothing repeated");
    assert!(ev.iter().any(|e| matches!(e, Event::HostFinished { host, result: patchdeck::engine::event::HostResult::Done } if host == "canary1")));
    assert!(matches!(ev.last(), Some(Event::WindowFinished { aborted: false })), "{:?}", ev.last());
}

/// After the window finished the engine still serves rollbacks until the operators leave:
/// R on a host of the last wave, then on one of the first (reached with `[`).
#[test]
fn rollback_after_the_window_finished_is_verified() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "");
    let t = Tmux::new("after");
    t.start(dir.path(), &run_cmd());
    t.wait_for("w", "window finished; rollback stays possible", 60);
    t.send("w", &["R"]);
    t.wait_for("w", "Roll back web1?", 10);
    t.send("w", &["y"]);
    t.wait_for("w", "web1 RB verified", 60);
    t.send("w", &["["]);
    t.wait_for("w", "Wave 1/2 \"canary\" done", 10);
    t.send("w", &["R"]);
    t.wait_for("w", "Roll back canary1?", 10);
    t.send("w", &["y"]);
    t.wait_for("w", "canary1 RB verified", 60);
    t.send("w", &["q"]);
    let after = t.wait_for("w", "EXITED 3", 10);
    assert!(after.contains("canary1: rolled back") && after.contains("web1: rolled back"), "{after}");
    let ev = events(dir.path());
    let finished = position(&ev, |e| matches!(e, Event::WindowFinished { aborted: false }));
    for host in ["web1", "canary1"] {
        let asked = position(&ev, |e| {
            matches!(e, Event::Requested { request: Request::RollbackHost { host: h }, operators }
                if h == host && operators == &["alice".to_string()])
        });
        assert!(asked > finished, "{host}: asked after the window finished");
        assert!(
            ev[asked..]
                .iter()
                .any(|e| matches!(e, Event::RollbackFinished { host: h, verified: Some(true), .. } if h == host))
        );
        assert!(
            ev[asked..].iter().any(|e| matches!(e,
            Event::Checks { host: h, after_rollback: true, results, .. } if h == host && results.iter().all(|r| r.ok)))
        );
        assert!(ev[asked..].iter().any(|e| matches!(e,
            Event::HostFinished { host: h, result: patchdeck::engine::event::HostResult::RolledBack } if h == host)));
    }
    assert_eq!(
        ev.iter().filter(|e| matches!(e, Event::WindowFinished { .. })).count(),
        1,
        "the window finished once; the rollbacks came after"
    );
}

#[test]
fn ctrl_c_asks_and_sigterm_leaves_the_window_paused_and_the_terminal_restored() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // canary1's restart hangs until its (short) timeout: a step runs throughout.
    hanging_restart(dir.path(), 10);
    let t = Tmux::new("quit");
    t.start(dir.path(), &run_cmd());
    t.wait_for("w", "step 3 restart nginx: running", 60);
    t.send("w", &["C-c"]);
    let asked = modal_text(&t.wait_for("w", "Leave the cockpit?", 10), "Leave the cockpit?");
    assert!(
        asked.contains("Running now: canary1: restart nginx; it finishes either way (no remote command is killed)"),
        "{asked}"
    );
    t.send("w", &["n"]);
    t.wait_until("w", "back on the main screen", 10, |s| {
        !s.contains("Leave the cockpit?") && s.contains("R ROLLBACK canary1")
    });
    assert!(!events(dir.path()).iter().any(|e| matches!(e, Event::Requested { .. })), "back means nothing asked");

    let pid = patchdeck_pid(&t, "w");
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    let after = t.wait_for("w", "SIGTERM", 10);
    // The terminal is given back at once, while patchdeck still waits for the step.
    assert!(!after.contains("┌"), "the terminal is given back at once:\n{after}");
    assert!(running(pid), "patchdeck waits for the running step, it does not kill it");
    let ev = events(dir.path());
    let pause = position(
        &ev,
        |e| matches!(e, Event::Requested { request: Request::Pause { reason }, .. } if reason == "SIGTERM received"),
    );
    assert!(!ev.iter().any(|e| matches!(e, Event::Requested { request: Request::Abort, .. })), "paused, not aborted");
    // Then it exits, paused, once the step ended (its timeout), and is really gone.
    t.wait_for("w", "EXITED 4", 30);
    wait_gone(pid, 10);
    let ev = events(dir.path());
    let ended = position(&ev, |e| matches!(e, Event::StepFinished { host, step: 2, .. } if host == "canary1"));
    assert!(pause < ended, "the step ran to its end after the signal");
    assert!(
        matches!(&ev[ended], Event::StepFinished { outcome: Outcome::Timeout { after_secs: 10 }, .. }),
        "{:?}",
        ev[ended]
    );
    assert!(!ev[pause..].iter().any(|e| matches!(e, Event::StepStarted { .. })), "nothing new started");
    assert!(!ev.iter().any(|e| matches!(e, Event::WindowFinished { .. })), "left paused, not finished");
}

/// The terminal closes under the cockpit (the tmux pane is killed: SIGHUP, and every write
/// to it fails from then on): the window is left paused, the running step finishes, and
/// patchdeck exits as paused (4), not with a panic (101) on the dead terminal.
#[test]
fn closing_the_terminal_leaves_the_window_paused_without_a_panic() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Long enough that the step is still running when the pane is gone, however loaded
    // the machine is: the step must end after the pause, not before it.
    hanging_restart(dir.path(), 15);
    let t = Tmux::new("hangup");
    // sh outlives the pane (a trap, so patchdeck still gets the signal) to say how
    // patchdeck exited, in a file: the pane that would show it is gone.
    let code = dir.path().join("exit-code");
    // `exit`: nothing of it lingers once it has said so.
    let cmd = format!("trap 'true' HUP; {}; echo $? > '{}'; exit", run_cmd(), code.display());
    t.start(dir.path(), &cmd);
    t.wait_for("w", "step 3 restart nginx: running", 60);
    let pid = patchdeck_pid(&t, "w");
    t.tmux(&["kill-pane", "-t", "w"]);
    wait_gone(pid, 30);
    let until = Instant::now() + Duration::from_secs(10);
    while !code.exists() {
        assert!(Instant::now() < until, "sh did not say how patchdeck exited");
        std::thread::sleep(Duration::from_millis(50));
    }
    let until = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        let text = std::fs::read_to_string(&code).unwrap();
        if text.ends_with('\n') {
            break text.trim().to_string();
        }
        assert!(Instant::now() < until, "the exit code was not written whole: {text:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(exit, "4", "left paused, not a panic on the closed terminal");
    let ev = events(dir.path());
    // Whichever patchdeck met first: the hangup, or the terminal failing under a write or
    // a read. Either way it is journaled once, as a pause.
    let pauses: Vec<&str> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Requested { request: Request::Pause { reason }, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert!(matches!(pauses[..], ["SIGHUP received" | "the terminal went away"]), "{pauses:?}");
    let pause = position(&ev, |e| matches!(e, Event::Requested { request: Request::Pause { .. }, .. }));
    let ended = position(&ev, |e| matches!(e, Event::StepFinished { host, step: 2, .. } if host == "canary1"));
    assert!(pause < ended, "the running step finished after the terminal closed");
    assert!(!ev[pause..].iter().any(|e| matches!(e, Event::StepStarted { .. })), "nothing new started");
}

/// With two operators, each decision names the one who chose it: bob rolls canary1 back
/// (2, then R, y), alice (the first, again by default at the next stop) aborts.
#[test]
fn the_decision_records_the_one_operator_who_chose() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), FAIL_RESTART);
    let t = Tmux::new("who");
    t.start(dir.path(), &run_cmd());
    let stop = t.ready("w", "R roll back canary1", 60);
    assert!(stop.contains("by 1 [alice]  2 bob"), "{stop}");
    t.send("w", &["2"]);
    t.wait_for("w", "by 1 alice  2 [bob]", 10);
    t.roll_back("w", "canary1");
    let next = t.ready("w", "HARD STOP window", 60);
    assert!(next.contains("by 1 [alice]  2 bob"), "a new stop: the first operator by default\n{next}");
    t.abort("w");
    t.wait_for("w", "window ABORTED", 60);
    t.send("w", &["q"]);
    t.wait_for("w", "EXITED 3", 10);
    let ev = events(dir.path());
    assert_eq!(
        decisions(&ev),
        [
            (Some("canary1".into()), Choice::RollbackHost, Some(Actor::operator("bob")), vec!["bob".to_string()]),
            (None, Choice::Abort, alice(), vec!["alice".to_string()]),
        ]
    );
}
#[test]
fn resize_mid_window_redraws_and_too_small_decides_nothing() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), FAIL_RESTART);
    let t = Tmux::new("resize");
    t.start(dir.path(), &run_cmd());
    // The engine waits at the stop: the window is mid-way while we resize.
    t.ready("w", "R roll back canary1", 60);
    t.tmux(&["resize-window", "-t", "w", "-x", "70", "-y", "20"]);
    let small = t.wait_for("w", "too small", 10);
    assert!(small.contains("70x20"), "{small}");
    assert!(small.contains("A decision is waiting: HARD STOP canary1"), "{small}");
    // Typed blind, s y would have skipped it; they do nothing.
    t.send("w", &["a"]);
    t.send("w", &["y"]);
    t.tmux(&["resize-window", "-t", "w", "-x", "120", "-y", "40"]);
    let big = t.wait_until("w", "the cockpit at 120x40", 10, |s| {
        s.contains("HARD STOP canary1") && !s.contains("The terminal is too small")
    });
    assert!(big.contains("Wave 1/2 \"canary\""), "three columns at 120 wide:\n{big}");
    assert!(!big.contains("Abort the window?"), "{big}");
    assert!(!events(dir.path()).iter().any(|e| matches!(e, Event::Decided(_))), "nothing decided while too small");
    t.tmux(&["resize-window", "-t", "w", "-x", "80", "-y", "24"]);
    t.ready("w", "R roll back canary1", 10);
    t.abort("w");
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
        "cd '{}' && {} watch {}; rc=$?; printf '\\r\\nEXITED %s\\n' \"$rc\"; sleep 600",
        dir.path().display(),
        env!("CARGO_BIN_EXE_patchdeck"),
        journal(dir.path()).display()
    );
    t.tmux(&["split-window", "-t", "w", "-h", "sh", "-c", &watch]);
    t.tmux(&["resize-window", "-t", "w", "-x", "170", "-y", "30"]);
    // The stop is waited for: watch's first frame (READ-ONLY already) can come before it,
    // and a frame from before the resize says it is too small.
    let watched = t.wait_until("w.1", "watch's cockpit with the stop", 20, |s| {
        s.contains("HARD STOP canary1, operators deciding") && !s.contains("The terminal is too small")
    });
    assert!(watched.contains("READ-ONLY"), "{watched}");
    assert!(!watched.contains("ROLLBACK"), "watch has no rollback key:\n{watched}");
    // R in watch is refused, visibly, and sends nothing.
    t.send("w.1", &["R"]);
    t.wait_for("w.1", "READ-ONLY: watching the journal; this screen cannot send commands", 10);
    assert!(!events(dir.path()).iter().any(|e| matches!(e, Event::Requested { .. } | Event::Decided(_))));
    // Decide in the cockpit; watch follows.
    t.ready("w.0", "R roll back canary1", 10);
    t.roll_back("w.0", "canary1");
    t.wait_for("w.1", "canary1 RB verified", 20);
    t.ready("w.0", "HARD STOP window", 60);
    t.abort("w.0");
    t.wait_for("w.1", "window ABORTED", 20);
    t.send("w.1", &["q"]);
    t.wait_for("w.1", "EXITED 0", 10);
    t.send("w.0", &["q"]);
    t.wait_for("w.0", "EXITED 3", 10);
    // Exactly the cockpit's two decisions, nothing from watch.
    let ev = events(dir.path());
    assert_eq!(decisions(&ev).len(), 2);
    assert!(!ev.iter().any(|e| matches!(e, Event::Requested { .. })));
}

/// Every SGR parameter list in `styled` (tmux `capture-pane -e`), as numbers.
fn sgr_codes(styled: &str) -> Vec<Vec<u32>> {
    styled
        .split("\x1b[")
        .skip(1)
        .filter_map(|rest| {
            let end = rest.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
            (rest[end..].starts_with('m')).then(|| rest[..end].split(';').filter_map(|p| p.parse().ok()).collect())
        })
        .collect()
}

/// An SGR parameter list that sets a colour (foreground or background, any palette).
fn sets_colour(codes: &[u32]) -> bool {
    codes.iter().any(|c| matches!(c, 30..=38 | 40..=48 | 90..=97 | 100..=107))
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
    let codes = sgr_codes(&styled);
    let coloured: Vec<&Vec<u32>> = codes.iter().filter(|c| sets_colour(c)).collect();
    assert!(coloured.is_empty(), "NO_COLOR: no colour at all, found {coloured:?}");
    assert!(codes.iter().any(|c| c.contains(&7)), "reverse video marks the header and selection: {codes:?}");
    t.send("w", &["q"]);
    t.wait_for("w", "EXITED 0", 10);

    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "");
    let t = Tmux::new("color");
    t.start(dir.path(), &run_cmd());
    t.wait_for("w", "window finished", 60);
    let codes = sgr_codes(&t.tmux(&["capture-pane", "-p", "-e", "-t", "w"]));
    assert!(codes.iter().any(|c| c.starts_with(&[38, 5])), "the default theme uses the 256-colour palette: {codes:?}");
    assert!(sets_colour(&[38, 5, 1]) && !sets_colour(&[0, 1, 7, 39, 49]), "the check itself tells colour from none");
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
fn resume_after_kill_9_in_the_cockpit_asks_about_the_in_flight_step() {
    if !require::tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), HANG_RESTART);
    let t = Tmux::new("crash");
    t.start(dir.path(), &run_cmd());
    t.wait_for("w", "step 3 restart nginx: running", 60);
    let pid = patchdeck_pid(&t, "w");
    Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    t.wait_for("w", "EXITED 137", 10);
    drop(t);
    // The host recovered meanwhile: its restart no longer hangs (the simulated fleet is
    // read afresh by the resumed process).
    let fleet = dir.path().join("fleet.toml");
    let text = std::fs::read_to_string(&fleet).unwrap();
    std::fs::write(&fleet, text.replace(HANG_RESTART, "")).unwrap();

    let t = Tmux::new("resume");
    t.start(dir.path(), &format!("{} --resume", run_cmd()));
    // Each text waited for on its own: a capture can catch the modal half drawn.
    t.wait_for("w", "HARD STOP canary1", 60);
    t.wait_for("w", "outcome unknown", 10);
    t.ready("w", "e retry step", 10);
    // The full-screen diff from the stop, then back: each screen waited for, so no key
    // lands early (an Escape straight before `R` would reach the cockpit as Alt-R).
    t.send("w", &["d"]);
    let diff = t.wait_for("w", "(Esc closes)", 10);
    assert!(diff.contains("canary1"), "{diff}");
    t.send("w", &["Escape"]);
    let behind =
        t.wait_until("w", "the stop again", 10, |s| s.contains("outcome unknown") && !s.contains("(Esc closes)"));
    assert!(!behind.contains("restart nginx: running"), "nothing claims the step still runs: {behind}");
    t.roll_back("w", "canary1");
    // An unknown outcome is no failure: canary1 is rolled back and the window goes on.
    t.wait_for("w", "window finished", 60);
    t.send("w", &["q"]);
    t.wait_for("w", "EXITED 3", 10);
    let ev = events(dir.path());
    assert!(
        ev.iter().any(|e| matches!(e, Event::RollbackFinished { host, verified: Some(true), .. } if host == "canary1"))
    );
    let started =
        ev.iter().filter(|e| matches!(e, Event::StepStarted { host, step: 2, .. } if host == "canary1")).count();
    assert_eq!(started, 1, "the in-flight step was not run again");
    assert!(ev.iter().any(
        |e| matches!(e, Event::Resumed { operators, .. } if operators == &["alice".to_string(), "bob".to_string()])
    ));
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
    // The canary first, then the demo's go/no-go before the customers' hosts.
    let gate = t.ready("w", "GO/NO-GO: wave web", 90);
    assert!(gate.contains("canary1") && gate.contains("done"), "{gate}");
    t.send("w", &["g"]);
    t.wait_for("w", "Go: start the next wave?", 10);
    t.send("w", &["y"]);
    let screen = t.ready("w", "R roll back web2", 90);
    assert!(screen.contains("HARD STOP web2"), "{screen}");
    assert!(screen.contains("openssl-security-2026-11") && screen.contains("alice+bob"), "{screen}");
    assert!(screen.contains("UNTESTED") && screen.contains("libxml2"), "{screen}");
    t.abort("w");
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
        "cd '{}' && {} watch drill.jsonl; rc=$?; printf '\\r\\nEXITED %s\\n' \"$rc\"; sleep 600",
        dir.path().display(),
        env!("CARGO_BIN_EXE_patchdeck")
    );
    t.tmux(&["split-window", "-t", "w", "-h", "sh", "-c", &watch]);
    t.tmux(&["resize-window", "-t", "w", "-x", "170", "-y", "30"]);
    // Waiting for the stop, not for READ-ONLY: watch draws its frame before it has read
    // the journal, so READ-ONLY can be on screen before the stop is; a frame from before
    // the resize says it is too small.
    let watched = t.wait_until("w.1", "watch's cockpit with the stop", 20, |s| {
        s.contains("HARD STOP canary1, operators deciding") && !s.contains("The terminal is too small")
    });
    assert!(watched.starts_with(" DRILL ") && watched.contains("READ-ONLY"), "{watched}");
    t.send("w.1", &["q"]);
    t.wait_for("w.1", "EXITED 0", 10);

    // The operators decide, in the modal: bob rolls back, then alice aborts at the wave's stop.
    t.ready("w.0", "R roll back canary1", 10);
    t.send("w.0", &["2"]);
    t.wait_for("w.0", "2 [bob]", 10);
    t.roll_back("w.0", "canary1");
    let stop = t.ready("w.0", "HARD STOP window", 60);
    assert!(stop.starts_with(" DRILL "), "{stop}");
    t.abort("w.0");
    let end = t.wait_for("w.0", "DRILL over: scorecard PASSED", 60);
    assert!(end.contains("canary1 RB verified"), "{end}");
    t.send("w.0", &["q"]);
    let after = t.wait_for("w.0", "EXITED 0", 10);
    assert!(after.contains("[DRILL] SCORECARD step-failed"), "{after}");
    assert!(!after.contains("┌"), "the cockpit's screen is gone:\n{after}");

    let replay = patchdeck::journal::replay::<Event>(&dir.path().join("drill.jsonl")).unwrap();
    assert!(replay.header.drill, "the journal's header says drill");
    let ev: Vec<Event> = replay.records.into_iter().map(|r| r.event).collect();
    assert!(matches!(ev.first(), Some(Event::WindowStarted { drill: true, .. })));
    assert!(ev.iter().any(|e| matches!(e, Event::FaultInjected { host: Some(h), .. } if h == "canary1")));
    assert_eq!(
        decisions(&ev),
        [
            (Some("canary1".into()), Choice::RollbackHost, Some(Actor::operator("bob")), vec!["bob".to_string()]),
            (None, Choice::Abort, alice(), vec!["alice".to_string()]),
        ]
    );
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
