//! Ansible INI inventories (`hosts`, `inventory.ini`), read the way `ansible-inventory` reads
//! them, so a team can point patchdeck at the inventory it already maintains.
//!
//! Supported: ungrouped hosts before the first section, `[group]`, `[group:vars]`,
//! `[group:children]`, `[all:vars]`, host lines `name[:port] key=value key="quoted value"`,
//! full-line comments (`#`, `;`) and trailing `#` comments on host lines, host ranges
//! (`web[01:03].example.com`, `db-[a:c]`, `node[1:9:2]`).
//!
//! Decisions where Ansible gives a choice:
//! - `[x:children]` naming a group that no section defines is an **error**, as in
//!   `ansible-inventory` since 2.4 (its default `unresolved reference` behaviour): a typo in
//!   a group name would otherwise silently drop hosts from a maintenance window.
//!   `[x:vars]` for a group defined nowhere is an error for the same reason.
//! - Values in `[group:vars]` are the rest of the line after `=`, with one pair of
//!   surrounding quotes removed; like Ansible, a trailing `# comment` there is part of the
//!   value (and then usually fails validation, which is the point).
//! - IPv6 addresses cannot be written as bracketed host names (brackets are ranges); write
//!   `name ansible_host=2001:db8::7` instead.
//!
//! The second half of this file is Ansible's group model (groups, children, variable
//! precedence, mapping of `ansible_*` variables onto [`Host`]); the YAML parser shares it so
//! both formats give identical hosts.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::ssh_config::check_argv_word;
use super::{Host, HostOrigin, Inventory};
use crate::diag::{Diagnostic, Diagnostics, SourceFile};

/// Parses an Ansible INI inventory; all problems of the file are reported together.
pub fn parse(src: &SourceFile) -> Result<Inventory, Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut model = Model::new();
    // `all` and `ungrouped` always exist in Ansible.
    let mut defined: HashSet<usize> = [ALL, UNGROUPED].into();
    let mut vars_sections: Vec<(usize, Range<usize>)> = Vec::new();
    let mut children_refs: Vec<(usize, String, Range<usize>)> = Vec::new();
    let mut section = Section::Hosts(UNGROUPED);

    let mut line_start = 0;
    for raw in src.text.split_inclusive('\n') {
        let base = line_start;
        line_start += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start();
        let start = base + (line.len() - trimmed.len());
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let result = if trimmed.starts_with('[') {
            parse_section_header(src, trimmed, start, &mut model).map(|s| {
                match s {
                    Section::Hosts(g) | Section::Children(g) => {
                        defined.insert(g);
                    }
                    Section::Vars(g) => vars_sections.push((g, start..start + trimmed.len())),
                }
                section = s;
            })
        } else {
            match section {
                Section::Hosts(g) => parse_host_line(src, trimmed, start, g, &mut model, &mut diags),
                Section::Vars(g) => parse_var_line(src, trimmed, start).map(|(key, var)| {
                    if let Some(d) = check_var(src, &key, &var) {
                        diags.push(d);
                    }
                    model.set_group_var(g, &key, var);
                }),
                Section::Children(g) => parse_child_line(src, trimmed, start).map(|(name, span)| {
                    children_refs.push((g, name, span));
                }),
            }
        };
        if let Err(d) = result {
            diags.push(d);
        }
    }

    for (parent, child, span) in children_refs {
        let parent_name = model.group_name(parent).to_string();
        match model.find_group(&child) {
            Some(c) if defined.contains(&c) => {
                if let Err(msg) = model.add_child(parent, c) {
                    diags.push(src.error(span, msg));
                }
            }
            _ => diags.push(
                src.error(span, format!("[{parent_name}:children] includes undefined group `{child}`")).with_help(
                    format!(
                        "add a [{child}] section (it may be empty) or fix the group name; Ansible refuses this too"
                    ),
                ),
            ),
        }
    }
    for (g, span) in vars_sections {
        if !defined.contains(&g) {
            let name = model.group_name(g);
            diags.push(
                src.error(span, format!("[{name}:vars] is for group `{name}`, which no section defines"))
                    .with_help(format!("add a [{name}] section or fix the group name")),
            );
        }
    }

    let hosts = model.into_hosts(src);
    diags.into_result(Inventory { hosts })
}

