//! `check --json`: a stable, documented shape (`docs/check-json.md`). Fields are only ever
//! added; `schema` changes if anything is renamed or removed.

use serde::Serialize;

use super::Report;

/// Identifies the JSON shape so scripts can refuse one they do not know.
pub const SCHEMA: &str = "patchdeck.check/1";

#[derive(Serialize)]
struct Envelope<'a> {
    schema: &'static str,
    exit_code: u8,
    #[serde(flatten)]
    report: &'a Report,
}

/// The report as the stable JSON, with the exit code the process ends with.
pub fn to_json(report: &Report, exit_code: u8) -> String {
    let env = Envelope { schema: SCHEMA, exit_code, report };
    serde_json::to_string_pretty(&env).expect("report serializes")
}
