//! `?`: every key of every context, from the keymap itself.

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::super::app::{App, Mode};
use super::super::keymap::{Binding, Context, bindings};
use super::super::strings;
use super::super::theme::Theme;
use super::pane;

fn sections(app: &App) -> &'static [(&'static str, Context)] {
    if app.mode == Mode::ReadOnly {
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
            (strings::HELP_LEAVING, Context::Leave),
            (strings::HELP_TYPING, Context::Text),
            (strings::HELP_VIEWS, Context::View),
        ]
    }
}

/// The bindings a section lists: watch has no rollback key, and no line about it.
fn listed(app: &App, ctx: Context) -> impl Iterator<Item = &'static Binding> {
    let read_only = app.mode == Mode::ReadOnly;
    bindings(ctx).filter(move |b| !(b.help.is_empty() || read_only && b.key == KeyCode::Char('R')))
}

/// Rows the help screen has.
pub fn len(app: &App) -> usize {
    let read_only = usize::from(app.mode == Mode::ReadOnly);
    read_only
        + sections(app).iter().map(|(_, ctx)| 1 + listed(app, *ctx).count()).sum::<usize>()
        + strings::HELP_ANYWHERE.len()
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    frame.render_widget(Clear, area);
    let mut lines = Vec::new();
    if app.mode == Mode::ReadOnly {
        lines.push(Line::styled(strings::READ_ONLY, theme.warn));
    }
    for (title, ctx) in sections(app) {
        lines.push(Line::styled(*title, theme.title));
        for b in listed(app, *ctx) {
            lines.push(Line::from(vec![Span::styled(format!("  {:<7}", b.label), theme.key), Span::raw(b.help)]));
        }
    }
    lines.extend(strings::HELP_ANYWHERE.iter().map(|l| Line::styled(*l, theme.muted)));
    frame.render_widget(
        Paragraph::new(lines)
            .block(pane(format!(" {} ", strings::HELP_TITLE), true, theme))
            .scroll((app.view_scroll, 0)),
        area,
    );
}
