//! apt's install and restore scripts, as [`crate::pkg::apt::commands`] writes them, run on
//! a simulated host: the simulator acts on what the script says (the `pkg=version` list,
//! `pkg-` removals, `-y`, `--no-remove`, `--allow-downgrades`,
//! `--allow-change-held-packages`, `-s`, `set -e`), so a wrong script fails here as it
//! would on a host.
//!
//! Understood: the lines those scripts are made of (comments, `true`, `set -e`, `export`,
//! `exec </dev/null`, the save and restore of "automatically installed" marks, the
//! restore's plan-and-guard block, `apt-get install` with the options they pass). Anything
//! else is refused with the line that could not run: a simulator that guessed would let a
//! broken script pass.
//!
//! apt itself is played on the host's model: one transaction per `apt-get` call, checked
//! whole before anything changes, with apt's own messages; a package that an upgrade brought
//! in (`pulled_in_by`) is installed with it and is needed while the upgrade stays.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::super::{HostState, Ran};
use crate::pkg::apt::Debian;
use crate::pkg::{Version, VersionScheme};

/// The awk filter of the saved auto marks (names only), as the script writes it.
const AUTO_SAVED: &str = "pd_auto=$(apt-mark showauto -- ";
const AUTO_FILTER: &str = " 2>/dev/null | awk '/^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$/' || true)";
const AUTO_RESTORE: &str = "if [ -n \"$pd_auto\" ]; then (set -f; apt-mark auto $pd_auto >/dev/null); fi";
const EXTRA: &str =
    "pd_extra=$(printf '%s\\n' \"$pd_plan\" | awk '$1 == \"Remv\" || $1 == \"Purg\" { print $2 }' | grep -vxF ";

/// Runs `script` on `h`. See the module doc.
pub fn run(h: &mut HostState, script: &str, keep: Option<&str>) -> Result<Ran, String> {
    let mut sh = Shell { h, keep, errexit: false, auto: BTreeSet::new(), plan: String::new(), extra: Vec::new() };
    let mut out = Ran::default();
    let mut lines = script.lines().enumerate();
    while let Some((n, raw)) = lines.next() {
        let line = raw.trim();
        let bad = || format!("line {}: {}", n + 1, crate::safe_text::for_terminal(line));
        let status = if line.is_empty() || line.starts_with('#') {
            continue;
        } else if line == "true" || line == "exec </dev/null" {
            0
        } else if line == "set -e" {
            sh.errexit = true;
            0
        } else if let Some(vars) = line.strip_prefix("export ") {
            let words = shlex::split(vars).ok_or_else(bad)?;
            if !words.iter().all(|w| w.split_once('=').is_some_and(|(k, _)| is_var(k))) {
                return Err(bad());
            }
            0
        } else if let Some(args) = line.strip_prefix(AUTO_SAVED).and_then(|r| r.strip_suffix(AUTO_FILTER)) {
            let names = shlex::split(args).ok_or_else(bad)?;
            sh.auto = names.into_iter().filter(|n| sh.h.auto.contains(n)).collect();
            0
        } else if line == AUTO_RESTORE {
            sh.h.auto.extend(std::mem::take(&mut sh.auto));
            0
        } else if let Some(call) = line.strip_prefix("pd_plan=$(").and_then(|r| r.strip_suffix(") || {")) {
            // `pd_plan=$(apt-get ...) || {` then `  echo '...' >&2; exit N; }`
            let (m, next) = lines.next().ok_or_else(bad)?;
            let (msg, code) = echo_exit(next.trim()).ok_or_else(|| format!("line {}: {}", m + 1, next.trim()))?;
            let planned = sh.apt_get(call).ok_or_else(bad)?;
            if planned.status != 0 {
                out.stderr.push_str(&planned.stderr);
                out.stderr.push_str(&msg);
                out.status = code;
                return Ok(out);
            }
            sh.plan = planned.stdout;
            0
        } else if let Some(keep) = line.strip_prefix(EXTRA).and_then(|r| r.strip_suffix(" || true)")) {
            let words = shlex::split(keep).ok_or_else(bad)?;
            // `-e NAME` pairs: the removals the snapshot asked for.
            let kept: BTreeSet<&str> = words
                .chunks(2)
                .map(|p| if p[0] == "-e" { p.get(1).map(String::as_str) } else { None })
                .collect::<Option<_>>()
                .ok_or_else(bad)?;
            sh.extra = sh
                .plan
                .lines()
                .filter_map(|l| {
                    let mut w = l.split_whitespace();
                    matches!(w.next(), Some("Remv" | "Purg")).then(|| w.next()).flatten()
                })
                .filter(|n| !kept.contains(n))
                .map(str::to_string)
                .collect();
            0
        } else if line == "if [ -n \"$pd_extra\" ]; then" {
            // The guard's body, up to `fi`: only what the restore script puts there.
            let mut body = Vec::new();
            loop {
                let (m, l) = lines.next().ok_or_else(bad)?;
                match l.trim() {
                    "fi" => break,
                    l => body.push((m, l.to_string())),
                }
            }
            if sh.extra.is_empty() {
                continue;
            }
            for (m, l) in body {
                if let Some(text) = l.strip_prefix("echo '").and_then(|r| r.strip_suffix("' >&2")) {
                    out.stderr.push_str(text);
                    out.stderr.push('\n');
                } else if l == "printf '%s\\n' \"$pd_extra\" >&2" {
                    sh.extra.iter().for_each(|e| out.stderr.push_str(&format!("{e}\n")));
                } else if let Some(code) = l.strip_prefix("exit ").and_then(|c| c.parse().ok()) {
                    out.status = code;
                    return Ok(out);
                } else {
                    return Err(format!("line {}: {}", m + 1, crate::safe_text::for_terminal(&l)));
                }
            }
            0
        } else if line.starts_with("apt-get ") {
            let ran = sh.apt_get(line).ok_or_else(bad)?;
            out.stdout.push_str(&ran.stdout);
            out.stderr.push_str(&ran.stderr);
            ran.status
        } else {
            return Err(bad());
        };
        out.status = status;
        if status != 0 && sh.errexit {
            return Ok(out);
        }
    }
    Ok(out)
}

