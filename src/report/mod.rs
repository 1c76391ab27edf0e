//! `patchdeck report`: the change record of a window, in Markdown, for whoever reviews or
//! audits it the morning after. A pure fold over the journal, like everything else: the
//! report says what the journal says, no more (it never contacts a host).
//!
//! Sections, in order: summary table (with a DRILL banner for drills), timeline, per-host
//! package changes, divergences and decisions, rollbacks, health checks, durations, and a
//! post-incident skeleton prefilled with facts. All host-derived and operator-typed text
//! is made safe and escaped by [`text`].

mod drift;
mod model;
mod sections;
pub mod text;

use std::path::Path;

use jiff::Timestamp;

use crate::engine::event::Event;
use crate::journal::{Header, Record};

use model::Model;

/// Renders the change record of a window from its journal header, creation time and
/// records (in seq order).
pub fn markdown(header: &Header, created_at: Timestamp, records: &[Record<Event>]) -> String {
    let m = Model::build(header, created_at, records);
    let mut out = String::new();
    sections::title_and_summary(&mut out, &m);
    sections::timeline(&mut out, &m);
    sections::package_changes(&mut out, &m);
    drift::section(&mut out, &m);
    sections::decisions(&mut out, &m);
    sections::rollbacks(&mut out, &m);
    sections::health(&mut out, &m);
    sections::durations(&mut out, &m);
    sections::drill_scorecard(&mut out, &m);
    sections::post_incident(&mut out, &m);
    out
}

/// Replays the journal at `path` and renders its change record. A torn last line (a crash
/// mid-append: the action it announced never started) is noted at the end of the report.
pub fn from_journal(path: &Path) -> eyre::Result<String> {
    let replay = crate::journal::replay::<Event>(path)?;
    let mut out = markdown(&replay.header, replay.created_at, &replay.records);
    if let Some(tail) = &replay.torn_tail {
        out.push_str(&format!(
            "\n---\n\n**Note:** the journal ends with a torn line ({} bytes after seq {}), left by a crash \
             mid-write. It was never acknowledged, so the action it would have announced never started; \
             it is not part of this record.\n",
            tail.len(),
            replay.records.last().map_or(0, |r| r.seq),
        ));
    }
    Ok(out)
}
