//! One resolver run per distinct package state, not per host.
//!
//! The hosts of a fleet are mostly clones: same image, same updates. The package manager's
//! answer is a function of files on the host; when two hosts have byte-identical inputs,
//! it answers both the same, so asking one is enough. The probe's `pkgstate` section
//! carries, besides the stat-based digest [`super::cache`] keys kept answers by, a CONTENT
//! digest of the same inputs (each manager says which; for apt see `src/pkg/apt/probe.sh`).
//! An answer only ever serves hosts whose probe named the same manager.
//!
//! A check then probes each host in [`Mode::Digests`] (a host whose kept answer stands says
//! `unchanged` as usual; the others print everything but the resolver's sections, plus both
//! digests, for a few ms of host CPU). For each content digest:
//! - the host's own kept answer for that content stands (`reused`); else
//! - another host of this check has a kept answer for it (`shared`); else
//! - the first host to get there runs the full probe, resolver included (`ran`); if it
//!   prints the same content digest again, its answer serves every other host that printed
//!   that digest (`shared`); if not (its state moved in between), or it failed, each of
//!   them asks its own resolver (`ran`).
//!
//! Hosts waiting for another host's resolver hold none of the check's places (at most
//! `limit` hosts work at once), so the others get probed while it runs.
//!
//! A shared answer is kept for each host under its own stat digest, as if it had answered.
//! Hostile input: every digest is checked to be 64 hex digits before it is used, one host's
//! answer only ever serves a host that printed the content digest it was given for, and
//! everything but the resolver's sections (installed versions, reboot flag, fingerprints,
//! ...) is always the host's own. What sharing does trust is the answering host: a host
//! that lies about its resolver's answer misleads the check about its clones too, so
//! `check --fresh=per-host` asks every host's own resolver.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OnceCell, Semaphore, SemaphorePermit};

use super::{
    HostFacts, Kept, Mode, ProbeCache, ProbeError, Resolver, Settled, exec_probe, insert_resolver, parse_sections,
    probe_host_with, settle,
};
use crate::inventory::Host;
use crate::pkg::Managers;
use crate::runbook::Fingerprint;
use crate::transport::Transport;

/// A probe's facts and where its resolver's answer came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    pub facts: HostFacts,
    pub resolver: Resolver,
    /// [`Resolver::Shared`]: the host whose resolver's answer this is.
    pub shared_from: Option<String>,
}

/// An answer that may serve every host printing its content digest.
#[derive(Debug, Clone)]
struct Answer {
    from: String,
    sections: BTreeMap<String, String>,
}

/// What an answer may serve: hosts of this manager printing this content digest.
type Key = (String, String);

/// The answers of one check, by manager and content digest. One per check run, shared by
/// its hosts.
///
/// It also bounds the check's work: at most `limit` hosts probe (or run their health
/// checks) at once. A host waiting for another's resolver holds no place, so the hosts
/// still to probe get on while the resolver runs.
#[derive(Debug)]
pub struct Sharing {
    places: Semaphore,
    /// From the kept answers of this check's hosts that say which content they were for.
    known: HashMap<Key, Answer>,
    /// One cell per content digest asked about in this check: the first host to get there
    /// fills it (its resolver's answer, or `None` when it cannot serve others).
    asked: Mutex<HashMap<Key, Arc<OnceCell<Option<Answer>>>>>,
}

impl Sharing {
    /// For a check of `hosts`, `limit` at a time: what their kept answers (if any) already say.
    pub fn new(managers: &Managers, hosts: &[Host], cache: Option<&ProbeCache>, limit: usize) -> Self {
        let mut known = HashMap::new();
        if let Some(cache) = cache {
            let script = managers.probe_script();
            for host in hosts {
                if let Some(e) = cache.get(host, &script)
                    && let Some(content) = e.content
                {
                    let answer = Answer { from: host.name.clone(), sections: e.sections };
                    known.entry((e.manager, content)).or_insert(answer);
                }
            }
        }
        Self { places: Semaphore::new(limit.max(1)), known, asked: Mutex::default() }
    }

    /// A place among the `limit` hosts working at once; held while it is.
    pub async fn place(&self) -> Option<SemaphorePermit<'_>> {
        self.places.acquire().await.ok()
    }

    /// The cell for a content digest, and whether this caller is the first to ask for it.
    fn claim(&self, key: &Key) -> (Arc<OnceCell<Option<Answer>>>, bool) {
        let mut asked = self.asked.lock().unwrap_or_else(|p| p.into_inner());
        match asked.get(key) {
            Some(cell) => (cell.clone(), false),
            None => {
                let cell = Arc::new(OnceCell::new());
                asked.insert(key.clone(), cell.clone());
                (cell, true)
            }
        }
    }
}

