//! Drawing, from `&App` only: nothing here changes state or does I/O. One file per pane.

mod diff;
mod drift;
mod footer;
mod header;
mod help;
mod hosts;
mod modal;
mod output;
mod steps;
mod timeline;
mod too_small;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};

use super::app::{App, Popup};
use super::theme::Theme;

pub use hosts::{HostStatus, host_status};

/// The smallest terminal the cockpit draws in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Where each pane goes.
struct Areas {
    head: Rect,
    steps: Rect,
    hosts: Rect,
    diff: Rect,
    out: Rect,
    status: Rect,
    foot: Rect,
}

fn layout(area: Rect, steps: usize) -> Areas {
    let [head, body, out, status, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(8),
        Constraint::Percentage(35),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let (s, h, d) = if area.width >= 120 {
        let [s, h, d] =
            Layout::horizontal([Constraint::Length(30), Constraint::Length(34), Constraint::Min(40)]).areas(body);
        (s, h, d)
    } else {
        let [left, d] = Layout::horizontal([Constraint::Length(30), Constraint::Min(40)]).areas(body);
        let n_steps = steps.max(1) as u16 + 2;
        let [s, h] =
            Layout::vertical([Constraint::Length(n_steps.min(left.height / 2)), Constraint::Min(3)]).areas(left);
        (s, h, d)
    };
    Areas { head, steps: s, hosts: h, diff: d, out, status, foot }
}

/// Rows of hosts the hosts pane shows on a terminal of `size` (a page of the hosts list).
pub fn hosts_rows(size: (u16, u16), steps: usize) -> usize {
    usize::from(layout(Rect::new(0, 0, size.0, size.1), steps).hosts.height.saturating_sub(2))
}

/// Rows a full-screen view shows on a terminal of `size` (a page of it).
pub fn view_rows(size: (u16, u16)) -> u16 {
    let a = layout(Rect::new(0, 0, size.0, size.1), 0);
    body_and_out(a.steps.union(a.hosts).union(a.diff), a.out).height.saturating_sub(2)
}

pub use drift::len as drift_len;
pub use help::len as help_len;
pub use timeline::len as timeline_len;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small::draw(frame, area, app, theme);
        return;
    }
    let a = layout(area, app.info.steps.len());
    header::draw(frame, a.head, app, theme);
    steps::draw(frame, a.steps, app, theme);
    hosts::draw(frame, a.hosts, app, theme);
    diff::draw(frame, a.diff, app, theme);
    output::draw(frame, a.out, app, theme);
    footer::draw_status(frame, a.status, app, theme);
    footer::draw(frame, a.foot, app, theme);
    let full = body_and_out(a.steps.union(a.hosts).union(a.diff), a.out);
    for p in &app.popups {
        match p {
            Popup::Help => help::draw(frame, full, app, theme),
            Popup::Timeline => timeline::draw(frame, full, app, theme),
            Popup::FullDiff => diff::draw_full(frame, full, app, theme),
            Popup::DriftDiff(v) => drift::draw(frame, full, app, v, theme),
            Popup::Stop { stop, stage } => modal::draw_stop(frame, area, app, stop, stage, theme),
            Popup::Countdown { host, deadline } => modal::draw_countdown(frame, area, app, host, *deadline, theme),
            Popup::Confirm(pending) => modal::draw_confirm(frame, area, app, pending, theme),
            Popup::Count { request, hosts, typed } => {
                modal::draw_count(frame, area, app, request, *hosts, typed, theme)
            }
            Popup::Filter => {}
        }
    }
}

fn body_and_out(body: Rect, out: Rect) -> Rect {
    body.union(out)
}

/// A bordered pane with a title.
pub(crate) fn pane<'a>(title: impl Into<Line<'a>>, focus: bool, theme: &Theme) -> Block<'a> {
    Block::bordered()
        .border_type(BorderType::Plain)
        .border_style(if focus { theme.border_focus } else { theme.border })
        .title(title.into())
        .title_style(theme.title)
}

/// A key as shown in footers and modals.
pub(crate) fn key<'a>(k: &'a str, what: impl Into<String>, theme: &Theme) -> Vec<Span<'a>> {
    vec![Span::styled(k, theme.key), Span::raw(" "), Span::styled(what.into(), theme.text), Span::raw("  ")]
}

/// A rectangle of at most `w` x `h` centred in `area`.
pub(crate) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}
