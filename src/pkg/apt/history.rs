//! `/var/log/apt/history.log`: what past apt runs changed, for `baseline capture --from history`.
//!
//! The log is a sequence of blocks separated by blank lines:
//!
//! ```text
//! Start-Date: 2026-05-20  16:27:19
//! Commandline: apt-get install -y ...
//! Install: ssl-cert:amd64 (1.1.2, automatic), postgresql:amd64 (15+248+deb12u1)
//! Upgrade: libc6:amd64 (2.36-9+deb12u10, 2.36-9+deb12u14), ...
//! End-Date: 2026-05-20  16:27:32
//! ```
//!
//! apt writes these keys untranslated and always qualifies names with an architecture
//! (the native one even for `Architecture: all` packages), so names are normalised with
//! the native architecture that [`super::probe::HISTORY_SCRIPT`] prints first.

use crate::pkg::{Hostile, ParseError, Pending, Version};

use super::Debian;
use super::parse::NativeArch;

/// The line [`super::probe::HISTORY_SCRIPT`] prints before the logs.
pub const ARCH_HEADER: &str = "Patchdeck-Native-Architecture:";

#[derive(Debug, Default)]
struct Block<'a> {
    start: String,
    ended: bool,
    error: Option<&'a str>,
    install: Vec<&'a str>,
    upgrade: Vec<&'a str>,
}

/// The packages upgraded (and newly installed) by the most recent history block that has
/// an `Upgrade:` line. Blocks that only install or remove are not upgrades and are passed
/// over. "Most recent" is by `Start-Date`, so the order in which rotated logs were
/// concatenated does not matter.
///
/// Refuses (rather than guesses) when that upgrade did not finish (no `End-Date`, e.g.
/// apt was killed) or logged an `Error:`: its versions are not a state anyone tested.
pub fn parse_last_upgrade(out: &str) -> Result<Vec<Pending>, ParseError> {
    const CMD: &str = "apt history.log";
    let blocks = blocks(out);
    let arch = match out.lines().find_map(|l| l.strip_prefix(ARCH_HEADER)) {
        Some(a) => NativeArch::new(a),
        None => NativeArch::new(&most_common_arch(&blocks)),
    };
    let Some(last) = blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| !b.upgrade.is_empty())
        .max_by(|(i, a), (j, b)| a.start.cmp(&b.start).then(i.cmp(j)))
        .map(|(_, b)| b)
    else {
        return Ok(Vec::new());
    };
    if let Some(e) = last.error {
        return Err(ParseError::Malformed {
            command: CMD.into(),
            detail: crate::safe_text::for_terminal(&format!("the upgrade of {} failed: {e}", last.start)),
        });
    }
    if !last.ended {
        return Err(ParseError::Malformed {
            command: CMD.into(),
            detail: format!(
                "the upgrade of {} never finished (no End-Date)",
                crate::safe_text::for_terminal(&last.start)
            ),
        });
    }
    let mut pending = Vec::new();
    for line in &last.upgrade {
        for (name, inner) in entries(line)? {
            let (old, new) = inner.split_once(',').ok_or_else(|| ParseError::Malformed {
                command: CMD.into(),
                detail: crate::safe_text::for_terminal(&format!(
                    "upgrade entry without two versions: {name} ({inner})"
                )),
            })?;
            pending.push(Pending {
                name: arch.name(name)?,
                from: Some(Version::parse_in(&Debian, old.trim())?),
                to: Version::parse_in(&Debian, new.trim())?,
                origin: "history".into(),
                security: false,
            });
        }
    }
    for line in &last.install {
        for (name, inner) in entries(line)? {
            // "1.1.2" or "1.1.2, automatic"
            let version = inner.split(',').next().unwrap_or("").trim();
            pending.push(Pending {
                name: arch.name(name)?,
                from: None,
                to: Version::parse_in(&Debian, version)?,
                origin: "history".into(),
                security: false,
            });
        }
    }
    pending.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(pending)
}

fn blocks(out: &str) -> Vec<Block<'_>> {
    let mut blocks = Vec::new();
    let mut cur: Option<Block<'_>> = None;
    for line in out.lines() {
        let Some((key, value)) = line.split_once(": ") else { continue };
        let value = value.trim();
        if key == "Start-Date" {
            if let Some(b) = cur.take() {
                blocks.push(b);
            }
            cur = Some(Block { start: value.split_whitespace().collect::<Vec<_>>().join(" "), ..Block::default() });
            continue;
        }
        let Some(b) = cur.as_mut() else { continue };
        match key {
            "Install" => b.install.push(value),
            "Upgrade" => b.upgrade.push(value),
            "Error" => b.error = Some(value),
            "End-Date" => b.ended = true,
            _ => {}
        }
    }
    blocks.extend(cur);
    blocks
}

/// Splits `a:amd64 (1, 2), b:amd64 (3, automatic)` into `("a:amd64", "1, 2")`, ...
fn entries(line: &str) -> Result<Vec<(&str, &str)>, ParseError> {
    let mut out = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once(" (").ok_or_else(|| Hostile::new("history entry", rest))?;
        let (inner, after) = after.split_once(')').ok_or_else(|| Hostile::new("history entry", rest))?;
        out.push((name.trim(), inner));
        rest = after.trim_start_matches(',').trim_start();
    }
    Ok(out)
}

/// Without the header, the architecture most entries carry is the native one.
fn most_common_arch(blocks: &[Block<'_>]) -> String {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for b in blocks {
        for line in b.install.iter().chain(&b.upgrade) {
            for (name, _) in entries(line).unwrap_or_default() {
                if let Some((_, a)) = name.split_once(':') {
                    *counts.entry(a).or_default() += 1;
                }
            }
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(a, _)| a.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
Start-Date: 2026-05-20  16:27:19
Commandline: apt-get install -y postgresql
Install: ssl-cert:amd64 (1.1.2, automatic), postgresql:amd64 (15+248+deb12u1)
Upgrade: libc6:amd64 (2.36-9+deb12u10, 2.36-9+deb12u14), libc6:i386 (2.36-9+deb12u10, 2.36-9+deb12u14)
End-Date: 2026-05-20  16:27:32

Start-Date: 2026-05-20  16:49:20
Commandline: apt-get install -y nodejs
Install: nodejs:amd64 (20.20.2-1nodesource1)
End-Date: 2026-05-20  16:49:21
";

    #[test]
    fn last_upgrade_block_wins_over_later_installs() {
        let p = parse_last_upgrade(LOG).unwrap();
        let names: Vec<_> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["libc6", "libc6:i386", "postgresql", "ssl-cert"]);
        assert_eq!(p[0].from.as_ref().unwrap().as_str(), "2.36-9+deb12u10");
        assert_eq!(p[3].to.as_str(), "1.1.2");
        assert!(p[3].from.is_none());
    }

    #[test]
    fn unfinished_or_failed_upgrades_are_refused() {
        let cut = LOG.replace("End-Date: 2026-05-20  16:27:32\n", "");
        assert!(parse_last_upgrade(&cut).is_err());
        let failed = LOG.replace(
            "End-Date: 2026-05-20  16:27:32",
            "Error: Sub-process /usr/bin/dpkg returned an error code (1)\nEnd-Date: 2026-05-20  16:27:32",
        );
        assert!(parse_last_upgrade(&failed).is_err());
        assert!(parse_last_upgrade("").unwrap().is_empty());
    }
}
