//! Parsers for the apt probe sections (see [`super::probe`] for what prints them).
//!
//! Every parser reads machine fields, not prose: `dpkg-query -W -f` tab fields, the
//! `Inst`/`Remv` lines of `apt-get -s` (debug output apt never translates), the layout
//! (indentation, order) of `apt-cache policy`. The one prose-dependent input is the
//! "kept back" list of `apt-get -s`, which we only read in the C locale the probe forces;
//! kept-back packages are also derived structurally from `apt-cache policy` (see
//! [`parse_probe`]). Lines we do not recognise (`Reading package lists...`, `N: ...`,
//! `W: ...`, apt's `WARNING: apt does not have a stable CLI interface`) are skipped.
//!
//! Every name and version read from the host is validated into [`PkgName`] / [`Version`];
//! anything that cannot be one is [`ParseError::Hostile`]. Parsing never panics on input.

use std::collections::{BTreeMap, BTreeSet};

use super::Debian;
use crate::pkg::{
    DbHealth, Hostile, ParseError, Pending, PkgFacts, PkgName, PkgState, Unfinished, Version, VersionScheme,
};
use crate::safe_text::for_terminal;

/// The dpkg architecture of the host, used to make package names comparable.
///
/// dpkg's `${binary:Package}` qualifies `Multi-Arch: same` packages (`libc6:amd64`) when
/// several architectures are configured, while apt's `Inst` lines and `apt-mark` print
/// native packages unqualified. We normalise to apt's convention: the native architecture
/// and `all` are stripped, foreign architectures are kept (`libc6:i386`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NativeArch(Option<String>);

impl NativeArch {
    pub fn new(arch: &str) -> Self {
        let a = arch.trim();
        let ok = !a.is_empty() && a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        Self(ok.then(|| a.to_string()))
    }
    /// Validates `raw` as a package name and drops a native or `all` qualifier.
    pub fn name(&self, raw: &str) -> Result<PkgName, Hostile> {
        let parsed = PkgName::parse_in(&Debian, raw)?;
        match raw.split_once(':') {
            Some((base, arch)) if arch == "all" || self.0.as_deref() == Some(arch) => PkgName::parse_in(&Debian, base),
            _ => Ok(parsed),
        }
    }
}

fn malformed(command: &str, detail: impl Into<String>) -> ParseError {
    ParseError::Malformed { command: command.to_string(), detail: for_terminal(&detail.into()) }
}

/// Lines apt/dpkg print for humans that carry no facts: notices, warnings, progress.
fn is_noise(line: &str) -> bool {
    let t = line.trim();
    t.is_empty()
        || t.starts_with("N: ")
        || t.starts_with("W: ")
        || t.starts_with("WARNING: ")
        || t.starts_with("NOTE: ")
        || t.starts_with("@@escaped:")
}

/// `dpkg-query -W -f='${db:Status-Abbrev}\t${binary:Package}\t${Version}\n'`.
///
/// Only packages whose files are fully in place count as installed: status `i`
/// (installed) and the trigger states `W`/`t`, with no error flag. Half-installed,
/// unpacked-but-unconfigured and `rc` (config files only) packages are left out, so a
/// broken package shows up as missing in a diff instead of looking healthy; [`states`]
/// has every package in every state.
pub fn installed(body: &str, arch: &NativeArch) -> Result<BTreeMap<PkgName, Version>, ParseError> {
    Ok(states(body, arch)?.into_iter().filter_map(|(n, s)| Some((n, s.version.filter(|_| s.installed)?))).collect())
}

