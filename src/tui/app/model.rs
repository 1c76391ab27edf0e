//! The cockpit's model: the window as the cockpit knows it ([`App`] and its parts), the
//! popups and what they are waiting for, the [`Effect`]s the loop carries out, and what the
//! views and strings read of it (visible hosts, risk, status line, what `R` does now).
//! Changing it is left to the event fold (`fold`) and the input handlers (`update`).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use crate::diff::Finding;
use crate::engine::control::{Actor, Choice, Decision, allowed};
use crate::engine::decide::Verdict;
use crate::engine::event::{Event, Outcome, Request};
use crate::engine::state::{OpenStop, WindowState};
use crate::runbook::Runbook;
use crate::tui::keymap::Context;
use crate::tui::strings;
use crate::tui::transcript::{self, Transcript};

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
    /// Typing the reason a choice needs (an override, an early start).
    Reason {
        choice: Choice,
        text: String,
    },
    /// An override: typing the target's name to confirm it.
    Typed {
        choice: Choice,
        reason: String,
        typed: String,
    },
    /// Rolling back every host with changes: typing how many hosts that is.
    Count {
        choice: Choice,
        hosts: usize,
        typed: String,
    },
}

/// A question waiting for its answer, with what the answer acts on (the target as shown).
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    /// A request, yes or no.
    Request(Request),
    /// Leaving: the window paused, or aborted, or back.
    Quit,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    Stop {
        stop: OpenStop,
        stage: StopStage,
    },
    Countdown {
        host: String,
        deadline: Timestamp,
    },
    Confirm(Pending),
    /// A wave's or the window's rollback: confirmed by typing how many hosts it rolls back.
    Count {
        request: Request,
        hosts: usize,
        typed: String,
    },
    Help,
    Timeline,
    FullDiff,
    /// One drifted file against staging's, fetched when opened.
    DriftDiff(Box<DriftView>),
    Filter,
}

impl Popup {
    /// A full-screen view (help, the journal, the full diff, a drifted file's diff).
    pub fn is_view(&self) -> bool {
        matches!(self, Popup::Help | Popup::Timeline | Popup::FullDiff | Popup::DriftDiff(_))
    }
}

/// A drifted file on a host beside the same file on the baseline host (staging).
#[derive(Debug, Clone, PartialEq)]
pub struct DriftView {
    pub host: String,
    pub path: String,
    /// The baseline host's name (the runbook's `baseline.host`).
    pub staging: String,
    pub body: DriftBody,
}

/// What the drift diff view shows.
#[derive(Debug, Clone, PartialEq)]
pub enum DriftBody {
    /// Both files are being fetched.
    Fetching,
    /// The unified diff, staging's file first (raw lines: the view makes them safe).
    Diff(Vec<String>),
    /// Both files read, and they are the same text.
    Same,
    /// A file (or both) could not be shown: on which host, and why.
    Refused(Vec<(String, crate::drift::fetch::Refusal)>),
}

/// Which modal has the keys: its identity, whatever stage it is at or text typed in it.
/// When this changes without the operator's key, keys wait a moment (see `guard`).
#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    Stop(u64),
    Countdown(String),
    Question(Pending),
    Count(Request),
}

/// What the rollback key (`R`) does now. The footer shows it from this and
/// [`update`](super::update) does it from this, so the two cannot disagree. `R` is always
/// about one host: window-wide rollback has its own key (`X`).
#[derive(Debug, Clone, PartialEq)]
pub enum RollbackKey {
    /// Ask to roll back this host (one confirmation).
    Request(String),
    /// At a hard stop about this host: its rollback choice (one confirmation).
    Stop(String),
    /// The auto-rollback countdown: roll this host back now.
    Now(String),
    /// A prompt is open and `R` is a letter in it: `R` works once the prompt is closed.
    AfterPrompt,
}

/// Which list of the main screen PgUp/PgDn/Home/End move (Tab switches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum List {
    #[default]
    Output,
    Hosts,
}

/// What the loop must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Answer stop `stop` (the one the operators saw), saying who decided.
    Decide {
        stop: u64,
        verdict: Verdict,
    },
    /// Answer to a host's auto-rollback countdown: `None` rolls back; `Some(who)` cancelled.
    AutoRollback {
        host: String,
        cancelled_by: Option<Actor>,
    },
    /// Journal a request, by the operators named.
    Request {
        request: Request,
        by: Vec<String>,
    },
    /// Fetch `path` from `host` and from the baseline host (read-only, not journaled); the
    /// loop answers with [`Action::DriftFetched`](crate::tui::action::Action::DriftFetched).
    FetchDrift {
        host: String,
        path: String,
    },
    Quit,
}

/// How long the status line says what a key did.
pub const STATUS_SHOWN: Duration = Duration::from_secs(5);

