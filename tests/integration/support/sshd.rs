//! A real OpenSSH server on a loopback address, for transport tests.
//!
//! Each [`Sshd`] gets its own 127.0.0.X (X in 2..=250, from the test process id and a
//! counter, so fixtures of parallel tests do not meet), a free port, a fresh ed25519 host key,
//! a fresh client key authorized for root, and a known_hosts file naming that host key for
//! `[127.0.0.X]:port`. It listens on that one address only. Dropping it kills exactly its own
//! sshd (by PID) and the per-connection processes under it.
//!
//! Needs `/usr/sbin/sshd` (Debian: openssh-server) and root, like CI: a test asks
//! `support::require::sshd()` before starting one (skipped, or failed under `tests/run`).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use patchdeck::inventory::Host;
use patchdeck::transport::ssh::SshOptions;

const SSHD: &str = "/usr/sbin/sshd";

/// Fixture addresses handed out so far in this test process.
static NEXT_ADDRESS: AtomicU32 = AtomicU32::new(0);

/// A unique loopback address in 127.0.0.2..=127.0.0.250 for this process and call.
pub fn loopback_address() -> Ipv4Addr {
    let n = NEXT_ADDRESS.fetch_add(1, Ordering::Relaxed);
    let x = 2 + (std::process::id().wrapping_mul(37).wrapping_add(n) % 249);
    Ipv4Addr::new(127, 0, 0, x as u8)
}

/// A port on `addr` with nothing listening right now.
pub fn free_port(addr: Ipv4Addr) -> u16 {
    TcpListener::bind((addr, 0)).and_then(|l| l.local_addr()).expect("bind a loopback port").port()
}

/// Generates an ed25519 key pair at `path` (and `path.pub`) with no passphrase.
pub fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "patchdeck-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen (openssh-client)");
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
}

