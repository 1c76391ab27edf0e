//! Integration tests: the write-ahead journal, on real files, with real processes.
//!
//! Cross-process tests re-execute this test binary running only [`child_process_entry`]
//! (an ignored test, run with `--ignored --exact`) with `PATCHDECK_JOURNAL_CHILD=<role>` and
//! `PATCHDECK_JOURNAL_PATH=<journal>` set: the child is then a second patchdeck writing (or
//! holding) the same journal. A child is always killed when its guard drops, so a failing
//! test leaves no process behind.
//!
//! Durability is proven by counting: the journal's sync point ([`SyncPoint`]) is wrapped
//! so that each test knows how many syncs an append waited for and how far the file was
//! synced when it was acknowledged (the page cache survives `kill -9`, so a journal that
//! never synced would pass any test that only reads the file back).

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use patchdeck::journal::{
    Appender, DataSync, FileChange, Follower, Header, Journal, JournalError, Record, SyncPoint, default_path, replay,
};
use serde::{Deserialize, Serialize};

use crate::support::require;

const ROLE_VAR: &str = "PATCHDECK_JOURNAL_CHILD";
const PATH_VAR: &str = "PATCHDECK_JOURNAL_PATH";
const READY: &str = "PATCHDECK-JOURNAL-CHILD-READY";

/// The test event: `n` must equal the record's seq; `pad` makes every fifth line big
/// (1 MiB: hundreds of pages, so that `kill -9` can land in the middle of one `write`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Ev {
    n: u64,
    pad: String,
}

impl Ev {
    fn new(n: u64) -> Self {
        let len = if n.is_multiple_of(5) { 1 << 20 } else { (n % 7) as usize * 10 };
        Ev { n, pad: "x".repeat(len) }
    }

    fn check(record: &Record<Ev>) {
        assert_eq!(record.event, Ev::new(record.seq), "record {} holds the wrong event", record.seq);
    }
}

fn header(window: &str) -> Header {
    Header::new(window, "runbook.toml", Header::sha256_hex(b"[window]\n"), vec!["alice".into()], false)
}

fn new_journal(dir: &Path) -> (PathBuf, Journal<Ev>) {
    let path = default_path(dir, "test window");
    let journal = Journal::create(&path, &header("test window")).unwrap();
    (path, journal)
}

fn append_raw(path: &Path, bytes: &[u8]) {
    OpenOptions::new().append(true).open(path).unwrap().write_all(bytes).unwrap();
}

fn line_count(path: &Path) -> usize {
    fs::read(path).unwrap().iter().filter(|&&b| b == b'\n').count()
}

/// Counts the syncs of a journal: wraps the real [`DataSync`], recording after each sync
/// how many there were and how long the file was when it was synced.
#[derive(Clone, Default)]
struct SyncLog {
    count: Arc<AtomicU64>,
    synced_len: Arc<AtomicU64>,
}

impl SyncLog {
    fn point(&self) -> impl SyncPoint + 'static {
        let log = self.clone();
        move |file: &File| {
            let len = file.metadata()?.len();
            DataSync.sync(file)?;
            log.synced_len.store(len, Ordering::SeqCst);
            log.count.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    fn synced_len(&self) -> u64 {
        self.synced_len.load(Ordering::SeqCst)
    }
}

/// Where each line of `bytes` ends (just past its newline): entry `k` ends record `k`
/// (entry 0, the header).
fn line_ends(bytes: &[u8]) -> Vec<u64> {
    bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i as u64 + 1).collect()
}

// ---------------------------------------------------------------- child processes

/// Not a test: the body of the child processes the other tests spawn (ignored, so it is
/// never run or counted on its own; without its environment variable it fails).
#[test]
#[ignore = "the body of the child processes of the journal tests, run by them with --ignored --exact"]
fn child_process_entry() {
    let role = std::env::var(ROLE_VAR).expect("not a test: run by the journal tests, with PATCHDECK_JOURNAL_CHILD set");
    let path = PathBuf::from(std::env::var(PATH_VAR).unwrap());
    let (mut journal, _) = Journal::<Ev>::open_append(&path).unwrap();
    println!("{READY}");
    std::io::stdout().flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60); // never outlive a dead parent for long
    match role.as_str() {
        // Hold the lock until the parent closes our stdin.
        "hold" => {
            let _ = std::io::stdin().read_line(&mut String::new());
        }
        // Append through an Appender, as the engine does, until killed; after each
        // acknowledgement print `ACK <seq> <syncs so far> <bytes synced>`.
        "append-forever" => {
            let log = SyncLog::default();
            let mut seq = journal.next_seq();
            let appender = Appender::spawn(journal.with_sync_point(log.point())).unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async {
                while Instant::now() < deadline {
                    assert_eq!(appender.append(Ev::new(seq)).await.unwrap(), seq);
                    println!("ACK {seq} {} {}", log.count(), log.synced_len());
                    seq += 1;
                }
            });
        }
        // Append `PATCHDECK_JOURNAL_COUNT` records through an Appender with the default
        // sync point, then exit (run under strace).
        "append-some" => {
            let count: u64 = std::env::var("PATCHDECK_JOURNAL_COUNT").unwrap().parse().unwrap();
            let first = journal.next_seq();
            let appender = Appender::spawn(journal).unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async {
                for seq in first..first + count {
                    assert_eq!(appender.append(Ev::new(seq)).await.unwrap(), seq);
                }
            });
        }
        // Append a fixed number of records, pausing a little between them.
        "append-slowly" => {
            for _ in 0..300 {
                let seq = journal.next_seq();
                journal.append(&Ev::new(seq)).unwrap();
                std::thread::sleep(Duration::from_micros(500));
            }
        }
        // Append until the file-size limit our parent set makes a write fail; report.
        "append-until-full" => {
            let err = loop {
                let seq = journal.next_seq();
                if let Err(e) = journal.append(&Ev::new(seq)) {
                    break e;
                }
            };
            println!("FIRST-ERROR {err}");
            let again = journal.append(&Ev::new(journal.next_seq())).unwrap_err();
            println!("SECOND-ERROR {again}");
        }
        other => panic!("unknown child role {other}"),
    }
}

