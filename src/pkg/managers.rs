//! The package managers patchdeck knows, and which one answers for a host.
//!
//! The probe is ONE script for every host: a common prelude (os-release, printed as the
//! `os` section), then detection (the first registered manager whose os-release family and
//! tools the host has; failing that, the first whose tools it has), a `manager` section
//! naming the one chosen (empty: none), and that manager's own block of the probe. The
//! parser picks the manager from the `manager` section, so a host's manager is learned in
//! the same round trip as everything else, and every later command for the host (install,
//! restore) comes from that manager.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, LazyLock};

use super::{PackageManager, ParseError, apt::Apt};
use crate::safe_text::for_terminal;

/// The probe section naming the manager that answered (empty when none did).
pub const MANAGER_SECTION: &str = "manager";

/// The probe section holding os-release, printed before any manager is asked.
pub const OS_SECTION: &str = "os";

const PRELUDE: &str = include_str!("prelude.sh");

/// How a host shows that it runs a manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detect {
    /// os-release `ID` / `ID_LIKE` words of systems that use it ("debian" covers Ubuntu).
    pub families: &'static [&'static str],
    /// Commands that must exist on the host.
    pub tools: &'static [&'static str],
}

/// The registered package managers, in order of preference.
#[derive(Clone)]
pub struct Managers {
    list: Vec<Arc<dyn PackageManager>>,
}

impl Default for Managers {
    /// apt only: the one real backend so far.
    fn default() -> Self {
        Self::new(vec![Arc::new(Apt)])
    }
}

impl std::fmt::Debug for Managers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.list.iter().map(|m| m.name())).finish()
    }
}

/// A manager's name, family or tool as it goes into the probe script: a plain word.
fn word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Managers {
    /// Managers in order of preference. One whose name, families or tools are not plain
    /// words (`[A-Za-z0-9._-]`) is left out: those words are written into the probe.
    pub fn new(list: Vec<Arc<dyn PackageManager>>) -> Self {
        let list = list
            .into_iter()
            .filter(|m| {
                let d = m.detect();
                word(m.name()) && d.families.iter().chain(d.tools).all(|w| word(w))
            })
            .collect();
        Self { list }
    }

    /// The default registry, for callers that hold none of their own.
    pub fn standard() -> &'static Managers {
        static STANDARD: LazyLock<Managers> = LazyLock::new(Managers::default);
        &STANDARD
    }

    pub fn get(&self, name: &str) -> Option<&dyn PackageManager> {
        self.list.iter().find(|m| m.name() == name).map(|m| m.as_ref())
    }

    /// The manager of a host whose probe named it, or why there is none.
    pub fn named(&self, name: &str) -> Result<&dyn PackageManager, ParseError> {
        if let Some(pm) = self.get(name) {
            return Ok(pm);
        }
        let detail = if name.is_empty() {
            format!("no supported package manager found on this host (looked for {})", self.looked_for())
        } else {
            format!("the host answered as package manager `{}`, which is not one of {}", name, self.names().join(", "))
        };
        Err(ParseError::Malformed { command: "probe".into(), detail: for_terminal(&detail) })
    }

    /// The manager a probe output says answered.
    pub fn answering(&self, sections: &BTreeMap<String, String>) -> Result<&dyn PackageManager, ParseError> {
        let said = sections.get(MANAGER_SECTION).and_then(|b| b.lines().next()).unwrap_or("").trim();
        self.named(said)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.list.iter().map(|m| m.name()).collect()
    }

    /// "apt (dpkg-query, apt-get)", for messages.
    fn looked_for(&self) -> String {
        let each: Vec<String> =
            self.list.iter().map(|m| format!("{} ({})", m.name(), m.detect().tools.join(", "))).collect();
        if each.is_empty() { "none: no package manager is registered".into() } else { each.join(", ") }
    }

    /// The package part of the probe: the prelude, detection, the `manager` section and
    /// the chosen manager's block (see the module doc). Read-only on every host.
    pub fn probe_script(&self) -> String {
        let mut s = String::from(PRELUDE);
        let tools = |d: &Detect| d.tools.iter().map(|t| format!(" && pd_has {t}")).collect::<String>();
        s.push_str("# A manager whose family os-release names and whose tools are here, else one whose tools are.\n");
        for m in &self.list {
            let d = m.detect();
            for family in d.families {
                let _ = writeln!(s, "{}pd_family_is {family}{}{}", IF_NONE_YET, tools(&d), set(m.name()));
            }
        }
        for m in &self.list {
            let d = m.detect();
            let _ = writeln!(s, "{}true{}{}", IF_NONE_YET, tools(&d), set(m.name()));
        }
        let _ = writeln!(s, "echo '@@patchdeck:{MANAGER_SECTION}'\nprintf '%s\\n' \"$pd_manager\"");
        for m in &self.list {
            let _ = write!(s, "if [ \"$pd_manager\" = {} ]; then\n{}\nfi\n", m.name(), m.probe_script().trim_end());
        }
        s
    }
}