/// The `type base64` part of a `.pub` file.
fn public_key(pub_path: &Path) -> String {
    let text = std::fs::read_to_string(pub_path).expect("read public key");
    text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// A running sshd. See the module docs.
pub struct Sshd {
    dir: tempfile::TempDir,
    addr: Ipv4Addr,
    port: u16,
    child: Option<Child>,
    /// Lines appended to sshd_config (e.g. `SetEnv PATH=...` to fake a hostile host).
    extra_config: String,
}

impl Sshd {
    /// Starts a server and waits (at most 10 s) until its port accepts connections.
    ///
    /// # Panics
    /// When `/usr/sbin/sshd` is missing (with what to run), or sshd does not come up.
    pub fn start() -> Sshd {
        Self::start_with("")
    }

    /// Like [`Sshd::start`], with `extra_config` appended to the generated sshd_config.
    pub fn start_with(extra_config: &str) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: the transport tests need a real OpenSSH server. Run the test command \
             from README.md, which installs it (`apt-get install -y openssh-server`), then rerun."
        );
        // sshd refuses to start without its privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");

        let mut dir = tempfile::Builder::new().prefix("pd-sshd-").tempdir().expect("temp dir");
        let d = dir.path();
        keygen(&d.join("host_ed25519"));
        keygen(&d.join("client_ed25519"));
        std::fs::copy(d.join("client_ed25519.pub"), d.join("authorized_keys")).expect("authorized_keys");
        // An empty client config, so the operator's ~/.ssh/config cannot change the tests.
        std::fs::write(d.join("ssh_config"), "").expect("ssh_config");

        let mut last_log = String::new();
        for _attempt in 0..3 {
            let addr = loopback_address();
            let port = free_port(addr);
            let mut sshd = Sshd { dir, addr, port, child: None, extra_config: extra_config.to_string() };
            sshd.write_config();
            std::fs::write(sshd.known_hosts(), sshd.known_hosts_line(&sshd.path("host_ed25519.pub")))
                .expect("known_hosts");
            match sshd.spawn_and_wait() {
                Ok(()) => return sshd,
                Err(log) => {
                    last_log = log;
                    dir = std::mem::replace(&mut sshd.dir, tempfile::tempdir().expect("temp dir"));
                }
            }
        }
        panic!("sshd did not start; its log:\n{last_log}");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_config(&self) {
        let d = self.dir.path().display();
        let config = format!(
            "ListenAddress {addr}:{port}\n\
             HostKey {d}/host_ed25519\n\
             PidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\n\
             PermitRootLogin prohibit-password\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             StrictModes no\n\
             UsePAM no\n\
             MaxSessions 10\n\
             MaxStartups 50:30:100\n\
             PrintMotd no\n\
             LogLevel VERBOSE\n{extra}",
            addr = self.addr,
            port = self.port,
            extra = self.extra_config,
        );
        std::fs::write(self.path("sshd_config"), config).expect("write sshd_config");
    }

    /// Starts sshd; `Err(log)` if it exits or does not accept connections within 10 s.
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log = std::fs::File::create(self.path("sshd.log")).expect("sshd.log");
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.path("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn sshd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let target = SocketAddr::from((self.addr, self.port));
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.child = None;
                return Err(format!("sshd exited with {status}\n{}", self.log()));
            }
            if TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        Err(format!("sshd did not accept connections within 10s\n{}", self.log()))
    }

    fn known_hosts_line(&self, host_pub: &Path) -> String {
        format!("[{}]:{} {}\n", self.addr, self.port, public_key(host_pub))
    }

    /// The server as an inventory host: user root, this address and port.
    pub fn host(&self) -> Host {
        let mut host = Host::named(format!("sshd-{}-{}", self.addr, self.port));
        host.address = self.addr.to_string();
        host.port = Some(self.port);
        host.user = Some("root".into());
        host
    }

    /// Also lets `key` (a private key; its `.pub` beside it) log in, e.g. another fixture's
    /// client key, so one `--identity` reaches a bastion and the host behind it.
    pub fn authorize(&self, key: &Path) {
        use std::io::Write;
        let line = format!("{}\n", public_key(&key.with_extension("pub")));
        let mut f =
            std::fs::OpenOptions::new().append(true).open(self.path("authorized_keys")).expect("authorized_keys");
        f.write_all(line.as_bytes()).expect("authorize a key");
    }

    /// This server's `[addr]:port key` line for a known_hosts file.
    pub fn known_hosts_entry(&self) -> String {
        self.known_hosts_line(&self.path("host_ed25519.pub"))
    }

    /// This server as an inventory host logging in as [`SUDO_TEST_USER`] with `sudo = true`:
    /// a user of this machine with no sudo rights (so `sudo -n` wants a password), created
    /// once. Its authorized keys are this server's (readable by it from now on).
    pub fn sudo_user_host(&self) -> Host {
        use std::os::unix::fs::PermissionsExt;
        ensure_sudo_test_user();
        // sshd reads authorized_keys as the user logging in.
        std::fs::set_permissions(self.dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(self.path("authorized_keys"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let mut host = self.host();
        host.user = Some(SUDO_TEST_USER.into());
        host.sudo = true;
        host
    }

    /// The authorized client private key.
    pub fn client_key(&self) -> PathBuf {
        self.path("client_ed25519")
    }

    /// known_hosts naming this server's real host key.
    pub fn known_hosts(&self) -> PathBuf {
        self.path("known_hosts")
    }

    /// An empty ssh client config, to isolate tests from the machine's own.
    pub fn ssh_config(&self) -> PathBuf {
        self.path("ssh_config")
    }

    /// Writes (once) and returns a known_hosts that names ANOTHER key for this server, as
    /// after a reinstall or during a man-in-the-middle.
    pub fn wrong_known_hosts(&self) -> PathBuf {
        let other = self.path("other_host_ed25519");
        if !other.exists() {
            keygen(&other);
        }
        let path = self.path("known_hosts_wrong");
        std::fs::write(&path, self.known_hosts_line(&self.path("other_host_ed25519.pub"))).expect("write");
        path
    }

    /// Writes (once) and returns a client key this server does not authorize.
    pub fn unauthorized_key(&self) -> PathBuf {
        let key = self.path("stranger_ed25519");
        if !key.exists() {
            keygen(&key);
        }
        key
    }

    /// Transport options that reach this server strictly: its client key, its known_hosts,
    /// an empty ssh_config.
    pub fn options(&self) -> SshOptions {
        SshOptions {
            config_file: Some(self.ssh_config()),
            identity_file: Some(self.client_key()),
            user_known_hosts_file: Some(self.known_hosts()),
            connect_timeout: Duration::from_secs(5),
            ..SshOptions::default()
        }
    }

    /// sshd's own log (`-e`), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
    }

    /// Kills this sshd and every process under it (the per-connection sshds and the commands
    /// they run), as a crashed or powered-off host would vanish. Idempotent.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // Collect the tree before killing anything: orphans would be reparented away.
        let mut pids = descendants(child.id());
        pids.push(child.id());
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(pids.iter().map(u32::to_string))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The non-root login of [`Sshd::sudo_user_host`].
pub const SUDO_TEST_USER: &str = "pd-sudo-test";

/// Creates [`SUDO_TEST_USER`] unless it exists: a system user with home `/`, `/bin/sh`, and
/// the password field `*` (no password, yet not "locked": sshd without PAM refuses locked
/// accounts even for keys). Parallel tests may race: whoever loses finds it there.
fn ensure_sudo_test_user() {
    let exists = || {
        Command::new("id")
            .arg(SUDO_TEST_USER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !exists() {
        let _ = Command::new("useradd")
            .args(["--system", "-M", "-d", "/", "-s", "/bin/sh", SUDO_TEST_USER])
            .stderr(Stdio::null())
            .status();
    }
    assert!(exists(), "cannot create the user {SUDO_TEST_USER} (useradd, from passwd)");
    let status = Command::new("usermod").args(["-p", "*", SUDO_TEST_USER]).status().expect("usermod");
    assert!(status.success(), "usermod -p '*' {SUDO_TEST_USER}");
}

/// All processes under `root`, from /proc (children before their own children).
fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
            let Some(after) = stat.rsplit_once(')').map(|(_, a)| a) else { continue };
            if let Some(ppid) = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(pid, _)| *pid));
        i += 1;
    }
    found.remove(0);
    found
}

/// PIDs of processes whose command line contains `needle` (for leak checks).
pub fn processes_matching(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    let me = std::process::id();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if pid == me {
                continue;
            }
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// PIDs of processes whose argv is exactly `argv` (a wrapper that merely mentions the
/// command in a longer script does not count).
pub fn processes_running(argv: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let mut pids = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if std::fs::read(entry.path().join("cmdline")).is_ok_and(|c| c == want) {
                pids.push(pid);
            }
        }
    }
    pids
}
