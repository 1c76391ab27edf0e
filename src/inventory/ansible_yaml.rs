//! Ansible YAML inventories (`inventory.yml`): the
//! `all: {hosts: {...}, vars: {...}, children: {group: {hosts, vars, children}}}` structure,
//! with other top-level groups allowed beside `all`, as `ansible-inventory` accepts.
//!
//! Groups, variable precedence, host ranges and the `ansible_*` mapping are shared with the
//! INI parser ([`super::ansible_ini`]), so both formats give identical hosts.
//!
//! Parsing: `serde-saphyr`, a maintained YAML parser built for untrusted input: it does not
//! panic, and its budget bounds nesting, nodes and alias expansion (a "billion laughs" file is
//! refused, see `limits`). Duplicate keys are an error, as a host listed twice in one
//! mapping would silently lose its first variables.
//!
//! Positions: the parser reports line/column for syntax errors; the tree read here keeps no
//! positions. For hosts and variables of a valid file we therefore *search the text*:
//! the first line, after the enclosing key's line, whose first word is `name:` (also
//! `"name":` / `'name':`). That is exact for block-style YAML, which is what inventories
//! are written in; for flow style (`{web1: {...}}`) it falls back to the first occurrence of
//! the name after the enclosing key, and failing that to the enclosing key itself.
//!
//! Unlike Ansible, which warns and skips, an unknown key in a group (`host:` instead of
//! `hosts:`) is an error: silently dropping hosts from a maintenance window is worse.

use std::ops::Range;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::Inventory;
use super::ansible_ini::{ALL, Model, Var, check_var, declare_hosts, is_mapped};
use crate::diag::{Diagnostics, SourceFile};

/// Parses an Ansible YAML inventory; all problems of the file are reported together.
pub fn parse(src: &SourceFile) -> Result<Inventory, Diagnostics> {
    let value: Value = serde_saphyr::from_str_with_options(&src.text, limits()).map_err(|e| yaml_error(src, &e))?;
    let mut p = Parser { src, model: Model::new(), diags: Diagnostics::default() };
    match &value {
        Value::Null => {}
        Value::Mapping(top) => {
            for (k, v) in top {
                let Some(name) = p.key_text(k, 0) else { continue };
                let span = find_key(&src.text, &name, 0);
                p.group(&name, v, span, None);
            }
        }
        _ => p.diags.push(src.error(0..1, "expected a mapping of groups at the top level, starting with `all:`")),
    }
    let hosts = p.model.into_hosts(src);
    p.diags.into_result(Inventory { hosts })
}

/// The parser's limits for an inventory: generous for any real one (thousands of hosts),
/// tight enough that alias bombs, deep nesting and node floods end in an error, not in
/// memory exhaustion.
fn limits() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_nodes: 1_000_000,
            max_aliases: 10_000,
            max_anchors: 10_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 100_000,
            max_replay_stack_depth: 16,
            max_alias_expansions_per_anchor: 1_000,
        },
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        with_snippet: false,
    }
}

fn yaml_error(src: &SourceFile, e: &serde_saphyr::Error) -> Diagnostics {
    let text = e.to_string();
    // The parser may append " at line L column C"; the diagnostic shows the position itself.
    let msg = text.split(" at line ").next().unwrap_or(&text).trim();
    let at = e.location().and_then(|loc| {
        let byte = loc.span().byte_offset().and_then(|b| usize::try_from(b).ok());
        byte.or_else(|| offset_of(&src.text, loc.line(), loc.column()))
    });
    // No position: the parser ran out of text (an unclosed quote or bracket), so the problem
    // shows where the file ends.
    let at = at.unwrap_or(src.text.trim_end().len());
    src.error(at..at + 1, format!("invalid YAML: {msg}")).into()
}

/// The byte offset of 1-based `line` and `column` (in characters) in `text`.
fn offset_of(text: &str, line: u64, column: u64) -> Option<usize> {
    let line_start = if line <= 1 {
        0
    } else {
        text.match_indices('\n').nth(usize::try_from(line - 2).ok()?).map(|(i, _)| i + 1)?
    };
    let rest = &text[line_start..];
    let col = usize::try_from(column.saturating_sub(1)).ok()?;
    Some(line_start + rest.char_indices().nth(col).map_or(rest.len(), |(i, _)| i))
}

