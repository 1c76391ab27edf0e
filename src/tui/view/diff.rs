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
        Span::styled(format!("{:<SUBJECT_COLUMN$} ", for_terminal(&f.subject)), theme.text),
        Span::styled(format!("{} ", f.class.label()), st),
        Span::styled(versions(f), theme.muted),
    ])
}

/// The subject column's width; longer names push the rest right, or are shortened.
const SUBJECT_COLUMN: usize = 12;
/// A name is never shortened below this (mark included): "libnginx-m…" still says which.
const SHORTEST_NAME: usize = 8;
/// Where a shortened name or a dropped version was.
const CUT: char = '…';
/// The indent of a finding's continuation rows.
const INDENT: &str = "    ";

/// [`finding_line`] for a pane `width` columns wide, as rows that never cut a version (what
/// the host will get, and what was tested, are what the operator must see at 80 columns).
/// When the whole line does not fit, in this order: the starting version goes ("… -> TO"),
/// then the name is shortened ("libnginx-mod-h…"), then the versions move to rows of their
/// own below the name, broken only between versions (or inside a version longer than a
/// whole row, wrapped, never cut).
pub fn finding_rows<'a>(f: &Finding, theme: &Theme, width: usize) -> Vec<Line<'a>> {
    let st = style(f, theme);
    let symbol = format!("{} ", f.class.symbol());
    let subject = for_terminal(&f.subject);
    let label = format!("{} ", f.class.label());
    let one = |name: String, column: usize, versions: String| {
        Line::from(vec![
            Span::styled(symbol.clone(), st),
            Span::styled(format!("{name:<column$} "), theme.text),
            Span::styled(label.clone(), st),
            Span::styled(versions, theme.muted),
        ])
    };
    let fixed = symbol.chars().count() + label.chars().count() + 1;
    let name_len = subject.chars().count();
    let full = versions(f);
    let short = without_start(&full);
    // The whole name if it fits beside the versions, the starting version dropped next.
    for shown in [&full, &short] {
        let room = width.saturating_sub(fixed + shown.chars().count());
        if name_len.max(SUBJECT_COLUMN) <= room {
            return vec![one(subject, SUBJECT_COLUMN, shown.clone())];
        }
    }
    // Then a shortened name rather than a cut version.
    let room = width.saturating_sub(fixed + short.chars().count());
    if room >= SHORTEST_NAME {
        let column = room.min(SUBJECT_COLUMN.max(name_len));
        let name = if name_len > column { shorten(&subject, column) } else { subject };
        return vec![one(name, column, short)];
    }
    // The versions on rows of their own, whole.
    let room = width.saturating_sub(fixed).max(SHORTEST_NAME);
    let name = if subject.chars().count() > room { shorten(&subject, room) } else { subject };
    let head = Line::from(vec![
        Span::styled(symbol.clone(), st),
        Span::styled(format!("{name:<column$} ", column = SUBJECT_COLUMN.min(room)), theme.text),
        Span::styled(label.trim_end().to_string(), st),
    ]);
    let mut rows = vec![head];
    let row_width = width.saturating_sub(INDENT.len()).max(1);
    rows.extend(
        wrap_between_versions(&full, row_width).into_iter().map(|r| Line::styled(format!("{INDENT}{r}"), theme.muted)),
    );
    rows
}

/// "FROM -> TO, tested T" as "… -> TO, tested T": the starting version dropped, and marked;
/// text without an arrow is kept.
fn without_start(versions: &str) -> String {
    match versions.split_once(" -> ") {
        Some((_, rest)) => format!("{CUT} -> {rest}"),
        None => versions.to_string(),
    }
}

/// `name` in `room` columns, its end replaced by the mark.
fn shorten(name: &str, room: usize) -> String {
    let kept: String = name.chars().take(room.saturating_sub(1)).collect();
    format!("{kept}{CUT}")
}

