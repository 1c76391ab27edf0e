//! The human report of `check`: one status word per host, then only what differs.
//! Meaning is carried by words and symbols; colour only helps (and is dropped under
//! `NO_COLOR` or when not writing to a terminal, by `anstream`).

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use super::{HostReport, Report};
use crate::diff::{Class, Finding};
use crate::runbook::OnDivergence;

const STOP: Style = AnsiColor::Red.on_default().bold();
const WARN: Style = AnsiColor::Yellow.on_default().bold();
const OK: Style = AnsiColor::Green.on_default().bold();
const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

/// Text from the operator's files or from a host, made safe to print (see [`crate::safe_text`]).
fn safe(text: &str) -> String {
    crate::safe_text::for_terminal(text)
}

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// Renders the report with ANSI styles; write it through `anstream` so styles are
/// stripped where they must be.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} {}", paint(BOLD, "patchdeck check"), safe(&report.window));
    let _ = writeln!(
        out,
        "baseline: {} tested updates from {}, captured {}",
        report.tested_updates,
        safe(&report.baseline_host),
        report.baseline_captured_at.strftime("%Y-%m-%d %H:%MZ"),
    );
    let r = &report.risk;
    let risk_line = format!(
        "risk {:.1}% for {} changed packages (p={}, max {:.0}%)",
        r.risk * 100.0,
        r.changes,
        r.p,
        r.max * 100.0
    );
    let _ = writeln!(out, "{}", if r.over { paint(STOP, &risk_line) } else { risk_line });
    if let Some(s) = &r.suggestion {
        note(&mut out, paint(STOP, "!"), &safe(s));
    }
    if let Some(w) = &report.order_warning {
        note(&mut out, paint(WARN, "!"), &format!("wave order: {}", safe(w)));
    }
    out.push('\n');

    for h in &report.hosts {
        host_block(&mut out, h, &report.baseline_host);
    }
    drift_block(&mut out, report);

    let stops: Vec<String> =
        report.hosts.iter().filter(|h| h.diff.stops().next().is_some()).map(|h| safe(h.host())).collect();
    let warns: Vec<String> = report
        .hosts
        .iter()
        .filter(|h| h.diff.stops().next().is_none() && !h.is_clean())
        .map(|h| safe(h.host()))
        .collect();
    let clean = report.hosts.iter().filter(|h| h.is_clean()).count();
    out.push('\n');
    let _ = write!(out, "{} of {} hosts clean", clean, report.hosts.len());
    if !stops.is_empty() {
        let _ = write!(out, "; {} {}", paint(STOP, "stop:"), stops.join(", "));
    }
    if !warns.is_empty() {
        let _ = write!(out, "; {} {}", paint(WARN, "warn:"), warns.join(", "));
    }
    out.push('\n');
    let reused = report.hosts.iter().filter(|h| h.resolver == Some(crate::probe::Resolver::Reused)).count();
    if reused > 0 {
        let _ = writeln!(
            out,
            "package manager not asked again on {reused} of {} hosts: package state unchanged (--fresh asks)",
            report.hosts.len()
        );
    }
    let shared = report.hosts.iter().filter(|h| h.resolver == Some(crate::probe::Resolver::Shared)).count();
    if shared > 0 {
        let _ = writeln!(
            out,
            "package manager's answer shared by identical hosts: {shared} of {} (--fresh=per-host asks each)",
            report.hosts.len()
        );
    }
    if report.nothing_reached() {
        let _ = writeln!(out, "{}", paint(STOP, "No host could be reached: nothing was compared with the baseline."));
    } else if report.verdict() == super::Verdict::Clean {
        let _ = writeln!(out, "{}", paint(OK, "Every host is as tested. Ready for the window."));
    } else if !stops.is_empty() {
        let _ = writeln!(out, "Hosts marked STOP differ from what was tested; the window will stop at each.");
    } else if clean == report.hosts.len() {
        let _ = writeln!(out, "Every host is as tested; the window's risk or wave order needs a look (above).");
    }
    out
}

