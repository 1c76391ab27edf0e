//! `?`: every key of every context, from the keymap itself.

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
    let main = if app.mode == Mode::ReadOnly { Context::ReadOnly } else { Context::Main };
    let sections: &[(&str, Context)] = &[
        ("Main screen", main),
        ("Hard stop", Context::Stop),
        ("Auto-rollback countdown", Context::Countdown),
        ("Questions", Context::Confirm),
        ("Views (help, journal, diff)", Context::View),
    ];
    let mut lines = Vec::new();
    if app.mode == Mode::ReadOnly {
        lines.push(Line::styled(strings::READ_ONLY, theme.warn));
    }
    for (i, (title, ctx)) in sections.iter().enumerate() {
        if app.mode == Mode::ReadOnly && i > 0 && i < 4 {
            continue;
        }
        lines.push(Line::styled(*title, theme.title));
        for b in bindings(*ctx) {
            lines.push(Line::from(vec![Span::styled(format!("  {:<7}", b.label), theme.key), Span::raw(b.help)]));
        }
    }
    lines.push(Line::styled("Anywhere: Ctrl-C = q (asks first). No key uses Ctrl-b or the mouse.", theme.muted));
    frame.render_widget(
        Paragraph::new(lines)
            .block(pane(format!(" {} ", strings::HELP_TITLE), true, theme))
            .scroll((app.view_scroll, 0)),
        area,
    );
}
