//! Integration tests: transport, against a real sshd on loopback and the real `ssh` client.
//!
//! Every test is bounded by [`within`], so a regression shows up as a failure, not a hang.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use patchdeck::inventory::Host;
use patchdeck::transport::local::LocalTransport;
use patchdeck::transport::pool;
use patchdeck::transport::ssh::{SshOptions, SshTransport};
use patchdeck::transport::{Command, OutputLine, Stream, Transport, TransportError};

use crate::support::require;
use crate::support::sshd::{Sshd, free_port, loopback_address, processes_matching, processes_running};

/// Fails the test if `f` takes longer than `secs`.
async fn within<T>(secs: u64, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f).await.unwrap_or_else(|_| panic!("test hung past {secs}s"))
}

fn cmd(script: &str) -> Command {
    Command::shell(script, Duration::from_secs(20))
}

/// A script full of what breaks naive quoting: both quote kinds, `$`, backquotes,
/// backslashes, newlines inside quotes, and a lone `'`.
const TRICKY: &str = "x='a'\"'\"'b'\nprintf '%s|%s|%s\\n' \"$x\" '$HOME `id` \\n' \"line1\nline2\"\necho \"it's\"";
const TRICKY_OUT: &str = "a'b|$HOME `id` \\n|line1\nline2\nit's\n";

/// Runs `f` against a fresh sshd and transport, then closes the transport.
async fn with_ssh<F, Fut>(f: F)
where
    F: FnOnce(Arc<SshTransport>, Host) -> Fut,
    Fut: Future<Output = ()>,
{
    if !require::sshd() {
        return;
    }
    let sshd = Sshd::start();
    let transport = Arc::new(SshTransport::new(sshd.options()).unwrap());
    within(60, f(transport.clone(), sshd.host())).await;
    within(10, transport.close()).await;
}

#[tokio::test]
async fn ssh_exec_returns_stdout_stderr_and_exit_code() {
    with_ssh(|t, host| async move {
        let out = t.exec(&host, &cmd("echo out; echo err >&2; exit 7")).await.unwrap();
        assert_eq!(out.status, Some(7));
        assert_eq!(out.stdout_lossy(), "out\n");
        assert_eq!(out.stderr_lossy(), "err\n");

        let out = t.exec(&host, &cmd("whoami")).await.unwrap();
        assert!(out.success());
        assert_eq!(out.stdout_lossy(), "root\n");

        // ssh itself uses 255 and openssh turns 127 into an error: both must come back as
        // plain exit codes when the command really exited so.
        assert_eq!(t.exec(&host, &cmd("exit 255")).await.unwrap().status, Some(255));
        assert_eq!(t.exec(&host, &cmd("no-such-command-pd")).await.unwrap().status, Some(127));
        // The script's stdin is /dev/null: a command waiting for input cannot hang a window.
        assert_eq!(t.exec(&host, &cmd("cat; echo done")).await.unwrap().stdout_lossy(), "done\n");
    })
    .await;
}

#[tokio::test]
async fn ssh_quoting_survives_exactly() {
    with_ssh(|t, host| async move {
        let out = t.exec(&host, &cmd(TRICKY)).await.unwrap();
        assert_eq!(out.stderr_lossy(), "");
        assert_eq!(out.stdout_lossy(), TRICKY_OUT);
        // The same script locally gives the same bytes: no transport-specific quoting.
        let local = LocalTransport::new().exec(&Host::named("localhost"), &cmd(TRICKY)).await.unwrap();
        assert_eq!(local.stdout, out.stdout);
    })
    .await;
}

