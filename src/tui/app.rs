//! The cockpit's state and its one pure transition, [`update`]. No I/O here: what should
//! happen outside (decide, request, quit) comes back as [`Effect`]s for the loop to carry
//! out. Engine events arrive through [`App::on_event`], running commands' output through
//! [`App::on_live`]; the decider's questions through [`App::on_stop`] and
//! [`App::on_countdown`]. The clock is [`App::now`], set by the loop.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::action::Action;
use super::keymap::Context;
use super::strings;
use super::transcript::{self, Streamed, Transcript};
use crate::diff::{Class, Finding};
use crate::engine::decide::allowed;
use crate::engine::event::{Decision, Event, Outcome, Request};
use crate::engine::live::{Live, RunId};
use crate::engine::state::{OpenStop, WindowState};
use crate::runbook::Runbook;
use crate::safe_text::for_terminal;

/// What the cockpit knows of the window's plan (from the runbook when there is one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowInfo {
    pub name: String,
    pub ends: Option<Timestamp>,
    pub decide_by: Option<Timestamp>,
    pub steps: Vec<String>,
    /// Waves in order: name and hosts.
    pub waves: Vec<(String, Vec<String>)>,
    /// `change_risk` and `max_risk` from the policy.
    pub risk_policy: Option<(f64, f64)>,
}