/// Every package of the same `dpkg-query` output, in every state. `db:Status-Abbrev` is
/// three letters: the selection (`u`nknown, `i`nstall, `h`old, `r`emove, `p`urge), the
/// status (`n`ot-installed, `c`onfig-files, `H`alf-installed, `U`npacked, half-con`F`igured,
/// triggers-a`W`aited, `t`riggers-pending, `i`nstalled) and the error flag (`R`einst-required
/// or a space). Healthy at rest: `n`, `c` or `i` with no error flag; any other status, or
/// the flag, is a run left half done (dpkg --audit reports the same).
pub fn states(body: &str, arch: &NativeArch) -> Result<BTreeMap<PkgName, PkgState>, ParseError> {
    let mut out = BTreeMap::new();
    for line in body.lines() {
        if line.trim().is_empty() || is_noise(line) {
            continue;
        }
        let mut fields = line.split('\t');
        let (Some(status), Some(name), Some(version), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            // A line without our three tab fields: validate it anyway so injected text is
            // reported as hostile rather than as a shape problem.
            let mut words = line.split_whitespace();
            if let (Some(_), Some(n)) = (words.next(), words.next()) {
                arch.name(n)?;
            }
            return Err(malformed("dpkg-query -W", format!("expected 3 tab-separated fields: {line}")));
        };
        let name = arch.name(name.trim())?;
        let mut st = status.chars();
        let (want, state, err) = (st.next(), st.next(), st.next().unwrap_or(' '));
        let known = matches!(want, Some('u' | 'i' | 'h' | 'r' | 'p'))
            && matches!(state, Some('n' | 'c' | 'H' | 'U' | 'F' | 'W' | 't' | 'i'))
            && matches!(err, ' ' | 'R')
            && st.next().is_none();
        if !known {
            return Err(malformed("dpkg-query -W", format!("unknown package status `{status}` of {name}")));
        }
        let version = match version.trim() {
            "" => None,
            v => Some(Version::parse_in(&Debian, v)?),
        };
        let installed = matches!(state, Some('i' | 'W' | 't')) && err == ' ';
        let unfinished = matches!(state, Some('H' | 'U' | 'F' | 'W' | 't')) || err == 'R';
        let status = status.trim_end().to_string();
        out.insert(name, PkgState { status, version, installed, unfinished });
    }
    Ok(out)
}

/// The `dpkg` section: `updates N` (files in dpkg's journal, `/var/lib/dpkg/updates/`, that
/// its last run never merged), `lock PATH PID` for each of dpkg's lock files another process
/// holds, and `audit LINE` for each line `dpkg --audit` printed. Package names are not read
/// from the audit's prose: [`states`] names them.
pub fn dpkg_health(body: &str) -> Result<DbHealth, ParseError> {
    const CMD: &str = "dpkg health";
    let mut h = DbHealth { fix: "dpkg --configure -a".into(), ..DbHealth::default() };
    for line in body.lines() {
        if let Some(n) = line.strip_prefix("updates ") {
            let n: u64 = n.trim().parse().map_err(|_| malformed(CMD, format!("unexpected line: {line}")))?;
            h.interrupted = n > 0;
        } else if let Some(rest) = line.strip_prefix("lock ") {
            let (path, pid) =
                rest.trim().rsplit_once(' ').ok_or_else(|| malformed(CMD, format!("unexpected line: {line}")))?;
            let path_ok =
                path.starts_with('/') && path.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c));
            let pid_ok = !pid.is_empty() && pid.len() <= 10 && pid.bytes().all(|b| b.is_ascii_digit());
            if !(path_ok && pid_ok) {
                return Err(Hostile::new("dpkg lock holder", rest).into());
            }
            let held = format!("{path} (pid {pid})");
            if !h.locked_by.contains(&held) {
                h.locked_by.push(held);
            }
        } else if let Some(text) = line.strip_prefix("audit") {
            let text = for_terminal(text.trim());
            if !text.is_empty() {
                h.audit.push(text);
            }
        } else if !line.trim().is_empty() {
            return Err(malformed(CMD, format!("unexpected line: {line}")));
        }
    }
    Ok(h)
}

/// What `apt-get -s dist-upgrade` says it would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpgradePlan {
    /// By name; `from == None` for new installs.
    pub pending: BTreeMap<PkgName, Pending>,
    pub removals: BTreeSet<PkgName>,
    /// From the C-locale "kept back" list; see the module doc.
    pub kept_back: BTreeSet<PkgName>,
}