/// A `sudo` first on the remote PATH that records each call (its arguments, one line) in
/// `log`, then runs the command as the real one would for root.
fn sudo_shim(bin: &std::path::Path, log: &std::path::Path) {
    let shim = bin.join("sudo");
    let script =
        format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n[ \"$1\" = -n ] && shift\nexec \"$@\"\n", log.display());
    std::fs::write(&shim, script).unwrap();
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn ssh_needs_root_as_root_skips_sudo() {
    if !require::sshd() {
        return;
    }
    let bin = tempfile::tempdir().unwrap();
    let calls = bin.path().join("sudo-calls");
    sudo_shim(bin.path(), &calls);
    let sshd = Sshd::start_with(&format!("SetEnv PATH={}:/usr/sbin:/usr/bin:/sbin:/bin\n", bin.path().display()));
    let t = SshTransport::new(sshd.options()).unwrap();
    let mut host = sshd.host();
    host.sudo = true;
    // The shim is what a remote `sudo` finds: called on purpose, it records the call.
    let out = within(20, t.exec(&host, &cmd("sudo -n true"))).await.unwrap();
    assert!(out.success(), "{}", out.stderr_lossy());
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "-n true\n", "the shim is first on the remote PATH");
    std::fs::remove_file(&calls).unwrap();

    // We log in as root: a command that needs root runs as it is, without sudo.
    let mut c = cmd("id -u");
    c.needs_root = true;
    let out = within(20, t.exec(&host, &c)).await.unwrap();
    assert_eq!((out.status, out.stdout_lossy()), (Some(0), "0\n".to_string()), "{}", out.stderr_lossy());
    let called = std::fs::read_to_string(&calls).unwrap_or_default();
    assert_eq!(called, "", "sudo was called for a root login");
    within(10, t.close()).await;
}

#[tokio::test]
async fn ssh_many_concurrent_commands_share_one_master() {
    with_ssh(|t, host| async move {
        let runs = (0..30).map(|i| {
            let (t, host) = (t.clone(), host.clone());
            async move { t.exec(&host, &cmd(&format!("sleep 0.2; echo {i}"))).await }
        });
        let results = futures::future::join_all(runs).await;
        for (i, r) in results.into_iter().enumerate() {
            let out = r.unwrap_or_else(|e| panic!("command {i}: {e}"));
            assert_eq!(out.stdout_lossy(), format!("{i}\n"));
        }
        let masters = processes_matching(&format!("{}/", t.control_dir().display()))
            .into_iter()
            .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.contains("-M")))
            .count();
        assert_eq!(masters, 1, "one master per host");
    })
    .await;
}

/// Streams a command that prints `a` (stdout) and `e` (stderr), then waits for a gate file
/// that the test creates only once both lines have reached the sink, then prints `b`. So the
/// command cannot end before its first lines were delivered, unless they were not streamed
/// at all (then it gives up waiting after 30 s and the test fails): ordering, not timing.
async fn first_lines_arrive_while_the_command_runs(t: &dyn Transport, host: &Host) {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let script = format!(
        "echo a; echo e >&2; i=0\nwhile [ ! -e '{}' ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\necho b",
        gate.display()
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sink = move |l: OutputLine| {
        let _ = tx.send(l);
    };
    let command = cmd(&script);
    let exec = t.exec_streaming(host, &command, &sink);
    tokio::pin!(exec);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        tokio::select! {
            out = &mut exec => panic!("the command ended before its first lines were streamed: {out:?}, saw {seen:?}"),
            Some(l) = rx.recv() => seen.push(l),
        }
    }
    seen.sort_by_key(|l: &OutputLine| l.text.clone());
    let tagged: Vec<(Stream, &str)> = seen.iter().map(|l| (l.stream, l.text.as_str())).collect();
    assert_eq!(tagged, [(Stream::Stdout, "a"), (Stream::Stderr, "e")]);
    std::fs::write(&gate, "").unwrap();
    let out = exec.await.unwrap();
    // The returned output is whole, as with `exec`.
    assert_eq!((out.status, out.stdout_lossy(), out.stderr_lossy()), (Some(0), "a\nb\n".into(), "e\n".into()));
    let last = rx.try_recv().expect("the last line is streamed too");
    assert_eq!((last.stream, last.text.as_str()), (Stream::Stdout, "b"));
}

#[tokio::test]
async fn ssh_streams_lines_while_the_command_runs() {
    with_ssh(|t, host| async move {
        first_lines_arrive_while_the_command_runs(t.as_ref(), &host).await;
        // Streaming keeps the timeout: a command that prints, then hangs, is still cut off.
        let lines = std::sync::Mutex::new(Vec::new());
        let sink = |l: OutputLine| lines.lock().unwrap().push(l.text);
        let hang = Command::shell("echo started; sleep 31.4159", Duration::from_secs(1));
        let err = t.exec_streaming(&host, &hang, &sink).await.unwrap_err();
        assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
        assert_eq!(*lines.lock().unwrap(), ["started"]);
    })
    .await;
}