/// The kind of lines that follow a section header.
#[derive(Clone, Copy)]
enum Section {
    Hosts(usize),
    Vars(usize),
    Children(usize),
}

fn parse_section_header(src: &SourceFile, line: &str, start: usize, model: &mut Model) -> Result<Section, Diagnostic> {
    let Some(close) = line.find(']') else {
        return Err(src.error(start..start + line.len(), "unclosed '[' in section header: expected `[group]`"));
    };
    let rest = line[close + 1..].trim_start();
    if !(rest.is_empty() || rest.starts_with('#') || rest.starts_with(';')) {
        let at = start + line.len() - rest.len();
        return Err(src.error(at..start + line.len(), "unexpected text after section header"));
    }
    let inner = &line[1..close];
    let (name, kind) = match inner.split_once(':') {
        Some((name, kind)) => (name, Some(kind)),
        None => (inner, None),
    };
    let name_span = start + 1..start + 1 + name.len();
    if let Err(problem) = super::names::identifier("group name", name) {
        return Err(src.error(name_span, problem));
    }
    let g = model.group(name);
    match kind {
        None | Some("hosts") => Ok(Section::Hosts(g)),
        Some("vars") => Ok(Section::Vars(g)),
        Some("children") => Ok(Section::Children(g)),
        Some(other) => {
            let at = name_span.end + 1;
            Err(src.error(
                at..at + other.len().max(1),
                format!("section [{inner}] has unknown type `{other}`: expected `vars` or `children`"),
            ))
        }
    }
}

fn parse_host_line(
    src: &SourceFile,
    line: &str,
    start: usize,
    group: usize,
    model: &mut Model,
    diags: &mut Diagnostics,
) -> Result<(), Diagnostic> {
    let tokens = tokenize(line).map_err(|(msg, r)| src.error(start + r.start..start + r.end, msg))?;
    let Some((pattern, vars)) = tokens.split_first() else { return Ok(()) };
    let mut parsed = Vec::new();
    for t in vars {
        let span = start + t.span.start..start + t.span.end;
        let Some((key, value)) = t.text.split_once('=') else {
            diags.push(src.error(span, format!("expected key=value after the host name, got {:?}", t.text)));
            continue;
        };
        if key.is_empty() {
            diags.push(src.error(span, "variable name missing before '='"));
            continue;
        }
        // The value starts after `key=` in the raw text (quotes, if any, stay inside the span).
        let var = Var { value: value.to_string(), span: (span.start + key.len() + 1).min(span.end)..span.end };
        if let Some(d) = check_var(src, key, &var) {
            diags.push(d);
        }
        parsed.push((key.to_string(), var));
    }
    let pattern_span = start + pattern.span.start..start + pattern.span.end;
    let hosts = declare_hosts(src, model, &pattern.text, pattern_span, group)?;
    for h in hosts {
        for (key, var) in &parsed {
            model.set_host_var(h, key, var.clone());
        }
    }
    Ok(())
}

fn parse_var_line(src: &SourceFile, line: &str, start: usize) -> Result<(String, Var), Diagnostic> {
    let line = line.trim_end();
    let Some((key, value)) = line.split_once('=') else {
        return Err(src.error(start..start + line.len(), "expected key=value in a [group:vars] section"));
    };
    let key_text = key.trim_end();
    if key_text.is_empty() || key_text.contains(char::is_whitespace) {
        return Err(src.error(start..start + key.len(), format!("invalid variable name {key_text:?}")));
    }
    let value_trimmed = value.trim_start();
    let value_start = start + key.len() + 1 + (value.len() - value_trimmed.len());
    let unquoted = strip_quotes(value_trimmed);
    Ok((
        key_text.to_string(),
        Var { value: unquoted.to_string(), span: value_start..value_start + value_trimmed.len() },
    ))
}

