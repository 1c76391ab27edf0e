//! Integration tests: the host-side step runner over a real sshd on loopback (the "host" is
//! this machine, its runs directory a temporary one): a command outlives its ssh link and
//! its record tells how it ended; a timeout leaves nothing of it running.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use patchdeck::transport::ssh::{SshOptions, SshTransport};
use patchdeck::transport::{Command, Recovered, RunKey, RunWhat, Transport, TransportError, WindowKey};

use crate::support::require;
use crate::support::sshd::Sshd;

fn key(window: &str, attempt: u32) -> RunKey {
    RunKey { window: WindowKey::new(window, "digest", "host"), what: RunWhat::Step(0), attempt }
}

fn options(sshd: &Sshd, runs: &Path) -> SshOptions {
    SshOptions { runs_dir: runs.to_str().unwrap().to_string(), ..sshd.options() }
}

fn record(runs: &Path, k: &RunKey) -> PathBuf {
    runs.join(k.window.as_str()).join(k.name())
}

/// Waits (bounded) until `path` exists.
async fn wait_for(path: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(Instant::now() < deadline, "{what}: {} never appeared", path.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The process group a record names.
fn pgid(record: &Path) -> u32 {
    let pid = std::fs::read_to_string(record.join("pid")).unwrap();
    pid.split_whitespace().next().unwrap().parse().unwrap()
}

/// Processes of group `pgid` still running (zombies are not: this machine's init may never
/// reap them).
fn group_members(pgid: u32) -> Vec<String> {
    let mut found = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(") ") else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 2 && f[2] == pgid.to_string() && !matches!(f[0], "Z" | "X") {
            found.push(format!("{head})"));
        }
    }
    found
}

/// The link dies mid-run (sshd and every session under it killed, as a crashed sshd or a
/// cut network would): the command goes on to its end on the host, and once the host can be
/// reached again its record gives the real exit status and the output's tail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_outlives_its_link_and_its_record_tells_how_it_ended() {
    if !require::sshd() {
        return;
    }
    let runs = tempfile::tempdir().unwrap();
    let gate = runs.path().join("go");
    let mut sshd = Sshd::start();
    let t = SshTransport::new(options(&sshd, runs.path())).unwrap();
    let host = sshd.host();
    let k = key("link-lost", 1);
    let script = format!(
        "echo before; while [ ! -e '{}' ]; do sleep 0.1; done; echo after the link died; exit 5",
        gate.display()
    );
    let cmd = Command::shell(script, Duration::from_secs(60)).detached(k.clone());
    let running = async { t.exec(&host, &cmd).await };
    let kill_link = async {
        wait_for(&record(runs.path(), &k).join("pid"), "the run started").await;
        sshd.kill();
    };
    let (result, ()) = tokio::time::timeout(Duration::from_secs(60), async { tokio::join!(running, kill_link) })
        .await
        .expect("the lost link was noticed");
    assert!(matches!(result, Err(TransportError::ConnectionLost { .. })), "{result:?}");
    let pg = pgid(&record(runs.path(), &k));
    assert!(!group_members(pg).is_empty(), "the command died with its link");
    t.close().await;

    // The command ends on its own; the host is reachable again (a new sshd on this machine).
    std::fs::write(&gate, "").unwrap();
    wait_for(&record(runs.path(), &k).join("eof"), "the run ended").await;
    let sshd = Sshd::start();
    let t = SshTransport::new(options(&sshd, runs.path())).unwrap();
    let found = t.recover(&sshd.host(), &k).await.unwrap();
    eprintln!("recovered after the link died: {found:?}");
    match found {
        Recovered::Finished { output } => {
            assert_eq!(output.status, Some(5));
            assert_eq!(output.stdout_lossy(), "before\nafter the link died\n");
        }
        other => panic!("{other:?}"),
    }
    // A key never started on the host has no record.
    assert_eq!(t.recover(&sshd.host(), &key("link-lost", 2)).await.unwrap(), Recovered::Missing);
    assert_eq!(t.recover(&sshd.host(), &key("never-ran", 1)).await.unwrap(), Recovered::Missing);
    t.close().await;
}

/// A timeout ends the whole process group on the host (a child that ignores SIGTERM too),
/// then reports the timeout: nothing of the step is left running.
#[tokio::test]
async fn a_timeout_leaves_nothing_of_the_run_alive() {
    if !require::sshd() {
        return;
    }
    let runs = tempfile::tempdir().unwrap();
    let sshd = Sshd::start();
    let t = SshTransport::new(options(&sshd, runs.path())).unwrap();
    let k = key("timeout", 1);
    let script = "sleep 300 & trap '' TERM; echo started; sleep 300";
    let cmd = Command::shell(script, Duration::from_secs(3)).detached(k.clone());
    let started = Instant::now();
    let err = t.exec(&sshd.host(), &cmd).await.unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(30), "ended within the grace period");
    let rec = record(runs.path(), &k);
    let pg = pgid(&rec);
    assert_eq!(group_members(pg), Vec::<String>::new(), "process group {pg} outlived the timeout");
    assert!(rec.join("killed").exists());
    match t.recover(&sshd.host(), &k).await.unwrap() {
        Recovered::Finished { output } => {
            assert_eq!((output.status, output.stdout_lossy().as_str()), (None, "started\n"))
        }
        other => panic!("{other:?}"),
    }
    t.close().await;
}
