//! The single writer of a window's journal: exclusive lock, write-ahead appends.
//!
//! Write-ahead: the engine appends the record announcing an action, and `append` returns
//! only once the line is fsynced; only then does the action start. A crash at any point
//! therefore leaves a journal that says at least everything that happened (possibly one
//! announced action that never started, which resume treats as "unknown, check the host").
//!
//! One writer per window: the journal file itself carries an exclusive `flock`-style lock
//! (`File::try_lock`) for as long as the [`Journal`] lives. The kernel drops it when the
//! process dies, even on `kill -9`, so a crashed run never blocks its own resume. Readers
//! (`watch`, `report`, [`replay`](super::replay)) never lock.
//!
//! The file must stay what the writer opened: before every append it checks that the path
//! still names the open file (device and inode) and that the file is exactly as long as what
//! was written to it. A journal moved, replaced, truncated or written to by something else
//! fails the append ([`JournalError::Changed`]) rather than record where nobody will look.
//!
//! Journal files (and torn tails saved aside) are created mode 0600: they hold the
//! window's package states and output.

use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{FileChange, JournalError, Result};
use super::record::{Header, HeaderLineRef, RecordRef, encode_line};
use super::replay::{Replay, parse};
use super::sync::{DataSync, SyncPoint};

/// The mode of files the journal creates: the operator's alone.
const PRIVATE: u32 = 0o600;

/// An open, exclusively locked journal positioned for appending events of type `E`.
pub struct Journal<E> {
    path: PathBuf,
    file: File,
    next_seq: u64,
    /// Length of the file up to the last acknowledged record.
    len: u64,
    poisoned: bool,
    sync: Box<dyn SyncPoint>,
    _event: PhantomData<fn(&E)>,
}

impl<E> std::fmt::Debug for Journal<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("next_seq", &self.next_seq)
            .field("len", &self.len)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl<E: Serialize> Journal<E> {
    /// Creates a new journal and writes its header (fsynced, as is the directory entry, so
    /// the journal's existence survives a crash). Fails with [`JournalError::Exists`] if the
    /// file is already there (or [`JournalError::Locked`] if a running patchdeck holds it):
    /// a window's history is never overwritten.
    pub fn create(path: &Path, header: &Header) -> Result<Self> {
        let file =
            OpenOptions::new().read(true).append(true).create_new(true).mode(PRIVATE).open(path).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    existing_journal_error(path)
                } else {
                    JournalError::io(path, "create", e)
                }
            })?;
        lock(&file, path)?;
        let mut journal = Journal::new(path, file, 1, 0);
        let line = encode_line(path, &HeaderLineRef { seq: 0, at: Timestamp::now(), header })?;
        if let Err(e) = journal.write_synced(&line) {
            // The window never started: leave no half-made journal behind to trip `create`
            // (unless the path names another file by now: that one is not ours to remove).
            drop(journal);
            if !matches!(e, JournalError::Changed { .. }) {
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
        sync_parent_dir(path)?;
        Ok(journal)
    }

    /// Appends one event and returns its seq once it is on disk (`write_all` then
    /// `fdatasync`). Call it *before* the action the event announces. An error means the
    /// record may not be durable: the window must stop. After an I/O error the journal is
    /// poisoned and refuses further appends, since its end is no longer known.
    pub fn append(&mut self, event: &E) -> Result<u64> {
        if self.poisoned {
            return Err(JournalError::Poisoned { path: self.path.clone() });
        }
        let seq = self.next_seq;
        let line = encode_line(&self.path, &RecordRef { seq, at: Timestamp::now(), event })?;
        self.write_synced(&line)?;
        self.next_seq += 1;
        Ok(seq)
    }
}

impl<E: Serialize + DeserializeOwned> Journal<E> {
    /// Opens an existing journal to resume its window: locks it, replays it, and positions
    /// for appending. A torn final line (a crash mid-append) is first saved verbatim to
    /// `<path>.torn-<seq>` (fsynced) and only then cut off, so nothing is lost silently;
    /// the returned [`Replay`] says what was torn and where it went.
    pub fn open_append(path: &Path) -> Result<(Self, Replay<E>)> {
        let mut file = super::replay::open_regular(path, OpenOptions::new().read(true).append(true))?;
        lock(&file, path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| JournalError::io(path, "read", e))?;
        let parsed = parse::<E>(path, &bytes)?;
        let mut replay = parsed.replay;
        if replay.torn_tail.is_some() {
            let saved = save_aside(path, replay.next_seq(), &parsed.torn_bytes)?;
            file.set_len(parsed.valid_len).map_err(|e| JournalError::io(path, "cut the torn tail off", e))?;
            file.sync_all().map_err(|e| JournalError::io(path, "fsync", e))?;
            replay.torn_saved_to = Some(saved);
        }
        Ok((Journal::new(path, file, replay.next_seq(), parsed.valid_len), replay))
    }
}

