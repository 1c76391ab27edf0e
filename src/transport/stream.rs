//! Output as it arrives: a command's stdout and stderr cut into lines for a [`Sink`] while
//! the command runs. The whole output is still collected and returned in [`Output`]; the
//! lines are a transient view of it for whoever watches (the cockpit), bounded in size.

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

/// Reads `r` to its end, giving each line to `sink` as it completes; returns every byte read.
/// A read error mid-stream (rare on a pipe) keeps what was read: the exit status still tells
/// whether the command worked.
pub async fn pump<R: tokio::io::AsyncRead + Unpin>(r: Option<&mut R>, stream: Stream, sink: &dyn Sink) -> Vec<u8> {
    let mut all = Vec::new();
    let Some(r) = r else { return all };
    let mut lines = sink.wants_lines().then(|| LineSplitter::new(stream));
    let mut buf = vec![0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(lines) = &mut lines {
                    lines.feed(&buf[..n], sink);
                }
                all.extend_from_slice(&buf[..n]);
            }
        }
    }
    if let Some(lines) = &mut lines {
        lines.finish(sink);
    }
    all
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
        let out = Output { status: Some(1), stdout: b"o1\no2\n".to_vec(), stderr: b"e1".to_vec() };
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
        let all = pump(Some(&mut reader), Stream::Stderr, &|l: OutputLine| got.lock().unwrap().push(l)).await;
        assert_eq!(all, input.as_bytes(), "the Output keeps everything, cut or not");
        let got = got.into_inner().unwrap();
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|l| l.stream == Stream::Stderr));
        assert_eq!((got[0].text.as_str(), got[2].text.as_str()), ("one", "two"));
        // Nobody watching: the bytes still come back whole.
        let mut reader = input.as_bytes();
        assert_eq!(pump(Some(&mut reader), Stream::Stdout, &Discard).await, input.as_bytes());
    }
}