#[tokio::test]
async fn local_streams_lines_while_the_command_runs() {
    let t = LocalTransport::new();
    within(60, first_lines_arrive_while_the_command_runs(&t, &Host::named("localhost"))).await;
}

#[tokio::test]
async fn ssh_timeout_is_enforced_and_kills_the_remote_command() {
    with_ssh(|t, host| async move {
        // A distinctive argument so we can find the remote process on this machine.
        let marker = "29.7131";
        let started = Instant::now();
        let err = t.exec(&host, &Command::shell(format!("sleep {marker}"), Duration::from_secs(1))).await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
        assert!(took < Duration::from_secs(3), "timeout took {took:?}");
        assert!(err.to_string().contains("sleep 29.7131"), "{err}");

        let deadline = Instant::now() + Duration::from_secs(4);
        while !processes_running(&["sleep", marker]).is_empty() {
            if Instant::now() >= deadline {
                let ps =
                    std::process::Command::new("ps").args(["-eo", "pid,ppid,pgid,sid,stat,args"]).output().unwrap();
                panic!("remote `sleep {marker}` survived its session:\n{}", String::from_utf8_lossy(&ps.stdout));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The connection is still good afterwards.
        assert!(t.exec(&host, &cmd("true")).await.unwrap().success());
    })
    .await;
}

#[tokio::test]
async fn ssh_close_leaves_no_master_behind() {
    if !require::sshd() {
        return;
    }
    let sshd = Sshd::start();
    let t = SshTransport::new(sshd.options()).unwrap();
    let dir = format!("{}/", t.control_dir().display());
    within(20, t.exec(&sshd.host(), &cmd("true"))).await.unwrap();
    assert!(!processes_matching(&dir).is_empty(), "a master should be running under {dir}");
    within(10, t.close()).await;
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = processes_matching(&dir);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "ssh processes left after close(): {left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let control_dir = t.control_dir().to_path_buf();
    drop(t);
    assert!(!control_dir.exists(), "control dir removed on drop");
}

#[tokio::test]
async fn ssh_killed_server_is_connection_lost_not_an_exit_code() {
    if !require::sshd() {
        return;
    }
    let mut sshd = Sshd::start();
    let host = sshd.host();
    let t = Arc::new(SshTransport::new(sshd.options()).unwrap());
    within(20, t.exec(&host, &cmd("true"))).await.unwrap();
    // A distinctive argument, to see the command running on the host before the host dies.
    let marker = "23.4561";
    let running = {
        let (t, host) = (t.clone(), host.clone());
        tokio::spawn(
            async move { t.exec(&host, &Command::shell(format!("sleep {marker}"), Duration::from_secs(30))).await },
        )
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while processes_running(&["sleep", marker]).is_empty() {
        assert!(!running.is_finished(), "the command ended before it was seen running: {:?}", running.await);
        assert!(Instant::now() < deadline, "the remote command never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sshd.kill();
    let started = Instant::now();
    let err = within(15, running).await.unwrap().unwrap_err();
    // The command had started: its connection was lost under it, which is not "unreachable"
    // (that says nothing ran) and not an exit code.
    assert!(matches!(err, TransportError::ConnectionLost { .. }), "got {err:?}");
    assert_eq!(err.host(), host.name);
    assert!(started.elapsed() < Duration::from_secs(10), "noticed after {:?}", started.elapsed());
    // The next command tries a new connection and says the host is unreachable.
    let err = within(15, t.exec(&host, &cmd("true"))).await.unwrap_err();
    assert!(matches!(err, TransportError::Unreachable { .. }), "got {err:?}");
    within(10, t.close()).await;
}

/// Runs `true` on `host` with `options`, expecting a failure; returns it and how long it took.
async fn connect_failure(options: SshOptions, host: &Host) -> (TransportError, Duration) {
    let t = SshTransport::new(options).unwrap();
    let started = Instant::now();
    let result = within(20, t.exec(host, &cmd("true"))).await;
    let took = started.elapsed();
    within(10, t.close()).await;
    (result.expect_err("connecting should fail"), took)
}

#[tokio::test]
async fn ssh_connect_failures_are_distinct_and_fast() {
    if !require::sshd() {
        return;
    }
    let sshd = Sshd::start();
    let nobody = loopback_address();
    let mut closed = Host::named("closed-port");
    closed.address = nobody.to_string();
    closed.port = Some(free_port(nobody));

    let empty_known_hosts = tempfile::NamedTempFile::new().unwrap();
    let cases = [
        ("unreachable", sshd.options(), closed),
        ("auth", SshOptions { identity_file: Some(sshd.unauthorized_key()), ..sshd.options() }, sshd.host()),
        (
            "unknown key",
            SshOptions { user_known_hosts_file: Some(empty_known_hosts.path().to_path_buf()), ..sshd.options() },
            sshd.host(),
        ),
        (
            "changed key",
            SshOptions { user_known_hosts_file: Some(sshd.wrong_known_hosts()), ..sshd.options() },
            sshd.host(),
        ),
    ];
    let mut messages = Vec::new();
    for (case, options, host) in cases {
        let timeout = options.connect_timeout;
        let (err, took) = connect_failure(options, &host).await;
        let ok = match case {
            "unreachable" => matches!(err, TransportError::Unreachable { .. }),
            "auth" => matches!(err, TransportError::AuthRefused { .. }),
            "unknown key" => matches!(err, TransportError::HostKeyUnknown { .. }),
            "changed key" => matches!(err, TransportError::HostKeyChanged { .. }),
            _ => unreachable!(),
        };
        assert!(ok, "{case}: got {err:?}");
        assert!(took < timeout, "{case} took {took:?}, past the connect timeout");
        assert_eq!(err.host(), host.name);
        // The operator-facing text without the host name must differ between causes.
        messages.push(err.to_string().replacen(&host.name, "", 1));
        eprintln!("{case}: {err}");
    }
    for (i, a) in messages.iter().enumerate() {
        for b in &messages[i + 1..] {
            assert_ne!(a.split('(').next(), b.split('(').next(), "messages too alike: {a} / {b}");
        }
    }
}

#[tokio::test]
async fn ssh_unresolvable_name_is_unreachable() {
    if !require::sshd() {
        return;
    }
    let sshd = Sshd::start();
    let host = Host::named("no-such-host.invalid");
    let (err, _) = connect_failure(sshd.options(), &host).await;
    assert!(matches!(err, TransportError::Unreachable { .. }), "{err:?}");
}

#[tokio::test]
async fn local_exec_returns_output_and_exit_code() {
    let t = LocalTransport::new();
    let host = Host::named("localhost");
    let out = within(20, t.exec(&host, &cmd("echo out; echo err >&2; exit 7"))).await.unwrap();
    assert_eq!((out.status, out.stdout_lossy(), out.stderr_lossy()), (Some(7), "out\n".into(), "err\n".into()));
    let out = within(20, t.exec(&host, &cmd(TRICKY))).await.unwrap();
    assert_eq!(out.stdout_lossy(), TRICKY_OUT);
    // Killed by a signal: no exit code.
    let out = within(20, t.exec(&host, &cmd("kill -KILL $$"))).await.unwrap();
    assert_eq!(out.status, None);
    // Root already: needs_root runs without sudo.
    if require::root() {
        let mut c = cmd("id -u");
        c.needs_root = true;
        let out = within(20, t.exec(&Host { sudo: true, ..host.clone() }, &c)).await.unwrap();
        assert_eq!(out.stdout_lossy(), "0\n");
    }
    t.close().await;
}

#[tokio::test]
async fn local_timeout_kills_the_whole_process_group() {
    let t = LocalTransport::new();
    let marker = "27.3917";
    let started = Instant::now();
    let script = format!("sleep {marker} & sleep {marker}; wait");
    let err = within(10, t.exec(&Host::named("localhost"), &Command::shell(script, Duration::from_secs(1))))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let deadline = Instant::now() + Duration::from_secs(3);
    while !processes_running(&["sleep", marker]).is_empty() {
        assert!(Instant::now() < deadline, "a child of the timed-out script survived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn pool_runs_commands_in_host_order_within_the_limit() {
    const LIMIT: usize = 3;
    let t = LocalTransport::new();
    let hosts: Vec<Host> = (0..12).map(|i| Host::named(format!("h{i:02}"))).collect();
    let now = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let mut progress = Vec::new();
    let results = within(
        30,
        pool::for_each_host_with_progress(
            &hosts,
            LIMIT,
            |host| {
                let (t, now, peak) = (&t, &now, &peak);
                async move {
                    peak.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    let n: usize = host.name[1..].parse().unwrap();
                    // The first LIMIT hosts wait for each other: the pool must run that many
                    // at once (a pool running fewer leaves them waiting, and fails here).
                    if n < LIMIT {
                        let deadline = Instant::now() + Duration::from_secs(10);
                        while now.load(Ordering::SeqCst) < LIMIT {
                            assert!(
                                Instant::now() < deadline,
                                "{}: fewer than {LIMIT} hosts ever ran at once",
                                host.name
                            );
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                    // Earlier hosts take longer, so they finish out of order.
                    let script = format!("sleep 0.{}; echo {}", 12 - n, host.name);
                    let out = t.exec(&host, &cmd(&script)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    out
                }
            },
            |p| progress.push((p.done, p.total, p.host.name.clone())),
        ),
    )
    .await;
    assert_eq!(
        results.iter().map(|(h, _)| h.name.clone()).collect::<Vec<_>>(),
        hosts.iter().map(|h| h.name.clone()).collect::<Vec<_>>()
    );
    for (host, out) in &results {
        assert_eq!(out.as_ref().unwrap().stdout_lossy(), format!("{}\n", host.name));
    }
    // Exactly the limit at the busiest moment: never more, and the limit really used.
    assert_eq!(peak.load(Ordering::SeqCst), LIMIT, "peak concurrency");
    assert_eq!(progress.len(), 12);
    assert_eq!(progress.iter().map(|p| p.0).collect::<Vec<_>>(), (1..=12).collect::<Vec<_>>());
    assert!(progress.iter().all(|p| p.1 == 12));
    // Finishing order is not host order (h00 takes longest), yet results came back in host order.
    assert_ne!(
        progress.iter().map(|p| p.2.clone()).collect::<Vec<_>>(),
        results.iter().map(|(h, _)| h.name.clone()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn ssh_more_sessions_than_the_server_allows_is_an_error_not_exit_255() {
    if !require::sshd() {
        return;
    }
    let sshd = Sshd::start(); // MaxSessions 10
    let t = Arc::new(SshTransport::new(SshOptions { sessions_per_host: 16, ..sshd.options() }).unwrap());
    let host = sshd.host();
    let runs = (0..16).map(|i| {
        let (t, host) = (t.clone(), host.clone());
        async move { t.exec(&host, &cmd(&format!("sleep 1; echo {i}"))).await }
    });
    let results = within(30, futures::future::join_all(runs)).await;
    let refused = results.iter().filter(|r| matches!(r, Err(TransportError::Other { .. }))).count();
    for r in &results {
        match r {
            Ok(out) => assert!(out.success(), "{out:?}"),
            Err(e) => assert!(e.to_string().contains("MaxSessions"), "{e}"),
        }
    }
    assert!(refused > 0, "sshd should have refused some of 16 sessions");
    within(10, t.close()).await;
}

#[tokio::test]
async fn ssh_silent_server_fails_within_the_connect_timeout() {
    if !require::ssh_client() {
        return;
    }
    // Accepts TCP but never speaks SSH: only ConnectTimeout (banner exchange) can end this.
    let addr = loopback_address();
    let listener = std::net::TcpListener::bind((addr, 0)).unwrap();
    let mut host = Host::named("silent");
    host.address = addr.to_string();
    host.port = Some(listener.local_addr().unwrap().port());
    let options = SshOptions { connect_timeout: Duration::from_secs(2), ..SshOptions::default() };
    let (err, took) = connect_failure(options, &host).await;
    assert!(matches!(err, TransportError::Unreachable { .. } | TransportError::Timeout { .. }), "got {err:?}");
    assert!(took < Duration::from_secs(5), "took {took:?} with a 2s connect timeout");
    drop(listener);
}

#[tokio::test]
async fn ssh_reconnects_after_the_master_expired() {
    if !require::sshd() {
        return;
    }
    let sshd = Sshd::start();
    let t = SshTransport::new(SshOptions { control_persist: Duration::from_secs(2), ..sshd.options() }).unwrap();
    let host = sshd.host();
    let dir = format!("{}/", t.control_dir().display());
    within(20, t.exec(&host, &cmd("true"))).await.unwrap();
    // ControlPersist=2s: the idle master exits by itself (what bounds masters of a crashed run).
    let deadline = Instant::now() + Duration::from_secs(8);
    while !processes_matching(&dir).is_empty() {
        assert!(Instant::now() < deadline, "idle master did not exit after ControlPersist");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The next command notices and opens a new master instead of reporting a lost connection.
    let out = within(20, t.exec(&host, &cmd("echo again"))).await.unwrap();
    assert_eq!(out.stdout_lossy(), "again\n");
    within(10, t.close()).await;
}

#[tokio::test]
async fn ssh_master_gone_between_commands_reconnects_without_error() {
    if !require::sshd() {
        return;
    }
    let sshd = Sshd::start();
    let t = SshTransport::new(sshd.options()).unwrap();
    let host = sshd.host();
    within(20, t.exec(&host, &cmd("true"))).await.unwrap();
    // Kill our master behind the transport's back (as an OOM killer or `ssh -O exit` would):
    // the next command finds no master, never starts, and is retried on a new connection.
    let dir = format!("{}/", t.control_dir().display());
    let masters = processes_matching(&dir);
    assert_eq!(masters.len(), 1, "{masters:?}");
    let killed = masters[0];
    let status = std::process::Command::new("kill").arg("-KILL").arg(killed.to_string()).status().unwrap();
    assert!(status.success(), "kill -KILL {killed}: {status}");
    // Gone for real (a zombie has no command line, so it no longer matches) before going on.
    let deadline = Instant::now() + Duration::from_secs(5);
    while processes_matching(&dir).contains(&killed) {
        assert!(Instant::now() < deadline, "the master {killed} survived kill -KILL");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = within(20, t.exec(&host, &cmd("echo fresh"))).await.unwrap();
    assert_eq!(out.stdout_lossy(), "fresh\n");
    let now = processes_matching(&dir);
    assert!(now.len() == 1 && now[0] != killed, "a new master, not the killed one: {now:?}");
    within(10, t.close()).await;
}

/// Issue 14.6: a command's output is kept as a bounded tail plus an exact count, over ssh
/// and locally; a local command's whole output is in its capped file.
async fn a_long_output_keeps_its_tail_and_counts_the_rest(t: &dyn Transport, host: &Host) {
    // 40 000 numbered lines of 16 bytes: 640 000 bytes, well past the kept tail.
    let script = "i=0; while [ $i -lt 40000 ]; do printf 'line %010d\\n' $i; i=$((i+1)); done; echo bye >&2";
    let out = t.exec(host, &Command::shell(script, Duration::from_secs(60))).await.unwrap();
    let kept = patchdeck::transport::stream::KEPT_BYTES;
    assert!(out.stdout.len() <= kept && out.stdout.len() >= kept - 16, "kept {}", out.stdout.len());
    assert_eq!(out.stdout.len() as u64 + out.stdout_cut, 640_000, "every byte counted");
    assert!(out.stdout_lossy().ends_with("line 0000039999\n"), "the newest lines are kept");
    assert!(out.stdout_lossy().starts_with("line "), "the tail starts at a line");
    assert_eq!((out.stderr_lossy().as_str(), out.stderr_cut), ("bye\n", 0));
    let note = out.cut_note().unwrap();
    assert!(note.starts_with(&format!("\u{2026} {} kB earlier output not kept", out.stdout_cut / 1000)), "{note}");
}

#[tokio::test]
async fn ssh_keeps_a_bounded_tail_of_long_output() {
    with_ssh(|t, host| async move { a_long_output_keeps_its_tail_and_counts_the_rest(t.as_ref(), &host).await }).await;
}

#[tokio::test]
async fn local_keeps_a_bounded_tail_and_the_whole_output_in_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("w.journal.jsonl.output");
    let t = LocalTransport::new().with_output_dir(&out_dir);
    let host = Host::named("(operator)");
    within(60, a_long_output_keeps_its_tail_and_counts_the_rest(&t, &host)).await;
    let out = within(60, t.exec(&host, &cmd("seq 1 100000; echo done >&2"))).await.unwrap();
    let file = out.saved_to.clone().expect("a file");
    assert!(file.starts_with(&out_dir), "{}", file.display());
    let whole = std::fs::read_to_string(&file).unwrap();
    let want: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    assert_eq!(whole.replace("done\n", ""), want, "the file holds every byte, the tail only the end");
    assert!(out.cut_note().unwrap().contains(&file.display().to_string()), "the note says where it all is");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&out_dir).unwrap().permissions().mode() & 0o777, 0o700);
}