/// A child process running a role; killed (SIGKILL) and reaped when dropped.
struct ChildGuard {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The child's stdout after the ready line, once it exits.
    output: Option<std::thread::JoinHandle<String>>,
}

impl ChildGuard {
    /// Spawns the child and waits until it holds the journal's lock.
    fn spawn(role: &str, path: &Path) -> ChildGuard {
        Self::spawn_via(role, path, &[])
    }

    /// Like [`spawn`](Self::spawn), the child started by `wrapper` (a command that ends
    /// by running its arguments, e.g. `sh -c '...; exec "$@"' sh`).
    fn spawn_via(role: &str, path: &Path, wrapper: &[&str]) -> ChildGuard {
        Self::spawn_with(role, path, wrapper, &[])
    }

    /// Like [`spawn_via`](Self::spawn_via), with more environment variables for the child.
    fn spawn_with(role: &str, path: &Path, wrapper: &[&str], env: &[(&str, &str)]) -> ChildGuard {
        let exe = std::env::current_exe().unwrap();
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let mut child = command
            .args(["--exact", "journal::child_process_entry", "--ignored", "--nocapture", "--test-threads=1"])
            .envs(env.iter().copied())
            .env(ROLE_VAR, role)
            .env(PATH_VAR, path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "child {role} exited before it was ready");
            // libtest prints "test ... " before our line, without a newline: contains.
            if line.contains(READY) {
                break;
            }
        }
        // Keep draining the child's stdout so it never blocks on a full pipe.
        let output = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut text);
            text
        });
        ChildGuard { child, stdin, output: Some(output) }
    }

    /// Waits for a successful exit and returns what the child printed after being ready.
    fn output(mut self) -> String {
        self.wait_success();
        self.output.take().unwrap().join().unwrap()
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap(); // SIGKILL on Unix
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "the child was expected to die of SIGKILL");
    }

    /// Kills the child (SIGKILL) and returns what it printed after being ready.
    fn kill9_output(mut self) -> String {
        self.kill9();
        self.output.take().unwrap().join().unwrap()
    }

    fn wait_success(&mut self) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "child failed: {status}");
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- round trip

#[test]
fn append_then_replay_round_trips_and_each_append_is_on_disk_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    assert_eq!(path, dir.path().join("test_window.journal.jsonl"));
    assert_eq!(line_count(&path), 1, "the header is written by create");
    let log = SyncLog::default();
    let mut journal = journal.with_sync_point(log.point());

    for n in 1..=12 {
        assert_eq!(journal.append(&Ev::new(n)).unwrap(), n);
        // Synced before it returned: one sync of its own, covering the whole file.
        assert_eq!(log.count(), n, "append {n} returned after {} syncs", log.count());
        assert_eq!(
            log.synced_len(),
            fs::metadata(&path).unwrap().len(),
            "append {n} returned before its line was synced"
        );
        // Read through another handle: the line is complete and in the file already.
        let text = fs::read_to_string(&path).unwrap();
        let last = text.strip_suffix('\n').expect("every line ends with a newline").lines().last().unwrap();
        let value: serde_json::Value = serde_json::from_str(last).unwrap();
        assert_eq!(value["seq"], n);
        assert_eq!(value["event"]["n"], n);
        assert!(value["at"].as_str().unwrap().parse::<jiff::Timestamp>().is_ok(), "at is RFC 3339: {last}");
        assert_eq!(text.lines().count() as u64, n + 1);
    }
    assert_eq!(journal.next_seq(), 13);

    let first = fs::read_to_string(&path).unwrap().lines().next().unwrap().to_string();
    let value: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(value["seq"], 0);
    assert_eq!(value["header"]["format"], "patchdeck-journal/1");
    assert_eq!(value["header"]["window"], "test window");
    assert_eq!(value["header"]["operators"], serde_json::json!(["alice"]));
    assert_eq!(value["header"]["drill"], false);
    assert_eq!(value["header"]["runbook_sha256"].as_str().unwrap().len(), 64);

    let replay = replay::<Ev>(&path).unwrap();
    assert_eq!(replay.header, header("test window"));
    assert_eq!(replay.records.len(), 12);
    for (i, record) in replay.records.iter().enumerate() {
        assert_eq!(record.seq, i as u64 + 1);
        Ev::check(record);
        assert!(record.at >= replay.created_at);
    }
    assert_eq!(replay.torn_tail, None);
    assert_eq!(replay.next_seq(), 13);
}

#[test]
fn create_refuses_an_existing_journal_and_resume_continues_the_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut journal) = new_journal(dir.path());
    journal.append(&Ev::new(1)).unwrap();
    drop(journal);

    let err = Journal::<Ev>::create(&path, &header("test window")).unwrap_err();
    assert!(matches!(err, JournalError::Exists { .. }), "{err}");
    assert!(err.to_string().contains("--resume"), "{err}");
    assert_eq!(replay::<Ev>(&path).unwrap().records.len(), 1, "create did not touch the journal");

    let (mut journal, replay1) = Journal::<Ev>::open_append(&path).unwrap();
    assert_eq!(replay1.records.len(), 1);
    assert_eq!(replay1.torn_saved_to, None);
    assert_eq!(journal.append(&Ev::new(2)).unwrap(), 2);
    drop(journal);
    let records = replay::<Ev>(&path).unwrap().records;
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
    records.iter().for_each(Ev::check);
}