/// One pair of matching surrounding quotes is removed (Ansible evaluates the value as a
/// Python literal, which does the same for plain strings).
fn strip_quotes(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

fn parse_child_line(src: &SourceFile, line: &str, start: usize) -> Result<(String, Range<usize>), Diagnostic> {
    let tokens = tokenize(line).map_err(|(msg, r)| src.error(start + r.start..start + r.end, msg))?;
    match tokens.as_slice() {
        [child] => Ok((child.text.clone(), start + child.span.start..start + child.span.end)),
        [_, extra, ..] => Err(src.error(
            start + extra.span.start..start + line.trim_end().len(),
            "expected one group name per line in a [group:children] section",
        )),
        [] => unreachable!("blank and comment lines are skipped before"),
    }
}

/// A shell-like word of a host line: quotes removed, with its byte span in the line.
#[derive(Debug)]
struct Token {
    text: String,
    span: Range<usize>,
}

/// Splits a host line like Python's `shlex.split(line, comments=True)`, as Ansible does:
/// whitespace separates words, `'…'` and `"…"` group, `\` escapes, `#` starts a comment.
fn tokenize(line: &str) -> Result<Vec<Token>, (String, Range<usize>)> {
    let mut tokens = Vec::new();
    let mut current: Option<(String, usize)> = None;
    let mut quote: Option<(char, usize)> = None;
    let mut chars = line.char_indices().peekable();
    let mut end = line.len();
    while let Some((i, c)) = chars.next() {
        if let Some((q, _)) = quote {
            let word = &mut current.as_mut().expect("a quote is inside a word").0;
            if c == q {
                quote = None;
            } else if q == '"' && c == '\\' && matches!(chars.peek(), Some((_, '"' | '\\'))) {
                word.push(chars.next().expect("peeked").1);
            } else {
                word.push(c);
            }
            continue;
        }
        match c {
            c if c.is_whitespace() => {
                if let Some((text, s)) = current.take() {
                    tokens.push(Token { text, span: s..i });
                }
            }
            '#' => {
                end = i;
                break;
            }
            '\'' | '"' => {
                current.get_or_insert_with(|| (String::new(), i));
                quote = Some((c, i));
            }
            '\\' => {
                let word = &mut current.get_or_insert_with(|| (String::new(), i)).0;
                if let Some((_, next)) = chars.next() {
                    word.push(next);
                }
            }
            c => current.get_or_insert_with(|| (String::new(), i)).0.push(c),
        }
    }
    if let Some((q, at)) = quote {
        return Err((format!("unclosed {q} quote"), at..line.len()));
    }
    if let Some((text, s)) = current {
        tokens.push(Token { text, span: s..end.max(s) });
    }
    Ok(tokens)
}

// ---------------------------------------------------------------------------------------
// Ansible's group model, shared with the YAML parser.
// ---------------------------------------------------------------------------------------

/// Index of the implicit `all` group.
pub(crate) const ALL: usize = 0;
/// Index of the implicit `ungrouped` group.
pub(crate) const UNGROUPED: usize = 1;

/// Largest number of hosts one range pattern may produce: `web[0:999999]` is a typo, not a
/// fleet, and must not exhaust memory.
pub(crate) const MAX_RANGE_HOSTS: usize = 4096;

/// A variable's value as written, with where the value is, so a bad value points at itself
/// even when it came from a group several levels up.
#[derive(Debug, Clone)]
pub(crate) struct Var {
    pub value: String,
    pub span: Range<usize>,
}

struct Group {
    name: String,
    vars: Vec<(String, Var)>,
    parents: Vec<usize>,
}

struct HostDecl {
    name: String,
    span: Range<usize>,
    groups: Vec<usize>,
    vars: Vec<(String, Var)>,
}

/// Groups and hosts as declared, before precedence is applied.
pub(crate) struct Model {
    groups: Vec<Group>,
    group_ix: HashMap<String, usize>,
    hosts: Vec<HostDecl>,
    host_ix: HashMap<String, usize>,
}

impl Model {
    pub(crate) fn new() -> Self {
        let mut m = Self { groups: Vec::new(), group_ix: HashMap::new(), hosts: Vec::new(), host_ix: HashMap::new() };
        m.group("all");
        m.group("ungrouped");
        m
    }

    /// The group's index, creating it on first mention.
    pub(crate) fn group(&mut self, name: &str) -> usize {
        if let Some(&g) = self.group_ix.get(name) {
            return g;
        }
        self.groups.push(Group { name: name.to_string(), vars: Vec::new(), parents: Vec::new() });
        self.group_ix.insert(name.to_string(), self.groups.len() - 1);
        self.groups.len() - 1
    }

    pub(crate) fn find_group(&self, name: &str) -> Option<usize> {
        self.group_ix.get(name).copied()
    }

    pub(crate) fn group_name(&self, g: usize) -> &str {
        &self.groups[g].name
    }

    /// Declares `name` as a member of `group`. A host seen again (in another group) stays
    /// one host; the span of its first mention is kept.
    pub(crate) fn add_host(&mut self, name: &str, span: Range<usize>, group: usize) -> usize {
        let h = match self.host_ix.get(name) {
            Some(&h) => h,
            None => {
                self.hosts.push(HostDecl { name: name.to_string(), span, groups: Vec::new(), vars: Vec::new() });
                self.host_ix.insert(name.to_string(), self.hosts.len() - 1);
                self.hosts.len() - 1
            }
        };
        if group != ALL && !self.hosts[h].groups.contains(&group) {
            self.hosts[h].groups.push(group);
        }
        h
    }

    pub(crate) fn set_host_var(&mut self, h: usize, key: &str, var: Var) {
        set(&mut self.hosts[h].vars, key, var);
    }

    pub(crate) fn set_group_var(&mut self, g: usize, key: &str, var: Var) {
        set(&mut self.groups[g].vars, key, var);
    }

    /// Makes `child` a child of `parent`, refusing loops (Ansible refuses them too).
    pub(crate) fn add_child(&mut self, parent: usize, child: usize) -> Result<(), String> {
        if child == ALL || child == parent || self.ancestors(parent).contains(&child) {
            return Err(format!(
                "group `{}` cannot be a child of `{}`: that would make a group its own ancestor",
                self.groups[child].name, self.groups[parent].name
            ));
        }
        if !self.groups[child].parents.contains(&parent) {
            self.groups[child].parents.push(parent);
        }
        Ok(())
    }

    /// All groups above `g` (not `g` itself), `all` included.
    fn ancestors(&self, g: usize) -> HashSet<usize> {
        let mut seen = HashSet::from([ALL]);
        let mut stack = self.groups[g].parents.clone();
        while let Some(p) = stack.pop() {
            if seen.insert(p) {
                stack.extend(self.groups[p].parents.iter().copied());
            }
        }
        seen.remove(&g);
        seen
    }

    /// Ansible's group depth: `all` is 0, a top-level group 1, a child one more than its
    /// deepest parent. Deeper groups are more specific, so their vars win.
    fn depth(&self, g: usize, memo: &mut HashMap<usize, usize>) -> usize {
        if g == ALL {
            return 0;
        }
        if let Some(&d) = memo.get(&g) {
            return d;
        }
        let d = 1 + self.groups[g].parents.iter().map(|&p| self.depth(p, memo)).max().unwrap_or(0);
        memo.insert(g, d);
        d
    }

    /// Applies precedence and maps variables onto hosts, in order of first mention.
    ///
    /// Precedence follows Ansible: `all` vars, then each group the host is in (directly or
    /// through children) ordered by depth and then name, then the host's own vars; later
    /// wins. Tags are the host's groups (except `all`/`ungrouped`) sorted by name, so INI and
    /// YAML forms of one inventory give identical hosts.
    /// Bad values were already reported by [`check_var`] where they were written.
    pub(crate) fn into_hosts(self, src: &SourceFile) -> Vec<(Host, HostOrigin)> {
        let mut memo = HashMap::new();
        let mut out = Vec::with_capacity(self.hosts.len());
        for decl in &self.hosts {
            let mut groups: HashSet<usize> = HashSet::from([ALL]);
            for &g in &decl.groups {
                groups.insert(g);
                groups.extend(self.ancestors(g));
            }
            let mut tags: Vec<String> =
                groups.iter().filter(|&&g| g != ALL && g != UNGROUPED).map(|&g| self.groups[g].name.clone()).collect();
            tags.sort_unstable();

            let mut ordered: Vec<usize> = groups.into_iter().collect();
            ordered.sort_by_cached_key(|&g| (self.depth(g, &mut memo), self.groups[g].name.clone()));
            let mut vars: Vec<(String, Var)> = Vec::new();
            for g in ordered {
                for (k, v) in &self.groups[g].vars {
                    set(&mut vars, k, v.clone());
                }
            }
            for (k, v) in &decl.vars {
                set(&mut vars, k, v.clone());
            }

            let mut host = Host::named(decl.name.clone());
            host.tags = tags;
            for (k, v) in &vars {
                let _ = apply_var(&mut host, k, &v.value);
            }
            out.push((host, HostOrigin { file: src.path.clone(), span: decl.span.clone() }));
        }
        out
    }
}

/// Legacy spellings Ansible still honours, folded onto the names patchdeck maps.
fn canonical_key(key: &str) -> &str {
    match key {
        "ansible_ssh_host" => "ansible_host",
        "ansible_ssh_user" => "ansible_user",
        "ansible_ssh_port" => "ansible_port",
        "ansible_private_key_file" => "ansible_ssh_private_key_file",
        "ansible_ssh_pass" => "ansible_password",
        "ansible_become_pass" | "ansible_sudo_pass" | "ansible_sudo_password" => "ansible_become_password",
        "ansible_ssh_host_key_checking" => "ansible_host_key_checking",
        k => k,
    }
}

fn set(vars: &mut Vec<(String, Var)>, key: &str, var: Var) {
    let key = canonical_key(key);
    match vars.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = var,
        None => vars.push((key.to_string(), var)),
    }
}

