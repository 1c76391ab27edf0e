//! Positioned diagnostics shared by every input file (runbook, inventory, baseline, theme).
//!
//! A tired operator must see *where* a file is wrong: `file:line:col`, the line itself and a
//! caret under the offending text. All problems of a file are collected and shown at once.
//!
//! Every input file is read through [`SourceFile::read_limited`] (regular files only, under a
//! size cap), and TOML inputs are parsed through [`toml`], which keeps every value's span.

pub mod toml;

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A file's text kept beside its path so byte spans can be turned into line/column.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

/// How large an input file may be, and what it is called in messages. The caps are generous
/// (documented in docs/runbook.md): they stop `/dev/zero`-like mistakes and runaway files from
/// filling memory, never a real runbook, inventory or baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What the file is, for messages ("runbook", "hosts file").
    pub what: &'static str,
    pub max_bytes: u64,
}

const MIB: u64 = 1024 * 1024;

impl Limit {
    pub const RUNBOOK: Limit = Limit { what: "runbook", max_bytes: 4 * MIB };
    pub const HOSTS: Limit = Limit { what: "inventory", max_bytes: 16 * MIB };
    pub const BASELINE: Limit = Limit { what: "baseline", max_bytes: 16 * MIB };
    /// Simulated fleets, drill scenarios, config and theme files.
    pub const OTHER: Limit = Limit { what: "file", max_bytes: 16 * MIB };
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self { path: path.into(), text: text.into() }
    }

    /// Reads an input file under [`Limit::OTHER`]; see [`SourceFile::read_limited`].
    pub fn read(path: &Path) -> Result<Self, Diagnostics> {
        Self::read_limited(path, Limit::OTHER)
    }

    /// Reads an input file: it must be a regular file (or a symlink to one) of at most
    /// `limit.max_bytes`, in UTF-8. A directory, FIFO or device is refused before it is read,
    /// so nothing waits on a writer that never comes or reads an endless stream. Every
    /// failure is a diagnostic naming the file and saying what to do.
    pub fn read_limited(path: &Path, limit: Limit) -> Result<Self, Diagnostics> {
        let bytes = read_regular(path, limit).map_err(|m| Diagnostic::whole_file(path, m))?;
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Self::new(path, text)),
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let bytes = e.into_bytes();
                let prefix = String::from_utf8_lossy(&bytes[..valid]).into_owned();
                let src = Self::new(path, prefix);
                let (line, col) = src.line_col(valid);
                let mut d = Diagnostic::whole_file(
                    path,
                    format!("the {} is not UTF-8 text (a bad byte at line {line}, column {col})", limit.what),
                )
                .with_help("save it as UTF-8; is it the right file?");
                (d.line, d.col) = (line, col);
                Err(d.into())
            }
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// A diagnostic pointing at `span` (byte range into the text). A long line is cut to a
    /// window around the span, so a minified 200 KB line is not echoed whole.
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let start = floor_char_boundary(&self.text, span.start.min(self.text.len()));
        let (line, col) = self.line_col(start);
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[line_start..].find('\n').map_or(self.text.len(), |i| line_start + i);
        let end = floor_char_boundary(&self.text, span.end.clamp(start, line_end.max(start)));
        let width = self.text[start..end].chars().count().max(1);
        let line_text = self.text[line_start..line_end].trim_end_matches('\r');
        let excerpt = excerpt(line_text, col, width);
        Diagnostic { file: self.path.clone(), line, col, message: message.into(), excerpt: Some(excerpt), help: None }
    }
}

/// At most this many characters of a source line are shown around the caret.
pub const EXCERPT_CHARS: usize = 120;

