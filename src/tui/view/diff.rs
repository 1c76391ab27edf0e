//! The selected host against the tested baseline: one line per finding, divergences first,
//! each with its class symbol and label (never colour alone).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::super::app::App;
use super::super::strings;
use super::super::theme::Theme;
use super::pane;
use crate::diff::{Class, Finding};
use crate::runbook::OnDivergence;
use crate::safe_text::for_terminal;

fn style(f: &Finding, theme: &Theme) -> Style {
    match f.verdict {
        Some(OnDivergence::Stop) => theme.danger,
        Some(OnDivergence::Warn) => theme.warn,
        None if f.class == Class::Tested => theme.ok,
        None => theme.muted,
    }
}

/// "from -> to" on this host, and what was tested when it differs.
pub fn versions(f: &Finding) -> String {
    let here = f.here.as_deref().map(for_terminal).unwrap_or_default();
    let Some(tested) = f.tested.as_deref().map(for_terminal) else { return here };
    if matches!(f.class, Class::Tested | Class::AlreadyTested) || tested == here {
        return here;
    }
    match (here.split_once(" -> "), tested.split_once(" -> ")) {
        (Some((hf, ht)), Some((tf, tt))) if hf == tf => format!("{hf} -> {ht}, tested {tt}"),
        _ if here.is_empty() => format!("tested {tested}"),
        _ => format!("{here}, tested {tested}"),
    }
}

/// One line: symbol, subject, class label, then the versions. The label comes before the
/// versions so a narrow pane never cuts it off.
pub fn finding_line<'a>(f: &Finding, theme: &Theme) -> Line<'a> {
    let st = style(f, theme);
    Line::from(vec![
        Span::styled(format!("{} ", f.class.symbol()), st),
        Span::styled(format!("{:<12} ", for_terminal(&f.subject)), theme.text),
        Span::styled(format!("{} ", f.class.label()), st),
        Span::styled(versions(f), theme.muted),
    ])
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(host) = app.selected_host() else {
        let why = if app.filter.is_empty() { strings::NO_HOST } else { strings::NO_MATCH };
        frame.render_widget(Paragraph::new(why).wrap(Wrap { trim: true }).block(pane(" Diff ", false, theme)), area);
        return;
    };
    let rechecked = app.findings.get(&host).is_some_and(|(r, _)| *r);
    let title = format!(" {} ", strings::diff_title(&host, rechecked));
    let lines: Vec<Line> = app.diff_lines(&host).into_iter().map(|f| finding_line(f, theme)).collect();
    let lines = if lines.is_empty() { vec![Line::styled(strings::NO_DIFF, theme.muted)] } else { lines };
    frame.render_widget(Paragraph::new(lines).block(pane(title, false, theme)), area);
}

/// Full screen: every finding with its sentence.
pub fn draw_full(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    frame.render_widget(Clear, area);
    let host = app.selected_host().unwrap_or_default();
    let rechecked = app.findings.get(&host).is_some_and(|(r, _)| *r);
    let mut lines = Vec::new();
    for f in app.diff_lines(&host) {
        lines.push(finding_line(f, theme));
        lines.push(Line::styled(format!("    {}", for_terminal(&f.detail)), theme.muted));
    }
    if lines.is_empty() {
        lines.push(Line::styled(strings::NO_DIFF, theme.muted));
    }
    let title = format!(" {} (Esc closes) ", strings::diff_title(&host, rechecked));
    frame.render_widget(
        Paragraph::new(lines).block(pane(title, true, theme)).wrap(Wrap { trim: false }).scroll((app.view_scroll, 0)),
        area,
    );
}
