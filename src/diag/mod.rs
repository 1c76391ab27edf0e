//! Positioned diagnostics shared by every input file (runbook, inventory, baseline, theme).
//!
//! A tired operator must see *where* a file is wrong: `file:line:col`, the line itself and a
//! caret under the offending text. All problems of a file are collected and shown at once.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A file's text kept beside its path so byte spans can be turned into line/column.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self { path: path.into(), text: text.into() }
    }

    /// Reads a file; the error names the path and says what to do.
    pub fn read(path: &Path) -> eyre::Result<Self> {
        use eyre::WrapErr;
        let text = std::fs::read_to_string(path)
            .wrap_err_with(|| format!("cannot read {}: check the path and permissions", path.display()))?;
        Ok(Self::new(path, text))
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// A diagnostic pointing at `span` (byte range into the text).
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let start = span.start.min(self.text.len());
        let (line, col) = self.line_col(start);
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[line_start..].find('\n').map_or(self.text.len(), |i| line_start + i);
        let source_line = self.text[line_start..line_end].trim_end_matches('\r').to_string();
        let end = span.end.clamp(start, line_end.max(start));
        let width = self.text[start..end].chars().count().max(1);
        Diagnostic {
            file: self.path.clone(),
            line,
            col,
            message: message.into(),
            source_line: Some(source_line),
            width,
            help: None,
        }
    }
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub source_line: Option<String>,
    /// Caret width in characters.
    pub width: usize,
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem about a whole file (no position known).
    pub fn whole_file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self { file: file.into(), line: 0, col: 0, message: message.into(), source_line: None, width: 0, help: None }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            writeln!(f, "{}: error: {}", self.file.display(), self.message)?;
        } else {
            writeln!(f, "{}:{}:{}: error: {}", self.file.display(), self.line, self.col, self.message)?;
        }
        if let Some(src) = &self.source_line {
            let gutter = self.line.to_string();
            let pad = " ".repeat(gutter.len());
            writeln!(f, "{pad} |")?;
            writeln!(f, "{gutter} | {}", crate::safe_text::for_terminal(src))?;
            let lead: String =
                src.chars().take(self.col.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            writeln!(f, "{pad} | {lead}{}", "^".repeat(self.width.max(1)))?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  help: {help}")?;
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
