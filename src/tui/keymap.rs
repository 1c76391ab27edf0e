//! Keys to actions, per context, as one table. The help screen and the footer are drawn
//! from the same table, so they can only show keys that work. No binding uses Ctrl-b
//! (tmux's prefix) or the mouse.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Action;
use crate::engine::control::Choice;

/// Where the input goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// The main screen of a live window.
    Main,
    /// The main screen of `watch`: read-only.
    ReadOnly,
    /// A hard stop waiting for a decision.
    Stop,
    /// A yes/no question.
    Confirm,
    /// Typing text (override reason, host name, filter).
    Text,
    /// The auto-rollback countdown.
    Countdown,
    /// A full-screen view (help, timeline, diff).
    View,
    /// A full-screen view in `watch`: read-only, so no rollback key.
    ReadOnlyView,
}

/// One binding: the key as shown, the key matched, the action, and what it does.
pub struct Binding {
    pub context: Context,
    pub label: &'static str,
    pub key: KeyCode,
    pub ctrl: bool,
    pub action: Action,
    pub help: &'static str,
    /// The footer's word for it; empty: only in help.
    pub short: &'static str,
}

const fn b(
    context: Context,
    label: &'static str,
    key: KeyCode,
    action: Action,
    short: &'static str,
    help: &'static str,
) -> Binding {
    Binding { context, label, key, ctrl: false, action, help, short }
}

/// The key of each choice at a hard stop, with its footer word and help line. Exhaustive:
/// a new choice in the engine's list does not compile until it has a key here.
pub const fn choice_key(c: Choice) -> (&'static str, char, &'static str, &'static str) {
    match c {
        Choice::RollbackHost => ("R", 'R', "ROLLBACK", "roll back this host (asks once); never more than this host"),
        Choice::Skip => ("s", 's', "skip", "skip this host, leave it untouched (only before its first change)"),
        Choice::Abort => ("a", 'a', "abort", "abort the window: nothing new starts; rollback stays possible"),
        Choice::RollbackAll => {
            ("X", 'X', "roll back all", "abort and roll back every host with changes (asks, with how many)")
        }
        Choice::Retry => ("e", 'e', "retry", "retry the step"),
        Choice::Repair => ("p", 'p', "repair", "repair the package database (dpkg --configure -a), then check again"),
        Choice::Override => ("o", 'o', "override", "override: type a reason, then the host name"),
        Choice::Go => ("g", 'g', "GO", "go: start the next wave"),
        Choice::StartEarly => ("S", 'S', "start early", "start before the window's start time: type a reason"),
        Choice::RollbackWave => ("W", 'W', "roll back wave", "roll back every host of this wave"),
    }
}

/// A hard stop's binding for a choice, from [`choice_key`].
const fn choose(c: Choice) -> Binding {
    let (label, key, short, help) = choice_key(c);
    Binding {
        context: Context::Stop,
        label,
        key: KeyCode::Char(key),
        ctrl: false,
        action: Action::Choose(c),
        help,
        short,
    }
}

use Context::*;
use KeyCode::Char;

