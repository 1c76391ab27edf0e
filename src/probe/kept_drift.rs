//! The configuration map's file part, kept per host so an unchanged host is not read again.
//!
//! The map's costly part on a host is its files: the conffiles dpkg lists, every file under
//! `/etc` no package owns, and a checksum of each. The probe prints a digest of their
//! metadata (and of the host's names, which the normalized checksums depend on) on a line
//! `files<TAB>fresh<TAB>DIGEST` before the file lines; given the digest it saw last
//! (`PD_KNOWN_DRIFT_FILES`) and finding it unchanged, it prints `files<TAB>unchanged<TAB>DIGEST`
//! instead and leaves the file lines out. The operator then puts back the lines it kept
//! from that probe: same inputs, same lines, parsed by the same parser
//! ([`crate::drift::map::parse`]). The network, kernel and service parts are read every time.
//!
//! Like [`super::cache`], an optimisation only: a missing or corrupt entry means "ask the
//! host", and a host saying `unchanged` to a digest it was not sent is an error.

use serde::{Deserialize, Serialize};

use super::cache::is_digest;

/// The kinds of lines that make the file part: what is kept, and what an `unchanged`
/// host left out.
const FILE_KINDS: &[&str] = &["cf", "sum", "norm"];

/// Bumped when the entry format changes, so old files are ignored.
pub(super) const FORMAT: u32 = 1;

/// What the `files` line of a host's `drift` section said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilesLine {
    /// The file lines follow; `Some(digest)` when the host could compute one.
    Fresh(Option<String>),
    /// The digest equals the one sent: the kept lines stand.
    Unchanged(String),
    /// No `files` line (an older probe, the simulator): the file lines, if any, are there.
    Absent,
}

impl FilesLine {
    /// The first `files` line of a `drift` section body. A digest that is not one is
    /// not believed (then `unchanged` means nothing, and fresh has no digest to keep).
    pub fn parse(body: &str) -> Self {
        let Some(rest) = body.lines().find_map(|l| l.strip_prefix("files\t")) else { return Self::Absent };
        let (word, digest) = rest.split_once('\t').unwrap_or((rest, ""));
        let digest = Some(digest).filter(|d| is_digest(d)).map(str::to_string);
        match (word, digest) {
            ("unchanged", Some(d)) => Self::Unchanged(d),
            (_, digest) => Self::Fresh(digest),
        }
    }
}

/// A host's file lines, as its probe printed them for `digest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptFiles {
    pub(super) format: u32,
    pub digest: String,
    pub lines: String,
}

impl KeptFiles {
    /// The file lines of a `drift` section body, to keep for `digest`.
    pub fn from_body(digest: String, body: &str) -> Self {
        let lines = body.lines().filter(|l| l.split_once('\t').is_some_and(|(k, _)| FILE_KINDS.contains(&k))).fold(
            String::new(),
            |mut all, l| {
                all.push_str(l);
                all.push('\n');
                all
            },
        );
        Self { format: FORMAT, digest, lines }
    }

    /// Read from a file: only an entry of this format, with a digest, is believed.
    pub fn is_sound(&self) -> bool {
        self.format == FORMAT && is_digest(&self.digest)
    }
}

/// A host said its files are unchanged since a digest it was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSent;

/// The `drift` section body with the kept file lines put back where the host said they
/// stand; unchanged otherwise. `Err` when the host said `unchanged` for another digest.
pub fn restore(body: &str, kept: Option<&KeptFiles>) -> Result<Option<String>, NotSent> {
    match FilesLine::parse(body) {
        FilesLine::Unchanged(d) => match kept.filter(|k| k.digest == d) {
            // The file lines go first: kinds are parsed into maps, so order does not
            // matter, and a forged duplicate later in the body cannot win over them.
            Some(k) => Ok(Some(format!("{}{body}", k.lines))),
            None => Err(NotSent),
        },
        FilesLine::Fresh(_) | FilesLine::Absent => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "a6796d61f56159aa5557a9407ee0f8bb7832ce606815185c760b8703affeb7b2";
    const E: &str = "3cc21e06669dcc9bdbec525f734fa0fe12c1c1907fa15d4cc945b3f294a2d507";

    #[test]
    fn files_lines() {
        assert_eq!(
            FilesLine::parse(&format!("id\tname\tx\nfiles\tfresh\t{D}\ncf\tp\n")),
            FilesLine::Fresh(Some(D.into()))
        );
        assert_eq!(FilesLine::parse("files\tfresh\t\nend\n"), FilesLine::Fresh(None));
        assert_eq!(FilesLine::parse(&format!("files\tunchanged\t{D}\nend\n")), FilesLine::Unchanged(D.into()));
        assert_eq!(FilesLine::parse("link\tx\nend\n"), FilesLine::Absent);
        // `unchanged` without a well-formed digest is not believed.
        assert_eq!(FilesLine::parse("files\tunchanged\t$(reboot)\n"), FilesLine::Fresh(None));
        assert_eq!(FilesLine::parse(&format!("files\tunchanged\t{}\n", D.to_uppercase())), FilesLine::Fresh(None));
        assert_eq!(FilesLine::parse("files\tunchanged\n"), FilesLine::Fresh(None));
    }

    #[test]
    fn only_the_file_lines_are_kept() {
        let body = format!(
            "id\tname\tprod1\nfiles\tfresh\t{D}\ncf\tnginx\t{m}\t/etc/nginx/nginx.conf\n\
             sum\t{m}\t/etc/nginx/nginx.conf\nnorm\t{m}\t/etc/hosts\nlink\t2: eth0: mtu 1500\nend\n",
            m = "0".repeat(32)
        );
        let kept = KeptFiles::from_body(D.into(), &body);
        assert_eq!(kept.lines.lines().count(), 3);
        assert!(kept.lines.lines().all(|l| ["cf\t", "sum\t", "norm\t"].iter().any(|k| l.starts_with(k))));
        assert!(kept.is_sound());
        assert!(!KeptFiles { format: FORMAT + 1, ..kept.clone() }.is_sound());
        assert!(!KeptFiles { digest: "x".into(), ..kept }.is_sound());
    }

    #[test]
    fn unchanged_puts_back_the_kept_lines_and_only_for_the_digest_sent() {
        let kept = KeptFiles::from_body(
            D.into(),
            &format!("cf\tnginx\t{m}\t/etc/n.conf\nsum\t{m}\t/etc/n.conf\n", m = "1".repeat(32)),
        );
        let body = format!("id\tname\tprod1\nfiles\tunchanged\t{D}\nlink\tx\nend\n");
        let restored = restore(&body, Some(&kept)).unwrap().unwrap();
        assert!(restored.starts_with(&kept.lines));
        assert!(restored.ends_with(&body));
        // Another digest, or none kept: the host answered a question it was not asked.
        assert_eq!(restore(&format!("files\tunchanged\t{E}\nend\n"), Some(&kept)), Err(NotSent));
        assert_eq!(restore(&body, None), Err(NotSent));
        // Fresh or absent: the body stands as sent.
        assert_eq!(restore(&format!("files\tfresh\t{E}\nend\n"), Some(&kept)), Ok(None));
        assert_eq!(restore("end\n", Some(&kept)), Ok(None));
    }
}