/// Parses `apt-get -s -o APT::Get::Show-Versions=1 dist-upgrade` output.
///
/// `Inst NAME [OLD] (NEW ORIGIN[, ORIGIN...] [ARCH]) [BROKEN...]` (no `[OLD]` for a new
/// install), `Remv NAME [OLD]`, `Purg NAME [OLD]`; `Conf` lines repeat `Inst` and are
/// ignored. A trailing `patchdeck-exit: N` line (added by our probe) with `N != 0` means
/// apt could not compute the upgrade, and the `E:` lines say why.
pub fn upgrade(body: &str, arch: &NativeArch) -> Result<UpgradePlan, ParseError> {
    const CMD: &str = "apt-get -s dist-upgrade";
    let mut plan = UpgradePlan::default();
    let mut in_kept_back = false;
    let mut errors = Vec::new();
    for line in body.lines() {
        if in_kept_back {
            if line.starts_with(' ') {
                kept_back_names(line, arch, &mut plan.kept_back)?;
                continue;
            }
            in_kept_back = false;
        }
        if line == "The following packages have been kept back:" {
            in_kept_back = true;
            continue;
        }
        if let Some(code) = line.strip_prefix("patchdeck-exit: ") {
            if code.trim() != "0" {
                let why = if errors.is_empty() { "no reason given".to_string() } else { errors.join("; ") };
                return Err(malformed(CMD, format!("exit status {}: {why}", code.trim())));
            }
            continue;
        }
        if line.starts_with("E: ") {
            errors.push(line.to_string());
            continue;
        }
        let Some((verb, rest)) = line.split_once(' ') else { continue };
        match verb {
            "Inst" => {
                let p = inst_line(rest, arch, || malformed(CMD, line))?;
                plan.pending.insert(p.name.clone(), p);
            }
            "Remv" | "Purg" => {
                let name = rest.split_whitespace().next().ok_or_else(|| malformed(CMD, line))?;
                plan.removals.insert(arch.name(name)?);
            }
            _ => {}
        }
    }
    Ok(plan)
}

/// `bad` builds the error for a line of the wrong shape.
fn inst_line(rest: &str, arch: &NativeArch, bad: impl Fn() -> ParseError) -> Result<Pending, ParseError> {
    let rest = rest.trim();
    let (name, rest) = rest.split_once(' ').ok_or_else(&bad)?;
    let name = arch.name(name)?;
    let mut rest = rest.trim_start();
    let mut from = None;
    if let Some(r) = rest.strip_prefix('[') {
        let (old, r) = r.split_once(']').ok_or_else(&bad)?;
        from = Some(Version::parse_in(&Debian, old)?);
        rest = r.trim_start();
    }
    let inner = rest.strip_prefix('(').ok_or_else(&bad)?;
    let close = inner.find(')').ok_or_else(&bad)?;
    let inner = &inner[..close];
    let (to, origins) = inner.split_once(' ').unwrap_or((inner, ""));
    let to = Version::parse_in(&Debian, to)?;
    // Drop the trailing "[amd64]".
    let origins = match origins.rfind(" [") {
        Some(i) if origins.ends_with(']') => &origins[..i],
        _ if origins.starts_with('[') && origins.ends_with(']') => "",
        _ => origins,
    }
    .trim();
    if for_terminal(origins) != origins {
        return Err(Hostile::new("origin", origins).into());
    }
    let security = is_security_origin(origins);
    Ok(Pending { name, from, to, origin: origins.to_string(), security })
}

/// Security updates come from `*-security` suites; apt shows them as
/// `Debian-Security:12/stable-security` (label `Debian-Security`, suite `...-security`).
pub fn is_security_origin(origin: &str) -> bool {
    origin.to_ascii_lowercase().contains("-security")
}

/// An indented line of the "kept back" list: `   jq (1.6-2.1+deb12u1 => 1.6-2.1+deb12u3)`
/// with Show-Versions, or several names per line without it.
fn kept_back_names(line: &str, arch: &NativeArch, out: &mut BTreeSet<PkgName>) -> Result<(), ParseError> {
    let mut depth = 0usize;
    for tok in line.split_whitespace() {
        let opens = tok.matches('(').count();
        let closes = tok.matches(')').count();
        if depth == 0 && opens == 0 {
            out.insert(arch.name(tok)?);
        }
        depth = (depth + opens).saturating_sub(closes);
    }
    Ok(())
}

