//! Modals: the hard stop (what diverged, on which host, against what was tested; the
//! choices, rollback first), the go/no-go between waves, the wait for the window's start,
//! the auto-rollback countdown, questions (a request's yes/no, leaving, a typed count).
//! With two operators or more each question shows who answers; a modal that just opened
//! says its keys wait a moment.

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
use super::hosts::{describe, host_status};
use super::{centered, key};
use crate::engine::event::{Request, StopKind};
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

/// Draws `lines` in a box `w` wide at most, centred, as tall as they need.
fn show(frame: &mut Frame, area: Rect, w: u16, title: String, lines: Vec<Line>, theme: &Theme) {
    let w = w.min(area.width);
    let h = (rows(&lines, w.saturating_sub(2)) + 2).min(area.height.saturating_sub(2));
    let r = centered(area, w, h);
    frame.render_widget(Clear, r);
    frame.render_widget(Paragraph::new(lines).block(boxed(title, theme)).wrap(Wrap { trim: false }), r);
}

/// The last rows of every question: who answers (two operators or more), and whether its
/// keys are held because it just opened.
fn answering<'a>(app: &App, lines: &mut Vec<Line<'a>>, theme: &Theme) {
    let ops = app.operators();
    if ops.len() > 1 {
        let mut row = vec![Span::styled(format!("{} ", strings::BY), theme.muted)];
        for (i, name) in ops.iter().enumerate() {
            let label = (i + 1).to_string();
            let shown = if i == app.by { format!("[{name}]") } else { name.clone() };
            let st = if i == app.by { theme.selected } else { theme.text };
            row.push(Span::styled(label, theme.key));
            row.push(Span::raw(" "));
            row.push(Span::styled(shown, st));
            row.push(Span::raw("  "));
        }
        row.push(Span::styled(strings::TAB_NEXT, theme.muted));
        lines.push(Line::from(row));
    }
    if app.holding().is_some() {
        lines.push(Line::styled(strings::HELD_NOTE, theme.muted));
    }
}

/// The modal's title for a stop: what kind of halt it is, and about what.
fn stop_title(stop: &OpenStop) -> String {
    match &stop.stop {
        StopKind::Gate { wave } => format!(" {} {wave} ", strings::GATE_TITLE),
        StopKind::BeforeStart { .. } => format!(" {} ", strings::BEFORE_START_TITLE),
        _ => format!(" {} {} ", strings::HARD_STOP, stop.host.as_deref().unwrap_or("window")),
    }
}

pub fn draw_stop(frame: &mut Frame, area: Rect, app: &App, stop: &OpenStop, stage: &StopStage, theme: &Theme) {
    let host = stop.host.as_deref();
    let w = area.width.saturating_sub(4).min(96);
    let mut lines: Vec<Line> = vec![Line::styled(stop.stop.headline(), theme.danger)];
    if !matches!(stop.stop, StopKind::BeforeStart { .. }) {
        lines.push(Line::styled(strings::STOP_WAITING, theme.muted));
    }
    lines.push(Line::raw(""));
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
    if let StopKind::Gate { wave } = &stop.stop {
        gate_hosts(app, wave, &mut lines, theme);
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
        StopStage::Count { hosts, typed, .. } => {
            lines.push(Line::styled(strings::count_prompt(&Request::RollbackAll, *hosts), theme.warn));
            lines.push(Line::from(vec![Span::raw("> "), Span::styled(format!("{typed}_"), theme.input)]));
        }
    }
    answering(app, &mut lines, theme);
    show(frame, area, w, stop_title(stop), lines, theme);
}

/// At a go/no-go: the hosts of the wave that just finished, each where it stands.
fn gate_hosts(app: &App, wave: &str, lines: &mut Vec<Line>, theme: &Theme) {
    let Some(i) = app.info.waves.iter().position(|(w, _)| w == wave) else { return };
    let Some((prev, hosts)) = i.checked_sub(1).and_then(|p| app.info.waves.get(p)) else { return };
    lines.push(Line::styled(strings::gate_previous(prev), theme.text));
    for h in hosts {
        let (sym, words, st) = describe(&host_status(app, h), app.info.steps.len(), usize::MAX, theme);
        lines.push(Line::from(vec![
            Span::styled(format!("  {sym} "), st),
            Span::styled(format!("{h:<12} "), theme.text),
            Span::styled(words, st),
        ]));
    }
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
    answering(app, &mut lines, theme);
    let w = area.width.saturating_sub(4).min(80);
    show(frame, area, w, format!(" {} {host} ", strings::COUNTDOWN_TITLE), lines, theme);
}

pub fn draw_confirm(frame: &mut Frame, area: Rect, app: &App, pending: &Pending, theme: &Theme) {
    let (title, mut lines) = match pending {
        Pending::Request(r) => {
            let mut row: Vec<Span> = key("y", "yes", theme).into_iter().chain(key("n", "no", theme)).collect();
            if let Some(k) = app.rollback_key() {
                row.extend(key("R", strings::rollback_key(&k, true), theme));
            }
            let lines = vec![Line::styled(strings::confirm_request(r), theme.warn), Line::raw(""), Line::from(row)];
            (format!(" {}? ", strings::request_label(r)), lines)
        }
        Pending::Quit => (format!(" {} ", strings::LEAVE_TITLE), leave_lines(app, theme)),
    };
    answering(app, &mut lines, theme);
    show(frame, area, area.width.saturating_sub(8).min(76), title, lines, theme);
}

/// The leave question: what is running, whether a stop stays open, and one key each way.
fn leave_lines<'a>(app: &App, theme: &Theme) -> Vec<Line<'a>> {
    let mut lines = vec![Line::styled(strings::leave_question(&app.running()), theme.warn)];
    if let Some(stop) = app.open_stop() {
        lines.push(Line::styled(strings::leave_stop_stays(stop.host.as_deref()), theme.text));
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(key("p", strings::LEAVE_PAUSED, theme)));
    lines.push(Line::from(key("a", strings::LEAVE_ABORTED, theme)));
    let mut row = key("n", "back", theme);
    if let Some(k) = app.rollback_key() {
        row.extend(key("R", strings::rollback_key(&k, true), theme));
    }
    lines.push(Line::from(row));
    lines
}

/// A wave's or the window's rollback: type how many hosts it rolls back.
pub fn draw_count(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    request: &Request,
    hosts: usize,
    typed: &str,
    theme: &Theme,
) {
    let mut lines = vec![
        Line::styled(strings::confirm_request(request), theme.warn),
        Line::raw(""),
        Line::styled(strings::count_prompt(request, hosts), theme.warn),
        Line::from(vec![Span::raw("> "), Span::styled(format!("{typed}_"), theme.input)]),
    ];
    answering(app, &mut lines, theme);
    let title = format!(" {}? ", strings::request_label(request));
    show(frame, area, area.width.saturating_sub(8).min(76), title, lines, theme);
}
