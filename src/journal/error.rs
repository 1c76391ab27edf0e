//! The journal's typed errors.
//!
//! Every error names the journal file. A write error is never swallowed: the window engine
//! must stop when its journal cannot be written, because an action that is not journaled
//! first cannot be resumed, rolled back or reported.

use std::io;
use std::path::PathBuf;

/// What can go wrong with a journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An I/O operation on the journal (or its directory, or a torn-tail file) failed.
    // The cause is in the message, not the error chain: a chain would print it twice.
    #[error("cannot {op} journal {}: {cause}", path.display())]
    Io {
        path: PathBuf,
        /// What we were doing ("create", "write to", "fsync", ...), for the message.
        op: &'static str,
        cause: io::Error,
    },

    /// The path names something that is not a regular file (a FIFO would hang the read).
    #[error("journal {} is {kind}, not a regular file: give the path of the journal itself", path.display())]
    NotAFile { path: PathBuf, kind: &'static str },

    /// `create` found a journal already there: never overwrite a window's history.
    #[error(
        "journal {} already exists: this window was started before; resume it with `patchdeck run --resume` \
         or choose another window name",
        path.display()
    )]
    Exists { path: PathBuf },

    /// Another process (or another handle in this one) holds the journal's exclusive lock.
    #[error(
        "another patchdeck is running this window (journal {} is locked); to follow it, use `patchdeck watch {}`",
        path.display(),
        path.display()
    )]
    Locked { path: PathBuf },

    /// A complete line that cannot be read: never skipped, since it may announce an action.
    #[error("journal {}:{line}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        /// 1-based line number (the header is line 1).
        line: u64,
        reason: String,
    },

    /// Sequence numbers must be contiguous from 1: a gap or disorder means lost or
    /// reordered records.
    #[error("journal {}:{line}: expected record seq {expected}, found seq {found} (records lost or out of order)", path.display())]
    Sequence { path: PathBuf, line: u64, expected: u64, found: u64 },

    /// The file has no complete header line (empty, or cut while it was being created).
    #[error(
        "journal {} has no complete header line: it was interrupted while being created, so the window \
         never started; move it away to start the window again",
        path.display()
    )]
    NoHeader { path: PathBuf },

    /// The header names a format this version of patchdeck does not read.
    #[error("journal {} has format {found:?}, this patchdeck reads {expected:?}", path.display())]
    UnsupportedFormat { path: PathBuf, found: String, expected: &'static str },

    /// The event could not be turned into JSON (a bug in the event type, e.g. a map with
    /// non-string keys). Nothing was written.
    #[error("cannot serialize a record for journal {}: {source}", path.display())]
    Serialize {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// An earlier write failed, so the file's end is unknown: nothing more is appended.
    #[error(
        "an earlier write to journal {} failed; nothing more is written to it and the window must stop",
        path.display()
    )]
    Poisoned { path: PathBuf },

    /// The journal file at `path` is no longer the file this writer opened and filled:
    /// appending to the open file would record to something nobody will read, and appending
    /// at the path would write into something else. Nothing is written; the journal refuses
    /// every later append too.
    #[error(
        "journal {} {change}: nothing more is written to it and the window stops here, so that no action \
         goes unrecorded; find out what changed the file and put the journal back before resuming \
         (`patchdeck run --resume`)",
        path.display()
    )]
    Changed { path: PathBuf, change: FileChange },

    /// The appender's writer thread is gone (it panicked): the append's fate is unknown.
    #[error("the writer of journal {} stopped unexpectedly; the window must stop", path.display())]
    WriterGone { path: PathBuf },

    /// The followed journal became shorter than what was already read: it was truncated
    /// or replaced by something other than `open_append`'s torn-tail repair.
    #[error("journal {} shrank to {len} bytes after {read} bytes were read: it was truncated or replaced", path.display())]
    Shrank { path: PathBuf, len: u64, read: u64 },
}

/// How a journal file changed under its writer (checked before every append).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// No file is at the journal's path any more (moved away or deleted).
    Moved,
    /// The path names another file than the one the writer opened (replaced, or moved away
    /// and something else put in its place).
    Replaced,
    /// The file is shorter than what the writer had written.
    Truncated { len: u64, expected: u64 },
    /// The file is longer than what the writer had written: something else wrote to it.
    Grew { len: u64, expected: u64 },
}

impl std::fmt::Display for FileChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileChange::Moved => write!(f, "was moved or deleted (no file is at that path any more)"),
            FileChange::Replaced => {
                write!(f, "was replaced (the path now names another file than the one this window was writing)")
            }
            FileChange::Truncated { len, expected } => {
                write!(f, "was truncated to {len} bytes (this window had written {expected})")
            }
            FileChange::Grew { len, expected } => {
                write!(f, "grew to {len} bytes though this window wrote {expected} (something else wrote to it)")
            }
        }
    }
}

/// Results of journal operations.
pub type Result<T, E = JournalError> = std::result::Result<T, E>;

impl JournalError {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        Self::Io { path: path.into(), op, cause: source }
    }
}
