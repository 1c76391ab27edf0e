//! The runbook's `[drift]` section: paths (globs) to leave out, and the reaction of each
//! area. Defaults (documented in docs/drift.md, with their reasons):
//! - `networking = "stop"`: the same upgrade on a differently wired host is the classic way
//!   a tested change breaks prod (a restarted network service, a firewall reloaded);
//! - `sources = "stop"`: another source is why a candidate, or a dependency, differs;
//! - `conffiles = "stop"`: a locally modified conffile of a package the window changes makes
//!   its upgrade keep, replace or merge differently from staging's;
//! - `config`, `kernel`, `services = "warn"`: worth seeing, rarely a reason to stop.

use serde::Deserialize;
use toml::Spanned;

pub mod areas;
pub(crate) mod glob;

use crate::diag::toml::quoted_list;
use crate::diag::{Diagnostics, SourceFile};
use crate::verdict::OnDivergence;
pub use areas::Area;
use areas::DEFAULT_IGNORE;

/// What drift in an area does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    Stop,
    Warn,
    /// Not compared at all.
    Ignore,
}

impl Reaction {
    pub fn verdict(self) -> Option<OnDivergence> {
        match self {
            Reaction::Stop => Some(OnDivergence::Stop),
            Reaction::Warn => Some(OnDivergence::Warn),
            Reaction::Ignore => None,
        }
    }
}

/// The validated `[drift]` section (part of [`crate::runbook::Policy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftPolicy {
    /// Globs over item keys (paths, `sysctl:...`, `net:...`): the defaults, then the runbook's.
    pub ignore: Vec<String>,
    /// One reaction per area, in [`Area::ALL`] order.
    reactions: [Reaction; 6],
}

impl Default for DriftPolicy {
    fn default() -> Self {
        Self {
            ignore: DEFAULT_IGNORE.iter().map(|(g, _)| g.to_string()).collect(),
            reactions: Area::ALL.map(default_reaction),
        }
    }
}

fn default_reaction(a: Area) -> Reaction {
    match a {
        Area::Networking | Area::Sources | Area::Conffiles => Reaction::Stop,
        Area::Config | Area::Kernel | Area::Services => Reaction::Warn,
    }
}

impl DriftPolicy {
    pub fn reaction(&self, area: Area) -> Reaction {
        self.reactions[Area::ALL.iter().position(|a| *a == area).unwrap_or(0)]
    }

    pub fn set(&mut self, area: Area, r: Reaction) {
        if let Some(i) = Area::ALL.iter().position(|a| *a == area) {
            self.reactions[i] = r;
        }
    }

    /// Is this item left out by a glob?
    pub fn ignores(&self, key: &str) -> bool {
        self.ignore.iter().any(|g| glob::matches(g, key))
    }
}

/// `[drift]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDrift {
    pub ignore: Option<Spanned<Vec<Spanned<String>>>>,
    pub networking: Option<Spanned<String>>,
    pub conffiles: Option<Spanned<String>>,
    pub config: Option<Spanned<String>>,
    pub kernel: Option<Spanned<String>>,
    pub services: Option<Spanned<String>>,
    pub sources: Option<Spanned<String>>,
}

/// Validates `[drift]`; every bad value is reported at its place.
pub fn from_raw(src: &SourceFile, raw: Option<Spanned<RawDrift>>, diags: &mut Diagnostics) -> DriftPolicy {
    let mut policy = DriftPolicy::default();
    let Some(raw) = raw else { return policy };
    let d = raw.into_inner();
    for (area, value) in [
        (Area::Networking, &d.networking),
        (Area::Conffiles, &d.conffiles),
        (Area::Config, &d.config),
        (Area::Kernel, &d.kernel),
        (Area::Services, &d.services),
        (Area::Sources, &d.sources),
    ] {
        let Some(v) = value else { continue };
        match v.get_ref().as_str() {
            "stop" => policy.set(area, Reaction::Stop),
            "warn" => policy.set(area, Reaction::Warn),
            "ignore" => policy.set(area, Reaction::Ignore),
            other => diags.push(src.error(
                v.span(),
                format!(
                    "`{}` is not a reaction for {} drift: use {}",
                    crate::safe_text::for_terminal(other),
                    area.name(),
                    quoted_list(&["stop", "warn", "ignore"])
                ),
            )),
        }
    }
    for g in d.ignore.map(Spanned::into_inner).unwrap_or_default() {
        let text = g.get_ref();
        if text.is_empty() || text.chars().any(crate::safe_text::is_hidden) {
            diags.push(src.error(g.span(), "an ignored path must be a glob such as \"/etc/cron.d/*\""));
        } else if !(text.starts_with('/') || text.starts_with('*') || text.contains(':')) {
            diags.push(src.error(
                g.span(),
                format!(
                    "`{}` matches nothing: ignore an absolute path (\"/etc/motd\") or an item such as \"sysctl:net.ipv4.*\"",
                    crate::safe_text::for_terminal(text)
                ),
            ));
        } else {
            policy.ignore.push(text.clone());
        }
    }
    policy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (DriftPolicy, Diagnostics) {
        let src = SourceFile::new("window.toml", text);
        let mut diags = Diagnostics::default();
        let raw = crate::runbook::raw::parse(&src, &mut diags).unwrap();
        (from_raw(&src, raw.drift, &mut diags), diags)
    }

    #[test]
    fn defaults_stop_networking_sources_and_modified_conffiles() {
        let (p, d) = load("");
        assert!(d.is_empty());
        let r = |a| p.reaction(a);
        assert_eq!(
            Area::ALL.map(r),
            [Reaction::Stop, Reaction::Stop, Reaction::Warn, Reaction::Warn, Reaction::Warn, Reaction::Stop]
        );
        assert!(p.ignores("/etc/ld.so.cache") && p.ignores("/etc/shadow-") && !p.ignores("/etc/shadow"));
    }

    #[test]
    fn the_section_sets_reactions_and_ignores_and_bad_values_are_positioned() {
        let (p, d) = load(
            "[drift]\nkernel = \"ignore\"\nnetworking = \"warn\"\nignore = [\"/etc/motd\", \"sysctl:net.ipv6.*\"]\n",
        );
        assert!(d.is_empty(), "{d}");
        assert_eq!((p.reaction(Area::Kernel), p.reaction(Area::Networking)), (Reaction::Ignore, Reaction::Warn));
        assert!(p.ignores("/etc/motd") && p.ignores("sysctl:net.ipv6.x") && p.ignores("/etc/adjtime"));

        let (_, d) = load("[drift]\nservices = \"stpo\"\nignore = [\"motd\"]\ncolour = 1\n");
        let got: Vec<(usize, usize, &str)> = d.iter().map(|x| (x.line, x.col, x.message.as_str())).collect();
        assert_eq!(got.len(), 3, "{d}");
        assert!(got.iter().any(|(l, _, m)| *l == 4 && m.contains("colour")), "{d}");
        let (_, d) = load("[drift]\nservices = \"stpo\"\nignore = [\"motd\"]\n");
        let got: Vec<(usize, usize, &str)> = d.iter().map(|x| (x.line, x.col, x.message.as_str())).collect();
        assert_eq!(got[0].0, 2);
        assert!(got[0].2.contains("`stpo` is not a reaction for services drift"), "{d}");
        assert_eq!((got[1].0, got[1].1), (3, 11));
        assert!(got[1].2.contains("matches nothing"), "{d}");
    }
}
