//! Output as it arrives: a command's stdout and stderr cut into lines for a [`Sink`] while
//! the command runs, and the newest part of each kept for the [`Output`] ([`Tail`]): a step
//! printing a gigabyte costs a bounded amount of memory, and the byte count of what was not
//! kept is exact. The lines are a transient view for whoever watches (the cockpit).

use tokio::io::AsyncReadExt;

use super::Output;

/// A line longer than this many bytes is cut here; the rest up to its newline is dropped
/// from the stream (not from [`Output`]). A terminal line is far shorter, and a bound keeps
/// a newline-free flood (a progress bar with `\r`, a binary) from growing a buffer forever.
pub const MAX_LINE_BYTES: usize = 512;

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of a running command's output, without its newline. Raw host text: whoever
/// shows it must make it safe for a terminal first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: Stream,
    pub text: String,
    /// The line was longer than [`MAX_LINE_BYTES`] and was cut.
    pub cut: bool,
}

/// Receives lines as a command produces them. Called from the transport's task, so it must
/// be quick and must not block (the cockpit's feed drops lines rather than wait).
pub trait Sink: Send + Sync {
    fn line(&self, line: OutputLine);

    /// `false`: nobody looks at the lines, so they need not be cut out at all.
    fn wants_lines(&self) -> bool {
        true
    }
}

impl<F: Fn(OutputLine) + Send + Sync> Sink for F {
    fn line(&self, line: OutputLine) {
        self(line)
    }
}

/// A sink for callers that only want the final [`Output`].
pub struct Discard;

impl Sink for Discard {
    fn line(&self, _: OutputLine) {}

    fn wants_lines(&self) -> bool {
        false
    }
}

/// Cuts a byte stream into [`OutputLine`]s, whatever the chunk boundaries. A carriage return
/// not followed by a newline starts the line over, as on a terminal, so a progress meter
/// (`curl`, `pv`) shows as its latest state instead of one endless line; `\r\n` ends a line.
#[derive(Debug)]
pub struct LineSplitter {
    stream: Stream,
    partial: Vec<u8>,
    cut: bool,
    /// The last byte seen was a `\r`: what follows overwrites the line, unless it is `\n`.
    cr: bool,
}

impl LineSplitter {
    pub fn new(stream: Stream) -> Self {
        Self { stream, partial: Vec::new(), cut: false, cr: false }
    }

    /// Feeds a chunk; every line it completes goes to `sink`.
    pub fn feed(&mut self, mut chunk: &[u8], sink: &dyn Sink) {
        while let Some(nl) = chunk.iter().position(|&b| b == b'\n') {
            self.keep(&chunk[..nl]);
            self.emit(sink);
            chunk = &chunk[nl + 1..];
        }
        self.keep(chunk);
    }

    /// The stream ended: a last line without a newline is still a line.
    pub fn finish(&mut self, sink: &dyn Sink) {
        if !self.partial.is_empty() || self.cut {
            self.emit(sink);
        }
    }

