//! Modals: the hard stop (what diverged, on which host, against what was tested; the
//! choices, rollback first), the auto-rollback countdown, and yes/no confirmations.

use jiff::Timestamp;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::super::app::{App, Pending, StopStage, override_word};
use super::super::keymap::choice_key;
use super::super::strings;
use super::super::theme::Theme;
use super::diff::finding_line;
use super::{centered, key};
use crate::engine::event::StopKind;
use crate::engine::state::OpenStop;

/// Rows the lines take when wrapped at `width` (word wrapping may need one more per line).
fn rows(lines: &[Line], width: u16) -> u16 {
    let w = width.max(1) as usize;
    lines
        .iter()
        .map(|l| {
            let n = l.width();
            if n <= w { 1 } else { n.div_ceil(w) + 1 }
        })
        .sum::<usize>()
        .min(u16::MAX as usize) as u16
}

fn boxed<'a>(title: String, theme: &Theme) -> Block<'a> {
    Block::bordered().border_style(theme.modal_border).title(Span::styled(title, theme.danger))
}

pub fn draw_stop(frame: &mut Frame, area: Rect, app: &App, stop: &OpenStop, stage: &StopStage, theme: &Theme) {
    let host = stop.host.as_deref();
    let w = area.width.saturating_sub(4).min(96);
    let mut lines: Vec<Line> = vec![
        Line::styled(stop.stop.headline(), theme.danger),
        Line::styled(strings::STOP_WAITING, theme.muted),
        Line::raw(""),
    ];
    for l in strings::stop_body(&stop.stop, app.info.ends, app.now) {
        lines.push(Line::styled(l, theme.text));
    }
    if let StopKind::Divergence { findings } = &stop.stop {
        for f in findings.iter().take(8) {
            lines.push(finding_line(f, theme));
        }
        if findings.len() > 8 {
            lines.push(Line::styled(format!("... {} more: d for the full diff", findings.len() - 8), theme.muted));
        }
    }
    lines.push(Line::raw(""));
    let word = override_word(stop);
    match stage {
        StopStage::Choose => {
            let mut row: Vec<Span> = Vec::new();
            let mut width = 0;
            for c in app.stop_choices(stop) {
                let text = strings::choice(c, host, &word);
                let k = choice_key(c).0;
                let cw = k.chars().count() + text.chars().count() + 3;
                if width + cw > w.saturating_sub(3) as usize && !row.is_empty() {
                    lines.push(Line::from(std::mem::take(&mut row)));
                    width = 0;
                }
                row.extend(key(k, text, theme));
                width += cw;
            }
            lines.push(Line::from(row));
        }
        StopStage::Confirm(d) => {
            lines.push(Line::styled(strings::confirm_decision(d, host), theme.warn));
            let mut row: Vec<Span> = key("y", "yes", theme).into_iter().chain(key("n", "no, back", theme)).collect();
            if let Some(k) = app.rollback_key() {
                row.extend(key("R", strings::rollback_key(&k, true), theme));
            }
            lines.push(Line::from(row));
        }
        StopStage::Reason { choice: c, text: reason } => {
            lines.push(Line::styled(strings::reason_prompt(*c), theme.warn));
            lines.push(Line::from(vec![Span::raw("> "), Span::styled(format!("{reason}_"), theme.input)]));
        }
        StopStage::Typed { reason, typed, .. } => {
            lines.push(Line::styled(format!("reason: {reason}"), theme.text));
            lines.push(Line::styled(strings::override_host_prompt(&word), theme.warn));
            lines.push(Line::from(vec![Span::raw("> "), Span::styled(format!("{typed}_"), theme.input)]));
        }
    }
    let title = format!(" {} {} ", strings::HARD_STOP, host.unwrap_or("window"));
    let h = (rows(&lines, w.saturating_sub(2)) + 2).min(area.height.saturating_sub(2));
    let r = centered(area, w, h);
    frame.render_widget(Clear, r);
    frame.render_widget(Paragraph::new(lines).block(boxed(title, theme)).wrap(Wrap { trim: false }), r);
}

pub fn draw_countdown(frame: &mut Frame, area: Rect, app: &App, host: &str, deadline: Timestamp, theme: &Theme) {
    let left = (deadline.as_second() - app.now.as_second()).max(0);
    let failing: Vec<Line> = app
        .events
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            crate::engine::event::Event::Checks { host: h, results, .. } if h == host => Some(
                results
                    .iter()
                    .filter(|r| !r.ok)
                    .map(|r| {
                        Line::styled(
                            format!(
                                "x {}: {}",
                                crate::safe_text::for_terminal(&r.check),
                                crate::safe_text::for_terminal(&r.detail)
                            ),
                            theme.text,
                        )
                    })
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_default();
    let mut lines = vec![Line::styled(strings::countdown(host, left), theme.danger), Line::raw("")];
    lines.extend(failing);
    lines.push(Line::raw(""));
    lines.push(Line::from(
        key("c", "cancel (then decide)", theme).into_iter().chain(key("R", "roll back now", theme)).collect::<Vec<_>>(),
    ));
    let w = area.width.saturating_sub(4).min(80);
    let r = centered(area, w, rows(&lines, w.saturating_sub(2)) + 2);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .block(boxed(format!(" {} {host} ", strings::COUNTDOWN_TITLE), theme))
            .wrap(Wrap { trim: false }),
        r,
    );
}

pub fn draw_confirm(frame: &mut Frame, area: Rect, app: &App, pending: &Pending, theme: &Theme) {
    let (title, q) = match pending {
        Pending::Request(r) => (strings::request_label(r), strings::confirm_request(r)),
        Pending::Quit => ("quit".to_string(), strings::confirm_quit(&app.running())),
    };
    let mut row: Vec<Span> = key("y", "yes", theme).into_iter().chain(key("n", "no", theme)).collect();
    if let Some(k) = app.rollback_key() {
        row.extend(key("R", strings::rollback_key(&k, true), theme));
    }
    let lines = vec![Line::styled(q, theme.warn), Line::raw(""), Line::from(row)];
    let w = area.width.saturating_sub(8).min(70);
    let r = centered(area, w, rows(&lines, w.saturating_sub(2)) + 2);
    frame.render_widget(Clear, r);
    frame.render_widget(Paragraph::new(lines).block(boxed(format!(" {title}? "), theme)).wrap(Wrap { trim: false }), r);
}