/// `versions` in rows of at most `width` columns, broken at ", " and " -> " (the arrow
/// starts the next row), so that each version stays whole on one row when it fits in one.
fn wrap_between_versions(versions: &str, width: usize) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let parts: Vec<&str> = versions.split(", ").collect();
    for (i, part) in parts.iter().enumerate() {
        let part = if i + 1 < parts.len() { format!("{part},") } else { part.to_string() };
        let mut pieces = part.split(" -> ");
        if let Some(first) = pieces.next() {
            words.push(first.to_string());
        }
        words.extend(pieces.map(|p| format!("-> {p}")));
    }
    let mut rows: Vec<String> = Vec::new();
    let mut row = String::new();
    for word in words {
        let joined = if row.is_empty() { word.clone() } else { format!("{row} {word}") };
        if joined.chars().count() <= width {
            row = joined;
            continue;
        }
        if !row.is_empty() {
            rows.push(std::mem::take(&mut row));
        }
        // A word longer than a whole row is wrapped over rows, never cut.
        let chars: Vec<char> = word.chars().collect();
        let mut chunks = chars.chunks(width).map(|c| c.iter().collect::<String>()).peekable();
        while let Some(chunk) = chunks.next() {
            if chunks.peek().is_some() {
                rows.push(chunk);
            } else {
                row = chunk;
            }
        }
    }
    if !row.is_empty() {
        rows.push(row);
    }
    rows
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
    // Whole findings only: a finding's last row may hold the version that decides.
    let mut lines: Vec<Line> = Vec::new();
    for f in app.diff_lines(&host) {
        let finding = finding_rows(f, theme, inner);
        if lines.len() + finding.len() > rows {
            break;
        }
        lines.extend(finding);
    }
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
    for (i, f) in app.diff_lines(&host).into_iter().take(needed).enumerate() {
        // The selected finding (Enter on a drifted file opens its diff).
        let line = finding_line(f, theme);
        lines.push(if i == app.diff_cursor { line.style(theme.selected) } else { line });
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

    fn mismatch(name: &str, from: &str, to: &str, tested: &str) -> Finding {
        Finding {
            class: Class::VersionMismatch,
            subject: name.into(),
            tested: Some(format!("{from} -> {tested}")),
            here: Some(format!("{from} -> {to}")),
            verdict: Some(OnDivergence::Stop),
            detail: String::new(),
        }
    }

    fn rows(f: &Finding, width: usize) -> Vec<String> {
        let theme = Theme::builtin("dark").expect("the dark theme is built in");
        finding_rows(f, &theme, width).iter().map(text).collect()
    }

    #[test]
    fn a_narrow_pane_drops_the_starting_version_first_and_marks_it() {
        let f = tested("curl", "7.88.1-10+deb12u8", "7.88.1-10+deb12u12");
        assert_eq!(rows(&f, 100), ["  curl         tested 7.88.1-10+deb12u8 -> 7.88.1-10+deb12u12"]);
        assert_eq!(rows(&f, 46), ["  curl         tested … -> 7.88.1-10+deb12u12"]);
        assert_eq!(without_start("no arrow here"), "no arrow here");
    }

    #[test]
    fn a_long_name_is_shortened_with_a_mark_before_a_version_is() {
        let f = tested("libnginx-mod-http-geoip", "1.22.1-9", "1.22.1-9+deb12u2");
        assert_eq!(rows(&f, 48), ["  libnginx-mod-htt… tested … -> 1.22.1-9+deb12u2"]);
    }

    #[test]
    fn versions_that_cannot_share_the_name_row_get_rows_of_their_own() {
        let f = mismatch("libssl3", "3.0.15-1~deb12u1", "3.0.17-1~deb12u3", "3.0.17-1~deb12u2");
        assert_eq!(
            rows(&f, 48),
            [
                "~ libssl3      VERSION MISMATCH",
                "    3.0.15-1~deb12u1 -> 3.0.17-1~deb12u3,",
                "    tested 3.0.17-1~deb12u2"
            ]
        );
        // Narrower than a version: wrapped over rows, every character still there.
        let narrow = rows(&f, 14);
        let shown: String = narrow[1..].iter().map(|r| r.trim_start()).collect::<Vec<_>>().concat();
        assert!(shown.contains("3.0.17-1~deb12u3") && shown.contains("3.0.17-1~deb12u2"), "{narrow:?}");
        assert!(narrow[1..].iter().all(|r| r.chars().count() <= 14), "{narrow:?}");
    }
}
