//! The Debian test fleet (`tests/fleet/`) as a test fixture: real bookworm roots, each with
//! its own chrooted sshd and busybox httpd on its own 127.0.K.x, real apt, planted
//! differences (see `tests/fleet/up.sh` for the hosts and what each one has).
//!
//! [`Fleet::up`] runs `tests/fleet/up.sh` for an instance named after this worktree and a
//! suffix, so parallel worktrees and fleet tests never share one. A test ends with
//! [`Fleet::down`], which runs `down.sh` and fails the test unless it succeeded and left
//! nothing behind (no process the fleet started, nothing mounted under its directory, the
//! directory gone). A fleet dropped without it (the test panicked: unwinding drops it) runs
//! `down.sh` as a fallback that only reports a failure, since panicking in `Drop` would
//! abort. Fleets of one test process come up one at a time (each holds [`SERIAL`]): their
//! addresses are derived from their names and might meet, and two fleets on two cores would
//! only slow each other down.
//!
//! Why an owned value and not a shared `static`: Rust never drops statics, so a static fleet
//! would outlive the test process, its sshds running until the next run cleaned them up. A
//! test owns its fleet instead and runs its scenarios in sequence (they change hosts, e.g.
//! kill an sshd, so they could not run in parallel on one fleet anyway). A test process that
//! is killed outright (SIGKILL, a CI timeout) leaves its fleet running; the next `up.sh` of
//! the same instance finds the state file and tears the leftover down first (recorded PIDs,
//! checked by start time, then the mounts in reverse order).
//!
//! Needs root, `debootstrap`, `dpkg-dev` and `openssh-client` (`tests/run` installs them; a
//! test asks `support::require::fleet()` before bringing a fleet up). The
//! first start builds the cached base root (~1-3 min, network to the Debian mirror);
//! later starts take a few seconds.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

/// Held by every [`Fleet`] of this test process while it is up (see the module docs).
static SERIAL: Mutex<()> = Mutex::new(());

/// A running fleet. See the module docs.
pub struct Fleet {
    instance: String,
    env: BTreeMap<String, String>,
    /// Set once torn down by [`Fleet::down`] (or given up by [`Fleet::crash`]): `Drop` has
    /// nothing left to do.
    done: bool,
    _serial: MutexGuard<'static, ()>,
    /// The fleet's directory (state file, runbook, hosts, keys, host roots).
    pub dir: PathBuf,
    /// The generated runbook (`tests/fleet/runbook.toml` with the web port filled in).
    pub runbook: PathBuf,
    /// Where tests write the captured baseline (`[baseline] file` of the runbook).
    pub baseline: PathBuf,
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleet")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Fleet {
    /// Brings up a fleet named `test-<worktree>-<suffix>` (tearing down a leftover of the
    /// same name first). Panics with up.sh's output when it fails.
    pub fn up(suffix: &str) -> Fleet {
        Self::up_with(suffix, &[])
    }

    /// As [`Fleet::up`], with more arguments for up.sh (`--reach`).
    pub fn up_with(suffix: &str, args: &[&str]) -> Fleet {
        assert!(
            Command::new("id").arg("-u").output().is_ok_and(|o| text(&o.stdout).trim() == "0"),
            "the fleet tests need root (mount, chroot, debootstrap); run the README's test command as root, like CI"
        );
        let manifest = env!("CARGO_MANIFEST_DIR");
        let mut hasher = std::hash::DefaultHasher::new();
        manifest.hash(&mut hasher);
        let base: String = Path::new(manifest)
            .file_name()
            .map(|n| n.to_string_lossy().chars().filter(|c| c.is_ascii_alphanumeric()).take(12).collect())
            .unwrap_or_default();
        let instance = format!("test-{base}-{:08x}-{suffix}", hasher.finish() as u32);
        // A fleet test that panicked poisoned it; its fleet is down all the same.
        let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());

