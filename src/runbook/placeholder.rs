//! Placeholders in step commands, check commands and URLs: `{host.name}`, `{host.address}`,
//! `{host.user}`, `{host.port}`, `{window.name}`, `{step.name}`; `{{` and `}}` are literal braces.
//!
//! Templates are checked once at load time ([`check`]) so a typo stops the window before it
//! starts, not halfway through a wave. Expansion into shell commands ([`expand`]) shell-quotes
//! every substituted value: a host name is data, never code.

use std::ops::Range;

use crate::inventory::Host;
use crate::runbook::Window;

/// Every placeholder name the runbook understands.
pub const NAMES: [&str; 6] = ["host.name", "host.address", "host.user", "host.port", "window.name", "step.name"];

/// A problem in a template; `range` is a byte range inside the (decoded) template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceholderError {
    pub range: Range<usize>,
    pub message: String,
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    /// A literal `{` or `}` written doubled.
    Brace(char),
    /// `{name}`; the range covers the braces.
    Placeholder(&'a str, Range<usize>),
}

/// Splits a template into pieces; brace errors are reported, not fatal, so all are found.
fn pieces(template: &str) -> (Vec<Piece<'_>>, Vec<PlaceholderError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let bytes = template.as_bytes();
    let mut text_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'}' if bytes.get(i + 1) == Some(&bytes[i]) => {
                out.push(Piece::Text(&template[text_start..i]));
                out.push(Piece::Brace(bytes[i] as char));
                i += 2;
                text_start = i;
            }
            b'{' => {
                out.push(Piece::Text(&template[text_start..i]));
                match template[i + 1..].find(['}', '{']) {
                    Some(rel) if bytes[i + 1 + rel] == b'}' => {
                        let end = i + 1 + rel;
                        out.push(Piece::Placeholder(&template[i + 1..end], i..end + 1));
                        i = end + 1;
                    }
                    _ => {
                        errors.push(PlaceholderError {
                            range: i..i + 1,
                            message: "unclosed `{`: close the placeholder, or write `{{` for a literal brace".into(),
                        });
                        i += 1;
                    }
                }
                text_start = i;
            }
            b'}' => {
                errors.push(PlaceholderError {
                    range: i..i + 1,
                    message: "stray `}`: write `}}` for a literal brace".into(),
                });
                i += 1;
            }
            _ => i += 1,
        }
    }
    out.push(Piece::Text(&template[text_start..]));
    (out, errors)
}

/// Checks a template: every placeholder must be known, and `{step.name}` is only allowed where
/// a step exists (`in_step`). Returns every problem found.
pub fn check(template: &str, in_step: bool) -> Vec<PlaceholderError> {
    let (pieces, mut errors) = pieces(template);
    for piece in pieces {
        if let Piece::Placeholder(name, range) = piece {
            if !NAMES.contains(&name) {
                let known = NAMES.iter().map(|n| format!("{{{n}}}")).collect::<Vec<_>>().join(", ");
                errors.push(PlaceholderError {
                    range,
                    message: format!(
                        "unknown placeholder `{{{name}}}`: use one of {known} (write `{{{{` for a literal brace)"
                    ),
                });
            } else if name == "step.name" && !in_step {
                errors.push(PlaceholderError {
                    range,
                    message: "`{step.name}` is only available in steps: checks also run outside any step".into(),
                });
            }
        }
    }
    errors.sort_by_key(|e| e.range.start);
    errors
}

/// The placeholder names a template uses (valid ones only), e.g. to require `user` on hosts.
pub fn used(template: &str) -> Vec<(&str, Range<usize>)> {
    pieces(template)
        .0
        .into_iter()
        .filter_map(|p| match p {
            Piece::Placeholder(name, range) if NAMES.contains(&name) => Some((name, range)),
            _ => None,
        })
        .collect()
}