/// Probes one host of a check, sharing resolver answers through `sharing` (see the module
/// doc). With a cache, kept answers stand as in [`probe_host_with`] and every answer is kept.
pub async fn probe_host_shared(
    transport: &dyn Transport,
    managers: &Managers,
    host: &Host,
    fingerprints: &[Fingerprint],
    timeout: Duration,
    cache: Option<&ProbeCache>,
    sharing: &Sharing,
) -> Result<Probed, ProbeError> {
    let own = |(facts, resolver)| Probed { facts, resolver, shared_from: None };
    let script = managers.probe_script();
    let kept = cache.and_then(|c| c.get(host, &script));
    let mut place = sharing.place().await;
    let raw = exec_probe(
        transport,
        managers,
        host,
        fingerprints,
        timeout,
        Mode::Digests,
        Kept { answer: kept.as_ref(), cache },
    )
    .await?;
    let settled = settle(managers, host, fingerprints, Mode::Digests, cache, kept.clone(), raw)?;
    let (mut sections, state, content, manager) = match settled {
        Settled::Done { facts, resolver, .. } => return Ok(own((*facts, resolver))),
        Settled::Deferred { sections, state, content, manager } => (sections, state, content, manager),
    };
    // No content digest (the manager reads its state from elsewhere, tools missing): on its own.
    let Some(content) = content else {
        return probe_host_with(transport, managers, host, fingerprints, timeout, Mode::Full, cache).await.map(own);
    };
    let key: Key = (manager.to_string(), content.clone());
    let pm = managers.named(manager).map_err(|source| ProbeError::Parse { host: host.name.clone(), source })?;

    let (answer, resolver) = if let Some(k) =
        kept.filter(|k| k.manager == manager && k.content.as_deref() == Some(content.as_str()))
    {
        // Its own answer for this very content (the files were rewritten, not changed).
        (Answer { from: host.name.clone(), sections: k.sections }, Resolver::Reused)
    } else if let Some(a) = sharing.known.get(&key) {
        (a.clone(), Resolver::Shared)
    } else {
        let mut mine = None;
        let (cell, first) = sharing.claim(&key);
        if !first {
            // Another host asks its resolver for this content: wait for it without holding a place.
            place = None;
        }
        // The first to claim a digest also starts filling its cell right away (no await in
        // between); should it be cancelled, a waiting host's init runs instead: no answer,
        // each asks its own resolver.
        let init = async {
            if !first {
                return None;
            }
            // This host asks for everyone with this content digest.
            let asked =
                exec_probe(transport, managers, host, fingerprints, timeout, Mode::Full, Kept { answer: None, cache })
                    .await;
            let settled = asked.and_then(|raw| settle(managers, host, fingerprints, Mode::Full, cache, None, raw));
            let (result, answer) = match settled {
                Ok(Settled::Done { facts, resolver: Resolver::Ran, content: again, answer }) => {
                    // Only if it still printed the content digest (and manager) its clones printed.
                    let same = again.as_deref() == Some(content.as_str()) && facts.manager == manager;
                    let answer = same.then(|| Answer { from: host.name.clone(), sections: answer });
                    (Ok((*facts, Resolver::Ran)), answer)
                }
                Ok(Settled::Done { facts, resolver, .. }) => (Ok((*facts, resolver)), None),
                Ok(Settled::Deferred { .. }) => (Err(super::deferred_unasked(host)), None),
                Err(e) => (Err(e), None),
            };
            mine = Some(result);
            answer
        };
        let answer = cell.get_or_init(|| init).await.clone();
        if let Some(result) = mine {
            return result.map(own);
        }
        match answer {
            Some(a) => (a, Resolver::Shared),
            // The host that asked could not serve the others: each asks its own resolver.
            None => {
                let _place = match place {
                    Some(p) => Some(p),
                    None => sharing.place().await,
                };
                return probe_host_with(transport, managers, host, fingerprints, timeout, Mode::Full, cache)
                    .await
                    .map(own);
            }
        }
    };

    insert_resolver(pm, &mut sections, &answer.sections);
    let facts = parse_sections(pm, fingerprints, &sections)
        .map_err(|source| ProbeError::Parse { host: host.name.clone(), source })?;
    if let (Some(c), Some(state)) = (cache, state) {
        let entry = super::cache::Entry::new(manager, state, answer.sections.clone()).with_content(Some(content));
        c.put(host, &script, entry);
    }
    let shared_from = (resolver == Resolver::Shared).then_some(answer.from);
    Ok(Probed { facts, resolver, shared_from })
}