fn is_var(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `echo 'MESSAGE' >&2; exit N; }`: the message (with its newline) and N.
fn echo_exit(line: &str) -> Option<(String, i32)> {
    let (echo, rest) = line.strip_prefix("echo '")?.split_once("' >&2; exit ")?;
    Some((format!("{echo}\n"), rest.strip_suffix("; }")?.parse().ok()?))
}

struct Shell<'h, 'k> {
    h: &'h mut HostState,
    keep: Option<&'k str>,
    /// `set -e` was run.
    errexit: bool,
    /// Names whose "automatically installed" mark was saved (`pd_auto`).
    auto: BTreeSet<String>,
    /// What the restore's simulated run printed (`pd_plan`).
    plan: String,
    /// Removals in the plan the snapshot did not ask for (`pd_extra`).
    extra: Vec<String>,
}

/// One `apt-get` call's options and arguments.
#[derive(Debug, Default)]
struct Call {
    simulate: bool,
    yes: bool,
    no_remove: bool,
    allow_downgrades: bool,
    allow_held: bool,
    args: Vec<String>,
}

/// `-o` settings the scripts pass that change nothing the simulation models (locking,
/// the pty, config-file prompts answered the safe way, debug output).
fn harmless_setting(setting: &str) -> bool {
    let (key, value) = setting.split_once('=').unwrap_or((setting, ""));
    match key.to_ascii_lowercase().as_str() {
        "dpkg::lock::timeout" | "dpkg::use-pty" | "debug::nolocking" | "apt::get::show-versions" => true,
        "dpkg::options::" => matches!(value, "--force-confdef" | "--force-confold"),
        _ => false,
    }
}

/// `None` for an option or verb the simulation does not know.
fn parse_call(line: &str) -> Option<Call> {
    let words = shlex::split(line)?;
    let mut words = words.into_iter();
    (words.next()? == "apt-get").then_some(())?;
    let mut call = Call::default();
    let mut verb = false;
    while let Some(w) = words.next() {
        match w.as_str() {
            "--" => {
                call.args.extend(words.by_ref());
                break;
            }
            "install" if !verb => verb = true,
            "-y" | "--yes" | "--assume-yes" => call.yes = true,
            "-q" | "-qq" | "--quiet" | "--no-install-recommends" => {}
            "-s" | "--simulate" | "--dry-run" => call.simulate = true,
            "--no-remove" => call.no_remove = true,
            "--allow-downgrades" => call.allow_downgrades = true,
            "--allow-change-held-packages" => call.allow_held = true,
            "-o" => harmless_setting(&words.next()?).then_some(())?,
            w if w.starts_with('-') => return None,
            _ if verb => call.args.push(w),
            _ => return None,
        }
    }
    verb.then_some(call)
}

/// One package's move in a transaction.
#[derive(Debug, Clone)]
struct Move {
    name: String,
    from: Option<String>,
    to: Option<String>,
    origin: String,
    /// Named on the command line (else a dependency apt added).
    asked: bool,
}

impl Shell<'_, '_> {
    /// Runs one `apt-get` call on the host; `None` when it is not one the simulation knows.
    fn apt_get(&mut self, line: &str) -> Option<Ran> {
        let call = parse_call(line)?;
        Some(match self.plan(&call) {
            Err(ran) => ran,
            Ok((moves, notes)) => self.transact(&call, moves, notes),
        })
    }

    /// The transaction `call` asks for, with apt's notes, or apt's refusal.
    fn plan(&self, call: &Call) -> Result<(Vec<Move>, String), Ran> {
        let h = &*self.h;
        let mut moves: Vec<Move> = Vec::new();
        let mut notes = String::new();
        for arg in &call.args {
            let installed = |name: &str| h.installed.get(name).cloned();
            if let Some(name) = arg.strip_suffix('-').filter(|n| !n.is_empty() && !n.contains('=')) {
                match installed(name) {
                    Some(from) => moves.push(Move {
                        name: name.into(),
                        from: Some(from),
                        to: None,
                        origin: String::new(),
                        asked: true,
                    }),
                    None => {
                        let _ = writeln!(notes, "Package '{name}' is not installed, so not removed");
                    }
                }
                continue;
            }
            let (name, wanted) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (arg.as_str(), None),
            };
            let offered = h.installable(name);
            if offered.is_empty() && installed(name).is_none() {
                return Err(Ran::failed(100, format!("E: Unable to locate package {name}\n")));
            }
            let (to, origin) = match wanted {
                Some(v) if installed(name).as_deref() == Some(v) => (v.to_string(), String::new()),
                Some(v) => match offered.into_iter().find(|(o, _)| o == v) {
                    Some(found) => found,
                    None => return Err(Ran::failed(100, format!("E: Version '{v}' for '{name}' was not found\n"))),
                },
                None => h.newest(name, &Debian).or_else(|| Some((installed(name)?, String::new()))).unwrap_or_default(),
            };
            if installed(name).as_deref() == Some(to.as_str()) {
                let _ = writeln!(notes, "{name} is already the newest version ({to}).");
                continue;
            }
            moves.push(Move { name: name.into(), from: installed(name), to: Some(to), origin, asked: true });
        }
        self.dependencies(moves, notes)
    }

    /// Adds what apt adds: a package an upgrade brought in is installed with it, and the
    /// upgraded package goes if it is removed; asked for both, apt gives up.
    fn dependencies(&self, mut moves: Vec<Move>, notes: String) -> Result<(Vec<Move>, String), Ran> {
        let h = &*self.h;
        let mut after: BTreeMap<String, String> = h.installed.clone();
        for m in &moves {
            match &m.to {
                Some(v) => after.insert(m.name.clone(), v.clone()),
                None => after.remove(&m.name),
            };
        }
        for dep in &h.repo {
            let Some(up) = &dep.pulled_in_by else { continue };
            let needed = after.get(up).is_some_and(|v| h.mirror.get(up) != Some(v));
            if !needed || after.contains_key(&dep.name) {
                continue;
            }
            let removed = moves.iter().any(|m| m.name == dep.name && m.to.is_none());
            if !removed {
                after.insert(dep.name.clone(), dep.version.clone());
                let to = Some(dep.version.clone());
                moves.push(Move { name: dep.name.clone(), from: None, to, origin: dep.origin.clone(), asked: false });
            } else if moves.iter().any(|m| &m.name == up && m.asked) {
                return Err(Ran::failed(
                    100,
                    format!(
                        "The following packages have unmet dependencies:\n {up} : Depends: {} but it is not going to be installed\n\
                         E: Unable to correct problems, you have held broken packages.\n",
                        dep.name
                    ),
                ));
            } else if let Some(from) = after.remove(up) {
                moves.push(Move { name: up.clone(), from: Some(from), to: None, origin: String::new(), asked: false });
            }
        }
        Ok((moves, notes))
    }

    /// apt's checks on the whole transaction, then the transaction (or, with `-s`, what it
    /// would do).
    fn transact(&mut self, call: &Call, moves: Vec<Move>, notes: String) -> Ran {
        let older = |m: &Move| match (&m.from, &m.to) {
            (Some(f), Some(t)) => match (Version::parse_in(&Debian, f), Version::parse_in(&Debian, t)) {
                (Ok(f), Ok(t)) => Debian.compare(&t, &f).is_lt(),
                _ => false,
            },
            _ => false,
        };
        let removes = moves.iter().any(|m| m.to.is_none());
        let downgrades = moves.iter().any(older);
        let held = moves.iter().any(|m| self.h.held.contains(&m.name));
        let extra = moves.iter().any(|m| !m.asked);
        if removes && call.no_remove {
            return Ran::failed(100, "E: Packages need to be removed but remove is disabled.\n");
        }
        if call.simulate {
            return Ran { status: 0, stdout: notes + &simulation(&moves), stderr: String::new() };
        }
        if !call.yes && (removes || downgrades || held || extra) {
            // stdin is /dev/null: apt's question gets no answer.
            return Ran {
                status: 1,
                stdout: format!("{notes}Do you want to continue? [Y/n] Abort.\n"),
                stderr: String::new(),
            };
        }
        if held && !call.allow_held {
            return Ran::failed(
                100,
                "E: Held packages were changed and -y was used without --allow-change-held-packages.\n",
            );
        }
        if downgrades && !call.allow_downgrades {
            return Ran::failed(100, "E: Packages were downgraded and -y was used without --allow-downgrades.\n");
        }
        let mut log = notes;
        for m in &moves {
            log.push_str(&dpkg_lines(m, older(m)));
            if self.keep == Some(m.name.as_str()) {
                continue; // a fault: this package stays as it was, whatever dpkg printed
            }
            match &m.to {
                Some(v) => {
                    self.h.installed.insert(m.name.clone(), v.clone());
                    if m.asked {
                        self.h.auto.remove(&m.name); // apt marks what it was asked for manual
                    } else {
                        self.h.auto.insert(m.name.clone());
                    }
                }
                None => {
                    self.h.installed.remove(&m.name);
                    self.h.auto.remove(&m.name);
                }
            }
        }
        // A host that breaks once updated: broken by a move away from what the mirror had,
        // healed by moves back to it (a rollback).
        if self.h.breaks_after_update && !moves.is_empty() {
            self.h.healthy = !moves.iter().any(|m| m.to.is_some() && self.h.mirror.get(&m.name) != m.to.as_ref());
        }
        Ran { status: 0, stdout: log, stderr: String::new() }
    }
}

