//! Reading and writing the baseline TOML, with positioned errors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Baseline, Source, TestedFingerprint, TestedUpdate};
use crate::diag::toml as spanned;
use crate::diag::{Diagnostics, Limit, SourceFile};
use crate::pkg::OsRelease;
use crate::probe::FpValue;
use crate::runbook::Fingerprint;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFingerprint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    missing: bool,
}

/// A baseline as written; a key that is absent or unreadable (already reported) is `None`.
#[derive(Default)]
struct RawBaseline {
    host: Option<toml::Spanned<String>>,
    captured_at: Option<jiff::Timestamp>,
    source: Option<Source>,
    os: Option<OsRelease>,
    updates: Vec<toml::Spanned<RawUpdate>>,
    fingerprints: Vec<toml::Spanned<RawFingerprint>>,
    drift: Option<BTreeMap<String, crate::drift::Item>>,
}

/// A [`TestedUpdate`] as written: an unknown key (a typo) is an error, not ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpdate {
    name: crate::pkg::PkgName,
    #[serde(default)]
    from: Option<crate::pkg::Version>,
    to: crate::pkg::Version,
    #[serde(default)]
    origin: String,
}

impl From<RawUpdate> for TestedUpdate {
    fn from(u: RawUpdate) -> Self {
        TestedUpdate { name: u.name, from: u.from, to: u.to, origin: u.origin }
    }
}

/// The keys of a baseline file.
const KEYS: [&str; 7] = ["host", "captured_at", "source", "os", "update", "fingerprint", "drift"];

/// One value; a problem with it is reported at it.
fn one<T: serde::de::DeserializeOwned>(
    src: &SourceFile,
    value: toml::Spanned<toml::de::DeValue<'_>>,
    problems: &mut Diagnostics,
) -> Option<T> {
    let span = value.span();
    T::deserialize(toml::de::ValueDeserializer::from(value))
        .map_err(|e| problems.push(src.error(e.span().unwrap_or(span), format!("invalid baseline: {}", e.message()))))
        .ok()
}

/// Loads a baseline file; all problems come back with file:line:col.
pub fn load(path: &Path) -> Result<Baseline, Diagnostics> {
    let src = SourceFile::read_limited(path, Limit::BASELINE)?;
    load_str(&src)
}

/// Parses a baseline; every problem of the file (syntax, unknown keys, wrong or hostile
/// values, duplicates) comes back at once, each at file:line:col.
pub fn load_str(src: &SourceFile) -> Result<Baseline, Diagnostics> {
    let mut problems = Diagnostics::default();
    let Some(root) = spanned::parse_toml(src, &src.text, &mut problems) else {
        return problems.into_result(()).and(Err(Diagnostics::default()));
    };
    let doc = root.span().start..root.span().start;
    let mut raw = RawBaseline::default();
    let mut written: Vec<String> = Vec::new();
    for (key, value) in root.into_inner() {
        written.push(key.get_ref().to_string());
        match key.get_ref().as_ref() {
            "host" => raw.host = one(src, value, &mut problems),
            "captured_at" => raw.captured_at = one(src, value, &mut problems),
            "source" => raw.source = one(src, value, &mut problems),
            "os" => raw.os = spanned::deserialize_all(src, value, &mut problems).map(toml::Spanned::into_inner),
            "update" => raw.updates = spanned::array_of_tables(src, "update", value, &mut problems),
            "fingerprint" => raw.fingerprints = spanned::array_of_tables(src, "fingerprint", value, &mut problems),
            "drift" => raw.drift = drift_map(src, value, &mut problems),
            other => problems.push(src.error(
                key.span(),
                format!("unknown key `{other}` in a baseline: expected one of {}", spanned::quoted_list(&KEYS)),
            )),
        }
    }
    for (missing, key, example) in [
        (raw.host.is_none(), "host", "\"staging\""),
        (raw.captured_at.is_none(), "captured_at", "\"2026-11-20T14:02:00Z\""),
        (raw.source.is_none(), "source", "\"pending\""),
    ] {
        // A key written with a bad value is already reported where it is.
        if missing && !written.iter().any(|w| w == key) {
            problems.push(src.error(doc.clone(), format!("the baseline is missing `{key}`: add `{key} = {example}`")));
        }
    }
    if let Some(host) = &raw.host
        && let Err(problem) = crate::inventory::names::host_name("baseline host", host.get_ref())
    {
        problems.push(src.error(host.span(), problem));
    }
    let mut seen = BTreeSet::new();
    for u in &raw.updates {
        if !seen.insert(u.get_ref().name.clone()) {
            problems.push(src.error(u.span(), format!("package `{}` is listed twice", u.get_ref().name)));
        }
    }
    let mut fingerprints = Vec::new();
    for f in raw.fingerprints {
        let span = f.span();
        let f = f.into_inner();
        let fingerprint = match (f.path, f.command) {
            (Some(p), None) => Fingerprint::Path(p),
            (None, Some(c)) => Fingerprint::Command(c),
            _ => {
                problems.push(src.error(span, "a fingerprint needs exactly one of `path` or `command`"));
                continue;
            }
        };
        let value = match (f.sha256, f.missing) {
            (Some(h), false) if h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()) => {
                FpValue::Sha256(h.to_ascii_lowercase())
            }
            (None, true) => FpValue::Missing,
            _ => {
                problems.push(
                    src.error(span, "a fingerprint needs either `sha256 = \"<64 hex digits>\"` or `missing = true`"),
                );
                continue;
            }
        };
        fingerprints.push(TestedFingerprint { fingerprint, value });
    }
    let (Some(host), Some(captured_at), Some(source)) = (raw.host, raw.captured_at, raw.source) else {
        return problems.into_result(()).and(Err(Diagnostics::default()));
    };
    let baseline = Baseline {
        host: host.into_inner(),
        captured_at,
        source,
        os: raw.os.unwrap_or_default(),
        updates: raw.updates.into_iter().map(|u| u.into_inner().into()).collect::<Vec<TestedUpdate>>(),
        fingerprints,
        drift: raw.drift.map(|items| crate::drift::DriftMap { items }),
    };
    problems.into_result(baseline)
}