/// How long keys wait after a modal opens (or the selection moves) by itself: a key
/// pressed at the screen before must not land on what replaced it.
pub const GRACE: Duration = Duration::from_millis(600);

#[derive(Debug, Clone)]
pub struct App {
    pub mode: Mode,
    pub info: WindowInfo,
    pub now: Timestamp,
    /// Monotonic time since the cockpit opened, set by the loop. Key guards count on it, not
    /// on `now`: a drill's simulated clock may stand still or jump while people decide.
    pub uptime: Duration,
    /// How long keys wait after something opened by itself ([`GRACE`] unless configured).
    pub grace: Duration,
    /// The terminal's size when last drawn: below 80x24 no key decides anything.
    pub size: (u16, u16),
    pub state: WindowState,
    /// Every event with the time it arrived (or was journaled).
    pub events: Vec<(Timestamp, Event)>,
    /// Latest diff per host and whether it is the recheck.
    pub findings: BTreeMap<String, (bool, Vec<Finding>)>,
    /// Packages some host's findings change, with how many hosts change each: the header's
    /// risk, kept as findings arrive so a frame does not walk every host's diff.
    pub(super) changed: BTreeMap<String, usize>,
    pub runs: BTreeMap<String, Vec<CommandRun>>,
    /// Each host's streamed output, bounded (live windows only: output is not journaled).
    pub output: BTreeMap<String, Transcript>,
    pub selected: Option<String>,
    /// Selection follows activity until the operator moves it.
    pub follow: bool,
    /// The wave whose hosts are shown (its index); `None` follows the window's.
    pub wave_shown: Option<usize>,
    /// Which list PgUp/PgDn/Home/End move.
    pub list: List,
    pub popups: Vec<Popup>,
    pub filter: String,
    /// Output scroll, lines up from the bottom; 0 follows the newest output.
    pub scroll: u16,
    /// Scroll of full-screen views, lines from the top.
    pub view_scroll: u16,
    /// The finding selected in the full diff (an index into [`App::diff_lines`]).
    pub diff_cursor: usize,
    /// The baseline host drifted files are fetched from to compare (staging).
    pub baseline_host: Option<String>,
    pub status: Option<String>,
    /// The status line says `status` until then (what a key did, or why it did nothing).
    pub(super) status_until: Duration,
    /// Who answers the question open now (an index into the operators; the first by
    /// default, again for each new question).
    pub by: usize,
    /// Auto-rollbacks counting down, per host: when each rolls back (from the journal, so
    /// `watch` shows them too).
    pub armed: BTreeMap<String, Timestamp>,
    /// The modal that had the keys when last looked at.
    pub(super) shown: Option<Modal>,
    /// Keys are swallowed until then, and why (see `guard`).
    pub(super) held: Option<(Duration, Held)>,
    /// When the selection or the wave shown last moved by itself.
    pub(super) moved_at: Option<Duration>,
    /// When the selected host's findings were last replaced by a re-check (the full diff's
    /// cursor may then point at another finding).
    pub(super) findings_moved_at: Option<Duration>,
    /// Quit was confirmed: exit once the engine has wound down.
    pub quitting: bool,
    /// The engine returned (live) or the journal says the window finished.
    pub engine_done: bool,
    /// A drill, not a real window: marked on every screen.
    pub drill: bool,
}

/// What just opened by itself, holding the keys for a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Stop,
    Countdown,
    Question,
}

impl App {
    pub fn new(mode: Mode, info: WindowInfo, now: Timestamp) -> Self {
        Self {
            mode,
            info,
            now,
            uptime: Duration::ZERO,
            grace: GRACE,
            size: (crate::tui::view::MIN_WIDTH, crate::tui::view::MIN_HEIGHT),
            state: WindowState::default(),
            events: Vec::new(),
            findings: BTreeMap::new(),
            changed: BTreeMap::new(),
            runs: BTreeMap::new(),
            output: BTreeMap::new(),
            selected: None,
            follow: true,
            wave_shown: None,
            list: List::Output,
            popups: Vec::new(),
            filter: String::new(),
            scroll: 0,
            view_scroll: 0,
            diff_cursor: 0,
            baseline_host: None,
            status: None,
            status_until: Duration::ZERO,
            by: 0,
            armed: BTreeMap::new(),
            shown: None,
            held: None,
            moved_at: None,
            findings_moved_at: None,
            quitting: false,
            engine_done: false,
            drill: false,
        }
    }

