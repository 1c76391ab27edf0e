//! The hosts of the wave shown and where each stands, in the engine's words
//! ([`HostState::standing`](crate::engine::state::HostState::standing)), over which what is
//! happening now (a step running, a stop, a countdown) is shown. Every wave is reachable with
//! `[` / `]`; the title says which is shown, and a filter says it is on.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{BorderType, Paragraph};

use super::super::app::{App, List};
use super::super::strings;
use super::super::theme::Theme;
use super::pane;
use crate::engine::state::{RollbackCheck, Standing};

/// Where a host stands, as the screen says it: what happens on it now, else its standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostStatus {
    Running(usize),
    RollingBack(usize),
    Countdown,
    HardStop,
    /// A step was cut off from patchdeck while it ran (a crash, a lost link): whether it
    /// ran is unknown.
    OutcomeUnknown(usize),
    /// Nothing is happening on it: where it stands.
    Standing(Standing),
}

pub fn host_status(app: &App, host: &str) -> HostStatus {
    let Some(h) = app.state.host(host) else { return HostStatus::Standing(Standing::NotStarted) };
    if app.state.open_stops.iter().any(|s| s.host.as_deref() == Some(host)) {
        return HostStatus::HardStop;
    }
    if h.auto_rollback_armed {
        return HostStatus::Countdown;
    }
    if let Some(s) = h.rolling_back {
        return HostStatus::RollingBack(s);
    }
    if let Some(s) = h.in_flight {
        return if app.step_interrupted(host, s) { HostStatus::OutcomeUnknown(s) } else { HostStatus::Running(s) };
    }
    HostStatus::Standing(h.standing())
}

/// Symbol, words (the long ones when they fit in `width` columns, else the short ones, at
/// most 13) and style: never colour alone.
pub fn describe(status: &HostStatus, steps: usize, width: usize, theme: &Theme) -> (char, String, Style) {
    let (sym, long, short, st) = words(status, steps, theme);
    let text = if long.chars().count() <= width { long } else { short };
    (sym, text, st)
}

fn words(status: &HostStatus, steps: usize, theme: &Theme) -> (char, String, String, Style) {
    let same = |sym, w: &str, st| (sym, w.to_string(), w.to_string(), st);
    match *status {
        HostStatus::Running(s) => {
            ('>', format!("running step {}/{steps}", s + 1), format!("step {}/{steps}", s + 1), theme.running)
        }
        HostStatus::RollingBack(s) => {
            ('<', format!("rolling back step {}", s + 1), format!("undoing {}", s + 1), theme.warn)
        }
        HostStatus::Countdown => same('!', "AUTO-ROLLBACK", theme.danger),
        HostStatus::HardStop => same('!', strings::HARD_STOP, theme.danger),
        HostStatus::OutcomeUnknown(s) => {
            ('?', format!("step {} outcome UNKNOWN", s + 1), format!("{} UNKNOWN", s + 1), theme.danger)
        }
        HostStatus::Standing(st) => {
            let long = crate::narrate::standing(st);
            match st {
                Standing::NotStarted => ('.', long.clone(), long, theme.muted),
                Standing::Underway { done } => {
                    ('>', format!("{done}/{steps} steps done"), format!("{done}/{steps} done"), theme.running)
                }
                Standing::Done => ('v', long.clone(), long, theme.ok),
                Standing::DoneOverride => ('v', long, "done override".into(), theme.warn),
                Standing::Failed => ('x', long.clone(), long, theme.danger),
                Standing::Skipped => ('-', long.clone(), long, theme.muted),
                Standing::Stopped { done } => {
                    ('!', format!("stopped, {done}/{steps} not undone"), format!("stopped {done}/{steps}"), theme.warn)
                }
                Standing::RolledBack(RollbackCheck::Verified) => ('<', long, "RB verified".into(), theme.ok),
                Standing::RolledBack(RollbackCheck::Unverified) => ('<', long, "RB UNVERIFIED".into(), theme.danger),
                Standing::RolledBack(RollbackCheck::Unchecked) => ('<', long, "RB UNCHECKED".into(), theme.danger),
                Standing::RolledBack(RollbackCheck::StillUnhealthy) => ('<', long, "RB UNHEALTHY".into(), theme.danger),
            }
        }
    }
}