/// The `[drift]` table: item key -> `{ area, value, package?, modified? }`. Keys and values
/// came from a host once: one with a control character is refused where it is written.
fn drift_map(
    src: &SourceFile,
    value: toml::Spanned<toml::de::DeValue<'_>>,
    problems: &mut Diagnostics,
) -> Option<BTreeMap<String, crate::drift::Item>> {
    let span = value.span();
    let map: BTreeMap<String, crate::drift::Item> = one(src, value, problems)?;
    let hidden = |s: &str| s.chars().any(crate::safe_text::is_hidden);
    let bad = map.iter().find(|(k, i)| {
        hidden(k) || hidden(&i.value) || i.package.as_deref().is_some_and(|p| crate::pkg::PkgName::parse(p).is_err())
    });
    if let Some((k, _)) = bad {
        let k = crate::safe_text::for_terminal(k);
        problems.push(src.error(
            span,
            format!("invalid baseline: drift item `{k}` holds a control character or a bad package name"),
        ));
        return None;
    }
    Some(map)
}

/// `[drift]` written one item a line (`"/etc/hosts" = { area = "networking", value = "md5:..." }`),
/// sorted, so a reviewer can read and diff it.
fn drift_toml(map: &crate::drift::DriftMap) -> String {
    let s = |v: &str| toml::Value::String(v.to_string()).to_string();
    let mut out =
        String::from("\n# The configuration map: checksums and normalized values, never file contents.\n[drift]\n");
    for (key, i) in &map.items {
        let mut fields = vec![format!("area = {}", s(i.area.name())), format!("value = {}", s(&i.value))];
        if let Some(p) = &i.package {
            fields.push(format!("package = {}", s(p)));
        }
        if i.modified {
            fields.push("modified = true".into());
        }
        out.push_str(&format!("{} = {{ {} }}\n", s(key), fields.join(", ")));
    }
    out
}

