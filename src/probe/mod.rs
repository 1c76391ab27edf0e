//! The probe: ONE round trip per host that gathers everything `check` needs (package
//! facts from the package manager, plus the runbook's config fingerprints).
//!
//! Framing: the script prints sections, each starting with a line `@@patchdeck:NAME`.
//! Package sections belong to the [`PackageManager`]; fingerprint sections are
//! `fp.N` (N = index into the runbook's fingerprints) and are built here.
//!
//! The resolver's sections are the costly part; [`cache`] keeps them per host so a host
//! whose package state has not changed is not asked again.

pub mod cache;
mod fingerprint;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use cache::ProbeCache;
pub use fingerprint::{FpValue, normalize_command_output, sha256_hex};

use crate::inventory::Host;
use crate::pkg::{PackageManager, ParseError, PkgFacts};
use crate::runbook::Fingerprint;
use crate::transport::{Command, Purpose, Transport, TransportError};

/// Marks the start of a section in probe output.
pub const SECTION_MARK: &str = "@@patchdeck:";

/// Everything one probe learned about a host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    pub pkg: PkgFacts,
    /// Fingerprint label (see [`Fingerprint::label`]) -> value.
    pub fingerprints: BTreeMap<String, FpValue>,
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
}

/// The probe command for a host: package sections, then fingerprint sections.
/// Everything runs with the C locale so output is the same on every host.
pub fn command(pm: &dyn PackageManager, fingerprints: &[Fingerprint], timeout: Duration) -> Command {
    command_with(pm, fingerprints, timeout, Mode::Full, None)
}

