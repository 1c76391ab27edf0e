//! The drill history: one JSON line per drill run, so teams can see whether they get
//! faster at noticing and recovering. Default file: `$XDG_STATE_HOME/patchdeck/drills.jsonl`
//! (`~/.local/state/patchdeck/drills.jsonl`).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::scorecard::Scorecard;

/// One drill run, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub ran_at: jiff::Timestamp,
    pub scenario: String,
    pub window: String,
    pub target: String,
    pub passed: bool,
    pub faults: usize,
    pub detected: usize,
    /// Means over the faults that reached the milestone (drill-clock seconds).
    pub mean_detect_s: Option<f64>,
    pub mean_decide_s: Option<f64>,
    pub mean_recover_s: Option<f64>,
    /// Hosts that ended with the packages they had before the window, of those rolled back.
    pub restored: usize,
    pub rolled_back: usize,
    /// The journal of the run, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<String>,
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = v.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

impl Entry {
    pub fn from_scorecard(s: &Scorecard, journal: Option<&Path>) -> Self {
        let stops: Vec<_> = s.faults.iter().filter_map(|f| f.stop.as_ref()).collect();
        let rolled: Vec<_> =
            s.hosts.iter().filter(|h| h.result == Some(crate::engine::event::HostResult::RolledBack)).collect();
        Self {
            ran_at: s.ran_at,
            scenario: s.scenario.clone(),
            window: s.window.clone(),
            target: s.target.clone(),
            passed: s.passed,
            faults: s.faults.len(),
            detected: stops.len(),
            mean_detect_s: mean(stops.iter().map(|s| s.detect_s)),
            mean_decide_s: mean(stops.iter().filter_map(|s| s.decide_s)),
            mean_recover_s: mean(stops.iter().filter_map(|s| s.recover_s)),
            restored: rolled.iter().filter(|h| h.as_before == Some(true)).count(),
            rolled_back: rolled.len(),
            journal: journal.map(|p| p.display().to_string()),
        }
    }
}

/// The default history file.
pub fn default_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("patchdeck").join("drills.jsonl"))
}

/// Appends one entry (creating the file and its directory).
pub fn append(path: &Path, e: &Entry) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    let line = serde_json::to_string(e).map_err(std::io::Error::other)?;
    writeln!(f, "{line}")?;
    f.sync_data()
}

/// Reads every entry; lines that do not parse are skipped (counted in the second value).
pub fn read(path: &Path) -> std::io::Result<(Vec<Entry>, usize)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], 0)),
        Err(e) => return Err(e),
    };
    let mut bad = 0;
    let entries = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).map_err(|_| bad += 1).ok())
        .collect();
    Ok((entries, bad))
}

fn s(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}s"))
}

/// The comparison table: runs grouped by scenario, oldest first, with the change in mean
/// recovery time against the scenario's previous run.
pub fn table(entries: &[Entry]) -> Vec<String> {
    let mut out = vec![format!(
        "{:<22} {:<17} {:<6} {:>6} {:>8} {:>8} {:>8} {:>9} {:>8}",
        "scenario", "ran at (UTC)", "result", "caught", "detect", "decide", "recover", "restored", "Δrecover"
    )];
    let mut names: Vec<&str> = entries.iter().map(|e| e.scenario.as_str()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let mut runs: Vec<&Entry> = entries.iter().filter(|e| e.scenario == name).collect();
        runs.sort_by_key(|e| e.ran_at);
        let mut prev: Option<f64> = None;
        for e in runs {
            let delta = match (prev, e.mean_recover_s) {
                (Some(p), Some(n)) if (n - p).abs() < 0.05 => "0.0s".into(),
                (Some(p), Some(n)) => format!("{:+.1}s", n - p),
                _ => "-".into(),
            };
            out.push(format!(
                "{:<22.22} {:<17} {:<6} {:>6} {:>8} {:>8} {:>8} {:>9} {:>8}",
                e.scenario,
                e.ran_at.strftime("%Y-%m-%d %H:%M"),
                if e.passed { "pass" } else { "FAIL" },
                format!("{}/{}", e.detected, e.faults),
                s(e.mean_detect_s),
                s(e.mean_decide_s),
                s(e.mean_recover_s),
                format!("{}/{}", e.restored, e.rolled_back),
                delta
            ));
            if e.mean_recover_s.is_some() {
                prev = e.mean_recover_s;
            }
        }
    }
    out
}
