//! The package manager's answer, kept per host so an unchanged host is not asked again.
//!
//! The costly part of a probe is the resolver (apt's `apt-get -s dist-upgrade`: ~0.7 s of host CPU
//! against ~5 ms for everything else). Its answer is a function of files on the host; the
//! probe prints a digest of those files (the `pkgstate` section) and, when the operator sends
//! the digest it saw last and it still matches, skips the resolver and says `unchanged`.
//! The operator then reuses the sections it kept from that run: same inputs, same answer,
//! parsed by the same parser. Everything else in the probe (installed versions, reboot flag,
//! cached debs, fingerprints) is read fresh every time. An entry also records the content
//! digest of the state it answers for, when the host printed one: [`super::share`] lets it
//! stand for any host of a check printing the same content digest.
//!
//! The cache is an optimisation only: a missing, unreadable or corrupt entry means "ask the
//! host", and failing to save one is never an error.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::kept_drift::KeptParts;
use super::sha256_hex;
use crate::inventory::Host;

/// Section printing the digest of the package manager's inputs (by file metadata), then,
/// when it was computed, `content DIGEST` (by content, see [`super::share`]), then
/// `unchanged`, `skipped` or `deferred` when the resolver did not run.
pub const STATE_SECTION: &str = "pkgstate";

/// Bumped when the entry format changes, so old files are ignored.
const FORMAT: u32 = 2;

/// What the host's `pkgstate` section said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLine {
    /// The resolver ran; its sections follow. `None`: the host cannot give that digest.
    Fresh { state: Option<String>, content: Option<String> },
    /// The digest equals the one the operator sent: reuse the kept sections.
    Unchanged(String),
    /// Installed-only probe: no resolver sections, none expected.
    Skipped,
    /// Digests-only probe ([`super::Mode::Digests`]): the resolver was not asked; the
    /// operator asks one host per content digest.
    Deferred { state: Option<String>, content: Option<String> },
}

impl StateLine {
    /// Reads a `pkgstate` body; anything unexpected counts as "fresh, no digest".
    pub fn parse(body: Option<&str>) -> Self {
        let mut lines = body.unwrap_or("").lines().map(str::trim);
        let state = lines.next().filter(|s| is_digest(s)).map(str::to_string);
        let mut next = lines.next();
        let mut content = None;
        if let Some(c) = next.and_then(|l| l.strip_prefix("content ")) {
            content = Some(c).filter(|c| is_digest(c)).map(str::to_string);
            next = lines.next();
        }
        match (state, next) {
            (Some(s), Some("unchanged")) => Self::Unchanged(s),
            (_, Some("skipped")) => Self::Skipped,
            (state, Some("deferred")) => Self::Deferred { state, content },
            (state, _) => Self::Fresh { state, content },
        }
    }
}

/// A digest as the probe prints it: 64 lowercase hex digits, nothing else. Checked both on
/// what a host sends and before a kept digest goes back into a script.
pub fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The resolver's sections for one host's package-manager state: as the host printed them,
/// or as another host printed them for the same content digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    format: u32,
    /// The package manager whose resolver answered: the sections are in its format.
    pub manager: String,
    pub state: String,
    /// The content digest the answer was given for, when known: then the answer also
    /// stands for any host printing the same content digest (see [`super::share`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    pub sections: BTreeMap<String, String>,
}

impl Entry {
    pub fn new(manager: &str, state: String, sections: BTreeMap<String, String>) -> Self {
        Self { format: FORMAT, manager: manager.to_string(), state, content: None, sections }
    }

    /// The same entry, for the package state whose content digest is `content` (ignored
    /// unless it is a digest).
    pub fn with_content(self, content: Option<String>) -> Self {
        Self { content: content.filter(|c| is_digest(c)), ..self }
    }
}

/// Kept resolver answers, in memory and optionally in a directory (one file per host).
#[derive(Debug, Default)]
pub struct ProbeCache {
    dir: Option<PathBuf>,
    /// Never offer a kept answer, but keep the new ones (`check --fresh`).
    refresh: bool,
    mem: Mutex<HashMap<String, Entry>>,
    /// The configuration map's kept parts ([`super::kept_drift`]), by the same kind of key.
    drift: Mutex<HashMap<String, KeptParts>>,
}

impl ProbeCache {
    /// For one process: a window's preflight, re-checks and a bench's passes.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Kept across runs in `dir`, so a second `check` minutes later is cheap too.
    pub fn persistent(dir: PathBuf) -> Self {
        Self { dir: Some(dir), ..Self::default() }
    }