/// The probe command, telling the host the package state it had when its resolver sections
/// were kept (`known_state`, checked to be a digest) so it can skip the resolver.
pub fn command_with(
    pm: &dyn PackageManager,
    fingerprints: &[Fingerprint],
    timeout: Duration,
    mode: Mode,
    known_state: Option<&str>,
) -> Command {
    let mut script = String::from("export LC_ALL=C LANG=C LANGUAGE=C\n");
    if mode == Mode::Installed {
        script.push_str("PD_PROBE_MODE=installed\n");
    }
    if let Some(state) = known_state.filter(|s| cache::is_digest(s)) {
        script.push_str(&format!("PD_KNOWN_PKG_STATE={state}\n"));
    }
    script.push_str(&pm.probe_script());
    script.push('\n');
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
pub fn parse(pm: &dyn PackageManager, fingerprints: &[Fingerprint], stdout: &str) -> Result<HostFacts, ParseError> {
    parse_sections(pm, fingerprints, &split_sections(stdout))
}

fn parse_sections(
    pm: &dyn PackageManager,
    fingerprints: &[Fingerprint],
    sections: &BTreeMap<String, String>,
) -> Result<HostFacts, ParseError> {
    let pkg = pm.parse_probe(sections)?;
    let fingerprints = fingerprints
        .iter()
        .enumerate()
        .map(|(i, fp)| {
            let body = sections.get(&format!("fp.{i}")).map(String::as_str);
            (fp.label(), fingerprint::parse(fp, body))
        })
        .collect();
    Ok(HostFacts { pkg, fingerprints })
}

/// Probes one host: one command, one round trip, the resolver included.
pub async fn probe_host(
    transport: &dyn Transport,
    pm: &dyn PackageManager,
    host: &Host,
    fingerprints: &[Fingerprint],
    timeout: Duration,
) -> Result<HostFacts, ProbeError> {
    Ok(probe_host_with(transport, pm, host, fingerprints, timeout, Mode::Full, None).await?.0)
}

/// Probes one host in `mode`; with a cache, the resolver runs only if the host's package
/// state changed since the kept answer, and a fresh answer is kept for next time.
pub async fn probe_host_with(
    transport: &dyn Transport,
    pm: &dyn PackageManager,
    host: &Host,
    fingerprints: &[Fingerprint],
    timeout: Duration,
    mode: Mode,
    cache: Option<&ProbeCache>,
) -> Result<(HostFacts, Resolver), ProbeError> {
    let script = pm.probe_script();
    let kept = cache.filter(|_| mode == Mode::Full).and_then(|c| c.get(host, &script));
    let cmd = command_with(pm, fingerprints, timeout, mode, kept.as_ref().map(|e| e.state.as_str()));
    let out = transport.exec(host, &cmd).await?;
    if !out.success() {
        let stderr = crate::safe_text::for_terminal(out.stderr_lossy().trim());
        return Err(ProbeError::Failed { host: host.name.clone(), status: out.status, stderr });
    }
    let parse_err = |source| ProbeError::Parse { host: host.name.clone(), source };
    let mut sections = split_sections(&out.stdout_lossy());
    let resolver = pm.resolver_sections();
    match cache::StateLine::parse(sections.get(cache::STATE_SECTION).map(String::as_str)) {
        cache::StateLine::Unchanged(state) => {
            // Only the answer kept for exactly this state may stand in for the resolver's.
            let Some(kept) = kept.filter(|k| k.state == state) else {
                return Err(parse_err(ParseError::Malformed {
                    command: "probe".into(),
                    detail: "the host said its package state is unchanged, but not the one we sent".into(),
                }));
            };
            for name in resolver {
                sections.insert(name.to_string(), kept.sections.get(*name).cloned().unwrap_or_default());
            }
            return Ok((parse_sections(pm, fingerprints, &sections).map_err(parse_err)?, Resolver::Reused));
        }
        cache::StateLine::Skipped => {
            return Ok((parse_sections(pm, fingerprints, &sections).map_err(parse_err)?, Resolver::Skipped));
        }
        cache::StateLine::Fresh(Some(state)) if mode == Mode::Full => {
            if let Some(c) = cache {
                let kept = resolver.iter().filter_map(|n| Some((n.to_string(), sections.get(*n)?.clone()))).collect();
                // Parsed below before use; an answer that does not parse is not kept.
                if let Ok(facts) = parse_sections(pm, fingerprints, &sections) {
                    c.put(host, &script, cache::Entry::new(state, kept));
                    return Ok((facts, Resolver::Ran));
                }
            }
        }
        cache::StateLine::Fresh(_) => {}
    }
    Ok((parse_sections(pm, fingerprints, &sections).map_err(parse_err)?, Resolver::Ran))
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
    /// answer are files the test rewrites; each resolver run is counted.
    struct PlayedHost {
        dir: std::path::PathBuf,
        /// Says "unchanged" whatever it is sent.
        liar: bool,
    }

    impl PackageManager for PlayedHost {
        fn name(&self) -> &'static str {
            "apt"
        }
        fn probe_script(&self) -> String {
            let d = self.dir.display();
            let liar = self.liar;
            format!(
                "echo '@@patchdeck:arch'; echo amd64\n\
                 echo '@@patchdeck:installed'; printf 'ii \\tless\\t590-2\\n'\n\
                 echo '@@patchdeck:pkgstate'; st=$(cat {d}/state); echo \"$st\"\n\
                 if [ \"$st\" = \"${{PD_KNOWN_PKG_STATE:-}}\" ] || {liar}; then echo unchanged; else\n\
                 echo '@@patchdeck:upgrade'; cat {d}/upgrade; echo 'patchdeck-exit: 0'; echo run >>{d}/runs; fi\n"
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
        let pm = PlayedHost { dir: dir.to_path_buf(), liar: false };
        let t = crate::transport::local::LocalTransport::new();
        let host = Host::named("prod1");
        let cache = ProbeCache::persistent(dir.join("cache"));
        async fn probe_with(
            t: &dyn Transport,
            pm: &dyn PackageManager,
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
        let honest = PlayedHost { dir: dir.to_path_buf(), liar: false };
        probe_host_with(&t, &honest, &host, &[], Duration::from_secs(10), Mode::Full, Some(&cache)).await.unwrap();
        // The host's state moves, but it claims "unchanged" whatever it was sent.
        std::fs::write(dir.join("state"), format!("{:064x}", 8)).unwrap();
        let liar = PlayedHost { dir: dir.to_path_buf(), liar: true };
        for c in [Some(&cache), None] {
            let err = probe_host_with(&t, &liar, &host, &[], Duration::from_secs(10), Mode::Full, c).await.unwrap_err();
            assert!(err.to_string().contains("unchanged, but not the one we sent"), "{err}");
        }
    }
}