/// The part of `line` shown under a diagnostic: the whole line if short, else a window of
/// [`EXCERPT_CHARS`] around column `col` with `…` where it was cut, the caret cut to it.
fn excerpt(line: &str, col: usize, width: usize) -> Excerpt {
    let total = line.chars().count();
    let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    if total <= EXCERPT_CHARS {
        return Excerpt { text: line.to_string(), caret_col: narrow(col), width: narrow(width) };
    }
    let caret = col.saturating_sub(1).min(total);
    let from = caret.saturating_sub(EXCERPT_CHARS / 3).min(total.saturating_sub(EXCERPT_CHARS));
    let to = (from + EXCERPT_CHARS).min(total);
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    out.extend(line.chars().skip(from).take(to - from));
    if to < total {
        out.push('…');
    }
    let caret_col = caret - from + 1 + usize::from(from > 0);
    Excerpt { text: out, caret_col: narrow(caret_col), width: narrow(width.min(to.saturating_sub(caret)).max(1)) }
}

/// The largest char boundary at or below `i` (spans from other parsers may split a char).
fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The bytes of a regular file, at most `limit.max_bytes`; the error says what to do.
fn read_regular(path: &Path, limit: Limit) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let what = limit.what;
    let cannot = |e: std::io::Error| format!("cannot read the {what}: {e}; check the path and permissions");
    not_special(&std::fs::metadata(path).map_err(cannot)?, limit)?;
    // O_NONBLOCK: if the path was swapped for a FIFO since the check, opening it still
    // returns at once, and the check below on the opened file refuses it.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(cannot)?;
    not_special(&file.metadata().map_err(cannot)?, limit)?;
    let mut bytes = Vec::new();
    // One byte past the cap tells a file that grew while being read from one that fits.
    file.take(limit.max_bytes + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() as u64 > limit.max_bytes {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

/// Refuses anything but a regular file of at most the limit's size.
fn not_special(meta: &std::fs::Metadata, limit: Limit) -> Result<(), String> {
    match special_kind(&meta.file_type()) {
        None if meta.len() > limit.max_bytes => Err(too_large(limit)),
        None => Ok(()),
        Some(kind) => {
            Err(format!("the {} is {kind}, not a regular file: give the path of the file itself", limit.what))
        }
    }
}

/// What a path is when it is not a regular file ("a FIFO (named pipe)", ...), for the
/// message refusing it; `None` for a regular file. Shared by every reader of input files
/// and of journals: a FIFO would block a read for ever, a device never end.
pub fn special_kind(t: &std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    Some(if t.is_file() {
        return None;
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    })
}

fn too_large(limit: Limit) -> String {
    format!(
        "the {} is larger than {} MiB, more than any real one: is it the right file?",
        limit.what,
        limit.max_bytes / MIB
    )
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// The source line under the message, with the caret.
    pub excerpt: Option<Excerpt>,
    pub help: Option<String>,
}

/// The source line of a diagnostic, or the window of it around the caret when it is long
/// (see [`EXCERPT_CHARS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excerpt {
    pub text: String,
    /// 1-based column of the caret in `text` (the diagnostic's `col` when nothing was cut).
    pub caret_col: u32,
    /// Caret width in characters.
    pub width: u32,
}

impl Diagnostic {
    /// A problem about a whole file (no position known).
    pub fn whole_file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self { file: file.into(), line: 0, col: 0, message: message.into(), excerpt: None, help: None }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    /// Everything from the file (its path, the line, names quoted in the message) is shown
    /// through [`crate::safe_text::for_terminal`]: an input file cannot drive the terminal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::safe_text::for_terminal as safe;
        let file = safe(&self.file.display().to_string());
        let message = safe(&self.message);
        if self.line == 0 {
            writeln!(f, "{file}: error: {message}")?;
        } else {
            writeln!(f, "{file}:{}:{}: error: {message}", self.line, self.col)?;
        }
        if let Some(Excerpt { text: src, caret_col, width }) = &self.excerpt {
            let (caret_col, width) = (*caret_col as usize, *width as usize);
            let gutter = self.line.to_string();
            let pad = " ".repeat(gutter.len());
            writeln!(f, "{pad} |")?;
            writeln!(f, "{gutter} | {}", safe(src))?;
            // Escapes widen the text before the caret: measure it as shown.
            let before: String = src.chars().take(caret_col.saturating_sub(1)).collect();
            let under: String = src.chars().skip(caret_col.saturating_sub(1)).take(width.max(1)).collect();
            let lead = " ".repeat(safe(&before).chars().count());
            let carets = "^".repeat(safe(&under).chars().count().max(1));
            writeln!(f, "{pad} | {lead}{carets}")?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  help: {}", safe(help))?;
        }
        Ok(())
    }
}