#[test]
fn a_journal_without_a_complete_header_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.journal.jsonl");
    fs::write(&path, "").unwrap();
    assert!(matches!(replay::<Ev>(&path), Err(JournalError::NoHeader { .. })));
    fs::write(&path, r#"{"seq":0,"at":"2024-06-01T"#).unwrap();
    let err = Journal::<Ev>::open_append(&path).unwrap_err();
    assert!(matches!(err, JournalError::NoHeader { .. }), "{err}");
    assert!(err.to_string().contains("never started"), "{err}");

    fs::write(&path, r#"{"seq":0,"at":"2024-06-01T00:00:00Z","header":{"format":"patchdeck-journal/9"}}"#).unwrap();
    append_raw(&path, b"\n");
    let err = replay::<Ev>(&path).unwrap_err();
    assert!(matches!(err, JournalError::Corrupt { line: 1, .. }), "{err}");
}

// ---------------------------------------------------------------- torn tails and corruption

#[test]
fn a_torn_last_line_is_reported_then_saved_aside_and_cut_by_open_append() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut journal) = new_journal(dir.path());
    for n in 1..=3 {
        journal.append(&Ev::new(n)).unwrap();
    }
    drop(journal);
    let intact = fs::read(&path).unwrap();
    let torn = r#"{"seq":4,"at":"2024-06-01T02:03:04Z","event":{"n":4,"pa"#;
    append_raw(&path, torn.as_bytes());

    let replayed = replay::<Ev>(&path).unwrap();
    assert_eq!(replayed.records.len(), 3);
    assert_eq!(replayed.torn_tail.as_deref(), Some(torn));
    assert_eq!(replayed.torn_saved_to, None, "replay never writes");
    assert_eq!(fs::read(&path).unwrap().len(), intact.len() + torn.len(), "replay left the file alone");

    let (mut journal, resumed) = Journal::<Ev>::open_append(&path).unwrap();
    assert_eq!(resumed.records, replayed.records);
    assert_eq!(resumed.torn_tail.as_deref(), Some(torn));
    let aside = dir.path().join("test_window.journal.jsonl.torn-4");
    assert_eq!(resumed.torn_saved_to.as_deref(), Some(aside.as_path()));
    assert_eq!(fs::read_to_string(&aside).unwrap(), torn, "the torn text is kept verbatim");
    assert_eq!(fs::read(&path).unwrap(), intact, "the torn tail was cut off");

    assert_eq!(journal.append(&Ev::new(4)).unwrap(), 4);
    drop(journal);
    let after = replay::<Ev>(&path).unwrap();
    assert_eq!(after.torn_tail, None);
    assert_eq!(after.records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    after.records.iter().for_each(Ev::check);

    // A second torn tail at the same seq does not overwrite the first one saved.
    append_raw(&path, b"{\"seq\":5");
    let (journal, again) = Journal::<Ev>::open_append(&path).unwrap();
    assert_eq!(again.torn_saved_to, Some(dir.path().join("test_window.journal.jsonl.torn-5")));
    drop(journal);
    append_raw(&path, b"{\"seq\":5,");
    let (_journal, third) = Journal::<Ev>::open_append(&path).unwrap();
    assert_eq!(third.torn_saved_to, Some(dir.path().join("test_window.journal.jsonl.torn-5.1")));
    assert_eq!(fs::read_to_string(dir.path().join("test_window.journal.jsonl.torn-5")).unwrap(), "{\"seq\":5");
}

#[test]
fn other_torn_tails_a_crash_can_leave_are_tolerated_too() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut journal) = new_journal(dir.path());
    journal.append(&Ev::new(1)).unwrap();
    drop(journal);
    let intact = fs::read(&path).unwrap();

    // A complete record whose newline never made it: never acknowledged, so torn.
    let unterminated = r#"{"seq":2,"at":"2024-06-01T02:03:04Z","event":{"n":2,"pad":"xx"}}"#;
    append_raw(&path, unterminated.as_bytes());
    let r = replay::<Ev>(&path).unwrap();
    assert_eq!((r.records.len(), r.torn_tail.as_deref()), (1, Some(unterminated)));

    // A block of zeros ending in a newline (what a power cut can leave): torn.
    fs::write(&path, &intact).unwrap();
    append_raw(&path, b"\0\0\0\0\0\0\n");
    let r = replay::<Ev>(&path).unwrap();
    assert_eq!((r.records.len(), r.torn_tail.as_deref()), (1, Some("\0\0\0\0\0\0\n")));
    let (mut journal, _) = Journal::<Ev>::open_append(&path).unwrap();
    assert_eq!(journal.append(&Ev::new(2)).unwrap(), 2);
}

#[test]
fn a_corrupt_middle_line_is_an_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut journal) = new_journal(dir.path());
    for n in 1..=4 {
        journal.append(&Ev::new(n)).unwrap();
    }
    drop(journal);
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = r#"{"seq":2,"at":"2024-06-01T02:03:04Z","event":{"n":2,"pad":"#; // line 3 cut short
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    let before = fs::read(&path).unwrap();

    let err = replay::<Ev>(&path).unwrap_err();
    assert!(matches!(err, JournalError::Corrupt { line: 3, .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&format!("{}:3:", path.display())), "{message}");
    assert!(message.contains("not valid JSON"), "{message}");

    let err = Journal::<Ev>::open_append(&path).unwrap_err();
    assert!(matches!(err, JournalError::Corrupt { line: 3, .. }), "{err:?}");
    assert_eq!(fs::read(&path).unwrap(), before, "a failed open_append changes nothing");

    // Valid JSON of the wrong shape is corruption even on the last line: no crash writes it.
    let mut lines: Vec<&str> = text.lines().collect();
    lines[4] = r#"{"seq":4,"at":"2024-06-01T02:03:04Z","event":{"n":"four"}}"#;
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = replay::<Ev>(&path).unwrap_err();
    assert!(matches!(err, JournalError::Corrupt { line: 5, .. }), "{err:?}");
    assert!(err.to_string().contains("not a journal record"), "{err}");
}

