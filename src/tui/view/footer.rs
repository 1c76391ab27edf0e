//! The status line and the footer: exactly the keys that work now.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::super::action::Action;
use super::super::app::{App, Mode, choice};
use super::super::keymap::{Context, bindings};
use super::super::strings;
use super::super::theme::Theme;
use super::key;

pub fn draw_status(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let text = app.status_line();
    let st = if text.contains(strings::HARD_STOP) || text.contains("ABORTED") { theme.danger } else { theme.warn };
    frame.render_widget(Paragraph::new(Line::styled(format!(" {text}"), st)), area);
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let ctx = app.context();
    let mut spans: Vec<Span> = vec![Span::raw(" ")];
    if ctx == Context::Text {
        spans.extend(key("Enter", "accept", theme));
        spans.extend(key("Esc", "back", theme));
    } else {
        for b in bindings(ctx).filter(|b| !b.short.is_empty()) {
            let requests = matches!(
                b.action,
                Action::RollbackHost | Action::RollbackWave | Action::RollbackAll | Action::AbortWindow
            );
            if requests && !app.can_request() {
                continue;
            }
            // At a hard stop, only the choices this stop allows.
            if ctx == Context::Stop
                && let Some(stop) = app.open_stop()
                && b.action != Action::ChooseOverride
                && b.action != Action::FullDiff
                && choice(&b.action, stop).is_none()
            {
                continue;
            }
            let what = match b.action {
                Action::RollbackHost => match app.selected_host() {
                    Some(h) => format!("{} {h}", b.short),
                    None => continue,
                },
                _ => b.short.to_string(),
            };
            spans.extend(key(b.label, what, theme));
        }
    }
    if app.mode == Mode::ReadOnly {
        spans.push(Span::styled("READ-ONLY", theme.warn));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