/// The pane's title: which wave of how many, where it stands, and how to see the others.
fn title(app: &App) -> String {
    let Some((i, (name, _))) = app.shown_wave() else { return " Hosts ".into() };
    let where_ = if app.state.waves_finished.contains(name) {
        strings::WAVE_DONE
    } else if app.state.waves_started.contains(name) {
        strings::WAVE_NOW
    } else {
        strings::WAVE_LATER
    };
    let more = if app.info.waves.len() > 1 { " [ ]" } else { "" };
    format!(" {} {where_}{more} ", strings::wave_title(i + 1, app.info.waves.len(), name))
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let selected = app.selected_host();
    let hosts = app.visible_hosts();
    let steps = app.info.steps.len();
    let inner = usize::from(area.width.saturating_sub(2));
    // Names as wide as the widest shown (4 to 12 columns), so the words have the rest.
    let name_w = hosts.iter().map(|h| h.chars().count()).max().unwrap_or(4).clamp(4, 12);
    let words_w = inner.saturating_sub(3 + name_w + 1);
    let lines: Vec<Line> = hosts
        .iter()
        .map(|h| {
            let (sym, words, st) = describe(&host_status(app, h), steps, words_w, theme);
            let mark = if selected.as_deref() == Some(h) { "▶" } else { " " };
            let line = Line::from(vec![
                Span::raw(mark),
                Span::styled(format!("{sym} "), st),
                Span::styled(format!("{h:<name_w$} "), theme.text),
                Span::styled(words, st),
            ]);
            if selected.as_deref() == Some(h) { line.style(theme.selected) } else { line }
        })
        .collect();
    let lines = if lines.is_empty() && !app.filter.is_empty() {
        vec![Line::styled(strings::NO_HOST_MATCHES, theme.muted)]
    } else {
        lines
    };
    // Keep the selected host in view when the wave is taller than the pane.
    let rows = area.height.saturating_sub(2) as usize;
    let at = selected.as_ref().and_then(|s| hosts.iter().position(|h| h == s)).unwrap_or(0);
    let top = (at + 1).saturating_sub(rows.max(1));
    let mut block = pane(title(app), true, theme);
    // PgUp/PgDn/Home/End move this list (Tab): its border says so, not its colour alone.
    if app.list == List::Hosts {
        block = block.border_type(BorderType::Double);
    }
    if !app.filter.is_empty() {
        block = block.title_bottom(Line::styled(format!(" {} ", strings::filter_badge(&app.filter)), theme.warn));
    }
    frame.render_widget(Paragraph::new(lines).block(block).scroll((top as u16, 0)), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_fits_the_narrow_pane_and_no_two_states_share_words() {
        let theme = Theme::builtin("dark").expect("the dark theme is built in");
        let checks = [RollbackCheck::Verified, RollbackCheck::Unverified, RollbackCheck::StillUnhealthy];
        let mut all = vec![
            HostStatus::Running(3),
            HostStatus::RollingBack(3),
            HostStatus::Countdown,
            HostStatus::HardStop,
            HostStatus::OutcomeUnknown(3),
        ];
        all.extend(
            [
                Standing::NotStarted,
                Standing::Underway { done: 2 },
                Standing::Done,
                Standing::DoneOverride,
                Standing::Failed,
                Standing::Skipped,
                Standing::Stopped { done: 2 },
            ]
            .into_iter()
            .chain(checks.map(Standing::RolledBack))
            .map(HostStatus::Standing),
        );
        // 80 columns: 28 inside the pane, less the mark, symbol and a 12-column name.
        let narrow: Vec<String> = all.iter().map(|s| describe(s, 4, 13, &theme).1).collect();
        for (s, words) in all.iter().zip(&narrow) {
            assert!(words.chars().count() <= 13, "{s:?}: {words}");
        }
        let wide: Vec<String> = all.iter().map(|s| describe(s, 4, usize::MAX, &theme).1).collect();
        for words in [&narrow, &wide] {
            let mut unique = words.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), all.len(), "two states read the same: {words:?}");
        }
        assert_eq!(wide[all.len() - 3], "rolled back, verified");
        assert_eq!(narrow[all.len() - 3], "RB verified");
    }
}