/// Expands a template into a shell command: each substituted value is shell-quoted (with
/// `shlex`), so `{host.name}` can never inject shell syntax. Unknown placeholders (which
/// [`check`] refuses at load time) are left as written.
pub fn expand(template: &str, host: &Host, window: &Window, step: Option<&str>) -> String {
    expand_with(template, host, window, step, shell_quote)
}

/// Expands a template without quoting: for URLs, `host:port` addresses and expected body text,
/// which never reach a shell.
pub fn expand_unquoted(template: &str, host: &Host, window: &Window, step: Option<&str>) -> String {
    expand_with(template, host, window, step, |s| s.to_string())
}

fn expand_with(
    template: &str,
    host: &Host,
    window: &Window,
    step: Option<&str>,
    quote: impl Fn(&str) -> String,
) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template).0 {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Brace(c) => out.push(c),
            Piece::Placeholder(name, _) => {
                let value = match name {
                    "host.name" => Some(host.name.clone()),
                    "host.address" => Some(host.address.clone()),
                    "host.user" => Some(host.user.clone().unwrap_or_default()),
                    "host.port" => Some(host.port.map(|p| p.to_string()).unwrap_or_default()),
                    "window.name" => Some(window.name.clone()),
                    "step.name" => Some(step.unwrap_or_default().to_string()),
                    _ => None,
                };
                match value {
                    Some(v) => out.push_str(&quote(&v)),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
            }
        }
    }
    out
}

/// Quotes for a POSIX shell. A NUL byte cannot be passed through a shell at all; it is
/// dropped rather than letting quoting fail open.
fn shell_quote(value: &str) -> String {
    let clean: String = value.chars().filter(|&c| c != '\0').collect();
    match shlex::try_quote(&clean) {
        Ok(q) => q.into_owned(),
        Err(_) => "''".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn window() -> Window {
        Window {
            name: "w 1".into(),
            starts: "2026-11-22T22:00:00Z".parse().unwrap(),
            ends: "2026-11-22T23:30:00Z".parse().unwrap(),
            rollback_reserve: Duration::from_secs(1200),
        }
    }

    fn host() -> Host {
        Host { user: Some("deploy".into()), port: Some(2222), ..Host::named("web1") }
    }

    #[test]
    fn expands_and_quotes_for_the_shell() {
        let mut h = host();
        h.name = "web1; rm -rf /".into();
        assert_eq!(expand("lbctl drain {host.name}", &h, &window(), None), "lbctl drain 'web1; rm -rf /'");
        assert_eq!(
            expand("echo {window.name} {step.name} {host.user}@{host.port}", &host(), &window(), Some("s")),
            "echo 'w 1' s deploy@2222"
        );
    }

    #[test]
    fn expands_unquoted_for_urls_and_keeps_escaped_braces() {
        assert_eq!(expand_unquoted("http://{host.address}/x?{{a}}", &host(), &window(), None), "http://web1/x?{a}");
    }

    #[test]
    fn unknown_placeholder_is_reported_at_its_braces() {
        let errs = check("curl {host.nmae}/x", true);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].range, 5..16);
        assert!(errs[0].message.starts_with("unknown placeholder `{host.nmae}`"), "{}", errs[0].message);
    }

    #[test]
    fn stray_and_unclosed_braces_are_reported() {
        let errs = check("awk '{print $1}'", true);
        assert_eq!(errs.iter().map(|e| e.range.clone()).collect::<Vec<_>>(), vec![5..15]);
        let errs = check("a } b { c", true);
        assert_eq!(errs.iter().map(|e| e.range.start).collect::<Vec<_>>(), vec![2, 6]);
        assert!(check("awk '{{print $1}}'", true).is_empty());
    }

    #[test]
    fn step_name_only_in_steps() {
        assert!(check("echo {step.name}", true).is_empty());
        assert_eq!(check("echo {step.name}", false)[0].range, 5..16);
    }

    #[test]
    fn lists_used_placeholders() {
        let names: Vec<_> = used("{host.user}@{host.address} {bogus}").into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["host.user", "host.address"]);
    }
}
