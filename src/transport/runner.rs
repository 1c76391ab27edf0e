//! The host-side step runner: a command that changes a host runs there DETACHED from the
//! ssh session and records itself on the host, so that losing the link, the operator's
//! machine or patchdeck never kills it half way (apt killed mid-run leaves dpkg half
//! configured), and its real outcome can be read back later.
//!
//! Pure script generation and parsing, plus the few calls that run those scripts through a
//! [`Transport`] (which stays the only thing that reaches a host).
//!
//! On the host, each run has a root-only directory `<runs>/<window>/<run>/`
//! (`<runs>`: [`RUNS_DIR`]; `<window>`: a hash of window, runbook and host, [`WindowKey`];
//! `<run>`: e.g. `step0-1`, the step and its attempt, [`RunKey`]) holding:
//! - `command`: the script, run as `sh command` with stdin from `/dev/null`;
//! - `pid`: `PGID BOOT_ID START`: the run's process group (its own session, no terminal),
//!   the boot it ran in and its leader's start time (so a reused pid is never taken for it);
//! - `out.N`: stdout and stderr together, in chunks of [`CHUNK_BYTES`]; only the newest two
//!   are kept, so a chatty command costs the host at most twice that;
//! - `exit`: its exit status (`128 + n` when killed by signal n), written once it ended
//!   (write then rename: never half written); `eof` once all its output is written;
//!   `killed` when patchdeck ended it (timeout).
//!
//! The command starts in a session of its own (`setsid`, else perl's `POSIX::setsid`),
//! in a systemd scope of its own when systemd runs the host (`systemd-run --scope`: a
//! logind that kills a closed session's processes leaves it alone), with SIGHUP ignored,
//! and its launcher exits at once, so it is nobody's child in the ssh session.
//!
//! Following a run prints its output as it grows, then one line on stderr,
//! `patchdeck-run exit N` (or `... killed`, `... lost`, `... error WHY`), which is how the
//! transport learns the status: the ssh session's own exit status only says the follower
//! ended. A follower killed with its session (the link died) leaves the run going.
//!
//! Limits: stdout and stderr arrive merged (as stdout); an output chunk boundary is where
//! `head -c` cut it, so a non-GNU `head` that reads ahead could lose bytes at one.

use std::time::Duration;

use super::ssh::{KILL_GRACE_SECS, sh_quote};
use super::stream::{OutputLine, Sink, Stream};
use super::{Command, Output, Purpose, Transport, TransportError};
use crate::inventory::Host;

/// Where hosts keep run records (beside the host lock, [`crate::lock::host::LOCK_DIR`]).
/// A login that is neither root nor allowed sudo keeps them in its home instead.
pub const RUNS_DIR: &str = "/var/lib/patchdeck/runs";

/// Bytes of output per chunk file on the host (the newest two are kept).
pub const CHUNK_BYTES: u64 = 2 * 1024 * 1024;

/// Bytes of a finished run's output a recovery brings back (its tail).
pub const RECOVER_BYTES: u64 = 64 * 1024;

/// The marker opening every line the runner itself prints on stderr.
const MARK: &str = "patchdeck-run";

/// The first line of a run record ([`recover_script`]'s answer), with its format's version.
const RECORD_MAGIC: &str = "patchdeck-run-record 1";

/// How long a runner command (recover, kill, cleanup) may take.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(30 + KILL_GRACE_SECS as u64);

/// A window's runs on one host: the first 16 hex digits of SHA-256 over the window's name,
/// its runbook's digest and the host's name. Only hex digits: safe in a path as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WindowKey(String);