    /// Asks every host's resolver again, and keeps what they answer for next time.
    pub fn refreshing(self) -> Self {
        Self { refresh: true, ..self }
    }

    /// `$XDG_CACHE_HOME/patchdeck/probe`, else `~/.cache/patchdeck/probe`.
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("patchdeck").join("probe"))
    }

    /// The entry kept for this host and probe script, if any.
    pub fn get(&self, host: &Host, script: &str) -> Option<Entry> {
        self.fetch(&self.mem, key(host, script), "", read)
    }

    /// Keeps an entry (replacing the host's previous one).
    pub fn put(&self, host: &Host, script: &str, entry: Entry) {
        self.keep(&self.mem, key(host, script), "", entry);
    }

    /// The configuration map's parts kept for this host, if any (none when refreshing).
    pub fn drift_parts(&self, host: &Host) -> Option<KeptParts> {
        let sound = |p: &Path| read_json::<KeptParts>(p).filter(KeptParts::is_sound);
        self.fetch(&self.drift, key(host, crate::drift::PROBE), ".drift", sound)
    }

    /// Keeps a host's parts (replacing its previous ones).
    pub fn put_drift_parts(&self, host: &Host, kept: KeptParts) {
        self.keep(&self.drift, key(host, crate::drift::PROBE), ".drift", kept);
    }

    /// What `mem` or the file `KEY{suffix}.json` keeps under `key` (read and believed by
    /// `read`); nothing when refreshing.
    fn fetch<T: Clone>(
        &self,
        mem: &Mutex<HashMap<String, T>>,
        key: String,
        suffix: &str,
        read: impl Fn(&Path) -> Option<T>,
    ) -> Option<T> {
        if self.refresh {
            return None;
        }
        let mut mem = mem.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = mem.get(&key) {
            return Some(e.clone());
        }
        let e = self.dir.as_deref().and_then(|d| read(&d.join(format!("{key}{suffix}.json"))))?;
        mem.insert(key, e.clone());
        Some(e)
    }

    /// Keeps `value` under `key` in `mem` and in the file `KEY{suffix}.json`.
    fn keep<T: Serialize>(&self, mem: &Mutex<HashMap<String, T>>, key: String, suffix: &str, value: T) {
        if let Some(dir) = &self.dir
            && let Err(e) = write(dir, &format!("{key}{suffix}"), &value)
        {
            tracing::warn!("cannot save the probe cache in {}: {e}", dir.display());
        }
        mem.lock().unwrap_or_else(|p| p.into_inner()).insert(key, value);
    }
}