/// One name per line (`apt-mark showhold`, `reboot-required.pkgs`).
pub fn name_list(body: &str, arch: &NativeArch) -> Result<BTreeSet<PkgName>, ParseError> {
    let mut out = BTreeSet::new();
    for line in body.lines() {
        if is_noise(line) {
            continue;
        }
        out.insert(arch.name(line.trim())?);
    }
    Ok(out)
}

/// The `reboot` section: a `reboot-required` marker line when `/var/run/reboot-required`
/// exists, then the contents of `reboot-required.pkgs`.
pub fn reboot(body: &str, arch: &NativeArch) -> Result<(bool, BTreeSet<PkgName>), ParseError> {
    let mut lines = body.lines().filter(|l| !is_noise(l));
    match lines.next() {
        None => Ok((false, BTreeSet::new())),
        Some(l) if l.trim() == "reboot-required" => {
            let rest: Vec<&str> = lines.collect();
            Ok((true, name_list(&rest.join("\n"), arch)?))
        }
        Some(l) => Err(malformed("reboot-required", format!("unexpected line: {l}"))),
    }
}

/// `needrestart -b -r l`: `NEEDRESTART-SVC: unit` lines; other batch lines are ignored.
pub fn needrestart(body: &str) -> Result<BTreeSet<String>, ParseError> {
    let mut out = BTreeSet::new();
    for line in body.lines() {
        let Some(unit) = line.strip_prefix("NEEDRESTART-SVC:") else { continue };
        let unit = unit.trim();
        let ok = !unit.is_empty()
            && unit.len() <= 256
            && unit.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '@' | '-' | '\\'));
        if !ok {
            return Err(Hostile::new("service name", unit).into());
        }
        out.insert(unit.to_string());
    }
    Ok(out)
}

/// One package in `apt-cache policy` output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub installed: Option<Version>,
    pub candidate: Option<Version>,
    /// Versions with at least one source other than `/var/lib/dpkg/status`, in the order
    /// apt printed them.
    pub from_repo: Vec<Version>,
}