impl WindowKey {
    pub fn new(window: &str, runbook_digest: &str, host: &str) -> Self {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for part in [window, runbook_digest, host] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        Self(hex::encode(&h.finalize()[..8]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a run is for, in the record's directory name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunWhat {
    /// Step `i` (0-based) of the runbook.
    Step(usize),
    /// The rollback of step `i` (the snapshot's restore for the packages step).
    Rollback(usize),
    /// A repair of the package database.
    Repair,
}

/// One run of a command on a host: which window, what, which attempt (1 for the first).
/// Every piece is a number or hex: nothing from a host or a file goes into its path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunKey {
    pub window: WindowKey,
    pub what: RunWhat,
    pub attempt: u32,
}

impl RunKey {
    /// The record's directory name inside the window's directory.
    pub fn name(&self) -> String {
        let a = self.attempt;
        match self.what {
            RunWhat::Step(i) => format!("step{i}-{a}"),
            RunWhat::Rollback(i) => format!("rollback{i}-{a}"),
            RunWhat::Repair => format!("repair-{a}"),
        }
    }
}

/// What a host's record says about a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// It ended: `output.status` is its exit status (`None`: patchdeck killed it), its
    /// output the record's tail (`stdout_cut`: how much came before).
    Finished { output: Output },
    /// Still running, as process group `pid`.
    Running { pid: u32 },
    /// No record: it never started on the host (or the transport keeps none).
    Missing,
    /// A record that cannot be right: e.g. its processes are gone and no status was
    /// written (killed with the host, a power-off), or it cannot be read.
    Inconsistent { detail: String },
}

/// The opening of every runner script: private files, the runs directory (`b`), the
/// window's (`w`).
fn prelude(base: &str, window: &WindowKey) -> String {
    format!(
        "umask 077\n\
         b={base}\n\
         if [ \"$(id -u)\" != 0 ] && [ \"$b\" = {default} ]; then b=\"${{HOME:-/tmp}}/.local/state/patchdeck/runs\"; fi\n\
         w=\"$b/{window}\"\n",
        base = sh_quote(base),
        default = sh_quote(RUNS_DIR),
        window = window.as_str(),
    )
}

/// Shell function `pd_alive PGID BOOT START`: is that process group this record's and
/// alive? Never true for a pid of 0 or 1 (a group kill of those would hit everything), for
/// another boot's record, or when the group's leader is a later process with the same pid.
/// Zombies do not count (an init that reaps late, or never, would keep a dead run "alive"),
/// so where `/proc` is mounted the group's members are read there; elsewhere `kill -0`.
const ALIVE_FN: &str = r#"pd_alive() {
  case ${1:-x} in ''|0*|1|*[!0-9]*) return 1 ;; esac
  [ "${2:-}" = "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" ] || return 1
  [ -r /proc/self/stat ] || { kill -0 -"$1" 2>/dev/null; return; }
  if [ -r "/proc/$1/stat" ] && [ -n "${3:-}" ]; then
    [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20)" = "$3" ] || return 1
  fi
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$1" '{ sub(/.*\) /, "") } $3 == g && $1 != "Z" && $1 != "X" { f = 1; exit } END { exit !f }'
}
"#;

/// What runs detached, in its own session, with `$1` the record's directory: records its
/// process group, runs the command with its output into the chunk files, records the exit
/// status, then that all output is written.
fn detached_body() -> String {
    let c = CHUNK_BYTES;
    format!(
        r#"d=$1
cd / || exit 1
st=$(sed 's/.*) //' /proc/$$/stat 2>/dev/null | cut -d' ' -f20)
echo "$$ $(cat "$d/boot") $st" > "$d/pid.tmp" && mv -f "$d/pid.tmp" "$d/pid"
{{ sh "$d/command" </dev/null 2>&1; echo $? > "$d/exit.tmp"; mv -f "$d/exit.tmp" "$d/exit"; }} | {{
  i=0
  if command -v stdbuf >/dev/null 2>&1; then h='stdbuf -o0 head'; else h=head; fi
  while :; do
    [ $i -ge 2 ] && rm -f "$d/out.$((i - 2))"
    $h -c {c} > "$d/out.$i"
    [ "$(wc -c < "$d/out.$i")" -lt {c} ] && break
    i=$((i + 1))
  done
}}
: > "$d/eof"
"#
    )
}

