//! The write-ahead journal of a maintenance window: its source of truth.
//!
//! Every action is appended and fsynced *before* it happens, so a crash, `kill -9`, a
//! dropped ssh link or a closed terminal loses nothing: the journal always says at least
//! what was done. The TUI, `watch`, `run --resume` and `report` are projections of it.
//!
//! Format: JSON lines. Line 1 is the header (`{"seq":0,"at":..,"header":{..}}`), then one
//! record per line (`{"seq":N,"at":..,"event":..}`, `N` contiguous from 1). The module is
//! generic over the event type; the engine defines it.
//!
//! One concern per file:
//! - `record`: the envelope ([`Header`], [`Record`]) and line encoding.
//! - `writer`: [`Journal`], the single locked writer (create, resume, append + fsync).
//! - `sync`: [`SyncPoint`], where a write becomes durable ([`DataSync`]: `fdatasync`).
//! - `appender`: [`Appender`], the writer on its own thread, for async code: a slow disk
//!   never blocks the task that awaits an append.
//! - `replay`: [`replay`], reading it all back, tolerating only a torn last line.
//! - `follow`: [`Follower`], reading records as another process appends them.
//! - `error`: [`JournalError`].

mod appender;
mod error;
mod follow;
mod record;
mod replay;
mod sync;
mod writer;

use std::path::{Path, PathBuf};

pub use appender::Appender;
pub use error::{FileChange, JournalError, Result};
pub use follow::{DEFAULT_INTERVAL, Follower};
pub use record::{FORMAT, Header, Record, is_journal_start};
pub use replay::{Replay, replay};
pub use sync::{DataSync, SyncPoint};
pub use writer::Journal;

/// The longest window-name part of a journal file name, in bytes (file names are limited
/// to 255 bytes; the suffix and a `.torn-<seq>` aside must fit too).
const MAX_NAME: usize = 120;

/// Where a window's journal lives by default: `<dir>/<window>.journal.jsonl`.
///
/// The window name is made a safe, single file name: ASCII letters, digits, `-`, `_` and
/// `.` are kept, everything else (path separators, spaces, control characters, non-ASCII)
/// becomes `_`; leading dots become `_` (no hidden files, no `..`); an empty name becomes
/// `window`. Distinct names can map to the same file (`a b` and `a_b`); `create` then
/// fails with [`JournalError::Exists`] rather than mixing two windows.
pub fn default_path(dir: &Path, window_name: &str) -> PathBuf {
    let mut name: String = window_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    let dots = name.len() - name.trim_start_matches('.').len();
    name.replace_range(..dots, &"_".repeat(dots));
    name.truncate(MAX_NAME); // all ASCII now: any byte index is a char boundary
    if name.is_empty() {
        name.push_str("window");
    }
    dir.join(format!("{name}.journal.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_sanitizes_the_window_name() {
        let dir = Path::new("/var/lib/patchdeck");
        assert_eq!(default_path(dir, "2024-06 kernel"), dir.join("2024-06_kernel.journal.jsonl"));
        assert_eq!(default_path(dir, "../../etc/passwd"), dir.join("___.._etc_passwd.journal.jsonl"));
        assert_eq!(default_path(dir, ".."), dir.join("__.journal.jsonl"));
        assert_eq!(default_path(dir, ""), dir.join("window.journal.jsonl"));
        assert_eq!(default_path(dir, "fenêtre\n\u{1b}[31m"), dir.join("fen_tre___31m.journal.jsonl"));
        let long = default_path(dir, &"x".repeat(1000));
        assert_eq!(long.file_name().unwrap().len(), MAX_NAME + ".journal.jsonl".len());
    }
}
