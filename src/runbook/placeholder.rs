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

/// Checks where placeholders sit in a shell command (`run`, `local`, `rollback`, a check's
/// `run`): every substituted value is already quoted as one shell word, so a placeholder must
/// stand where a word can, outside every kind of quoting. Inside `"..."`, `` `...` ``,
/// `$(...)`, `${...}`, `$((...))`, `'...'`, after a `\`, in a here-document or a comment, the
/// value's own quotes would be literal text or change meaning, and the shell could run what a
/// value holds (`"{host.name}"` with a host named `$(reboot)`). Returns one error per
/// placeholder in such a place.
pub fn check_shell_context(template: &str) -> Vec<PlaceholderError> {
    let tokens = tokens(template);
    let mut errors = Vec::new();
    let mut lexer = ShellLexer::default();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Char(c) => lexer.step(*c, &tokens[i + 1..]),
            Token::Placeholder(name, range) => {
                if let Some(context) = lexer.unsafe_context() {
                    errors.push(PlaceholderError {
                        range: range.clone(),
                        message: format!(
                            "`{{{name}}}` is {context}: drop the quotes around it, values are already quoted \
                             for the shell (docs/runbook.md, \"Placeholders\")"
                        ),
                    });
                }
                lexer.value();
            }
        }
    }
    errors
}

/// A template as the shell will see it: literal characters, and the placeholders between them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Char(char),
    Placeholder(&'a str, Range<usize>),
}

fn tokens(template: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    for piece in pieces(template).0 {
        match piece {
            Piece::Text(t) => out.extend(t.chars().map(Token::Char)),
            Piece::Brace(c) => out.push(Token::Char(c)),
            Piece::Placeholder(name, range) => out.push(Token::Placeholder(name, range)),
        }
    }
    out
}

/// The quoting contexts of a POSIX shell that matter for where a word may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    Single,
    Double,
    Backquote,
    /// `$(`; the number is the depth of plain parentheses opened inside it.
    Command(usize),
    Parameter,
    Arithmetic(usize),
}

/// Just enough of a POSIX shell lexer to know, at each character, whether a word may start
/// there unquoted (see [`check_shell_context`]). It errs on the side of "quoted".
#[derive(Debug, Default)]
struct ShellLexer {
    stack: Vec<Quote>,
    /// The previous character was an unquoted or double-quoted `\`.
    escaped: bool,
    comment: bool,
    /// The previous character ends a word (or there was none).
    at_word_start: bool,
    started: bool,
    /// Here-document delimiters whose bodies start at the next newline (`strip tabs`, word).
    pending: Vec<(bool, String)>,
    /// Inside a here-document body: its delimiter, and the current line so far.
    heredoc: Option<(bool, String, String)>,
    /// Characters still to skip (read ahead: `$(`, `<<` and its delimiter word).
    skip: usize,
    /// The next token is part of a here-document's delimiter word.
    in_delimiter: bool,
    /// ... once the characters being skipped are.
    delimiter_next: bool,
}

