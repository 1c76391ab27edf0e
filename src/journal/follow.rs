//! Following a journal another process is writing: what `patchdeck watch` shows.
//!
//! The follower polls the file's length (and modification time) every `interval` (200 ms
//! by default): one `fstat` when nothing changed, so an idle watch costs nothing. When the
//! file grew, it reads from the end of the last complete line and hands out only complete
//! lines; a partial line (the writer is mid-`write`, or crashed) stays unread until its
//! newline arrives. If the writer crashed and `run --resume` cut the torn tail off, the
//! follower is still positioned at the end of the last complete line, which is exactly
//! where the resumed writer continues.
//!
//! It takes no lock and never writes.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use serde::de::DeserializeOwned;

use super::error::{JournalError, Result};
use super::record::{Header, LineError, Record, check_header, decode_header, decode_record};
use super::replay::lines;

/// The default polling interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(200);

/// Reads a journal's records as they are appended, in order, complete lines only.
#[derive(Debug)]
pub struct Follower<E> {
    path: PathBuf,
    file: File,
    header: Header,
    created_at: Timestamp,
    /// Bytes consumed: the end of the last complete line handed out (or of the header).
    offset: u64,
    /// Lines consumed (the header is line 1).
    line: u64,
    next_seq: u64,
    /// (length, mtime) at the last read, to skip re-reading an unchanged pending tail.
    seen: Option<(u64, Option<SystemTime>)>,
    interval: Duration,
    _event: PhantomData<fn() -> E>,
}

impl<E: DeserializeOwned> Follower<E> {
    /// Opens the journal and reads its header. The first [`poll`](Follower::poll) or
    /// [`next_batch`](Follower::next_batch) returns every record already there.
    /// Fails with [`JournalError::NoHeader`] if the header is not complete yet.
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = super::replay::open_regular(path, std::fs::OpenOptions::new().read(true))?;
        // The header is one line; 64 KiB bounds it generously without reading a whole file.
        let mut head = Vec::new();
        (&mut file).take(64 * 1024).read_to_end(&mut head).map_err(|e| JournalError::io(path, "read", e))?;
        let Some(end) = head.iter().position(|&b| b == b'\n') else {
            return Err(JournalError::NoHeader { path: path.to_path_buf() });
        };
        let (header, created_at) = match decode_header(&head[..end]) {
            Ok(h) => check_header(path, h)?,
            Err(e) => return Err(JournalError::Corrupt { path: path.to_path_buf(), line: 1, reason: e.reason() }),
        };
        Ok(Follower {
            path: path.to_path_buf(),
            file,
            header,
            created_at,
            offset: end as u64 + 1,
            line: 1,
            next_seq: 1,
            seen: None,
            interval: DEFAULT_INTERVAL,
            _event: PhantomData,
        })
    }

    /// Sets how often [`next_batch`](Follower::next_batch) looks for growth.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// The seq of the next record this follower will hand out.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Returns the complete records appended since the last call (possibly none), without
    /// waiting. A corrupt complete line, a record of the wrong shape or a seq gap is an
    /// error naming the line, as in [`replay`](super::replay).
    pub fn poll(&mut self) -> Result<Vec<Record<E>>> {
        let meta = self.file.metadata().map_err(|e| JournalError::io(&self.path, "stat", e))?;
        let len = meta.len();
        if len < self.offset {
            return Err(JournalError::Shrank { path: self.path.clone(), len, read: self.offset });
        }
        let stamp = (len, meta.modified().ok());
        if len == self.offset || self.seen == Some(stamp) {
            return Ok(Vec::new());
        }
        let mut buf = Vec::with_capacity((len - self.offset) as usize);
        self.file.seek(SeekFrom::Start(self.offset)).map_err(|e| JournalError::io(&self.path, "seek in", e))?;
        (&mut self.file)
            .take(len - self.offset)
            .read_to_end(&mut buf)
            .map_err(|e| JournalError::io(&self.path, "read", e))?;

        // Committed only once the whole batch decoded: an error consumes nothing.
        let (mut offset, mut line_no, mut next_seq) = (self.offset, self.line, self.next_seq);
        let mut records = Vec::new();
        for line in lines(&buf, line_no + 1) {
            if !line.has_newline {
                break; // still being written: wait for its newline
            }
            let record = match decode_record::<E>(line.text) {
                Ok(r) => r,
                // A complete but non-JSON last line may be a crash's garbage that a resume
                // will cut off (replay treats it as torn): wait and see what follows.
                Err(LineError::NotJson(_)) if line.next >= buf.len() => break,
                Err(e) => {
                    return Err(JournalError::Corrupt {
                        path: self.path.clone(),
                        line: line.number,
                        reason: e.reason(),
                    });
                }
            };
            if record.seq != next_seq {
                return Err(JournalError::Sequence {
                    path: self.path.clone(),
                    line: line.number,
                    expected: next_seq,
                    found: record.seq,
                });
            }
            next_seq += 1;
            line_no = line.number;
            offset += (line.next - line.start) as u64;
            records.push(record);
        }
        (self.offset, self.line, self.next_seq) = (offset, line_no, next_seq);
        self.seen = Some(stamp);
        Ok(records)
    }

    /// Waits until at least one new complete record is there and returns all of them.
    /// Cancel-safe: dropping the future loses nothing (records are only consumed inside
    /// a synchronous [`poll`](Follower::poll)).
    pub async fn next_batch(&mut self) -> Result<Vec<Record<E>>> {
        loop {
            let batch = self.poll()?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}
