//! The runbook as written: serde structs whose every value carries its byte span
//! ([`toml::Spanned`]), so validation can point at the exact text that is wrong.
//!
//! Every key is optional here; [`crate::runbook::validate`] decides what is required so that
//! all missing keys are reported together with a message that says what to add. Structural
//! problems (unknown keys, wrong types) are collected by [`crate::diag::toml`], which keeps
//! going after the first one.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::DeValue;

use crate::diag::toml::{array_of_tables, deserialize_all, parse_toml, quoted_list};
use crate::diag::{Diagnostics, SourceFile};
use crate::inventory::toml_file;

pub type Text = Option<Spanned<String>>;

/// The whole runbook file. Absent sections are `None` / empty.
#[derive(Debug, Default)]
pub struct RawRunbook {
    /// Span of the whole document (for "missing section" messages).
    pub span: Range<usize>,
    pub window: Option<Spanned<RawWindow>>,
    pub inventory: Option<Spanned<RawInventory>>,
    /// The hosts of inline `[[host]]` tables, with their problems; `None` when the runbook has
    /// none.
    pub hosts: Option<toml_file::Partial>,
    pub baseline: Option<Spanned<RawBaseline>>,
    pub policy: Option<Spanned<RawPolicy>>,
    pub fingerprints: Vec<Spanned<RawFingerprint>>,
    /// `None` when there is no `[[wave]]` at all.
    pub waves: Option<Vec<Spanned<RawWave>>>,
    /// Where `wave` was written (for "no waves" when it is an empty array).
    pub waves_span: Option<Range<usize>>,
    pub steps: Option<Vec<Spanned<RawStep>>>,
    pub steps_span: Option<Range<usize>>,
    pub checks: Vec<Spanned<RawCheck>>,
    pub drift: Option<Spanned<super::drift::RawDrift>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub name: Text,
    pub starts: Text,
    pub ends: Text,
    pub rollback_reserve: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInventory {
    pub file: Text,
    pub ssh_config: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBaseline {
    pub file: Text,
    pub host: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub change_risk: Option<Spanned<f64>>,
    pub max_risk: Option<Spanned<f64>>,
    pub untested_package: Text,
    pub version_mismatch: Text,
    pub different_start: Text,
    pub not_pending: Text,
    pub config_drift: Text,
    pub rollback_infeasible: Text,
    pub held_package: Text,
    pub auto_rollback: Option<Spanned<bool>>,
    pub auto_rollback_countdown: Text,
    pub gate_between_waves: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFingerprint {
    pub path: Text,
    pub command: Text,
}

pub type TextList = Option<Spanned<Vec<Spanned<String>>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWave {
    pub name: Text,
    pub hosts: TextList,
    pub tags: TextList,
    pub parallel: Option<Spanned<i64>>,
    pub max_failures: Option<Spanned<i64>>,
    pub gate: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub name: Text,
    pub packages: Text,
    pub run: Text,
    pub local: Text,
    pub reboot: Option<Spanned<bool>>,
    pub rollback: Text,
    pub irreversible: Option<Spanned<bool>>,
    pub timeout: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub name: Text,
    pub http: Text,
    pub expect_status: Option<Spanned<i64>>,
    pub contains: Text,
    pub tcp: Text,
    pub run: Text,
    pub timeout: Text,
}

/// Top-level keys of a runbook.
const SECTIONS: [&str; 10] =
    ["window", "inventory", "host", "baseline", "policy", "fingerprint", "wave", "step", "check", "drift"];

/// Splits a runbook document into its raw sections, collecting every structural problem.
pub fn parse(src: &SourceFile, diags: &mut Diagnostics) -> Option<RawRunbook> {
    let root = parse_toml(src, &src.text, diags)?;
    let mut raw = RawRunbook { span: root.span(), ..RawRunbook::default() };
    for (key, value) in root.into_inner() {
        match key.get_ref().as_ref() {
            "window" => raw.window = table(src, key.get_ref(), window_datetimes_as_text(value), diags),
            "inventory" => raw.inventory = table(src, key.get_ref(), value, diags),
            "baseline" => raw.baseline = table(src, key.get_ref(), value, diags),
            "policy" => raw.policy = table(src, key.get_ref(), value, diags),
            "host" => raw.hosts = Some(toml_file::from_toml_value(src, value)),
            "fingerprint" => raw.fingerprints = array_of_tables(src, key.get_ref(), value, diags),
            "wave" => {
                raw.waves_span = Some(key.span());
                raw.waves = Some(array_of_tables(src, key.get_ref(), value, diags));
            }
            "step" => {
                raw.steps_span = Some(key.span());
                raw.steps = Some(array_of_tables(src, key.get_ref(), value, diags));
            }
            "check" => raw.checks = array_of_tables(src, key.get_ref(), value, diags),
            "drift" => raw.drift = table(src, key.get_ref(), value, diags),
            other => diags.push(
                src.error(key.span(), format!("unknown section `{other}`: expected one of {}", quoted_list(&SECTIONS))),
            ),
        }
    }
    Some(raw)
}

/// A `[section]` table.
fn table<T: DeserializeOwned>(
    src: &SourceFile,
    name: &str,
    value: Spanned<DeValue<'_>>,
    diags: &mut Diagnostics,
) -> Option<Spanned<T>> {
    if !value.get_ref().is_table() {
        diags.push(src.error(value.span(), format!("`{name}` must be a table: write it as a [{name}] section")));
        return None;
    }
    deserialize_all(src, value, diags)
}

/// TOML has native datetimes (`starts = 2026-11-22T22:00:00Z`); accept them as well as strings
/// by turning them into their text, which validation then parses like a quoted timestamp.
fn window_datetimes_as_text(mut value: Spanned<DeValue<'_>>) -> Spanned<DeValue<'_>> {
    if let DeValue::Table(t) = value.get_mut() {
        for (_, v) in t.iter_mut() {
            if let DeValue::Datetime(dt) = v.get_ref() {
                let text = dt.to_string();
                *v.get_mut() = DeValue::String(Cow::Owned(text));
            }
        }
    }
    value
}