/// `apt-get -s`: `Inst`, `Remv` and `Conf` lines, removals first, as apt orders them.
fn simulation(moves: &[Move]) -> String {
    let mut out = String::new();
    for m in moves.iter().filter(|m| m.to.is_none()) {
        let _ = writeln!(out, "Remv {} [{}]", m.name, m.from.as_deref().unwrap_or(""));
    }
    for m in moves.iter().filter(|m| m.to.is_some()) {
        let to = m.to.as_deref().unwrap_or("");
        match &m.from {
            Some(f) => {
                let _ = writeln!(out, "Inst {} [{f}] ({to} {} [amd64])", m.name, m.origin);
            }
            None => {
                let _ = writeln!(out, "Inst {} ({to} {} [amd64])", m.name, m.origin);
            }
        }
    }
    for m in moves.iter().filter(|m| m.to.is_some()) {
        let _ = writeln!(out, "Conf {} ({} {} [amd64])", m.name, m.to.as_deref().unwrap_or(""), m.origin);
    }
    out
}

/// What dpkg prints for one package of the transaction.
fn dpkg_lines(m: &Move, downgrade: bool) -> String {
    let name = &m.name;
    match (&m.from, &m.to) {
        (Some(from), None) => format!("Removing {name} ({from}) ...\n"),
        (None, Some(to)) => format!(
            "Selecting previously unselected package {name}.\nPreparing to unpack .../{name}_{to}_amd64.deb ...\n\
             Unpacking {name} ({to}) ...\nSetting up {name} ({to}) ...\n"
        ),
        (Some(from), Some(to)) => {
            let warn = if downgrade {
                format!("dpkg: warning: downgrading {name} from {from} to {to}\n")
            } else {
                String::new()
            };
            format!(
                "{warn}Preparing to unpack .../{name}_{to}_amd64.deb ...\nUnpacking {name} ({to}) over ({from}) ...\n\
                 Setting up {name} ({to}) ...\n"
            )
        }
        (None, None) => String::new(),
    }
}