/// Every binding. Order is the order shown in the footer and in help.
pub static BINDINGS: &[Binding] = &[
    b(Main, "R", Char('R'), Action::RollbackHost, "ROLLBACK", "roll back the selected host (asks once)"),
    b(Main, "W", Char('W'), Action::RollbackWave, "", "roll back every host of the current wave (asks once)"),
    b(Main, "X", Char('X'), Action::RollbackAll, "", "stop and roll back everything done so far (asks once)"),
    b(
        Main,
        "A",
        Char('A'),
        Action::AbortWindow,
        "abort",
        "abort: start nothing more, leave hosts as they are (asks once)",
    ),
    b(Main, "↑/k", Char('k'), Action::SelectPrev, "", "select the previous host"),
    b(Main, "↓/j", Char('j'), Action::SelectNext, "host", "select the next host"),
    b(Main, "PgUp", KeyCode::PageUp, Action::ScrollUp, "", "scroll the output up"),
    b(Main, "PgDn", KeyCode::PageDown, Action::ScrollDown, "", "scroll the output down"),
    b(Main, "End", KeyCode::End, Action::FollowOutput, "", "back to the newest output, following it"),
    b(Main, "d", Char('d'), Action::FullDiff, "diff", "full-screen diff of the selected host"),
    b(Main, "t", Char('t'), Action::Timeline, "journal", "timeline of the journal"),
    b(Main, "/", Char('/'), Action::Filter, "filter", "filter hosts and diff lines (Esc clears)"),
    b(Main, "?", Char('?'), Action::Help, "help", "every key"),
    b(Main, "q", Char('q'), Action::Quit, "quit", "quit (asks first while the window runs)"),
    b(ReadOnly, "↑/k", Char('k'), Action::SelectPrev, "", "select the previous host"),
    b(ReadOnly, "↓/j", Char('j'), Action::SelectNext, "host", "select the next host"),
    b(ReadOnly, "PgUp", KeyCode::PageUp, Action::ScrollUp, "", "scroll the output up"),
    b(ReadOnly, "PgDn", KeyCode::PageDown, Action::ScrollDown, "", "scroll the output down"),
    b(ReadOnly, "End", KeyCode::End, Action::FollowOutput, "", "back to the newest output, following it"),
    b(ReadOnly, "d", Char('d'), Action::FullDiff, "diff", "full-screen diff of the selected host"),
    b(ReadOnly, "t", Char('t'), Action::Timeline, "journal", "timeline of the journal"),
    b(ReadOnly, "/", Char('/'), Action::Filter, "filter", "filter hosts and diff lines (Esc clears)"),
    b(ReadOnly, "?", Char('?'), Action::Help, "help", "every key"),
    b(ReadOnly, "q", Char('q'), Action::Quit, "quit", "quit watching (the window is not affected)"),
    choose(Choice::RollbackHost),
    b(Stop, "r", Char('r'), Action::Choose(Choice::RollbackHost), "", "same as R"),
    choose(Choice::Skip),
    choose(Choice::Abort),
    choose(Choice::RollbackAll),
    choose(Choice::Retry),
    choose(Choice::Repair),
    choose(Choice::Override),
    choose(Choice::Go),
    choose(Choice::StartEarly),
    choose(Choice::RollbackWave),
    b(Stop, "d", Char('d'), Action::FullDiff, "", "full-screen diff of this host"),
    b(Countdown, "c", Char('c'), Action::CancelAutoRollback, "cancel", "cancel the auto-rollback (then decide)"),
    b(Countdown, "R", Char('R'), Action::RollbackNow, "roll back now", "roll back now"),
    b(Confirm, "y", Char('y'), Action::Confirm, "yes", "yes"),
    b(Confirm, "n", Char('n'), Action::Deny, "no", "no"),
    b(Confirm, "Esc", KeyCode::Esc, Action::Deny, "", "no"),
    b(
        Confirm,
        "R",
        Char('R'),
        Action::RollbackHost,
        "ROLLBACK",
        "ask about rolling back instead: the selected host, or at a hard stop its rollback",
    ),
    b(Text, "Enter", KeyCode::Enter, Action::Submit, "accept", "accept what was typed (the filter stays)"),
    b(
        Text,
        "Esc",
        KeyCode::Esc,
        Action::Back,
        "close",
        "close the prompt: the filter is cleared, an override goes back a step",
    ),
    // Not a key of its own: in a prompt every letter is text. Help says how to roll back.
    b(Text, "R", Char('R'), Action::Input('R'), "", "types R: close the prompt (Enter or Esc), then R rolls back"),
    b(
        View,
        "R",
        Char('R'),
        Action::RollbackHost,
        "ROLLBACK",
        "close the view and roll back the selected host, or at a hard stop choose its rollback (asks once)",
    ),
    b(View, "↑/k", Char('k'), Action::ScrollUp, "up", "scroll up"),
    b(View, "↓/j", Char('j'), Action::ScrollDown, "down", "scroll down"),
    b(View, "Esc/q", KeyCode::Esc, Action::Back, "close", "close"),
    b(View, "?", Char('?'), Action::Back, "", "close (help)"),
    b(ReadOnlyView, "↑/k", Char('k'), Action::ScrollUp, "up", "scroll up"),
    b(ReadOnlyView, "↓/j", Char('j'), Action::ScrollDown, "down", "scroll down"),
    b(ReadOnlyView, "Esc/q", KeyCode::Esc, Action::Back, "close", "close"),
    b(ReadOnlyView, "?", Char('?'), Action::Back, "", "close (help)"),
];