#[test]
fn sequence_gaps_and_disorder_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut journal) = new_journal(dir.path());
    for n in 1..=3 {
        journal.append(&Ev::new(n)).unwrap();
    }
    drop(journal);
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();

    let gap = [lines[0], lines[1], lines[3]].join("\n") + "\n";
    fs::write(&path, gap).unwrap();
    let err = replay::<Ev>(&path).unwrap_err();
    assert!(matches!(err, JournalError::Sequence { line: 3, expected: 2, found: 3, .. }), "{err:?}");

    let swapped = [lines[0], lines[2], lines[1], lines[3]].join("\n") + "\n";
    fs::write(&path, swapped).unwrap();
    let err = replay::<Ev>(&path).unwrap_err();
    assert!(matches!(err, JournalError::Sequence { line: 2, expected: 1, found: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("out of order"), "{err}");
}

// ---------------------------------------------------------------- locking

fn assert_locked(err: JournalError, path: &Path) {
    assert!(matches!(&err, JournalError::Locked { path: p } if p == path), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("another patchdeck is running this window"), "{message}");
    assert!(message.contains(&format!("patchdeck watch {}", path.display())), "{message}");
}

#[test]
fn a_second_writer_in_the_same_process_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut journal) = new_journal(dir.path());
    assert_locked(Journal::<Ev>::open_append(&path).unwrap_err(), &path);
    assert_locked(Journal::<Ev>::create(&path, &header("test window")).unwrap_err(), &path);

    // Readers never lock: replay and follow work while the writer holds it.
    journal.append(&Ev::new(1)).unwrap();
    assert_eq!(replay::<Ev>(&path).unwrap().records.len(), 1);
    assert_eq!(Follower::<Ev>::open(&path).unwrap().poll().unwrap().len(), 1);
    assert_eq!(journal.append(&Ev::new(2)).unwrap(), 2, "failed lock attempts did not disturb the writer");

    drop(journal);
    let (mut journal, _) = Journal::<Ev>::open_append(&path).unwrap();
    assert_eq!(journal.append(&Ev::new(3)).unwrap(), 3, "the lock is released when the writer is dropped");
}

#[test]
fn a_writer_in_another_process_locks_us_out_until_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    drop(journal);
    let mut child = ChildGuard::spawn("hold", &path);
    assert_locked(Journal::<Ev>::open_append(&path).unwrap_err(), &path);
    assert_locked(Journal::<Ev>::create(&path, &header("test window")).unwrap_err(), &path);
    drop(child.stdin.take()); // the child exits when its stdin closes
    child.wait_success();
    Journal::<Ev>::open_append(&path).unwrap();
}