const IF_NONE_YET: &str = "if [ -z \"$pd_manager\" ] && ";

/// The end of a detection line choosing `name`.
fn set(name: &str) -> String {
    format!("; then pd_manager={name}; fi")
}

/// Does this probe script look for manager `name`? (The simulator answers as a real host
/// would: a manager the script does not look for is not found.)
pub fn looks_for(probe_script: &str, name: &str) -> bool {
    word(name) && probe_script.contains(&set(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::testing::Fake;

    fn run(script: &str, root: &std::path::Path, path: &str) -> BTreeMap<String, String> {
        // The prelude reads /etc/os-release; the test points it at a file of its own.
        let script = script.replace("/etc/os-release", &root.join("os-release").display().to_string());
        let out = std::process::Command::new("/bin/sh").args(["-c", &script]).env("PATH", path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        crate::probe::split_sections(&String::from_utf8_lossy(&out.stdout))
    }

    /// A directory of stub commands standing in for a host's tools, and its os-release.
    fn host(tools: &[&str], os_release: &str) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("os-release"), os_release).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        // The shell's own needs (sed for the os section): the real ones.
        let sed = ["/usr/bin/sed", "/bin/sed"].into_iter().find(|p| std::path::Path::new(p).exists());
        std::os::unix::fs::symlink(sed.unwrap(), bin.join("sed")).unwrap();
        for t in tools {
            let p = bin.join(t);
            std::fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    }

    /// Only the manager's block runs; with a stub manager whose block prints one line.
    #[test]
    fn detection_prefers_the_family_then_the_tools() {
        let both =
            Managers::new(vec![Arc::new(Fake::new("alpha", &["alike"], &["alpha-get"])), Arc::new(Fake::default())]);
        let script = both.probe_script();
        let chosen = |tools: &[&str], os: &str| {
            let h = host(tools, os);
            let s = run(&script, h.path(), &h.path().join("bin").display().to_string());
            (s[MANAGER_SECTION].trim().to_string(), s.get("fake.block").cloned(), s.get("alpha.block").cloned())
        };
        // Both managers' tools: os-release decides (the fake's family is "fakeos").
        let (m, fake, alpha) = chosen(&["alpha-get", "fakepm"], "ID=fakeos\n");
        assert_eq!((m.as_str(), fake.is_some(), alpha.is_none()), ("fake", true, true));
        let (m, ..) = chosen(&["alpha-get", "fakepm"], "ID=\"other\"\nID_LIKE=\"alike debian\"\n");
        assert_eq!(m, "alpha");
        // A family without the tools does not count; tools alone do, in registry order.
        let (m, ..) = chosen(&["fakepm"], "ID=alike\n");
        assert_eq!(m, "fake");
        let (m, ..) = chosen(&["alpha-get", "fakepm"], "ID=unknown\n");
        assert_eq!(m, "alpha");
        // Nothing known: an empty `manager` section and no manager block at all.
        let (m, fake, alpha) = chosen(&[], "ID=fakeos\n");
        assert_eq!((m.as_str(), fake, alpha), ("", None, None));
        let s: BTreeMap<String, String> = [(MANAGER_SECTION.to_string(), "\n".to_string())].into();
        let e = both.answering(&s).err().unwrap().to_string();
        assert!(e.contains("no supported package manager found") && e.contains("fake (fakepm)"), "{e}");
        let s: BTreeMap<String, String> = [(MANAGER_SECTION.to_string(), "dnf\x1b[2J\n".to_string())].into();
        let e = both.answering(&s).err().unwrap().to_string();
        assert!(e.contains("not one of alpha, fake") && !e.contains('\x1b'), "{e}");
        // The os section is printed whatever the manager.
        let h = host(&[], "ID=fakeos\n@@patchdeck:manager\n");
        let s = run(&script, h.path(), &h.path().join("bin").display().to_string());
        assert_eq!(s["os"], "ID=fakeos\n@@escaped:manager\n");
        assert_eq!(s[MANAGER_SECTION], "\n", "a forged marker in os-release opens nothing");
    }

    #[test]
    fn names_that_are_not_words_stay_out_of_the_script() {
        let m = Managers::new(vec![Arc::new(Fake::new("a;b", &["x"], &["y"])), Arc::new(Fake::default())]);
        assert_eq!(m.names(), ["fake"]);
        assert!(!m.probe_script().contains("a;b"));
        assert!(looks_for(&m.probe_script(), "fake") && !looks_for(&m.probe_script(), "apt"));
        assert!(looks_for(&Managers::default().probe_script(), "apt"));
    }
}
