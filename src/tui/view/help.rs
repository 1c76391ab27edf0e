//! `?`: every key of every context, from the keymap itself.

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::super::app::{App, Mode};
use super::super::keymap::{Context, bindings};
use super::super::strings;
use super::super::theme::Theme;
use super::pane;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    frame.render_widget(Clear, area);
    let read_only = app.mode == Mode::ReadOnly;
    let sections: &[(&str, Context)] = if read_only {
        &[
            (strings::HELP_MAIN, Context::ReadOnly),
            (strings::HELP_TYPING_WATCH, Context::Text),
            (strings::HELP_VIEWS, Context::ReadOnlyView),
        ]
    } else {
        &[
            (strings::HELP_MAIN, Context::Main),
            (strings::HELP_STOP, Context::Stop),
            (strings::HELP_COUNTDOWN, Context::Countdown),
            (strings::HELP_QUESTIONS, Context::Confirm),
            (strings::HELP_TYPING, Context::Text),
            (strings::HELP_VIEWS, Context::View),
        ]
    };
    let mut lines = Vec::new();
    if read_only {
        lines.push(Line::styled(strings::READ_ONLY, theme.warn));
    }
    for (title, ctx) in sections {
        lines.push(Line::styled(*title, theme.title));
        // Watch has no rollback key: no line about it.
        for b in bindings(*ctx).filter(|b| !(read_only && b.key == KeyCode::Char('R'))) {
            lines.push(Line::from(vec![Span::styled(format!("  {:<7}", b.label), theme.key), Span::raw(b.help)]));
        }
    }
    lines.push(Line::styled(strings::HELP_ANYWHERE, theme.muted));
    frame.render_widget(
        Paragraph::new(lines)
            .block(pane(format!(" {} ", strings::HELP_TITLE), true, theme))
            .scroll((app.view_scroll, 0)),
        area,
    );
}
