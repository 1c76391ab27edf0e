//! For a host whose login uses sudo (`sudo = true`, not logged in as root): proof that
//! `sudo -n` works unattended for what the window will run, before the window starts.
//!
//! Every command the window runs as root goes through `sudo -n sh -c <script>` (the
//! transports' one form, [`SUDO_FORM`]), so that exact form is tried: it fails alike when a
//! password is needed, when sudoers says `requiretty`, and when the user may not run `sh`.
//! Then the programs the window's steps, rollbacks, on-host checks and package manager call
//! are looked up under sudo (whose `secure_path` replaces PATH): one that the login user's
//! PATH finds but sudo's does not would be "not found" in the middle of the window.
//!
//! One short command on hosts that use sudo, beside the probe (as the lock read is): the
//! probe's answer is shared between clones and kept between runs, while sudo is each
//! login's own and must be asked every time.

use std::time::Duration;

use crate::diff::{Class, Finding};
use crate::inventory::Host;
use crate::runbook::{CheckKind, OnDivergence, Runbook, StepAction};
use crate::transport::{Command, Purpose, Transport};

/// The subject of the finding that says sudo itself cannot serve the window (as opposed to
/// one program it hides).
pub const WHOLE: &str = "sudo";

/// Findings that need root to be told on a sudo host: with sudo unusable they would each
/// repeat its failure in other words (a lock "held" because it cannot be read, a file
/// "drifted" because it cannot be read), so they are left out until sudo works.
pub fn needs_root(class: Class) -> bool {
    matches!(
        class,
        Class::ConfigDrift
            | Class::HostLocked
            | Class::DriftNetworking
            | Class::DriftConffile
            | Class::DriftConfig
            | Class::DriftKernel
            | Class::DriftServices
            | Class::DriftSources
    )
}

/// Does this finding say sudo itself is unusable?
pub fn is_whole(f: &Finding) -> bool {
    f.class == Class::SudoUnusable && f.subject == WHOLE
}

/// How the transports run a root command on a sudo host: `sudo -n sh -c <script>`.
pub const SUDO_FORM: &str = "sudo -n sh -c";

/// What sudo answered, as the check script reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Logged in as root: sudo is not used.
    Root,
    /// `sudo -n sh -c` ran; these programs were not found under sudo (with where the login
    /// user's PATH finds them) and this is sudo's PATH.
    Works { hidden: Vec<(String, String)>, secure_path: String },
    /// No `sudo` on the host.
    NoSudo,
    /// `sudo -n sh -c` failed: its first line of complaint, and whether `sudo -n -l sh` then
    /// said nothing but failed (sudo works for this user without a password, only not for
    /// `sh`: sudo asks for a password for a command no NOPASSWD rule allows).
    Refused { complaint: String, not_allowed: bool },
}

/// Why sudo cannot serve the window, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    PasswordNeeded,
    RequireTty,
    NotAllowed,
    NoSudo,
    Other(String),
}

/// The check script: as the login user, no terminal, stdin from nowhere. Each program is a
/// plain word (see [`programs`]).
pub fn command(programs: &[String], timeout: Duration) -> Command {
    let list = programs.join(" ");
    let script = format!(
        "export LC_ALL=C\n\
         PATH=\"$PATH:/usr/local/sbin:/usr/sbin:/sbin\"\n\
         if [ \"$(id -u)\" = 0 ]; then echo root; exit 0; fi\n\
         if ! command -v sudo >/dev/null 2>&1; then echo nosudo; exit 0; fi\n\
         if ! pd_out=$({SUDO_FORM} 'exit 0' 2>&1 </dev/null); then\n\
           printf '%s\\n' \"$pd_out\" | head -n 5 | sed 's/^/refused /'\n\
           pd_out=$(sudo -n -l sh 2>&1 </dev/null) || printf 'list %s\\n' \"$(printf '%s\\n' \"$pd_out\" | head -n 1)\"\n\
           exit 0\n\
         fi\n\
         echo works\n\
         printf 'securepath %s\\n' \"$({SUDO_FORM} 'printf %s \"$PATH\"' </dev/null 2>/dev/null)\"\n\
         for p in $({SUDO_FORM} 'for p in \"$@\"; do command -v \"$p\" >/dev/null 2>&1 || echo \"$p\"; done' sh {list} </dev/null 2>/dev/null); do\n\
           printf 'hidden %s %s\\n' \"$p\" \"$(command -v \"$p\" 2>/dev/null || echo -)\"\n\
         done\n"
    );
    Command { script, purpose: Purpose::SudoCheck, needs_root: false, timeout, detached: None }
}