/// Checks a variable where it is written, so an error is reported once, at its value,
/// whether or not any host ends up using it.
pub(crate) fn check_var(src: &SourceFile, key: &str, var: &Var) -> Option<Diagnostic> {
    apply_var(&mut Host::named("check"), canonical_key(key), &var.value)
        .err()
        .map(|msg| src.error(var.span.clone(), msg))
}

/// The connection variables patchdeck reads: each is honoured or refused, never dropped
/// (so each must be a single value). Every other variable is Ansible's business.
const CONNECTION_VARS: [&str; 15] = [
    "ansible_host",
    "ansible_user",
    "ansible_port",
    "ansible_become",
    "ansible_become_method",
    "ansible_become_user",
    "ansible_become_password",
    "ansible_connection",
    "ansible_password",
    "ansible_ssh_private_key_file",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_ssh_executable",
    "ansible_host_key_checking",
    "patchdeck_weight",
];

/// Whether patchdeck reads this variable (so it must be a single, valid value).
pub(crate) fn is_mapped(key: &str) -> bool {
    CONNECTION_VARS.contains(&canonical_key(key))
}

/// Maps the connection variables onto the host (honoured) or says why one cannot be
/// (refused); all others are Ansible's business and ignored. See docs/runbook.md.
fn apply_var(host: &mut Host, key: &str, value: &str) -> Result<(), String> {
    match key {
        "ansible_host" => {
            check_argv_word(value).map_err(|r| format!("ansible_host {value:?} is not a safe address: {r}"))?;
            host.address = value.to_string();
        }
        "ansible_user" => {
            super::names::identifier("ansible_user", value)?;
            host.user = Some(value.to_string());
        }
        "ansible_port" => host.port = Some(parse_port(value).map_err(|m| format!("ansible_port: {m}"))?),
        "ansible_become" => {
            host.sudo = parse_bool(value)
                .ok_or_else(|| format!("ansible_become must be true or false (yes/no, 1/0), got {value:?}"))?
        }
        "ansible_become_method" if value == "sudo" => {}
        "ansible_become_method" => {
            return Err(format!(
                "ansible_become_method {value:?} is not supported: patchdeck becomes root only through `sudo -n`"
            ));
        }
        "ansible_become_user" if value == "root" => {}
        "ansible_become_user" => {
            return Err(format!("ansible_become_user {value:?} is not supported: patchdeck becomes root or no one"));
        }
        "ansible_connection" if matches!(value, "ssh" | "smart" | "paramiko") => {}
        "ansible_connection" => {
            return Err(format!(
                "ansible_connection {value:?} is not supported: patchdeck reaches every host over ssh"
            ));
        }
        "ansible_password" | "ansible_become_password" => {
            return Err(format!(
                "{key} is not supported: patchdeck never types passwords; use ssh keys (or an agent) and passwordless sudo"
            ));
        }
        "ansible_ssh_private_key_file" => {
            if value.is_empty() || value.starts_with('-') || value.chars().any(crate::safe_text::is_hidden) {
                return Err(format!("ansible_ssh_private_key_file {value:?} is not a usable path"));
            }
            host.identity_file = Some(value.into());
        }
        "ansible_ssh_common_args" | "ansible_ssh_extra_args" => {
            if let Some(jump) = ssh_args(key, value)? {
                host.jump_hosts = jump;
            }
        }
        "ansible_ssh_executable" => {
            return Err(format!(
                "ansible_ssh_executable is not supported: patchdeck runs the `ssh` on PATH, got {value:?}"
            ));
        }
        "ansible_host_key_checking" if parse_bool(value) == Some(true) => {}
        "ansible_host_key_checking" => {
            return Err(format!(
                "ansible_host_key_checking {value:?}: patchdeck always checks host keys; add the keys to known_hosts instead"
            ));
        }
        "patchdeck_weight" => {
            host.weight = value
                .parse()
                .map_err(|_| format!("patchdeck_weight must be a whole number (0 or more), got {value:?}"))?
        }
        _ => {}
    }
    Ok(())
}