/// One key per host as reached (name, address, user, port) and probe script: another
/// patchdeck version's script, or another host behind a reused name, never matches.
fn key(host: &Host, script: &str) -> String {
    let port = host.port.map(|p| p.to_string()).unwrap_or_default();
    let user = host.user.as_deref().unwrap_or("");
    sha256_hex(format!("{}\0{}\0{user}\0{port}\0{}", host.name, host.address, sha256_hex(script.as_bytes())).as_bytes())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn read(path: &Path) -> Option<Entry> {
    let e: Entry = read_json(path)?;
    let ok = e.format == FORMAT && is_digest(&e.state) && e.content.as_deref().is_none_or(is_digest);
    ok.then_some(e)
}

/// Written to a temporary file then renamed, so a reader never sees half an entry.
fn write(dir: &Path, key: &str, entry: &impl Serialize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{key}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec(entry)?)?;
    std::fs::rename(&tmp, dir.join(format!("{key}.json"))).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "a6796d61f56159aa5557a9407ee0f8bb7832ce606815185c760b8703affeb7b2";
    const C: &str = "3cc21e06669dcc9bdbec525f734fa0fe12c1c1907fa15d4cc945b3f294a2d507";

    #[test]
    fn state_lines() {
        let fresh = |s: Option<&str>, c: Option<&str>| StateLine::Fresh {
            state: s.map(str::to_string),
            content: c.map(str::to_string),
        };
        let deferred = |s: Option<&str>, c: Option<&str>| StateLine::Deferred {
            state: s.map(str::to_string),
            content: c.map(str::to_string),
        };
        assert_eq!(StateLine::parse(Some(&format!("{D}\n"))), fresh(Some(D), None));
        assert_eq!(StateLine::parse(Some(&format!("{D}\ncontent {C}\n"))), fresh(Some(D), Some(C)));
        assert_eq!(StateLine::parse(Some(&format!("{D}\nunchanged\n"))), StateLine::Unchanged(D.into()));
        assert_eq!(StateLine::parse(Some(&format!("{D}\nskipped\n"))), StateLine::Skipped);
        assert_eq!(StateLine::parse(Some("\nskipped\n")), StateLine::Skipped);
        assert_eq!(StateLine::parse(Some(&format!("{D}\ncontent {C}\ndeferred\n"))), deferred(Some(D), Some(C)));
        assert_eq!(StateLine::parse(Some(&format!("{D}\ndeferred\n"))), deferred(Some(D), None));
        // A host without the tools prints an empty digest: fresh, nothing to keep.
        assert_eq!(StateLine::parse(Some("\n")), fresh(None, None));
        assert_eq!(StateLine::parse(None), fresh(None, None));
        // "unchanged" without a well-formed digest is not believed.
        assert_eq!(StateLine::parse(Some("; rm -rf /\nunchanged\n")), fresh(None, None));
        assert_eq!(StateLine::parse(Some(&format!("{}\nunchanged\n", D.to_uppercase()))), fresh(None, None));
        // Nor is a content digest that is not one.
        assert_eq!(StateLine::parse(Some(&format!("{D}\ncontent $(reboot)\ndeferred\n"))), deferred(Some(D), None));
        assert_eq!(StateLine::parse(Some(&format!("{D}\ncontent {C} x\n"))), fresh(Some(D), None));
    }

    #[test]
    fn entries_survive_a_new_process_and_are_per_host_and_script() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Host::named("prod1");
        a.address = "10.0.0.1".into();
        let sections = BTreeMap::from([("upgrade".to_string(), "Inst less [1] (2 Debian:12 [amd64])\n".to_string())]);
        let e = Entry::new("apt", D.into(), sections);
        ProbeCache::persistent(dir.path().to_path_buf()).put(&a, "script", e.clone());

        let fresh = ProbeCache::persistent(dir.path().to_path_buf());
        assert_eq!(fresh.get(&a, "script"), Some(e));
        assert_eq!(fresh.get(&a, "another script"), None);
        let mut moved = a.clone();
        moved.address = "10.0.0.2".into();
        assert_eq!(fresh.get(&moved, "script"), None);
        assert_eq!(ProbeCache::in_memory().get(&a, "script"), None);

        // Refreshing: offers nothing, keeps what it is given.
        let refreshing = ProbeCache::persistent(dir.path().to_path_buf()).refreshing();
        assert_eq!(refreshing.get(&a, "script"), None);
        let newer = Entry::new("apt", "b".repeat(64), BTreeMap::new());
        refreshing.put(&a, "script", newer.clone());
        assert_eq!(ProbeCache::persistent(dir.path().to_path_buf()).get(&a, "script"), Some(newer));

        // The content digest an answer was given for is kept with it; a non-digest is not.
        let with = Entry::new("apt", D.into(), BTreeMap::new()).with_content(Some(C.into()));
        ProbeCache::persistent(dir.path().to_path_buf()).put(&a, "script", with.clone());
        assert_eq!(ProbeCache::persistent(dir.path().to_path_buf()).get(&a, "script"), Some(with));
        assert_eq!(Entry::new("apt", D.into(), BTreeMap::new()).with_content(Some("x".into())).content, None);
    }

    #[test]
    fn corrupt_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let a = Host::named("prod1");
        let cache = ProbeCache::persistent(dir.path().to_path_buf());
        cache.put(&a, "s", Entry::new("apt", D.into(), BTreeMap::new()));
        for f in std::fs::read_dir(dir.path()).unwrap() {
            std::fs::write(f.unwrap().path(), "{ not json").unwrap();
        }
        assert_eq!(ProbeCache::persistent(dir.path().to_path_buf()).get(&a, "s"), None);
        // A file whose content digest is not one (edited by hand, or worse) is ignored whole.
        cache.put(&a, "s", Entry::new("apt", D.into(), BTreeMap::new()).with_content(Some(C.into())));
        for f in std::fs::read_dir(dir.path()).unwrap() {
            let p = f.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap().replace(C, "; reboot");
            std::fs::write(p, text).unwrap();
        }
        assert_eq!(ProbeCache::persistent(dir.path().to_path_buf()).get(&a, "s"), None);
    }
}
