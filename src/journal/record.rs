//! The on-disk envelope: one JSON object per line.
//!
//! Line 1 is the header record `{"seq":0,"at":..,"header":{..}}`; every following line is
//! `{"seq":N,"at":..,"event":E}` with `N` contiguous from 1. One object per line keeps the
//! file appendable with a single `write` and readable with `grep`/`jq`, and makes a torn
//! write (a crash mid-append) recognisable: only the last line can lack its newline.

use std::path::Path;

use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{JournalError, Result};

/// The format tag in every header; bumped when the envelope changes incompatibly.
pub const FORMAT: &str = "patchdeck-journal/1";

/// What a journal is about, written once as its first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`] for journals this version writes; checked on every read.
    pub format: String,
    /// The window's name, as given in the runbook.
    pub window: String,
    /// The runbook's path as given on the command line.
    pub runbook: String,
    /// Hex SHA-256 of the runbook's bytes: `run --resume` refuses to continue a window
    /// whose runbook changed under it (the engine's check; the journal only records it).
    pub runbook_sha256: String,
    /// Who is running the window (shown by `watch` and `report`).
    pub operators: Vec<String>,
    /// A drill (simulated or live hosts): never mistaken for a real window in reports.
    pub drill: bool,
    /// The patchdeck version that created the journal, for reports and bug reports.
    pub patchdeck_version: String,
}

impl Header {
    /// A header for the current format and patchdeck version.
    pub fn new(
        window: impl Into<String>,
        runbook: impl Into<String>,
        runbook_sha256: impl Into<String>,
        operators: Vec<String>,
        drill: bool,
    ) -> Self {
        Self {
            format: FORMAT.to_string(),
            window: window.into(),
            runbook: runbook.into(),
            runbook_sha256: runbook_sha256.into(),
            operators,
            drill,
            patchdeck_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Hex SHA-256 of a runbook's bytes, for [`Header::runbook_sha256`].
    pub fn sha256_hex(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }
}

/// One journaled event with its sequence number and the time it was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record<E> {
    /// 1-based, contiguous: a gap means a lost record.
    pub seq: u64,
    /// When the record was written (before the action it announces).
    pub at: Timestamp,
    pub event: E,
}

/// The header line as written.
#[derive(Serialize)]
pub(crate) struct HeaderLineRef<'a> {
    pub seq: u64,
    pub at: Timestamp,
    pub header: &'a Header,
}

/// The header line as read.
#[derive(Deserialize)]
pub(crate) struct HeaderLine {
    pub seq: u64,
    pub at: Timestamp,
    pub header: Header,
}

/// A record as written, borrowing the event.
#[derive(Serialize)]
pub(crate) struct RecordRef<'a, E> {
    pub seq: u64,
    pub at: Timestamp,
    pub event: &'a E,
}

/// Serializes one line, newline included, so it can go to disk in a single `write_all`.
/// serde_json escapes control characters inside strings, so the only raw newline is the
/// terminator.
pub(crate) fn encode_line<T: Serialize>(path: &Path, value: &T) -> Result<Vec<u8>> {
    let mut line =
        serde_json::to_vec(value).map_err(|source| JournalError::Serialize { path: path.to_path_buf(), source })?;
    line.push(b'\n');
    Ok(line)
}

/// Why a line could not be decoded.
pub(crate) enum LineError {
    /// Not JSON at all (or cut short): what a torn write leaves.
    NotJson(String),
    /// Valid JSON that is not a record of this type: never a torn write.
    Shape(String),
}

impl LineError {
    pub(crate) fn reason(self) -> String {
        match self {
            LineError::NotJson(m) => format!("not valid JSON: {m}"),
            LineError::Shape(m) => format!("not a journal record: {m}"),
        }
    }
}

fn decode<T: DeserializeOwned>(line: &[u8]) -> Result<T, LineError> {
    serde_json::from_slice(line).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => LineError::Shape(e.to_string()),
        _ => LineError::NotJson(e.to_string()),
    })
}

pub(crate) fn decode_header(line: &[u8]) -> Result<HeaderLine, LineError> {
    decode(line)
}

pub(crate) fn decode_record<E: DeserializeOwned>(line: &[u8]) -> Result<Record<E>, LineError> {
    decode(line)
}

/// Whether `head`, the first bytes of a file, begins with a journal's header line (of any
/// format version): what must never be overwritten by an output file.
pub fn is_journal_start(head: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct AnyHeader {
        format: String,
    }
    #[derive(Deserialize)]
    struct AnyHeaderLine {
        seq: u64,
        header: AnyHeader,
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    serde_json::from_slice::<AnyHeaderLine>(line)
        .is_ok_and(|l| l.seq == 0 && l.header.format.starts_with("patchdeck-journal/"))
}

/// Checks the header line: seq 0 and a format we read.
pub(crate) fn check_header(path: &Path, line: HeaderLine) -> Result<(Header, Timestamp)> {
    if line.seq != 0 {
        return Err(JournalError::Sequence { path: path.to_path_buf(), line: 1, expected: 0, found: line.seq });
    }
    if line.header.format != FORMAT {
        return Err(JournalError::UnsupportedFormat {
            path: path.to_path_buf(),
            found: line.header.format,
            expected: FORMAT,
        });
    }
    Ok((line.header, line.at))
}
