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

/// Warns when the first wave holds a host whose failure hurts more than that of a host in a
/// later wave: the first (canary) wave should be the window's lowest-impact hosts, so any
/// first-wave host with a higher `weight` than the lightest later host is named, with that
/// lighter host and its wave, so the operator sees which hosts to swap.
pub fn order_warning(waves: &[Wave], hosts: &[Host]) -> Option<String> {
    let weight = |name: &str| hosts.iter().find(|h| h.name == name).map_or(0, |h| h.weight);
    let (first, later) = waves.split_first()?;
    // The first lightest later host, in wave order.
    let (light, light_wave) =
        later.iter().flat_map(|w| w.hosts.iter().map(move |h| (h.as_str(), w))).min_by_key(|(h, _)| weight(h))?;
    let light_weight = weight(light);
    let mut heavy: Vec<(&str, u32)> =
        first.hosts.iter().map(|h| (h.as_str(), weight(h))).filter(|(_, w)| *w > light_weight).collect();
    if heavy.is_empty() {
        return None;
    }
    // Heaviest first: the host whose failure would hurt most leads the sentence.
    heavy.sort_by_key(|&(_, w)| std::cmp::Reverse(w));
    const SHOWN: usize = 3;
    let mut named: Vec<String> = heavy.iter().take(SHOWN).map(|(h, w)| format!("{h} (weight {w})")).collect();
    if heavy.len() > SHOWN {
        named.push(format!("{} more", heavy.len() - SHOWN));
    }
    let last = named.pop().unwrap_or_default();
    let named = if named.is_empty() { last } else { format!("{} and {last}", named.join(", ")) };
    Some(format!(
        "first wave \"{}\" holds {named}, heavier than {light} (weight {light_weight}) in the later wave \"{}\": \
         the first wave should hold the hosts whose failure hurts least",
        first.name, light_wave.name,
    ))
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
            gate: false,
            gate_set: false,
            name: n.into(),
            hosts: h.iter().map(|s| s.to_string()).collect(),
            parallel: 1,
            max_failures: 0,
        };
        let mut c = Host::named("c");
        c.weight = 10;
        let hosts = vec![a, b, c];
        assert_eq!(
            order_warning(&[w("one", &["a"]), w("two", &["b"])], &hosts).unwrap(),
            "first wave \"one\" holds a (weight 50), heavier than b (weight 1) in the later wave \"two\": \
             the first wave should hold the hosts whose failure hurts least"
        );
        assert_eq!(order_warning(&[w("one", &["b"]), w("two", &["a"])], &hosts), None);
        assert_eq!(order_warning(&[w("one", &["b"]), w("two", &["c"]), w("three", &["a"])], &hosts), None);
        assert_eq!(order_warning(&[w("one", &["a", "b", "c"])], &hosts), None, "a single wave has no order");
        // Not only the heaviest: any first-wave host heavier than a later one is named, heaviest first.
        assert_eq!(
            order_warning(&[w("one", &["c", "a"]), w("two", &["b"])], &hosts).unwrap(),
            "first wave \"one\" holds a (weight 50) and c (weight 10), heavier than b (weight 1) in the later \
             wave \"two\": the first wave should hold the hosts whose failure hurts least"
        );
        let m = order_warning(&[w("one", &["c"]), w("two", &["a"]), w("three", &["b"])], &hosts).unwrap();
        assert!(m.contains("holds c (weight 10), heavier than b (weight 1) in the later wave \"three\""), "{m}");
    }
}