/// The lock is a plain `flock(2)` lock: util-linux `flock` sees it, and we see its lock.
#[test]
fn the_lock_is_an_ordinary_flock_visible_to_other_tools() {
    if !require::flock() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    let status = Command::new("flock").arg("--nonblock").arg(&path).arg("true").status().unwrap();
    assert_eq!(status.code(), Some(1), "flock must find the journal locked");
    drop(journal);
    let status = Command::new("flock").arg("--nonblock").arg(&path).arg("true").status().unwrap();
    assert!(status.success(), "unlocked once the writer is gone");

    let mut holder = Command::new("flock")
        .arg(&path)
        .args(["sh", "-c", "echo held; read _"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(holder.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "held\n");
    let result = Journal::<Ev>::open_append(&path);
    drop(holder.stdin.take());
    holder.wait().unwrap();
    assert_locked(result.unwrap_err(), &path);
}

// ---------------------------------------------------------------- crash safety

/// Spins until the journal ends in a partial line (a `write` in progress) and says whether
/// it saw one before `deadline`. No sleep: a 1 MiB write lasts well under a millisecond.
fn wait_for_a_partial_line(path: &Path, deadline: Instant) -> bool {
    use std::os::unix::fs::FileExt;
    let file = File::open(path).unwrap();
    let mut last = [0u8];
    while Instant::now() < deadline {
        let len = file.metadata().unwrap().len();
        if len > 0 && file.read_at(&mut last, len - 1).unwrap() == 1 && last[0] != b'\n' {
            return true;
        }
        std::thread::yield_now();
    }
    false
}

/// The `ACK <seq> <syncs> <bytes synced>` lines of an `append-forever` child (complete lines
/// only: the last one may have been cut by the kill).
fn acks(output: &str) -> Vec<(u64, u64, u64)> {
    let complete = &output[..output.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .filter_map(|l| l.strip_prefix("ACK "))
        .map(|l| {
            let v: Vec<u64> = l.split(' ').map(|n| n.parse().unwrap()).collect();
            (v[0], v[1], v[2])
        })
        .collect()
}

#[test]
fn kill_9_mid_append_loses_nothing_acknowledged_and_resume_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    drop(journal);
    // A watcher follows all along: it must end up with exactly the journal's records.
    let mut follower = Follower::<Ev>::open(&path).unwrap();
    let mut followed = Vec::new();
    let mut expected_min = 0;
    let mut torn_seen = 0;
    // Six rounds; should none of their kills have torn a line, up to six more that kill at a
    // half-written line, until one does.
    let mut round = 0u64;
    while round < 6 || (torn_seen == 0 && round < 12) {
        let first_seq = line_count(&path) as u64; // header + records: the next seq
        let child = ChildGuard::spawn("append-forever", &path);
        // Let it write a while (a varying amount), then SIGKILL it: in even rounds (and the
        // extra ones) the moment a line is seen half written (the torn tail resume must
        // repair), in odd rounds wherever it is (mostly waiting for a sync).
        // Progress is what the follower reads (only the new bytes, never the whole file).
        let target = followed.len() + 15 + (round % 6) as usize * 5;
        let deadline = Instant::now() + Duration::from_secs(30);
        while followed.len() < target {
            assert!(Instant::now() < deadline, "the child appends too slowly");
            followed.extend(follower.poll().unwrap());
            std::thread::sleep(Duration::from_millis(10));
        }
        if round.is_multiple_of(2) || round >= 6 {
            assert!(wait_for_a_partial_line(&path, deadline), "never saw a line being written");
        }
        let output = child.kill9_output();

        let bytes = fs::read(&path).unwrap();
        let ends = line_ends(&bytes);
        let replayed = replay::<Ev>(&path).expect("a journal killed mid-write must replay");
        replayed.records.iter().for_each(Ev::check);
        assert!(replayed.records.len() >= expected_min, "records of earlier rounds were lost");
        // Every acknowledged append is there, and was synced (by a sync of its own) before
        // it was acknowledged.
        let acks = acks(&output);
        assert!(acks.len() >= 10, "the child acknowledged only {} appends:\n{output}", acks.len());
        for &(seq, syncs, synced) in &acks {
            assert!(seq <= replayed.records.len() as u64, "acknowledged record {seq} was lost");
            assert_eq!(syncs, seq - first_seq + 1, "record {seq} was acknowledged after {syncs} syncs");
            let end = ends[seq as usize];
            assert!(synced >= end, "record {seq} (ending at byte {end}) was acknowledged with {synced} bytes synced");
        }

        let (mut journal, resumed) = Journal::<Ev>::open_append(&path).expect("resume after kill -9");
        assert_eq!(resumed.records.len(), replayed.records.len());
        if let Some(torn) = &resumed.torn_tail {
            torn_seen += 1;
            let saved = fs::read(resumed.torn_saved_to.as_ref().unwrap()).unwrap();
            assert_eq!(String::from_utf8_lossy(&saved), *torn);
            assert_eq!(bytes.len() as u64, ends[resumed.records.len()] + saved.len() as u64, "saved whole");
        }
        let seq = journal.append(&Ev::new(resumed.next_seq())).unwrap();
        assert_eq!(seq, resumed.records.len() as u64 + 1);
        drop(journal);
        let after = replay::<Ev>(&path).unwrap();
        assert_eq!(after.torn_tail, None);
        assert_eq!(after.records.len() as u64, seq);
        expected_min = after.records.len();
        followed.extend(follower.poll().unwrap());
        assert_eq!(followed, after.records, "the follower saw exactly the journal's records");
        round += 1;
    }
    eprintln!("kill -9: {torn_seen} of {round} rounds left a torn tail");
    assert!(torn_seen >= 1, "no kill left a torn tail: the crash resume repairs was never tested");
}

/// Each append of the default sync point is a real `fdatasync(2)` of the journal file, as
/// the kernel sees it (strace): the counting tests wrap that sync point, so this is what
/// they rely on.
#[test]
fn each_append_is_an_fdatasync_of_the_journal_file() {
    if !require::strace() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    drop(journal);
    let trace = dir.path().join("strace.log");
    let wrapper = ["strace", "-f", "-y", "-e", "trace=fdatasync", "-o", trace.to_str().unwrap()];
    ChildGuard::spawn_with("append-some", &path, &wrapper, &[("PATCHDECK_JOURNAL_COUNT", "7")]).output();
    assert_eq!(replay::<Ev>(&path).unwrap().records.len(), 7);
    let trace = fs::read_to_string(&trace).unwrap();
    let on_journal = "fdatasync(";
    let journal_fd = format!("<{}>", fs::canonicalize(&path).unwrap().display());
    let syncs = trace.lines().filter(|l| l.contains(on_journal) && l.contains(&journal_fd)).count();
    assert_eq!(syncs, 7, "one fdatasync of the journal per append:\n{trace}");
}

/// A write that fails (here: the file-size limit, `EFBIG`, partway through a line) is
/// reported, never swallowed; the journal then refuses further appends, and the partial
/// line it wrote is taken back so the file still ends cleanly.
#[test]
fn a_failed_write_is_reported_and_poisons_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    drop(journal);
    // 64 blocks (32 KiB or more, depending on the shell's block size) and SIGXFSZ ignored,
    // so a write past the limit fails with EFBIG instead of killing the child.
    let wrapper = ["sh", "-c", "ulimit -f 64 && trap '' XFSZ && exec \"$@\"", "sh"];
    let output = ChildGuard::spawn_via("append-until-full", &path, &wrapper).output();
    let first = output.lines().find_map(|l| l.strip_prefix("FIRST-ERROR ")).expect(&output);
    assert!(first.contains(&format!("cannot write to journal {}", path.display())), "{first}");
    let second = output.lines().find_map(|l| l.strip_prefix("SECOND-ERROR ")).expect(&output);
    assert!(second.contains("earlier write") && second.contains("window must stop"), "{second}");

    let replayed = replay::<Ev>(&path).unwrap();
    assert_eq!(replayed.torn_tail, None, "the partial line was taken back");
    assert!(replayed.records.len() > 1);
    replayed.records.iter().for_each(Ev::check);
    let (mut journal, _) = Journal::<Ev>::open_append(&path).unwrap();
    assert_eq!(journal.append(&Ev::new(replayed.next_seq())).unwrap(), replayed.next_seq());
}

// ---------------------------------------------------------------- following

#[test]
fn the_follower_never_hands_out_a_partial_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut journal) = new_journal(dir.path());
    journal.append(&Ev::new(1)).unwrap();
    journal.append(&Ev::new(2)).unwrap();
    drop(journal);

    let mut follower = Follower::<Ev>::open(&path).unwrap();
    assert_eq!(follower.header().window, "test window");
    let first = follower.poll().unwrap();
    assert_eq!(first.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
    assert!(follower.poll().unwrap().is_empty(), "nothing new");

    // A line written in two halves appears only once complete.
    let line =
        format!(r#"{{"seq":3,"at":"2024-06-01T02:03:04Z","event":{}}}"#, serde_json::to_string(&Ev::new(3)).unwrap());
    let (a, b) = line.split_at(line.len() / 2);
    append_raw(&path, a.as_bytes());
    assert!(follower.poll().unwrap().is_empty(), "half a line is not a record");
    assert!(follower.poll().unwrap().is_empty());
    append_raw(&path, format!("{b}\n").as_bytes());
    let third = follower.poll().unwrap();
    assert_eq!(third.len(), 1);
    Ev::check(&third[0]);

    // A writer that crashed mid-line, then a resume that cuts the torn tail off and goes
    // on: the follower continues with the resumed records.
    append_raw(
        &path,
        br#"{"seq":4,"at":"2024-06-01T02:03:04Z","event":{"n":4,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"#,
    );
    assert!(follower.poll().unwrap().is_empty());
    let (mut journal, resumed) = Journal::<Ev>::open_append(&path).unwrap();
    assert!(resumed.torn_tail.is_some());
    journal.append(&Ev::new(4)).unwrap();
    journal.append(&Ev::new(5)).unwrap();
    let rest = follower.poll().unwrap();
    assert_eq!(rest.iter().map(|r| r.seq).collect::<Vec<_>>(), [4, 5]);
    rest.iter().for_each(Ev::check);
    assert_eq!(follower.next_seq(), 6);
}

#[test]
fn the_follower_reports_a_corrupt_line_and_a_shrunk_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut journal) = new_journal(dir.path());
    journal.append(&Ev::new(1)).unwrap();
    let mut follower = Follower::<Ev>::open(&path).unwrap();
    assert_eq!(follower.poll().unwrap().len(), 1);
    drop(journal);

    append_raw(&path, b"garbage\n");
    assert!(follower.poll().unwrap().is_empty(), "garbage at the end may be a torn tail");
    append_raw(&path, b"{\"seq\":3}\n");
    let err = follower.poll().unwrap_err();
    assert!(matches!(err, JournalError::Corrupt { line: 3, .. }), "{err:?}");

    let mut follower = Follower::<Ev>::open(&path).unwrap();
    assert!(follower.poll().is_err());
    let header_line = fs::read_to_string(&path).unwrap().lines().next().unwrap().to_string();
    fs::write(&path, header_line + "\n").unwrap();
    let mut follower = Follower::<Ev>::open(&path).unwrap();
    append_raw(
        &path,
        serde_json::to_string(&serde_json::json!({"seq": 1, "at": "2024-06-01T00:00:00Z", "event": Ev::new(1)}))
            .unwrap()
            .as_bytes(),
    );
    append_raw(&path, b"\n");
    assert_eq!(follower.poll().unwrap().len(), 1);
    fs::write(&path, "").unwrap();
    let err = follower.poll().unwrap_err();
    assert!(matches!(err, JournalError::Shrank { .. }), "{err:?}");
}