/// Parses `apt-cache policy NAME...` by layout, not by words (the words are translated):
///
/// ```text
/// jq:                               <- column 0, ends in ':'
///   Installed: 1.6-2.1+deb12u1      <- first 2-space "key: value" line
///   Candidate: 1.6-2.1+deb12u3      <- second one ("(none)" is any "(...)")
///   Version table:
///      1.6-2.1+deb12u3 500          <- 5-column indent (" *** " marks installed)
///         500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
///  *** 1.6-2.1+deb12u1 100
///         100 /var/lib/dpkg/status  <- not a repository: cannot be downloaded again
/// ```
pub fn policy(body: &str, arch: &NativeArch) -> Result<BTreeMap<PkgName, Policy>, ParseError> {
    const CMD: &str = "apt-cache policy";
    let mut out: BTreeMap<PkgName, Policy> = BTreeMap::new();
    let mut current: Option<(PkgName, Policy, usize)> = None; // (name, facts, key lines seen)
    let mut version: Option<Version> = None;
    let flush = |cur: &mut Option<(PkgName, Policy, usize)>, out: &mut BTreeMap<PkgName, Policy>| {
        if let Some((n, p, _)) = cur.take() {
            out.insert(n, p);
        }
    };
    for line in body.lines() {
        if line.trim().is_empty() || is_noise(line) {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent == 0 {
            let name = line.strip_suffix(':').ok_or_else(|| malformed(CMD, format!("unexpected line: {line}")))?;
            flush(&mut current, &mut out);
            current = Some((arch.name(name)?, Policy::default(), 0));
            version = None;
            continue;
        }
        let Some((_, pol, keys)) = current.as_mut() else {
            return Err(malformed(CMD, format!("line before any package: {line}")));
        };
        let t = line.trim();
        if indent == 2 {
            if let Some((_, value)) = t.split_once(':') {
                let value = value.trim();
                let parsed = if value.starts_with('(') || value.is_empty() {
                    None
                } else {
                    Some(Version::parse_in(&Debian, value)?)
                };
                match *keys {
                    0 => pol.installed = parsed,
                    1 => pol.candidate = parsed,
                    _ => {} // "Package pin:", "Version table:"
                }
                *keys += 1;
            }
        } else if (indent == 1 && t.starts_with("*** ")) || indent == 5 {
            let v = t.trim_start_matches("*** ").split_whitespace().next().unwrap_or("");
            version = Some(Version::parse_in(&Debian, v)?);
        } else if indent >= 6 {
            let v = version.as_ref().ok_or_else(|| malformed(CMD, format!("source before version: {line}")))?;
            let source = t.split_whitespace().nth(1).unwrap_or("");
            if source != "/var/lib/dpkg/status" && !pol.from_repo.contains(v) {
                pol.from_repo.push(v.clone());
            }
        } else {
            return Err(malformed(CMD, format!("unexpected indentation: {line}")));
        }
    }
    flush(&mut current, &mut out);
    Ok(out)
}

/// `/var/cache/apt/archives/*.deb` names: `NAME_VERSION_ARCH.deb`, `%3a` for `:`.
///
/// A cached .deb can be reinstalled without a repository. Names that do not have this
/// shape, or do not decode to a valid name and version, are skipped rather than
/// rejected: leaving one out can only make a rollback look less feasible, never more.
pub fn cache(body: &str, arch: &NativeArch) -> Vec<(PkgName, Version)> {
    let mut out = Vec::new();
    for line in body.lines() {
        let Some(stem) = line.trim().strip_suffix(".deb") else { continue };
        let parts: Vec<&str> = stem.split('_').collect();
        let [name, version, deb_arch] = parts[..] else { continue };
        let Some(version) = percent_decode(version) else { continue };
        let qualified = format!("{name}:{deb_arch}");
        let (Ok(name), Ok(version)) = (arch.name(&qualified), Version::parse_in(&Debian, &version)) else { continue };
        out.push((name, version));
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Assembles [`PkgFacts`] from the sections printed by [`super::probe::PROBE_SCRIPT`].
///
/// The `installed` section is required (an empty one means there is no dpkg: not a
/// Debian-family host, or the probe failed). Other sections may be missing or empty.
///
/// Kept back = the C-locale "kept back" list, plus every package `apt-cache policy` shows
/// with a candidate newer than the installed version that the upgrade does not touch (held
/// packages are always in the policy list). `installable` holds, for every package that
/// the upgrade would change or that is held, the versions available from a repository or
/// a cached .deb (in no particular order: the probe sorts them by [`Debian`]'s order).
/// The `os` section is not read here: it is the probe prelude's, common to every manager.
pub fn parse_probe(sections: &BTreeMap<String, String>) -> Result<PkgFacts, ParseError> {
    let get = |k: &str| sections.get(k).map(String::as_str).unwrap_or("");
    let arch = NativeArch::new(get("arch"));
    let states = states(get("installed"), &arch)?;
    let installed: BTreeMap<PkgName, Version> =
        states.iter().filter_map(|(n, s)| Some((n.clone(), s.version.clone().filter(|_| s.installed)?))).collect();
    let mut db = dpkg_health(get("dpkg"))?;
    db.unfinished = states
        .iter()
        .filter(|(_, s)| s.unfinished)
        .map(|(n, s)| Unfinished { name: n.clone(), status: s.status.clone() })
        .collect();
    if installed.is_empty() {
        return Err(malformed("dpkg-query -W", "no installed packages reported (is dpkg present?)"));
    }
    let plan = upgrade(get("upgrade"), &arch)?;
    let held = name_list(get("held"), &arch)?;
    let (reboot_required, reboot_required_by) = reboot(get("reboot"), &arch)?;
    let restart_services = needrestart(get("needrestart"))?;
    let policies = policy(get("policy"), &arch)?;

    let mut kept_back = plan.kept_back;
    for (name, p) in &policies {
        if let (Some(i), Some(c)) = (&p.installed, &p.candidate)
            && Debian.compare(i, c).is_lt()
            && !plan.pending.contains_key(name)
            && !plan.removals.contains(name)
        {
            kept_back.insert(name.clone());
        }
    }

    let mut installable: BTreeMap<PkgName, Vec<Version>> =
        policies.into_iter().map(|(n, p)| (n, p.from_repo)).collect();
    let changing: BTreeSet<&PkgName> = plan.pending.keys().chain(&plan.removals).chain(&held).collect();
    for (name, version) in cache(get("cache"), &arch) {
        if changing.contains(&name) {
            let versions = installable.entry(name).or_default();
            if !versions.contains(&version) {
                versions.push(version);
            }
        }
    }

    Ok(PkgFacts {
        installed,
        pending: plan.pending.into_values().collect(),
        removals: plan.removals,
        held,
        kept_back,
        reboot_required,
        reboot_required_by,
        restart_services,
        installable,
        states,
        db,
        ..PkgFacts::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amd64() -> NativeArch {
        NativeArch::new("amd64")
    }

    #[test]
    fn arch_qualifiers_are_normalised() {
        let a = amd64();
        assert_eq!(a.name("libc6:amd64").unwrap().as_str(), "libc6");
        assert_eq!(a.name("libjs-jquery:all").unwrap().as_str(), "libjs-jquery");
        assert_eq!(a.name("libc6:i386").unwrap().as_str(), "libc6:i386");
        assert!(a.name("foo;id:amd64").is_err());
    }

    #[test]
    fn inst_lines() {
        let a = amd64();
        let body = "Inst libssl3 [3.0.11-1~deb12u2] (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])\n\
                    Inst pd-newdep (1.0 localhost [amd64])\n\
                    Inst libgcrypt20 [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64]) []\n\
                    Conf libssl3 (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])\n\
                    Remv ed [1.19-1]\n";
        let plan = upgrade(body, &a).unwrap();
        let ssl = &plan.pending[&PkgName::parse_in(&Debian, "libssl3").unwrap()];
        assert_eq!(ssl.from.as_ref().unwrap().as_str(), "3.0.11-1~deb12u2");
        assert_eq!(ssl.to.as_str(), "3.0.15-1~deb12u1");
        assert_eq!(ssl.origin, "Debian-Security:12/stable-security");
        assert!(ssl.security);
        let new = &plan.pending[&PkgName::parse_in(&Debian, "pd-newdep").unwrap()];
        assert_eq!((new.from.is_none(), new.origin.as_str(), new.security), (true, "localhost", false));
        let g = &plan.pending[&PkgName::parse_in(&Debian, "libgcrypt20").unwrap()];
        assert_eq!(g.origin, "Debian:12.15/oldstable, Debian-Security:12/oldstable-security");
        assert!(g.security);
        assert!(plan.removals.contains(&PkgName::parse_in(&Debian, "ed").unwrap()));
    }

    #[test]
    fn failed_upgrade_is_an_error() {
        let body = "E: Unable to correct problems, you have held broken packages.\npatchdeck-exit: 100\n";
        let e = upgrade(body, &amd64()).unwrap_err();
        assert!(e.to_string().contains("held broken packages"), "{e}");
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/apt/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn every_package_in_every_state_from_real_dpkg_query() {
        let a = amd64();
        // A dpkg killed in a postinst (`iF`) and a `dpkg --unpack` never configured (`iU`).
        let s = states(&fixture("dpkg-query-unpacked.txt"), &a).unwrap();
        let get = |n: &str| &s[&PkgName::parse_in(&Debian, n).unwrap()];
        assert_eq!((get("pd-interrupt").status.as_str(), get("pd-interrupt").unfinished), ("iF", true));
        assert!(!get("pd-interrupt").installed);
        assert_eq!(
            (get("tree").status.as_str(), get("tree").version.as_ref().unwrap().as_str()),
            ("iU", "2.1.0-1+pd1")
        );
        assert_eq!((get("less").status.as_str(), get("less").installed, get("less").unfinished), ("ii", true, false));
        // Left out of the installed versions, as before.
        let installed = installed(&fixture("dpkg-query-unpacked.txt"), &a).unwrap();
        assert!(!installed.contains_key(&PkgName::parse_in(&Debian, "tree").unwrap()));
        assert_eq!(installed.len(), s.len() - 2);
        // Healthy at rest: selections and config-files-only; unfinished: every half state.
        let body = "hi \theld\t1.0\nrc \tgone\t2.0\nun \tnever\t\niHR\ttzdata\t2024a-0+deb12u1\n\
                    iW \twaits\t1\nit \tpends\t1\niH \thalf\t1\n";
        let s = states(body, &a).unwrap();
        let flags = |n: &str| {
            let p = &s[&PkgName::parse_in(&Debian, n).unwrap()];
            (p.installed, p.unfinished)
        };
        assert_eq!(flags("held"), (true, false));
        assert_eq!(flags("gone"), (false, false));
        assert_eq!(
            (flags("never"), s[&PkgName::parse_in(&Debian, "never").unwrap()].version.is_none()),
            ((false, false), true)
        );
        assert_eq!(flags("tzdata"), (false, true));
        assert_eq!(flags("waits"), (true, true));
        assert_eq!(flags("pends"), (true, true));
        assert_eq!(flags("half"), (false, true));
        // A status dpkg never prints is refused, not guessed.
        for bad in ["iX \tx\t1\n", "zi \tx\t1\n", "iiQ\tx\t1\n", "iiR \tx\t1\n"] {
            assert!(states(bad, &a).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dpkg_section_from_a_real_interrupted_and_locked_host() {
        let h = dpkg_health(&fixture("dpkg-section-locked-unpacked.txt")).unwrap();
        assert_eq!(h.locked_by, ["/var/lib/dpkg/lock-frontend (pid 8169)", "/var/lib/dpkg/lock (pid 8169)"]);
        assert!(h.audit.iter().any(|l| l.contains("only half configured")), "{:?}", h.audit);
        assert!(!h.interrupted, "dpkg merged its journal when the unpack ended");
        assert_eq!(h.fix, "dpkg --configure -a");
        let free = dpkg_health(&fixture("dpkg-section-unpacked.txt")).unwrap();
        assert!(!free.locked() && !free.audit.is_empty());
        // The audit alone judges nothing (it also speaks when dpkg is merely locked): the
        // package states and the journal do.
        assert!(!free.needs_repair());
        assert!(dpkg_health("updates 5\n").unwrap().interrupted);
        assert!(!dpkg_health("updates 0\n").unwrap().interrupted);
        assert!(dpkg_health("lock /var/lib/dpkg/lock $(reboot)\n").is_err());
        assert!(dpkg_health("lock /var/lib/dpkg/lock\n").is_err());
        assert!(dpkg_health("surprise\n").is_err());
        assert_eq!(dpkg_health("audit \u{1b}[2Jboom\n").unwrap().audit.len(), 1);
    }

    #[test]
    fn an_interrupted_host_probe_reports_its_unfinished_packages() {
        let mut sections = BTreeMap::new();
        sections.insert("arch".to_string(), "amd64\n".to_string());
        sections.insert("installed".to_string(), fixture("dpkg-query-interrupted.txt"));
        sections.insert("dpkg".to_string(), "updates 5\n".to_string());
        let f = parse_probe(&sections).unwrap();
        assert!(f.db.interrupted && f.db.needs_repair());
        assert_eq!(f.db.unfinished_list(), "pd-interrupt (iF)");
        assert_eq!(f.states.len(), f.installed.len() + 1);
    }

    #[test]
    fn garbage_never_panics() {
        let a = amd64();
        for body in
            ["Inst", "Inst x", "Inst ab [", "Inst ab [1.0", "Inst ab (", "Inst ab (1.0", "Remv", "\u{1b}", "ab:\n   x"]
        {
            let _ = upgrade(body, &a);
            let _ = policy(body, &a);
            let _ = installed(body, &a);
            let _ = dpkg_health(body);
            let _ = cache(body, &a);
            let _ = reboot(body, &a);
        }
        assert_eq!(percent_decode("1%3"), None);
        assert_eq!(percent_decode("1%3a2").as_deref(), Some("1:2"));
    }
}
