//! What ran on the selected host: each command, how long, how it ended, and its output.
//! Output arrives with the outcome today; a streaming transport would append to
//! `CommandRun::lines` while the command runs and this pane would show it unchanged.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::super::app::App;
use super::super::strings;
use super::super::theme::Theme;
use super::pane;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(host) = app.selected_host() else {
        frame.render_widget(Paragraph::new("").block(pane(" Output ", false, theme)), area);
        return;
    };
    let mut lines: Vec<Line> = Vec::new();
    for r in app.runs.get(&host).into_iter().flatten() {
        let verb = if r.rollback { "rollback" } else { "step" };
        let (state, st) = match &r.finished {
            None if r.interrupted => (strings::INTERRUPTED.to_string(), theme.danger),
            None => {
                let secs = (app.now.as_second() - r.started.as_second()).max(0) as u64;
                (format!("running {}", strings::elapsed(secs)), theme.running)
            }
            Some((o, ms)) => (strings::outcome(o, *ms), if o.is_ok() { theme.ok } else { theme.danger }),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{verb} {} {}: ", r.step + 1, r.name), theme.title),
            Span::styled(state, st),
        ]));
        lines.push(Line::from(vec![Span::styled(format!("{host} $ "), theme.muted), Span::raw(r.command.clone())]));
        for l in &r.lines {
            lines.push(Line::styled(format!("  {l}"), theme.text));
        }
    }
    if lines.is_empty() {
        lines.push(Line::styled(strings::NO_OUTPUT, theme.muted));
    }
    let inner = area.height.saturating_sub(2) as usize;
    let bottom = lines.len().saturating_sub(inner);
    let top = bottom.saturating_sub(app.scroll as usize);
    let mut title = format!(" {} ", strings::output_title(&host));
    if top < bottom {
        title.push_str(&format!("(scrolled up {} lines) ", bottom - top));
    }
    frame.render_widget(Paragraph::new(lines).block(pane(title, false, theme)).scroll((top as u16, 0)), area);
}
