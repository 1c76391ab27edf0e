//! Hosts written as TOML `[[host]]` tables: inline in a runbook or in a separate hosts file.
//!
//! Both go through [`from_toml_value`], so a host means the same thing wherever it is written;
//! the runbook loader hands it the `host` value of its document and sees only the result.

use std::collections::HashMap;

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use crate::diag::toml as spanned;
use crate::diag::{Diagnostics, SourceFile};
use crate::inventory::{Host, HostOrigin, Inventory, names};

/// One `[[host]]` table as written; [`hosts`] applies defaults and checks values.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    pub name: Option<Spanned<String>>,
    pub address: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub port: Option<Spanned<i64>>,
    pub sudo: Option<Spanned<bool>>,
    pub tags: Option<Spanned<Vec<Spanned<String>>>>,
    pub weight: Option<Spanned<i64>>,
}

/// Parses a hosts file: nothing but `[[host]]` tables.
pub fn parse(src: &SourceFile) -> Result<Inventory, Diagnostics> {
    let partial = parse_partial(src);
    partial.problems.into_result(partial.inventory)
}

/// What a hosts file gave, problems included.
#[derive(Debug, Default)]
pub struct Partial {
    /// The hosts that loaded, each once (a bad value is reported and left at its default).
    pub inventory: Inventory,
    /// Every problem of the file; empty when it is valid.
    pub problems: Diagnostics,
    /// Every host the file declares is in `inventory` under its name: no table was
    /// unreadable or without a (valid) name. Only then can names used elsewhere (waves) be
    /// checked against `inventory` without inventing "unknown host" errors.
    pub names_complete: bool,
}

/// Like [`parse`], but keeps what loaded when the file has problems.
pub fn parse_partial(src: &SourceFile) -> Partial {
    let mut diags = Diagnostics::default();
    let Some(root) = spanned::parse_toml(src, &src.text, &mut diags) else {
        return Partial { problems: diags, ..Partial::default() };
    };
    let doc_span = root.span();
    let mut found = None;
    for (key, value) in root.into_inner() {
        if key.get_ref() == "host" {
            found = Some(from_toml_value(src, value));
        } else {
            diags.push(src.error(
                key.span(),
                format!("unknown key `{}`: a hosts file holds only [[host]] tables", key.get_ref()),
            ));
        }
    }
    let (inventory, names_complete) = match found {
        Some(p) => {
            diags.0.extend(p.problems.0);
            (p.inventory, p.names_complete)
        }
        None => {
            diags.push(
                src.error(doc_span.start..doc_span.start, "no hosts: add a [[host]] table with `name = \"...\"`"),
            );
            // Nothing declared: every name a wave uses would be unknown, one cascade of errors
            // for the one problem already reported.
            (Inventory::default(), false)
        }
    };
    Partial { inventory, problems: diags, names_complete }
}

/// The hosts of the `host` value of a TOML document (an array of `[[host]]` tables): a hosts
/// file's or a runbook's inline ones. `src` is the document, for positions.
pub fn from_toml_value(src: &SourceFile, value: Spanned<DeValue<'_>>) -> Partial {
    let mut problems = Diagnostics::default();
    let declared = spanned::array_len(&value);
    let items = spanned::array_of_tables(src, "host", value, &mut problems);
    let all_read = declared == Some(items.len());
    let (inventory, named) = hosts(src, items, &mut problems);
    Partial { inventory, problems, names_complete: all_read && named }
}