/// Reads the check script's output. Anything else is not an answer.
pub fn parse(stdout: &str) -> Option<Answer> {
    let mut lines = stdout.lines();
    let first = lines.next()?.trim_end();
    match first {
        "root" => return Some(Answer::Root),
        "nosudo" => return Some(Answer::NoSudo),
        "works" => {}
        _ => {
            // Up to five lines of complaint; sudo may open with a warning ("unable to
            // resolve host") before saying why it refused: the line naming a cause wins.
            let mut complaints = vec![first.strip_prefix("refused ")?.trim().to_string()];
            let mut not_allowed = false;
            for l in lines {
                if let Some(c) = l.strip_prefix("refused ") {
                    complaints.push(c.trim().to_string());
                }
                // `list` with nothing after it: `sudo -n -l sh` failed without a word.
                not_allowed |= l.trim_end() == "list";
            }
            let complaint = complaints
                .iter()
                .find(|c| !matches!(cause(c), Cause::Other(_)))
                .or_else(|| complaints.iter().find(|c| !c.contains("unable to resolve host")))
                .unwrap_or(&complaints[0]);
            return Some(Answer::Refused { complaint: crate::safe_text::for_terminal(complaint), not_allowed });
        }
    }
    let (mut hidden, mut secure_path) = (Vec::new(), String::new());
    for line in lines {
        if let Some(p) = line.strip_prefix("securepath ") {
            secure_path = crate::safe_text::for_terminal(p.trim());
        } else if let Some(rest) = line.strip_prefix("hidden ") {
            let (p, at) = rest.split_once(' ').unwrap_or((rest, "-"));
            hidden.push((crate::safe_text::for_terminal(p), crate::safe_text::for_terminal(at.trim())));
        }
    }
    Some(Answer::Works { hidden, secure_path })
}

/// Sorts sudo's complaint into a cause.
pub fn cause(complaint: &str) -> Cause {
    let c = complaint.to_ascii_lowercase();
    if c.contains("password is required") || c.contains("a terminal is required to read the password") {
        Cause::PasswordNeeded
    } else if c.contains("must have a tty") {
        Cause::RequireTty
    } else if c.contains("is not allowed to execute")
        || c.contains("not in the sudoers file")
        || c.contains("may not run sudo")
    {
        Cause::NotAllowed
    } else {
        Cause::Other(complaint.to_string())
    }
}

