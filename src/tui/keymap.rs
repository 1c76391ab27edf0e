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
    /// Leaving: the window paused, or aborted, or back.
    Leave,
    /// Typing text (override reason, host count, host name, filter).
    Text,
    /// The auto-rollback countdown.
    Countdown,
    /// A full-screen view (help, timeline, diff).
    View,
    /// A full-screen view in `watch`: read-only, so no rollback key.
    ReadOnlyView,
}

impl Context {
    /// Contexts where somebody answers a question, so who answers is chosen (1-9, Tab).
    pub fn asks(self) -> bool {
        matches!(self, Context::Stop | Context::Confirm | Context::Leave | Context::Countdown | Context::Text)
    }
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
            ("X", 'X', "roll back all", "abort and roll back every host with changes (type how many hosts)")
        }
        Choice::Retry => ("e", 'e', "retry", "retry the step"),
        Choice::Repair => ("p", 'p', "repair", "repair the package database (dpkg --configure -a), then check again"),
        Choice::Override => ("o", 'o', "override", "override: type a reason, then the host name"),
        Choice::Go => ("g", 'g', "GO", "go: start the next wave"),
        Choice::StartEarly => ("S", 'S', "start early", "start before the window's start time: type a reason"),
        Choice::RollbackWave => ("W", 'W', "roll back wave", "roll back every host of this wave (type how many)"),
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

/// Help-only rows (the key is matched in [`lookup`]): who answers.
const WHO_HELP: &str = "who answers, with two operators or more (the record names them; the first by default)";
const TAB_WHO: &str = "the next operator answers";
/// The keys every context but typing has: the journal, help, leaving.
const JOURNAL: &str = "the journal (a timeline), over what is open";
const HELP: &str = "every key";
const LEAVE: &str = "leave: the window PAUSED or ABORTED, or back (a stop stays open for --resume)";

