//! The package manager's answer, kept per host so an unchanged host is not asked again.
//!
//! The costly part of a probe is the resolver (`apt-get -s dist-upgrade`: ~0.7 s of host CPU
//! against ~5 ms for everything else). Its answer is a function of files on the host; the
//! probe prints a digest of those files (the `pkgstate` section) and, when the operator sends
//! the digest it saw last and it still matches, skips the resolver and says `unchanged`.
//! The operator then reuses the sections it kept from that run: same inputs, same answer,
//! parsed by the same parser. Everything else in the probe (installed versions, reboot flag,
//! cached debs, fingerprints) is read fresh every time.
//!
//! The cache is an optimisation only: a missing, unreadable or corrupt entry means "ask the
//! host", and failing to save one is never an error.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::sha256_hex;
use crate::inventory::Host;

/// Section printing the digest of the package manager's inputs, then `unchanged` or
/// `skipped` when the resolver did not run.
pub const STATE_SECTION: &str = "pkgstate";

/// Bumped when the entry format changes, so old files are ignored.
const FORMAT: u32 = 1;

/// What the host's `pkgstate` section said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLine {
    /// The resolver ran; its sections follow. `None`: the host cannot give a digest.
    Fresh(Option<String>),
    /// The digest equals the one the operator sent: reuse the kept sections.
    Unchanged(String),
    /// Installed-only probe: no resolver sections, none expected.
    Skipped,
}

impl StateLine {
    /// Reads a `pkgstate` body; anything unexpected counts as "fresh, no digest".
    pub fn parse(body: Option<&str>) -> Self {
        let mut lines = body.unwrap_or("").lines().map(str::trim);
        let state = lines.next().filter(|s| is_digest(s)).map(str::to_string);
        match (state, lines.next()) {
            (Some(s), Some("unchanged")) => Self::Unchanged(s),
            (_, Some("skipped")) => Self::Skipped,
            (s, _) => Self::Fresh(s),
        }
    }
}

/// A digest as the probe prints it: 64 lowercase hex digits, nothing else. Checked both on
/// what a host sends and before a kept digest goes back into a script.
pub fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The resolver's sections as one host printed them for one package-manager state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    format: u32,
    pub state: String,
    pub sections: BTreeMap<String, String>,
}

impl Entry {
    pub fn new(state: String, sections: BTreeMap<String, String>) -> Self {
        Self { format: FORMAT, state, sections }
    }
}

/// Kept resolver answers, in memory and optionally in a directory (one file per host).
#[derive(Debug, Default)]
pub struct ProbeCache {
    dir: Option<PathBuf>,
    /// Never offer a kept answer, but keep the new ones (`check --fresh`).
    refresh: bool,
    mem: Mutex<HashMap<String, Entry>>,
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
        if self.refresh {
            return None;
        }
        let key = key(host, script);
        let mut mem = self.mem.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = mem.get(&key) {
            return Some(e.clone());
        }
        let e = self.dir.as_deref().and_then(|d| read(&d.join(format!("{key}.json"))))?;
        mem.insert(key, e.clone());
        Some(e)
    }

    /// Keeps an entry (replacing the host's previous one).
    pub fn put(&self, host: &Host, script: &str, entry: Entry) {
        let key = key(host, script);
        if let Some(dir) = &self.dir
            && let Err(e) = write(dir, &key, &entry)
        {
            tracing::warn!("cannot save the probe cache in {}: {e}", dir.display());
        }
        self.mem.lock().unwrap_or_else(|p| p.into_inner()).insert(key, entry);
    }
}

/// One key per host as reached (name, address, user, port) and probe script: another
/// patchdeck version's script, or another host behind a reused name, never matches.
fn key(host: &Host, script: &str) -> String {
    let port = host.port.map(|p| p.to_string()).unwrap_or_default();
    let user = host.user.as_deref().unwrap_or("");
    sha256_hex(format!("{}\0{}\0{user}\0{port}\0{}", host.name, host.address, sha256_hex(script.as_bytes())).as_bytes())
}

fn read(path: &Path) -> Option<Entry> {
    let text = std::fs::read_to_string(path).ok()?;
    let e: Entry = serde_json::from_str(&text).ok()?;
    (e.format == FORMAT && is_digest(&e.state)).then_some(e)
}

/// Written to a temporary file then renamed, so a reader never sees half an entry.
fn write(dir: &Path, key: &str, entry: &Entry) -> std::io::Result<()> {
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

    #[test]
    fn state_lines() {
        assert_eq!(StateLine::parse(Some(&format!("{D}\n"))), StateLine::Fresh(Some(D.into())));
        assert_eq!(StateLine::parse(Some(&format!("{D}\nunchanged\n"))), StateLine::Unchanged(D.into()));
        assert_eq!(StateLine::parse(Some(&format!("{D}\nskipped\n"))), StateLine::Skipped);
        assert_eq!(StateLine::parse(Some("\nskipped\n")), StateLine::Skipped);
        // A host without the tools prints an empty digest: fresh, nothing to keep.
        assert_eq!(StateLine::parse(Some("\n")), StateLine::Fresh(None));
        assert_eq!(StateLine::parse(None), StateLine::Fresh(None));
        // "unchanged" without a well-formed digest is not believed.
        assert_eq!(StateLine::parse(Some("; rm -rf /\nunchanged\n")), StateLine::Fresh(None));
        assert_eq!(StateLine::parse(Some(&format!("{}\nunchanged\n", D.to_uppercase()))), StateLine::Fresh(None));
    }

    #[test]
    fn entries_survive_a_new_process_and_are_per_host_and_script() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Host::named("prod1");
        a.address = "10.0.0.1".into();
        let sections = BTreeMap::from([("upgrade".to_string(), "Inst less [1] (2 Debian:12 [amd64])\n".to_string())]);
        let e = Entry::new(D.into(), sections);
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
        let newer = Entry::new("b".repeat(64), BTreeMap::new());
        refreshing.put(&a, "script", newer.clone());
        assert_eq!(ProbeCache::persistent(dir.path().to_path_buf()).get(&a, "script"), Some(newer));
    }

    #[test]
    fn corrupt_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let a = Host::named("prod1");
        let cache = ProbeCache::persistent(dir.path().to_path_buf());
        cache.put(&a, "s", Entry::new(D.into(), BTreeMap::new()));
        for f in std::fs::read_dir(dir.path()).unwrap() {
            std::fs::write(f.unwrap().path(), "{ not json").unwrap();
        }
        assert_eq!(ProbeCache::persistent(dir.path().to_path_buf()).get(&a, "s"), None);
    }
}