/// A YAML node as this parser needs it: mappings keep their order.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    /// A scalar as Ansible would template it (`true`, `2222`, `web1`).
    Scalar(String),
    Sequence(Vec<Value>),
    Mapping(Vec<(Value, Value)>),
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Scalar(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Scalar(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Sequence(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry()? {
            entries.push((k, v));
        }
        Ok(Value::Mapping(entries))
    }
}

struct Parser<'a> {
    src: &'a SourceFile,
    model: Model,
    diags: Diagnostics,
}

impl Parser<'_> {
    /// A mapping key as text: YAML lets `10.0.0.1:` or `1:` be numbers.
    fn key_text(&mut self, key: &Value, near: usize) -> Option<String> {
        match scalar(key) {
            Some(s) => Some(s),
            None => {
                self.diags.push(self.src.error(near..near + 1, "expected a name here, not a list or mapping"));
                None
            }
        }
    }

    fn group(&mut self, name: &str, value: &Value, span: Range<usize>, parent: Option<usize>) {
        if let Err(problem) = super::names::identifier("group name", name) {
            self.diags.push(self.src.error(span, problem));
            return;
        }
        let g = if name == "all" { ALL } else { self.model.group(name) };
        if let Some(parent) = parent
            && let Err(msg) = self.model.add_child(parent, g)
        {
            self.diags.push(self.src.error(span.clone(), msg));
        }
        let body = match value {
            Value::Null => return,
            Value::Mapping(m) => m,
            _ => {
                self.diags.push(
                    self.src
                        .error(span, format!("group `{name}` must be a mapping with `hosts`, `vars` or `children`")),
                );
                return;
            }
        };
        for (k, v) in body {
            let Some(key) = self.key_text(k, span.start) else { continue };
            let key_span = find_key(&self.src.text, &key, span.start);
            match key.as_str() {
                "hosts" => self.hosts(g, v, key_span),
                "vars" => {
                    if let Some(vars) = self.vars(v, &key_span, &format!("`vars` of group `{name}`")) {
                        for (k, var) in vars {
                            self.model.set_group_var(g, &k, var);
                        }
                    }
                }
                "children" => match v {
                    Value::Null => {}
                    Value::Mapping(children) => {
                        for (ck, cv) in children {
                            let Some(child) = self.key_text(ck, key_span.start) else { continue };
                            let child_span = find_key(&self.src.text, &child, key_span.start);
                            self.group(&child, cv, child_span, Some(g));
                        }
                    }
                    _ => self.diags.push(
                        self.src
                            .error(key_span, format!("`children` of group `{name}` must be a mapping of group names")),
                    ),
                },
                other => self.diags.push(
                    self.src
                        .error(key_span, format!("unexpected key `{other}` in group `{name}`"))
                        .with_help("a group holds only `hosts`, `vars` and `children`"),
                ),
            }
        }
    }

    fn hosts(&mut self, g: usize, value: &Value, key_span: Range<usize>) {
        let hosts = match value {
            Value::Null => return,
            Value::Mapping(m) => m,
            Value::Sequence(_) => {
                self.diags.push(
                    self.src
                        .error(key_span, "`hosts` must be a mapping of host names, not a list")
                        .with_help("write each host as a key: `web1.example.com:` on its own line"),
                );
                return;
            }
            _ => {
                self.diags.push(self.src.error(key_span, "`hosts` must be a mapping of host names"));
                return;
            }
        };
        for (k, v) in hosts {
            let Some(pattern) = self.key_text(k, key_span.start) else { continue };
            let span = find_key(&self.src.text, &pattern, key_span.start);
            let declared = match declare_hosts(self.src, &mut self.model, &pattern, span.clone(), g) {
                Ok(h) => h,
                Err(d) => {
                    self.diags.push(d);
                    continue;
                }
            };
            let Some(vars) = self.vars(v, &span, &format!("host `{pattern}`")) else { continue };
            for h in declared {
                for (key, var) in &vars {
                    self.model.set_host_var(h, key, var.clone());
                }
            }
        }
    }

    /// Variables of a host or group, each checked where it is written.
    fn vars(&mut self, value: &Value, owner_span: &Range<usize>, owner: &str) -> Option<Vec<(String, Var)>> {
        let map = match value {
            Value::Null => return Some(Vec::new()),
            Value::Mapping(m) => m,
            _ => {
                let msg = format!("{owner} must map variable names to values");
                self.diags.push(self.src.error(owner_span.clone(), msg));
                return None;
            }
        };
        let mut out = Vec::new();
        for (k, v) in map {
            let Some(key) = self.key_text(k, owner_span.start) else { continue };
            let key_span = find_key(&self.src.text, &key, owner_span.start);
            let value = match scalar(v) {
                Some(s) => s,
                None if is_mapped(&key) => {
                    self.diags.push(self.src.error(key_span, format!("`{key}` must be a single value")));
                    continue;
                }
                // Lists and mappings are Ansible's business; patchdeck reads none of them.
                None => continue,
            };
            let var = Var { value, span: value_span(&self.src.text, &key_span) };
            if let Some(d) = check_var(self.src, &key, &var) {
                self.diags.push(d);
            }
            out.push((key, var));
        }
        Some(out)
    }
}

