//! Reading a whole journal back: what `run --resume`, `report` and a fresh `watch` see.
//!
//! Only the last line may be damaged, and only in the way a crash mid-append damages it:
//! cut short (no trailing newline) or not JSON at all. That tail was never acknowledged by
//! [`Journal::append`](super::Journal::append), so the action it announced never started;
//! it is reported in [`Replay::torn_tail`] and never mistaken for a record. Anything else
//! wrong (a bad line in the middle, a record of the wrong shape, a gap or disorder in the
//! sequence numbers) is an error naming the file and line: silently skipping a line could
//! hide an action that did happen.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::de::DeserializeOwned;

use super::error::{JournalError, Result};
use super::record::{Header, LineError, Record, check_header, decode_header, decode_record};

/// A journal read back in full.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay<E> {
    pub header: Header,
    /// When the journal was created (the header record's time).
    pub created_at: Timestamp,
    /// Every complete record, seqs contiguous from 1.
    pub records: Vec<Record<E>>,
    /// The text of a torn final line (lossy UTF-8, exactly as found), if a crash left one.
    pub torn_tail: Option<String>,
    /// Where [`Journal::open_append`](super::Journal::open_append) saved the torn tail
    /// before cutting it off; always `None` from [`replay`].
    pub torn_saved_to: Option<PathBuf>,
}

impl<E> Replay<E> {
    /// The seq the next appended record gets.
    pub fn next_seq(&self) -> u64 {
        self.records.last().map_or(1, |r| r.seq + 1)
    }
}

/// A parsed journal plus where its intact part ends.
pub(crate) struct Parsed<E> {
    pub replay: Replay<E>,
    /// Bytes up to and including the last intact line's newline.
    pub valid_len: u64,
    /// The torn tail's raw bytes (saved aside verbatim, not the lossy text).
    pub torn_bytes: Vec<u8>,
}

/// Reads every record of the journal at `path`. Takes no lock: safe while another
/// process appends (a line being written shows up as a torn tail).
pub fn replay<E: DeserializeOwned>(path: &Path) -> Result<Replay<E>> {
    let bytes = read_regular(path)?;
    Ok(parse(path, &bytes)?.replay)
}

/// The journal's bytes, refusing anything but a regular file (a FIFO would block the read
/// for ever, a device never end).
fn read_regular(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut file = open_regular(path, std::fs::OpenOptions::new().read(true))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| JournalError::io(path, "read", e))?;
    Ok(bytes)
}

/// Opens the journal with `options` only if it is a regular file: checked before opening,
/// opened non-blocking (a path swapped for a FIFO after the check still cannot hang the
/// open), and checked again on the opened file.
pub(crate) fn open_regular(path: &Path, options: &mut std::fs::OpenOptions) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let special = |meta: &std::fs::Metadata| match crate::diag::special_kind(&meta.file_type()) {
        None => Ok(()),
        Some(kind) => Err(JournalError::NotAFile { path: path.to_path_buf(), kind }),
    };
    special(&std::fs::metadata(path).map_err(|e| JournalError::io(path, "open", e))?)?;
    let file = options
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| JournalError::io(path, "open", e))?;
    special(&file.metadata().map_err(|e| JournalError::io(path, "open", e))?)?;
    Ok(file)
}

/// One line of the file: its bytes without the newline, and where it sits.
pub(crate) struct Line<'a> {
    pub text: &'a [u8],
    /// 1-based.
    pub number: u64,
    pub start: usize,
    /// Offset just past the line (past its newline when it has one).
    pub next: usize,
    pub has_newline: bool,
}

pub(crate) fn lines(bytes: &[u8], first_number: u64) -> impl Iterator<Item = Line<'_>> {
    let mut pos = 0;
    let mut number = first_number;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let start = pos;
        let (end, next) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(i) => (start + i, start + i + 1),
            None => (bytes.len(), bytes.len()),
        };
        pos = next;
        let line = Line { text: &bytes[start..end], number, start, next, has_newline: next > end };
        number += 1;
        Some(line)
    })
}

pub(crate) fn parse<E: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<Parsed<E>> {
    let corrupt = |line: u64, reason: String| JournalError::Corrupt { path: path.to_path_buf(), line, reason };
    let mut header = None;
    let mut records: Vec<Record<E>> = Vec::new();
    let mut valid_len = 0;
    let mut torn: Option<&[u8]> = None;

    for line in lines(bytes, 1) {
        let is_last = line.next >= bytes.len();
        // A line without its newline was never acknowledged: torn, whatever it contains.
        if is_last && !line.has_newline {
            torn = Some(&bytes[line.start..]);
            break;
        }
        if line.number == 1 {
            match decode_header(line.text) {
                Ok(h) => header = Some(check_header(path, h)?),
                Err(LineError::NotJson(_)) if is_last => {
                    return Err(JournalError::NoHeader { path: path.to_path_buf() });
                }
                Err(e) => return Err(corrupt(1, e.reason())),
            }
        } else {
            match decode_record::<E>(line.text) {
                Ok(record) => {
                    let expected = records.last().map_or(1, |r| r.seq + 1);
                    if record.seq != expected {
                        return Err(JournalError::Sequence {
                            path: path.to_path_buf(),
                            line: line.number,
                            expected,
                            found: record.seq,
                        });
                    }
                    records.push(record);
                }
                // Garbage at the very end (a crash can leave a block of zeros): torn.
                Err(LineError::NotJson(_)) if is_last => {
                    torn = Some(&bytes[line.start..]);
                    break;
                }
                Err(e) => return Err(corrupt(line.number, e.reason())),
            }
        }
        valid_len = line.next;
    }

    let Some((header, created_at)) = header else {
        return Err(JournalError::NoHeader { path: path.to_path_buf() });
    };
    let torn_bytes = torn.map(<[u8]>::to_vec).unwrap_or_default();
    Ok(Parsed {
        replay: Replay {
            header,
            created_at,
            records,
            torn_tail: torn.map(|t| String::from_utf8_lossy(t).into_owned()),
            torn_saved_to: None,
        },
        valid_len: valid_len as u64,
        torn_bytes,
    })
}
