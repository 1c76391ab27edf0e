//! Below 80x24: say so instead of drawing garbage. A drill stays marked, first.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::super::app::{App, Modal, Mode};
use super::super::strings;
use super::super::theme::Theme;

pub fn draw(frame: &mut Frame, full: Rect, app: &App, theme: &Theme) {
    let mut area = full;
    if app.drill && area.height > 1 {
        // As in the header: the same badge, first, so even this screen cannot be taken for
        // a real window. A row of its own, never wrapped.
        let badge = Line::styled(format!(" {} ", strings::DRILL), theme.danger.add_modifier(Modifier::REVERSED));
        frame.render_widget(Paragraph::new(badge), Rect { height: 1, ..area });
        area = Rect { y: area.y + 1, height: area.height - 1, ..area };
    }
    let mut lines = vec![
        Line::styled(strings::TOO_SMALL, theme.warn),
        Line::styled(format!("{} {}x{}.", strings::TOO_SMALL_NEED, full.width, full.height), theme.text),
    ];
    // Whatever waits for the operators is said, so nobody types blind at it.
    if let Some(waiting) = waiting(app) {
        lines.push(Line::styled(waiting, theme.danger));
    }
    lines.push(Line::styled(strings::TOO_SMALL_HINT, theme.muted));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}

/// What waits for the operators, in one line: a decision, a countdown, a question.
fn waiting(app: &App) -> Option<String> {
    if app.mode == Mode::ReadOnly {
        return app.state.open_stops.last().map(|s| strings::stop_banner(s.host.as_deref(), &s.stop));
    }
    let journal_stop = || app.state.open_stops.last().map(|s| strings::decision_waiting(s.host.as_deref(), &s.stop));
    match app.top_modal() {
        Some(Modal::Stop(_)) => {
            let stop = app.open_stop()?;
            Some(strings::decision_waiting(stop.host.as_deref(), &stop.stop))
        }
        Some(Modal::Countdown(host)) => Some(strings::countdown_waiting(&host)),
        Some(Modal::Question(_) | Modal::Count(_)) => Some(strings::QUESTION_WAITING.into()),
        // Journaled, and about to be asked.
        None => journal_stop(),
    }
}
