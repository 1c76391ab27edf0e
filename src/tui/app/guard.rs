//! Keys under pressure: a key acts on what the operator saw when pressing it, or on nothing.
//!
//! - A modal that opens by itself (a hard stop, a countdown, a question surfacing from
//!   behind one) holds every key for [`App::grace`]: a key typed at the screen before must not
//!   answer it. So does the selection moving by itself, for the keys that act on it (`R`,
//!   `W`). Each swallowed key says so on the status line.
//! - While the terminal is too small to show the cockpit, no key does anything: the
//!   operator cannot see what a key would answer.
//!
//! Time is [`App::uptime`], monotonic, set by the loop, so all of it is tested through
//! `update` without sleeping.

use std::time::Duration;

use super::model::{App, Held, Modal, RollbackKey};
use crate::tui::action::Action;
use crate::tui::strings;
use crate::tui::view::{MIN_HEIGHT, MIN_WIDTH};

impl App {
    /// The terminal is too small to show the cockpit.
    pub fn too_small(&self) -> bool {
        self.size.0 < MIN_WIDTH || self.size.1 < MIN_HEIGHT
    }

    /// Keys are held now: what just opened.
    pub fn holding(&self) -> Option<Held> {
        self.held.filter(|(until, _)| self.uptime < *until).map(|(_, what)| what)
    }

    /// When the keys held now are let go (for the loop to redraw then).
    pub fn hold_ends(&self) -> Option<Duration> {
        self.held.map(|(until, _)| until).filter(|until| self.uptime < *until)
    }

    /// Something other than a key changed the popups (an event, a question from the engine):
    /// when another modal now has the keys, it just opened and holds them.
    pub(super) fn opened_by_itself(&mut self) {
        let top = self.top_modal();
        if top != self.shown {
            if let Some(m) = &top {
                self.held = Some((self.uptime + self.grace, held(m)));
            }
            self.new_question(top);
        }
    }

    /// A key changed the popups. Answering a stop or a countdown reveals what waited
    /// behind it (a question asked before it opened): that holds the keys, so a key pressed
    /// twice does not answer it too. What the key itself asked for, or went back to, does not.
    pub(super) fn after_key(&mut self, depth_before: usize) {
        let top = self.top_modal();
        if top != self.shown {
            let answered_engine = matches!(self.shown, Some(Modal::Stop(_) | Modal::Countdown(_)));
            if let Some(m) = &top
                && answered_engine
                && self.popups.len() < depth_before
            {
                self.held = Some((self.uptime + self.grace, held(m)));
            }
            self.new_question(top);
        }
    }

    /// A new question: the first operator answers unless another is chosen.
    fn new_question(&mut self, top: Option<Modal>) {
        self.shown = top;
        self.by = 0;
    }

    /// The selection (or the wave shown) moved by itself just now.
    pub(super) fn moved_by_itself(&mut self) {
        self.moved_at = Some(self.uptime);
    }

    /// The selection moved by itself too recently for a key acting on it.
    pub(super) fn just_moved(&self) -> bool {
        self.moved_at.is_some_and(|at| self.uptime < at + self.grace)
    }
}

fn held(m: &Modal) -> Held {
    match m {
        Modal::Stop(_) => Held::Stop,
        Modal::Countdown(_) => Held::Countdown,
        Modal::Question(_) | Modal::Count(_) => Held::Question,
    }
}

/// `Some(status)` when the key must do nothing now, saying why.
pub(super) fn refuse(app: &App, action: &Action) -> Option<String> {
    if app.too_small() {
        return Some(strings::TOO_SMALL_KEYS.into());
    }
    if let Some(what) = app.holding() {
        return Some(strings::key_held(what));
    }
    // `R` asking about the selected host, `W` about the wave shown: their target is what
    // moved.
    let on_selection = match action {
        Action::RollbackHost => matches!(app.rollback_key(), Some(RollbackKey::Request(_))),
        Action::RollbackWave => app.top_modal().is_none(),
        _ => false,
    };
    if on_selection && app.just_moved() {
        return Some(strings::selection_moved(app.selected_host().as_deref()));
    }
    // Enter on "the finding at the cursor" just after a re-check replaced the findings.
    if matches!(action, Action::DriftDiff) && app.findings_moved_at.is_some_and(|at| app.uptime < at + app.grace) {
        return Some(strings::FINDINGS_CHANGED.into());
    }
    None
}
