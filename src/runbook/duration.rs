//! Durations in the runbook are written for humans (`"20m"`, `"90s"`, `"1h 30m"`), parsed with
//! `humantime` so the operator writes what they would say out loud.

use std::time::Duration;

/// Parses a human duration such as `"20m"` or `"1h 30m"`.
///
/// Zero is refused: every duration in a runbook (timeout, reserve, countdown) must leave some
/// time, and a zero timeout would fail every step instantly.
/// The error text is the whole message shown to the operator.
pub fn parse(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    match humantime::parse_duration(trimmed) {
        Ok(d) if d.is_zero() => Err(format!("duration `{trimmed}` is zero: give a positive duration like \"20m\"")),
        Ok(d) => Ok(d),
        Err(_) => Err(format!("bad duration `{trimmed}`: write it like \"90s\", \"20m\" or \"1h 30m\"")),
    }
}

/// Formats a duration the way it would be written in a runbook (`1h 30m`).
pub fn format(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_durations() {
        assert_eq!(parse("20m"), Ok(Duration::from_secs(20 * 60)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(90 * 60)));
        assert_eq!(parse(" 15s "), Ok(Duration::from_secs(15)));
    }

    #[test]
    fn refuses_garbage_and_zero() {
        assert_eq!(parse("twenty").unwrap_err(), "bad duration `twenty`: write it like \"90s\", \"20m\" or \"1h 30m\"");
        assert_eq!(parse("20").unwrap_err(), "bad duration `20`: write it like \"90s\", \"20m\" or \"1h 30m\"");
        assert!(parse("0s").unwrap_err().contains("is zero"));
    }

    #[test]
    fn formats_back() {
        assert_eq!(format(Duration::from_secs(90 * 60)), "1h 30m");
    }
}