/// Prints the run's output from byte `$o` on as it grows, until it ended; then its marker
/// line on stderr. Needs `d` and [`ALIVE_FN`].
fn follow_body() -> String {
    let c = CHUNK_BYTES;
    format!(
        r#"q=0
set -- $(head -c 120 "$d/pid" 2>/dev/null)
pg=${{1:-}}
while :; do
  i=$((o / {c})); p=$((o % {c})); f="$d/out.$i"; n=-1
  # The chunk is read through one open descriptor: the writer may remove it (two chunks on)
  # between measuring and reading, and then what is counted as shown must still be shown.
  # A redirection that fails on a brace group is not fatal (on `exec` it would be).
  {{ n=$(wc -c < /proc/self/fd/3 2>/dev/null || wc -c < "$f") && [ "$n" -gt "$p" ] &&
    tail -c +$((p + 1)) <&3 | head -c $((n - p)); }} 3<"$f" 2>/dev/null
  if [ "$n" -ge 0 ]; then
    if [ "$n" -gt "$p" ]; then
      o=$((o + n - p)); q=0
      continue
    fi
  else
    j=$(for g in "$d"/out.*; do [ -f "$g" ] && echo "${{g##*.}}"; done | sort -n | awk -v i=$i '$1 > i {{ print; exit }}')
    if [ -n "$j" ]; then echo "{MARK} skipped $((j * {c} - o))" >&2; o=$((j * {c})); continue; fi
  fi
  if [ -f "$d/exit" ]; then
    if [ -f "$d/eof" ] || [ $q -ge 12 ]; then break; fi
    q=$((q + 1))
  elif ! pd_alive "$@"; then
    [ -f "$d/exit" ] && continue
    if [ -f "$d/killed" ]; then echo "{MARK} killed" >&2; else echo "{MARK} lost" >&2; fi
    exit 0
  fi
  sleep 0.25
done
echo "{MARK} exit $(head -c 16 "$d/exit" | tr -d '\n')" >&2
exit 0
"#
    )
}

/// Starts `script` detached on the host under `key`, then follows it to its end (see the
/// module docs). Refuses (an `error` marker) when the key's record exists already: a run is
/// started once.
pub fn launch_script(base: &str, key: &RunKey, script: &str) -> String {
    let scope_unit = format!("patchdeck-{}-{}", key.window.as_str(), key.name());
    format!(
        r#"{prelude}d="$w/{run}"
{ALIVE_FN}mkdir -p "$w" && chmod 700 "$b" "$w" || {{ echo "{MARK} error cannot create $w" >&2; exit 0; }}
if ! mkdir "$d" 2>/dev/null; then echo "{MARK} error $d exists already: this run was started before" >&2; exit 0; fi
printf '%s' {script} > "$d/command" || {{ echo "{MARK} error cannot write $d/command" >&2; exit 0; }}
cat /proc/sys/kernel/random/boot_id > "$d/boot" 2>/dev/null || : > "$d/boot"
if command -v setsid >/dev/null 2>&1; then pd_new=setsid
elif command -v perl >/dev/null 2>&1; then pd_new='perl -MPOSIX -e POSIX::setsid()>=0||die;exec(@ARGV)||die'
else echo "{MARK} error neither setsid nor perl is installed: the command cannot be detached" >&2; rm -rf "$d"; exit 0; fi
pd_scope=
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1 && systemd-run --scope --quiet --collect true >/dev/null 2>&1; then
  pd_scope='systemd-run --scope --quiet --collect --unit={scope_unit}'
fi
( trap '' HUP; exec $pd_new $pd_scope sh -c {body} sh "$d" </dev/null >/dev/null 2>&1 & )
n=0
while [ ! -s "$d/pid" ]; do
  n=$((n + 1))
  if [ $n -gt 100 ]; then echo "{MARK} error the command did not start within 25 s" >&2; exit 0; fi
  sleep 0.25
done
echo "{MARK} started $(head -c 120 "$d/pid" | tr -d '\n')" >&2
o=0
{follow}"#,
        prelude = prelude(base, &key.window),
        run = key.name(),
        script = sh_quote(script),
        body = sh_quote(&detached_body()),
        follow = follow_body(),
    )
}

/// Follows a run that is already going (re-attach after a lost link or a restart), from the
/// oldest output the host still keeps.
pub fn follow_script(base: &str, key: &RunKey) -> String {
    format!(
        "{prelude}d=\"$w/{run}\"\n{ALIVE_FN}\
         [ -d \"$d\" ] || {{ echo \"{MARK} error no record of this run on the host\" >&2; exit 0; }}\n\
         o=0\n{follow}",
        prelude = prelude(base, &key.window),
        run = key.name(),
        follow = follow_body(),
    )
}

