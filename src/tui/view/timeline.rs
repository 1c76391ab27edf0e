//! `t`: the journal as a timeline, newest last.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::super::app::App;
use super::super::strings;
use super::super::theme::Theme;
use super::pane;
use crate::engine::event::Event;

/// The journal's lines, filtered as the hosts are.
fn shown(app: &App) -> impl Iterator<Item = (&jiff::Timestamp, &Event, String)> {
    let f = app.filter.to_lowercase();
    app.events
        .iter()
        .map(|(at, e)| (at, e, strings::event_line(e)))
        .filter(move |(_, _, text)| f.is_empty() || text.to_lowercase().contains(&f))
}

/// Rows the timeline has.
pub fn len(app: &App) -> usize {
    shown(app).count()
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    frame.render_widget(Clear, area);
    let lines: Vec<Line> = shown(app)
        .map(|(at, e, text)| {
            let st = match e {
                Event::HardStop { .. } => theme.danger,
                Event::Decided { .. } | Event::Requested { .. } | Event::AutoRollbackArmed { .. } => theme.warn,
                Event::StepFinished { outcome, .. } if !outcome.is_ok() => theme.danger,
                Event::Preflight { .. } | Event::Checks { .. } | Event::Snapshot { .. } => theme.muted,
                _ => theme.text,
            };
            Line::from(vec![Span::styled(format!("{} ", at.strftime("%H:%M:%S")), theme.muted), Span::styled(text, st)])
        })
        .collect();
    let inner = area.height.saturating_sub(2) as usize;
    // Opens at the newest line (the app scrolls it there).
    let bottom = lines.len().saturating_sub(inner);
    let top = (app.view_scroll as usize).min(bottom);
    frame.render_widget(
        Paragraph::new(lines)
            .block(pane(format!(" {} ", strings::TIMELINE_TITLE), true, theme))
            .scroll((top as u16, 0)),
        area,
    );
}
