//! The configuration map's costly parts, kept per host so an unchanged host does not send
//! them again.
//!
//! Two parts of the map cost most to gather and send: its files (the conffiles dpkg lists,
//! every file under `/etc` no package owns, a checksum of each) and the `net.*` sysctls (a
//! thousand values). For each [`Part`] the probe prints a digest of its inputs on a line
//! `kept<TAB>PART<TAB>fresh<TAB>DIGEST` before that part's lines. Sent the digest the
//! operator kept (`PD_KNOWN_DRIFT_FILES`, `PD_KNOWN_DRIFT_SYSCTL`) and finding it unchanged,
//! it prints `kept<TAB>PART<TAB>unchanged<TAB>DIGEST` instead and leaves the lines out. The
//! operator then puts back the lines it kept from that probe: same inputs, same lines,
//! parsed by the same parser ([`crate::drift::map::parse`]) with this probe's own names and
//! addresses. Everything else in the map is read and sent every time.
//!
//! A third digest, [`Part::Map`], is of both parts' inputs read together by one `find`
//! (`PD_KNOWN_DRIFT_MAP`): when it has not moved, the host knows both parts are unchanged
//! without reading them apart, which is what an unchanged host costs on every check. The
//! host takes all three digests and the lines it sends from one reading, so what is kept
//! under a digest is what was read for it.
//!
//! Like [`super::cache`], an optimisation only: a missing or corrupt entry means "ask the
//! host", and a host saying `unchanged` to a digest it was not sent is an error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cache::is_digest;

/// Bumped when the entry format changes, so old files are ignored.
const FORMAT: u32 = 3;

/// A part of the map the host may leave out when unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Conffiles, files under /etc no package owns, their checksums. Digest: the metadata
    /// of /etc's files and of dpkg's database, and the host's names (files naming the host
    /// are checksummed with the names replaced).
    Files,
    /// `net.*` sysctls, volatile ones left out on the host. Digest: their lines as sent.
    Sysctl,
    /// No lines of its own: the digest of what both parts are read from, read together
    /// (unchanged: so are both).
    Map,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Files, Part::Sysctl, Part::Map];

    /// Its name on the `kept` line and in a kept entry.
    pub fn name(self) -> &'static str {
        match self {
            Part::Files => "files",
            Part::Sysctl => "sysctl",
            Part::Map => "map",
        }
    }

    /// The kinds of the section's lines that make it (see `probe.sh`).
    fn kinds(self) -> &'static [&'static str] {
        match self {
            Part::Files => &["cf", "sum", "norm"],
            Part::Sysctl => &["sysctl"],
            Part::Map => &[],
        }
    }

    /// The variable the probe reads the kept digest from.
    pub fn known_variable(self) -> &'static str {
        match self {
            Part::Files => "PD_KNOWN_DRIFT_FILES",
            Part::Sysctl => "PD_KNOWN_DRIFT_SYSCTL",
            Part::Map => "PD_KNOWN_DRIFT_MAP",
        }
    }
}

/// What a part's `kept` line said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeptLine {
    /// Its lines follow; `Some(digest)` when the host could compute one.
    Fresh(Option<String>),
    /// The digest equals the one sent: the kept lines stand.
    Unchanged(String),
    /// No `kept` line for it (an older probe, the simulator): its lines, if any, are there.
    Absent,
}

impl KeptLine {
    /// The first `kept` line of `part` in a `drift` section body. A digest that is not one
    /// is not believed (then `unchanged` means nothing, and fresh has no digest to keep).
    pub fn parse(body: &str, part: Part) -> Self {
        let prefix = format!("kept\t{}\t", part.name());
        let Some(rest) = body.lines().find_map(|l| l.strip_prefix(&prefix)) else { return Self::Absent };
        let (word, digest) = rest.split_once('\t').unwrap_or((rest, ""));
        let digest = Some(digest).filter(|d| is_digest(d)).map(str::to_string);
        match (word, digest) {
            ("unchanged", Some(d)) => Self::Unchanged(d),
            (_, digest) => Self::Fresh(digest),
        }
    }
}