fn host_block(out: &mut String, h: &HostReport, baseline_host: &str) {
    let d = &h.diff;
    let tested = d.findings.iter().filter(|f| matches!(f.class, Class::Tested | Class::AlreadyTested)).count();
    let (word, style) = if d.stops().next().is_some() {
        ("STOP", STOP)
    } else if !h.is_clean() {
        ("WARN", WARN)
    } else {
        ("ok", OK)
    };
    let mut summary = vec![format!("{tested} tested")];
    let mut counts: Vec<(Class, usize)> = Vec::new();
    for f in d.divergences() {
        match counts.iter_mut().find(|(c, _)| *c == f.class) {
            Some((_, n)) => *n += 1,
            None => counts.push((f.class, 1)),
        }
    }
    summary.extend(counts.iter().map(|(c, n)| format!("{n} {}", c.label().to_lowercase())));
    let failing = h.failing_checks().count();
    summary.push(match failing {
        // Not reached: its own checks did not run, so nothing says it is healthy.
        0 if h.is_unreachable() => "health not checked".into(),
        0 => "health ok".into(),
        n => format!("{n} health check failing"),
    });
    if d.reboot_required {
        summary.push("reboot required already".into());
    }
    let _ = writeln!(out, "{} {:<12} {}", paint(style, &format!("{word:<4}")), safe(&d.host), summary.join(", "));
    // Discovered drift is listed once for the fleet, by item (see `drift_block`).
    for f in d.divergences().filter(|f| f.class.drift_area().is_none() || f.subject == crate::diff::MAP_MISSING) {
        finding_line(out, f, baseline_host);
    }
    for c in h.failing_checks() {
        let name = safe(&c.check);
        let head = format!("{INDENT}{} health \"{name}\" fails before any change", paint(STOP, "!"));
        fit(out, (&head, INDENT.len() + 34 + name.chars().count()), &safe(&c.detail));
    }
}

/// Configuration drift nobody listed, one line per item across the fleet.
fn drift_block(out: &mut String, report: &Report) {
    if let Some(n) = &report.drift_note {
        out.push('\n');
        note(out, paint(WARN, "!"), &safe(n));
        return;
    }
    if report.drift.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n{} (not in any [[fingerprint]]; vs {})",
        paint(BOLD, "configuration drift"),
        safe(&report.baseline_host)
    );
    for g in &report.drift {
        let symbol = if g.verdict == Some(OnDivergence::Stop) { paint(STOP, "!") } else { paint(WARN, "~") };
        note(out, symbol, &g.line(&safe(&report.baseline_host)));
    }
}

/// "from -> to" split into its ends (findings carry version pairs in this form).
fn target(pair: &str) -> &str {
    pair.rsplit_once(" -> ").map_or(pair, |(_, to)| to)
}
fn start(pair: &str) -> &str {
    pair.split_once(" -> ").map_or(pair, |(from, _)| from)
}

/// Screen width the report is laid out for (the smallest terminal an operator may have).
const WIDTH: usize = 80;
const INDENT: &str = "     ";

/// Writes `head` then `tail` on one line if it fits in [`WIDTH`], else `tail` on its own
/// indented line. `head` is (styled text, visible width); `tail` is plain and shown dimmed.
fn fit(out: &mut String, head: (&str, usize), tail: &str) {
    let styled = paint(DIM, tail);
    if tail.is_empty() {
        let _ = writeln!(out, "{}", head.0);
    } else if head.1 + 2 + tail.chars().count() <= WIDTH {
        let _ = writeln!(out, "{}  {styled}", head.0);
    } else {
        let _ = writeln!(out, "{}", head.0);
        for line in wrap(tail, WIDTH - INDENT.len() - 2) {
            let _ = writeln!(out, "{INDENT}  {}", paint(DIM, &line));
        }
    }
}

/// A window-wide note under the risk line: `  ! text`, wrapped under its first word.
fn note(out: &mut String, symbol: String, text: &str) {
    for (i, line) in wrap(text, WIDTH - 4).iter().enumerate() {
        let lead = if i == 0 { symbol.as_str() } else { " " };
        let _ = writeln!(out, "  {lead} {line}");
    }
}

/// Greedy word wrap; a word longer than the width gets a line of its own.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn finding_line(out: &mut String, f: &Finding, baseline_host: &str) {
    let style = if f.verdict == Some(OnDivergence::Stop) { STOP } else { WARN };
    let subject = crate::safe_text::for_terminal(&f.subject);
    let label = f.class.label();
    let head = format!("{INDENT}{} {subject}  {}", paint(style, &f.class.symbol().to_string()), paint(style, label));
    let head_width = INDENT.len() + 2 + subject.chars().count() + 2 + label.len();
    let here = safe(f.here.as_deref().unwrap_or("-"));
    let tested = safe(f.tested.as_deref().unwrap_or("-"));
    let (here, tested, baseline_host) = (here.as_str(), tested.as_str(), safe(baseline_host));
    let tail = match f.class {
        Class::UntestedPackage => here.to_string(),
        Class::VersionMismatch => format!("here -> {}, tested -> {}", target(here), target(tested)),
        Class::DifferentStart => format!("from {} here, from {} on {baseline_host}", start(here), start(tested)),
        Class::NotPending | Class::Held => format!("here {here}, tested {tested}"),
        Class::ConfigDrift => format!("{baseline_host}: {tested}, here: {here}"),
        _ => safe(&f.detail),
    };
    fit(out, (&head, head_width), &tail);
}