/// Every binding. Order is the order shown in the footer and in help.
pub static BINDINGS: &[Binding] = &[
    b(Main, "R", Char('R'), Action::RollbackHost, "ROLLBACK", "roll back the selected host (asks once)"),
    b(Main, "W", Char('W'), Action::RollbackWave, "", "roll back every host of the wave shown (type how many)"),
    b(Main, "X", Char('X'), Action::RollbackAll, "", "stop and roll back every host with changes (type how many)"),
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
    b(Main, "[", Char('['), Action::PrevWave, "", "show the previous wave's hosts"),
    b(Main, "]", Char(']'), Action::NextWave, "", "show the next wave's hosts"),
    b(Main, "Tab", KeyCode::Tab, Action::SwitchList, "", "PgUp/PgDn/Home/End move the output, or the hosts"),
    b(Main, "PgUp", KeyCode::PageUp, Action::ScrollUp, "", "scroll up (the output, or the hosts: Tab)"),
    b(Main, "PgDn", KeyCode::PageDown, Action::ScrollDown, "", "scroll down"),
    b(Main, "Home", KeyCode::Home, Action::ScrollTop, "", "the oldest output, or the first host"),
    b(Main, "End", KeyCode::End, Action::ScrollBottom, "", "the newest output, following it; or the last host"),
    b(Main, "d", Char('d'), Action::FullDiff, "diff", "full-screen diff of the selected host"),
    b(Main, "t", Char('t'), Action::Timeline, "journal", "timeline of the journal"),
    b(Main, "/", Char('/'), Action::Filter, "filter", "filter hosts and diff lines (Esc clears)"),
    b(Main, "?", Char('?'), Action::Help, "help", HELP),
    b(Main, "q", Char('q'), Action::Quit, "quit", "leave: asks whether to leave the window PAUSED or ABORT it"),
    b(ReadOnly, "↑/k", Char('k'), Action::SelectPrev, "", "select the previous host"),
    b(ReadOnly, "↓/j", Char('j'), Action::SelectNext, "host", "select the next host"),
    b(ReadOnly, "[", Char('['), Action::PrevWave, "", "show the previous wave's hosts"),
    b(ReadOnly, "]", Char(']'), Action::NextWave, "", "show the next wave's hosts"),
    b(ReadOnly, "Tab", KeyCode::Tab, Action::SwitchList, "", "PgUp/PgDn/Home/End move the output, or the hosts"),
    b(ReadOnly, "PgUp", KeyCode::PageUp, Action::ScrollUp, "", "scroll up (the output, or the hosts: Tab)"),
    b(ReadOnly, "PgDn", KeyCode::PageDown, Action::ScrollDown, "", "scroll down"),
    b(ReadOnly, "Home", KeyCode::Home, Action::ScrollTop, "", "the oldest output, or the first host"),
    b(ReadOnly, "End", KeyCode::End, Action::ScrollBottom, "", "the newest output, following it; or the last host"),
    b(ReadOnly, "d", Char('d'), Action::FullDiff, "diff", "full-screen diff of the selected host"),
    b(ReadOnly, "t", Char('t'), Action::Timeline, "journal", "timeline of the journal"),
    b(ReadOnly, "/", Char('/'), Action::Filter, "filter", "filter hosts and diff lines (Esc clears)"),
    b(ReadOnly, "?", Char('?'), Action::Help, "help", HELP),
    b(ReadOnly, "q", Char('q'), Action::Quit, "quit", "quit watching (the window is not affected)"),
    // Matched so that watch can say it is read-only; shown nowhere.
    b(ReadOnly, "R", Char('R'), Action::RollbackHost, "", ""),
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
    b(Stop, "1-9", KeyCode::Null, Action::Operator(0), "", WHO_HELP),
    b(Stop, "Tab", KeyCode::Tab, Action::NextOperator, "", TAB_WHO),
    b(Stop, "t", Char('t'), Action::Timeline, "", JOURNAL),
    b(Stop, "?", Char('?'), Action::Help, "help", HELP),
    b(Stop, "q", Char('q'), Action::Quit, "quit", LEAVE),
    b(Countdown, "c", Char('c'), Action::CancelAutoRollback, "cancel", "cancel the auto-rollback (then decide)"),
    b(Countdown, "R", Char('R'), Action::RollbackNow, "roll back now", "roll back now"),
    b(Countdown, "1-9", KeyCode::Null, Action::Operator(0), "", WHO_HELP),
    b(Countdown, "Tab", KeyCode::Tab, Action::NextOperator, "", TAB_WHO),
    b(Countdown, "t", Char('t'), Action::Timeline, "", JOURNAL),
    b(Countdown, "?", Char('?'), Action::Help, "help", HELP),
    b(Countdown, "q", Char('q'), Action::Quit, "quit", LEAVE),
    b(Confirm, "y", Char('y'), Action::Confirm, "yes", "yes"),
    b(Confirm, "n", Char('n'), Action::Deny, "no", "no"),
    b(Confirm, "Esc", KeyCode::Esc, Action::Deny, "", "no"),
    b(
        Confirm,
        "R",
        Char('R'),
        Action::RollbackHost,
        "ROLLBACK",
        "ask about rolling back instead: the selected host, or at a hard stop its host",
    ),
    b(Confirm, "1-9", KeyCode::Null, Action::Operator(0), "", WHO_HELP),
    b(Confirm, "Tab", KeyCode::Tab, Action::NextOperator, "", TAB_WHO),
    b(Confirm, "t", Char('t'), Action::Timeline, "", JOURNAL),
    b(Confirm, "?", Char('?'), Action::Help, "help", HELP),
    b(Confirm, "q", Char('q'), Action::Quit, "", LEAVE),
    b(
        Leave,
        "p",
        Char('p'),
        Action::LeavePaused,
        "leave PAUSED",
        "leave the window PAUSED: running steps finish, nothing new starts; --resume carries on",
    ),
    b(
        Leave,
        "a",
        Char('a'),
        Action::LeaveAborted,
        "ABORT and leave",
        "abort the window, then leave: nothing new starts, ever; rollback stays possible",
    ),
    b(Leave, "n", Char('n'), Action::Deny, "back", "back to the window (Esc too)"),
    b(Leave, "Esc", KeyCode::Esc, Action::Deny, "", "back to the window"),
    b(
        Leave,
        "R",
        Char('R'),
        Action::RollbackHost,
        "ROLLBACK",
        "ask about rolling back instead: the selected host, or at a hard stop its host",
    ),
    b(Leave, "1-9", KeyCode::Null, Action::Operator(0), "", WHO_HELP),
    b(Leave, "Tab", KeyCode::Tab, Action::NextOperator, "", TAB_WHO),
    b(Leave, "t", Char('t'), Action::Timeline, "", JOURNAL),
    b(Leave, "?", Char('?'), Action::Help, "", HELP),
    b(Text, "Enter", KeyCode::Enter, Action::Submit, "accept", "accept what was typed (the filter stays)"),
    b(
        Text,
        "Esc",
        KeyCode::Esc,
        Action::Back,
        "close",
        "close the prompt: the filter is cleared, an override goes back a step",
    ),
    b(Text, "Tab", KeyCode::Tab, Action::NextOperator, "", TAB_WHO),
    Binding {
        context: Text,
        label: "Ctrl-C",
        key: Char('c'),
        ctrl: true,
        action: Action::Quit,
        help: "leave (every other key is text here)",
        short: "",
    },
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
    b(View, "↑/k", Char('k'), Action::SelectPrev, "up", "scroll up a line"),
    b(View, "↓/j", Char('j'), Action::SelectNext, "down", "scroll down a line"),
    b(View, "PgUp", KeyCode::PageUp, Action::ScrollUp, "", "a page up"),
    b(View, "PgDn", KeyCode::PageDown, Action::ScrollDown, "", "a page down"),
    b(View, "Home", KeyCode::Home, Action::ScrollTop, "", "the top"),
    b(View, "End", KeyCode::End, Action::ScrollBottom, "", "the end"),
    b(View, "Enter", KeyCode::Enter, Action::DriftDiff, "", "full diff, a drifted file: its diff against staging's"),
    b(View, "Esc/q", KeyCode::Esc, Action::Back, "close", "close"),
    b(View, "t", Char('t'), Action::Timeline, "", "the journal (closes this view)"),
    b(View, "?", Char('?'), Action::Help, "", "help (closes this view; ? again closes help)"),
    b(ReadOnlyView, "↑/k", Char('k'), Action::SelectPrev, "up", "scroll up a line"),
    b(ReadOnlyView, "↓/j", Char('j'), Action::SelectNext, "down", "scroll down a line"),
    b(ReadOnlyView, "PgUp", KeyCode::PageUp, Action::ScrollUp, "", "a page up"),
    b(ReadOnlyView, "PgDn", KeyCode::PageDown, Action::ScrollDown, "", "a page down"),
    b(ReadOnlyView, "Home", KeyCode::Home, Action::ScrollTop, "", "the top"),
    b(ReadOnlyView, "End", KeyCode::End, Action::ScrollBottom, "", "the end"),
    b(ReadOnlyView, "Esc/q", KeyCode::Esc, Action::Back, "close", "close"),
    b(ReadOnlyView, "t", Char('t'), Action::Timeline, "", "the journal (closes this view)"),
    b(ReadOnlyView, "?", Char('?'), Action::Help, "", "help (closes this view; ? again closes help)"),
];