/// The jump hosts in `ansible_ssh_common_args` / `ansible_ssh_extra_args`: the only ssh
/// options patchdeck passes on from an inventory, as separate, checked arguments
/// (`-J HOST[,HOST]`, `-o ProxyJump=HOST`). Any other option is refused rather than
/// dropped: it belongs in ssh_config, which patchdeck's ssh reads.
fn ssh_args(key: &str, value: &str) -> Result<Option<Vec<String>>, String> {
    let refuse = |what: &str| {
        format!(
            "{key}: {what}; patchdeck passes on only `-J HOST` or `-o ProxyJump=HOST` from an inventory \
             (set other ssh options in ssh_config: the runbook's `[inventory] ssh_config` or --ssh-config)"
        )
    };
    let words = shlex::split(value).ok_or_else(|| refuse("unbalanced quotes"))?;
    let mut jump = None;
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let hosts = if let Some(rest) = word.strip_prefix("-J") {
            if rest.is_empty() { words.next().cloned() } else { Some(rest.to_string()) }
        } else if let Some(rest) = word.strip_prefix("-o") {
            let option = if rest.is_empty() { words.next().cloned().unwrap_or_default() } else { rest.to_string() };
            let (name, arg) = option.split_once(['=', ' ']).unwrap_or((option.as_str(), ""));
            if !name.eq_ignore_ascii_case("proxyjump") {
                return Err(refuse(&format!("the option `-o {option}` is not passed on")));
            }
            Some(arg.trim().to_string())
        } else {
            return Err(refuse(&format!("`{word}` is not passed on")));
        };
        let hosts = hosts.filter(|h| !h.is_empty()).ok_or_else(|| refuse("a jump host is missing"))?;
        let list: Vec<String> = hosts.split(',').map(str::to_string).collect();
        for h in &list {
            check_argv_word(h).map_err(|r| refuse(&format!("jump host {h:?} is unsafe: {r}")))?;
        }
        jump = Some(list);
    }
    Ok(jump)
}

