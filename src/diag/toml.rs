//! Positioned TOML: parsing with every value's byte span ([`toml::Spanned`]) and collecting
//! **every** structural problem (syntax, unknown keys, wrong types) as a [`super::Diagnostic`], so a
//! file is fixed in one pass. Shared by the runbook, TOML hosts files and other TOML inputs.

use std::ops::Range;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::{Diagnostics, SourceFile};

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
    let mut dropped: Vec<String> = Vec::new();
    loop {
        let attempt = Spanned::new(span.clone(), DeValue::Table(table.clone()));
        let err = match Spanned::<T>::deserialize(ValueDeserializer::from(attempt)) {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        // A required key dropped for its bad value is now "missing": an echo, not news.
        if dropped.iter().any(|k| err.message() == format!("missing field `{k}`")) {
            return None;
        }
        let err_span = err.span().unwrap_or(span.clone());
        diags.push(src.error(err_span.clone(), friendly(err.message())));
        let culprit = table
            .iter()
            .find(|(k, v)| contains(&k.span(), &err_span) || contains(&v.span(), &err_span))
            .map(|(k, _)| k.get_ref().clone());
        match culprit {
            Some(key) => {
                table.remove::<str>(&key);
                dropped.push(key.to_string());
            }
            None => return None,
        }
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer != &(0..0)
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

pub fn quoted_list(items: &[&str]) -> String {
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
