//! Below 80x24: say so instead of drawing garbage. A drill stays marked, first.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::super::app::App;
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
    let lines = vec![
        Line::styled(strings::TOO_SMALL, theme.warn),
        Line::styled(format!("{} {}x{}.", strings::TOO_SMALL_NEED, full.width, full.height), theme.text),
        Line::styled(strings::TOO_SMALL_HINT, theme.muted),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}