/// The text of a YAML scalar, as Ansible would template it (`true`, `2222`, `web1`).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Scalar(s) => Some(s.clone()),
        Value::Null => Some(String::new()),
        Value::Sequence(_) | Value::Mapping(_) => None,
    }
}

/// Where `key` is written: see the module comment for the search rule. `from` is the
/// enclosing key's offset (0 for the top level); the search starts on the line after it.
fn find_key(text: &str, key: &str, from: usize) -> Range<usize> {
    let begin = if from == 0 { 0 } else { text[from..].find('\n').map_or(text.len(), |i| from + i + 1) };
    let mut offset = begin;
    for line in text[begin..].split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        for (open, close) in [("", ""), ("\"", "\""), ("'", "'")] {
            let Some(rest) = trimmed.strip_prefix(open).and_then(|r| r.strip_prefix(key)) else { continue };
            let Some(after) = rest.strip_prefix(close).and_then(|r| r.strip_prefix(':')) else { continue };
            if after.is_empty() || after.starts_with(char::is_whitespace) {
                let start = offset + indent + open.len();
                return start..start + key.len();
            }
        }
        offset += line.len();
    }
    match text[from..].find(key) {
        Some(i) => from + i..from + i + key.len(),
        None => from..from + 1,
    }
}

/// The value after `key:` on the key's line, or the key itself when the value is on
/// another line or cannot be told apart.
fn value_span(text: &str, key_span: &Range<usize>) -> Range<usize> {
    let line_end = text[key_span.end..].find('\n').map_or(text.len(), |i| key_span.end + i);
    let rest = &text[key_span.end..line_end];
    let Some(colon) = rest.find(':') else { return key_span.clone() };
    let after = &rest[colon + 1..];
    let value = after.trim_start();
    // A trailing comment is not part of the value.
    let value = value.split(" #").next().unwrap_or(value).trim_end();
    if value.is_empty() || value.starts_with(['{', '[', '|', '>']) {
        return key_span.clone();
    }
    let start = key_span.end + colon + 1 + (after.len() - after.trim_start().len());
    start..start + value.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "all:\n  hosts:\n    web1:\n      ansible_port: 2222  # ssh\n  children:\n    db:\n      hosts:\n        \"db1\":\n";

    #[test]
    fn keys_are_found_after_their_parent() {
        let hosts = find_key(DOC, "hosts", 0);
        assert_eq!(&DOC[hosts.clone()], "hosts");
        let web1 = find_key(DOC, "web1", hosts.start);
        assert_eq!(web1, 18..22);
        let port = find_key(DOC, "ansible_port", web1.start);
        assert_eq!(&DOC[value_span(DOC, &port)], "2222");
        let db = find_key(DOC, "db", find_key(DOC, "children", 0).start);
        let db_hosts = find_key(DOC, "hosts", db.start);
        let db1 = find_key(DOC, "db1", db_hosts.start);
        assert_eq!(&DOC[db1.start - 1..db1.end + 2], "\"db1\":");
    }

    #[test]
    fn flow_style_falls_back_to_first_occurrence() {
        let doc = "all: {hosts: {web1: {ansible_user: ops}}}\n";
        assert_eq!(find_key(doc, "web1", 0), 14..18);
        assert_eq!(find_key(doc, "nothere", 5), 5..6);
    }
}
