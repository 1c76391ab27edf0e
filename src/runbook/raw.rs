//! The runbook as written: serde structs whose every value carries its byte span
//! ([`toml::Spanned`]), so validation can point at the exact text that is wrong.
//!
//! Every key is optional here; [`crate::runbook::validate`] decides what is required so that
//! all missing keys are reported together with a message that says what to add. Structural
//! problems (unknown keys, wrong types) are collected by [`deserialize_all`], which keeps going
//! after the first one.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::diag::{Diagnostics, SourceFile};
use crate::inventory::toml_file::RawHost;

pub type Text = Option<Spanned<String>>;

/// The whole runbook file. Absent sections are `None` / empty.
#[derive(Debug, Default)]
pub struct RawRunbook {
    /// Span of the whole document (for "missing section" messages).
    pub span: Range<usize>,
    pub window: Option<Spanned<RawWindow>>,
    pub inventory: Option<Spanned<RawInventory>>,
    /// Inline `[[host]]` tables; `None` when the runbook has none.
    pub hosts: Option<Vec<Spanned<RawHost>>>,
    /// Every inline `[[host]]` table was read (none dropped as unreadable, see [`array_len`]).
    pub hosts_all_read: bool,
    pub baseline: Option<Spanned<RawBaseline>>,
    pub policy: Option<Spanned<RawPolicy>>,
    pub fingerprints: Vec<Spanned<RawFingerprint>>,
    /// `None` when there is no `[[wave]]` at all.
    pub waves: Option<Vec<Spanned<RawWave>>>,
    /// Where `wave` was written (for "no waves" when it is an empty array).
    pub waves_span: Option<Range<usize>>,
    pub steps: Option<Vec<Spanned<RawStep>>>,
    pub steps_span: Option<Range<usize>>,
    pub checks: Vec<Spanned<RawCheck>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub name: Text,
    pub starts: Text,
    pub ends: Text,
    pub rollback_reserve: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInventory {
    pub file: Text,
    pub ssh_config: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBaseline {
    pub file: Text,
    pub host: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub change_risk: Option<Spanned<f64>>,
    pub max_risk: Option<Spanned<f64>>,
    pub untested_package: Text,
    pub version_mismatch: Text,
    pub different_start: Text,
    pub not_pending: Text,
    pub config_drift: Text,
    pub rollback_infeasible: Text,
    pub held_package: Text,
    pub auto_rollback: Option<Spanned<bool>>,
    pub auto_rollback_countdown: Text,
    pub gate_between_waves: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFingerprint {
    pub path: Text,
    pub command: Text,
}

pub type TextList = Option<Spanned<Vec<Spanned<String>>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWave {
    pub name: Text,
    pub hosts: TextList,
    pub tags: TextList,
    pub parallel: Option<Spanned<i64>>,
    pub max_failures: Option<Spanned<i64>>,
    pub gate: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub name: Text,
    pub packages: Text,
    pub run: Text,
    pub local: Text,
    pub reboot: Option<Spanned<bool>>,
    pub rollback: Text,
    pub irreversible: Option<Spanned<bool>>,
    pub timeout: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub name: Text,
    pub http: Text,
    pub expect_status: Option<Spanned<i64>>,
    pub contains: Text,
    pub tcp: Text,
    pub run: Text,
    pub timeout: Text,
}

/// Top-level keys of a runbook.
const SECTIONS: [&str; 9] =
    ["window", "inventory", "host", "baseline", "policy", "fingerprint", "wave", "step", "check"];

/// Parses TOML text, reporting syntax errors with their positions.
///
/// The parser recovers and can report a cascade of follow-on errors; only the first error of
/// each line is kept, since the rest are usually echoes of it.
pub fn parse_toml<'i>(src: &SourceFile, text: &'i str, diags: &mut Diagnostics) -> Option<Spanned<DeTable<'i>>> {
    let (root, errors) = DeTable::parse_recoverable(text);
    if errors.is_empty() {
        return Some(root);
    }
    let mut seen_lines = Vec::new();
    for e in errors {
        let span = e.span().unwrap_or(0..0);
        let line = src.line_col(span.start).0;
        if !seen_lines.contains(&line) {
            seen_lines.push(line);
            diags.push(src.error(span, format!("TOML syntax error: {}", e.message())));
        }
    }
    None
}

/// Splits a runbook document into its raw sections, collecting every structural problem.
pub fn parse(src: &SourceFile, diags: &mut Diagnostics) -> Option<RawRunbook> {
    let root = parse_toml(src, &src.text, diags)?;
    let mut raw = RawRunbook { span: root.span(), ..RawRunbook::default() };
    for (key, value) in root.into_inner() {
        match key.get_ref().as_ref() {
            "window" => raw.window = table(src, key.get_ref(), window_datetimes_as_text(value), diags),
            "inventory" => raw.inventory = table(src, key.get_ref(), value, diags),
            "baseline" => raw.baseline = table(src, key.get_ref(), value, diags),
            "policy" => raw.policy = table(src, key.get_ref(), value, diags),
            "host" => {
                let declared = array_len(&value);
                let hosts = array_of_tables(src, key.get_ref(), value, diags);
                raw.hosts_all_read = declared == Some(hosts.len());
                raw.hosts = Some(hosts);
            }
            "fingerprint" => raw.fingerprints = array_of_tables(src, key.get_ref(), value, diags),
            "wave" => {
                raw.waves_span = Some(key.span());
                raw.waves = Some(array_of_tables(src, key.get_ref(), value, diags));
            }
            "step" => {
                raw.steps_span = Some(key.span());
                raw.steps = Some(array_of_tables(src, key.get_ref(), value, diags));
            }
            "check" => raw.checks = array_of_tables(src, key.get_ref(), value, diags),
            other => diags.push(
                src.error(key.span(), format!("unknown section `{other}`: expected one of {}", quoted_list(&SECTIONS))),
            ),
        }
    }
    Some(raw)
}

/// A `[section]` table.
fn table<T: DeserializeOwned>(
    src: &SourceFile,
    name: &str,
    value: Spanned<DeValue<'_>>,
    diags: &mut Diagnostics,
) -> Option<Spanned<T>> {
    if !value.get_ref().is_table() {
        diags.push(src.error(value.span(), format!("`{name}` must be a table: write it as a [{name}] section")));
        return None;
    }
    deserialize_all(src, value, diags)
}

/// An array of `[[section]]` tables; each element is checked on its own so one bad element does
/// not hide problems in the others.
pub fn array_of_tables<T: DeserializeOwned>(
    src: &SourceFile,
    name: &str,
    value: Spanned<DeValue<'_>>,
    diags: &mut Diagnostics,
) -> Vec<Spanned<T>> {
    let span = value.span();
    let DeValue::Array(items) = value.into_inner() else {
        diags.push(src.error(span, format!("`{name}` must be a list of tables: write each one as [[{name}]]")));
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        if !item.get_ref().is_table() {
            diags.push(src.error(item.span(), format!("each `{name}` must be a table: write it as [[{name}]]")));
        } else if let Some(t) = deserialize_all(src, item, diags) {
            out.push(t);
        }
    }
    out
}

/// How many items an array of tables holds before [`array_of_tables`] reads it (`None`: not an
/// array): comparing the two says whether any table was dropped as unreadable.
pub fn array_len(value: &Spanned<DeValue<'_>>) -> Option<usize> {
    match value.get_ref() {
        DeValue::Array(items) => Some(items.len()),
        _ => None,
    }
}

/// Deserializes one table, reporting **every** unknown key and wrongly typed value.
///
/// serde stops at the first problem, so on each error the offending key is reported, dropped,
/// and deserialization retried; it ends when the rest is clean (the value is returned, minus
/// the bad keys) or an error cannot be tied to a key (`None`).
pub fn deserialize_all<T: DeserializeOwned>(
    src: &SourceFile,
    value: Spanned<DeValue<'_>>,
    diags: &mut Diagnostics,
) -> Option<Spanned<T>> {
    let span = value.span();
    let DeValue::Table(mut table) = value.into_inner() else {
        diags.push(src.error(span, "expected a table"));
        return None;
    };
    loop {
        let attempt = Spanned::new(span.clone(), DeValue::Table(table.clone()));
        let err = match Spanned::<T>::deserialize(ValueDeserializer::from(attempt)) {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let err_span = err.span().unwrap_or(span.clone());
        diags.push(src.error(err_span.clone(), friendly(err.message())));
        let culprit = table
            .iter()
            .find(|(k, v)| contains(&k.span(), &err_span) || contains(&v.span(), &err_span))
            .map(|(k, _)| k.get_ref().clone());
        match culprit {
            Some(key) => {
                table.remove::<str>(&key);
            }
            None => return None,
        }
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer != &(0..0)
}

/// TOML has native datetimes (`starts = 2026-11-22T22:00:00Z`); accept them as well as strings
/// by turning them into their text, which validation then parses like a quoted timestamp.
fn window_datetimes_as_text(mut value: Spanned<DeValue<'_>>) -> Spanned<DeValue<'_>> {
    if let DeValue::Table(t) = value.get_mut() {
        for (_, v) in t.iter_mut() {
            if let DeValue::Datetime(dt) = v.get_ref() {
                let text = dt.to_string();
                *v.get_mut() = DeValue::String(Cow::Owned(text));
            }
        }
    }
    value
}

/// Rewords serde's messages in the runbook's vocabulary ("key", not "field").
fn friendly(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return format!("unknown key {}", rest.replacen(", expected ", ": expected ", 1));
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        return format!("wrong type: found {rest}");
    }
    message.to_string()
}

pub(crate) fn quoted_list(items: &[&str]) -> String {
    items.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

/// Maps a byte offset inside a decoded TOML string value to the byte offset in the source,
/// given `literal`, the source text of the value including its quotes.
///
/// Handles basic strings with escapes, literal strings and both multi-line forms (including a
/// line-ending backslash). Returns `None` if the literal is not a string, so callers fall back
/// to pointing at the whole value.
pub fn source_offset(literal: &str, index: usize) -> Option<usize> {
    let map = decode_map(literal)?;
    map.get(index).copied()
}

/// For each byte of the decoded string, the offset in `literal` of the source text producing it.
fn decode_map(literal: &str) -> Option<Vec<usize>> {
    let (quote, multi) = if literal.starts_with("\"\"\"") {
        ('"', true)
    } else if literal.starts_with("'''") {
        ('\'', true)
    } else if literal.starts_with('"') {
        ('"', false)
    } else if literal.starts_with('\'') {
        ('\'', false)
    } else {
        return None;
    };
    let open = if multi { 3 } else { 1 };
    let close = literal.len().checked_sub(open)?;
    let mut body_start = open;
    if multi {
        // A newline right after the opening quotes is not part of the value.
        if literal[body_start..].starts_with("\r\n") {
            body_start += 2;
        } else if literal[body_start..].starts_with('\n') {
            body_start += 1;
        }
    }
    let body = literal.get(body_start..close.max(body_start))?;
    let mut map = Vec::with_capacity(body.len());
    let push_char = |map: &mut Vec<usize>, c: char, at: usize| map.extend(std::iter::repeat_n(at, c.len_utf8()));
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let at = body_start + i;
        if quote == '\'' || c != '\\' {
            push_char(&mut map, c, at);
            continue;
        }
        let (_, e) = chars.next()?;
        let decoded = match e {
            'b' => '\u{8}',
            't' => '\t',
            'n' => '\n',
            'f' => '\u{c}',
            'r' => '\r',
            'e' => '\u{1b}',
            '"' => '"',
            '\\' => '\\',
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut code = 0u32;
                for _ in 0..n {
                    code = code * 16 + chars.next()?.1.to_digit(16)?;
                }
                char::from_u32(code)?
            }
            c if multi && (c.is_whitespace()) => {
                // Line-ending backslash: skip all whitespace including newlines.
                while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
                    chars.next();
                }
                continue;
            }
            _ => return None,
        };
        push_char(&mut map, decoded, at);
    }
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_in_plain_and_escaped_strings() {
        // "a{x}" : decoded index 1 ('{') is at source offset 2.
        assert_eq!(source_offset("\"a{x}\"", 1), Some(2));
        // "\tb{x}" : '{' is decoded index 2, source offset 4.
        assert_eq!(source_offset("\"\\tb{x}\"", 2), Some(4));
        // "\u00e9{x}" : é is 2 decoded bytes from a 6-byte escape.
        assert_eq!(source_offset("\"\\u00e9{x}\"", 2), Some(7));
        assert_eq!(source_offset("'a\\{x}'", 2), Some(3));
    }

    #[test]
    fn offsets_in_multiline_strings() {
        let lit = "\"\"\"\nab \\\n   {x}\"\"\"";
        // decoded: "ab {x}" -> '{' at decoded 3
        assert_eq!(source_offset(lit, 3), Some(lit.find('{').unwrap()));
        let lit = "'''\nq{x}'''";
        assert_eq!(source_offset(lit, 1), Some(5));
    }

    #[test]
    fn not_a_string() {
        assert_eq!(source_offset("42", 0), None);
    }

    #[test]
    fn friendly_messages() {
        assert_eq!(friendly("unknown field `x`, expected `a` or `b`"), "unknown key `x`: expected `a` or `b`");
        assert_eq!(
            friendly("invalid type: integer `5`, expected a string"),
            "wrong type: found integer `5`, expected a string"
        );
    }
}