/// The action for a key in a context, if any.
pub fn lookup(context: Context, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    // Ctrl-C always means "I want out": the app asks first, or refuses during a decision.
    if ctrl && key.code == Char('c') {
        return Some(Action::Quit);
    }
    if ctrl {
        return None;
    }
    if context == Text {
        return match key.code {
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Backspace => Some(Action::Backspace),
            Char(c) if !c.is_control() => Some(Action::Input(c)),
            _ => None,
        };
    }
    // Arrow aliases, and `q` closing views.
    let code = match (context, key.code) {
        (_, KeyCode::Up) => Char('k'),
        (_, KeyCode::Down) => Char('j'),
        (View | ReadOnlyView, Char('q')) => KeyCode::Esc,
        (Main | ReadOnly | Stop | Countdown, KeyCode::Esc) => KeyCode::Esc,
        (_, c) => c,
    };
    if code == KeyCode::Esc && matches!(context, Main | ReadOnly) {
        return Some(Action::Back);
    }
    BINDINGS.iter().find(|b| b.context == context && b.key == code && !b.ctrl).map(|b| b.action.clone())
}

/// The bindings of a context, in order.
pub fn bindings(context: Context) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| b.context == context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_binding_uses_ctrl_b_and_rollback_is_always_bound() {
        assert!(BINDINGS.iter().all(|b| !(b.ctrl && b.key == Char('b'))));
        let ctrl_b = KeyEvent::new(Char('b'), KeyModifiers::CONTROL);
        for c in [Main, ReadOnly, Stop, Confirm, Text, Countdown, View, ReadOnlyView] {
            assert_eq!(lookup(c, ctrl_b), None);
        }
        let r = KeyEvent::from(Char('R'));
        assert_eq!(lookup(Main, r), Some(Action::RollbackHost));
        assert_eq!(lookup(View, r), Some(Action::RollbackHost));
        assert_eq!(lookup(Confirm, r), Some(Action::RollbackHost));
        assert_eq!(lookup(Stop, r), Some(Action::Choose(Choice::RollbackHost)));
        assert_eq!(lookup(Countdown, r), Some(Action::RollbackNow));
        assert_eq!(lookup(Text, r), Some(Action::Input('R')), "in a prompt R is a letter");
        assert_eq!(lookup(ReadOnly, r), None, "watch cannot send commands");
        assert_eq!(lookup(ReadOnlyView, r), None, "watch cannot send commands");
        assert!(bindings(ReadOnly).chain(bindings(ReadOnlyView)).all(|b| !matches!(
            b.action,
            Action::RollbackHost | Action::RollbackWave | Action::RollbackAll | Action::AbortWindow
        )));
    }

    #[test]
    fn every_choice_has_its_own_key_at_a_stop() {
        let mut keys: Vec<char> = Choice::ALL.iter().map(|c| choice_key(*c).1).collect();
        for c in Choice::ALL {
            let key = KeyEvent::from(Char(choice_key(c).1));
            assert_eq!(lookup(Stop, key), Some(Action::Choose(c)), "{c:?}");
        }
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), Choice::ALL.len(), "two choices share a key");
    }

    #[test]
    fn actions_are_named_as_data() {
        assert_eq!(serde_json::to_string(&Action::RollbackHost).unwrap(), "\"rollback_host\"");
        let a: Action = serde_json::from_str("{\"choose\":\"override\"}").unwrap();
        assert_eq!(a, Action::Choose(Choice::Override));
    }
}