pub(crate) fn parse_port(value: &str) -> Result<u16, String> {
    match value.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("port must be a number from 1 to 65535, got {value:?}")),
    }
}

/// Ansible's boolean spellings (`ansible.module_utils.parsing.convert_bool`).
fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" | "1" | "t" => Some(true),
        "false" | "no" | "n" | "off" | "0" | "f" => Some(false),
        _ => None,
    }
}

/// Declares the hosts of one host pattern (`web[01:03].example.com:2222`) in `group`.
///
/// `span` is where the pattern is written; every host of a range shares it. Errors point
/// into the pattern (the bad range, the bad port) when the written text is the pattern.
pub(crate) fn declare_hosts(
    src: &SourceFile,
    model: &mut Model,
    pattern: &str,
    span: Range<usize>,
    group: usize,
) -> Result<Vec<usize>, Diagnostic> {
    // Offsets inside the pattern map onto the file only if it was written verbatim.
    let verbatim = src.text.get(span.clone()) == Some(pattern);
    let at = |r: Range<usize>| if verbatim { span.start + r.start..span.start + r.end } else { span.clone() };
    let (names_part, port) = split_port(pattern);
    let port = match port {
        Some((text, offset)) => {
            Some(parse_port(text).map_err(|m| src.error(at(offset..offset + text.len().max(1)), format!("host {m}")))?)
        }
        None => None,
    };
    let names = expand_ranges(names_part).map_err(|(msg, r)| src.error(at(r), msg))?;
    let name_span = if verbatim { span.start..span.start + names_part.len() } else { span.clone() };
    if let Some(problem) = names.iter().find_map(|n| super::names::host_name("host name", n).err()) {
        return Err(src.error(name_span, problem));
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let h = model.add_host(&name, name_span.clone(), group);
        if let Some(p) = port {
            // Like Ansible, `host:port` sets ansible_port; a later ansible_port= wins.
            model.set_host_var(h, "ansible_port", Var { value: p.to_string(), span: span.clone() });
        }
        out.push(h);
    }
    Ok(out)
}

