//! The package database's own health: every package's state, whether the last run of the
//! package manager finished, and whether another process holds its lock. Filled by the
//! manager's parser (apt: dpkg's status abbreviations, `dpkg --audit`, its `updates/`
//! journal and lock files); read by the diff (a stop before anything changes), the
//! snapshot, and the verification after a step or a rollback.

use serde::{Deserialize, Serialize};

use super::{PkgName, Version};

/// One package as the package database records it, in whatever state it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkgState {
    /// The manager's own short code, shown as it prints it (apt: `ii`, `iHR`, `rc`, `hi`).
    pub status: String,
    /// The version the database records for it (`None`: none recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    /// Its files are in place and configured: it counts as installed.
    pub installed: bool,
    /// A run left it half done (apt: half-installed, unpacked, half-configured, awaiting
    /// triggers, or flagged reinstall-required): nothing should change it but a repair.
    pub unfinished: bool,
}

/// A package a run left half done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unfinished {
    pub name: PkgName,
    pub status: String,
}

/// Whether the package database is fit to change now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbHealth {
    /// Packages a run left half done, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfinished: Vec<Unfinished>,
    /// The database's journal holds changes its last run never merged (apt: files in
    /// `/var/lib/dpkg/updates/`): that run was interrupted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// What the manager's own audit reports (apt: `dpkg --audit`), each line safe to print.
    /// Shown, not judged: it also speaks when the database is merely locked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<String>,
    /// Another process holds the database's lock: one "PATH (pid N)" per lock held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locked_by: Vec<String>,
    /// The command that finishes what was left half done, for messages (apt:
    /// `dpkg --configure -a`); what [`super::PackageManager::repair`] runs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

impl DbHealth {
    /// Something was left half done: a repair must run before anything else changes.
    pub fn needs_repair(&self) -> bool {
        self.interrupted || !self.unfinished.is_empty()
    }

    /// Another process holds the lock: a change now would wait for it or fail.
    pub fn locked(&self) -> bool {
        !self.locked_by.is_empty()
    }

    /// The packages left half done, as `name (status)`, for messages.
    pub fn unfinished_list(&self) -> String {
        self.unfinished.iter().map(|u| format!("{} ({})", u.name, u.status)).collect::<Vec<_>>().join(", ")
    }

    /// One sentence: what was left half done and how to finish it.
    pub fn broken_detail(&self) -> String {
        let what = if self.unfinished.is_empty() {
            "its journal has changes its last run never merged".to_string()
        } else {
            format!("{} left half done", self.unfinished_list())
        };
        let fix = if self.fix.is_empty() { "repair it".to_string() } else { format!("run `{}`", self.fix) };
        format!("the package database was interrupted: {what}; {fix} (patchdeck: repair) before anything changes")
    }
}

/// A package whose state after a change differs from what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMismatch {
    pub name: PkgName,
    /// The status expected (`None`: absent or not installed, any state).
    pub expected: Option<String>,
    /// The status found (`None`: absent).
    pub found: Option<String>,
}

/// Did every package end in the state its snapshot recorded? `snapshot` holds every package
/// the snapshot names with its status; a package the snapshot does not name must be neither
/// installed nor left half done. Statuses compare without their first letter, the selection
/// (apt's "wanted" flag), which says what was asked, not what the package is.
pub fn verify_states(
    snapshot: &std::collections::BTreeMap<PkgName, String>,
    after: &std::collections::BTreeMap<PkgName, PkgState>,
) -> Vec<StateMismatch> {
    let state = |s: &str| s.get(1..).unwrap_or("").trim_end().to_string();
    let mut out = Vec::new();
    for (name, expected) in snapshot {
        let found = after.get(name);
        let same = match found {
            Some(f) => state(&f.status) == state(expected),
            // Gone from the database: fine only if it was not there in any real state.
            None => matches!(state(expected).as_str(), "n" | ""),
        };
        if !same {
            out.push(StateMismatch {
                name: name.clone(),
                expected: Some(expected.clone()),
                found: found.map(|f| f.status.clone()),
            });
        }
    }
    for (name, f) in after {
        if !snapshot.contains_key(name) && (f.installed || f.unfinished) {
            out.push(StateMismatch { name: name.clone(), expected: None, found: Some(f.status.clone()) });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn n(s: &str) -> PkgName {
        PkgName::parse(s).unwrap()
    }
    fn st(status: &str, installed: bool, unfinished: bool) -> PkgState {
        PkgState { status: status.into(), version: Some(Version::parse("1.0").unwrap()), installed, unfinished }
    }

    #[test]
    fn a_half_installed_package_is_not_its_installed_snapshot() {
        let snap: BTreeMap<PkgName, String> =
            [(n("tzdata"), "ii".to_string()), (n("old"), "rc".to_string()), (n("held"), "hi".to_string())].into();
        let fine: BTreeMap<PkgName, PkgState> = [
            (n("tzdata"), st("ii", true, false)),
            (n("old"), st("rc", false, false)),
            // The selection changed (a hold was taken off), the package did not.
            (n("held"), st("ii", true, false)),
            // Removed by the rollback, config files left: not installed.
            (n("newdep"), st("rc", false, false)),
        ]
        .into();
        assert_eq!(verify_states(&snap, &fine), vec![]);

        let mut broken = fine.clone();
        broken.insert(n("tzdata"), st("iHR", false, true));
        broken.insert(n("newdep"), st("iU", false, true));
        let m = verify_states(&snap, &broken);
        assert_eq!(
            m,
            vec![
                StateMismatch { name: n("tzdata"), expected: Some("ii".into()), found: Some("iHR".into()) },
                StateMismatch { name: n("newdep"), expected: None, found: Some("iU".into()) },
            ]
        );
        // A package the snapshot had installed, gone from the database altogether.
        let mut gone = fine;
        gone.remove(&n("tzdata"));
        assert_eq!(verify_states(&snap, &gone)[0].found, None);
    }

    #[test]
    fn health_says_what_is_half_done_and_the_fix() {
        let h = DbHealth {
            unfinished: vec![Unfinished { name: n("tzdata"), status: "iHR".into() }],
            interrupted: true,
            fix: "dpkg --configure -a".into(),
            ..DbHealth::default()
        };
        assert!(h.needs_repair() && !h.locked());
        let d = h.broken_detail();
        assert!(d.contains("tzdata (iHR)") && d.contains("`dpkg --configure -a`"), "{d}");
        assert!(!DbHealth::default().needs_repair());
        let journal_only = DbHealth { interrupted: true, ..DbHealth::default() };
        assert!(journal_only.needs_repair() && journal_only.broken_detail().contains("interrupted"));
    }
}
