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
    finding_line_within(f, theme, usize::MAX)
}

/// [`finding_line`] for a pane `width` columns wide: when the versions would be cut off,
/// the starting version goes and the target stays ("-> 3.0.17-1~deb12u2"), since what the
/// host will get is what the operator must see at 80 columns.
pub fn finding_line_within<'a>(f: &Finding, theme: &Theme, width: usize) -> Line<'a> {
    let st = style(f, theme);
    let head = format!("{} {:<12} {} ", f.class.symbol(), for_terminal(&f.subject), f.class.label());
    let full = versions(f);
    let shown = if head.chars().count() + full.chars().count() > width { target_first(&full) } else { full };
    Line::from(vec![
        Span::styled(format!("{} ", f.class.symbol()), st),
        Span::styled(format!("{:<12} ", for_terminal(&f.subject)), theme.text),
        Span::styled(format!("{} ", f.class.label()), st),
        Span::styled(shown, theme.muted),
    ])
}

/// "FROM -> TO, tested T" as "-> TO, tested T"; text without an arrow is kept.
fn target_first(versions: &str) -> String {
    match versions.split_once(" -> ") {
        Some((_, rest)) => format!("-> {rest}"),
        None => versions.to_string(),
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(host) = app.selected_host() else {
        let why = if app.filter.is_empty() { strings::NO_HOST } else { strings::NO_MATCH };
        frame.render_widget(Paragraph::new(why).wrap(Wrap { trim: true }).block(pane(" Diff ", false, theme)), area);
        return;
    };
    let rechecked = app.findings.get(&host).is_some_and(|(r, _)| *r);
    let title = format!(" {} ", strings::diff_title(&host, rechecked));
    let inner = usize::from(area.width.saturating_sub(2));
    // Only what fits: a host may have thousands of findings, and the pane does not scroll.
    let rows = usize::from(area.height.saturating_sub(2));
    let lines: Vec<Line> =
        app.diff_lines(&host).into_iter().take(rows).map(|f| finding_line_within(f, theme, inner)).collect();
    let lines = if lines.is_empty() { vec![Line::styled(strings::NO_DIFF, theme.muted)] } else { lines };
    frame.render_widget(Paragraph::new(lines).block(pane(title, false, theme)), area);
}

/// Full screen: every finding with its sentence.
pub fn draw_full(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    frame.render_widget(Clear, area);
    let host = app.selected_host().unwrap_or_default();
    let rechecked = app.findings.get(&host).is_some_and(|(r, _)| *r);
    let mut lines = Vec::new();
    // Every finding takes two rows or more, so the ones from here on start below the screen.
    let needed = (usize::from(app.view_scroll) + usize::from(area.height)) / 2 + 1;
    for f in app.diff_lines(&host).into_iter().take(needed) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tested(name: &str, from: &str, to: &str) -> Finding {
        Finding {
            class: Class::Tested,
            subject: name.into(),
            tested: Some(format!("{from} -> {to}")),
            here: Some(format!("{from} -> {to}")),
            verdict: None,
            detail: String::new(),
        }
    }

    fn text(l: &Line) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn a_narrow_pane_keeps_the_target_version_and_drops_the_starting_one() {
        let theme = Theme::builtin("dark").expect("the dark theme is built in");
        let f = tested("curl", "7.88.1-10+deb12u8", "7.88.1-10+deb12u12");
        let wide = text(&finding_line_within(&f, &theme, 100));
        assert!(wide.ends_with("7.88.1-10+deb12u8 -> 7.88.1-10+deb12u12"), "{wide}");
        let narrow = text(&finding_line_within(&f, &theme, 46));
        assert!(narrow.ends_with("tested -> 7.88.1-10+deb12u12"), "{narrow}");
        assert!(narrow.chars().count() <= 46, "{narrow}");
        assert_eq!(target_first("no arrow here"), "no arrow here");
    }
}
