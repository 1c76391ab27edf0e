//! One host's output as the output pane shows it: each command's header, the lines it
//! streamed while it ran, and what its outcome added. Streamed lines are kept in a bounded
//! ring per host (the newest [`MAX_LINES`], at most [`MAX_BYTES`] of text), so a chatty
//! command or fifty of them cannot grow the cockpit's memory without end; the pane says how
//! many older lines it no longer has.

use std::collections::VecDeque;

use super::app::CommandRun;

/// Streamed lines kept per host.
pub const MAX_LINES: usize = 2_000;
/// Bytes of streamed text kept per host (lines are at most
/// [`crate::transport::stream::MAX_LINE_BYTES`] each).
pub const MAX_BYTES: usize = 256 * 1024;

/// What arrived for a command while it ran. Text is already safe for the terminal.
#[derive(Debug, Clone, PartialEq)]
pub enum Streamed {
    Line {
        text: String,
        stderr: bool,
        cut: bool,
    },
    /// This many lines never reached the cockpit (it was behind); the engine went on.
    Dropped(u64),
}

/// A host's streamed lines, each with the index of its command in the host's runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    entries: VecDeque<(usize, Streamed)>,
    bytes: usize,
    evicted: u64,
}

impl Transcript {
    /// Appends an entry for run `run`, dropping the oldest entries beyond the bounds.
    pub fn push(&mut self, run: usize, s: Streamed) {
        self.bytes += size(&s);
        self.entries.push_back((run, s));
        while self.entries.len() > MAX_LINES || (self.bytes > MAX_BYTES && self.entries.len() > 1) {
            if let Some((_, old)) = self.entries.pop_front() {
                self.bytes -= size(&old);
                self.evicted += 1;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of text held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Entries no longer held, to stay within the bounds.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Run `run`'s entries, oldest first.
    pub fn of_run(&self, run: usize) -> impl Iterator<Item = &Streamed> {
        self.entries.iter().filter(move |(r, _)| *r == run).map(|(_, s)| s)
    }
}

fn size(s: &Streamed) -> usize {
    match s {
        Streamed::Line { text, .. } => text.len(),
        Streamed::Dropped(_) => 0,
    }
}

/// One row of the output pane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Row<'a> {
    /// "N older lines not kept", first when the ring has dropped any.
    Evicted(u64),
    /// A command's "step N name: state" line.
    Header(&'a CommandRun),
    /// A command's "host $ command" line.
    Command(&'a CommandRun),
    Streamed(&'a Streamed),
    /// A line its outcome added (output tail, changes, verification).
    Note(&'a str),
}

/// The pane's rows for a host, top to bottom.
pub fn rows<'a>(runs: &'a [CommandRun], transcript: Option<&'a Transcript>) -> Vec<Row<'a>> {
    let mut rows = Vec::with_capacity(transcript.map_or(0, Transcript::len) + runs.len() * 3);
    if let Some(t) = transcript.filter(|t| t.evicted > 0) {
        rows.push(Row::Evicted(t.evicted));
    }
    for (i, r) in runs.iter().enumerate() {
        rows.push(Row::Header(r));
        rows.push(Row::Command(r));
        if let Some(t) = transcript {
            rows.extend(t.of_run(i).map(Row::Streamed));
        }
        rows.extend(r.lines.iter().map(|l| Row::Note(l)));
    }
    rows
}

/// How many rows [`rows`] gives, without building them.
pub fn row_count(runs: &[CommandRun], transcript: Option<&Transcript>) -> usize {
    let streamed = transcript.map_or(0, |t| t.len() + usize::from(t.evicted > 0));
    streamed + runs.iter().map(|r| 2 + r.lines.len()).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: impl Into<String>) -> Streamed {
        Streamed::Line { text: text.into(), stderr: false, cut: false }
    }

    fn texts(t: &Transcript, run: usize) -> Vec<String> {
        t.of_run(run)
            .map(|s| match s {
                Streamed::Line { text, .. } => text.clone(),
                Streamed::Dropped(n) => format!("({n} dropped)"),
            })
            .collect()
    }

    #[test]
    fn keeps_the_newest_lines_up_to_the_line_bound() {
        let mut t = Transcript::default();
        for i in 0..MAX_LINES + 500 {
            t.push(0, line(format!("line {i}")));
        }
        assert_eq!(t.len(), MAX_LINES);
        assert_eq!(t.evicted(), 500);
        let kept = texts(&t, 0);
        assert_eq!(kept.first().unwrap(), "line 500");
        assert_eq!(kept.last().unwrap(), &format!("line {}", MAX_LINES + 499));
    }

    #[test]
    fn keeps_the_newest_lines_up_to_the_byte_bound() {
        let mut t = Transcript::default();
        let long = "x".repeat(500);
        for _ in 0..2 * MAX_BYTES / 500 {
            t.push(0, line(long.clone()));
            assert!(t.bytes() <= MAX_BYTES);
        }
        assert_eq!(t.len(), MAX_BYTES / 500);
        assert_eq!(t.evicted() as usize, 2 * MAX_BYTES / 500 - MAX_BYTES / 500);
        // Byte accounting follows evictions exactly.
        let held: usize = t.of_run(0).map(size).sum();
        assert_eq!(held, t.bytes());
    }

    #[test]
    fn entries_stay_with_their_command() {
        let mut t = Transcript::default();
        t.push(0, line("a"));
        t.push(1, line("b"));
        t.push(1, Streamed::Dropped(7));
        t.push(1, line("c"));
        assert_eq!(texts(&t, 0), ["a"]);
        assert_eq!(texts(&t, 1), ["b", "(7 dropped)", "c"]);
        assert!(texts(&t, 2).is_empty());
    }

    #[test]
    fn rows_and_row_count_agree() {
        let run = |step| CommandRun {
            rollback: false,
            step,
            name: "s".into(),
            command: "c".into(),
            started: jiff::Timestamp::UNIX_EPOCH,
            finished: None,
            lines: vec!["note".into()],
            interrupted: false,
        };
        let runs = vec![run(0), run(1)];
        let mut t = Transcript::default();
        assert_eq!(rows(&runs, None).len(), row_count(&runs, None));
        for i in 0..MAX_LINES + 3 {
            t.push(i % 2, line("x"));
        }
        let r = rows(&runs, Some(&t));
        assert_eq!(r.len(), row_count(&runs, Some(&t)));
        assert_eq!(r[0], Row::Evicted(3));
        assert!(matches!(r[1], Row::Header(_)) && matches!(r[2], Row::Command(_)));
        assert_eq!(r.iter().filter(|r| matches!(r, Row::Note(_))).count(), 2);
    }
}
