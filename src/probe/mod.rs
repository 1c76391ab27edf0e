//! The probe: ONE round trip per host that gathers everything `check` needs (package
//! facts from the package manager, plus the runbook's config fingerprints).
//!
//! Framing: the script prints sections, each starting with a line `@@patchdeck:NAME`.
//! The package part comes from the registry ([`Managers::probe_script`]): the `os` and
//! `manager` sections, then the sections of the host's own [`PackageManager`], chosen on
//! the host in the same round trip; fingerprint sections are `fp.N` (N = index into the
//! runbook's fingerprints) and are built here; the `drift` section (the configuration map,
//! [`crate::drift`]) comes from its own module.
//!
//! The resolver's sections are the costly part; [`cache`] keeps them per host so a host
//! whose package state has not changed is not asked again, and [`share`] asks one host per
//! distinct package state when several hosts of a check are clones.

pub mod cache;
mod fingerprint;
pub mod kept_drift;
pub mod share;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use cache::ProbeCache;
pub use fingerprint::{FpValue, normalize_command_output, sha256_hex};
pub use share::{Probed, Sharing, probe_host_shared};

use crate::inventory::Host;
use crate::pkg::{Managers, OS_SECTION, OsRelease, PackageManager, ParseError, PkgFacts};
use crate::runbook::Fingerprint;
use crate::transport::{Command, Purpose, Transport, TransportError};

/// Marks the start of a section in probe output.
pub const SECTION_MARK: &str = "@@patchdeck:";

/// Everything one probe learned about a host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    /// The package manager that answered ([`crate::pkg::PackageManager::name`]): its
    /// commands change this host, its scheme orders this host's versions.
    #[serde(default)]
    pub manager: String,
    pub pkg: PkgFacts,
    /// Fingerprint label (see [`Fingerprint::label`]) -> value.
    pub fingerprints: BTreeMap<String, FpValue>,
    /// The configuration map ([`crate::drift`]); `None` when the probe did not gather it
    /// ([`Mode::Installed`]) or the host's answer was cut short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<crate::drift::DriftMap>,
}

/// Why a host could not be probed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{host}: probe failed (exit {status:?}): {stderr}")]
    Failed { host: String, status: Option<i32>, stderr: String },
    #[error("{host}: {source}")]
    Parse { host: String, source: ParseError },
}

/// Where a probe's resolver sections came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolver {
    /// The host's resolver ran for this probe.
    Ran,
    /// The host's package state was unchanged: the answer kept from an earlier run stands.
    Reused,
    /// Another host whose package state has the same content digest answered (see [`share`]).
    Shared,
    /// Not asked ([`Mode::Installed`]).
    Skipped,
}

/// How much a probe asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Everything `check` needs, the resolver's answer included.
    Full,
    /// Installed versions, reboot flag and cached packages only: what a step needs before
    /// and after it changes packages. The resolver does not run, so pending updates,
    /// holds and installable versions come back empty.
    Installed,
    /// Everything [`Mode::Full`] asks except the resolver, plus the content digest of its
    /// inputs (a few ms of host CPU): the first pass of [`share`]. A host whose kept answer
    /// still stands says so, as in [`Mode::Full`].
    Digests,
}

/// The probe command for a host: package sections, then fingerprint sections.
/// Everything runs with the C locale so output is the same on every host.
pub fn command(managers: &Managers, fingerprints: &[Fingerprint], timeout: Duration) -> Command {
    command_with(managers, fingerprints, timeout, Mode::Full, None)
}

/// The probe command, telling the host the package state it had when its resolver sections
/// were kept (`known_state`, checked to be a digest) so it can skip the resolver.
pub fn command_with(
    managers: &Managers,
    fingerprints: &[Fingerprint],
    timeout: Duration,
    mode: Mode,
    known_state: Option<&str>,
) -> Command {
    command_knowing(managers, fingerprints, timeout, mode, Known { state: known_state, drift: None })
}

/// What the operator kept from a host's last probe, sent so the host can skip what has not
/// changed: its package state ([`cache`]) and its configuration map's costly parts
/// ([`kept_drift`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    pub state: Option<&'a str>,
    pub drift: Option<&'a kept_drift::KeptParts>,
}

/// The probe command, with what was kept from the host's last probe.
pub fn command_knowing(
    managers: &Managers,
    fingerprints: &[Fingerprint],
    timeout: Duration,
    mode: Mode,
    known: Known<'_>,
) -> Command {
    let known_state = known.state;
    let mut script = String::from("export LC_ALL=C LANG=C LANGUAGE=C\n");
    // Fingerprints are read as the window's commands run: as root (through `sudo -n` when
    // the host uses sudo, see `exec_probe`), with root's command directories on PATH.
    script.push_str(
        "PATH=\"$PATH:/usr/local/sbin:/usr/sbin:/sbin\"\n\
         if [ -n \"${PD_SUDO:-}\" ] && [ \"$(id -u)\" != 0 ]; then pd_root='sudo -n'; else pd_root=; fi\n",
    );
    match mode {
        Mode::Full => {}
        Mode::Installed => script.push_str("PD_PROBE_MODE=installed\n"),
        Mode::Digests => script.push_str("PD_PROBE_MODE=digests\n"),
    }
    if let Some(state) = known_state.filter(|s| cache::is_digest(s)) {
        script.push_str(&format!("PD_KNOWN_PKG_STATE={state}\n"));
    }
    script.push_str(&managers.probe_script());
    script.push('\n');
    // The configuration map, in a section of its own (not wanted right after a change).
    if mode != Mode::Installed {
        // As root where the host uses sudo (`$pd_root`), like the fingerprints: a map read
        // by a non-root login would miss what only root can read (root-only sysctls, files).
        // The digests kept from its last probe go inside (sudo passes no environment).
        let mut drift = String::new();
        for part in kept_drift::Part::ALL {
            if let Some(d) = known.drift.and_then(|k| k.digest(part)).filter(|d| cache::is_digest(d)) {
                drift.push_str(&format!("{}={d}\n", part.known_variable()));
            }
        }
        drift.push_str(crate::drift::probe_as_sent());
        // Without sudo, in a subshell of this shell: no new shell to start on every host.
        let drift = crate::transport::ssh::sh_quote(&drift);
        script.push_str(&format!(
            "echo '{SECTION_MARK}{}'\npd_drift={drift}\n\
             if [ -n \"$pd_root\" ]; then $pd_root sh -c \"$pd_drift\"; else (eval \"$pd_drift\"); fi\n",
            crate::drift::SECTION
        ));
    }
    for (i, fp) in fingerprints.iter().enumerate() {
        script.push_str(&format!("echo '{SECTION_MARK}fp.{i}'\n"));
        script.push_str(&fingerprint::script(fp));
        script.push('\n');
    }
    script.push_str("exit 0\n");
    Command {
        script,
        purpose: Purpose::Probe { fingerprints: fingerprints.to_vec() },
        // Reading package state and most config files needs no root; files that do
        // are reported as unreadable rather than escalating.
        needs_root: false,
        timeout,
        detached: None,
    }
}