/// Every problem found in one or more files, reported together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
    /// `Ok(value)` if nothing was reported, else all problems, sorted by file and position.
    pub fn into_result<T>(mut self, value: T) -> Result<T, Diagnostics> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            self.0.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
            self.0.dedup();
            Err(self)
        }
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Self(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let n = self.0.len();
        write!(f, "{n} problem{} found; nothing was changed on any host", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
        assert!(status.success());
    }

    fn message(r: Result<SourceFile, Diagnostics>) -> String {
        r.expect_err("refused").iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn special_files_are_refused_without_being_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("runbook.toml");
        mkfifo(&fifo);
        // No writer ever opens the FIFO: a plain read would wait forever.
        assert!(message(SourceFile::read_limited(&fifo, Limit::RUNBOOK)).contains("is a FIFO (named pipe)"));
        assert!(message(SourceFile::read(dir.path())).contains("is a directory"));
        assert!(message(SourceFile::read(Path::new("/dev/zero"))).contains("is a device"));
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(message(SourceFile::read(&link)).contains("is a device"));
    }

    #[test]
    fn a_symlink_to_a_file_is_read_and_a_file_over_the_cap_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hosts.toml");
        std::fs::write(&file, "x = 1\n").unwrap();
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(SourceFile::read(&link).unwrap().text, "x = 1\n");
        let small = Limit { what: "runbook", max_bytes: 4 };
        assert!(message(SourceFile::read_limited(&file, small)).contains("larger than"));
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_at_its_position() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tested.toml");
        std::fs::write(&file, b"a = 1\nb = \"\xff\"\n").unwrap();
        let err = SourceFile::read_limited(&file, Limit::BASELINE).unwrap_err();
        let d = err.iter().next().unwrap();
        assert_eq!((d.line, d.col), (2, 6), "{d}");
        assert!(d.message.contains("not UTF-8"), "{d}");
    }

    #[test]
    fn a_long_line_is_cut_around_the_caret() {
        let line = format!("{}BAD{}", "a".repeat(100_000), "b".repeat(100_000));
        let src = SourceFile::new("x.toml", format!("first\n{line}\n"));
        let start = 6 + 100_000;
        let d = src.error(start..start + 3, "here");
        let shown = d.to_string();
        assert!(shown.len() < 600, "{} bytes shown", shown.len());
        assert!(shown.contains("x.toml:2:100001: error: here"), "{shown}");
        let lines: Vec<&str> = shown.lines().collect();
        let column = |line: &str, needle: &str| line.find(needle).map(|i| line[..i].chars().count());
        assert_eq!(column(lines[3], "^"), column(lines[2], "BAD"), "{shown}");
        assert!(lines[3].ends_with("^^^"), "{shown}");
        assert!(lines[2].contains('…'));
    }

    #[test]
    fn file_text_in_a_diagnostic_cannot_drive_the_terminal() {
        let src = SourceFile::new("x.toml", "k\x1b]0;owned\x07 = 1\n");
        let d = src.error(0..1, "unknown key `k\x1b]0;owned\x07`");
        let shown = d.to_string();
        assert!(!shown.contains('\x1b') && !shown.contains('\x07'), "{shown:?}");
        assert!(shown.contains("unknown key `k\\u{1b}]0;owned\\u{7}`"), "{shown}");
        // The caret still sits under what it points at once escapes widen the line.
        let src = SourceFile::new("x.toml", "a\u{202e}b = 1\n");
        let shown = src.error(4..5, "here").to_string();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines[3].find('^'), lines[2].find("b = "), "{shown}");
    }
}