#[tokio::test]
async fn the_follower_sees_another_process_append_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    drop(journal);
    let mut follower = Follower::<Ev>::open(&path).unwrap();
    assert_eq!(follower.next_seq(), 1);

    let mut child = ChildGuard::spawn("append-slowly", &path);
    let mut seen = Vec::new();
    let mut batches = 0;
    let started = Instant::now();
    while seen.len() < 300 {
        let batch = tokio::time::timeout(Duration::from_secs(30), follower.next_batch())
            .await
            .expect("the follower stalled")
            .unwrap();
        assert!(!batch.is_empty(), "next_batch waits for at least one record");
        batches += 1;
        seen.extend(batch);
    }
    child.wait_success();
    assert_eq!(seen.len(), 300);
    for (i, record) in seen.iter().enumerate() {
        assert_eq!(record.seq, i as u64 + 1);
        Ev::check(record);
    }
    assert!(batches > 1, "the follower should have seen the journal grow while it was written");
    assert!(follower.poll().unwrap().is_empty());
    eprintln!("followed 300 records in {batches} batches over {:?}", started.elapsed());

    // Idle: next_batch keeps waiting (cheaply) rather than returning nothing.
    let idle = tokio::time::timeout(Duration::from_millis(700), follower.next_batch()).await;
    assert!(idle.is_err(), "next_batch returned with nothing new");
}

#[test]
fn a_journal_in_a_missing_directory_is_an_io_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("w.journal.jsonl");
    let err = Journal::<Ev>::create(&path, &header("w")).unwrap_err();
    assert!(matches!(err, JournalError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
}

// ---------------------------------------------------------------- the appender (async code)

#[tokio::test(flavor = "current_thread")]
async fn the_appender_acknowledges_each_append_once_synced_in_call_order() {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    let log = SyncLog::default();
    let appender = Appender::spawn(journal.with_sync_point(log.point())).unwrap();
    for n in 1..=5 {
        assert_eq!(appender.append(Ev::new(n)).await.unwrap(), n);
        assert_eq!(log.count(), n, "append {n} was acknowledged after {} syncs", log.count());
        assert_eq!(log.synced_len(), fs::metadata(&path).unwrap().len(), "append {n} acknowledged before its sync");
    }
    // Queued together: acknowledged in the order of the calls, each once a sync covered it.
    let pending: Vec<_> = (6..=30).map(|n| appender.append(Ev::new(n))).collect();
    for (n, ack) in (6..=30).zip(pending) {
        assert_eq!(ack.await.unwrap(), n);
        let end = line_ends(&fs::read(&path).unwrap())[n as usize];
        assert!(log.count() >= n && log.synced_len() >= end, "append {n} acknowledged before its sync");
    }
    // A future dropped unawaited does not take its event back; dropping the appender
    // writes what was queued, then closes the journal (its lock is free at once).
    drop(appender.append(Ev::new(31)));
    drop(appender);
    let (journal, replayed) = Journal::<Ev>::open_append(&path).expect("the appender released the journal");
    assert_eq!(replayed.records.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=31).collect::<Vec<_>>());
    replayed.records.iter().for_each(Ev::check);
    assert_eq!(journal.next_seq(), 32);
}