    /// Adds bytes of the current line (no `\n` among them).
    fn keep(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if std::mem::take(&mut self.cr) {
            self.restart();
        }
        // A `\r` last may be the first half of `\r\n` (the `\n` may be in the next chunk).
        let (bytes, held) = match bytes.split_last() {
            Some((b'\r', rest)) => (rest, true),
            _ => (bytes, false),
        };
        let bytes = match bytes.iter().rposition(|&b| b == b'\r') {
            Some(cr) => {
                self.restart();
                &bytes[cr + 1..]
            }
            None => bytes,
        };
        self.cr = held;
        let room = MAX_LINE_BYTES.saturating_sub(self.partial.len());
        if bytes.len() > room {
            self.cut = true;
        }
        self.partial.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn restart(&mut self) {
        self.partial.clear();
        self.cut = false;
    }

    fn emit(&mut self, sink: &dyn Sink) {
        self.cr = false;
        let mut bytes = std::mem::take(&mut self.partial);
        if self.cut {
            // Do not leave half a character where the line was cut.
            if let Err(e) = std::str::from_utf8(&bytes)
                && e.error_len().is_none()
            {
                bytes.truncate(e.valid_up_to());
            }
        }
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        sink.line(OutputLine { stream: self.stream, text, cut: std::mem::take(&mut self.cut) });
    }
}

/// Bytes of each stream of a command's output kept in memory: the newest ones. Enough for
/// the end of any apt run and every error message; fifty hosts at once stay in megabytes.
pub const KEPT_BYTES: usize = 256 * 1024;

/// Bytes of a probe's output kept: it is parsed whole, so a probe that prints more than this
/// is refused as unreadable rather than read in part.
pub const KEPT_PROBE_BYTES: usize = 64 * 1024 * 1024;

/// The newest bytes of a stream, at most `limit` once finished, and an exact count of the
/// bytes before them that were not kept. Memory is bounded by twice the limit (what is
/// cut is cut in blocks, not byte by byte) whatever the stream's length.
#[derive(Debug)]
pub struct Tail {
    limit: usize,
    buf: Vec<u8>,
    total: u64,
}

impl Tail {
    pub fn new(limit: usize) -> Self {
        Self { limit, buf: Vec::new(), total: 0 }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if bytes.len() >= self.limit {
            self.buf.clear();
            self.buf.extend_from_slice(&bytes[bytes.len() - self.limit..]);
            return;
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > self.limit.saturating_mul(2) {
            self.buf.drain(..self.buf.len() - self.limit);
        }
    }

    /// Bytes seen so far, kept or not.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes held now (never more than twice the limit).
    pub fn held(&self) -> usize {
        self.buf.len()
    }

    /// The kept tail and how many bytes before it were not kept. A tail that was cut starts
    /// at a line: the partial line where the cut fell is counted as not kept.
    pub fn finish(mut self) -> (Vec<u8>, u64) {
        if self.buf.len() > self.limit {
            self.buf.drain(..self.buf.len() - self.limit);
        }
        if (self.buf.len() as u64) < self.total
            && let Some(nl) = self.buf.iter().position(|&b| b == b'\n')
            && nl + 1 < self.buf.len()
        {
            self.buf.drain(..=nl);
        }
        self.buf.shrink_to_fit();
        let cut = self.total - self.buf.len() as u64;
        (self.buf, cut)
    }
}

/// "… 287 MB earlier output not kept": what a shown tail leaves out, in words.
pub fn cut_note(cut: u64) -> Option<String> {
    (cut > 0).then(|| format!("\u{2026} {} earlier output not kept", human_bytes(cut)))
}

/// A byte count for people: `512 bytes`, `12 kB`, `287 MB`, `1.2 GB` (powers of 1000).
pub fn human_bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} bytes"),
        1_000..1_000_000 => format!("{} kB", n / 1_000),
        1_000_000..1_000_000_000 => format!("{} MB", n / 1_000_000),
        _ => format!("{:.1} GB", n as f64 / 1e9),
    }
}

/// Where a command's whole output goes besides its kept tail (a local step's output file).
/// Called from the reading task: it must not block for long.
pub trait OutputCopy: Send + Sync {
    fn write(&self, stream: Stream, bytes: &[u8]);
}

/// Reads `r` to its end, giving each line to `sink` as it completes and every byte to
/// `copy`; returns the newest `limit` bytes and the count of those before them not kept. A
/// read error mid-stream (rare on a pipe) keeps what was read: the exit status still tells
/// whether the command worked.
pub async fn pump<R: tokio::io::AsyncRead + Unpin>(
    r: Option<&mut R>,
    stream: Stream,
    sink: &dyn Sink,
    limit: usize,
    copy: Option<&dyn OutputCopy>,
) -> (Vec<u8>, u64) {
    let mut tail = Tail::new(limit);
    let Some(r) = r else { return tail.finish() };
    let mut lines = sink.wants_lines().then(|| LineSplitter::new(stream));
    let mut buf = vec![0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(lines) = &mut lines {
                    lines.feed(&buf[..n], sink);
                }
                if let Some(copy) = copy {
                    copy.write(stream, &buf[..n]);
                }
                tail.push(&buf[..n]);
            }
        }
    }
    if let Some(lines) = &mut lines {
        lines.finish(sink);
    }
    tail.finish()
}