/// Serializes a baseline; the header says where it came from so a reviewer can trust it.
pub fn to_toml(b: &Baseline) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        host: &'a str,
        captured_at: jiff::Timestamp,
        source: Source,
        os: &'a OsRelease,
        #[serde(rename = "update")]
        updates: &'a [TestedUpdate],
        #[serde(rename = "fingerprint")]
        fingerprints: Vec<RawFingerprint>,
    }
    let fingerprints = b
        .fingerprints
        .iter()
        .filter_map(|t| {
            let (path, command) = match &t.fingerprint {
                Fingerprint::Path(p) => (Some(p.clone()), None),
                Fingerprint::Command(c) => (None, Some(c.clone())),
            };
            match &t.value {
                FpValue::Sha256(h) => Some(RawFingerprint { path, command, sha256: Some(h.clone()), missing: false }),
                FpValue::Missing => Some(RawFingerprint { path, command, sha256: None, missing: true }),
                FpValue::Error(_) => None,
            }
        })
        .collect();
    let out = Out {
        host: &b.host,
        captured_at: b.captured_at,
        source: b.source,
        os: &b.os,
        updates: &b.updates,
        fingerprints,
    };
    let mut body = toml::to_string_pretty(&out).expect("baseline serializes");
    if let Some(map) = &b.drift {
        body.push_str(&drift_toml(map));
    }
    format!(
        "# Tested baseline captured by patchdeck from {} ({}) at {}.\n\
         # Every prod host is compared against this before anything changes.\n\n{body}",
        b.host,
        match b.source {
            Source::Pending => "pending updates",
            Source::History => "last upgrade in the package manager's history",
        },
        b.captured_at
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
host = "staging"
captured_at = "2026-11-20T14:02:00Z"
source = "pending"

[os]
id = "debian"
version_id = "12"
codename = "bookworm"
pretty_name = "Debian GNU/Linux 12 (bookworm)"

[[update]]
name = "libssl3"
from = "3.0.15-1~deb12u1"
to = "3.0.17-1~deb12u2"
origin = "Debian-Security:12/stable-security"

[[update]]
name = "newdep"
to = "1.0-1"

[[fingerprint]]
path = "/etc/network/interfaces"
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

[[fingerprint]]
path = "/etc/absent"
missing = true
"#;

    #[test]
    fn round_trip() {
        let b = load_str(&SourceFile::new("tested.toml", GOOD)).unwrap();
        assert_eq!(b.updates.len(), 2);
        assert_eq!(b.updates[1].from, None);
        assert_eq!(b.fingerprints[1].value, FpValue::Missing);
        let again = load_str(&SourceFile::new("again.toml", to_toml(&b))).unwrap();
        assert_eq!(again, b);
    }

    #[test]
    fn the_configuration_map_round_trips_and_an_old_baseline_has_none() {
        let old = load_str(&SourceFile::new("tested.toml", GOOD)).unwrap();
        assert_eq!(old.drift, None, "a baseline from before the map still loads");
        let mut b = old.clone();
        let item = |area, value: &str, package: Option<&str>, modified| crate::drift::Item {
            area,
            value: value.into(),
            package: package.map(Into::into),
            modified,
        };
        use crate::drift::Area;
        b.drift = Some(crate::drift::DriftMap {
            items: [
                ("/etc/ssh/sshd_config".to_string(), item(Area::Config, "md5:0123", Some("openssh-server"), true)),
                ("net:routes".to_string(), item(Area::Networking, "default via @NET@+1 dev \"eth0\"", None, false)),
                (
                    "service:multi-user.target.wants/ssh.service".to_string(),
                    item(Area::Services, "enabled", None, false),
                ),
            ]
            .into(),
        });
        let text = to_toml(&b);
        assert!(text.contains("\"/etc/ssh/sshd_config\" = { area = \"config\", value = \"md5:0123\", package = \"openssh-server\", modified = true }"), "{text}");
        assert_eq!(load_str(&SourceFile::new("again.toml", text.clone())).unwrap(), b);
        // A control character in a value (from a host once) is refused, at the table.
        let bad = text.replace("enabled", "enabled\\u001b[2J");
        let err = load_str(&SourceFile::new("bad.toml", bad)).unwrap_err();
        assert!(err.0[0].message.contains("control character"), "{err}");
        let bad = text.replace("area = \"config\"", "area = \"confg\"");
        let err = load_str(&SourceFile::new("bad.toml", bad)).unwrap_err();
        assert!(err.0[0].message.contains("confg"), "{err}");
    }

    #[test]
    fn hostile_version_is_rejected_with_position() {
        let text = GOOD.replace("to = \"1.0-1\"", "to = \"1.0;rm -rf /\"");
        let err = load_str(&SourceFile::new("tested.toml", text)).unwrap_err();
        let d = &err.0[0];
        assert_eq!((d.line, d.file.to_str().unwrap()), (20, "tested.toml"), "{err}");
        assert!(d.message.contains("hostile or corrupt version"), "{}", d.message);
    }

    #[test]
    fn every_problem_of_the_file_is_reported_in_one_run() {
        let text = GOOD
            .replace("source = \"pending\"", "source = \"pendnig\"\ncolour = 1")
            .replace("to = \"1.0-1\"", "to = \"1.0;rm -rf /\"")
            .replace("missing = true", "missing = true\nmissnig = true");
        let err = load_str(&SourceFile::new("tested.toml", text)).unwrap_err();
        let got: Vec<(usize, &str)> = err.iter().map(|d| (d.line, d.message.as_str())).collect();
        assert_eq!(got.len(), 4, "{err}");
        assert!(got[0].0 == 4 && got[0].1.contains("pendnig"), "{err}");
        assert!(got[1].0 == 5 && got[1].1.contains("unknown key `colour`"), "{err}");
        assert!(got[2].1.contains("hostile or corrupt version"), "{err}");
        assert!(got[3].1.contains("unknown key `missnig`"), "{err}");
        let err = load_str(&SourceFile::new("tested.toml", "[os]\nid = \"debian\"\n")).unwrap_err();
        assert_eq!(err.len(), 4, "host, captured_at, source missing, os incomplete: {err}");
    }

    #[test]
    fn duplicate_package_and_bad_fingerprint_reported_together() {
        let text = format!("{GOOD}\n[[update]]\nname = \"libssl3\"\nto = \"1\"\n\n[[fingerprint]]\npath = \"/x\"\n");
        let err = load_str(&SourceFile::new("tested.toml", text)).unwrap_err();
        assert_eq!(err.len(), 2, "{err}");
        assert!(err.0.iter().any(|d| d.message.contains("listed twice")));
        assert!(err.0.iter().any(|d| d.message.contains("`missing = true`")));
    }
}