/// Prints the run's record: [`RECORD_MAGIC`], `key value` lines, then `output` and the last
/// `keep` bytes of its output. Read by [`parse_record`].
pub fn recover_script(base: &str, key: &RunKey, keep: u64) -> String {
    format!(
        r#"{prelude}d="$w/{run}"
{ALIVE_FN}echo '{RECORD_MAGIC}'
if [ ! -d "$d" ]; then echo 'state missing'; exit 0; fi
echo 'state present'
if [ -f "$d/pid" ]; then
  echo "pid $(head -c 120 "$d/pid" | tr -d '\n')"
  if pd_alive $(head -c 120 "$d/pid"); then echo 'alive yes'; else echo 'alive no'; fi
fi
[ -f "$d/exit" ] && echo "exit $(head -c 16 "$d/exit" | tr -d '\n')"
[ -f "$d/killed" ] && echo 'killed yes'
k=$(for g in "$d"/out.*; do [ -f "$g" ] && echo "${{g##*.}}"; done | sort -n | tail -n 1)
if [ -n "$k" ]; then
  echo "total $((k * {c} + $(wc -c < "$d/out.$k")))"
  echo 'output'
  if [ "$k" -gt 0 ] && [ -f "$d/out.$((k - 1))" ]; then cat "$d/out.$((k - 1))" "$d/out.$k"; else cat "$d/out.$k"; fi | tail -c {keep}
else
  echo 'total 0'
  echo 'output'
fi
exit 0
"#,
        prelude = prelude(base, &key.window),
        run = key.name(),
        c = CHUNK_BYTES,
    )
}

/// Ends the run's whole process group: SIGTERM, then SIGKILL after [`KILL_GRACE_SECS`].
/// Prints `ended` when nothing of it is left, `alive` when something still is, `nothing` when
/// there is no such run (or it had ended already).
pub fn kill_script(base: &str, key: &RunKey) -> String {
    let grace_polls = KILL_GRACE_SECS * 5;
    format!(
        r#"{prelude}d="$w/{run}"
{ALIVE_FN}[ -f "$d/pid" ] || {{ echo nothing; exit 0; }}
set -- $(head -c 120 "$d/pid")
if ! pd_alive "$@"; then echo nothing; exit 0; fi
: > "$d/killed"
kill -TERM -"$1" 2>/dev/null
n=0
while pd_alive "$@" && [ $n -lt {grace_polls} ]; do sleep 0.2; n=$((n + 1)); done
kill -KILL -"$1" 2>/dev/null
n=0
while pd_alive "$@" && [ $n -lt 25 ]; do sleep 0.2; n=$((n + 1)); done
if pd_alive "$@"; then echo alive; else echo ended; fi
exit 0
"#,
        prelude = prelude(base, &key.window),
        run = key.name(),
    )
}

