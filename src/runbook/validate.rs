//! Semantic validation: from the raw runbook (as written) to a [`Runbook`] whose every reference
//! resolves, reporting **all** problems at once, each at the text that causes it.
//!
//! This module does no I/O: [`crate::runbook::load`] reads the files and hands the hosts over
//! as a [`Fleet`].

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::diag::{Diagnostic, Diagnostics, SourceFile};
use crate::inventory::{Host, HostOrigin, Inventory, names};
use crate::runbook::raw::{self, RawCheck, RawRunbook, RawStep, RawWave, Text};
use crate::runbook::{
    BaselineRef, Check, CheckKind, Fingerprint, OnDivergence, Policy, Runbook, Step, StepAction, Wave, Window,
    duration, placeholder,
};

/// The hosts as loaded by [`crate::runbook::load`], with the files they came from.
#[derive(Debug, Default)]
pub struct Fleet {
    /// `None` if the inventory could not be loaded, or its host names are not all known (its
    /// problems are already reported); host references are then not checked, to avoid a
    /// cascade of "unknown host" errors.
    pub inventory: Option<Inventory>,
    /// The inventory had problems (already reported). A `Some` inventory then holds every
    /// declared host by name, but some values may have been dropped (a bad tag, user or
    /// port): it serves to check the names waves use, and no runbook is built from it.
    pub partial: bool,
    /// Texts of the files hosts were declared in, so host problems can point into them.
    pub sources: Vec<SourceFile>,
    pub ssh_config: Option<PathBuf>,
}

/// The hosts as [`Validator::waves`] checks names against them.
#[derive(Clone, Copy)]
struct FleetRef<'a> {
    /// `None`: the host names are unknown, nothing is checked against them.
    hosts: Option<&'a [(Host, HostOrigin)]>,
    /// See [`Fleet::partial`].
    partial: bool,
    sources: &'a [SourceFile],
}

/// A rule for one kind of name: [`names::identifier`] or [`names::label`].
type NameRule = fn(&str, &str) -> Result<(), String>;

/// Default step timeouts: installing packages takes longer than a command.
pub const PACKAGES_TIMEOUT: Duration = Duration::from_secs(10 * 60);
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5 * 60);
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Validates `raw` (from `src`, whose relative paths resolve against `base_dir`).
/// Returns `None` when anything is wrong; every problem is in `diags`.
pub fn validate(
    src: &SourceFile,
    base_dir: &Path,
    raw: RawRunbook,
    fleet: Fleet,
    diags: &mut Diagnostics,
) -> Option<Runbook> {
    let before = diags.len();
    let v = Validator { src, diags, no_user: None, no_port: None };
    v.run(base_dir, raw, fleet, before)
}

struct Validator<'a> {
    src: &'a SourceFile,
    diags: &'a mut Diagnostics,
    /// A host without `user` / `port`, if any: `{host.user}` / `{host.port}` would expand to
    /// nothing on it.
    no_user: Option<String>,
    no_port: Option<String>,
}

