//! What ran on the selected host: each command, how long, how it ended, and its output as
//! it arrives. Follows the newest line unless the operator scrolled up. Only the rows on
//! screen are built, so a host holding thousands of lines costs no more to draw than one.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::super::app::{App, CommandRun, Mode};
use super::super::strings;
use super::super::theme::Theme;
use super::super::transcript::{Row, Streamed, rows};
use super::pane;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(host) = app.selected_host() else {
        frame.render_widget(Paragraph::new("").block(pane(" Output ", false, theme)), area);
        return;
    };
    let runs = app.runs.get(&host).map_or(&[][..], Vec::as_slice);
    let all = rows(runs, app.output.get(&host));
    let inner = area.height.saturating_sub(2) as usize;
    let bottom = all.len().saturating_sub(inner);
    let top = bottom.saturating_sub(app.scroll as usize);
    let mut lines: Vec<Line> = all[top..].iter().take(inner).map(|r| row(r, &host, app, theme)).collect();
    if all.is_empty() {
        lines.push(Line::styled(strings::NO_OUTPUT, theme.muted));
    }
    let mut title = format!(" {} ", strings::output_title(&host));
    if app.mode == Mode::ReadOnly {
        title.push_str(&format!("({}) ", strings::WATCH_OUTPUT_NOTE));
    }
    if top < bottom {
        title.push_str(&format!("({}) ", strings::scrolled_up(bottom - top)));
    }
    frame.render_widget(Paragraph::new(lines).block(pane(title, false, theme)), area);
}

fn row<'a>(r: &Row<'a>, host: &str, app: &App, theme: &Theme) -> Line<'a> {
    match r {
        Row::Evicted(n) => Line::styled(strings::lines_not_kept(*n), theme.muted),
        Row::Header(run) => header(run, app, theme),
        Row::Command(run) => {
            Line::from(vec![Span::styled(format!("{host} $ "), theme.muted), Span::raw(run.command.clone())])
        }
        Row::Streamed(Streamed::Line { text, stderr, cut }) => {
            let style = if *stderr { theme.warn } else { theme.text };
            let cut = if *cut { strings::LINE_CUT } else { "" };
            Line::from(vec![Span::raw("  "), Span::styled(cut, theme.muted), Span::styled(text.clone(), style)])
        }
        Row::Streamed(Streamed::Dropped(n)) => Line::styled(format!("  {}", strings::lines_dropped(*n)), theme.warn),
        Row::Note(l) => Line::styled(format!("  {l}"), theme.text),
    }
}

/// "step N name: state", the state coloured by how it went.
fn header<'a>(r: &CommandRun, app: &App, theme: &Theme) -> Line<'a> {
    let verb = if r.rollback { "rollback" } else { "step" };
    let (state, st) = match &r.finished {
        None if r.interrupted => (strings::INTERRUPTED.to_string(), theme.danger),
        None => {
            let secs = (app.now.as_second() - r.started.as_second()).max(0) as u64;
            (format!("running {}", strings::elapsed(secs)), theme.running)
        }
        Some((o, ms)) => (strings::outcome(o, *ms), if o.is_ok() { theme.ok } else { theme.danger }),
    };
    Line::from(vec![Span::styled(format!("{verb} {} {}: ", r.step + 1, r.name), theme.title), Span::styled(state, st)])
}