/// The action for a key in a context, if any.
pub fn lookup(context: Context, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    // Ctrl-C always means "I want out": the app asks whether to leave paused or abort.
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
            KeyCode::Tab => Some(Action::NextOperator),
            Char(c) if !c.is_control() => Some(Action::Input(c)),
            _ => None,
        };
    }
    // Who answers, by number.
    if let Char(d @ '1'..='9') = key.code
        && context.asks()
    {
        return Some(Action::Operator(d as usize - '1' as usize));
    }
    // Arrow aliases, and `q` closing views.
    let code = match (context, key.code) {
        (_, KeyCode::Up) => Char('k'),
        (_, KeyCode::Down) => Char('j'),
        (View | ReadOnlyView, Char('q')) => KeyCode::Esc,
        (_, c) => c,
    };
    if code == KeyCode::Esc && matches!(context, Main | ReadOnly | Stop | Countdown) {
        return Some(Action::Back);
    }
    BINDINGS
        .iter()
        .find(|b| b.context == context && b.key == code && b.key != KeyCode::Null && !b.ctrl)
        .map(|b| b.action.clone())
}

/// The bindings of a context, in order.
pub fn bindings(context: Context) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| b.context == context)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Context; 9] = [Main, ReadOnly, Stop, Confirm, Leave, Text, Countdown, View, ReadOnlyView];

    #[test]
    fn no_binding_uses_ctrl_b_and_rollback_is_always_bound() {
        assert!(BINDINGS.iter().all(|b| !(b.ctrl && b.key == Char('b'))));
        let ctrl_b = KeyEvent::new(Char('b'), KeyModifiers::CONTROL);
        for c in ALL {
            assert_eq!(lookup(c, ctrl_b), None);
        }
        let r = KeyEvent::from(Char('R'));
        assert_eq!(lookup(Main, r), Some(Action::RollbackHost));
        assert_eq!(lookup(View, r), Some(Action::RollbackHost));
        assert_eq!(lookup(Confirm, r), Some(Action::RollbackHost));
        assert_eq!(lookup(Leave, r), Some(Action::RollbackHost));
        assert_eq!(lookup(Stop, r), Some(Action::Choose(Choice::RollbackHost)));
        assert_eq!(lookup(Countdown, r), Some(Action::RollbackNow));
        assert_eq!(lookup(Text, r), Some(Action::Input('R')), "in a prompt R is a letter");
        // Watch matches R only to say it is read-only (the app refuses it); no view has it.
        assert_eq!(lookup(ReadOnly, r), Some(Action::RollbackHost));
        assert_eq!(lookup(ReadOnlyView, r), None, "watch cannot send commands");
        assert!(bindings(ReadOnly).chain(bindings(ReadOnlyView)).all(|b| b.short.is_empty()
            || !matches!(
                b.action,
                Action::RollbackHost | Action::RollbackWave | Action::RollbackAll | Action::AbortWindow
            )));
    }

    #[test]
    fn leaving_help_and_the_journal_work_in_every_context() {
        let ctrl_c = KeyEvent::new(Char('c'), KeyModifiers::CONTROL);
        for c in ALL {
            assert_eq!(lookup(c, ctrl_c), Some(Action::Quit), "{c:?}");
        }
        let key = |c| KeyEvent::from(Char(c));
        for c in [Main, ReadOnly, Stop, Confirm, Countdown] {
            assert_eq!(lookup(c, key('q')), Some(Action::Quit), "{c:?}");
        }
        for c in [Main, ReadOnly, Stop, Confirm, Leave, Countdown] {
            assert_eq!(lookup(c, key('?')), Some(Action::Help), "{c:?}");
            assert_eq!(lookup(c, key('t')), Some(Action::Timeline), "{c:?}");
        }
        for c in [View, ReadOnlyView] {
            assert_eq!(lookup(c, key('q')), Some(Action::Back), "q closes a view");
            assert_eq!(lookup(c, key('?')), Some(Action::Help), "{c:?}");
            assert_eq!(lookup(c, key('t')), Some(Action::Timeline), "{c:?}");
        }
        // Leaving is one key each way, plus back.
        assert_eq!(lookup(Leave, key('p')), Some(Action::LeavePaused));
        assert_eq!(lookup(Leave, key('a')), Some(Action::LeaveAborted));
        assert_eq!(lookup(Leave, KeyEvent::from(KeyCode::Esc)), Some(Action::Deny));
        assert_eq!(lookup(Leave, key('y')), None, "no yes: which way to leave is the answer");
    }

    #[test]
    fn who_answers_is_a_digit_or_tab_in_a_question_only() {
        let key = |c| KeyEvent::from(Char(c));
        for c in [Stop, Confirm, Leave, Countdown] {
            assert_eq!(lookup(c, key('1')), Some(Action::Operator(0)), "{c:?}");
            assert_eq!(lookup(c, key('2')), Some(Action::Operator(1)), "{c:?}");
            assert_eq!(lookup(c, KeyEvent::from(KeyCode::Tab)), Some(Action::NextOperator), "{c:?}");
        }
        assert_eq!(lookup(Text, key('2')), Some(Action::Input('2')), "a digit is text in a prompt");
        assert_eq!(lookup(Text, KeyEvent::from(KeyCode::Tab)), Some(Action::NextOperator));
        assert_eq!(lookup(Main, key('1')), None);
        assert_eq!(lookup(Main, KeyEvent::from(KeyCode::Tab)), Some(Action::SwitchList));
    }

    #[test]
    fn enter_opens_a_drifted_files_diff_only_where_hosts_can_be_reached() {
        let enter = KeyEvent::from(KeyCode::Enter);
        assert_eq!(lookup(View, enter), Some(Action::DriftDiff));
        assert_eq!(lookup(ReadOnlyView, enter), None, "watch reaches no host");
        assert!(bindings(View).any(|b| b.action == Action::DriftDiff && !b.help.is_empty()), "help lists it");
    }

    #[test]
    fn every_list_pages() {
        for c in [Main, ReadOnly, View, ReadOnlyView] {
            for (k, a) in [
                (KeyCode::PageUp, Action::ScrollUp),
                (KeyCode::PageDown, Action::ScrollDown),
                (KeyCode::Home, Action::ScrollTop),
                (KeyCode::End, Action::ScrollBottom),
            ] {
                assert_eq!(lookup(c, KeyEvent::from(k)), Some(a), "{c:?} {k:?}");
            }
        }
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
        for other in ['t', '?', 'q', 'd'] {
            assert!(!keys.contains(&other), "{other} is a choice's key and a view's");
        }
    }

    #[test]
    fn actions_are_named_as_data() {
        assert_eq!(serde_json::to_string(&Action::RollbackHost).unwrap(), "\"rollback_host\"");
        let a: Action = serde_json::from_str("{\"choose\":\"override\"}").unwrap();
        assert_eq!(a, Action::Choose(Choice::Override));
    }
}