/// Splits `name:port`. Only a single `:` outside brackets marks a port: several colons are
/// an IPv6 address, and colons inside brackets belong to ranges.
fn split_port(pattern: &str) -> (&str, Option<(&str, usize)>) {
    let mut depth = 0usize;
    let mut colons = Vec::new();
    for (i, c) in pattern.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => colons.push(i),
            _ => {}
        }
    }
    match colons.as_slice() {
        [i] => (&pattern[..*i], Some((&pattern[i + 1..], i + 1))),
        _ => (pattern, None),
    }
}

/// Expands Ansible host ranges: `[01:03]` (zero padding kept), `[a:c]`, `[1:9:2]`, several
/// per pattern. Errors carry the byte range of the offending bracket inside `pattern`.
fn expand_ranges(pattern: &str) -> Result<Vec<String>, (String, Range<usize>)> {
    let Some(open) = pattern.find('[') else {
        if let Some(close) = pattern.find(']') {
            return Err(("unmatched ']' in host pattern".to_string(), close..close + 1));
        }
        return Ok(vec![pattern.to_string()]);
    };
    let Some(close) = pattern[open..].find(']').map(|i| open + i) else {
        return Err(("unclosed '[' in host range".to_string(), open..pattern.len()));
    };
    let head = &pattern[..open];
    if let Some(stray) = head.find(']') {
        return Err(("unmatched ']' in host pattern".to_string(), stray..stray + 1));
    }
    let bracket = open..close + 1;
    let values = range_values(&pattern[open + 1..close]).map_err(|m| (m, bracket.clone()))?;
    let tails = expand_ranges(&pattern[close + 1..]).map_err(|(m, r)| (m, close + 1 + r.start..close + 1 + r.end))?;
    let total = values.len().saturating_mul(tails.len());
    if total > MAX_RANGE_HOSTS {
        return Err((format!("host range expands to {total} hosts; at most {MAX_RANGE_HOSTS} are allowed"), bracket));
    }
    Ok(values.iter().flat_map(|v| tails.iter().map(move |t| format!("{head}{v}{t}"))).collect())
}