impl WindowInfo {
    pub fn from_runbook(rb: &Runbook) -> Self {
        Self {
            name: rb.window.name.clone(),
            ends: Some(rb.window.ends),
            decide_by: Some(rb.window.decide_by()),
            steps: rb.steps.iter().map(|s| s.name.clone()).collect(),
            waves: rb.waves.iter().map(|w| (w.name.clone(), w.hosts.clone())).collect(),
            risk_policy: Some((rb.policy.change_risk, rb.policy.max_risk)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `run`: the cockpit drives the window.
    Live,
    /// `watch`: following a journal; no commands.
    ReadOnly,
}

/// One command run on a host (a step or a step's rollback). What it printed while running is
/// in the host's [`Transcript`]; `lines` holds what its outcome added (output tail, changes,
/// verification), which is all `watch` and a resumed window know of it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRun {
    pub rollback: bool,
    pub step: usize,
    pub name: String,
    pub command: String,
    pub started: Timestamp,
    pub finished: Option<(Outcome, u64)>,
    pub lines: Vec<String>,
    /// Still unfinished when the journal was replayed: patchdeck stopped while it ran.
    pub interrupted: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StopStage {
    Choose,
    Confirm(Decision),
    Reason(String),
    Typed { reason: String, typed: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    Request(Request),
    Quit,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    Stop { stop: OpenStop, stage: StopStage },
    Countdown { host: String, deadline: Timestamp },
    Confirm(Pending),
    Help,
    Timeline,
    FullDiff,
    Filter,
}

/// What the rollback key (`R`) does now. The footer shows it from this and [`update`] does
/// it from this, so the two cannot disagree.
#[derive(Debug, Clone, PartialEq)]
pub enum RollbackKey {
    /// Ask to roll back this host (one confirmation).
    Request(String),
    /// At a hard stop: its rollback choice (one confirmation), of the host, or of
    /// everything at a window-wide stop.
    Stop { host: Option<String> },
    /// The auto-rollback countdown: roll this host back now.
    Now(String),
    /// A prompt is open and `R` is a letter in it: `R` works once the prompt is closed.
    AfterPrompt,
}

/// What the loop must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Decide(Decision),
    /// Answer to a host's auto-rollback countdown: `true` rolls back.
    AutoRollback {
        host: String,
        roll_back: bool,
    },
    Request(Request),
    Quit,
}

#[derive(Debug, Clone)]
pub struct App {
    pub mode: Mode,
    pub info: WindowInfo,
    pub now: Timestamp,
    pub state: WindowState,
    /// Every event with the time it arrived (or was journaled).
    pub events: Vec<(Timestamp, Event)>,
    /// Latest diff per host and whether it is the recheck.
    pub findings: BTreeMap<String, (bool, Vec<Finding>)>,
    /// Packages some host's findings change, with how many hosts change each: the header's
    /// risk, kept as findings arrive so a frame does not walk every host's diff.
    changed: BTreeMap<String, usize>,
    pub runs: BTreeMap<String, Vec<CommandRun>>,
    /// Each host's streamed output, bounded (live windows only: output is not journaled).
    pub output: BTreeMap<String, Transcript>,
    pub selected: Option<String>,
    /// Selection follows activity until the operator moves it.
    pub follow: bool,
    pub popups: Vec<Popup>,
    pub filter: String,
    /// Output scroll, lines up from the bottom; 0 follows the newest output.
    pub scroll: u16,
    /// Scroll of full-screen views, lines from the top.
    pub view_scroll: u16,
    pub status: Option<String>,
    /// Quit was confirmed: exit once the engine has wound down.
    pub quitting: bool,
    /// The engine returned (live) or the journal says the window finished.
    pub engine_done: bool,
    /// A drill, not a real window: marked on every screen.
    pub drill: bool,
}

impl App {
    pub fn new(mode: Mode, info: WindowInfo, now: Timestamp) -> Self {
        Self {
            mode,
            info,
            now,
            state: WindowState::default(),
            events: Vec::new(),
            findings: BTreeMap::new(),
            changed: BTreeMap::new(),
            runs: BTreeMap::new(),
            output: BTreeMap::new(),
            selected: None,
            follow: true,
            popups: Vec::new(),
            filter: String::new(),
            scroll: 0,
            view_scroll: 0,
            status: None,
            quitting: false,
            engine_done: false,
            drill: false,
        }
    }

    /// Where keys go now.
    pub fn context(&self) -> Context {
        match self.popups.last() {
            Some(Popup::Stop { stage: StopStage::Choose, .. }) => Context::Stop,
            Some(Popup::Stop { stage: StopStage::Confirm(_), .. }) | Some(Popup::Confirm(_)) => Context::Confirm,
            Some(Popup::Stop { .. }) | Some(Popup::Filter) => Context::Text,
            Some(Popup::Countdown { .. }) => Context::Countdown,
            Some(Popup::Help | Popup::Timeline | Popup::FullDiff) if self.mode == Mode::ReadOnly => {
                Context::ReadOnlyView
            }
            Some(Popup::Help | Popup::Timeline | Popup::FullDiff) => Context::View,
            None if self.mode == Mode::ReadOnly => Context::ReadOnly,
            None => Context::Main,
        }
    }

    /// What `R` does now, or `None` when it does nothing (watch; the window has ended).
    pub fn rollback_key(&self) -> Option<RollbackKey> {
        self.rollback_key_under(self.popups.len())
    }

    /// What `R` does with only the `n` lowest popups open.
    fn rollback_key_under(&self, n: usize) -> Option<RollbackKey> {
        if self.mode == Mode::ReadOnly {
            return None;
        }
        match self.popups[..n].last() {
            None => self.can_request().then(|| self.selected_host()).flatten().map(RollbackKey::Request),
            // A view closes, then `R` does what it does beneath.
            Some(Popup::Help | Popup::Timeline | Popup::FullDiff) => self.rollback_key_under(n - 1),
            Some(Popup::Stop { stop, stage }) => {
                let d = choice(&Action::ChooseRollback, stop)?;
                match stage {
                    StopStage::Choose => Some(RollbackKey::Stop { host: stop.host.clone() }),
                    // Already asking about it: y answers.
                    StopStage::Confirm(asked) if *asked == d => None,
                    StopStage::Confirm(_) => Some(RollbackKey::Stop { host: stop.host.clone() }),
                    StopStage::Reason(_) | StopStage::Typed { .. } => Some(RollbackKey::AfterPrompt),
                }
            }
            Some(Popup::Countdown { host, .. }) => Some(RollbackKey::Now(host.clone())),
            Some(Popup::Confirm(pending)) => match self.rollback_key_under(n - 1)? {
                RollbackKey::Request(h) if *pending == Pending::Request(Request::RollbackHost { host: h.clone() }) => {
                    None
                }
                k => Some(k),
            },
            // Esc clears the filter, which may bring the selected host back: whether a
            // host is selected is known once the prompt is closed.
            Some(Popup::Filter) => self.can_request().then_some(RollbackKey::AfterPrompt),
        }
    }

    /// Requests still make sense: a live window that has not ended.
    pub fn can_request(&self) -> bool {
        self.mode == Mode::Live && !self.engine_done && !self.state.finished && !self.quitting
    }

    /// The wave being worked on (the last started), else the first.
    pub fn current_wave(&self) -> Option<(usize, &(String, Vec<String>))> {
        let name = self.state.waves_started.last();
        match name {
            Some(n) => self.info.waves.iter().enumerate().find(|(_, (w, _))| w == n),
            None => self.info.waves.first().map(|w| (0, w)),
        }
    }

    /// The hosts shown: the current wave's (every host when the plan is unknown), filtered:
    /// a host stays when its name matches the filter or a line of its diff does.
    pub fn visible_hosts(&self) -> Vec<String> {
        let all: Vec<String> = match self.current_wave() {
            Some((_, (_, hosts))) => hosts.clone(),
            None => self.state.hosts.keys().cloned().collect(),
        };
        let f = self.filter.to_lowercase();
        if f.is_empty() {
            return all;
        }
        all.into_iter()
            .filter(|h| {
                h.to_lowercase().contains(&f)
                    || self.findings.get(h).is_some_and(|(_, findings)| findings.iter().any(|x| finding_matches(x, &f)))
            })
            .collect()
    }

    /// The selected host, if it is still visible; else the first visible one.
    pub fn selected_host(&self) -> Option<String> {
        let visible = self.visible_hosts();
        match &self.selected {
            Some(s) if visible.contains(s) => Some(s.clone()),
            Some(s) if self.filter.is_empty() && self.state.hosts.contains_key(s) => Some(s.clone()),
            _ => visible.first().cloned(),
        }
    }

    /// A host's findings, divergences first, filtered: all of them when the host's name
    /// matches the filter, else the lines that match it (package or subject, or class).
    pub fn diff_lines(&self, host: &str) -> Vec<&Finding> {
        let Some((_, findings)) = self.findings.get(host) else { return Vec::new() };
        let f = self.filter.to_lowercase();
        let whole = f.is_empty() || host.to_lowercase().contains(&f);
        let mut v: Vec<&Finding> = findings.iter().filter(|x| whole || finding_matches(x, &f)).collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.class));
        v
    }

    /// The window's change risk, from the preflight diffs and the runbook's policy.
    pub fn risk(&self) -> Option<(f64, f64)> {
        let (p, max) = self.info.risk_policy?;
        if self.changed.is_empty() {
            return None;
        }
        Some((crate::diff::risk::window_risk(p, self.changed.len()), max))
    }

    /// A host's latest findings, and the count of hosts changing each package with them.
    fn set_findings(&mut self, host: &str, rechecked: bool, findings: &[Finding]) {
        let changes = |f: &&Finding| matches!(f.class, Class::Tested | Class::DifferentStart | Class::VersionMismatch);
        if let Some((_, old)) = self.findings.insert(host.to_string(), (rechecked, findings.to_vec())) {
            for f in old.iter().filter(changes) {
                if let Some(n) = self.changed.get_mut(&f.subject) {
                    *n -= 1;
                    if *n == 0 {
                        self.changed.remove(&f.subject);
                    }
                }
            }
        }
        for f in findings.iter().filter(changes) {
            *self.changed.entry(f.subject.clone()).or_default() += 1;
        }
    }

    /// Hosts with a command running now, as "host: step".
    pub fn running(&self) -> Vec<String> {
        self.runs
            .iter()
            .filter_map(|(h, runs)| {
                runs.last().filter(|r| r.finished.is_none() && !r.interrupted).map(|r| format!("{h}: {}", r.name))
            })
            .collect()
    }

    /// The stop modal's open stop, if one is shown.
    pub fn open_stop(&self) -> Option<&OpenStop> {
        self.popups.iter().rev().find_map(|p| match p {
            Popup::Stop { stop, .. } => Some(stop),
            _ => None,
        })
    }

    /// Selection follows activity, unless the operator is reading back through the output.
    fn select_activity(&mut self, host: &str) {
        if self.follow && self.scroll == 0 && self.state.hosts.contains_key(host) {
            self.selected = Some(host.to_string());
            self.scroll = 0;
        }
    }

    /// Rows of `host`'s output pane.
    pub fn pane_len(&self, host: &str) -> usize {
        transcript::row_count(self.runs.get(host).map_or(&[], Vec::as_slice), self.output.get(host))
    }

    /// While the operator has scrolled up, rows added below keep the view where it is.
    /// Scrolling up pinned `selected` (see `main_input`), so this is cheap per line.
    fn keep_view(&mut self, host: &str, added: usize) {
        if self.scroll > 0 && self.selected.as_deref() == Some(host) {
            let max = self.pane_len(host).min(u16::MAX as usize) as u16;
            self.scroll = self.scroll.saturating_add(added.min(u16::MAX as usize) as u16).min(max);
        }
    }

    /// An item of the live feed: an engine event, or output of a running command.
    pub fn on_live(&mut self, item: Live) {
        match item {
            Live::Event(e) => self.on_event(self.now, e),
            Live::Line { run, line } => {
                let stderr = line.stream == crate::transport::Stream::Stderr;
                let text = for_terminal(&line.text);
                self.on_streamed(&run, Streamed::Line { text, stderr, cut: line.cut });
            }
            Live::Dropped { run, lines } => self.on_streamed(&run, Streamed::Dropped(lines)),
        }
    }

    /// Appends to the command's host transcript. Output of a command the cockpit has not
    /// seen start cannot happen (its event comes first in the feed) and is ignored.
    fn on_streamed(&mut self, run: &RunId, s: Streamed) {
        let Some(i) = self
            .runs
            .get(&run.host)
            .and_then(|runs| runs.iter().rposition(|r| r.step == run.step && r.rollback == run.rollback))
        else {
            return;
        };
        self.output.entry(run.host.clone()).or_default().push(i, s);
        self.keep_view(&run.host, 1);
    }

    /// An engine event (or a journal record in `watch`), at `at`.
    pub fn on_event(&mut self, at: Timestamp, e: Event) {
        let before = match (&e, self.scroll) {
            (
                Event::StepStarted { host, .. }
                | Event::RollbackStarted { host, .. }
                | Event::StepFinished { host, .. }
                | Event::RollbackFinished { host, .. },
                1..,
            ) => Some((host.clone(), self.pane_len(host))),
            _ => None,
        };
        self.on_pane_event(at, e);
        if let Some((host, before)) = before {
            let added = self.pane_len(&host).saturating_sub(before);
            self.keep_view(&host, added);
        }
    }

    fn on_pane_event(&mut self, at: Timestamp, e: Event) {
        self.state.apply(&e);
        match &e {
            Event::Preflight { host, findings, .. } => self.set_findings(host, false, findings),
            Event::Recheck { host, findings } if !findings.is_empty() => self.set_findings(host, true, findings),
            Event::StepStarted { host, step, name, command } | Event::RollbackStarted { host, step, name, command } => {
                let rollback = matches!(e, Event::RollbackStarted { .. });
                self.runs.entry(host.clone()).or_default().push(CommandRun {
                    rollback,
                    step: *step,
                    name: for_terminal(name),
                    command: for_terminal(command),
                    started: at,
                    finished: None,
                    lines: Vec::new(),
                    interrupted: false,
                });
                let host = host.clone();
                self.select_activity(&host);
            }
            Event::StepFinished { host, step, outcome, changes, millis } => {
                let mut lines: Vec<String> = Vec::new();
                if let Outcome::Failed { output_tail, .. } = outcome {
                    lines.extend(output_tail.lines().map(for_terminal));
                }
                for c in changes {
                    lines.push(format!(
                        "changed {} {} -> {}",
                        for_terminal(&c.name),
                        c.from.as_deref().map_or("(none)".into(), for_terminal),
                        c.to.as_deref().map_or("(removed)".into(), for_terminal)
                    ));
                }
                self.finish_run(host, *step, false, outcome.clone(), *millis, lines);
            }
            Event::RollbackFinished { host, step, outcome, verified, mismatches, millis } => {
                let mut lines: Vec<String> = Vec::new();
                if let Outcome::Failed { output_tail, .. } = outcome {
                    lines.extend(output_tail.lines().map(for_terminal));
                }
                match verified {
                    Some(true) => lines.push("rollback verified: every version is back to the snapshot".into()),
                    Some(false) => {
                        lines.push("rollback NOT VERIFIED:".into());
                        lines.extend(mismatches.iter().map(|m| for_terminal(m)));
                    }
                    None => {}
                }
                self.finish_run(host, *step, true, outcome.clone(), *millis, lines);
            }
            Event::HardStop { host: Some(h), .. } => {
                // A stop is where the eyes must go, whatever the operator selected.
                self.selected = Some(h.clone());
                self.scroll = 0;
            }
            Event::Decided { id, .. } => {
                self.popups.retain(|p| !matches!(p, Popup::Stop { stop, .. } if stop.id == *id));
            }
            Event::AutoRollbackCancelled { host, .. } | Event::HostFinished { host, .. } => {
                self.popups.retain(|p| !matches!(p, Popup::Countdown { host: h, .. } if h == host));
            }
            Event::WindowFinished { .. } if self.mode == Mode::ReadOnly => self.engine_done = true,
            Event::WindowStarted { drill: true, .. } => self.drill = true,
            _ => {}
        }
        self.events.push((at, e));
    }

    fn finish_run(&mut self, host: &str, step: usize, rollback: bool, o: Outcome, millis: u64, lines: Vec<String>) {
        let runs = self.runs.entry(host.to_string()).or_default();
        if let Some(r) =
            runs.iter_mut().rev().find(|r| r.step == step && r.rollback == rollback && r.finished.is_none())
        {
            r.finished = Some((o, millis));
            r.lines.extend(lines);
        }
    }

    /// After replaying a journal (`--resume`): commands that never finished were cut off
    /// when patchdeck stopped; their outcome is unknown, they are not running now.
    pub fn mark_interrupted(&mut self) {
        for r in self.runs.values_mut().flatten() {
            if r.finished.is_none() {
                r.interrupted = true;
            }
        }
    }

    /// The step's last run on `host` was cut off by a crash (outcome unknown).
    pub fn step_interrupted(&self, host: &str, step: usize) -> bool {
        self.runs
            .get(host)
            .and_then(|runs| runs.iter().rev().find(|r| r.step == step && !r.rollback))
            .is_some_and(|r| r.interrupted)
    }

    /// The engine asks for a decision: the modal takes all input until it is answered.
    pub fn on_stop(&mut self, stop: OpenStop) {
        if let Some(h) = &stop.host {
            self.selected = Some(h.clone());
        }
        self.popups.retain(|p| !matches!(p, Popup::Filter | Popup::Confirm(_)));
        self.popups.push(Popup::Stop { stop, stage: StopStage::Choose });
    }

    /// The engine armed an auto-rollback: a visible, cancellable countdown.
    pub fn on_countdown(&mut self, host: &str, seconds: u64) {
        let deadline = self.now.checked_add(jiff::SignedDuration::from_secs(seconds as i64)).unwrap_or(self.now);
        self.selected = Some(host.to_string());
        self.popups.retain(|p| !matches!(p, Popup::Filter | Popup::Confirm(_)));
        self.popups.push(Popup::Countdown { host: host.to_string(), deadline });
    }

    /// The engine returned.
    pub fn on_engine_done(&mut self) {
        self.engine_done = true;
        self.popups.retain(|p| !matches!(p, Popup::Stop { .. } | Popup::Countdown { .. } | Popup::Confirm(_)));
    }

    /// The filter prompt is open (its text shows on the status line).
    pub fn typing_filter(&self) -> bool {
        matches!(self.popups.last(), Some(Popup::Filter))
    }

    /// The text the footer's "status" line shows.
    pub fn status_line(&self) -> String {
        if self.typing_filter() {
            return strings::filter_prompt(&self.filter);
        }
        if let Some(s) = &self.status {
            return s.clone();
        }
        if self.quitting {
            return strings::QUIT_WAITING.into();
        }
        if self.mode == Mode::ReadOnly
            && let Some(s) = self.state.open_stops.last()
        {
            return strings::stop_banner(s.host.as_deref(), &s.stop);
        }
        if let Some(passed) = self.drill_result() {
            return strings::drill_over(passed, self.mode == Mode::Live);
        }
        if self.state.finished || self.engine_done {
            return (if self.state.aborted { strings::WINDOW_ABORTED } else { strings::WINDOW_FINISHED }).into();
        }
        if !self.filter.is_empty() {
            return strings::filter_active(&self.filter);
        }
        String::new()
    }
}

impl App {
    /// The drill's scorecard verdict, once it is journaled.
    pub fn drill_result(&self) -> Option<bool> {
        self.events.iter().rev().find_map(|(_, e)| match e {
            Event::DrillScorecard { scorecard } => Some(scorecard.passed),
            _ => None,
        })
    }
}

/// A diff line matches a (lowercased, non-empty) filter by its subject (the package, or
/// the config file) or its class label ("untested", "config drift", ...).
fn finding_matches(f: &Finding, filter: &str) -> bool {
    f.subject.to_lowercase().contains(filter) || f.class.label().to_lowercase().contains(filter)
}

fn move_selection(app: &mut App, delta: isize) {
    let hosts = app.visible_hosts();
    if hosts.is_empty() {
        return;
    }
    let cur = app.selected_host().and_then(|s| hosts.iter().position(|h| *h == s)).unwrap_or(0);
    let next = (cur as isize + delta).clamp(0, hosts.len() as isize - 1) as usize;
    app.selected = Some(hosts[next].clone());
    app.follow = false;
    app.scroll = 0;
}

/// The decision a stop-choice action stands for, if the stop allows it.
pub fn choice(action: &Action, stop: &OpenStop) -> Option<Decision> {
    let (label, d) = match action {
        // The rollback key always works: at a window-wide stop it means everything.
        Action::ChooseRollback if stop.host.is_none() => ("rollback everything", Decision::RollbackAll),
        Action::ChooseRollback => ("rollback", Decision::Rollback),
        Action::ChooseSkip => ("skip", Decision::SkipHost),
        Action::ChooseAbort => ("abort", Decision::Abort),
        Action::ChooseRollbackAll => ("rollback everything", Decision::RollbackAll),
        Action::ChooseRetry => ("retry", Decision::Retry),
        _ => return None,
    };
    allowed(&stop.stop, stop.host.as_deref()).contains(&label).then_some(d)
}

/// What must be typed to confirm an override: the host's name, or "override" for a stop
/// about the whole window.
pub fn override_word(stop: &OpenStop) -> String {
    stop.host.clone().unwrap_or_else(|| "override".into())
}

/// The one transition. Pure: effects are returned, never performed.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    if action == Action::Tick {
        return tick(app);
    }
    app.status = None;
    match app.context() {
        Context::Stop | Context::Confirm | Context::Text if matches!(app.popups.last(), Some(Popup::Stop { .. })) => {
            stop_input(app, action)
        }
        Context::Countdown => countdown_input(app, action),
        Context::Confirm => confirm_input(app, action),
        Context::Text => {
            // The filter prompt.
            match action {
                Action::Input(c) => app.filter.push(c),
                Action::Backspace => {
                    app.filter.pop();
                }
                Action::Submit => {
                    app.popups.pop();
                }
                Action::Back => {
                    app.filter.clear();
                    app.popups.pop();
                }
                Action::Quit => {
                    app.popups.pop();
                    return update(app, Action::Quit);
                }
                _ => {}
            }
            Vec::new()
        }
        Context::View | Context::ReadOnlyView => {
            match action {
                // The rollback key works here too: the view closes, then `R` does what it
                // does beneath (asks about the selected host, or the hard stop's rollback).
                Action::RollbackHost if app.mode == Mode::ReadOnly => app.status = Some(strings::READ_ONLY.into()),
                Action::RollbackHost => {
                    app.popups.pop();
                    return update(app, Action::RollbackHost);
                }
                Action::ScrollUp => app.view_scroll = app.view_scroll.saturating_sub(1),
                Action::ScrollDown => app.view_scroll = app.view_scroll.saturating_add(1),
                Action::Back => {
                    app.popups.pop();
                }
                Action::Quit => {
                    app.popups.pop();
                    return update(app, Action::Quit);
                }
                _ => {}
            }
            Vec::new()
        }
        Context::Main | Context::ReadOnly | Context::Stop => main_input(app, action),
    }
}

