//! The runbook's steps, with their state on the selected host.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::super::app::App;
use super::super::strings;
use super::super::theme::Theme;
use super::pane;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let host = app.selected_host();
    let hs = host.as_deref().and_then(|h| app.state.host(h));
    let title = match &host {
        Some(h) => format!(" {} on {h} ", strings::STEPS),
        None => format!(" {} ", strings::STEPS),
    };
    let lines: Vec<Line> = app
        .info
        .steps
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (sym, st) = match hs {
                Some(h) if h.rolling_back == Some(i) => ('<', theme.warn),
                Some(h) if h.in_flight == Some(i) && host.as_deref().is_some_and(|n| app.step_interrupted(n, i)) => {
                    ('?', theme.danger)
                }
                Some(h) if h.in_flight == Some(i) => ('>', theme.running),
                Some(h) if h.failed_step == Some(i) && !h.done.contains(&i) => ('x', theme.danger),
                Some(h) if h.done.contains(&i) => ('v', theme.ok),
                _ => ('.', theme.muted),
            };
            Line::from(vec![Span::styled(format!("{sym} {} ", i + 1), st), Span::styled(name.clone(), theme.text)])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(pane(title, false, theme)), area);
}