/// Turns raw host tables into hosts, applying defaults (address = name, weight = 1) and
/// reporting every bad value and every duplicate name. The flag says whether every table had
/// a valid name (a duplicate is still known by its first declaration).
fn hosts(src: &SourceFile, items: Vec<Spanned<RawHost>>, diags: &mut Diagnostics) -> (Inventory, bool) {
    let mut inventory = Inventory::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut named = true;
    for item in items {
        let table_span = item.span();
        let h = item.into_inner();
        let Some(name) = h.name else {
            diags.push(src.error(table_span, "host without a name: add `name = \"...\"`"));
            named = false;
            continue;
        };
        let name_span = name.span();
        let name = name.into_inner();
        if let Err(problem) = names::host_name("host name", &name) {
            diags.push(src.error(name_span.clone(), problem));
            named = false;
            continue;
        }
        if let Some(first) = seen.get(&name) {
            let (line, _) = src.line_col(*first);
            diags.push(src.error(
                name_span,
                format!("duplicate host `{name}` (first defined on line {line}): host names must be unique"),
            ));
            continue;
        }
        seen.insert(name.clone(), name_span.start);
        let mut host = Host::named(name);
        if let Some(a) = h.address {
            match names::address("address", a.get_ref()) {
                Err(problem) => diags.push(src.error(a.span(), problem)),
                Ok(()) => host.address = a.into_inner(),
            }
        }
        if let Some(u) = h.user {
            match names::identifier("user", u.get_ref()) {
                Err(problem) => diags.push(src.error(u.span(), problem)),
                Ok(()) => host.user = Some(u.into_inner()),
            }
        }
        if let Some(p) = h.port {
            match u16::try_from(*p.get_ref()) {
                Ok(port) if port > 0 => host.port = Some(port),
                _ => diags.push(src.error(p.span(), format!("port {} is out of range: use 1 to 65535", p.get_ref()))),
            }
        }
        if let Some(s) = h.sudo {
            host.sudo = s.into_inner();
        }
        if let Some(tags) = h.tags {
            for t in tags.into_inner() {
                match names::identifier("tag", t.get_ref()) {
                    Err(problem) => diags.push(src.error(t.span(), problem)),
                    Ok(()) => host.tags.push(t.into_inner()),
                }
            }
        }
        if let Some(w) = h.weight {
            match u32::try_from(*w.get_ref()) {
                Ok(weight) if weight >= 1 => host.weight = weight,
                _ => diags.push(src.error(
                    w.span(),
                    format!("weight {} is out of range: use a whole number from 1 (least impact) up", w.get_ref()),
                )),
            }
        }
        inventory.hosts.push((host, HostOrigin { file: src.path.clone(), span: name_span }));
    }
    (inventory, named)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Inventory, Diagnostics> {
        parse(&SourceFile::new("hosts.toml", text))
    }

    #[test]
    fn defaults_apply() {
        let inv = parse_text("[[host]]\nname = \"web1\"\n").unwrap();
        assert_eq!(inv.hosts[0].0, Host::named("web1"));
        assert_eq!(inv.hosts[0].1.span, 16..22);
    }

    #[test]
    fn all_fields() {
        let inv = parse_text(
            "[[host]]\nname = \"a\"\naddress = \"a.example\"\nuser = \"deploy\"\nport = 2222\nsudo = true\ntags = [\"x\"]\nweight = 7\n",
        )
        .unwrap();
        let h = &inv.hosts[0].0;
        assert_eq!(
            (h.address.as_str(), h.user.as_deref(), h.port, h.sudo, h.tags.clone(), h.weight),
            ("a.example", Some("deploy"), Some(2222), true, vec!["x".to_string()], 7)
        );
    }

    #[test]
    fn reports_every_problem_with_position() {
        let err = parse_text(
            "[[host]]\nname = \"a\"\nweight = 0\nport = 70000\n[[host]]\nname = \"a\"\n[[host]]\naddr = \"x\"\n",
        )
        .unwrap_err();
        let got: Vec<_> = err.iter().map(|d| (d.line, d.col, d.message.clone())).collect();
        assert_eq!(got.len(), 5, "{got:#?}");
        assert_eq!(got[0], (3, 10, "weight 0 is out of range: use a whole number from 1 (least impact) up".into()));
        assert_eq!(got[1], (4, 8, "port 70000 is out of range: use 1 to 65535".into()));
        assert_eq!(got[2], (6, 8, "duplicate host `a` (first defined on line 2): host names must be unique".into()));
        assert_eq!(got[3], (7, 1, "host without a name: add `name = \"...\"`".into()));
        assert!(got[4].2.starts_with("unknown key `addr`"), "{}", got[4].2);
    }

    #[test]
    fn partial_keeps_the_hosts_and_says_whether_every_name_is_known() {
        let partial = |text: &str| parse_partial(&SourceFile::new("hosts.toml", text));
        let p = partial("[[host]]\nname = \"a\"\nport = 0\n[[host]]\nname = \"a\"\n[[host]]\nname = \"b\"\nx = 1\n");
        assert_eq!(p.problems.len(), 3);
        assert_eq!(p.inventory.hosts.iter().map(|(h, _)| h.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(p.names_complete, "every table has its name, a duplicate included");
        for lost in [
            "[[host]]\nname = \"a\"\n[[host]]\nport = 22\n",
            "[[host]]\nname = \"a b\"\n",
            "host = 1\n",
            "[[host]\n",
            "",
        ] {
            assert!(!partial(lost).names_complete, "{lost:?}");
        }
        let valid = partial("[[host]]\nname = \"a\"\n");
        assert!(valid.names_complete && valid.problems.is_empty());
    }
}
