//! The hosts of the current wave and where each stands.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::super::app::{App, Popup};
use super::super::strings;
use super::super::theme::Theme;
use super::pane;
use crate::engine::event::HostResult;
use crate::engine::state::RollbackCheck;

/// Where a host stands, as the screen says it. Each state has its own words: a host is
/// never shown "skipped" when it was rolled back, nor "done" when an override carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostStatus {
    /// Nothing ran on it yet.
    Waiting,
    Running(usize),
    RollingBack(usize),
    Countdown,
    HardStop,
    Progress(usize),
    /// A step was running when patchdeck stopped: whether it ran is unknown.
    OutcomeUnknown(usize),
    Finished(HostResult),
    /// Done, after an override.
    DoneOverride,
    RolledBack(RollbackCheck),
    /// The window ended with this many of its steps done and not undone.
    Stopped(usize),
}

pub fn host_status(app: &App, host: &str) -> HostStatus {
    let Some(h) = app.state.host(host) else { return HostStatus::Waiting };
    if let Some(r) = h.result {
        return match r {
            HostResult::Done if h.overridden => HostStatus::DoneOverride,
            HostResult::RolledBack => HostStatus::RolledBack(h.rollback.unwrap_or(RollbackCheck::Unverified)),
            HostResult::Stopped => HostStatus::Stopped(h.done.len()),
            r => HostStatus::Finished(r),
        };
    }
    if app.state.open_stops.iter().any(|s| s.host.as_deref() == Some(host)) {
        return HostStatus::HardStop;
    }
    if app.popups.iter().any(|p| matches!(p, Popup::Countdown { host: c, .. } if c == host)) {
        return HostStatus::Countdown;
    }
    if let Some(s) = h.rolling_back {
        return HostStatus::RollingBack(s);
    }
    if let Some(s) = h.in_flight {
        return if app.step_interrupted(host, s) { HostStatus::OutcomeUnknown(s) } else { HostStatus::Running(s) };
    }
    if !h.done.is_empty() {
        return HostStatus::Progress(h.done.len());
    }
    HostStatus::Waiting
}

/// Symbol, words and style: never colour alone.
pub fn describe(status: &HostStatus, steps: usize, theme: &Theme) -> (char, String, Style) {
    match status {
        HostStatus::Waiting => ('.', "waiting".into(), theme.muted),
        HostStatus::Running(s) => ('>', format!("step {}/{steps}", s + 1), theme.running),
        HostStatus::RollingBack(s) => ('<', format!("rolling back {}", s + 1), theme.warn),
        HostStatus::Countdown => ('!', "AUTO-ROLLBACK".into(), theme.danger),
        HostStatus::HardStop => ('!', strings::HARD_STOP.into(), theme.danger),
        HostStatus::Progress(n) => ('>', format!("{n}/{steps} done"), theme.running),
        HostStatus::OutcomeUnknown(s) => ('?', format!("{} UNKNOWN", s + 1), theme.danger),
        // The pane is narrow: each state's words fit in 13 columns.
        HostStatus::Finished(HostResult::Done) => ('v', "done".into(), theme.ok),
        HostStatus::DoneOverride => ('v', "done override".into(), theme.warn),
        HostStatus::Finished(HostResult::RolledBack) | HostStatus::RolledBack(RollbackCheck::Verified) => {
            ('<', "rolled back".into(), theme.warn)
        }
        HostStatus::RolledBack(RollbackCheck::Unverified) => ('<', "RB UNVERIFIED".into(), theme.danger),
        HostStatus::RolledBack(RollbackCheck::StillUnhealthy) => ('<', "RB UNHEALTHY".into(), theme.danger),
        HostStatus::Finished(HostResult::Skipped) => ('-', "skipped".into(), theme.muted),
        HostStatus::Finished(HostResult::Failed) => ('x', "FAILED".into(), theme.danger),
        HostStatus::Finished(HostResult::NotStarted) => ('.', "not started".into(), theme.muted),
        HostStatus::Finished(HostResult::Stopped) | HostStatus::Stopped(_) => {
            let n = if let HostStatus::Stopped(n) = status { *n } else { 0 };
            ('!', format!("stopped {n}/{steps}"), theme.warn)
        }
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let title = match app.current_wave() {
        Some((i, (name, _))) => format!(" {} ", strings::wave_title(i + 1, app.info.waves.len(), name)),
        None => " Hosts ".into(),
    };
    let selected = app.selected_host();
    let hosts = app.visible_hosts();
    let steps = app.info.steps.len();
    let lines: Vec<Line> = hosts
        .iter()
        .map(|h| {
            let (sym, words, st) = describe(&host_status(app, h), steps, theme);
            let mark = if selected.as_deref() == Some(h) { "▶" } else { " " };
            let line = Line::from(vec![
                Span::raw(mark),
                Span::styled(format!("{sym} "), st),
                Span::styled(format!("{h:<9} "), theme.text),
                Span::styled(words, st),
            ]);
            if selected.as_deref() == Some(h) { line.style(theme.selected) } else { line }
        })
        .collect();
    // Keep the selected host in view when the wave is taller than the pane.
    let inner = area.height.saturating_sub(2) as usize;
    let at = selected.as_ref().and_then(|s| hosts.iter().position(|h| h == s)).unwrap_or(0);
    let top = (at + 1).saturating_sub(inner.max(1));
    frame.render_widget(Paragraph::new(lines).block(pane(title, true, theme)).scroll((top as u16, 0)), area);
}