impl ShellLexer {
    /// Where a placeholder here would be unsafe, in words, or `None` if it stands as a word.
    fn unsafe_context(&self) -> Option<&'static str> {
        if self.heredoc.is_some() || self.in_delimiter {
            return Some("in a here-document");
        }
        if self.comment {
            return Some("in a comment");
        }
        if self.escaped {
            return Some("right after a `\\`, which would unquote its value");
        }
        Some(match self.stack.last()? {
            Quote::Single => "inside single quotes",
            Quote::Double => "inside double quotes",
            Quote::Backquote => "inside backquotes",
            Quote::Command(_) => "inside `$(...)`",
            Quote::Parameter => "inside `${...}`",
            Quote::Arithmetic(_) => "inside `$((...))`",
        })
    }

    /// A substituted value: one quoted word, no characters the lexer needs to see.
    fn value(&mut self) {
        self.escaped = false;
        self.in_delimiter = false;
        self.at_word_start = false;
        self.started = true;
        if let Some((_, _, line)) = self.heredoc.as_mut() {
            line.push('\0');
        }
    }

    fn step(&mut self, c: char, rest: &[Token<'_>]) {
        let word_start = !self.started || self.at_word_start;
        self.in_delimiter = false;
        self.started = true;
        self.at_word_start = c.is_whitespace() || ";&|()<>".contains(c);
        if let Some((strip, delimiter, line)) = self.heredoc.as_mut() {
            if c == '\n' {
                let body = if *strip { line.trim_start_matches('\t') } else { line.as_str() };
                if body == delimiter {
                    self.heredoc = None;
                    self.start_heredoc();
                } else {
                    line.clear();
                }
            } else {
                line.push(c);
            }
            return;
        }
        if self.skip > 0 {
            self.skip -= 1;
            if self.skip == 0 {
                self.in_delimiter = std::mem::take(&mut self.delimiter_next);
            }
            return;
        }
        if self.comment {
            if c == '\n' {
                self.comment = false;
                self.start_heredoc();
            }
            return;
        }
        if std::mem::take(&mut self.escaped) {
            return;
        }
        let next = |n: usize| match rest.get(n) {
            Some(Token::Char(c)) => Some(*c),
            _ => None,
        };
        match (self.stack.last().copied(), c) {
            (Some(Quote::Single), '\'') => {
                self.stack.pop();
            }
            (Some(Quote::Single), _) => {}
            (Some(Quote::Double), '"') => {
                self.stack.pop();
            }
            (Some(Quote::Parameter), '}') => {
                self.stack.pop();
            }
            (Some(Quote::Backquote), '`') => {
                self.stack.pop();
            }
            (Some(Quote::Arithmetic(0)), ')') if next(0) == Some(')') => {
                self.stack.pop();
                self.skip = 1;
            }
            (Some(Quote::Command(0)), ')') => {
                self.stack.pop();
            }
            (Some(Quote::Command(d) | Quote::Arithmetic(d)), '(' | ')') => {
                let d = if c == '(' { d + 1 } else { d.saturating_sub(1) };
                let top = self.stack.last_mut().expect("matched Some");
                *top = if matches!(top, Quote::Command(_)) { Quote::Command(d) } else { Quote::Arithmetic(d) };
            }
            (_, '\\') => self.escaped = true,
            (_, '$') if next(0) == Some('(') && next(1) == Some('(') => {
                self.stack.push(Quote::Arithmetic(0));
                self.skip = 2;
            }
            (_, '$') if next(0) == Some('(') => {
                self.stack.push(Quote::Command(0));
                self.skip = 1;
            }
            (_, '$') if next(0) == Some('{') => {
                self.stack.push(Quote::Parameter);
                self.skip = 1;
            }
            (_, '`') => self.stack.push(Quote::Backquote),
            (Some(Quote::Double), _) => {}
            (_, '"') => self.stack.push(Quote::Double),
            (_, '\'') => self.stack.push(Quote::Single),
            (_, '#') if word_start => self.comment = true,
            (_, '<') if next(0) == Some('<') && next(1) != Some('<') => self.here_document(rest),
            (None, '\n') => self.start_heredoc(),
            _ => {}
        }
    }

    /// Reads the delimiter of a `<<` / `<<-` operator (quotes removed) from `rest`.
    fn here_document(&mut self, rest: &[Token<'_>]) {
        let mut i = 1;
        let strip = matches!(rest.get(i), Some(Token::Char('-')));
        i += usize::from(strip);
        while matches!(rest.get(i), Some(Token::Char(' ' | '\t'))) {
            i += 1;
        }
        let mut word = String::new();
        while let Some(Token::Char(c)) = rest.get(i) {
            if c.is_whitespace() || ";&|()<>".contains(*c) {
                break;
            }
            if !matches!(c, '\'' | '"' | '\\') {
                word.push(*c);
            }
            i += 1;
        }
        if matches!(rest.get(i), Some(Token::Placeholder(..))) {
            // A placeholder in the delimiter: refused, and the body never ends.
            word.push('\0');
            self.delimiter_next = true;
        }
        self.pending.push((strip, word));
        self.skip = i;
    }

    /// At the end of a command line: the first pending here-document body begins.
    fn start_heredoc(&mut self) {
        if !self.pending.is_empty() {
            let (strip, word) = self.pending.remove(0);
            self.heredoc = Some((strip, word, String::new()));
        }
    }
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

    /// The problem messages' contexts for `template`, in order.
    fn contexts(template: &str) -> Vec<String> {
        check_shell_context(template)
            .into_iter()
            .map(|e| e.message.split(':').next().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn placeholders_standing_as_words_are_accepted() {
        for ok in [
            "lbctl drain {host.name}",
            "echo {host.name} {window.name}",
            "curl -H X:{host.name} --user={host.user} {host.address}:{host.port}",
            "a=$(hostname) && test \"$a\" = {host.name}",
            "echo \\\"{host.name}\\\"",
            "echo '{{literal}}' {host.name}",
            "cat <<EOF > {host.name}.txt\nbody\nEOF\necho {host.name}",
            "echo x # {{not a placeholder}}\necho {host.name}",
            "echo a#b{host.name}",
        ] {
            assert_eq!(check_shell_context(ok), vec![], "{ok}");
        }
    }

    #[test]
    fn placeholders_inside_quoting_are_refused_with_their_context() {
        for (bad, context) in [
            ("echo \"on {host.name}\"", "`{host.name}` is inside double quotes"),
            ("echo 'on {host.name}'", "`{host.name}` is inside single quotes"),
            ("echo `echo {host.name}`", "`{host.name}` is inside backquotes"),
            ("echo $(echo {host.name})", "`{host.name}` is inside `$(...)`"),
            ("echo \"$(echo {host.name})\"", "`{host.name}` is inside `$(...)`"),
            ("echo ${{X:-{host.name}}}", "`{host.name}` is inside `${...}`"),
            ("echo $(({host.port} + 1))", "`{host.port}` is inside `$((...))`"),
            ("echo \\{host.name}", "`{host.name}` is right after a `\\`, which would unquote its value"),
            ("cat <<EOF\n{host.name}\nEOF", "`{host.name}` is in a here-document"),
            ("cat <<-'EOF'\n\t{host.name}\n\tEOF", "`{host.name}` is in a here-document"),
            ("cat <<{host.name}\nx\n", "`{host.name}` is in a here-document"),
            ("true # {host.name}", "`{host.name}` is in a comment"),
        ] {
            assert_eq!(contexts(bad), vec![context.to_string()], "{bad}");
        }
        // Each placeholder is judged where it stands.
        let errs = check_shell_context("echo {host.name} \"{window.name}\" {step.name}");
        assert_eq!(errs.iter().map(|e| e.range.clone()).collect::<Vec<_>>(), vec![18..31]);
        assert!(errs[0].message.ends_with(
            "drop the quotes around it, values are already quoted for the shell (docs/runbook.md, \"Placeholders\")"
        ));
    }

    #[test]
    fn lists_used_placeholders() {
        let names: Vec<_> = used("{host.user}@{host.address} {bogus}").into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["host.user", "host.address"]);
    }
}
