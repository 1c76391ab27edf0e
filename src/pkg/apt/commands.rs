//! apt commands that change a host: install exact versions, restore a snapshot, and the
//! pure check that a restore worked.
//!
//! Every name and version is validated ([`PkgName`], [`Version`]) and still shell-quoted
//! with `shlex::try_quote`: validation says what a package name is, quoting says what
//! the shell does with it, and neither should rely on the other.
//!
//! Both scripts:
//! - export `DEBIAN_FRONTEND=noninteractive` (debconf), `APT_LISTCHANGES_FRONTEND=none`
//!   (no changelog pager), `NEEDRESTART_MODE=l` + `NEEDRESTART_SUSPEND=1` (needrestart
//!   lists instead of asking or restarting services behind the operator's back), `LC_ALL=C`;
//! - keep local config files (`--force-confdef --force-confold`), never prompt (`-y`,
//!   stdin `/dev/null`), wait up to 60s for a dpkg lock held by e.g. unattended-upgrades
//!   instead of failing at once (`DPkg::Lock::Timeout`);
//! - pass `--no-install-recommends`: the list we are given is the whole intended change
//!   (baselines name their new installs), so apt may add only hard dependencies;
//! - never pass `--allow-change-held-packages`: a hold is an operator decision and apt
//!   refuses to touch held packages unless [`InstallOptions::allow_change_held`] is set;
//! - put back the "automatically installed" mark of packages they name, because
//!   `apt-get install pkg=ver` marks them manual and would change what `autoremove` does.

use std::time::Duration;

use crate::pkg::{PkgName, Version};
use crate::transport::{Command, Purpose};

/// Knobs for [`install_exact_with`]; the defaults are the safe choice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstallOptions {
    /// Pass `--allow-change-held-packages`. Only when the operator explicitly asked.
    pub allow_change_held: bool,
}

const PREAMBLE: &str = "\
set -e
export DEBIAN_FRONTEND=noninteractive APT_LISTCHANGES_FRONTEND=none
export NEEDRESTART_MODE=l NEEDRESTART_SUSPEND=1
export LC_ALL=C LANG=C LANGUAGE=C
exec </dev/null
";

const APT_OPTS: &str = "-o DPkg::Lock::Timeout=60 -o Dpkg::Use-Pty=0 \
-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --no-install-recommends";

fn q(s: &str) -> String {
    // Validated names/versions never contain NUL, the only thing try_quote refuses; the
    // fallback keeps this total without a panic path.
    shlex::try_quote(s).map(|c| c.into_owned()).unwrap_or_else(|_| "''".into())
}

/// Remembers which of `names` are marked automatically installed, to re-mark them after.
fn save_auto(names: &[&PkgName]) -> String {
    if names.is_empty() {
        return String::new();
    }
    let args: Vec<String> = names.iter().map(|n| q(n.as_str())).collect();
    // showauto with arguments prints the subset that is auto; awk keeps only name-shaped
    // text before it is word-split into `apt-mark auto` below.
    format!(
        "pd_auto=$(apt-mark showauto -- {} 2>/dev/null | awk '/^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$/' || true)\n",
        args.join(" ")
    )
}

const RESTORE_AUTO: &str = "if [ -n \"$pd_auto\" ]; then (set -f; apt-mark auto $pd_auto >/dev/null); fi\n";

/// See [`super::Apt`]'s `install_exact`: the trait method uses the default options.
pub fn install_exact_with(packages: &[(PkgName, Version)], timeout: Duration, opts: InstallOptions) -> Command {
    let purpose = Purpose::Install;
    let script = if packages.is_empty() {
        "# patchdeck: nothing to install\ntrue\n".to_string()
    } else {
        let names: Vec<&PkgName> = packages.iter().map(|(n, _)| n).collect();
        let args: Vec<String> = packages.iter().map(|(n, v)| q(&format!("{n}={v}"))).collect();
        let held = if opts.allow_change_held { " --allow-change-held-packages" } else { "" };
        format!(
            "{PREAMBLE}{}apt-get install -y -q --no-remove --allow-downgrades{held} {APT_OPTS} -- {}\n{RESTORE_AUTO}",
            save_auto(&names),
            args.join(" ")
        )
    };
    Command { script, purpose, needs_root: true, timeout, detached: None }
}

/// Installs exactly these versions. `--no-remove`: if apt would have to remove anything
/// to get there it aborts instead, because an unplanned removal during a window is worse
/// than a failed step. `--allow-downgrades` so a "tested baseline" older than what a host
/// has can be applied.
pub fn install_exact(packages: &[(PkgName, Version)], timeout: Duration) -> Command {
    install_exact_with(packages, timeout, InstallOptions::default())
}

