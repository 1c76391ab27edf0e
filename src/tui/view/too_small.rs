//! Below 80x24: say so instead of drawing garbage.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::super::strings;
use super::super::theme::Theme;

pub fn draw(frame: &mut Frame, area: Rect, theme: &Theme) {
    let lines = vec![
        Line::styled(strings::TOO_SMALL, theme.warn),
        Line::styled(format!("{} {}x{}.", strings::TOO_SMALL_NEED, area.width, area.height), theme.text),
        Line::styled(strings::TOO_SMALL_HINT, theme.muted),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}