impl Validator<'_> {
    fn run(mut self, base_dir: &Path, raw: RawRunbook, fleet: Fleet, before: usize) -> Option<Runbook> {
        let doc_start = raw.span.start..raw.span.start;
        let window = self.window(raw.window, &doc_start);
        let baseline = self.baseline(raw.baseline, &doc_start, base_dir);
        let mut policy = self.policy(raw.policy);
        policy.drift = super::drift::from_raw(self.src, raw.drift, self.diags);
        let fingerprints = self.fingerprints(raw.fingerprints);
        let partial = fleet.partial;
        let hosts = fleet.inventory.map(|inv| self.unique_hosts(inv, &fleet.sources));
        // A partial inventory may have lost a bad `user` or `port`: "has no user" would be wrong.
        if let Some(hosts) = hosts.as_ref().filter(|_| !partial) {
            self.no_user = hosts.iter().find(|(h, _)| h.user.is_none()).map(|(h, _)| h.name.clone());
            self.no_port = hosts.iter().find(|(h, _)| h.port.is_none()).map(|(h, _)| h.name.clone());
        }
        let fleet_ref = FleetRef { hosts: hosts.as_deref(), partial, sources: &fleet.sources };
        let waves = self.waves(raw.waves, raw.waves_span, &doc_start, fleet_ref, baseline.as_ref());
        let steps = self.steps(raw.steps, raw.steps_span, &doc_start);
        let checks = self.checks(raw.checks);
        if self.diags.len() > before || partial {
            return None;
        }
        // A wave without its own `gate` follows the policy: every wave after the first.
        let mut waves = waves;
        for (i, w) in waves.iter_mut().enumerate() {
            if !w.gate_set {
                w.gate = i > 0 && policy.gate_between_waves;
            }
        }
        Some(Runbook {
            path: self.src.path.clone(),
            window: window?,
            hosts: hosts?.into_iter().map(|(h, _)| h).collect(),
            ssh_config: fleet.ssh_config,
            baseline: baseline?,
            policy,
            fingerprints,
            waves,
            steps: steps.into_iter().map(|(s, _)| s).collect(),
            checks: checks.into_iter().map(|(c, _)| c).collect(),
        })
    }

    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diags.push(self.src.error(span, message));
    }

    /// A required key: reports "[section] is missing `key`" at the table when absent.
    fn required<'t, T>(
        &mut self,
        value: &'t Option<Spanned<T>>,
        table: &Range<usize>,
        section: &str,
        key: &str,
        example: &str,
    ) -> Option<&'t Spanned<T>> {
        if value.is_none() {
            self.error(table.clone(), format!("{section} is missing `{key}`: add `{key} = {example}`"));
        }
        value.as_ref()
    }

    fn duration(&mut self, value: &Text, default: Duration) -> Duration {
        match value {
            None => default,
            Some(v) => duration::parse(v.get_ref()).unwrap_or_else(|msg| {
                self.error(v.span(), msg);
                default
            }),
        }
    }

    /// Reports template problems at the placeholder itself, inside the TOML string. A `shell`
    /// template (a command) also has its placeholders' quoting contexts checked.
    fn template(&mut self, value: &Spanned<String>, in_step: bool, shell: bool) {
        let span = value.span();
        let literal = &self.src.text[span.clone()];
        let mut problems = placeholder::check(value.get_ref(), in_step);
        if shell {
            problems.extend(placeholder::check_shell_context(value.get_ref()));
        }
        for (name, range) in placeholder::used(value.get_ref()) {
            let lacking = match name {
                "host.user" => self.no_user.as_ref().map(|h| (h, "user")),
                "host.port" => self.no_port.as_ref().map(|h| (h, "port")),
                _ => None,
            };
            if let Some((host, key)) = lacking {
                let message =
                    format!("`{{{name}}}` is used but host `{host}` has no `{key}`: set `{key}` on every host");
                problems.push(placeholder::PlaceholderError { range, message });
            }
        }
        for e in problems {
            let start = crate::diag::toml::source_offset(literal, e.range.start);
            let end = crate::diag::toml::source_offset(literal, e.range.end - 1);
            let at = match (start, end) {
                (Some(s), Some(e)) => span.start + s..span.start + e + 1,
                _ => span.clone(),
            };
            self.error(at, e.message);
        }
    }

    fn window(&mut self, raw: Option<Spanned<raw::RawWindow>>, doc_start: &Range<usize>) -> Option<Window> {
        let Some(raw) = raw else {
            self.error(
                doc_start.clone(),
                "no [window] section: add [window] with `name`, `starts`, `ends` and `rollback_reserve`",
            );
            return None;
        };
        let table = raw.span();
        let w = raw.into_inner();
        let name = self.required(&w.name, &table, "[window]", "name", "\"...\"");
        let name = name.and_then(|n| self.name(n, "window name", names::identifier));
        let starts = self.required(&w.starts, &table, "[window]", "starts", "\"2026-11-22T22:00:00Z\"");
        let starts = starts.and_then(|s| self.timestamp(s));
        let ends = self.required(&w.ends, &table, "[window]", "ends", "\"2026-11-22T23:30:00Z\"");
        let ends = ends.and_then(|e| self.timestamp(e));
        let reserve = self.required(&w.rollback_reserve, &table, "[window]", "rollback_reserve", "\"20m\"");
        let reserve = reserve.and_then(|r| match duration::parse(r.get_ref()) {
            Ok(d) => Some(d),
            Err(msg) => {
                self.error(r.span(), msg);
                None
            }
        });
        let (starts, ends) = (starts?, ends?);
        if ends <= starts {
            self.error(
                w.ends.as_ref().map_or(table.clone(), |e| e.span()),
                format!("the window ends ({ends}) before it starts ({starts}): `ends` must be after `starts`"),
            );
            return None;
        }
        let reserve = reserve?;
        let length = Duration::try_from(ends.duration_since(starts)).unwrap_or_default();
        if reserve >= length {
            self.error(
                w.rollback_reserve.as_ref().map_or(table, |r| r.span()),
                format!(
                    "rollback reserve ({}) leaves no working time in a {} window: shorten it or widen the window",
                    duration::format(reserve),
                    duration::format(length)
                ),
            );
            return None;
        }
        Some(Window { name: name?, starts, ends, rollback_reserve: reserve })
    }

    fn non_empty(&mut self, value: &Spanned<String>, what: &str) -> Option<String> {
        if value.get_ref().trim().is_empty() {
            self.error(value.span(), format!("{what} is empty"));
            None
        } else {
            Some(value.get_ref().clone())
        }
    }

    /// A name that must follow `rule` (see [`crate::inventory::names`]).
    fn name(&mut self, value: &Spanned<String>, what: &str, rule: NameRule) -> Option<String> {
        match rule(what, value.get_ref()) {
            Ok(()) => Some(value.get_ref().clone()),
            Err(problem) => {
                self.error(value.span(), problem);
                None
            }
        }
    }

    fn timestamp(&mut self, value: &Spanned<String>) -> Option<jiff::Timestamp> {
        match value.get_ref().parse::<jiff::Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                self.error(
                    value.span(),
                    format!(
                        "`{}` is not an RFC 3339 timestamp: write it like \"2026-11-22T22:00:00Z\" (with Z or an offset)",
                        value.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn baseline(
        &mut self,
        raw: Option<Spanned<raw::RawBaseline>>,
        doc_start: &Range<usize>,
        base_dir: &Path,
    ) -> Option<BaselineRef> {
        let Some(raw) = raw else {
            self.error(
                doc_start.clone(),
                "no [baseline] section: add [baseline] with `file` and `host` (the staging host)",
            );
            return None;
        };
        let table = raw.span();
        let b = raw.into_inner();
        let file = self.required(&b.file, &table, "[baseline]", "file", "\"tested.toml\"");
        let file = file.and_then(|f| self.non_empty(f, "baseline file"));
        let host = self.required(&b.host, &table, "[baseline]", "host", "\"staging\"");
        let host = host.and_then(|h| self.name(h, "baseline host", names::identifier));
        Some(BaselineRef { file: base_dir.join(file?), host: host? })
    }

    fn policy(&mut self, raw: Option<Spanned<raw::RawPolicy>>) -> Policy {
        let mut policy = Policy::default();
        let Some(raw) = raw else { return policy };
        let p = raw.into_inner();
        for (value, slot, what) in
            [(&p.change_risk, &mut policy.change_risk, "change_risk"), (&p.max_risk, &mut policy.max_risk, "max_risk")]
        {
            if let Some(v) = value {
                let x = *v.get_ref();
                if (0.0..=1.0).contains(&x) {
                    *slot = x;
                } else {
                    self.diags.push(
                        self.src
                            .error(v.span(), format!("{what} {x} is out of range: it is a probability from 0 to 1")),
                    );
                }
            }
        }
        for (value, slot) in [
            (&p.untested_package, &mut policy.untested_package),
            (&p.version_mismatch, &mut policy.version_mismatch),
            (&p.different_start, &mut policy.different_start),
            (&p.not_pending, &mut policy.not_pending),
            (&p.config_drift, &mut policy.config_drift),
            (&p.rollback_infeasible, &mut policy.rollback_infeasible),
            (&p.held_package, &mut policy.held_package),
        ] {
            if let Some(v) = value {
                match v.get_ref().as_str() {
                    "stop" => *slot = OnDivergence::Stop,
                    "warn" => *slot = OnDivergence::Warn,
                    other => self.diags.push(
                        self.src.error(v.span(), format!("`{other}` is not a reaction: use \"stop\" or \"warn\"")),
                    ),
                }
            }
        }
        if let Some(a) = &p.auto_rollback {
            policy.auto_rollback = *a.get_ref();
        }
        policy.auto_rollback_countdown = self.duration(&p.auto_rollback_countdown, policy.auto_rollback_countdown);
        if let Some(g) = &p.gate_between_waves {
            policy.gate_between_waves = *g.get_ref();
        }
        policy
    }

    fn fingerprints(&mut self, raw: Vec<Spanned<raw::RawFingerprint>>) -> Vec<Fingerprint> {
        let mut out: Vec<Fingerprint> = Vec::new();
        for item in raw {
            let table = item.span();
            let f = item.into_inner();
            let (fp, span) = match (f.path, f.command) {
                (Some(_), Some(c)) => {
                    self.error(c.span(), "a fingerprint has either `path` or `command`, not both: split it in two");
                    continue;
                }
                (None, None) => {
                    self.error(
                        table,
                        "fingerprint without `path` or `command`: add `path = \"/etc/...\"` or `command = \"...\"`",
                    );
                    continue;
                }
                (Some(p), None) => {
                    if !p.get_ref().starts_with('/') {
                        self.error(
                            p.span(),
                            format!(
                                "fingerprint path `{}` is relative: give the absolute path on the host",
                                p.get_ref()
                            ),
                        );
                        continue;
                    }
                    (Fingerprint::Path(p.get_ref().clone()), p.span())
                }
                (None, Some(c)) => match self.non_empty(&c, "fingerprint command") {
                    Some(cmd) => (Fingerprint::Command(cmd), c.span()),
                    None => continue,
                },
            };
            if out.contains(&fp) {
                self.error(span, format!("fingerprint `{}` is listed twice: remove one", fp.label()));
            } else {
                out.push(fp);
            }
        }
        out
    }

    /// The inventory's hosts, minus duplicates (reported at the second declaration).
    fn unique_hosts(&mut self, inventory: Inventory, sources: &[SourceFile]) -> Vec<(Host, HostOrigin)> {
        let mut out: Vec<(Host, HostOrigin)> = Vec::new();
        for (host, origin) in inventory.hosts {
            if let Some((_, first)) = out.iter().find(|(h, _)| h.name == host.name) {
                let line = source_for(self.src, sources, &first.file).map_or(0, |s| s.line_col(first.span.start).0);
                let d = at_origin(
                    self.src,
                    sources,
                    &origin,
                    format!("duplicate host `{}` (first defined on line {line}): host names must be unique", host.name),
                );
                self.diags.push(d);
            } else {
                out.push((host, origin));
            }
        }
        out
    }

    fn waves(
        &mut self,
        raw: Option<Vec<Spanned<RawWave>>>,
        key_span: Option<Range<usize>>,
        doc_start: &Range<usize>,
        fleet: FleetRef<'_>,
        baseline: Option<&BaselineRef>,
    ) -> Vec<Wave> {
        let FleetRef { hosts, partial, sources } = fleet;
        let raw = raw.unwrap_or_default();
        if raw.is_empty() {
            self.error(
                key_span.unwrap_or(doc_start.clone()),
                "no waves: add at least one [[wave]] with `name` and `hosts = [...]`",
            );
            return Vec::new();
        }
        // host name -> wave it was put in
        let mut placed: HashMap<String, String> = HashMap::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::new();
        for item in raw {
            let table = item.span();
            let w = item.into_inner();
            let Some(name) = self.required(&w.name, &table, "[[wave]]", "name", "\"...\"") else { continue };
            // A wave whose name breaks the rule still places its hosts: "host in no wave"
            // would be a second, invented problem. A duplicate wave is skipped whole.
            let named = names::identifier("wave name", name.get_ref()).is_ok();
            let wave_name = if named {
                let Some(n) = self.unique_name(name, &mut names, "wave", names::identifier) else { continue };
                n
            } else {
                self.name(name, "wave name", names::identifier);
                name.get_ref().clone()
            };
            let mut members: Vec<String> = Vec::new();
            let explicit = w.hosts.as_ref().map(|l| l.get_ref().as_slice()).unwrap_or_default();
            let tags = w.tags.as_ref().map(|l| l.get_ref().as_slice()).unwrap_or_default();
            if explicit.is_empty() && tags.is_empty() {
                let at = w.hosts.as_ref().map_or(name.span(), |h| h.span());
                self.error(
                    at,
                    format!("wave `{wave_name}` has no hosts: add `hosts = [\"...\"]` or `tags = [\"...\"]`"),
                );
            }
            let Some(hosts) = hosts else { continue };
            for h in explicit {
                if !hosts.iter().any(|(host, _)| &host.name == h.get_ref()) {
                    self.error(
                        h.span(),
                        format!("unknown host `{}` in wave `{wave_name}`: it is not in the inventory", h.get_ref()),
                    );
                    continue;
                }
                self.place(h.get_ref(), h.span(), &wave_name, "", &mut placed, &mut members, baseline);
            }
            for tag in tags {
                let tagged: Vec<&Host> =
                    hosts.iter().map(|(h, _)| h).filter(|h| h.tags.contains(tag.get_ref())).collect();
                // A partial inventory may have lost a bad tag: only a full one says none matches.
                if tagged.is_empty() && !partial {
                    self.error(tag.span(), format!("tag `{}` matches no host in the inventory", tag.get_ref()));
                }
                for h in tagged {
                    if members.contains(&h.name) {
                        continue;
                    }
                    let via = format!(" (via tag `{}`)", tag.get_ref());
                    self.place(&h.name, tag.span(), &wave_name, &via, &mut placed, &mut members, baseline);
                }
            }
            let parallel = self.count(&w.parallel, 1, 1, "parallel", "hosts worked on at once");
            let max_failures = self.count(&w.max_failures, 0, 0, "max_failures", "failed hosts tolerated");
            let gate = w.gate.as_ref().map(|g| *g.get_ref());
            if named {
                out.push(Wave {
                    name: wave_name,
                    hosts: members,
                    parallel,
                    max_failures,
                    gate: gate.unwrap_or(false),
                    gate_set: gate.is_some(),
                });
            }
        }
        // Likewise a host may be missing from a wave only for a tag it lost.
        if let Some(hosts) = hosts.filter(|_| !partial) {
            for (host, origin) in hosts {
                let is_baseline = baseline.is_some_and(|b| b.host == host.name);
                if !is_baseline && !placed.contains_key(&host.name) {
                    let d = at_origin(
                        self.src,
                        sources,
                        origin,
                        format!(
                            "host `{}` is in no wave: add it to a [[wave]] or remove it from the inventory",
                            host.name
                        ),
                    );
                    self.diags.push(d);
                }
            }
        }
        out
    }

    /// Puts a host in a wave, refusing the baseline host and hosts already in another wave.
    #[allow(clippy::too_many_arguments)]
    fn place(
        &mut self,
        host: &str,
        span: Range<usize>,
        wave: &str,
        via: &str,
        placed: &mut HashMap<String, String>,
        members: &mut Vec<String>,
        baseline: Option<&BaselineRef>,
    ) {
        if baseline.is_some_and(|b| b.host == host) {
            self.error(
                span,
                format!("`{host}` is the baseline host{via}: it was patched and tested before the window; remove it from wave `{wave}`"),
            );
        } else if let Some(other) = placed.get(host) {
            let message = if other == wave {
                format!("host `{host}` is listed twice in wave `{wave}`{via}: remove one")
            } else {
                format!("host `{host}` is already in wave `{other}`{via}: a host belongs to exactly one wave")
            };
            self.error(span, message);
        } else {
            placed.insert(host.to_string(), wave.to_string());
            members.push(host.to_string());
        }
    }

    /// A whole number with a default and a minimum.
    fn count(&mut self, value: &Option<Spanned<i64>>, default: usize, min: i64, key: &str, what: &str) -> usize {
        let Some(v) = value else { return default };
        let n = *v.get_ref();
        if n < min {
            self.error(v.span(), format!("`{key}` is {n}, it must be at least {min} ({what})"));
            return default;
        }
        usize::try_from(n).unwrap_or(default)
    }

    /// A name that must be unique among its kind; duplicates are reported at the second.
    fn unique_name(
        &mut self,
        name: &Spanned<String>,
        seen: &mut HashMap<String, usize>,
        kind: &str,
        rule: NameRule,
    ) -> Option<String> {
        let n = self.name(name, &format!("{kind} name"), rule)?;
        if let Some(first) = seen.get(&n) {
            let line = self.src.line_col(*first).0;
            self.error(name.span(), format!("duplicate {kind} name `{n}` (first used on line {line}): rename one"));
            return None;
        }
        seen.insert(n.clone(), name.span().start);
        Some(n)
    }

    fn steps(
        &mut self,
        raw: Option<Vec<Spanned<RawStep>>>,
        key_span: Option<Range<usize>>,
        doc_start: &Range<usize>,
    ) -> Vec<(Step, Range<usize>)> {
        let raw = raw.unwrap_or_default();
        if raw.is_empty() {
            self.error(
                key_span.unwrap_or(doc_start.clone()),
                "no steps: add at least one [[step]], e.g. `packages = \"tested\"`",
            );
        }
        let mut names = HashMap::new();
        let mut out = Vec::new();
        for item in raw {
            let table = item.span();
            let s = item.into_inner();
            let name = self
                .required(&s.name, &table, "[[step]]", "name", "\"...\"")
                .and_then(|n| self.unique_name(n, &mut names, "step", names::label));
            if let Some(step) = self.step(s, name, table.clone()) {
                out.push((step, table));
            }
        }
        out
    }

    fn step(&mut self, s: RawStep, name: Option<String>, table: Range<usize>) -> Option<Step> {
        let label = name.clone().unwrap_or_else(|| "?".into());
        let mut actions: Vec<(&str, Range<usize>, StepAction)> = Vec::new();
        if let Some(p) = &s.packages {
            if p.get_ref() != "tested" {
                self.error(p.span(), "`packages` must be \"tested\": only the tested baseline is ever installed");
            }
            actions.push(("packages", p.span(), StepAction::Packages));
        }
        for (key, value) in [("run", &s.run), ("local", &s.local)] {
            if let Some(v) = value {
                self.template(v, true, true);
                let action = if key == "run" {
                    StepAction::Run(v.get_ref().clone())
                } else {
                    StepAction::Local(v.get_ref().clone())
                };
                actions.push((key, v.span(), action));
            }
        }
        if let Some(r) = &s.reboot {
            if *r.get_ref() {
                actions.push(("reboot", r.span(), StepAction::Reboot));
            } else {
                self.error(r.span(), "`reboot = false` does nothing: remove it");
            }
        }
        let action = match actions.len() {
            0 => {
                self.error(
                    s.name.as_ref().map_or(table.clone(), |n| n.span()),
                    format!("step `{label}` has no action: add one of `packages = \"tested\"`, `run`, `local` or `reboot = true`"),
                );
                None
            }
            1 => actions.pop().map(|(_, _, a)| a),
            _ => {
                let (first, _, _) = actions[0];
                let (second, span, _) = &actions[1];
                self.error(
                    span.clone(),
                    format!("step `{label}` has two actions (`{first}` and `{second}`): a step does one thing; split it into two steps"),
                );
                None
            }
        };
        let irreversible = s.irreversible.as_ref().is_some_and(|i| *i.get_ref());
        if let Some(r) = &s.rollback {
            self.template(r, true, true);
        }
        match (&action, &s.rollback) {
            (Some(StepAction::Packages), Some(r)) => self.error(
                r.span(),
                "the packages step has a built-in rollback (it restores the snapshot): remove `rollback`",
            ),
            (Some(StepAction::Reboot), Some(r)) => {
                self.error(r.span(), "a reboot cannot be rolled back: remove `rollback`")
            }
            (Some(StepAction::Run(_) | StepAction::Local(_)), None) if !irreversible => self.error(
                s.name.as_ref().map_or(table, |n| n.span()),
                format!("step `{label}` cannot be undone: add `rollback = \"...\"` or `irreversible = true`"),
            ),
            (_, Some(r)) if irreversible => {
                self.error(r.span(), format!("step `{label}` has a `rollback` and `irreversible = true`: keep one"))
            }
            _ => {}
        }
        let default_timeout =
            if matches!(action, Some(StepAction::Packages)) { PACKAGES_TIMEOUT } else { STEP_TIMEOUT };
        let timeout = self.duration(&s.timeout, default_timeout);
        Some(Step {
            name: name?,
            action: action?,
            rollback: s.rollback.map(Spanned::into_inner),
            irreversible,
            timeout,
        })
    }

    fn checks(&mut self, raw: Vec<Spanned<RawCheck>>) -> Vec<(Check, Range<usize>)> {
        let mut names = HashMap::new();
        let mut out = Vec::new();
        for item in raw {
            let table = item.span();
            let c = item.into_inner();
            let name = self
                .required(&c.name, &table, "[[check]]", "name", "\"...\"")
                .and_then(|n| self.unique_name(n, &mut names, "check", names::label));
            if let Some(check) = self.check(c, name, table.clone()) {
                out.push((check, table));
            }
        }
        out
    }

    fn check(&mut self, c: RawCheck, name: Option<String>, table: Range<usize>) -> Option<Check> {
        let label = name.clone().unwrap_or_else(|| "?".into());
        let present: Vec<(&str, &Spanned<String>)> = [("http", &c.http), ("tcp", &c.tcp), ("run", &c.run)]
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.as_ref()?)))
            .collect();
        for (kind, v) in &present {
            self.template(v, false, *kind == "run");
        }
        if let Some(text) = &c.contains {
            self.template(text, false, false);
        }
        let kind = match present.as_slice() {
            [] => {
                self.error(
                    c.name.as_ref().map_or(table, |n| n.span()),
                    format!("check `{label}` has no probe: add one of `http = \"http://...\"`, `tcp = \"host:port\"` or `run = \"...\"`"),
                );
                None
            }
            [("http", url)] => {
                let u = url.get_ref();
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    self.error(url.span(), format!("`{u}` is not an http:// or https:// URL"));
                }
                let expect_status = match &c.expect_status {
                    None => 200,
                    Some(s) => match u16::try_from(*s.get_ref()) {
                        Ok(code) if (100..=599).contains(&code) => code,
                        _ => {
                            self.error(
                                s.span(),
                                format!("`expect_status` {} is not an HTTP status (100 to 599)", s.get_ref()),
                            );
                            200
                        }
                    },
                };
                Some(CheckKind::Http {
                    url: u.clone(),
                    expect_status,
                    contains: c.contains.as_ref().map(|t| t.get_ref().clone()),
                })
            }
            [(kind, value)] => {
                for (key, v) in [
                    ("expect_status", c.expect_status.as_ref().map(|s| s.span())),
                    ("contains", c.contains.as_ref().map(|s| s.span())),
                ] {
                    if let Some(span) = v {
                        self.error(span, format!("`{key}` only applies to `http` checks: remove it"));
                    }
                }
                if *kind == "tcp" {
                    if !is_host_port(value.get_ref()) {
                        self.error(
                            value.span(),
                            format!("`{}` is not host:port, e.g. \"{{host.address}}:443\"", value.get_ref()),
                        );
                    }
                    Some(CheckKind::Tcp { address: value.get_ref().clone() })
                } else {
                    Some(CheckKind::Run(value.get_ref().clone()))
                }
            }
            [(first, _), (second, v), ..] => {
                self.error(
                    v.span(),
                    format!(
                        "check `{label}` has two probes (`{first}` and `{second}`): a check does one thing; split it"
                    ),
                );
                None
            }
        };
        let timeout = self.duration(&c.timeout, CHECK_TIMEOUT);
        Some(Check { name: name?, kind: kind?, timeout })
    }
}

/// `host:port` where port is a number or `{host.port}`.
fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && (port == "{host.port}" || port.parse::<u16>().is_ok_and(|p| p > 0)),
        None => false,
    }
}

fn source_for<'s>(runbook: &'s SourceFile, sources: &'s [SourceFile], file: &Path) -> Option<&'s SourceFile> {
    if runbook.path == file {
        return Some(runbook);
    }
    sources.iter().find(|s| s.path == file)
}

/// A diagnostic at a host's declaration, in whichever file declared it.
fn at_origin(runbook: &SourceFile, sources: &[SourceFile], origin: &HostOrigin, message: String) -> Diagnostic {
    match source_for(runbook, sources, &origin.file) {
        Some(src) => src.error(origin.span.clone(), message),
        None => Diagnostic::whole_file(&origin.file, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_shapes() {
        assert!(is_host_port("{host.address}:443"));
        assert!(is_host_port("db.internal:{host.port}"));
        assert!(is_host_port("[::1]:22"));
        assert!(!is_host_port("db.internal"));
        assert!(!is_host_port(":22"));
        assert!(!is_host_port("db:0"));
        assert!(!is_host_port("db:http"));
    }
}
