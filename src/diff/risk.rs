//! Change risk and wave order: too many changes at once, and the biggest customers first,
//! are two of the ways windows go wrong.

use serde::{Deserialize, Serialize};

use crate::inventory::Host;
use crate::runbook::Wave;

/// Chance that at least one of `n` changes fails, each failing with chance `p`: 1-(1-p)^n.
pub fn window_risk(p: f64, n: usize) -> f64 {
    1.0 - (1.0 - p).powi(n.min(i32::MAX as usize) as i32)
}

/// The largest number of changes that keeps the risk at or below `max`.
pub fn max_changes(p: f64, max: f64) -> usize {
    if p <= 0.0 {
        return usize::MAX;
    }
    if p >= 1.0 || max <= 0.0 {
        return 0;
    }
    ((1.0 - max).ln() / (1.0 - p).ln()).floor() as usize
}

/// The window's risk figure and, when over the maximum, a suggestion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Risk {
    /// Distinct packages changed across the window.
    pub changes: usize,
    pub p: f64,
    pub risk: f64,
    pub max: f64,
    pub over: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

pub fn assess(p: f64, max: f64, changes: usize) -> Risk {
    let risk = window_risk(p, changes);
    let over = risk > max;
    let suggestion = over.then(|| {
        let per = max_changes(p, max).max(1);
        format!(
            "{changes} changes at p={p} give {:.1}% > max {:.1}%: split into windows of at most {per} packages",
            risk * 100.0,
            max * 100.0
        )
    });
    Risk { changes, p, risk, max, over, suggestion }
}

/// Warns when the first wave holds the fleet's highest-impact hosts: canaries should be
/// the hosts whose failure hurts least.
pub fn order_warning(waves: &[Wave], hosts: &[Host]) -> Option<String> {
    let weight = |name: &str| hosts.iter().find(|h| h.name == name).map_or(0, |h| h.weight);
    let first = waves.first()?;
    let first_max = first.hosts.iter().map(|h| weight(h)).max()?;
    let later_min = waves[1..].iter().flat_map(|w| w.hosts.iter()).map(|h| weight(h)).min()?;
    (first_max > later_min).then(|| {
        let heavy: Vec<&str> = first.hosts.iter().filter(|h| weight(h) > later_min).map(String::as_str).collect();
        format!(
            "first wave \"{}\" holds {} (weight {first_max}) while later waves have hosts of weight {later_min}: \
             start with the hosts whose failure hurts least",
            first.name,
            heavy.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_formula() {
        assert!((window_risk(0.01, 10) - 0.0956).abs() < 1e-4);
        assert_eq!(window_risk(0.01, 0), 0.0);
        assert_eq!(max_changes(0.01, 0.25), 28);
        assert!(window_risk(0.01, 28) <= 0.25 && window_risk(0.01, 29) > 0.25);
        let r = assess(0.01, 0.25, 40);
        assert!(r.over);
        assert!(r.suggestion.unwrap().contains("at most 28 packages"));
        assert!(!assess(0.01, 0.25, 10).over);
    }

    #[test]
    fn heavy_first_wave_warns() {
        let mut a = Host::named("a");
        a.weight = 50;
        let b = Host::named("b");
        let w = |n: &str, h: &[&str]| Wave {
            name: n.into(),
            hosts: h.iter().map(|s| s.to_string()).collect(),
            parallel: 1,
            max_failures: 0,
        };
        let hosts = vec![a, b];
        assert!(order_warning(&[w("one", &["a"]), w("two", &["b"])], &hosts).unwrap().contains("\"one\" holds a"));
        assert_eq!(order_warning(&[w("one", &["b"]), w("two", &["a"])], &hosts), None);
    }
}