/// The findings for one host's answer (`user`: the login, for the fixes).
pub fn findings(answer: &Answer, user: &str) -> Vec<Finding> {
    let stop = |subject: &str, here: String, detail: String| Finding {
        class: Class::SudoUnusable,
        subject: subject.to_string(),
        tested: None,
        here: Some(here),
        verdict: Some(OnDivergence::Stop),
        detail,
    };
    match answer {
        Answer::Root => Vec::new(),
        Answer::NoSudo => vec![stop(
            WHOLE,
            "not installed".into(),
            "sudo is not installed, but this host's login uses it for every root command: install sudo, or connect as root".into(),
        )],
        Answer::Refused { complaint, not_allowed } => {
            let cause = if *not_allowed { Cause::NotAllowed } else { cause(complaint) };
            let (here, fix) = match cause {
                Cause::PasswordNeeded => (
                    "password needed",
                    format!("sudo needs a password for {user} (or {user} has no sudo rights); the window cannot type one: allow {user} NOPASSWD in sudoers for what the window runs, or connect as root"),
                ),
                Cause::RequireTty => (
                    "requiretty",
                    format!("sudoers says requiretty; the window runs without a terminal: add `Defaults:{user} !requiretty`"),
                ),
                Cause::NotAllowed => (
                    "command not allowed",
                    format!("{user} may not run `{SUDO_FORM} ...`, the form of every root command of the window: allow {user} to run /bin/sh as root in sudoers"),
                ),
                Cause::NoSudo => ("not installed", "install sudo, or connect as root".to_string()),
                Cause::Other(_) => ("refused", format!("`{SUDO_FORM}` failed for {user}: fix sudo for {user}, or connect as root")),
            };
            vec![stop(WHOLE, here.into(), format!("{fix} (sudo said: {complaint})"))]
        }
        Answer::Works { hidden, secure_path } => hidden
            .iter()
            .map(|(program, at)| {
                let fix = match at.rsplit_once('/') {
                    Some((dir, _)) if at.starts_with('/') => format!(
                        "{program} is {at} for {user}, but not on sudo's secure_path ({secure_path}): add {dir} to `Defaults secure_path` in sudoers, or write {at} in the runbook"
                    ),
                    _ => format!(
                        "{program} is not found under sudo (secure_path {secure_path}), nor on {user}'s PATH: install it, or write its full path in the runbook"
                    ),
                };
                stop(program, "hidden by secure_path".into(), fix)
            })
            .collect(),
    }
}

/// The programs the window runs as root on hosts: the first word of every `run` step, its
/// rollback and every on-host check, and the package manager's tools. Words that are not
/// plain program names (paths, assignments, shell syntax and builtins) are left out: a path
/// does not depend on PATH, and the shell's own words are always there.
pub fn programs(runbook: &Runbook, manager_tools: &[&str]) -> Vec<String> {
    const SHELL_WORDS: &[&str] = &[
        "if", "then", "else", "fi", "for", "while", "until", "do", "done", "case", "esac", "{", "}", "!", "[", "test",
        "echo", "printf", "cd", "exit", "export", "set", "true", "false", "exec", "command", "eval", ".", ":",
        "return", "read", "trap", "wait", "sh", "env",
    ];
    let mut commands: Vec<&str> = Vec::new();
    for step in &runbook.steps {
        if let StepAction::Run(cmd) = &step.action {
            commands.push(cmd);
            commands.extend(step.rollback.as_deref());
        }
    }
    for check in &runbook.checks {
        if let CheckKind::Run(cmd) = &check.kind {
            commands.push(cmd);
        }
    }
    let mut out: Vec<String> = manager_tools.iter().map(|t| t.to_string()).collect();
    for cmd in commands {
        for line in cmd.lines() {
            let Some(word) = line.split_whitespace().next() else { continue };
            let plain = word.chars().all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c));
            if plain && !SHELL_WORDS.contains(&word) && !out.iter().any(|o| o == word) {
                out.push(word.to_string());
            }
        }
    }
    out
}