/// A sync that takes long (a slow disk) must not freeze the other tasks of the runtime
/// thread the append is awaited on (the cockpit's keys and frames). Here the sync waits
/// until the other task has run 1,000 times while the append is pending: an append that
/// synced on the awaiting thread could never be released.
#[tokio::test(flavor = "current_thread")]
async fn a_slow_sync_never_stalls_other_tasks_of_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, journal) = new_journal(dir.path());
    let entered = Arc::new(AtomicBool::new(false));
    let (release, released) = std::sync::mpsc::channel::<()>();
    let slow_sync = {
        let entered = entered.clone();
        move |file: &File| {
            entered.store(true, Ordering::SeqCst);
            // A deadline only so that a broken appender fails instead of hanging.
            released
                .recv_timeout(Duration::from_secs(30))
                .map_err(|_| std::io::Error::other("nobody released the sync: the other task never ran"))?;
            DataSync.sync(file)
        }
    };
    let appender = Appender::spawn(journal.with_sync_point(slow_sync)).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let append = tokio::spawn({
        let pending = appender.append(Ev::new(1));
        let done = done.clone();
        async move {
            let seq = pending.await;
            done.store(true, Ordering::SeqCst);
            seq
        }
    });

    let deadline = Instant::now() + Duration::from_secs(30);
    while !entered.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the writer never reached the sync");
        tokio::task::yield_now().await;
    }
    for i in 0..1000 {
        assert!(!done.load(Ordering::SeqCst), "the append resolved while its sync was blocked (iteration {i})");
        tokio::task::yield_now().await;
    }
    release.send(()).unwrap();
    assert_eq!(append.await.unwrap().unwrap(), 1);
    assert!(done.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_sync_fails_that_append_and_every_later_one() {
    let dir = tempfile::tempdir().unwrap();
    let (path, journal) = new_journal(dir.path());
    let mut calls = 0;
    let failing_third = move |file: &File| {
        calls += 1;
        if calls == 3 { Err(std::io::Error::other("the disk is gone")) } else { DataSync.sync(file) }
    };
    let appender = Appender::spawn(journal.with_sync_point(failing_third)).unwrap();
    assert_eq!(appender.append(Ev::new(1)).await.unwrap(), 1);
    assert_eq!(appender.append(Ev::new(2)).await.unwrap(), 2);
    let (third, fourth, fifth) =
        (appender.append(Ev::new(3)), appender.append(Ev::new(4)), appender.append(Ev::new(5)));
    let err = third.await.unwrap_err();
    assert!(matches!(&err, JournalError::Io { op: "fsync", .. }), "{err:?}");
    assert!(err.to_string().contains("the disk is gone"), "{err}");
    for later in [fourth.await.unwrap_err(), fifth.await.unwrap_err()] {
        assert!(matches!(later, JournalError::Poisoned { .. }), "{later:?}");
        assert!(later.to_string().contains("window must stop"), "{later}");
    }
    drop(appender);
    let replayed = replay::<Ev>(&path).unwrap();
    assert_eq!(replayed.records.len(), 2, "the unsynced line was taken back");
    assert_eq!(replayed.torn_tail, None);
}

// ---------------------------------------------------------------- the file under the writer

/// What happens to the journal file while its writer runs.
#[derive(Debug, Clone, Copy)]
enum Tamper {
    Replaced,
    Truncated,
    Moved,
    WrittenToByAnother,
}

/// The journal file is changed under a running appender: the next append fails saying
/// what happened, nothing is written anywhere (the files are byte for byte as left), and
/// every later append fails too.
#[tokio::test(flavor = "current_thread")]
async fn a_journal_replaced_truncated_moved_or_written_to_stops_its_appender() {
    for tamper in [Tamper::Replaced, Tamper::Truncated, Tamper::Moved, Tamper::WrittenToByAnother] {
        let dir = tempfile::tempdir().unwrap();
        let (path, journal) = new_journal(dir.path());
        let header_len = fs::metadata(&path).unwrap().len();
        let appender = Appender::spawn(journal).unwrap();
        appender.append(Ev::new(1)).await.unwrap();
        let written = fs::read(&path).unwrap();
        let len = written.len() as u64;
        let moved_to = dir.path().join("elsewhere.jsonl");
        let expected = match tamper {
            Tamper::Replaced => {
                let other = dir.path().join("other");
                fs::write(&other, "someone else's file\n").unwrap();
                fs::rename(&other, &path).unwrap();
                FileChange::Replaced
            }
            Tamper::Truncated => {
                OpenOptions::new().write(true).open(&path).unwrap().set_len(header_len).unwrap();
                FileChange::Truncated { len: header_len, expected: len }
            }
            Tamper::Moved => {
                fs::rename(&path, &moved_to).unwrap();
                FileChange::Moved
            }
            Tamper::WrittenToByAnother => {
                append_raw(&path, b"{}\n");
                FileChange::Grew { len: len + 3, expected: len }
            }
        };
        let at_path = fs::read(&path).ok();
        let at_moved = fs::read(&moved_to).ok();

        let err = appender.append(Ev::new(2)).await.unwrap_err();
        assert!(matches!(&err, JournalError::Changed { change, .. } if *change == expected), "{tamper:?}: {err:?}");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()) && message.contains("window stops"), "{message}");
        let later = appender.append(Ev::new(2)).await.unwrap_err();
        assert!(matches!(later, JournalError::Poisoned { .. }), "{tamper:?}: {later:?}");
        drop(appender);
        assert_eq!(fs::read(&path).ok(), at_path, "{tamper:?}: the file at the path was not written");
        assert_eq!(fs::read(&moved_to).ok(), at_moved, "{tamper:?}: the moved journal was not written");
    }
}