fn tick(app: &mut App) -> Vec<Effect> {
    let mut effects = Vec::new();
    app.popups.retain(|p| match p {
        Popup::Countdown { host, deadline } if app.now >= *deadline => {
            effects.push(Effect::AutoRollback { host: host.clone(), roll_back: true });
            false
        }
        _ => true,
    });
    effects
}

fn main_input(app: &mut App, action: Action) -> Vec<Effect> {
    let request = match action {
        Action::SelectPrev => {
            move_selection(app, -1);
            None
        }
        Action::SelectNext => {
            move_selection(app, 1);
            None
        }
        Action::ScrollUp => {
            // Reading back pins the host shown.
            app.selected = app.selected_host();
            let max = app.selected.as_deref().map_or(0, |h| app.pane_len(h)).min(u16::MAX as usize) as u16;
            app.scroll = app.scroll.saturating_add(3).min(max);
            None
        }
        Action::ScrollDown => {
            app.scroll = app.scroll.saturating_sub(3);
            None
        }
        Action::FollowOutput => {
            app.scroll = 0;
            None
        }
        Action::Help => open_view(app, Popup::Help),
        Action::Timeline => {
            open_view(app, Popup::Timeline);
            // The timeline opens at its newest line.
            app.view_scroll = app.events.len().min(u16::MAX as usize) as u16;
            None
        }
        Action::FullDiff => open_view(app, Popup::FullDiff),
        Action::Filter => {
            app.popups.push(Popup::Filter);
            None
        }
        Action::Back => {
            app.filter.clear();
            None
        }
        Action::RollbackHost => app.selected_host().map(|host| Request::RollbackHost { host }),
        Action::RollbackWave => app
            .current_wave()
            .map(|(_, (wave, hosts))| Request::RollbackWave { wave: wave.clone(), hosts: hosts.clone() }),
        Action::RollbackAll => Some(Request::RollbackAll),
        Action::AbortWindow => Some(Request::Abort),
        Action::Quit => {
            if app.mode == Mode::ReadOnly || app.engine_done {
                return vec![Effect::Quit];
            }
            if app.quitting {
                app.status = Some(strings::QUIT_WAITING.into());
                return Vec::new();
            }
            app.popups.push(Popup::Confirm(Pending::Quit));
            None
        }
        _ => None,
    };
    if let Some(r) = request {
        if app.mode == Mode::ReadOnly {
            app.status = Some(strings::READ_ONLY.into());
        } else if !app.can_request() {
            app.status = Some(strings::NO_REQUESTS_AFTER_END.into());
        } else {
            app.popups.push(Popup::Confirm(Pending::Request(r)));
        }
    }
    Vec::new()
}