/// One part's lines, as the host printed them for `digest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptPart {
    pub digest: String,
    pub lines: String,
}

/// A host's kept parts, by part name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptParts {
    format: u32,
    pub parts: BTreeMap<String, KeptPart>,
}

impl KeptParts {
    /// The parts of a whole `drift` section body (kept lines put back) that came with a
    /// digest; `None` when none did.
    pub fn from_body(body: &str) -> Option<Self> {
        let parts: BTreeMap<String, KeptPart> = Part::ALL
            .into_iter()
            .filter_map(|part| {
                let digest = match KeptLine::parse(body, part) {
                    KeptLine::Fresh(Some(d)) | KeptLine::Unchanged(d) => d,
                    KeptLine::Fresh(None) | KeptLine::Absent => return None,
                };
                let lines = body
                    .lines()
                    .filter(|l| l.split_once('\t').is_some_and(|(k, _)| part.kinds().contains(&k)))
                    .fold(String::new(), |mut all, l| {
                        all.push_str(l);
                        all.push('\n');
                        all
                    });
                Some((part.name().to_string(), KeptPart { digest, lines }))
            })
            .collect();
        (!parts.is_empty()).then_some(Self { format: FORMAT, parts })
    }

    /// The digest kept for `part`, if any.
    pub fn digest(&self, part: Part) -> Option<&str> {
        self.parts.get(part.name()).map(|p| p.digest.as_str())
    }

    /// Read from a file: only an entry of this format, every digest a digest, is believed.
    pub fn is_sound(&self) -> bool {
        self.format == FORMAT && self.parts.values().all(|p| is_digest(&p.digest))
    }
}

/// A host said a part is unchanged since a digest it was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSent(pub Part);