        let out = Command::new(scripts_dir().join("up.sh"))
            .args(["--instance", &instance])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tests/fleet/up.sh");
        assert!(out.status.success(), "tests/fleet/up.sh failed:\n{}{}", text(&out.stdout), text(&out.stderr));
        // Canonical: it is compared with the roots of processes, which the kernel resolves.
        let dir = std::fs::canonicalize(text(&out.stdout).trim()).expect("the fleet's directory");
        let env = std::fs::read_to_string(dir.join("fleet.env"))
            .expect("fleet.env")
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        Fleet {
            instance,
            env,
            done: false,
            _serial: serial,
            runbook: dir.join("runbook.toml"),
            baseline: dir.join("tested.toml"),
            dir,
        }
    }

    /// Tears the fleet down with `down.sh` and fails unless it succeeded and left nothing:
    /// every process recorded in the fleet's state file (up.sh's sshds and httpds, fault.sh's
    /// helpers) is gone, no process runs inside a host root, nothing is mounted under the
    /// fleet's directory, and the directory is removed.
    pub fn down(mut self) {
        let recorded = self.recorded();
        assert!(!recorded.is_empty(), "the state file records the fleet's processes");
        let out = Command::new(scripts_dir().join("down.sh"))
            .args(["--instance", &self.instance])
            .stdin(Stdio::null())
            .output()
            .expect("run tests/fleet/down.sh");
        self.done = true;
        assert!(out.status.success(), "tests/fleet/down.sh failed:\n{}{}", text(&out.stdout), text(&out.stderr));
        let left = leftovers(&self.dir, &recorded);
        assert!(left.is_empty(), "left behind by down.sh:\n{}", left.join("\n"));
        assert!(!self.dir.exists(), "{} still exists", self.dir.display());
    }

    /// Walks away from the fleet without tearing it down, as a test killed outright would:
    /// the next [`Fleet::up`] of the same suffix finds it and must clean it up.
    pub fn crash(mut self) {
        self.done = true;
    }

    /// The processes recorded in the fleet's state file, still running or not.
    pub fn recorded(&self) -> Vec<Proc> {
        let state = std::fs::read_to_string(self.dir.join("state")).expect("the fleet's state file");
        state
            .lines()
            .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["pid", pid, start, host, role] => {
                    Some(Proc { pid: pid.parse().ok()?, start: start.parse().ok()?, what: format!("{host} {role}") })
                }
                _ => None,
            })
            .collect()
    }

    /// Starts `sleep 600` inside the host's root, recorded nowhere and orphaned at once (as
    /// what an ssh session had started when its sshd was killed).
    pub fn stray(&self, host: &str) -> Proc {
        let root = self.root(host);
        let out = Command::new("sh")
            .args(["-c", "setsid chroot \"$1\" sleep 600 </dev/null >/dev/null 2>&1 & echo $!", "sh"])
            .arg(&root)
            .output()
            .expect("start a stray process");
        let pid: u32 = text(&out.stdout).trim().parse().expect("its pid");
        let start = start_time(pid).expect("it runs");
        Proc { pid, start, what: format!("{host} stray sleep") }
    }

    fn var(&self, key: &str) -> &str {
        self.env.get(key).unwrap_or_else(|| panic!("{key} missing from fleet.env"))
    }

    /// Host names, staging first.
    pub fn hosts(&self) -> Vec<&str> {
        self.var("HOSTS").split_whitespace().collect()
    }

    /// The host's own loopback address.
    pub fn address(&self, host: &str) -> Ipv4Addr {
        self.var(&format!("HOST_ADDR_{}", host.replace('-', "_"))).parse().expect("address")
    }

    /// The sshd port (the same on every host; each has its own address).
    pub fn ssh_port(&self) -> u16 {
        self.var("SSH_PORT").parse().expect("port")
    }

    /// The web server port (the same on every host).
    pub fn web_port(&self) -> u16 {
        self.var("WEB_PORT").parse().expect("port")
    }

    /// The Debian mirror the hosts were built from (the machine's own).
    pub fn mirror(&self) -> &str {
        self.var("MIRROR")
    }

    /// The host's root directory (its overlay mount), seen from this machine.
    pub fn root(&self, host: &str) -> PathBuf {
        self.dir.join("hosts").join(host).join("root")
    }

    /// Runs the real patchdeck binary with the fleet's ssh config, known_hosts and key.
    pub fn patchdeck(&self, args: &[&str]) -> Output {
        self.patchdeck_cmd(args).output().expect("run patchdeck")
    }

    /// The command [`Fleet::patchdeck`] runs, for tests that spawn it (and kill it).
    pub fn patchdeck_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_patchdeck"));
        c.arg("--ssh-config")
            .arg(self.var("SSH_CONFIG"))
            .arg("--known-hosts")
            .arg(self.var("KNOWN_HOSTS"))
            .arg("--identity")
            .arg(self.var("IDENTITY"))
            .args(["--connect-timeout", "5"])
            .args(args)
            .env("NO_COLOR", "1")
            // check keeps apt's answers per host between runs: the fleet's own, not the user's.
            .env("XDG_CACHE_HOME", self.dir.join("cache"))
            .stdin(Stdio::null());
        c
    }

    /// A window of its own derived from the fleet's runbook: named `name` (so its journal,
    /// `DIR/<name>.journal.jsonl`, is its own), one wave holding only `host` (its inventory
    /// `DIR/<name>-hosts.toml` keeps staging and `host`), `policy` lines appended to
    /// `[policy]`, and `steps` (TOML `[[step]]` tables) replacing the runbook's steps when
    /// given. Returns the runbook's path.
    pub fn window(&self, name: &str, host: &str, policy: &str, steps: Option<&str>) -> PathBuf {
        self.window_of(name, &[host], "", policy, steps)
    }

    /// As [`Fleet::window`], with the one wave holding `hosts` in this order and `wave`
    /// (TOML lines, e.g. `parallel = 2`) added to it.
    pub fn window_of(&self, name: &str, hosts: &[&str], wave: &str, policy: &str, steps: Option<&str>) -> PathBuf {
        self.window_from("hosts.toml", name, hosts, wave, policy, steps)
    }

    /// As [`Fleet::window_of`], the hosts taken from the fleet's inventory file `inventory`
    /// (`reach-hosts.toml` of a `--reach` fleet).
    pub fn window_from(
        &self,
        inventory: &str,
        name: &str,
        hosts: &[&str],
        wave: &str,
        policy: &str,
        steps: Option<&str>,
    ) -> PathBuf {
        let rb = std::fs::read_to_string(&self.runbook).expect("fleet runbook");
        let inventory = std::fs::read_to_string(self.dir.join(inventory)).expect("fleet inventory");
        let names: Vec<String> = ["staging"].iter().chain(hosts).map(|h| format!("name = \"{h}\"")).collect();
        let keep: Vec<&str> =
            inventory.split("[[host]]").skip(1).filter(|b| names.iter().any(|n| b.contains(n.as_str()))).collect();
        assert_eq!(keep.len(), hosts.len() + 1, "staging and {hosts:?} in {inventory}");
        std::fs::write(self.dir.join(format!("{name}-hosts.toml")), format!("[[host]]{}", keep.join("[[host]]")))
            .unwrap();

        let waves = rb.find("[[wave]]").expect("a wave");
        let first_step = rb.find("[[step]]").expect("a step");
        let first_check = rb.find("[[check]]").expect("a check");
        let steps = steps.map_or_else(|| rb[first_step..first_check].to_string(), |s| format!("{s}\n"));
        let head = rb[..waves]
            .replace("name = \"fleet-less-pdweb\"", &format!("name = \"{name}\""))
            .replace("file = \"hosts.toml\"", &format!("file = \"{name}-hosts.toml\""))
            .replace("[policy]\n", &format!("[policy]\n{policy}"));
        assert!(head.contains(&format!("name = \"{name}\"")) && head.contains(&format!("{name}-hosts.toml")), "{head}");
        let list = hosts.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ");
        let rb = format!("{head}[[wave]]\nname = \"only\"\nhosts = [{list}]\n{wave}\n{steps}{}", &rb[first_check..]);
        let path = self.dir.join(format!("{name}.toml"));
        std::fs::write(&path, rb).unwrap();
        path
    }

    /// `dpkg-query -W` inside the host: every installed package and its version.
    pub fn installed(&self, host: &str) -> String {
        self.exec_ok(host, "dpkg-query -W")
    }

    /// `GET /` of the host's web server, straight over TCP: (status, body).
    pub fn http_get(&self, host: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let addr = std::net::SocketAddr::from((self.address(host), self.web_port()));
        let mut s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        write!(s, "GET / HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).expect("read the reply");
        let status = reply.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
        (status, body)
    }

    /// The drill window (`tests/fleet/drill-runbook.toml` with the web port filled in).
    pub fn drill_runbook(&self) -> PathBuf {
        PathBuf::from(self.var("DRILL_RUNBOOK"))
    }

    /// `fault.sh` of this fleet as a drill's `--fault-cmd` (run as `CMD ACTION HOST`).
    pub fn fault_cmd(&self) -> String {
        format!("{} --instance {}", scripts_dir().join("fault.sh").display(), self.instance)
    }

    /// What the host's sshd has logged (every connection and session).
    pub fn sshd_log(&self, host: &str) -> String {
        std::fs::read_to_string(self.dir.join("hosts").join(host).join("sshd.log")).unwrap_or_default()
    }

    /// `tests/fleet/fault.sh WHAT HOST` (kill-sshd, break-web, hang-apt, restore).
    pub fn fault(&self, what: &str, host: &str) {
        let out = Command::new(scripts_dir().join("fault.sh"))
            .args(["--instance", &self.instance, what, host])
            .stdin(Stdio::null())
            .output()
            .expect("run tests/fleet/fault.sh");
        assert!(out.status.success(), "fault.sh {what} {host} failed:\n{}", text(&out.stderr));
    }

    /// Runs `sh -c CMD` inside the host's root (not over ssh: for setting up and asserting).
    pub fn exec(&self, host: &str, cmd: &str) -> Output {
        Command::new("chroot")
            .arg(self.root(host))
            .args(["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive"])
            .args(["sh", "-c", cmd])
            .stdin(Stdio::null())
            .output()
            .expect("chroot into a fleet host")
    }

    /// Like [`Fleet::exec`], panicking unless the command succeeds; returns its stdout.
    pub fn exec_ok(&self, host: &str, cmd: &str) -> String {
        let out = self.exec(host, cmd);
        assert!(out.status.success(), "{host}: `{cmd}` failed:\n{}{}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }
}

/// A process, told from a later one with its PID by its start time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    /// Field 22 of `/proc/PID/stat`.
    pub start: u64,
    pub what: String,
}

impl Proc {
    /// Still this very process, and not a zombie (it has exited; only its parent has not
    /// collected it yet).
    pub fn alive(&self) -> bool {
        start_time(self.pid) == Some(self.start)
            && std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
                .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with(['Z', 'X'])))
    }
}

