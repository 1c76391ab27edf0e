//! A window's lock on a host: a root-only file on the host (`/var/lib/patchdeck/lock`)
//! saying which window holds it, with which runbook, run by whom from which machine, since
//! when and until when. Taken before the host's first change, released when the host is
//! finished or rolled back; left in place while its changes are not undone, so that a second
//! window (from this machine or another) sees it in `check` and is refused in `run`.
//!
//! Taking and releasing are commands through the [`Transport`] like any other (their
//! [`Purpose::HostLock`] lets the simulated fleet play them). What a host says is in its lock
//! is untrusted text: it is parsed strictly and shown only escaped.

use std::time::Duration;

use crate::inventory::Host;
use crate::transport::ssh::sh_quote;
use crate::transport::{Command, Purpose, Transport, TransportError};

/// Where hosts keep the lock (a directory only root can read and write).
pub const LOCK_DIR: &str = "/var/lib/patchdeck";

/// How long a lock command may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The exit status of taking a lock someone else holds (the holder's lock on stdout).
const HELD: i32 = 3;

/// The lock file's first line: what it is, in which format.
const MAGIC: &str = "patchdeck-host-lock 1";

/// The longest lock file read back; anything longer is not ours.
const MAX_LOCK_BYTES: usize = 4096;

/// Who holds a host: what the lock file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub window: String,
    /// Hex SHA-256 of the holder's runbook.
    pub digest: String,
    pub operators: Vec<String>,
    /// The operator's machine.
    pub machine: String,
    pub pid: u32,
    pub since: jiff::Timestamp,
    /// The holder's window ends then: a lock older than that is stale.
    pub until: jiff::Timestamp,
}

pub use crate::transport::LockOp;

/// A host's lock as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Free,
    /// Held: the raw text (to replace it exactly) and what it says, if it can be read.
    Held {
        raw: String,
        holder: Option<Holder>,
    },
}

/// What taking a lock came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    Yes,
    /// Someone holds it (or held it when we looked).
    HeldBy(Found),
}

impl Holder {
    /// The lock file's text: one `key=value` per line, every value on one line.
    pub fn render(&self) -> String {
        let one = |s: &str| s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>();
        format!(
            "{MAGIC}\nwindow={}\ndigest={}\noperators={}\nmachine={}\npid={}\nsince={}\nuntil={}\n",
            one(&self.window),
            one(&self.digest),
            one(&self.operators.join(", ")),
            one(&self.machine),
            self.pid,
            self.since,
            self.until
        )
    }

    /// Reads a lock file's text; `None` when it is not a lock this version can read (it is
    /// still a lock: someone or something put it there).
    pub fn parse(text: &str) -> Option<Holder> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut field = |key: &str| -> Option<String> {
            let v = lines.next()?.strip_prefix(key)?.strip_prefix('=')?;
            (v.len() <= 512 && !v.chars().any(char::is_control)).then(|| v.to_string())
        };
        let holder = Holder {
            window: field("window")?,
            digest: field("digest")?,
            operators: field("operators")?.split(", ").filter(|s| !s.is_empty()).map(str::to_string).collect(),
            machine: field("machine")?,
            pid: field("pid")?.parse().ok()?,
            since: field("since")?.parse().ok()?,
            until: field("until")?.parse().ok()?,
        };
        Some(holder)
    }

    /// The same window run from the same machine with the same runbook: our own lock (from
    /// before a crash, or a resume), not another window's.
    pub fn same_run(&self, other: &Holder) -> bool {
        self.window == other.window && self.digest == other.digest && self.machine == other.machine
    }

    /// "window X run by alice from laptop-2 since 02:14", every piece escaped.
    pub fn describe(&self) -> String {
        let safe = crate::safe_text::for_terminal;
        let by = if self.operators.is_empty() { "nobody named".to_string() } else { safe(&self.operators.join(", ")) };
        format!(
            "window {} run by {by} from {} (pid {}) since {}",
            safe(&self.window),
            safe(&self.machine),
            self.pid,
            self.since.strftime("%Y-%m-%d %H:%MZ")
        )
    }

    /// Its holder is gone: it ran on `machine` (this one) and its process is dead, or its
    /// window ended before `now`.
    pub fn is_stale(&self, machine: &str, now: jiff::Timestamp) -> bool {
        (self.machine == machine && !process_alive(self.pid)) || now > self.until
    }
}

impl Found {
    /// "prod3 is in window X run by alice from laptop-2 since 02:14", escaped.
    pub fn describe(&self, host: &str) -> String {
        let host = crate::safe_text::for_terminal(host);
        match self {
            Found::Free => format!("{host} is not locked"),
            Found::Held { holder: Some(h), .. } => format!("{host} is in {}", h.describe()),
            Found::Held { raw, holder: None } => format!(
                "{host} is locked by something this patchdeck cannot read ({LOCK_DIR}/lock: {})",
                crate::safe_text::for_terminal(raw.lines().next().unwrap_or(""))
            ),
        }
    }