/// The `drift` section body with the kept lines of every part the host said is unchanged
/// put back; `Err` when it said so for a digest other than the one kept.
pub fn restore(body: &str, kept: Option<&KeptParts>) -> Result<String, NotSent> {
    let mut back = String::new();
    for part in Part::ALL {
        if let KeptLine::Unchanged(d) = KeptLine::parse(body, part) {
            match kept.and_then(|k| k.parts.get(part.name())).filter(|p| p.digest == d) {
                Some(p) => back.push_str(&p.lines),
                None => return Err(NotSent(part)),
            }
        }
    }
    // The kept lines go first: kinds are parsed into maps, so order does not matter, and a
    // forged duplicate later in the body cannot win over them.
    back.push_str(body);
    Ok(back)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "a6796d61f56159aa5557a9407ee0f8bb7832ce606815185c760b8703affeb7b2";
    const E: &str = "3cc21e06669dcc9bdbec525f734fa0fe12c1c1907fa15d4cc945b3f294a2d507";

    #[test]
    fn kept_lines() {
        let files = |b: &str| KeptLine::parse(b, Part::Files);
        assert_eq!(files(&format!("id\tname\tx\nkept\tfiles\tfresh\t{D}\ncf\tp\n")), KeptLine::Fresh(Some(D.into())));
        assert_eq!(files("kept\tfiles\tfresh\t\nend\n"), KeptLine::Fresh(None));
        assert_eq!(files(&format!("kept\tfiles\tunchanged\t{D}\nend\n")), KeptLine::Unchanged(D.into()));
        assert_eq!(files(&format!("kept\tsysctl\tunchanged\t{D}\nend\n")), KeptLine::Absent, "another part's");
        assert_eq!(
            KeptLine::parse(&format!("kept\tsysctl\tunchanged\t{D}\n"), Part::Sysctl),
            KeptLine::Unchanged(D.into())
        );
        assert_eq!(files("link\tx\nend\n"), KeptLine::Absent);
        // `unchanged` without a well-formed digest is not believed.
        assert_eq!(files("kept\tfiles\tunchanged\t$(reboot)\n"), KeptLine::Fresh(None));
        assert_eq!(files(&format!("kept\tfiles\tunchanged\t{}\n", D.to_uppercase())), KeptLine::Fresh(None));
        assert_eq!(files("kept\tfiles\tunchanged\n"), KeptLine::Fresh(None));
    }

    #[test]
    fn only_each_parts_own_lines_are_kept() {
        let body = format!(
            "id\tname\tprod1\nkept\tfiles\tfresh\t{D}\ncf\tnginx\t{m}\t/etc/nginx/nginx.conf\n\
             sum\t{m}\t/etc/nginx/nginx.conf\nnorm\t{m}\t/etc/hosts\nlink\t2: eth0: mtu 1500\n\
             kept\tsysctl\tfresh\t{E}\nsysctl\t/proc/sys/net/ipv4/ip_forward:0\nkept\tmap\tfresh\t{E}\nend\n",
            m = "0".repeat(32)
        );
        let kept = KeptParts::from_body(&body).unwrap();
        // The whole map's digest is kept with no lines of its own.
        assert_eq!(kept.parts["map"], KeptPart { digest: E.into(), lines: String::new() });
        let files = &kept.parts["files"];
        assert_eq!((files.digest.as_str(), files.lines.lines().count()), (D, 3));
        assert!(files.lines.lines().all(|l| ["cf\t", "sum\t", "norm\t"].iter().any(|k| l.starts_with(k))));
        assert_eq!(kept.parts["sysctl"].lines, "sysctl\t/proc/sys/net/ipv4/ip_forward:0\n");
        assert_eq!((kept.digest(Part::Files), kept.digest(Part::Sysctl)), (Some(D), Some(E)));
        assert!(kept.is_sound());
        assert!(!KeptParts { format: FORMAT + 1, ..kept.clone() }.is_sound());
        let mut bad = kept.clone();
        bad.parts.get_mut("files").unwrap().digest = "x".into();
        assert!(!bad.is_sound());
        // No digest anywhere (a host without the tools): nothing to keep.
        assert_eq!(KeptParts::from_body("kept\tfiles\tfresh\t\ncf\tx\nend\n"), None);
    }

    #[test]
    fn unchanged_puts_back_the_kept_lines_and_only_for_the_digest_sent() {
        let m = "1".repeat(32);
        let first = format!(
            "kept\tfiles\tfresh\t{D}\ncf\tnginx\t{m}\t/etc/n.conf\nsum\t{m}\t/etc/n.conf\n\
             kept\tsysctl\tfresh\t{E}\nsysctl\t/proc/sys/net/core/x:1\nend\n"
        );
        let kept = KeptParts::from_body(&format!("{first}kept\tmap\tfresh\t{E}\n")).unwrap();
        let body = format!(
            "id\tname\tprod1\nkept\tmap\tunchanged\t{E}\nkept\tfiles\tunchanged\t{D}\nkept\tsysctl\tunchanged\t{E}\n\
             link\tx\nend\n"
        );
        let restored = restore(&body, Some(&kept)).unwrap();
        assert!(restored.ends_with(&body));
        assert_eq!(crate::drift::map::parse(Some(&restored)), crate::drift::map::parse(Some(&first)));
        // What is kept from the restored body is what was kept.
        assert_eq!(KeptParts::from_body(&restored), Some(kept.clone()));
        // One part unchanged, the other fresh: only that part is put back.
        let mixed =
            format!("kept\tfiles\tunchanged\t{D}\nkept\tsysctl\tfresh\t{D}\nsysctl\t/proc/sys/net/core/x:2\nend\n");
        let restored = restore(&mixed, Some(&kept)).unwrap();
        assert!(restored.contains("/etc/n.conf") && !restored.contains("core/x:1"));
        // Another digest, or none kept: the host answered a question it was not asked.
        assert_eq!(restore(&format!("kept\tfiles\tunchanged\t{E}\nend\n"), Some(&kept)), Err(NotSent(Part::Files)));
        assert_eq!(restore(&body, None), Err(NotSent(Part::Files)));
        assert_eq!(restore(&format!("kept\tmap\tunchanged\t{D}\nend\n"), Some(&kept)), Err(NotSent(Part::Map)));
        // Fresh or absent: the body stands as sent.
        assert_eq!(restore("end\n", Some(&kept)).unwrap(), "end\n");
    }
}