/// The start time of PID (field 22 of its stat; the command may hold spaces or parens).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.split_whitespace().nth(19)?.parse().ok()
}

/// Mount points at or under `dir` (from this process's mountinfo).
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .filter(|m| *m == d || m.starts_with(&format!("{d}/")))
        .collect()
}

/// Processes running inside a root under `dir` (their `/proc/PID/root`).
pub fn processes_under(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy().into_owned();
    let mut found = vec![];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let p = e.path();
        let Ok(root) = std::fs::read_link(p.join("root")) else { continue };
        if root.to_string_lossy().starts_with(&format!("{d}/")) {
            let cmd = std::fs::read(p.join("cmdline")).unwrap_or_default();
            found.push(format!("{}: {} (root {})", p.display(), text(&cmd).replace('\0', " "), root.display()));
        }
    }
    found
}

/// What a torn-down fleet left: recorded processes still alive, processes inside its host
/// roots, mounts under its directory.
pub fn leftovers(dir: &Path, recorded: &[Proc]) -> Vec<String> {
    let mut left: Vec<String> =
        recorded.iter().filter(|p| p.alive()).map(|p| format!("process {} ({}) still runs", p.pid, p.what)).collect();
    left.extend(processes_under(dir).into_iter().map(|p| format!("process inside the fleet: {p}")));
    left.extend(mounts_under(dir).into_iter().map(|m| format!("still mounted: {m}")));
    left
}

/// The fallback when a test did not call [`Fleet::down`] (it panicked): tear down, and only
/// say so if that failed (the next `up.sh` of the instance cleans up).
impl Drop for Fleet {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let out = Command::new(scripts_dir().join("down.sh"))
            .args(["--instance", &self.instance])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!("tests/fleet/down.sh failed (the next up.sh cleans up):\n{}", text(&o.stderr)),
            Err(e) => eprintln!("cannot run tests/fleet/down.sh ({e}); the next up.sh cleans up"),
        }
    }
}
