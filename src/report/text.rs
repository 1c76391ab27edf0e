//! Making untrusted text safe to put in Markdown.
//!
//! Everything that came from a host (package names, versions, check details, step output)
//! and everything the operators typed (override reasons, window names) first goes through
//! [`for_terminal`](crate::safe_text::for_terminal), so no control character or bidi
//! override reaches the file, then is escaped so it cannot change the document's
//! structure: break a table (`|`), start a link, emphasis, raw HTML or a code span.

use crate::safe_text::for_terminal;

/// Prose: every Markdown-significant ASCII character is backslash-escaped (CommonMark
/// allows escaping any ASCII punctuation, so the text reads the same once rendered).
pub fn esc(s: &str) -> String {
    let safe = for_terminal(s);
    let mut out = String::with_capacity(safe.len());
    for c in safe.chars() {
        // `(`, `!` and `#` need no escape: links and images need `[`, headings a line start.
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A code span: the text verbatim (after `for_terminal`), fenced with more backticks than
/// it contains, with `|` escaped so it cannot end a table cell (GFM applies that escape
/// even inside code spans).
pub fn code(s: &str) -> String {
    let safe = for_terminal(s).replace('|', "\\|");
    if safe.is_empty() {
        return "(empty)".into();
    }
    let fence = "`".repeat(longest_backtick_run(&safe) + 1);
    let pad = if safe.starts_with('`') || safe.ends_with('`') || safe.starts_with(' ') { " " } else { "" };
    format!("{fence}{pad}{safe}{pad}{fence}")
}

/// A version or `—` when absent (a package that was not, or is no longer, installed).
pub fn version(v: Option<&str>) -> String {
    v.map_or_else(|| "(none)".to_string(), code)
}

/// A fenced block for multi-line output (a failed step's tail): each line made safe, the
/// fence longer than any backtick run inside.
pub fn block(s: &str) -> String {
    let lines: Vec<String> = s.lines().map(for_terminal).collect();
    let longest = lines.iter().map(|l| longest_backtick_run(l)).max().unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    let mut out = format!("{fence}text\n");
    for l in &lines {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(&fence);
    out.push('\n');
    out
}

fn longest_backtick_run(s: &str) -> usize {
    let (mut best, mut cur) = (0, 0);
    for c in s.chars() {
        if c == '`' {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// A duration for people: `850 ms`, `12.3 s`, `4m 05s`, `1h 02m`.
pub fn duration_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        let s = ms / 1000;
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        let m = ms / 60_000;
        format!("{}h {:02}m", m / 60, m % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_cannot_break_tables_or_inject_markup() {
        assert_eq!(esc("a|b"), "a\\|b");
        assert_eq!(esc("<script>"), "\\<script\\>");
        assert_eq!(esc("[x](http://e)"), "\\[x\\](http://e)");
        assert_eq!(esc("3.0.15-1~deb12u1"), "3.0.15-1\\~deb12u1");
        assert_eq!(esc("a\x1b[2J\nb"), "a\\\\u{1b}\\[2J\\\\u{a}b");
    }

    #[test]
    fn code_spans_survive_backticks_and_pipes() {
        assert_eq!(code("libssl3"), "`libssl3`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("x\ny"), "`x\\u{a}y`");
        assert_eq!(version(None), "(none)");
    }

    #[test]
    fn blocks_outfence_their_content() {
        assert_eq!(block("ok\n```\nE: \x1b[31m"), "````text\nok\n```\nE: \\u{1b}[31m\n````\n");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(12_345), "12.3 s");
        assert_eq!(duration_ms(245_000), "4m 05s");
        assert_eq!(duration_ms(3_720_000), "1h 02m");
    }
}