    /// Where keys go now.
    pub fn context(&self) -> Context {
        match self.popups.last() {
            Some(Popup::Stop { stage: StopStage::Choose, .. }) => Context::Stop,
            Some(Popup::Stop { stage: StopStage::Confirm(_), .. }) | Some(Popup::Confirm(Pending::Request(_))) => {
                Context::Confirm
            }
            Some(Popup::Confirm(Pending::Quit)) => Context::Leave,
            Some(Popup::Stop { .. } | Popup::Filter | Popup::Count { .. }) => Context::Text,
            Some(Popup::Countdown { .. }) => Context::Countdown,
            Some(p) if p.is_view() && self.mode == Mode::ReadOnly => Context::ReadOnlyView,
            Some(_) => Context::View,
            None if self.mode == Mode::ReadOnly => Context::ReadOnly,
            None => Context::Main,
        }
    }

    /// The modal that has the keys, if one is open (views over it do not change it).
    pub fn top_modal(&self) -> Option<Modal> {
        self.popups.iter().rev().find_map(|p| match p {
            Popup::Stop { stop, .. } => Some(Modal::Stop(stop.id)),
            Popup::Countdown { host, .. } => Some(Modal::Countdown(host.clone())),
            Popup::Confirm(pending) => Some(Modal::Question(pending.clone())),
            Popup::Count { request, .. } => Some(Modal::Count(request.clone())),
            Popup::Help | Popup::Timeline | Popup::FullDiff | Popup::DriftDiff(_) | Popup::Filter => None,
        })
    }

    /// What `R` does now, or `None` when it does nothing (watch; the window has ended; a
    /// stop about the whole window).
    pub fn rollback_key(&self) -> Option<RollbackKey> {
        self.rollback_key_under(self.popups.len())
    }

