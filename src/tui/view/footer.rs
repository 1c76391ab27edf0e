//! The status line and the footer: exactly the keys that work now.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::super::action::Action;
use super::super::app::{App, Mode};
use super::super::keymap::{Context, bindings};
use super::super::strings;
use super::super::theme::Theme;
use super::key;

pub fn draw_status(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let text = app.status_line();
    let st = if app.typing_filter() {
        theme.input
    } else if text.contains(strings::HARD_STOP) || text.contains("ABORTED") {
        theme.danger
    } else {
        theme.warn
    };
    frame.render_widget(Paragraph::new(Line::styled(format!(" {text}"), st)), area);
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let ctx = app.context();
    // (label, words, must show): what does not fit is dropped, never the rollback key,
    // help or quit.
    let mut items: Vec<(&str, String, bool)> = Vec::new();
    if ctx == Context::Text {
        // Every letter is text here, `R` too: the footer says how to get to the rollback key.
        let (enter, esc) = if app.typing_filter() {
            (strings::FILTER_ENTER, strings::FILTER_ESC)
        } else {
            (strings::PROMPT_ENTER, strings::PROMPT_ESC)
        };
        items.push(("Enter", enter.into(), true));
        items.push(("Esc", esc.into(), true));
        if let Some(k) = app.rollback_key() {
            items.push(("R", strings::rollback_key(&k, false), true));
        }
    } else {
        for b in bindings(ctx).filter(|b| !b.short.is_empty()) {
            let requests = matches!(b.action, Action::RollbackWave | Action::RollbackAll | Action::AbortWindow);
            if requests && !app.can_request() {
                continue;
            }
            // At a hard stop, only the choices this stop allows.
            if ctx == Context::Stop
                && let Some(stop) = app.open_stop()
                && let Action::Choose(c) = b.action
                && !app.stop_choices(stop).contains(&c)
            {
                continue;
            }
            let what = match b.action {
                // What `R` does here, as `update` does it; nothing shown when it does nothing.
                Action::RollbackHost => match app.rollback_key() {
                    Some(k) => strings::rollback_key(&k, ctx == Context::Confirm),
                    None => continue,
                },
                _ => b.short.to_string(),
            };
            let must = matches!(
                b.action,
                Action::RollbackHost
                    | Action::Choose(crate::engine::control::Choice::RollbackHost)
                    | Action::Help
                    | Action::Quit
            );
            items.push((b.label, what, must));
        }
    }
    let cost = |(l, w, _): &(&str, String, bool)| l.chars().count() + w.chars().count() + 3;
    let ro = if app.mode == Mode::ReadOnly { 9 } else { 0 };
    // +2: the last item needs no separator after it.
    let mut budget = (area.width as usize + 2).saturating_sub(1 + ro);
    budget = budget.saturating_sub(items.iter().filter(|i| i.2).map(cost).sum());
    let mut spans: Vec<Span> = vec![Span::raw(" ")];
    for item in &items {
        if !item.2 {
            if cost(item) > budget {
                continue;
            }
            budget -= cost(item);
        }
        spans.extend(key(item.0, item.1.clone(), theme));
    }
    if app.mode == Mode::ReadOnly {
        spans.push(Span::styled("READ-ONLY", theme.warn));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