/// Puts packages back to a snapshot in ONE apt transaction: `pkg=ver` for `Some(ver)`
/// (downgrades allowed) and `pkg-` (apt's remove suffix) for `None`.
///
/// One transaction because order matters otherwise: removing a newly installed dependency
/// first would make apt remove the upgraded package that needs it. When the snapshot asks
/// to remove nothing, `--no-remove` makes apt itself refuse any removal. When it does ask,
/// `--no-remove` cannot be used, so the script first simulates the same transaction and
/// aborts (exit 101) if apt would remove any package the snapshot did not ask to remove:
/// the same guarantee for the packages we did not name, at the price of one resolver run
/// (~0.7 s of host CPU), which is why the common case does without it. (A host change
/// between simulation and run is the remaining gap; in a window the operator holds the
/// host.)
///
/// Remove, not purge: the packages being removed were installed by the change we are
/// undoing, but purge would also delete their configuration and, via maintainer scripts,
/// possibly their data (`/var/lib/...`), which cannot be undone. A removed package left in
/// `rc` state is not installed (dpkg-query status `c`), so [`crate::pkg::verify`] treats it as absent.
pub fn restore(snapshot: &[(PkgName, Option<Version>)], timeout: Duration) -> Command {
    let purpose = Purpose::Restore;
    if snapshot.is_empty() {
        return Command {
            script: "# patchdeck: nothing to restore\ntrue\n".into(),
            purpose,
            needs_root: true,
            timeout,
            detached: None,
        };
    }
    let args: Vec<String> = snapshot
        .iter()
        .map(|(n, v)| match v {
            Some(v) => q(&format!("{n}={v}")),
            None => q(&format!("{n}-")),
        })
        .collect();
    let args = args.join(" ");
    let removals: Vec<String> =
        snapshot.iter().filter(|(_, v)| v.is_none()).map(|(n, _)| format!("-e {}", q(n.as_str()))).collect();
    // grep -vxF with no patterns would match nothing; an impossible name keeps it valid.
    let keep = if removals.is_empty() { "-e ' '".to_string() } else { removals.join(" ") };
    let reinstalled: Vec<&PkgName> = snapshot.iter().filter(|(_, v)| v.is_some()).map(|(n, _)| n).collect();
    if removals.is_empty() {
        let script = format!(
            "{PREAMBLE}{}apt-get install -y -q --no-remove --allow-downgrades {APT_OPTS} -- {args}\n{RESTORE_AUTO}",
            save_auto(&reinstalled)
        );
        return Command { script, purpose, needs_root: true, timeout, detached: None };
    }
    let script = format!(
        "{PREAMBLE}\
pd_plan=$(apt-get -s -q -o Debug::NoLocking=1 --allow-downgrades {APT_OPTS} install -- {args}) || {{
  echo 'patchdeck: apt cannot plan this restore; nothing was changed' >&2; exit 100; }}
pd_extra=$(printf '%s\\n' \"$pd_plan\" | awk '$1 == \"Remv\" || $1 == \"Purg\" {{ print $2 }}' | grep -vxF {keep} || true)
if [ -n \"$pd_extra\" ]; then
  echo 'patchdeck: restore would also remove packages not in the snapshot; nothing was changed:' >&2
  printf '%s\\n' \"$pd_extra\" >&2
  exit 101
fi
{}apt-get install -y -q --allow-downgrades {APT_OPTS} -- {args}
{RESTORE_AUTO}",
        save_auto(&reinstalled)
    );
    Command { script, purpose, needs_root: true, timeout, detached: None }
}

/// Finishes what an interrupted dpkg left half done: `dpkg --configure -a` configures every
/// unpacked or half-configured package and runs pending triggers, with the same
/// non-interactive environment and config-file policy as an install. It asks for no version
/// and removes nothing; the engine probes again after it. Exit status 100 with a message when
/// dpkg is absent. (dpkg waits for no lock: another process holding it fails this at once.)
pub fn repair(timeout: Duration) -> Command {
    let script = format!(
        "{PREAMBLE}command -v dpkg >/dev/null 2>&1 || {{ echo 'patchdeck: dpkg is not installed here' >&2; exit 100; }}
\
dpkg --force-confdef --force-confold --configure -a\n"
    );
    Command { script, purpose: Purpose::Install, needs_root: true, timeout, detached: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> PkgName {
        PkgName::parse(s).unwrap()
    }
    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn install_script_quotes_and_refuses_removals() {
        let c = install_exact(
            &[(n("libssl3"), v("3.0.15-1~deb12u1")), (n("libc6:i386"), v("2.36-9+deb12u14"))],
            Duration::from_secs(600),
        );
        assert!(c.needs_root);
        assert!(c.script.contains("--no-remove --allow-downgrades"));
        assert!(c.script.contains("-- 'libssl3=3.0.15-1~deb12u1' 'libc6:i386=2.36-9+deb12u14'"), "{}", c.script);
        assert!(!c.script.contains("--allow-change-held-packages"));
        assert!(c.script.contains("NEEDRESTART_MODE=l"));
        assert_eq!(c.purpose, Purpose::Install);
        let held =
            install_exact_with(&[(n("jq"), v("1.6"))], Duration::ZERO, InstallOptions { allow_change_held: true });
        assert!(held.script.contains("--allow-change-held-packages"));
    }

    #[test]
    fn restore_is_one_guarded_transaction() {
        let c = restore(&[(n("bc"), Some(v("1.07.1-3+b1"))), (n("pd-newdep"), None)], Duration::from_secs(1));
        assert!(c.script.contains("install -- 'bc=1.07.1-3+b1' pd-newdep-"), "{}", c.script);
        assert!(c.script.contains("grep -vxF -e pd-newdep"));
        assert!(!c.script.contains("purge"));
        assert!(!c.script.contains("--no-remove"), "it removes pd-newdep: guarded by the simulation instead");
        // Nothing to remove: apt's own --no-remove guards it, no simulation needed.
        let plain = restore(&[(n("bc"), Some(v("1.07.1-3+b1")))], Duration::from_secs(1));
        assert!(plain.script.contains("install -y -q --no-remove --allow-downgrades"), "{}", plain.script);
        assert!(!plain.script.contains("apt-get -s"), "{}", plain.script);
        assert_eq!(c.purpose, Purpose::Restore);
    }

    #[test]
    fn repair_configures_everything_left_half_done_without_prompting() {
        let c = repair(Duration::from_secs(60));
        assert!(c.needs_root);
        assert!(c.script.contains("dpkg --force-confdef --force-confold --configure -a\n"), "{}", c.script);
        assert!(c.script.contains("DEBIAN_FRONTEND=noninteractive") && c.script.contains("exec </dev/null"));
        assert!(!c.script.contains("apt-get"), "a repair asks for no version: {}", c.script);
    }
}