    /// What `R` does with only the `n` lowest popups open.
    fn rollback_key_under(&self, n: usize) -> Option<RollbackKey> {
        if self.mode == Mode::ReadOnly {
            return None;
        }
        match self.popups[..n].last() {
            // A host with nothing to undo has no rollback to offer.
            None => self
                .can_request()
                .then(|| self.selected_host())
                .flatten()
                .filter(|h| self.state.host(h).is_some_and(|s| s.has_changes()))
                .map(RollbackKey::Request),
            // A view closes, then `R` does what it does beneath.
            Some(Popup::Help | Popup::Timeline | Popup::FullDiff | Popup::DriftDiff(_)) => {
                self.rollback_key_under(n - 1)
            }
            Some(Popup::Stop { stop, stage }) => {
                let d = choice(Choice::RollbackHost, stop, self.stop_changed(stop))?;
                let host = stop.host.clone()?;
                match stage {
                    StopStage::Choose => Some(RollbackKey::Stop(host)),
                    // Already asking about it: y answers.
                    StopStage::Confirm(asked) if *asked == d => None,
                    StopStage::Confirm(_) => Some(RollbackKey::Stop(host)),
                    StopStage::Reason { .. } | StopStage::Typed { .. } | StopStage::Count { .. } => {
                        Some(RollbackKey::AfterPrompt)
                    }
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
            Some(Popup::Count { .. }) => self.rollback_key_under(n - 1).map(|_| RollbackKey::AfterPrompt),
        }
    }

    /// Requests still make sense: a live window whose engine still serves. After the window
    /// ends (finished or aborted) rollbacks stay possible until the operators leave.
    pub fn can_request(&self) -> bool {
        self.mode == Mode::Live && !self.engine_done && !self.quitting
    }

    /// The wave being worked on (the last started), else the first.
    pub fn current_wave(&self) -> Option<(usize, &(String, Vec<String>))> {
        let name = self.state.waves_started.last();
        match name {
            Some(n) => self.info.waves.iter().enumerate().find(|(_, (w, _))| w == n),
            None => self.info.waves.first().map(|w| (0, w)),
        }
    }

    /// The wave whose hosts are shown: the one chosen with `[` / `]`, else the current one.
    pub fn shown_wave(&self) -> Option<(usize, &(String, Vec<String>))> {
        match self.wave_shown {
            Some(i) if i < self.info.waves.len() => Some((i, &self.info.waves[i])),
            _ => self.current_wave(),
        }
    }

    /// Shows the wave of `host` (following the window again when that is the current wave).
    pub(super) fn show_wave_of(&mut self, host: &str) {
        let Some(i) = self.info.waves.iter().position(|(_, hosts)| hosts.iter().any(|h| h == host)) else { return };
        self.show_wave(i);
    }

    /// Shows wave `i`; the current wave is followed again.
    pub(super) fn show_wave(&mut self, i: usize) {
        let current = self.current_wave().map(|(c, _)| c);
        self.wave_shown = if Some(i) == current { None } else { Some(i) };
    }

    /// The hosts shown: the shown wave's (every host when the plan is unknown), filtered:
    /// a host stays when its name matches the filter or a line of its diff does.
    pub fn visible_hosts(&self) -> Vec<String> {
        let all: Vec<String> = match self.shown_wave() {
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

    /// Hosts with changes not undone: of `wave`, or of the whole window. What a wave's or
    /// the window's rollback acts on, and the number typed to confirm it.
    pub fn hosts_with_changes(&self, wave: Option<&str>) -> Vec<String> {
        let in_wave = |h: &str| match wave {
            None => true,
            Some(w) => self.info.waves.iter().any(|(name, hosts)| name == w && hosts.iter().any(|x| x == h)),
        };
        self.state.hosts.iter().filter(|(n, s)| s.has_changes() && in_wave(n)).map(|(n, _)| n.clone()).collect()
    }

    /// The operators who may answer (the record names one of them).
    pub fn operators(&self) -> Vec<String> {
        if self.state.operators.is_empty() { vec!["operator".into()] } else { self.state.operators.clone() }
    }

    /// Who answers the question open now.
    pub fn answerer(&self) -> String {
        let ops = self.operators();
        ops.get(self.by).unwrap_or(&ops[0]).clone()
    }

    /// [`App::answerer`] as the engine records a person.
    pub fn actor(&self) -> Actor {
        Actor::operator(self.answerer())
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

    /// Rows of `host`'s output pane.
    pub fn pane_len(&self, host: &str) -> usize {
        transcript::row_count(self.runs.get(host).map_or(&[], Vec::as_slice), self.output.get(host))
    }

    /// The step's last run on `host` was cut off by a crash (outcome unknown).
    pub fn step_interrupted(&self, host: &str, step: usize) -> bool {
        self.runs
            .get(host)
            .and_then(|runs| runs.iter().rev().find(|r| r.step == step && !r.rollback))
            .is_some_and(|r| r.interrupted)
    }

    /// The filter prompt is open (its text shows on the status line).
    pub fn typing_filter(&self) -> bool {
        matches!(self.popups.last(), Some(Popup::Filter))
    }

    /// Rows a page of the hosts list moves (the hosts pane's height).
    pub fn hosts_page(&self) -> usize {
        crate::tui::view::hosts_rows(self.size, self.info.steps.len()).max(1)
    }

    /// Rows a page of a full-screen view moves (its height inside the borders).
    pub fn view_page(&self) -> u16 {
        crate::tui::view::view_rows(self.size).max(1)
    }

    /// How far the view on top scrolls before its last row is at the bottom.
    pub fn view_max(&self) -> u16 {
        let rows = match self.popups.last() {
            Some(Popup::Help) => crate::tui::view::help_len(self),
            Some(Popup::Timeline) => crate::tui::view::timeline_len(self),
            // Each finding takes two rows (more when wrapped).
            Some(Popup::FullDiff) => 2 * self.selected_host().map_or(0, |h| self.diff_lines(&h).len()),
            Some(Popup::DriftDiff(v)) => crate::tui::view::drift_len(v),
            _ => 0,
        };
        rows.saturating_sub(usize::from(self.view_page())).min(usize::from(u16::MAX)) as u16
    }

    /// The text the footer's "status" line shows.
    pub fn status_line(&self) -> String {
        if self.typing_filter() {
            return strings::filter_prompt(&self.filter);
        }
        if let Some(s) = &self.status
            && self.uptime < self.status_until
        {
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
        if self.mode == Mode::ReadOnly
            && let Some((host, at)) = self.armed.iter().next()
        {
            return strings::countdown_banner(host, at.as_second() - self.now.as_second());
        }
        if let Some(passed) = self.drill_result() {
            return strings::drill_over(passed, self.mode == Mode::Live);
        }
        if self.state.finished || self.engine_done {
            return strings::window_ended(self.state.aborted, self.can_request());
        }
        if self.state.paused {
            return strings::WINDOW_PAUSED.into();
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

/// The decision a choice stands for at this stop, if the stop allows it. The target is the
/// stop's own subject: a key at a stop can only act on what the stop is about.
pub fn choice(c: Choice, stop: &OpenStop, changed: bool) -> Option<Decision> {
    allowed(&stop.stop, stop.host.as_deref(), changed)
        .contains(&c)
        .then(|| Decision::at_stop(c, stop.host.as_deref(), None))
}

impl App {
    /// Does the stop's host have changes not undone (it can no longer be skipped)?
    pub fn stop_changed(&self, stop: &OpenStop) -> bool {
        stop.host.as_deref().is_some_and(|h| self.state.host(h).is_some_and(|s| s.has_changes()))
    }

    /// The choices this stop offers, in order.
    pub fn stop_choices(&self, stop: &OpenStop) -> Vec<Choice> {
        allowed(&stop.stop, stop.host.as_deref(), self.stop_changed(stop))
    }
}

/// What must be typed to confirm an override: the host's name, or "override" for a stop
/// about the whole window.
pub fn override_word(stop: &OpenStop) -> String {
    stop.host.clone().unwrap_or_else(|| "override".into())
}