/// Gives a finished command's whole output to `sink`: stdout's lines, then stderr's. For
/// transports that cannot stream (and paths that answer at once).
pub fn replay(output: &Output, sink: &dyn Sink) {
    if !sink.wants_lines() {
        return;
    }
    for (bytes, stream) in [(&output.stdout, Stream::Stdout), (&output.stderr, Stream::Stderr)] {
        let mut lines = LineSplitter::new(stream);
        lines.feed(bytes, sink);
        lines.finish(sink);
    }
}

/// A finished command's output as the lines [`replay`] would give.
pub fn lines(output: &Output) -> Vec<OutputLine> {
    let lines = std::sync::Mutex::new(Vec::new());
    replay(output, &|l: OutputLine| lines.lock().unwrap_or_else(|p| p.into_inner()).push(l));
    lines.into_inner().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<OutputLine> {
        let got = Mutex::new(Vec::new());
        let sink = |l: OutputLine| got.lock().unwrap().push(l);
        let mut s = LineSplitter::new(Stream::Stdout);
        for c in chunks {
            s.feed(c, &sink);
        }
        s.finish(&sink);
        got.into_inner().unwrap()
    }

    fn texts(lines: &[OutputLine]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn lines_survive_any_chunking() {
        let whole: &[u8] = b"first\nsecond line\n\nfourth\r\nlast without newline";
        let want = ["first", "second line", "", "fourth", "last without newline"];
        assert_eq!(texts(&split(&[whole])), want);
        // Every split point, and byte by byte.
        for at in 0..whole.len() {
            assert_eq!(texts(&split(&[&whole[..at], &whole[at..]])), want, "split at {at}");
        }
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(texts(&split(&bytes)), want);
    }

    #[test]
    fn a_carriage_return_starts_the_line_over_but_crlf_ends_it() {
        let meter: &[u8] = b"  0%\r 50%\r100%\ndone\r\nlast\r";
        let want = ["100%", "done", "last"];
        assert_eq!(texts(&split(&[meter])), want);
        for at in 0..meter.len() {
            assert_eq!(texts(&split(&[&meter[..at], &meter[at..]])), want, "split at {at}");
        }
        let bytes: Vec<&[u8]> = meter.chunks(1).collect();
        assert_eq!(texts(&split(&bytes)), want);
        // An endless meter is its latest state, not a cut line.
        let endless: Vec<u8> = (0..1000).flat_map(|i| format!("\r{i:>4} kB").into_bytes()).collect();
        let lines = split(&[&endless]);
        assert_eq!((lines.len(), lines[0].text.as_str(), lines[0].cut), (1, " 999 kB", false));
    }

    #[test]
    fn nothing_after_the_last_newline_is_no_extra_line() {
        assert_eq!(texts(&split(&[b"a\nb\n"])), ["a", "b"]);
        assert!(split(&[b""]).is_empty());
        assert!(split(&[]).is_empty());
    }

    #[test]
    fn long_lines_are_cut_and_the_rest_skipped_to_the_newline() {
        let long = "x".repeat(MAX_LINE_BYTES * 3);
        let input = format!("{long}\nnext\n");
        for chunk in [input.len(), 100, 7] {
            let chunks: Vec<&[u8]> = input.as_bytes().chunks(chunk).collect();
            let lines = split(&chunks);
            assert_eq!(lines.len(), 2, "chunk {chunk}");
            assert_eq!(lines[0].text.len(), MAX_LINE_BYTES);
            assert!(lines[0].cut);
            assert_eq!((lines[1].text.as_str(), lines[1].cut), ("next", false));
        }
        // Exactly at the limit is not cut.
        let exact = format!("{}\n", "y".repeat(MAX_LINE_BYTES));
        assert!(!split(&[exact.as_bytes()])[0].cut);
        // A cut newline-free stream still ends as one (cut) line.
        let lines = split(&[long.as_bytes()]);
        assert_eq!((lines.len(), lines[0].cut), (1, true));
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        // 'é' is two bytes: put one across the cut.
        let line = format!("{}é{}\n", "a".repeat(MAX_LINE_BYTES - 1), "b".repeat(10));
        let lines = split(&[line.as_bytes()]);
        assert_eq!(lines[0].text, "a".repeat(MAX_LINE_BYTES - 1));
        assert!(lines[0].cut);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_lost() {
        assert_eq!(texts(&split(&[b"ok \xff bytes\n"])), ["ok \u{fffd} bytes"]);
    }

    #[test]
    fn replay_gives_stdout_then_stderr_tagged() {
        let out = Output::whole(Some(1), b"o1\no2\n".to_vec(), b"e1".to_vec());
        let got = Mutex::new(Vec::new());
        replay(&out, &|l: OutputLine| got.lock().unwrap().push((l.stream, l.text)));
        let got = got.into_inner().unwrap();
        assert_eq!(
            got,
            [(Stream::Stdout, "o1".into()), (Stream::Stdout, "o2".into()), (Stream::Stderr, "e1".to_string())]
        );
    }

    #[tokio::test]
    async fn pump_returns_every_byte_and_streams_lines() {
        let long = "z".repeat(MAX_LINE_BYTES + 10);
        let input = format!("one\n{long}\ntwo");
        let mut reader = input.as_bytes();
        let got = Mutex::new(Vec::new());
        let sink = |l: OutputLine| got.lock().unwrap().push(l);
        let (all, cut) = pump(Some(&mut reader), Stream::Stderr, &sink, KEPT_BYTES, None).await;
        assert_eq!((all.as_slice(), cut), (input.as_bytes(), 0), "under the limit the Output keeps everything");
        let got = got.into_inner().unwrap();
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|l| l.stream == Stream::Stderr));
        assert_eq!((got[0].text.as_str(), got[2].text.as_str()), ("one", "two"));
        // Nobody watching: the bytes still come back whole.
        let mut reader = input.as_bytes();
        assert_eq!(pump(Some(&mut reader), Stream::Stdout, &Discard, KEPT_BYTES, None).await.0, input.as_bytes());
    }

    /// Issue 14.6: the kept tail has a bound however much comes, in whatever pieces, and
    /// the count of what was not kept is exact.
    #[test]
    fn a_tail_is_bounded_and_counts_every_byte_it_did_not_keep() {
        let limit = 1000;
        let line = |i: usize| format!("line {i:06}\n").into_bytes(); // 12 bytes
        for piece in [1, 7, 12, 999, 1000, 5000] {
            let all: Vec<u8> = (0..2000).flat_map(line).collect();
            let mut tail = Tail::new(limit);
            let mut peak = 0;
            for chunk in all.chunks(piece) {
                tail.push(chunk);
                peak = peak.max(tail.held());
            }
            assert!(peak <= 2 * limit, "piece {piece}: held {peak} bytes");
            assert_eq!(tail.total(), all.len() as u64);
            let (kept, cut) = tail.finish();
            assert!(kept.len() <= limit && kept.len() >= limit - 12, "piece {piece}: kept {}", kept.len());
            assert_eq!(cut + kept.len() as u64, all.len() as u64, "piece {piece}: the count is exact");
            assert_eq!(&all[cut as usize..], kept.as_slice(), "piece {piece}: the newest bytes, in order");
            assert!(kept.starts_with(b"line "), "piece {piece}: the tail starts at a line");
            assert!(kept.ends_with(&line(1999)));
        }
        // Under the limit nothing is cut.
        let mut tail = Tail::new(limit);
        tail.push(b"short\n");
        assert_eq!(tail.finish(), (b"short\n".to_vec(), 0));
        // A newline-free flood keeps its last bytes, cut mid-line (there is no line to start at).
        let mut tail = Tail::new(limit);
        (0..100).for_each(|_| tail.push(&[b'x'; 333]));
        let (kept, cut) = tail.finish();
        assert_eq!((kept.len(), cut), (limit, 33_300 - limit as u64));
    }

    #[test]
    fn what_was_cut_is_said_in_words() {
        assert_eq!(cut_note(0), None);
        assert_eq!(cut_note(287_400_000).unwrap(), "\u{2026} 287 MB earlier output not kept");
        assert_eq!(human_bytes(999), "999 bytes");
        assert_eq!(human_bytes(12_345), "12 kB");
        assert_eq!(human_bytes(1_234_567_890), "1.2 GB");
    }
}
