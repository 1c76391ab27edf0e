//! Two lines: the app (DRILL for a drill), window, clock, operators; then time left,
//! "decide by", risk and the state.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::super::app::{App, Mode};
use super::super::strings;
use super::super::theme::Theme;

/// "Decide by" turns to a warning this long before it.
const WARN_SECS: i64 = 15 * 60;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let h = theme.header;
    // A drill says so where the app's name is: first, so no modal hides it, and no wider
    // than a real window's header, so nothing else is cut off.
    let badge = if app.drill {
        Span::styled(format!(" {} ", strings::DRILL), theme.danger.add_modifier(Modifier::REVERSED))
    } else {
        Span::styled(format!(" {} ", strings::APP), h)
    };
    let mut first = vec![
        badge,
        Span::styled(format!(" {} ", app.info.name), h),
        Span::styled(format!(" {} ", strings::clock(app.now)), h),
        Span::styled(format!(" {} ", strings::operators(&app.state.operators)), h),
    ];
    if app.mode == Mode::ReadOnly {
        first.push(Span::styled(" READ-ONLY ", theme.warn));
    }
    let now = app.now.as_second();
    let mut second = vec![Span::raw(" ")];
    if let Some(end) = app.info.ends {
        let left = end.as_second() - now;
        let st = if left < 0 { theme.danger } else { theme.text };
        second.push(Span::styled(strings::ends(end, left), st));
        second.push(Span::raw("  "));
    }
    if let Some(by) = app.info.decide_by {
        let left = by.as_second() - now;
        let st = if left < 0 {
            theme.danger
        } else if left < WARN_SECS {
            theme.warn
        } else {
            theme.text
        };
        let text = if (0..WARN_SECS).contains(&left) {
            format!("! {}", strings::decide_by(by, left))
        } else {
            strings::decide_by(by, left)
        };
        second.push(Span::styled(text, st));
        second.push(Span::raw("  "));
    }
    if let Some((risk, max)) = app.risk() {
        second.push(Span::styled(strings::risk(risk, max), if risk > max { theme.danger } else { theme.text }));
    }
    let lines = vec![Line::from(first).style(h), Line::from(second)];
    frame.render_widget(Paragraph::new(lines), area);
}
