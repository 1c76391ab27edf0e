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

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// Renders the report with ANSI styles; write it through `anstream` so styles are
/// stripped where they must be.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}  baseline: {} ({} tested updates, captured {})",
        paint(BOLD, "patchdeck check"),
        report.window,
        report.baseline_host,
        report.tested_updates,
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
        let _ = writeln!(out, "  {} {s}", paint(STOP, "!"));
    }
    if let Some(w) = &report.order_warning {
        let _ = writeln!(out, "  {} {w}", paint(WARN, "!"));
    }
    out.push('\n');

    for h in &report.hosts {
        host_block(&mut out, h, &report.baseline_host);
    }

    let stops: Vec<&str> = report.hosts.iter().filter(|h| h.diff.stops().next().is_some()).map(|h| h.host()).collect();
    let warns: Vec<&str> = report
        .hosts
        .iter()
        .filter(|h| h.diff.stops().next().is_none() && !h.is_clean())
        .map(|h| h.host())
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
    if report.exit_code() == super::exit::CLEAN {
        let _ = writeln!(out, "{}", paint(OK, "Every host is as tested. Ready for the window."));
    } else if !stops.is_empty() {
        let _ = writeln!(
            out,
            "Hosts marked STOP differ from what was tested: resolve them, or the window will stop there for a decision."
        );
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
    summary.push(if failing == 0 { "health ok".into() } else { format!("{failing} health check failing") });
    if d.reboot_required {
        summary.push("reboot required already".into());
    }
    let _ = writeln!(out, "{} {:<12} {}", paint(style, &format!("{word:<4}")), d.host, summary.join(", "));
    for f in d.divergences() {
        finding_line(out, f, baseline_host);
    }
    for c in h.failing_checks() {
        let _ = writeln!(out, "     {} health {:?} already failing: {}", paint(STOP, "!"), c.check, c.detail);
    }
}

fn finding_line(out: &mut String, f: &Finding, baseline_host: &str) {
    let style = if f.verdict == Some(OnDivergence::Stop) { STOP } else { WARN };
    let sym = paint(style, &f.class.symbol().to_string());
    let label = paint(style, f.class.label());
    let subject = crate::safe_text::for_terminal(&f.subject);
    match f.class {
        Class::UntestedPackage => {
            let _ = writeln!(out, "     {sym} {subject:<22} {}  {label}", f.here.as_deref().unwrap_or(""));
        }
        Class::VersionMismatch | Class::DifferentStart | Class::NotPending | Class::Held => {
            let _ = writeln!(out, "     {sym} {subject:<22} {}  {label}", f.here.as_deref().unwrap_or(""));
            let _ = writeln!(
                out,
                "       {:<22} {}",
                "",
                paint(DIM, &format!("tested on {baseline_host}: {}", f.tested.as_deref().unwrap_or("-")))
            );
        }
        Class::ConfigDrift => {
            let _ = writeln!(out, "     {sym} {subject}  {label}");
            let _ = writeln!(
                out,
                "       {}",
                paint(
                    DIM,
                    &format!(
                        "{baseline_host}: {}   here: {}",
                        f.tested.as_deref().unwrap_or("-"),
                        f.here.as_deref().unwrap_or("-")
                    )
                )
            );
        }
        _ => {
            let _ = writeln!(out, "     {sym} {label}: {}", f.detail);
        }
    }
}
