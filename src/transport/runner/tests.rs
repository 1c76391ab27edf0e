//! The runner's scripts run for real with `sh` on this machine (the local transport, a
//! temporary directory for the runs directory), and its parsers get garbage.

use std::time::{Duration, Instant};

use super::*;
use crate::transport::local::LocalTransport;

fn key(window: &str, what: RunWhat, attempt: u32) -> RunKey {
    RunKey { window: WindowKey::new(window, "digest", "host"), what, attempt }
}

struct Fixture {
    dir: tempfile::TempDir,
    t: LocalTransport,
    host: Host,
}

impl Fixture {
    /// A runs directory whose path a shell would misread if it were not quoted.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("runs $(touch pwned) 'q' `x`");
        let t = LocalTransport::new().with_runs_dir(base.to_str().unwrap());
        Self { dir, t, host: Host::named("h") }
    }

    fn base(&self) -> String {
        self.t.runs_dir().unwrap().to_string()
    }

    fn record(&self, key: &RunKey) -> std::path::PathBuf {
        std::path::Path::new(&self.base()).join(key.window.as_str()).join(key.name())
    }

    fn cmd(&self, script: &str, key: &RunKey, timeout: Duration) -> Command {
        Command::shell(script, timeout).detached(key.clone())
    }

    /// Polls the record until `done` holds for it (bounded).
    fn wait_for(&self, key: &RunKey, what: &str, done: impl Fn(&std::path::Path) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(&self.record(key)) {
            assert!(Instant::now() < deadline, "{what}: {:?}", std::fs::read_dir(self.record(key)).ok());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The process group in a record's `pid` file.
fn pgid(record: &std::path::Path) -> i32 {
    let pid = std::fs::read_to_string(record.join("pid")).unwrap();
    pid.split_whitespace().next().unwrap().parse().unwrap()
}

/// Does any process of group `pgid` still run (zombies do not: this machine's init may
/// never reap them)?
fn group_alive(pgid: i32) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let Some((_, rest)) = stat.rsplit_once(") ") else { return false };
        let f: Vec<&str> = rest.split_whitespace().collect();
        f.len() > 2 && f[2] == pgid.to_string() && !matches!(f[0], "Z" | "X")
    })
}

#[test]
fn keys_are_hex_and_numbers_whatever_the_names() {
    let w = WindowKey::new("win'; rm -rf / #", "$(id)", "host\n`x`");
    assert_eq!(w.as_str().len(), 16);
    assert!(w.as_str().bytes().all(|b| b.is_ascii_hexdigit()), "{w:?}");
    assert_ne!(w, WindowKey::new("win'; rm -rf / #", "$(id)", "other"), "the host is part of it");
    assert_ne!(WindowKey::new("ab", "c", "h"), WindowKey::new("a", "bc", "h"), "pieces are separated");
    let k = |what, attempt| RunKey { window: w.clone(), what, attempt }.name();
    assert_eq!(k(RunWhat::Step(3), 1), "step3-1");
    assert_eq!(k(RunWhat::Rollback(0), 2), "rollback0-2");
    assert_eq!(k(RunWhat::Repair, 4), "repair-4");
}

