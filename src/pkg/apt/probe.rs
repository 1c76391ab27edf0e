//! The shell apt contributes to the fleet probe, and the history dump.
//!
//! Both scripts live in `.sh` files next to this one so they can be read, linted
//! (`shellcheck -s sh`) and run by hand exactly as a host runs them. They:
//! - set `LC_ALL=C` themselves (the probe framing does too) so apt's prose, the one part
//!   we read only in English (the "kept back" list), is untranslated;
//! - are read-only: `apt-get -s` with `Debug::NoLocking=1`, `dpkg-query`, `apt-cache`,
//!   `apt-mark showhold`; stdin is `/dev/null` so nothing can prompt;
//! - print nothing for a section whose tool is absent;
//! - rewrite any line of host text that starts with `@@patchdeck:` so a file on the host
//!   cannot open a section of its own;
//! - build the `apt-cache policy` argument list on the host from `Inst`/`Remv` lines and
//!   holds, filtered by awk to package-name characters, so no host text travels back into
//!   a command line we build.
//!
//! The probe's prelude (see [`crate::pkg::Managers::probe_script`]) prints `os` and chose
//! apt before this runs. Sections: `arch`, `installed`, `pkgstate` (digest of apt's inputs by file metadata,
//! see [`crate::probe::cache`], and when apt may have to be asked, `content DIGEST`, by
//! content, see [`crate::probe::share`]), then the resolver's `upgrade` (ends with
//! `patchdeck-exit: N`), `held`, `policy` (absent when `pkgstate` says `unchanged`,
//! `skipped` or `deferred`: `PD_PROBE_MODE=digests`), then `reboot`, `needrestart`, `cache`,
//! and `dpkg` (dpkg's journal, locks and audit: [`super::parse::dpkg_health`]).
//! See [`super::parse`] for each format.

/// Prints the apt sections of the probe (`@@patchdeck:NAME` lines start each one).
pub const PROBE_SCRIPT: &str = include_str!("probe.sh");

/// Prints `Patchdeck-Native-Architecture: ARCH`, then all apt history logs, oldest first.
pub const HISTORY_SCRIPT: &str = include_str!("history.sh");

/// The section names [`PROBE_SCRIPT`] prints, in order.
pub const SECTIONS: [&str; 10] =
    ["arch", "installed", "pkgstate", "upgrade", "held", "policy", "reboot", "needrestart", "cache", "dpkg"];

/// What only the resolver's run prints, skipped when apt's inputs are unchanged.
pub const RESOLVER_SECTIONS: [&str; 3] = ["upgrade", "held", "policy"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_prints_every_section_once_in_order() {
        let markers: Vec<&str> = PROBE_SCRIPT
            .lines()
            .filter_map(|l| l.trim().strip_prefix("echo '@@patchdeck:")?.strip_suffix('\''))
            .collect();
        assert_eq!(markers, SECTIONS);
        assert!(PROBE_SCRIPT.contains("export LC_ALL=C"));
        assert!(PROBE_SCRIPT.contains("Debug::NoLocking=1"));
        // The resolver's sections are exactly the ones inside the skippable block.
        let block = &PROBE_SCRIPT[PROBE_SCRIPT.find("if [ \"$pd_resolve\" = yes ]").unwrap()..];
        let block = &block[..block.find("\nfi\n").unwrap()];
        let inside: Vec<&str> =
            block.lines().filter_map(|l| l.trim().strip_prefix("echo '@@patchdeck:")?.strip_suffix('\'')).collect();
        assert_eq!(inside, RESOLVER_SECTIONS);
    }
}