/// Splits probe output into sections. Text before the first mark is ignored (login banners).
/// A section named twice keeps its first body: a later duplicate can only be noise or forgery.
pub fn split_sections(stdout: &str) -> BTreeMap<String, String> {
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in stdout.split_inclusive('\n') {
        if let Some(name) = line.trim_end().strip_prefix(SECTION_MARK) {
            if let Some((n, body)) = current.take() {
                sections.entry(n).or_insert(body);
            }
            current = Some((name.to_string(), String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
        }
    }
    if let Some((n, body)) = current {
        sections.entry(n).or_insert(body);
    }
    sections
}

/// Parses full probe output into facts.
pub fn parse(managers: &Managers, fingerprints: &[Fingerprint], stdout: &str) -> Result<HostFacts, ParseError> {
    let sections = split_sections(stdout);
    parse_sections(managers.answering(&sections)?, fingerprints, &sections)
}

/// The facts of a probe output that `pm` answered: its sections, the prelude's os-release,
/// the installable versions in its scheme's order, and the fingerprints.
fn parse_sections(
    pm: &dyn PackageManager,
    fingerprints: &[Fingerprint],
    sections: &BTreeMap<String, String>,
) -> Result<HostFacts, ParseError> {
    let mut pkg = pm.parse_probe(sections)?;
    pkg.os = OsRelease::parse(sections.get(OS_SECTION).map_or("", String::as_str));
    pkg.sort_installable(pm.scheme());
    let fingerprints = fingerprints
        .iter()
        .enumerate()
        .map(|(i, fp)| {
            let body = sections.get(&format!("fp.{i}")).map(String::as_str);
            (fp.label(), fingerprint::parse(fp, body))
        })
        .collect();
    let drift = crate::drift::map::parse(sections.get(crate::drift::SECTION).map(String::as_str));
    Ok(HostFacts { manager: pm.name().to_string(), pkg, fingerprints, drift })
}

/// Probes one host: one command, one round trip, the resolver included.
pub async fn probe_host(
    transport: &dyn Transport,
    managers: &Managers,
    host: &Host,
    fingerprints: &[Fingerprint],
    timeout: Duration,
) -> Result<HostFacts, ProbeError> {
    Ok(probe_host_with(transport, managers, host, fingerprints, timeout, Mode::Full, None).await?.0)
}

/// Probes one host in `mode`; with a cache, the resolver runs only if the host's package
/// state changed since the kept answer, and a fresh answer is kept for next time.
pub async fn probe_host_with(
    transport: &dyn Transport,
    managers: &Managers,
    host: &Host,
    fingerprints: &[Fingerprint],
    timeout: Duration,
    mode: Mode,
    cache: Option<&ProbeCache>,
) -> Result<(HostFacts, Resolver), ProbeError> {
    let mode = if mode == Mode::Digests { Mode::Full } else { mode };
    let kept = cache.filter(|_| mode == Mode::Full).and_then(|c| c.get(host, &managers.probe_script()));
    let raw = exec_probe(transport, managers, host, fingerprints, timeout, mode, Kept { answer: kept.as_ref(), cache })
        .await?;
    match settle(managers, host, fingerprints, mode, cache, kept, raw)? {
        Settled::Done { facts, resolver, .. } => Ok((*facts, resolver)),
        Settled::Deferred { .. } => Err(deferred_unasked(host)),
    }
}

pub(crate) fn deferred_unasked(host: &Host) -> ProbeError {
    ProbeError::Parse {
        host: host.name.clone(),
        source: ParseError::Malformed {
            command: "probe".into(),
            detail: "the host left out its resolver's answer, which was asked for".into(),
        },
    }
}

/// One probe's output, split, with what its `pkgstate` section said.
struct Raw {
    sections: BTreeMap<String, String>,
    line: cache::StateLine,
}

/// What the operator kept for a host: the resolver's answer it sends the state of, and the
/// cache holding that and the configuration map's file lines.
#[derive(Clone, Copy)]
pub(crate) struct Kept<'a> {
    pub answer: Option<&'a cache::Entry>,
    pub cache: Option<&'a ProbeCache>,
}

/// Runs the probe once; `kept`'s state goes with it so an unchanged host can say so.
async fn exec_probe(
    transport: &dyn Transport,
    managers: &Managers,
    host: &Host,
    fingerprints: &[Fingerprint],
    timeout: Duration,
    mode: Mode,
    kept: Kept<'_>,
) -> Result<Raw, ProbeError> {
    let Kept { answer: kept, cache } = kept;
    let kept_drift = cache.filter(|_| mode != Mode::Installed).and_then(|c| c.drift_parts(host));
    let known = Known { state: kept.map(|e| e.state.as_str()), drift: kept_drift.as_ref() };
    let mut cmd = command_knowing(managers, fingerprints, timeout, mode, known);
    if host.sudo {
        cmd.script = format!("PD_SUDO=1\n{}", cmd.script);
    }
    let out = transport.exec(host, &cmd).await?;
    if !out.success() {
        let stderr = crate::safe_text::for_terminal(out.stderr_lossy().trim());
        return Err(ProbeError::Failed { host: host.name.clone(), status: out.status, stderr });
    }
    if out.stdout_cut > 0 {
        // Read in part, a probe would describe a host that does not exist.
        return Err(ProbeError::Failed {
            host: host.name.clone(),
            status: out.status,
            stderr: format!(
                "the probe printed more than {}: refused rather than read in part",
                crate::transport::stream::human_bytes(cmd.purpose.kept_bytes() as u64)
            ),
        });
    }
    let mut sections = split_sections(&out.stdout_lossy());
    settle_drift_parts(host, cache, kept_drift.as_ref(), &mut sections)?;
    let line = cache::StateLine::parse(sections.get(cache::STATE_SECTION).map(String::as_str));
    Ok(Raw { sections, line })
}

/// Puts the kept lines of the configuration map's parts back into the `drift` section where
/// the host said they stand, and keeps the whole section's parts (a finished section only)
/// for next time.
fn settle_drift_parts(
    host: &Host,
    cache: Option<&ProbeCache>,
    kept: Option<&kept_drift::KeptParts>,
    sections: &mut BTreeMap<String, String>,
) -> Result<(), ProbeError> {
    let Some(body) = sections.get_mut(crate::drift::SECTION) else { return Ok(()) };
    // Every part unchanged (checked against the kept digests by `restore`): the kept parts
    // stand as they are, nothing to take apart again.
    let all_unchanged = kept_drift::Part::ALL
        .into_iter()
        .all(|part| matches!(kept_drift::KeptLine::parse(body, part), kept_drift::KeptLine::Unchanged(_)));
    *body = kept_drift::restore(body, kept).map_err(|kept_drift::NotSent(part)| ProbeError::Parse {
        host: host.name.clone(),
        source: ParseError::Malformed {
            command: "probe".into(),
            detail: format!(
                "the host said its configuration map's {} are unchanged, but not since the state we sent",
                part.name()
            ),
        },
    })?;
    if let Some(c) = cache
        && !all_unchanged
        && body.lines().any(|l| l == "end")
        && let Some(now) = kept_drift::KeptParts::from_body(body)
        && kept != Some(&now)
    {
        c.put_drift_parts(host, now);
    }
    Ok(())
}

/// What a probe came to.
enum Settled {
    /// The host's facts. With `resolver == Ran`: the resolver's sections of this very output
    /// (`answer`) and the content digest the host printed with them, if any.
    Done { facts: Box<HostFacts>, resolver: Resolver, content: Option<String>, answer: BTreeMap<String, String> },
    /// [`Mode::Digests`]: everything but the resolver's sections, both digests, and the
    /// manager that answered (an answer serves only hosts of the same manager).
    Deferred {
        sections: BTreeMap<String, String>,
        state: Option<String>,
        content: Option<String>,
        manager: &'static str,
    },
}

/// Turns a probe's output into facts (reusing `kept` where the host says it may, keeping a
/// fresh answer in `cache`), or, in [`Mode::Digests`], into what the resolver still needs.
fn settle(
    managers: &Managers,
    host: &Host,
    fingerprints: &[Fingerprint],
    mode: Mode,
    cache: Option<&ProbeCache>,
    kept: Option<cache::Entry>,
    raw: Raw,
) -> Result<Settled, ProbeError> {
    let parse_err = |source| ProbeError::Parse { host: host.name.clone(), source };
    let Raw { mut sections, line } = raw;
    let pm = managers.answering(&sections).map_err(parse_err)?;
    match line {
        cache::StateLine::Unchanged(state) => {
            // Only the answer kept for exactly this state (and manager) may stand in for the
            // resolver's.
            let Some(kept) = kept.filter(|k| k.state == state && k.manager == pm.name()) else {
                return Err(parse_err(ParseError::Malformed {
                    command: "probe".into(),
                    detail: "the host said its package state is unchanged, but not the one we sent".into(),
                }));
            };
            insert_resolver(pm, &mut sections, &kept.sections);
            let facts = parse_sections(pm, fingerprints, &sections).map_err(parse_err)?;
            Ok(Settled::Done {
                facts: Box::new(facts),
                resolver: Resolver::Reused,
                content: None,
                answer: BTreeMap::new(),
            })
        }
        cache::StateLine::Skipped => {
            let facts = parse_sections(pm, fingerprints, &sections).map_err(parse_err)?;
            Ok(Settled::Done {
                facts: Box::new(facts),
                resolver: Resolver::Skipped,
                content: None,
                answer: BTreeMap::new(),
            })
        }
        cache::StateLine::Deferred { state, content } if mode == Mode::Digests => {
            // The resolver's sections are not in this output; anything by those names is not
            // the resolver's and must not be mistaken for it.
            for name in pm.resolver_sections() {
                sections.remove(*name);
            }
            Ok(Settled::Deferred { sections, state, content, manager: pm.name() })
        }
        cache::StateLine::Deferred { .. } => Err(deferred_unasked(host)),
        cache::StateLine::Fresh { state, content } => {
            let facts = parse_sections(pm, fingerprints, &sections).map_err(parse_err)?;
            let answer = resolver_sections(pm, &sections);
            // Installed-only output has no resolver's answer to keep.
            if let (Some(c), Some(state), Mode::Full | Mode::Digests) = (cache, state, mode) {
                let entry = cache::Entry::new(pm.name(), state, answer.clone()).with_content(content.clone());
                c.put(host, &managers.probe_script(), entry);
            }
            Ok(Settled::Done { facts: Box::new(facts), resolver: Resolver::Ran, content, answer })
        }
    }
}

/// The resolver's sections of a probe output, to keep or share.
fn resolver_sections(pm: &dyn PackageManager, sections: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    pm.resolver_sections().iter().filter_map(|n| Some((n.to_string(), sections.get(*n)?.clone()))).collect()
}

/// Puts an answer's resolver sections into a probe output that has none.
fn insert_resolver(
    pm: &dyn PackageManager,
    sections: &mut BTreeMap<String, String>,
    answer: &BTreeMap<String, String>,
) {
    for name in pm.resolver_sections() {
        sections.insert(name.to_string(), answer.get(*name).cloned().unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_and_ignore_banner_and_duplicates() {
        let out = "Welcome!\n@@patchdeck:os\nID=debian\n@@patchdeck:fp.0\nabc  /x\n@@patchdeck:os\nID=evil\n";
        let s = split_sections(out);
        assert_eq!(s.len(), 2);
        assert_eq!(s["os"], "ID=debian\n");
        assert_eq!(s["fp.0"], "abc  /x\n");
    }

    /// apt's parser behind a script that plays a host: its package state and resolver
    /// answer are files the test rewrites; each resolver run is counted. Through [`Played`],
    /// one script plays a fleet: each host's files are in its own directory.
    ///
    /// Files: `state` (stat digest), `content` (content digest, optional), `next` (becomes
    /// `content` right after a digests-only probe: the state moved between the passes),
    /// `upgrade` (the resolver's answer), `reboot` (reboot required), `slow` (the resolver
    /// takes a second); written by it: `runs` (one line per resolver run), `pass1` and
    /// `resolved` (when the last digests-only probe and resolver run ended, in ns).
    struct PlayedHost {
        dir: std::path::PathBuf,
        /// Says "unchanged" whatever it is sent.
        liar: bool,
        /// Says "deferred" even when asked for the resolver's answer.
        defers: bool,
    }

    impl PlayedHost {
        /// A registry holding only this played host's manager.
        fn managers(self) -> Managers {
            Managers::new(vec![std::sync::Arc::new(self)])
        }
    }

    impl PackageManager for PlayedHost {
        fn name(&self) -> &'static str {
            "apt"
        }
        fn scheme(&self) -> &dyn crate::pkg::VersionScheme {
            &crate::pkg::apt::Debian
        }
        fn detect(&self) -> crate::pkg::Detect {
            crate::pkg::Detect { families: &[], tools: &["sh"] }
        }
        fn probe_script(&self) -> String {
            let d = self.dir.display();
            let (liar, defers) = (self.liar, self.defers);
            format!(
                "d=${{PD_PLAYED:-{d}}}\n\
                 echo '@@patchdeck:arch'; echo amd64\n\
                 echo '@@patchdeck:installed'; printf 'ii \\tless\\t590-2\\n'\n\
                 echo '@@patchdeck:pkgstate'; st=$(cat \"$d/state\"); echo \"$st\"\n\
                 if [ \"$st\" = \"${{PD_KNOWN_PKG_STATE:-}}\" ] || {liar}; then echo unchanged; else\n\
                 if [ -f \"$d/content\" ]; then echo \"content $(cat \"$d/content\")\"; fi\n\
                 if [ \"${{PD_PROBE_MODE:-}}\" = digests ] || {defers}; then echo deferred; date +%s%N >\"$d/pass1\"\n\
                   if [ -f \"$d/next\" ]; then mv \"$d/next\" \"$d/content\"; fi\n\
                 else echo '@@patchdeck:upgrade'; cat \"$d/upgrade\"; echo 'patchdeck-exit: 0'; echo run >>\"$d/runs\"\n\
                   if [ -f \"$d/slow\" ]; then sleep 1; fi; date +%s%N >\"$d/resolved\"; fi\n\
                 fi\n\
                 echo '@@patchdeck:reboot'; if [ -f \"$d/reboot\" ]; then echo reboot-required; fi\n"
            )
        }
        fn parse_probe(&self, s: &BTreeMap<String, String>) -> Result<PkgFacts, ParseError> {
            crate::pkg::apt::Apt.parse_probe(s)
        }
        fn resolver_sections(&self) -> &'static [&'static str] {
            &crate::pkg::apt::probe::RESOLVER_SECTIONS
        }
        fn install_exact(&self, p: &[(crate::pkg::PkgName, crate::pkg::Version)], t: Duration) -> Command {
            crate::pkg::apt::Apt.install_exact(p, t)
        }
        fn history_script(&self) -> String {
            String::new()
        }
        fn parse_last_upgrade(&self, o: &str) -> Result<Vec<crate::pkg::Pending>, ParseError> {
            crate::pkg::apt::Apt.parse_last_upgrade(o)
        }
        fn restore(&self, s: &[(crate::pkg::PkgName, Option<crate::pkg::Version>)], t: Duration) -> Command {
            crate::pkg::apt::Apt.restore(s, t)
        }
        fn repair(&self, t: Duration) -> Command {
            crate::pkg::apt::Apt.repair(t)
        }
    }

    #[tokio::test]
    async fn the_resolver_runs_again_only_when_the_package_state_changed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let state = |n: u8| format!("{:064x}", n);
        let write = |st: &str, upgrade: &str| {
            std::fs::write(dir.join("state"), st).unwrap();
            std::fs::write(dir.join("upgrade"), upgrade).unwrap();
        };
        let runs = || std::fs::read_to_string(dir.join("runs")).map_or(0, |r| r.lines().count());
        let pm = PlayedHost { dir: dir.to_path_buf(), liar: false, defers: false }.managers();
        let t = crate::transport::local::LocalTransport::new();
        let host = Host::named("prod1");
        let cache = ProbeCache::persistent(dir.join("cache"));
        async fn probe_with(
            t: &dyn Transport,
            pm: &Managers,
            host: &Host,
            cache: Option<&ProbeCache>,
        ) -> (HostFacts, Resolver) {
            probe_host_with(t, pm, host, &[], Duration::from_secs(10), Mode::Full, cache).await.unwrap()
        }
        let probe = |cache| probe_with(&t, &pm, &host, cache);
        let pending = |f: &HostFacts| f.pkg.pending.iter().map(|p| p.to.to_string()).collect::<Vec<_>>();

        write(&state(1), "Inst less [590-2] (590-3 Debian:12/stable [amd64])\n");
        let (first, r) = probe(Some(&cache)).await;
        assert_eq!((r, runs(), pending(&first)), (Resolver::Ran, 1, vec!["590-3".to_string()]));
        // Same state: the kept answer stands, parsed to the very same facts.
        let (second, r) = probe(Some(&cache)).await;
        assert_eq!((r, runs()), (Resolver::Reused, 1));
        assert_eq!(second, first);
        // ... also from a new process reading the kept file.
        let reread = ProbeCache::persistent(dir.join("cache"));
        let (third, r) = probe(Some(&reread)).await;
        assert_eq!((r, runs(), &third), (Resolver::Reused, 1, &first));
        // The state moved (apt update, a new pin, an install): the resolver runs again.
        write(&state(2), "Inst less [590-2] (590-4 Debian:12/stable [amd64])\n");
        let (moved, r) = probe(Some(&cache)).await;
        assert_eq!((r, runs(), pending(&moved)), (Resolver::Ran, 2, vec!["590-4".to_string()]));
        // Without a cache it always runs.
        let (_, r) = probe(None).await;
        assert_eq!((r, runs()), (Resolver::Ran, 3));
    }

    #[tokio::test]
    async fn unchanged_is_believed_only_for_the_state_we_sent() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("state"), format!("{:064x}", 7)).unwrap();
        std::fs::write(dir.join("upgrade"), "Inst less [590-2] (590-3 Debian:12/stable [amd64])\n").unwrap();
        let t = crate::transport::local::LocalTransport::new();
        let host = Host::named("prod1");
        let cache = ProbeCache::in_memory();
        let honest = PlayedHost { dir: dir.to_path_buf(), liar: false, defers: false }.managers();
        probe_host_with(&t, &honest, &host, &[], Duration::from_secs(10), Mode::Full, Some(&cache)).await.unwrap();
        // The host's state moves, but it claims "unchanged" whatever it was sent.
        std::fs::write(dir.join("state"), format!("{:064x}", 8)).unwrap();
        let liar = PlayedHost { dir: dir.to_path_buf(), liar: true, defers: false }.managers();
        for c in [Some(&cache), None] {
            let err = probe_host_with(&t, &liar, &host, &[], Duration::from_secs(10), Mode::Full, c).await.unwrap_err();
            assert!(err.to_string().contains("unchanged, but not the one we sent"), "{err}");
        }
    }

    /// The local machine playing a host whose `/etc` is `etc` and `/proc` is beside it (the
    /// drift part reads them there; paths come back as under `/etc`); keeps each probe's
    /// output to see what was sent.
    struct EtcAt {
        etc: std::path::PathBuf,
        local: crate::transport::local::LocalTransport,
        outputs: std::sync::Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl Transport for EtcAt {
        fn kind(&self) -> &'static str {
            "etc-at"
        }
        async fn exec(&self, host: &Host, cmd: &Command) -> Result<crate::transport::Output, TransportError> {
            let etc = self.etc.display().to_string();
            let proc = self.etc.with_file_name("proc").display().to_string();
            let script = cmd
                .script
                .replace("pd_d_etc=/etc", &format!("pd_d_etc={etc}"))
                .replace("pd_d_proc=/proc", &format!("pd_d_proc={proc}"));
            let mut out = self.local.exec(host, &Command { script, ..cmd.clone() }).await?;
            out.stdout =
                String::from_utf8_lossy(&out.stdout).replace(&etc, "/etc").replace(&proc, "/proc").into_bytes();
            self.outputs.lock().unwrap().push(out.stdout_lossy());
            Ok(out)
        }
        async fn close(&self) {}
    }

    #[tokio::test]
    async fn the_configuration_files_are_read_again_only_when_their_metadata_moved() {
        let tmp = tempfile::tempdir().unwrap();
        let etc = tmp.path().join("etc");
        std::fs::create_dir_all(etc.join("sysctl.d")).unwrap();
        std::fs::write(etc.join("hostname"), "prod1\n").unwrap();
        std::fs::write(etc.join("sysctl.d/60-x.conf"), "vm.swappiness = 10\n").unwrap();
        let forward = tmp.path().join("proc/sys/net/ipv4/ip_forward");
        std::fs::create_dir_all(forward.parent().unwrap()).unwrap();
        std::fs::write(&forward, "0\n").unwrap();
        let t = EtcAt {
            etc: etc.clone(),
            local: crate::transport::local::LocalTransport::new(),
            outputs: Default::default(),
        };
        let played = tmp.path().join("played");
        std::fs::create_dir_all(&played).unwrap();
        std::fs::write(played.join("state"), format!("{:064x}", 1)).unwrap();
        std::fs::write(played.join("upgrade"), "").unwrap();
        let pm = PlayedHost { dir: played, liar: false, defers: false }.managers();
        let host = Host::named("prod1");
        let cache = ProbeCache::persistent(tmp.path().join("cache"));
        let probe = |cache| probe_host_with(&t, &pm, &host, &[], Duration::from_secs(30), Mode::Full, cache);
        let sent_files = |i: usize| {
            let out = &t.outputs.lock().unwrap()[i];
            let unchanged = out.lines().any(|l| l.starts_with("kept\tfiles\tunchanged\t"));
            (unchanged, out.contains("/etc/sysctl.d/60-x.conf"))
        };
        let sysctl = |f: &HostFacts| f.drift.as_ref().unwrap().items["/etc/sysctl.d/60-x.conf"].value.clone();
        // This machine's own network is in the map too, and may move while the test runs
        // (another test adding an address): the files are compared.
        let files = |f: &HostFacts| {
            let items = &f.drift.as_ref().unwrap().items;
            items
                .iter()
                .filter(|(k, _)| k.starts_with("/etc/"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
        };
        // The sysctls (of the played /proc): sent, or said unchanged and left out, never
        // both; and in the map either way.
        let sysctls_sent = |i: usize, f: &HostFacts| {
            let out = &t.outputs.lock().unwrap()[i];
            let unchanged = out.lines().any(|l| l.starts_with("kept\tsysctl\tunchanged\t"));
            let sent = out.lines().any(|l| l.starts_with("sysctl\t"));
            let mapped = f.drift.as_ref().unwrap().items["sysctl:net.ipv4.ip_forward"].value.clone();
            assert!(unchanged != sent, "probe {i}: unchanged {unchanged}, sent {sent}");
            (sent, mapped)
        };

        // Whether the host found the whole map's inputs unchanged (one reading, one digest).
        let map_unchanged = |i: usize| t.outputs.lock().unwrap()[i].contains("kept\tmap\tunchanged\t");

        let (first, _) = probe(Some(&cache)).await.unwrap();
        assert_eq!(sent_files(0), (false, true), "first contact: the file lines are sent");
        // Nothing moved: the host leaves the file lines out, the kept ones make the same map.
        let (second, _) = probe(Some(&cache)).await.unwrap();
        assert_eq!(sent_files(1), (true, false));
        assert!(!map_unchanged(0) && map_unchanged(1), "the kept map digest went back to the host");
        assert_eq!(files(&second), files(&first));
        assert_eq!(sysctls_sent(0, &first), (true, "0".into()), "first contact: the sysctls are sent");
        assert_eq!(sysctls_sent(1, &second), (false, "0".into()), "unchanged: kept");
        // ... also for a new process reading the kept file.
        let reread = ProbeCache::persistent(tmp.path().join("cache"));
        let (third, _) = probe(Some(&reread)).await.unwrap();
        assert_eq!((sent_files(2), files(&third)), ((true, false), files(&first)));
        assert_eq!(sysctls_sent(2, &third), (false, "0".into()));
        assert!(map_unchanged(2));
        // Same size, same second: still a new checksum (ctime and the nanoseconds moved).
        std::fs::write(etc.join("sysctl.d/60-x.conf"), "vm.swappiness = 60\n").unwrap();
        let (moved, _) = probe(Some(&cache)).await.unwrap();
        assert_eq!(sent_files(3), (false, true));
        assert!(!map_unchanged(3));
        assert_ne!(sysctl(&moved), sysctl(&first));
        assert_eq!(sysctls_sent(3, &moved), (false, "0".into()), "the sysctls did not move");
        // A new file under /etc is seen at once.
        std::fs::write(etc.join("sysctl.d/70-new.conf"), "x = 1\n").unwrap();
        // ... and a sysctl set at run time, its value sent again.
        std::fs::write(&forward, "1\n").unwrap();
        let (added, _) = probe(Some(&cache)).await.unwrap();
        assert!(added.drift.as_ref().unwrap().items.contains_key("/etc/sysctl.d/70-new.conf"));
        assert_eq!(sysctls_sent(4, &added), (true, "1".into()));
        // A refreshing cache (`check --fresh`) sends nothing it kept.
        let refreshing = ProbeCache::persistent(tmp.path().join("cache")).refreshing();
        probe(Some(&refreshing)).await.unwrap();
        assert_eq!(sent_files(5), (false, true));
        // A host claiming "unchanged" for a digest it was not sent is refused.
        let liar = EtcAt {
            etc: etc.clone(),
            local: crate::transport::local::LocalTransport::new(),
            outputs: Default::default(),
        };
        let forged = PlayedHost { dir: tmp.path().join("played"), liar: false, defers: false }.managers();
        let lie = format!("printf \"kept\\tfiles\\tunchanged\\t%s\\n\" {:064x}\n", 9);
        struct Lying<'a>(&'a EtcAt, String);
        #[async_trait::async_trait]
        impl Transport for Lying<'_> {
            fn kind(&self) -> &'static str {
                "lying"
            }
            async fn exec(&self, host: &Host, cmd: &Command) -> Result<crate::transport::Output, TransportError> {
                let script = cmd.script.replace("pd_d_etc=/etc", &format!("{}\npd_d_etc=/etc", self.1));
                self.0.exec(host, &Command { script, ..cmd.clone() }).await
            }
            async fn close(&self) {}
        }
        let err =
            probe_host_with(&Lying(&liar, lie), &forged, &host, &[], Duration::from_secs(30), Mode::Full, Some(&cache))
                .await
                .unwrap_err();
        assert!(
            err.to_string().contains("configuration map's files are unchanged, but not since the state we sent"),
            "{err}"
        );
    }

    /// Runs every host's probe on this machine with `PD_PLAYED` set to the host's directory.
    struct Played {
        root: std::path::PathBuf,
        local: crate::transport::local::LocalTransport,
    }

    #[async_trait::async_trait]
    impl Transport for Played {
        fn kind(&self) -> &'static str {
            "played"
        }
        async fn exec(&self, host: &Host, cmd: &Command) -> Result<crate::transport::Output, TransportError> {
            let dir = self.root.join(&host.name);
            let cmd = Command { script: format!("PD_PLAYED='{}'\n{}", dir.display(), cmd.script), ..cmd.clone() };
            self.local.exec(host, &cmd).await
        }
        async fn close(&self) {}
    }

    /// A played fleet in a temporary directory.
    struct Fleet {
        _tmp: tempfile::TempDir,
        t: Played,
        pm: Managers,
    }

    const LESS_3: &str = "Inst less [590-2] (590-3 Debian:12/stable [amd64])\n";
    const LESS_4: &str = "Inst less [590-2] (590-4 Debian:12/stable [amd64])\n";
    const LESS_5: &str = "Inst less [590-2] (590-5 Debian:12/stable [amd64])\n";

    fn digest(n: u32) -> String {
        format!("{n:064x}")
    }

    impl Fleet {
        fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().to_path_buf();
            let pm = PlayedHost { dir: root.join("unused"), liar: false, defers: false }.managers();
            Self { t: Played { root, local: crate::transport::local::LocalTransport::new() }, _tmp: tmp, pm }
        }
        /// A host with this stat digest, content digest and resolver answer.
        fn host(&self, name: &str, state: u32, content: Option<&str>, upgrade: &str) -> Host {
            let d = self.t.root.join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("state"), digest(state)).unwrap();
            match content {
                Some(c) => std::fs::write(d.join("content"), c).unwrap(),
                None => {
                    let _ = std::fs::remove_file(d.join("content"));
                }
            }
            std::fs::write(d.join("upgrade"), upgrade).unwrap();
            Host::named(name)
        }
        fn file(&self, host: &str, name: &str, body: &str) {
            std::fs::write(self.t.root.join(host).join(name), body).unwrap();
        }
        fn runs(&self, host: &str) -> usize {
            std::fs::read_to_string(self.t.root.join(host).join("runs")).map_or(0, |r| r.lines().count())
        }
        fn cache(&self) -> ProbeCache {
            ProbeCache::persistent(self.t.root.join("cache"))
        }
        /// One check's probes of `hosts`, all at once.
        async fn check(&self, hosts: &[Host], cache: Option<&ProbeCache>) -> Vec<Probed> {
            let sharing = Sharing::new(&self.pm, hosts, cache, 32);
            let probes = hosts
                .iter()
                .map(|h| probe_host_shared(&self.t, &self.pm, h, &[], Duration::from_secs(10), cache, &sharing));
            futures::future::join_all(probes).await.into_iter().map(Result::unwrap).collect()
        }
        /// Hosts probed one after the other (so the first one asks), in one check.
        async fn check_in_order(&self, hosts: &[Host], cache: Option<&ProbeCache>) -> Vec<Probed> {
            let sharing = Sharing::new(&self.pm, hosts, cache, 32);
            let mut out = vec![];
            for h in hosts {
                out.push(
                    probe_host_shared(&self.t, &self.pm, h, &[], Duration::from_secs(10), cache, &sharing)
                        .await
                        .unwrap(),
                );
            }
            out
        }
        /// Each host asking its own resolver, as before sharing: the facts to compare with.
        async fn per_host(&self, host: &Host) -> HostFacts {
            probe_host_with(&self.t, &self.pm, host, &[], Duration::from_secs(10), Mode::Full, None).await.unwrap().0
        }
    }

    fn to(f: &HostFacts) -> Vec<String> {
        f.pkg.pending.iter().map(|p| p.to.to_string()).collect()
    }

    #[tokio::test]
    async fn clones_share_one_resolver_run_and_a_different_host_gets_its_own() {
        let f = Fleet::new();
        let (c1, c2) = (digest(101), digest(102));
        // a and b: clones (same content, their own stat digests); b needs a reboot (not a
        // resolver section: always the host's own). c: another package state.
        let a = f.host("a", 1, Some(&c1), LESS_3);
        let b = f.host("b", 2, Some(&c1), LESS_3);
        f.file("b", "reboot", "");
        let c = f.host("c", 3, Some(&c2), LESS_4);
        let hosts = [a.clone(), b.clone(), c.clone()];
        let cache = f.cache();
        let got = f.check(&hosts, Some(&cache)).await;

        assert_eq!(f.runs("a") + f.runs("b"), 1, "one resolver run for the two clones");
        assert_eq!(f.runs("c"), 1, "its own for the host whose content differs");
        let (asked, served) = if f.runs("a") == 1 { (&got[0], &got[1]) } else { (&got[1], &got[0]) };
        let (asker, _) = if f.runs("a") == 1 { ("a", "b") } else { ("b", "a") };
        assert_eq!((asked.resolver, asked.shared_from.as_deref()), (Resolver::Ran, None));
        assert_eq!((served.resolver, served.shared_from.as_deref()), (Resolver::Shared, Some(asker)));
        assert_eq!((got[2].resolver, got[2].shared_from.as_deref()), (Resolver::Ran, None));
        assert_eq!((to(&got[0].facts), to(&got[2].facts)), (vec!["590-3".to_string()], vec!["590-4".to_string()]));
        // Exactly the facts each host gives when asked alone.
        let runs_before = f.runs("a") + f.runs("b") + f.runs("c");
        for (h, p) in hosts.iter().zip(&got) {
            assert_eq!(p.facts, f.per_host(h).await, "{}", h.name);
        }
        assert_eq!(f.runs("a") + f.runs("b") + f.runs("c"), runs_before + 3);
        assert!(got[1].facts.pkg.reboot_required && !got[0].facts.pkg.reboot_required);

        // The shared answer was kept for each host under its own stat digest: next check,
        // nobody is asked, everybody's kept answer stands.
        let runs_before = f.runs("a") + f.runs("b") + f.runs("c");
        let again = f.check(&hosts, Some(&f.cache())).await;
        assert!(again.iter().all(|p| p.resolver == Resolver::Reused), "{again:?}");
        assert_eq!(f.runs("a") + f.runs("b") + f.runs("c"), runs_before);
        assert_eq!(
            again.iter().map(|p| &p.facts).collect::<Vec<_>>(),
            got.iter().map(|p| &p.facts).collect::<Vec<_>>()
        );

        // Fresh (kept answers not offered): asked anew, once per distinct content.
        let runs_before = f.runs("a") + f.runs("b") + f.runs("c");
        let fresh_cache = f.cache().refreshing();
        let fresh = f.check(&hosts, Some(&fresh_cache)).await;
        assert_eq!(f.runs("a") + f.runs("b") + f.runs("c"), runs_before + 2);
        let kinds: Vec<Resolver> = fresh.iter().map(|p| p.resolver).collect();
        assert_eq!(kinds.iter().filter(|r| **r == Resolver::Shared).count(), 1, "{kinds:?}");

        // Without any cache, the same sharing.
        let runs_before = f.runs("a") + f.runs("b") + f.runs("c");
        f.check(&hosts, None).await;
        assert_eq!(f.runs("a") + f.runs("b") + f.runs("c"), runs_before + 2);
    }

    #[tokio::test]
    async fn a_host_whose_content_moves_between_the_passes_serves_nobody() {
        let f = Fleet::new();
        let c1 = digest(101);
        // a asks first; its state moves right after its digests (an apt update lands): its
        // second probe prints another content digest, so b must ask its own resolver.
        let a = f.host("a", 1, Some(&c1), LESS_4);
        f.file("a", "next", &digest(999));
        let b = f.host("b", 2, Some(&c1), LESS_5);
        let got = f.check_in_order(&[a, b], Some(&f.cache())).await;
        assert_eq!((f.runs("a"), f.runs("b")), (1, 1));
        assert_eq!((got[0].resolver, to(&got[0].facts)), (Resolver::Ran, vec!["590-4".to_string()]));
        assert_eq!((got[1].resolver, to(&got[1].facts)), (Resolver::Ran, vec!["590-5".to_string()]));
        assert_eq!(got[1].shared_from, None);
    }

    #[tokio::test]
    async fn kept_answers_serve_by_content_and_bad_digests_share_nothing() {
        let f = Fleet::new();
        let c1 = digest(101);
        let a = f.host("a", 1, Some(&c1), LESS_3);
        let cache = f.cache();
        f.check(std::slice::from_ref(&a), Some(&cache)).await;
        assert_eq!(f.runs("a"), 1);
        // a's files were rewritten with the same content (new stat digest): its own kept
        // answer for that content stands.
        let a = f.host("a", 11, Some(&c1), LESS_3);
        // b, a new clone: a's kept answer (for the content b prints) serves it.
        let b = f.host("b", 2, Some(&c1), LESS_3);
        let got = f.check(&[a.clone(), b.clone()], Some(&cache)).await;
        assert_eq!((f.runs("a"), f.runs("b")), (1, 0));
        assert_eq!((got[0].resolver, got[1].resolver), (Resolver::Reused, Resolver::Shared));
        assert_eq!(got[1].shared_from.as_deref(), Some("a"));
        assert_eq!(got[1].facts, f.per_host(&b).await);

        // A content "digest" that is not one, or none at all: that host asks alone, and its
        // answer serves nobody.
        let f = Fleet::new();
        let odd = "$(reboot)";
        let hosts =
            [f.host("x", 1, Some(odd), LESS_3), f.host("y", 2, Some(odd), LESS_3), f.host("z", 3, None, LESS_3)];
        let got = f.check(&hosts, None).await;
        assert_eq!((f.runs("x"), f.runs("y"), f.runs("z")), (1, 1, 1));
        assert!(got.iter().all(|p| p.resolver == Resolver::Ran && p.shared_from.is_none()), "{got:?}");
    }

    #[tokio::test]
    async fn hosts_waiting_for_a_resolver_hold_no_place() {
        // Two places; a, b and c are clones whose resolver takes a second, d is another
        // state. While one clone's resolver runs, the other clones wait without a place, so
        // d is probed meanwhile instead of after.
        let f = Fleet::new();
        let clones = ["a", "b", "c"];
        let mut hosts: Vec<Host> = clones.iter().map(|h| f.host(h, 1, Some(&digest(101)), LESS_3)).collect();
        for h in clones {
            f.file(h, "slow", "");
        }
        hosts.push(f.host("d", 2, Some(&digest(102)), LESS_4));
        let sharing = Sharing::new(&f.pm, &hosts, None, 2);
        let t = Duration::from_secs(10);
        let probes = hosts.iter().map(|h| probe_host_shared(&f.t, &f.pm, h, &[], t, None, &sharing));
        let got: Vec<Probed> = futures::future::join_all(probes).await.into_iter().map(Result::unwrap).collect();
        assert_eq!(got.iter().filter(|p| p.resolver == Resolver::Shared).count(), 2, "{got:?}");
        let ns = |h: &str, f_: &str| -> u128 {
            std::fs::read_to_string(f.t.root.join(h).join(f_)).map_or(u128::MAX, |s| s.trim().parse().unwrap())
        };
        let resolved = clones.iter().map(|h| ns(h, "resolved")).min().unwrap();
        assert!(ns("d", "pass1") < resolved, "d waited for the clones' resolver");
    }

    #[tokio::test]
    async fn deferred_is_refused_where_the_resolver_was_asked_for() {
        // A host that leaves out the resolver's answer when asked for it must not pass for a
        // host with nothing pending, alone or as the host asking for its clones.
        let f = Fleet::new();
        let a = f.host("a", 1, Some(&digest(101)), LESS_3);
        let forger = PlayedHost { dir: f.t.root.join("unused"), liar: false, defers: true }.managers();
        let t = Duration::from_secs(10);
        let err = probe_host_with(&f.t, &forger, &a, &[], t, Mode::Full, None).await.unwrap_err();
        assert!(err.to_string().contains("left out its resolver's answer"), "{err}");
        let sharing = Sharing::new(&forger, std::slice::from_ref(&a), None, 32);
        let err = probe_host_shared(&f.t, &forger, &a, &[], t, None, &sharing).await.unwrap_err();
        assert!(err.to_string().contains("left out its resolver's answer"), "{err}");
        assert_eq!(f.runs("a"), 0);
    }
}