impl<E> Journal<E> {
    fn new(path: &Path, file: File, next_seq: u64, len: u64) -> Self {
        Journal {
            path: path.to_path_buf(),
            file,
            next_seq,
            len,
            poisoned: false,
            sync: Box::new(DataSync),
            _event: PhantomData,
        }
    }

    /// Routes every later sync through `sync` instead of [`DataSync`] (tests count syncs
    /// or slow them down this way; a wrapper should still call `DataSync`).
    pub fn with_sync_point(mut self, sync: impl SyncPoint + 'static) -> Self {
        self.sync = Box::new(sync);
        self
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The seq the next [`append`](Journal::append) will return.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn write_synced(&mut self, line: &[u8]) -> Result<()> {
        if let Err(e) = self.check_unchanged() {
            // Not ours any more: never write to it, not even to take anything back.
            self.poisoned = true;
            return Err(e);
        }
        // O_APPEND: the line goes to the end even after a torn tail was cut off.
        let result = self
            .file
            .write_all(line)
            .map_err(|e| JournalError::io(&self.path, "write to", e))
            .and_then(|()| self.sync.sync(&self.file).map_err(|e| JournalError::io(&self.path, "fsync", e)));
        match result {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.poisoned = true;
                // Best effort: take back a partial line so the file ends cleanly. If this
                // fails too, the next open_append sees a torn tail and saves it aside.
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }
}

impl<E> Journal<E> {
    /// Checks that the path still names the open file and that the file ends where the
    /// last acknowledged write ended.
    fn check_unchanged(&self) -> Result<()> {
        let changed = |change| Err(JournalError::Changed { path: self.path.clone(), change });
        let open = self.file.metadata().map_err(|e| JournalError::io(&self.path, "stat", e))?;
        let named = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return changed(FileChange::Moved),
            Err(e) => return Err(JournalError::io(&self.path, "stat", e)),
        };
        if (named.dev(), named.ino()) != (open.dev(), open.ino()) {
            return changed(FileChange::Replaced);
        }
        let (len, expected) = (open.len(), self.len);
        match len.cmp(&expected) {
            std::cmp::Ordering::Less => changed(FileChange::Truncated { len, expected }),
            std::cmp::Ordering::Greater => changed(FileChange::Grew { len, expected }),
            std::cmp::Ordering::Equal => Ok(()),
        }
    }
}

/// Why `create` found the file already there: if its lock is held, a window is running
/// from it right now (say so, and how to follow it); otherwise it is an earlier window.
fn existing_journal_error(path: &Path) -> JournalError {
    match File::open(path).map_err(|e| JournalError::io(path, "open", e)).and_then(|f| lock(&f, path)) {
        Err(locked @ JournalError::Locked { .. }) => locked,
        _ => JournalError::Exists { path: path.to_path_buf() },
    }
}

/// Takes the exclusive lock without waiting: a second writer must fail loudly, not queue.
fn lock(file: &File, path: &Path) -> Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(JournalError::Locked { path: path.to_path_buf() }),
        Err(TryLockError::Error(e)) => Err(JournalError::io(path, "lock", e)),
    }
}

/// Writes a torn tail to `<path>.torn-<seq>` (or `.torn-<seq>.<n>` if a previous resume
/// already saved one there), fsynced along with its directory entry.
fn save_aside(path: &Path, seq: u64, bytes: &[u8]) -> Result<PathBuf> {
    for attempt in 0..1000u32 {
        let mut name = OsString::from(path.as_os_str());
        name.push(format!(".torn-{seq}"));
        if attempt > 0 {
            name.push(format!(".{attempt}"));
        }
        let aside = PathBuf::from(name);
        let mut file = match OpenOptions::new().write(true).create_new(true).mode(PRIVATE).open(&aside) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(JournalError::io(&aside, "save the torn tail of", e)),
        };
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| JournalError::io(&aside, "save the torn tail of", e))?;
        sync_parent_dir(&aside)?;
        return Ok(aside);
    }
    Err(JournalError::io(path, "save the torn tail of", io::Error::other("too many .torn files already")))
}

/// fsyncs the directory holding `path`, so a newly created file's name is durable.
fn sync_parent_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| JournalError::io(path, "fsync the directory of", e))
}