fn open_view(app: &mut App, p: Popup) -> Option<Request> {
    app.view_scroll = 0;
    app.popups.push(p);
    None
}

fn confirm_input(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(Popup::Confirm(pending)) = app.popups.last().cloned() else { return Vec::new() };
    match action {
        Action::Confirm => {
            app.popups.pop();
            match pending {
                Pending::Request(r) => vec![Effect::Request(r)],
                Pending::Quit => {
                    app.quitting = true;
                    if app.state.aborted { Vec::new() } else { vec![Effect::Request(Request::Abort)] }
                }
            }
        }
        Action::Deny | Action::Back => {
            app.popups.pop();
            Vec::new()
        }
        // Asked about something else (abort, quit, a wave): `R` asks about rolling back the
        // selected host instead.
        Action::RollbackHost => {
            if let Some(RollbackKey::Request(host)) = app.rollback_key() {
                app.popups.pop();
                app.popups.push(Popup::Confirm(Pending::Request(Request::RollbackHost { host })));
            }
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn countdown_input(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(Popup::Countdown { host, .. }) = app.popups.last().cloned() else { return Vec::new() };
    match action {
        Action::CancelAutoRollback => {
            app.popups.pop();
            vec![Effect::AutoRollback { host, roll_back: false }]
        }
        Action::RollbackNow | Action::RollbackHost => {
            app.popups.pop();
            vec![Effect::AutoRollback { host, roll_back: true }]
        }
        Action::Quit => {
            app.status = Some(strings::COUNTDOWN_HINT.into());
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn stop_input(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(Popup::Stop { stop, stage }) = app.popups.last_mut() else { return Vec::new() };
    let stop = stop.clone();
    match stage {
        StopStage::Choose => match action {
            Action::ChooseOverride => *stage = StopStage::Reason(String::new()),
            Action::FullDiff => {
                app.view_scroll = 0;
                app.popups.push(Popup::FullDiff);
            }
            Action::Quit => app.status = Some(strings::STOP_DECIDE_FIRST.into()),
            // `R` from a view over the stop: its rollback.
            Action::RollbackHost => {
                if let Some(d) = choice(&Action::ChooseRollback, &stop) {
                    *stage = StopStage::Confirm(d);
                }
            }
            a => {
                if let Some(d) = choice(&a, &stop) {
                    *stage = StopStage::Confirm(d);
                }
            }
        },
        StopStage::Confirm(d) => match action {
            Action::Confirm => {
                let d = d.clone();
                app.popups.pop();
                return vec![Effect::Decide(d)];
            }
            Action::Deny | Action::Back => *stage = StopStage::Choose,
            // Confirming another choice: `R` asks about the rollback instead.
            Action::RollbackHost | Action::ChooseRollback => {
                if let Some(r) = choice(&Action::ChooseRollback, &stop) {
                    *stage = StopStage::Confirm(r);
                }
            }
            _ => {}
        },
        StopStage::Reason(reason) => match action {
            Action::Input(c) => reason.push(c),
            Action::Backspace => {
                reason.pop();
            }
            Action::Back => *stage = StopStage::Choose,
            Action::Submit => {
                if reason.trim().is_empty() {
                    app.status = Some(strings::OVERRIDE_EMPTY.into());
                } else {
                    *stage = StopStage::Typed { reason: reason.trim().to_string(), typed: String::new() };
                }
            }
            Action::Quit => app.status = Some(strings::STOP_DECIDE_FIRST.into()),
            _ => {}
        },
        StopStage::Typed { reason, typed } => match action {
            Action::Input(c) => typed.push(c),
            Action::Backspace => {
                typed.pop();
            }
            Action::Back => *stage = StopStage::Reason(reason.clone()),
            Action::Submit => {
                let word = override_word(&stop);
                if *typed == word {
                    let reason = reason.clone();
                    app.popups.pop();
                    return vec![Effect::Decide(Decision::Override { reason })];
                }
                app.status = Some(strings::override_mismatch(&word));
            }
            Action::Quit => app.status = Some(strings::STOP_DECIDE_FIRST.into()),
            _ => {}
        },
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(class: Class, subject: &str) -> Finding {
        Finding {
            class,
            subject: subject.into(),
            tested: None,
            here: Some("1 -> 2".into()),
            verdict: None,
            detail: String::new(),
        }
    }

    #[test]
    fn risk_counts_each_changed_package_once_and_follows_rechecks() {
        let now: Timestamp = "2026-11-22T22:30:00Z".parse().unwrap();
        let info = WindowInfo {
            name: "w".into(),
            ends: None,
            decide_by: None,
            steps: vec!["apply".into()],
            waves: vec![("all".into(), vec!["a".into(), "b".into()])],
            risk_policy: Some((0.01, 0.25)),
        };
        let mut app = App::new(Mode::Live, info, now);
        assert_eq!(app.risk(), None, "nothing known yet");
        let pre = |host: &str, findings| Event::Preflight { host: host.into(), findings, checks: vec![] };
        app.on_event(now, pre("a", vec![finding(Class::Tested, "libssl3"), finding(Class::Tested, "openssl")]));
        app.on_event(
            now,
            pre("b", vec![finding(Class::VersionMismatch, "openssl"), finding(Class::UntestedPackage, "libxml2")]),
        );
        // libssl3 and openssl change; libxml2 is untested, not a planned change.
        let risk = |n: usize| Some((crate::diff::risk::window_risk(0.01, n), 0.25));
        assert_eq!(app.risk(), risk(2));
        // b's recheck no longer changes openssl, but a still does.
        app.on_event(
            now,
            Event::Recheck { host: "b".into(), findings: vec![finding(Class::UntestedPackage, "libxml2")] },
        );
        assert_eq!(app.risk(), risk(2));
        // a's recheck changes only libssl3 now, and a new package, curl.
        app.on_event(
            now,
            Event::Recheck {
                host: "a".into(),
                findings: vec![finding(Class::Tested, "libssl3"), finding(Class::DifferentStart, "curl")],
            },
        );
        assert_eq!(app.risk(), risk(2));
        app.on_event(now, Event::Recheck { host: "a".into(), findings: vec![finding(Class::UntestedPackage, "x")] });
        assert_eq!(app.risk(), None, "no host changes anything any more");
    }
}