#[test]
fn journals_and_torn_tails_saved_aside_are_private_to_their_owner() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut journal) = new_journal(dir.path());
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    journal.append(&Ev::new(1)).unwrap();
    drop(journal);
    append_raw(&path, b"{\"seq\":2");
    let (_journal, resumed) = Journal::<Ev>::open_append(&path).unwrap();
    assert_eq!(mode(resumed.torn_saved_to.as_deref().unwrap()), 0o600);
}

// ---------------------------------------------------------------- output files never replace the record

fn patchdeck<S: AsRef<OsStr>>(args: &[S]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_patchdeck")).args(args).env("NO_COLOR", "1").output().unwrap()
}

/// Runs patchdeck expecting exit 2 with a message containing each of `says`.
fn refused<S: AsRef<OsStr>>(args: &[S], says: &[&str]) {
    let out = patchdeck(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let args: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    for s in says {
        assert!(stderr.contains(s), "{args:?} should say {s:?}: {stderr}");
    }
}

fn engine_journal(path: &Path) -> Journal<patchdeck::engine::event::Event> {
    Journal::create(path, &header("w")).unwrap()
}

#[test]
fn report_never_writes_over_a_journal_and_over_another_file_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("w.journal.jsonl");
    let journal = engine_journal(&journal_path);
    let before = fs::read(&journal_path).unwrap();
    let jp = journal_path.to_str().unwrap();
    let args = |extra: &[&str]| -> Vec<String> { ["report", jp].iter().chain(extra).map(|s| s.to_string()).collect() };

    // The live, locked journal onto itself: refused, with or without --force.
    refused(&args(&["-o", jp]), &["refusing to write", jp, "the journal being reported on"]);
    refused(&args(&["-o", jp, "--force"]), &["the journal being reported on"]);
    drop(journal);
    refused(&args(&["-o", jp, "--force"]), &["the journal being reported on"]);
    assert_eq!(fs::read(&journal_path).unwrap(), before, "the journal is unchanged, byte for byte");

    // Another window's journal, running (locked) or not: refused too.
    let other = dir.path().join("other.journal.jsonl");
    let other_journal = engine_journal(&other);
    let other_before = fs::read(&other).unwrap();
    refused(&args(&["-o", other.to_str().unwrap(), "--force"]), &["patchdeck journal"]);
    drop(other_journal);
    refused(&args(&["-o", other.to_str().unwrap(), "--force"]), &["patchdeck journal"]);
    assert_eq!(fs::read(&other).unwrap(), other_before);

    // A file someone holds a lock on (not a journal): refused even with --force.
    let locked = dir.path().join("locked.md");
    fs::write(&locked, "held").unwrap();
    let holder = File::open(&locked).unwrap();
    holder.lock().unwrap();
    refused(&args(&["-o", locked.to_str().unwrap(), "--force"]), &["holds a lock"]);
    assert_eq!(fs::read(&locked).unwrap(), b"held");
    drop(holder);

    // An ordinary existing file: only with --force, and then replaced whole.
    let md = dir.path().join("record.md");
    fs::write(&md, "an older record that was much longer than the new one will be, surely\n".repeat(500)).unwrap();
    refused(&args(&["-o", md.to_str().unwrap()]), &["already exists", "--force"]);
    assert!(fs::read_to_string(&md).unwrap().starts_with("an older record"));
    let out = patchdeck(&args(&["-o", md.to_str().unwrap(), "--force"]));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = patchdeck(&args(&[])).stdout;
    assert_eq!(fs::read(&md).unwrap(), stdout, "the record replaced the old file whole");
    assert!(String::from_utf8_lossy(&stdout).starts_with("# Change record"));

    // A new file needs no --force.
    let fresh = dir.path().join("fresh.md");
    assert_eq!(patchdeck(&args(&["-o", fresh.to_str().unwrap()])).status.code(), Some(0));
    assert_eq!(fs::read(&fresh).unwrap(), stdout);
}

#[test]
fn baseline_capture_man_pages_and_the_log_never_replace_what_exists() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).to_str().unwrap().to_string();

    // Refused before any host is contacted (the runbook need not even load).
    fs::write(dir.path().join("runbook.toml"), "not even a runbook").unwrap();
    fs::write(dir.path().join("tested.toml"), "tested").unwrap();
    refused(&["baseline", "capture", &d("runbook.toml"), "-o", &d("runbook.toml"), "--force"], &["the runbook"]);
    refused(&["baseline", "capture", &d("runbook.toml"), "-o", &d("tested.toml")], &["already exists", "--force"]);
    assert_eq!(fs::read(dir.path().join("tested.toml")).unwrap(), b"tested");
    assert_eq!(fs::read(dir.path().join("runbook.toml")).unwrap(), b"not even a runbook");

    // Man pages: written once; again only with --force; nothing written when one exists.
    let man = d("man");
    let out = patchdeck(&["man", "--out-dir", &man]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let page = dir.path().join("man").join("patchdeck-report.1");
    let rendered = fs::read(&page).unwrap();
    fs::write(&page, "my edited page").unwrap();
    fs::remove_file(dir.path().join("man").join("patchdeck.1")).unwrap();
    refused(&["man", "--out-dir", &man], &["already exists", "--force"]);
    assert_eq!(fs::read(&page).unwrap(), b"my edited page");
    assert!(!dir.path().join("man").join("patchdeck.1").exists(), "no page is written unless all may be");
    let out = patchdeck(&["man", "--out-dir", &man, "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fs::read(&page).unwrap(), rendered);
    assert!(dir.path().join("man").join("patchdeck.1").exists());

    // The log is appended to, but never to a journal.
    let journal_path = dir.path().join("w.journal.jsonl");
    drop(engine_journal(&journal_path));
    let before = fs::read(&journal_path).unwrap();
    refused(&["--log", journal_path.to_str().unwrap(), "completions", "bash"], &["--log", "patchdeck journal"]);
    assert_eq!(fs::read(&journal_path).unwrap(), before);
}