/// Removes the window's records on the host, except a run still going (it is reported:
/// `kept N`). Prints `removed N kept M`.
pub fn cleanup_script(base: &str, window: &WindowKey) -> String {
    format!(
        r#"{prelude}{ALIVE_FN}[ -d "$w" ] || {{ echo 'removed 0 kept 0'; exit 0; }}
r=0; k=0
for d in "$w"/*; do
  [ -d "$d" ] || continue
  if [ -f "$d/pid" ] && pd_alive $(head -c 120 "$d/pid"); then k=$((k + 1)); continue; fi
  rm -rf -- "$d" && r=$((r + 1))
done
rmdir "$w" 2>/dev/null
echo "removed $r kept $k"
exit 0
"#,
        prelude = prelude(base, window),
    )
}

/// How a follower's run ended, from its marker line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ended {
    Exit(i32),
    Killed,
    Lost,
    Error(String),
}

/// The last marker line on `stderr` that says how the run ended; `None`: there is none (the
/// follower was cut off).
fn ended(stderr: &[u8]) -> Option<Ended> {
    let text = String::from_utf8_lossy(stderr);
    text.lines().rev().find_map(|l| {
        let rest = l.strip_prefix(MARK)?.strip_prefix(' ')?;
        let (word, arg) = rest.split_once(' ').unwrap_or((rest, ""));
        match word {
            "exit" => Some(match arg.trim().parse::<i32>() {
                Ok(n) if (0..=255).contains(&n) => Ended::Exit(n),
                _ => Ended::Error(format!("the host recorded an unreadable exit status {:?}", safe(arg))),
            }),
            "killed" => Some(Ended::Killed),
            "lost" => Some(Ended::Lost),
            "error" => Some(Ended::Error(safe(arg))),
            _ => None,
        }
    })
}

fn safe(s: &str) -> String {
    crate::safe_text::for_terminal(s.trim())
}

/// `stderr` without the runner's own lines.
fn strip_marks(stderr: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stderr.len());
    for line in stderr.split_inclusive(|b| *b == b'\n') {
        if !line.starts_with(format!("{MARK} ").as_bytes()) {
            out.extend_from_slice(line);
        }
    }
    out
}

/// The follower's output as the command's own: the status its marker gave, the runner's
/// lines left out. An error says what the runner could not do.
pub fn finish(host: &Host, out: Output, key: &RunKey) -> Result<Output, TransportError> {
    let fail = |detail: String| TransportError::Other { host: host.name.clone(), detail };
    let status = match ended(&out.stderr) {
        Some(Ended::Exit(n)) => Some(n),
        Some(Ended::Killed) => None,
        Some(Ended::Lost) => {
            // Killed, or the host went down, part way: the record is read again (a lost
            // connection), and says so (inconsistent: the outcome is unknown, repair offered),
            // rather than this passing for an unreachable host.
            return Err(TransportError::ConnectionLost {
                host: host.name.clone(),
                detail: format!(
                    "the command's processes on the host ended without recording an exit status (run {}/{})",
                    key.window.as_str(),
                    key.name()
                ),
            });
        }
        Some(Ended::Error(why)) => return Err(fail(format!("the host-side runner: {why}"))),
        None => {
            // The follower always ends with a mark: without one, it or its link died (a
            // host powered off can close the session before our ssh master notices, so the
            // client's 255 looks like an exit code). The command is detached and recorded:
            // a lost connection, whose outcome the host's record will tell.
            let said = safe(&String::from_utf8_lossy(&strip_marks(&out.stderr)));
            return Err(TransportError::ConnectionLost {
                host: host.name.clone(),
                detail: format!(
                    "the host-side runner's follower ended without the command's status (exit {:?}){}",
                    out.status,
                    if said.is_empty() { String::new() } else { format!(": {said}") }
                ),
            });
        }
    };
    // Output the follower skipped (it fell more than a chunk behind) was not kept either.
    let skipped: u64 = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix(MARK)?.strip_prefix(" skipped ")?.trim().parse::<u64>().ok())
        .sum();
    Ok(Output { status, stderr: strip_marks(&out.stderr), stdout_cut: out.stdout_cut + skipped, ..out })
}

/// Reads [`recover_script`]'s answer. Anything unexpected is `Inconsistent`, never a panic.
pub fn parse_record(stdout: &[u8]) -> Recovered {
    let bad = |detail: &str| Recovered::Inconsistent { detail: detail.to_string() };
    let (head, output) = match find(stdout, b"\noutput\n") {
        Some(at) => (&stdout[..at], &stdout[at + 8..]),
        None => (stdout, &[][..]),
    };
    let Ok(head) = std::str::from_utf8(head) else { return bad("the host's run record is not text") };
    let mut lines = head.lines();
    if lines.next() != Some(RECORD_MAGIC) {
        return bad("the host's answer is not a run record this patchdeck can read");
    }
    let (mut present, mut pid, mut alive, mut exit, mut killed, mut total) = (None, None, None, None, false, None);
    for line in lines {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        match k {
            "state" => present = Some(v == "present"),
            "pid" => pid = v.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()).filter(|p| *p > 1),
            "alive" => alive = Some(v == "yes"),
            "exit" => exit = Some(v.to_string()),
            "killed" => killed = v == "yes",
            "total" => total = v.parse::<u64>().ok(),
            _ => return bad("the host's run record has a line this patchdeck cannot read"),
        }
    }
    match present {
        None => return bad("the host's run record is cut short"),
        Some(false) => return Recovered::Missing,
        Some(true) => {}
    }
    let tail = || {
        let kept = output.to_vec();
        let cut = total.unwrap_or(0).saturating_sub(kept.len() as u64);
        (kept, cut)
    };
    if let Some(exit) = exit {
        return match exit.parse::<i32>() {
            Ok(n) if (0..=255).contains(&n) => {
                let (stdout, stdout_cut) = tail();
                Recovered::Finished { output: Output { status: Some(n), stdout, stdout_cut, ..Output::default() } }
            }
            _ => bad("the host recorded an exit status that cannot be read"),
        };
    }
    match (pid, alive) {
        (Some(pid), Some(true)) => Recovered::Running { pid },
        (Some(_), Some(false)) if killed => {
            let (stdout, stdout_cut) = tail();
            Recovered::Finished { output: Output { status: None, stdout, stdout_cut, ..Output::default() } }
        }
        (Some(pid), Some(false)) => Recovered::Inconsistent {
            detail: format!(
                "its processes (group {pid}) are gone and no exit status was recorded: it was killed, \
                 or the host went down, part way"
            ),
        },
        _ => bad("the run was started but never recorded its process: it may not have run at all"),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A sink that passes on every line but the runner's own markers.
struct Unmarked<'a>(&'a dyn Sink);

impl Sink for Unmarked<'_> {
    fn line(&self, line: OutputLine) {
        if !(line.stream == Stream::Stderr && line.text.starts_with(MARK)) {
            self.0.line(line);
        }
    }
    fn wants_lines(&self) -> bool {
        self.0.wants_lines()
    }
}

fn control(script: String, timeout: Duration) -> Command {
    Command { script, purpose: Purpose::Shell, needs_root: true, timeout, detached: None }
}

/// Runs `cmd` detached under `key` through `t` (whose plain commands reach the host), with
/// `base` the host's runs directory; streams its output to `sink`. On a timeout the run's
/// whole process group is ended on the host (as root) before the timeout is reported.
pub async fn exec<T: Transport + ?Sized>(
    t: &T,
    host: &Host,
    cmd: &Command,
    key: &RunKey,
    base: &str,
    sink: &dyn Sink,
) -> Result<Output, TransportError> {
    let plain = Command {
        script: launch_script(base, key, &cmd.script),
        purpose: cmd.purpose.clone(),
        needs_root: true,
        timeout: cmd.timeout,
        detached: None,
    };
    match t.exec_streaming(host, &plain, &Unmarked(sink)).await {
        Ok(out) => finish(host, out, key),
        Err(e @ TransportError::Timeout { .. }) => {
            match kill(t, host, key, base).await {
                Ok(true) => tracing::info!(host = %host.name, run = %key.name(), "timed-out run ended on the host"),
                Ok(false) => tracing::warn!(host = %host.name, run = %key.name(), "timed-out run still has processes"),
                Err(k) => tracing::warn!(host = %host.name, run = %key.name(), "cannot end the timed-out run: {k}"),
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Follows a run already going until it ends (or `timeout`, then ends it as [`exec`] does).
pub async fn attach<T: Transport + ?Sized>(
    t: &T,
    host: &Host,
    key: &RunKey,
    base: &str,
    timeout: Duration,
    sink: &dyn Sink,
) -> Result<Output, TransportError> {
    let plain = Command { script: follow_script(base, key), ..control(String::new(), timeout) };
    match t.exec_streaming(host, &plain, &Unmarked(sink)).await {
        Ok(out) => finish(host, out, key),
        Err(e @ TransportError::Timeout { .. }) => {
            if let Err(k) = kill(t, host, key, base).await {
                tracing::warn!(host = %host.name, run = %key.name(), "cannot end the timed-out run: {k}");
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Reads the host's record of `key`.
pub async fn recover<T: Transport + ?Sized>(
    t: &T,
    host: &Host,
    key: &RunKey,
    base: &str,
) -> Result<Recovered, TransportError> {
    let out = t.exec(host, &control(recover_script(base, key, RECOVER_BYTES), CONTROL_TIMEOUT)).await?;
    if !out.success() {
        return Err(TransportError::Other {
            host: host.name.clone(),
            detail: format!("cannot read the run's record (exit {:?}): {}", out.status, safe(&out.stderr_lossy())),
        });
    }
    Ok(parse_record(&out.stdout))
}

/// Ends the run's process group on the host. `true`: nothing of it is left running.
pub async fn kill<T: Transport + ?Sized>(t: &T, host: &Host, key: &RunKey, base: &str) -> Result<bool, TransportError> {
    let out = t.exec(host, &control(kill_script(base, key), CONTROL_TIMEOUT)).await?;
    Ok(out.success() && out.stdout_lossy().lines().any(|l| l == "ended" || l == "nothing"))
}

/// Removes the window's run records on the host (never a run still going).
pub async fn cleanup<T: Transport + ?Sized>(
    t: &T,
    host: &Host,
    window: &WindowKey,
    base: &str,
) -> Result<(), TransportError> {
    let out = t.exec(host, &control(cleanup_script(base, window), CONTROL_TIMEOUT)).await?;
    if out.success() {
        tracing::info!(host = %host.name, window = window.as_str(), said = %out.stdout_lossy().trim(), "run records cleaned");
        Ok(())
    } else {
        Err(TransportError::Other {
            host: host.name.clone(),
            detail: format!("cannot remove the window's run records: {}", safe(&out.stderr_lossy())),
        })
    }
}

#[cfg(test)]
mod tests;