    /// Can it be broken (after a decision)? A lock nobody can read counts as stale: only
    /// people can tell.
    pub fn is_stale(&self, machine: &str, now: jiff::Timestamp) -> bool {
        match self {
            Found::Free => true,
            Found::Held { holder: Some(h), .. } => h.is_stale(machine, now),
            Found::Held { holder: None, .. } => true,
        }
    }

    fn from_text(text: &str) -> Found {
        if text.is_empty() {
            return Found::Free;
        }
        Found::Held { raw: text.to_string(), holder: Holder::parse(text) }
    }
}

/// This machine's name as locks (and the journal's resume records) give it.
pub fn this_machine() -> String {
    // The kernel's hostname, else `$HOSTNAME`, else "unknown" rather than nothing.
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Is `pid` a live process on this machine?
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks that the process exists; it sends nothing.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The command for `op` on a host whose lock directory is `dir`.
pub fn command(dir: &str, op: LockOp) -> Command {
    let script = script(dir, &op);
    Command { script, purpose: Purpose::HostLock(op), needs_root: true, timeout: TIMEOUT, detached: None }
}

/// The POSIX shell script for `op`. The lock is created by `ln` of a complete temporary file
/// (atomic: there is never a half-written lock, and of two windows only one `ln` wins).
fn script(dir: &str, op: &LockOp) -> String {
    let d = sh_quote(dir);
    let head = format!(
        "umask 077\nd={d}\nf=\"$d/lock\"\nt=\"$d/.lock.$$\"\n\
         mkdir -p \"$d\" && chmod 700 \"$d\" || {{ echo \"cannot create $d\" >&2; exit 4; }}\n"
    );
    match op {
        // Reading creates nothing: `check` leaves a host as it found it.
        LockOp::Read => format!("head -c {MAX_LOCK_BYTES} {d}/lock 2>/dev/null\nexit 0\n"),
        LockOp::Take { content, replacing } => {
            let mut s = format!("{head}printf '%s' {} > \"$t\" || exit 4\n", sh_quote(content));
            if let Some(seen) = replacing {
                s.push_str(&format!(
                    "printf '%s' {} > \"$t.seen\" || exit 4\n\
                     if cmp -s \"$f\" \"$t.seen\"; then rm -f \"$t.seen\"; mv -f \"$t\" \"$f\" && exit 0; exit 4; fi\n\
                     rm -f \"$t.seen\"\n",
                    sh_quote(seen)
                ));
            }
            s.push_str(&format!(
                "if ln \"$t\" \"$f\" 2>/dev/null; then rm -f \"$t\"; exit 0; fi\n\
                 rm -f \"$t\"\nhead -c {MAX_LOCK_BYTES} \"$f\" 2>/dev/null\nexit {HELD}\n"
            ));
            s
        }
        LockOp::Release { content } => {
            let ours = Holder::parse(content);
            let keys = ours.map_or_else(Vec::new, |h| {
                vec![format!("window={}", h.window), format!("digest={}", h.digest), format!("machine={}", h.machine)]
            });
            let test: Vec<String> = keys.iter().map(|k| format!("grep -qxF -e {} \"$f\"", sh_quote(k))).collect();
            if test.is_empty() {
                return format!("{head}exit 0\n");
            }
            format!("{head}if [ -f \"$f\" ] && {}; then rm -f \"$f\"; fi\nexit 0\n", test.join(" && "))
        }
    }
}

/// Takes `host`'s lock for `me`. `replacing`: the lock found before, to replace if it is
/// still exactly that.
pub async fn take(
    t: &dyn Transport,
    host: &Host,
    me: &Holder,
    replacing: Option<&str>,
) -> Result<Taken, TransportError> {
    let op = LockOp::Take { content: me.render(), replacing: replacing.map(str::to_string) };
    let out = t.exec(host, &command(LOCK_DIR, op)).await?;
    match out.status {
        Some(0) => Ok(Taken::Yes),
        Some(HELD) => Ok(Taken::HeldBy(Found::from_text(&out.stdout_lossy()))),
        status => Err(failed(host, "take", status, &out.stderr_lossy())),
    }
}

/// Releases `host`'s lock if it is `me`'s window's.
pub async fn release(t: &dyn Transport, host: &Host, me: &Holder) -> Result<(), TransportError> {
    let out = t.exec(host, &command(LOCK_DIR, LockOp::Release { content: me.render() })).await?;
    match out.status {
        Some(0) => Ok(()),
        status => Err(failed(host, "release", status, &out.stderr_lossy())),
    }
}

/// What `host`'s lock says now.
pub async fn read(t: &dyn Transport, host: &Host) -> Result<Found, TransportError> {
    let out = t.exec(host, &command(LOCK_DIR, LockOp::Read)).await?;
    match out.status {
        Some(0) => Ok(Found::from_text(&out.stdout_lossy())),
        status => Err(failed(host, "read", status, &out.stderr_lossy())),
    }
}

fn failed(host: &Host, what: &str, status: Option<i32>, stderr: &str) -> TransportError {
    TransportError::Other {
        host: host.name.clone(),
        detail: format!(
            "cannot {what} the host's lock in {LOCK_DIR} (exit {status:?}): {}",
            crate::safe_text::for_terminal(stderr.trim())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::local::LocalTransport;

    fn me(window: &str, pid: u32) -> Holder {
        Holder {
            window: window.into(),
            digest: "ab12".into(),
            operators: vec!["alice".into(), "bob".into()],
            machine: "laptop-2".into(),
            pid,
            since: "2026-11-22T02:14:00Z".parse().unwrap(),
            until: "2026-11-22T04:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_lock_reads_back_and_says_who_holds_it_escaped() {
        let h = me("openssl-2026-11", 4242);
        assert_eq!(Holder::parse(&h.render()), Some(h.clone()));
        assert_eq!(
            Found::from_text(&h.render()).describe("prod3"),
            "prod3 is in window openssl-2026-11 run by alice, bob from laptop-2 (pid 4242) since 2026-11-22 02:14Z"
        );
        // Host text is untrusted: escapes are shown, not obeyed; junk is a lock nobody can read.
        let hostile = h.render().replace("machine=laptop-2", "machine=\u{1b}[2Jevil");
        let shown = Found::from_text(&hostile).describe("prod3");
        assert!(!shown.contains('\u{1b}'), "{shown}");
        let junk = Found::from_text("\u{1b}]0;pwned\u{7}\nrm -rf /\n");
        assert!(matches!(junk, Found::Held { holder: None, .. }));
        assert!(!junk.describe("prod3").contains('\u{1b}'));
        assert!(junk.is_stale("x", "2026-11-22T00:00:00Z".parse().unwrap()), "only people can judge it");
        assert_eq!(Found::from_text(""), Found::Free);
    }

    #[test]
    fn a_lock_is_stale_when_its_process_is_gone_here_or_its_window_is_over() {
        let during: jiff::Timestamp = "2026-11-22T03:00:00Z".parse().unwrap();
        let alive = me("w", std::process::id());
        assert!(!alive.is_stale("laptop-2", during));
        assert!(alive.is_stale("laptop-2", "2026-11-22T04:01:00Z".parse().unwrap()), "its window ended");
        let dead = me("w", u32::MAX - 1);
        assert!(dead.is_stale("laptop-2", during), "same machine, no such process");
        assert!(!dead.is_stale("laptop-9", during), "another machine's process cannot be seen from here");
    }

    /// The real script, on this machine, in a temporary directory for the host's lock dir.
    #[tokio::test]
    async fn the_script_takes_refuses_replaces_and_releases() {
        let dir = tempfile::tempdir().unwrap();
        let lock_dir = dir.path().join("state");
        let d = lock_dir.to_str().unwrap();
        let (t, host) = (LocalTransport::new(), Host::named("h"));
        let run = |op: LockOp| {
            let t = t.clone();
            let host = host.clone();
            let cmd = Command { needs_root: false, ..command(d, op) };
            async move { t.exec(&host, &cmd).await.unwrap() }
        };
        let (a, b) = (me("first", 1), me("second's \"window\" $(id)", 2));
        let take = |h: &Holder, replacing: Option<String>| LockOp::Take { content: h.render(), replacing };
        let nothing = run(LockOp::Read).await;
        assert!(nothing.success() && nothing.stdout.is_empty());
        assert!(!lock_dir.exists(), "reading a lock creates nothing on the host");
        assert_eq!(run(take(&a, None)).await.status, Some(0));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&lock_dir).unwrap().permissions().mode() & 0o777, 0o700);
        // A second window is refused and told who holds it.
        let refused = run(take(&b, None)).await;
        assert_eq!(refused.status, Some(HELD));
        assert_eq!(Holder::parse(&refused.stdout_lossy()), Some(a.clone()));
        // Replacing only what was seen: a stale guess about another lock changes nothing.
        assert_eq!(run(take(&b, Some(b.render()))).await.status, Some(HELD));
        assert_eq!(run(take(&b, Some(a.render()))).await.status, Some(0), "the seen lock is broken");
        let read = run(LockOp::Read).await;
        assert!(read.success());
        assert_eq!(Holder::parse(&read.stdout_lossy()), Some(b.clone()), "quoting kept the window's name");
        // Releasing someone else's lock leaves it; releasing one's own removes it.
        assert_eq!(run(LockOp::Release { content: a.render() }).await.status, Some(0));
        assert!(!run(LockOp::Read).await.stdout.is_empty());
        assert_eq!(run(LockOp::Release { content: b.render() }).await.status, Some(0));
        assert!(run(LockOp::Read).await.stdout.is_empty());
        let left: Vec<_> = std::fs::read_dir(&lock_dir).unwrap().collect();
        assert!(left.is_empty(), "no temporary file left: {left:?}");
    }
}