#[tokio::test]
async fn a_detached_command_reports_its_status_and_output_and_leaves_a_record() {
    let f = Fixture::new();
    let k = key("w1", RunWhat::Step(0), 1);
    // Hostile text in the command itself: it must reach the host's sh exactly as written.
    let script = "printf '%s\\n' \"it's $((6*7))\" 'a `b` $c'; echo to-stderr >&2; exit 7";
    let lines = std::sync::Mutex::new(Vec::new());
    let sink = |l: OutputLine| lines.lock().unwrap().push(l.text);
    let out = f.t.exec_streaming(&f.host, &f.cmd(script, &k, Duration::from_secs(20)), &sink).await.unwrap();
    assert_eq!(out.status, Some(7));
    assert_eq!(out.stdout_lossy(), "it's 42\na `b` $c\nto-stderr\n", "stdout and stderr, merged, in order");
    assert!(out.stderr.is_empty(), "the runner's own lines are not the command's: {:?}", out.stderr_lossy());
    let seen = lines.into_inner().unwrap();
    assert_eq!(seen, ["it's 42", "a `b` $c", "to-stderr"], "streamed as it ran, without the runner's markers");
    assert!(!f.dir.path().join("pwned").exists() && !std::path::Path::new("pwned").exists());

    use std::os::unix::fs::PermissionsExt;
    let record = f.record(&k);
    for dir in [record.parent().unwrap().parent().unwrap(), record.parent().unwrap(), &record] {
        assert_eq!(std::fs::metadata(dir).unwrap().permissions().mode() & 0o777, 0o700, "{}", dir.display());
    }
    assert_eq!(std::fs::read_to_string(record.join("command")).unwrap(), script);
    assert_eq!(std::fs::read_to_string(record.join("exit")).unwrap(), "7\n");

    match f.t.recover(&f.host, &k).await.unwrap() {
        Recovered::Finished { output } => {
            assert_eq!(output.status, Some(7));
            assert_eq!(output.stdout_lossy(), "it's 42\na `b` $c\nto-stderr\n");
            assert_eq!(output.stdout_cut, 0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.t.recover(&f.host, &key("w1", RunWhat::Step(0), 2)).await.unwrap(), Recovered::Missing);
    // A run is started once: the same key again is refused, and nothing runs.
    let again = f.t.exec(&f.host, &f.cmd("touch /tmp/pd-runner-must-not-run", &k, Duration::from_secs(20))).await;
    match again {
        Err(TransportError::Other { detail, .. }) => assert!(detail.contains("exists already"), "{detail}"),
        other => panic!("{other:?}"),
    }
    assert!(!std::path::Path::new("/tmp/pd-runner-must-not-run").exists());
}

/// The follower dies (its session is gone, as with a lost link); the command does not, and
/// its record tells how it ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_outlives_its_follower_and_is_recovered() {
    let f = Fixture::new();
    let k = key("w2", RunWhat::Step(1), 1);
    let marker = f.dir.path().join("go");
    let script = format!(
        "echo started; while [ ! -e {m} ]; do sleep 0.05; done; echo finished; exit 3",
        m = sh_quote(marker.to_str().unwrap())
    );
    let cmd = f.cmd(&script, &k, Duration::from_secs(60));
    let running = tokio::spawn({
        let (t, host) = (f.t.clone(), f.host.clone());
        async move { t.exec(&host, &cmd).await }
    });
    f.wait_for(&k, "the run recorded its process", |r| r.join("pid").exists());
    running.abort(); // drops the local follower (kill_on_drop): the "link" is gone
    let _ = running.await;
    let pg = pgid(&f.record(&k));
    assert!(group_alive(pg), "the command runs on without its follower");
    match f.t.recover(&f.host, &k).await.unwrap() {
        Recovered::Running { pid } => assert_eq!(pid as i32, pg),
        other => panic!("{other:?}"),
    }
    std::fs::write(&marker, "").unwrap();
    f.wait_for(&k, "the run ended", |r| r.join("eof").exists());
    match f.t.recover(&f.host, &k).await.unwrap() {
        Recovered::Finished { output } => {
            assert_eq!(output.status, Some(3));
            assert_eq!(output.stdout_lossy(), "started\nfinished\n");
        }
        other => panic!("{other:?}"),
    }
    // Re-attaching to a run that ended gives its whole (kept) output and status.
    let out = f.t.attach(&f.host, &k, Duration::from_secs(20), &crate::transport::stream::Discard).await.unwrap();
    assert_eq!((out.status, out.stdout_lossy().as_str()), (Some(3), "started\nfinished\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reattaching_follows_a_run_still_going_to_its_end() {
    let f = Fixture::new();
    let k = key("w3", RunWhat::Rollback(0), 1);
    let marker = f.dir.path().join("go");
    let script =
        format!("echo one; while [ ! -e {m} ]; do sleep 0.05; done; echo two", m = sh_quote(marker.to_str().unwrap()));
    let cmd = f.cmd(&script, &k, Duration::from_secs(60));
    let first = tokio::spawn({
        let (t, host) = (f.t.clone(), f.host.clone());
        async move { t.exec(&host, &cmd).await }
    });
    f.wait_for(&k, "started", |r| r.join("pid").exists());
    first.abort();
    let _ = first.await;
    let attached = tokio::spawn({
        let (t, host, k) = (f.t.clone(), f.host.clone(), k.clone());
        async move { t.attach(&host, &k, Duration::from_secs(30), &crate::transport::stream::Discard).await }
    });
    std::fs::write(&marker, "").unwrap();
    let out = attached.await.unwrap().unwrap();
    assert_eq!((out.status, out.stdout_lossy().as_str()), (Some(0), "one\ntwo\n"));
}

/// Issue 14: nothing is left running after a timeout: the whole process group (a
/// background child too) is ended, and the record says it was killed.
#[tokio::test]
async fn a_timeout_ends_the_whole_process_group() {
    let f = Fixture::new();
    let k = key("w4", RunWhat::Step(2), 1);
    let script = "sleep 300 & echo child $!; trap '' TERM; sleep 300";
    let err = f.t.exec(&f.host, &f.cmd(script, &k, Duration::from_secs(2))).await.unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err:?}");
    let record = f.record(&k);
    let pg = pgid(&record);
    assert!(!group_alive(pg), "process group {pg} still has processes after the timeout");
    assert!(record.join("killed").exists());
    match f.t.recover(&f.host, &k).await.unwrap() {
        Recovered::Finished { output } => {
            assert_eq!(output.status, None, "killed, not exited");
            assert!(output.stdout_lossy().starts_with("child "), "{:?}", output.stdout_lossy());
        }
        other => panic!("{other:?}"),
    }
}

/// A host that keeps a run's output keeps only its newest chunks, and says how much there was.
#[tokio::test]
async fn output_on_the_host_is_capped_to_its_newest_chunks() {
    let f = Fixture::new();
    let k = key("w5", RunWhat::Step(0), 1);
    let total = 5 * CHUNK_BYTES + 120; // whole lines of 8 bytes
    let script = format!("yes abcdefg | head -c {total}; echo last line");
    let out = f.t.exec(&f.host, &f.cmd(&script, &k, Duration::from_secs(120))).await.unwrap();
    assert_eq!(out.status, Some(0));
    assert!(out.stdout_lossy().ends_with("abcdefg\nlast line\n"));
    let all = total + "last line\n".len() as u64;
    let chunks: Vec<u64> = std::fs::read_dir(f.record(&k))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("out."))
        .map(|e| e.metadata().unwrap().len())
        .collect();
    assert_eq!(out.stdout_cut + out.stdout.len() as u64, all, "what the follower skipped is counted as cut");
    assert!(chunks.len() <= 2 && chunks.iter().sum::<u64>() <= 2 * CHUNK_BYTES, "{chunks:?}");
    match f.t.recover(&f.host, &k).await.unwrap() {
        Recovered::Finished { output } => {
            assert_eq!(output.stdout.len() as u64, RECOVER_BYTES);
            assert_eq!(output.stdout_cut + RECOVER_BYTES, all, "the count of what was not brought back is exact");
            assert!(output.stdout_lossy().ends_with("abcdefg\nlast line\n"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_removes_the_windows_records_but_not_a_run_still_going() {
    let f = Fixture::new();
    let (done, going) = (key("w6", RunWhat::Step(0), 1), key("w6", RunWhat::Step(1), 1));
    let other = key("w7", RunWhat::Step(0), 1);
    f.t.exec(&f.host, &f.cmd("true", &done, Duration::from_secs(20))).await.unwrap();
    f.t.exec(&f.host, &f.cmd("true", &other, Duration::from_secs(20))).await.unwrap();
    let cmd = f.cmd("sleep 300", &going, Duration::from_secs(300));
    let running = tokio::spawn({
        let (t, host) = (f.t.clone(), f.host.clone());
        async move { t.exec(&host, &cmd).await }
    });
    f.wait_for(&going, "started", |r| r.join("pid").exists());
    f.t.clean_runs(&f.host, &done.window).await.unwrap();
    assert!(!f.record(&done).exists());
    assert!(f.record(&going).exists(), "a run still going keeps its record");
    assert!(f.record(&other).exists(), "another window's records are not touched");
    assert!(runner::kill(&f.t, &f.host, &going, &f.base()).await.unwrap());
    let _ = running.await;
    f.t.clean_runs(&f.host, &done.window).await.unwrap();
    assert!(!f.record(&going).parent().unwrap().exists(), "the window's directory goes with its last record");
}

use crate::transport::runner;

/// `pd_alive` never says yes for pid 0 or 1 (a group signal to those hits everything), for a
/// leading zero, another boot, or a leader that is a later process with the same pid.
#[test]
fn the_liveness_check_refuses_what_it_must_never_signal() {
    let me = std::process::id();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let boot = boot.trim();
    let start = std::fs::read_to_string(format!("/proc/{me}/stat")).unwrap();
    let start = start.rsplit_once(") ").unwrap().1.split_whitespace().nth(19).unwrap().to_string();
    // A process group of its own whose leader lives while the test runs, as a run's does
    // (the test harness's own group leader may be gone, depending on who started it).
    use std::os::unix::process::CommandExt;
    let mut leader = std::process::Command::new("sleep").arg("60").process_group(0).spawn().unwrap();
    let pg = leader.id();
    let alive = |args: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{ALIVE_FN}if pd_alive {args}; then echo yes; else echo no; fi"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let pg_start = std::fs::read_to_string(format!("/proc/{pg}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| r.split_whitespace().nth(19).unwrap().to_string()))
        .unwrap_or_default();
    assert_eq!(alive(&format!("{pg} '{boot}' {pg_start}")), "yes", "our own group is alive");
    assert_eq!(alive(&format!("{pg} '{boot}' 1")), "no", "a leader started at another time is not ours");
    assert_eq!(alive(&format!("{pg} other-boot {pg_start}")), "no");
    for never in ["1", "0", "01", "-1", "''", "1x"] {
        assert_eq!(alive(&format!("{never} '{boot}' {start}")), "no", "{never}");
    }
    leader.kill().unwrap();
    leader.wait().unwrap();
}

#[test]
fn records_parse_and_garbage_is_inconsistent_never_a_panic() {
    let rec = |body: &str| parse_record(format!("{RECORD_MAGIC}\n{body}").as_bytes());
    assert_eq!(rec("state missing\n"), Recovered::Missing);
    match rec("state present\npid 4242 b 9\nalive no\nexit 0\ntotal 12\noutput\nhello\nworld\n") {
        Recovered::Finished { output } => {
            assert_eq!(
                (output.status, output.stdout_lossy().as_str(), output.stdout_cut),
                (Some(0), "hello\nworld\n", 0)
            )
        }
        other => panic!("{other:?}"),
    }
    match rec("state present\npid 4242 b 9\nalive no\nexit 100\ntotal 1000\noutput\nE: fail\n") {
        Recovered::Finished { output } => assert_eq!((output.status, output.stdout_cut), (Some(100), 992)),
        other => panic!("{other:?}"),
    }
    assert_eq!(rec("state present\npid 4242 b 9\nalive yes\ntotal 0\noutput\n"), Recovered::Running { pid: 4242 });
    assert!(matches!(
        rec("state present\npid 4242 b 9\nalive no\nkilled yes\ntotal 0\noutput\n"),
        Recovered::Finished { output } if output.status.is_none()
    ));
    // Gone without a status: killed with the host.
    match rec("state present\npid 4242 b 9\nalive no\ntotal 5\noutput\nhalf\n") {
        Recovered::Inconsistent { detail } => assert!(detail.contains("no exit status"), "{detail}"),
        other => panic!("{other:?}"),
    }
    let garbage: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\xff\xfe".to_vec(),
        b"hello\n".to_vec(),
        b"patchdeck-run-record 2\nstate missing\n".to_vec(),
        format!("{RECORD_MAGIC}\n").into_bytes(),
        format!("{RECORD_MAGIC}\nstate present\n").into_bytes(),
        format!("{RECORD_MAGIC}\nstate present\npid 1 b 2\nalive yes\n").into_bytes(),
        format!("{RECORD_MAGIC}\nstate present\nexit 9999\n").into_bytes(),
        format!("{RECORD_MAGIC}\nstate present\nexit -1\n").into_bytes(),
        format!("{RECORD_MAGIC}\nstate present\nexit \x1b[2J\n").into_bytes(),
        format!("{RECORD_MAGIC}\nstate present\nrm -rf /\n").into_bytes(),
        format!("{RECORD_MAGIC}\nstate present\npid x\nalive maybe\n").into_bytes(),
    ];
    for g in &garbage {
        let got = parse_record(g);
        assert!(matches!(got, Recovered::Inconsistent { .. }), "{:?} -> {got:?}", String::from_utf8_lossy(g));
        if let Recovered::Inconsistent { detail } = got {
            assert!(!detail.contains('\u{1b}'));
        }
    }
}

#[test]
fn the_followers_last_word_gives_the_status() {
    let host = Host::named("h");
    let k = key("w", RunWhat::Step(0), 1);
    let out = |stderr: &str| Output::whole(Some(0), b"out\n".to_vec(), stderr.as_bytes().to_vec());
    let ok = finish(&host, out("patchdeck-run started 1 b 2\nreal stderr\npatchdeck-run exit 42\n"), &k).unwrap();
    assert_eq!((ok.status, ok.stderr_lossy().as_str()), (Some(42), "real stderr\n"));
    assert_eq!(finish(&host, out("patchdeck-run killed\n"), &k).unwrap().status, None);
    for (stderr, says) in [
        ("patchdeck-run error /x exists already: this run was started before\n", "exists already"),
        ("patchdeck-run exit 300\n", "unreadable"),
        ("patchdeck-run exit \u{1b}]0;x\n", "unreadable"),
    ] {
        match finish(&host, out(stderr), &k) {
            Err(TransportError::Other { detail, .. }) => {
                assert!(detail.contains(says), "{stderr:?}: {detail}");
                assert!(!detail.contains('\u{1b}'));
            }
            other => panic!("{stderr:?}: {other:?}"),
        }
    }
    // No last word at all: the follower or its link died (a host powered off can close the
    // session before the ssh master notices, and ssh's own 255 then looks like an exit
    // code): a lost connection, so the engine reads the host's record.
    // The follower saw the run's processes die with no status recorded: the record is read
    // again the same way (it then says the outcome is unknown), never "unreachable".
    for (status, stderr, says) in [
        (Some(255), "", "without the command's status"),
        (Some(0), "sh: 1: cannot create\n", "without the command's status"),
        (None, "\u{1b}]0;x\n", "without the command's status"),
        (Some(0), "patchdeck-run lost\n", "without recording an exit status"),
    ] {
        let gone = Output::whole(status, Vec::new(), stderr.as_bytes().to_vec());
        match finish(&host, gone, &k) {
            Err(TransportError::ConnectionLost { detail, .. }) => {
                assert!(detail.contains(says), "{stderr:?}: {detail}");
                assert!(!detail.contains('\u{1b}'));
            }
            other => panic!("{stderr:?}: {other:?}"),
        }
    }
}

#[test]
fn systemd_is_used_only_where_it_runs_the_host() {
    let s = launch_script(RUNS_DIR, &key("w", RunWhat::Step(0), 1), "true");
    assert!(s.contains("if [ -d /run/systemd/system ] && command -v systemd-run"), "{s}");
    assert!(s.contains("systemd-run --scope --quiet --collect --unit=patchdeck-"), "{s}");
    assert!(s.contains("command -v setsid") && s.contains("POSIX::setsid"), "a fallback without util-linux");
}