fn range_values(inner: &str) -> Result<Vec<String>, String> {
    const SHAPE: &str = "host range must look like [01:20], [a:f] or [1:20:2]";
    let parts: Vec<&str> = inner.split(':').collect();
    let (beg, end, step) = match parts.as_slice() {
        [b, e] => (*b, *e, 1),
        [b, e, s] => {
            let step = s.parse::<usize>().ok().filter(|&s| s > 0);
            (*b, *e, step.ok_or_else(|| format!("host range step must be a positive number, got {s:?}"))?)
        }
        _ => return Err(SHAPE.to_string()),
    };
    if end.is_empty() {
        return Err(format!("host range [{inner}] has no end"));
    }
    let beg = if beg.is_empty() { "0" } else { beg };
    const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    if beg.len() == 1 && end.len() == 1 && LETTERS.contains(beg) && LETTERS.contains(end) {
        let (b, e) = (LETTERS.find(beg).expect("checked"), LETTERS.find(end).expect("checked"));
        if b > e {
            return Err(format!("host range [{inner}] starts after it ends"));
        }
        return Ok((b..=e).step_by(step).map(|i| LETTERS[i..i + 1].to_string()).collect());
    }
    if !(beg.bytes().all(|b| b.is_ascii_digit()) && end.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("host range [{inner}] must be numeric ([01:20]) or single letters ([a:f])"));
    }
    let width = if beg.len() > 1 && beg.starts_with('0') {
        if beg.len() != end.len() {
            return Err(format!("zero-padded host range [{inner}] needs both ends of the same width"));
        }
        beg.len()
    } else {
        0
    };
    let too_big = || format!("host range [{inner}] is too large");
    let (b, e) = (beg.parse::<u64>().map_err(|_| too_big())?, end.parse::<u64>().map_err(|_| too_big())?);
    if b > e {
        return Err(format!("host range [{inner}] starts after it ends"));
    }
    if (e - b) / step as u64 >= MAX_RANGE_HOSTS as u64 {
        return Err(format!("host range [{inner}] expands to more than {MAX_RANGE_HOSTS} hosts"));
    }
    Ok((b..=e).step_by(step).map(|n| format!("{n:0width$}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_like_ansible() {
        assert_eq!(
            expand_ranges("web[01:03].example.com").unwrap(),
            ["web01.example.com", "web02.example.com", "web03.example.com"]
        );
        assert_eq!(expand_ranges("db-[a:c]").unwrap(), ["db-a", "db-b", "db-c"]);
        assert_eq!(expand_ranges("n[1:7:3]").unwrap(), ["n1", "n4", "n7"]);
        assert_eq!(expand_ranges("r[1:2]-[a:b]").unwrap(), ["r1-a", "r1-b", "r2-a", "r2-b"]);
        assert_eq!(expand_ranges("n[:2]").unwrap(), ["n0", "n1", "n2"]);
        assert_eq!(expand_ranges("plain").unwrap(), ["plain"]);
        assert_eq!(expand_ranges("n[8:10]").unwrap(), ["n8", "n9", "n10"]);
    }

    #[test]
    fn range_errors_point_at_the_bracket() {
        assert_eq!(
            expand_ranges("web[01:3]").unwrap_err(),
            ("zero-padded host range [01:3] needs both ends of the same width".into(), 3..9)
        );
        assert_eq!(
            expand_ranges("web[1:x]").unwrap_err().0,
            "host range [1:x] must be numeric ([01:20]) or single letters ([a:f])"
        );
        assert_eq!(expand_ranges("web[5:1]").unwrap_err().0, "host range [5:1] starts after it ends");
        assert_eq!(expand_ranges("web[1:]").unwrap_err().0, "host range [1:] has no end");
        assert_eq!(expand_ranges("web[1]").unwrap_err().0, "host range must look like [01:20], [a:f] or [1:20:2]");
        assert_eq!(expand_ranges("web[1:3:0]").unwrap_err().0, "host range step must be a positive number, got \"0\"");
        assert_eq!(expand_ranges("web[1:3").unwrap_err(), ("unclosed '[' in host range".into(), 3..7));
        assert_eq!(expand_ranges("web1]").unwrap_err(), ("unmatched ']' in host pattern".into(), 4..5));
        assert_eq!(expand_ranges("a[1:2]b[3:4").unwrap_err(), ("unclosed '[' in host range".into(), 7..11));
        assert!(expand_ranges("n[0:99999999]").unwrap_err().0.contains("more than 4096"));
        assert!(expand_ranges("n[0:99][0:99]").unwrap_err().0.contains("expands to 10000 hosts"));
    }

    #[test]
    fn ports_split_only_on_a_single_colon() {
        assert_eq!(split_port("db1:2222"), ("db1", Some(("2222", 4))));
        assert_eq!(split_port("web[01:03]:22"), ("web[01:03]", Some(("22", 11))));
        assert_eq!(split_port("2001:db8::1"), ("2001:db8::1", None));
        assert_eq!(split_port("web[1:3]"), ("web[1:3]", None));
    }

    #[test]
    fn tokenizer_is_shell_like() {
        let t = tokenize(r#"web1 a=1 b="two words" c='x#y' d=e\ f # comment"#).unwrap();
        let texts: Vec<&str> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["web1", "a=1", "b=two words", "c=x#y", "d=e f"]);
        assert_eq!(t[2].span, 9..22);
        assert_eq!(tokenize(r#"h a="open"#).unwrap_err(), ("unclosed \" quote".to_string(), 4..9));
    }

    #[test]
    fn booleans_and_ports() {
        for t in ["true", "True", "yes", "1", "on"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "False", "no", "0", "off"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_port("2222"), Ok(2222));
        assert!(parse_port("0").is_err());
        assert!(parse_port("65536").is_err());
    }
}
