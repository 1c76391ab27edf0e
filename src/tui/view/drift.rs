//! One drifted file against staging's: a unified diff, staging's side first. Every line
//! came from a host, so every line is made safe for the terminal here.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::super::app::{App, DriftBody, DriftView};
use super::super::strings;
use super::super::theme::Theme;
use super::pane;
use crate::safe_text::for_terminal;

/// The view's rows: the diff's lines, or the sentence saying why there is none.
fn rows<'a>(v: &DriftView, theme: &Theme) -> Vec<Line<'a>> {
    match &v.body {
        DriftBody::Fetching => vec![Line::styled(strings::DRIFT_FETCHING, theme.muted)],
        DriftBody::Same => vec![Line::styled(strings::DRIFT_SAME, theme.text)],
        DriftBody::Refused(why) => {
            why.iter().map(|(on, w)| Line::styled(strings::drift_refused(&for_terminal(on), w), theme.warn)).collect()
        }
        DriftBody::Diff(lines) => lines
            .iter()
            .map(|l| {
                let style = match l.as_bytes().first() {
                    Some(b'+') => theme.ok,
                    Some(b'-') => theme.danger,
                    Some(b'@') => theme.title,
                    _ => theme.text,
                };
                Line::styled(for_terminal(l), style)
            })
            .collect(),
    }
}

/// Rows the view has (for scrolling).
pub fn len(v: &DriftView) -> usize {
    match &v.body {
        DriftBody::Diff(lines) => lines.len(),
        DriftBody::Refused(why) => why.len(),
        DriftBody::Fetching | DriftBody::Same => 1,
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, v: &DriftView, theme: &Theme) {
    frame.render_widget(Clear, area);
    let title = strings::drift_title(&for_terminal(&v.path), &for_terminal(&v.staging), &for_terminal(&v.host));
    let title = format!(" {title} (Esc closes) ");
    // A refusal is a sentence, wrapped; a diff's lines are kept as they are, cut at the edge.
    let body = Paragraph::new(rows(v, theme)).block(pane(title, true, theme)).scroll((app.view_scroll, 0));
    let body = if matches!(v.body, DriftBody::Diff(_)) { body } else { body.wrap(Wrap { trim: false }) };
    frame.render_widget(body, area);
}