/// Asks a sudo host; `None` for a host that does not use sudo. A host whose answer makes no
/// sense, or that cannot run the check, gets a stop saying sudo was not proven.
pub async fn check(transport: &dyn Transport, host: &Host, programs: &[String]) -> Vec<Finding> {
    if !host.sudo {
        return Vec::new();
    }
    let user = host.user.as_deref().unwrap_or("the login user");
    let unproven = |why: String| {
        vec![Finding {
            class: Class::SudoUnusable,
            subject: WHOLE.into(),
            tested: None,
            here: Some("not proven".into()),
            verdict: Some(OnDivergence::Stop),
            detail: crate::safe_text::for_terminal(&format!(
                "whether `sudo -n` works for {user} could not be checked ({why}); the window needs it for every root command"
            )),
        }]
    };
    match transport.exec(host, &command(programs, Duration::from_secs(30))).await {
        Ok(out) if out.success() => match parse(&out.stdout_lossy()) {
            Some(answer) => findings(&answer, user),
            None => unproven("the host's answer was not understood".into()),
        },
        Ok(out) => unproven(format!("exit {:?}: {}", out.status, out.stderr_lossy().lines().next().unwrap_or(""))),
        Err(e) => unproven(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudos_complaints_name_their_cause() {
        // As sudo 1.9.13 (Debian 12) prints them.
        assert_eq!(cause("sudo: a password is required"), Cause::PasswordNeeded);
        assert_eq!(cause("sudo: sorry, you must have a tty to run sudo"), Cause::RequireTty);
        assert_eq!(
            cause("Sorry, user deploy is not allowed to execute '/usr/bin/sh -c exit 0' as root on prod1."),
            Cause::NotAllowed
        );
        assert_eq!(cause("deploy is not in the sudoers file."), Cause::NotAllowed);
        assert!(matches!(cause("sudo: unable to resolve host x"), Cause::Other(_)));
    }

    #[test]
    fn answers_parse_and_become_stops_with_the_fix() {
        assert_eq!(parse("root\n"), Some(Answer::Root));
        assert_eq!(parse("nosudo\n"), Some(Answer::NoSudo));
        assert_eq!(parse("banner\n"), None);
        // Captured on the test fleet: sudo in a chroot warns about the kernel's host name first.
        let refused = parse(
            "refused sudo: unable to resolve host vm: Name or service not known\n\
             refused sudo: a password is required\nlist sudo: a password is required\n",
        )
        .unwrap();
        let f = findings(&refused, "deploy");
        assert_eq!((f.len(), f[0].class, f[0].verdict), (1, Class::SudoUnusable, Some(OnDivergence::Stop)));
        assert_eq!(f[0].here.as_deref(), Some("password needed"));
        assert!(f[0].detail.contains("NOPASSWD") && f[0].detail.contains("a password is required"), "{}", f[0].detail);
        // Captured from sudo 1.9.13 with only `NOPASSWD: /usr/bin/true` for the user: sudo asks
        // a password for `sh`, and `sudo -n -l sh` fails without a word.
        let only_true = parse("refused sudo: a password is required\nlist \n").unwrap();
        assert_eq!(only_true, Answer::Refused { complaint: "sudo: a password is required".into(), not_allowed: true });
        let f = findings(&only_true, "deploy");
        assert_eq!(f[0].here.as_deref(), Some("command not allowed"));
        assert!(f[0].detail.contains("allow deploy to run /bin/sh as root"), "{}", f[0].detail);
        let tty = findings(&parse("refused sudo: sorry, you must have a tty to run sudo\n").unwrap(), "deploy");
        assert!(tty[0].detail.contains("Defaults:deploy !requiretty"), "{}", tty[0].detail);
        assert!(findings(&Answer::NoSudo, "deploy")[0].detail.contains("not installed"));

        let works =
            parse("works\nsecurepath /usr/sbin:/usr/bin:/sbin:/bin\nhidden pd-tool /opt/pd/bin/pd-tool\n").unwrap();
        let f = findings(&works, "deploy");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "pd-tool");
        assert!(f[0].detail.contains("add /opt/pd/bin to `Defaults secure_path`"), "{}", f[0].detail);
        assert!(findings(&parse("works\nsecurepath /usr/bin\n").unwrap(), "deploy").is_empty());
        // Escapes from the host never reach the terminal.
        let hostile = findings(&parse("refused \x1b[2Jsudo: a password is required\n").unwrap(), "deploy");
        assert!(!hostile[0].detail.contains('\x1b'));
    }

    #[test]
    fn the_check_script_runs_and_reports_as_root() {
        // This machine: as root the script says so; as anyone else it asks sudo.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(command(&["ls".into()], Duration::from_secs(5)).script)
            .output()
            .unwrap();
        let answer = parse(&String::from_utf8_lossy(&out.stdout)).expect("an answer");
        let root = std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
        assert_eq!(root, answer == Answer::Root, "{answer:?}");
    }
}
