//! The report's sections, each appended to the output in turn.

use std::fmt::Write;

use jiff::Timestamp;

use super::model::{Model, Stop, host_of};
use super::text::{block, code, duration_ms, esc, version};
use crate::diff::Finding;
use crate::engine::control::{Actor, Choice, Decision, StopCode};
use crate::engine::event::{Decided, Event, HostResult, Outcome, Request, StopKind};
use crate::engine::state::Standing;
use crate::health::CheckResult;
use crate::runbook::OnDivergence;

fn hms(t: Timestamp) -> String {
    t.strftime("%H:%M:%S").to_string()
}

fn full(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn between(a: Timestamp, b: Timestamp) -> String {
    duration_ms((b.as_millisecond() - a.as_millisecond()).max(0) as u64)
}

fn names(list: &[String]) -> String {
    if list.is_empty() { "(none)".into() } else { list.iter().map(|s| esc(s)).collect::<Vec<_>>().join(", ") }
}

fn host_label(h: Option<&str>) -> String {
    h.map_or_else(|| "(window)".into(), esc)
}

fn result_label(r: Option<HostResult>) -> &'static str {
    r.map_or("unfinished", crate::narrate::host_result)
}

fn outcome_label(o: &Outcome) -> String {
    match o {
        Outcome::Ok => "ok".into(),
        Outcome::Failed { status, .. } => {
            format!("FAILED (exit {})", status.map_or("signal".into(), |s| s.to_string()))
        }
        Outcome::Timeout { after_secs } => format!("TIMED OUT after {after_secs}s"),
        Outcome::Unreachable { detail } => format!("UNREACHABLE: {}", esc(detail)),
    }
}

fn verified_label(outcome: &Outcome, verified: Option<bool>) -> &'static str {
    match (outcome.is_ok(), verified) {
        (false, _) => "rollback FAILED",
        (true, Some(true)) => "verified",
        (true, Some(false)) => "NOT VERIFIED",
        (true, None) => "n/a (no package snapshot)",
    }
}

fn decision_text(d: &Decision) -> String {
    let what = esc(&crate::narrate::choice(d.choice, &d.target));
    match &d.reason {
        Some(reason) => format!("{what}: \u{201c}{}\u{201d}", esc(reason)),
        None => what,
    }
}

fn verdict_label(v: Option<OnDivergence>) -> &'static str {
    match v {
        Some(OnDivergence::Stop) => "stop",
        Some(OnDivergence::Warn) => "warn",
        None => "",
    }
}

/// Title, DRILL banner, summary table.
pub fn title_and_summary(out: &mut String, m: &Model) {
    let h = m.header;
    let _ = writeln!(out, "# Change record: {}\n", esc(&h.window));
    if h.drill {
        let _ =
            writeln!(out, "> **DRILL**: this window ran against simulated hosts. Nothing in production was changed.\n");
    }
    // A host that failed is a failure whatever was decided after: the outcome says so.
    let failed = m.state.hosts.values().filter(|h| h.failed).count();
    let outcome = match m.finished {
        Some((_, false)) if failed == 0 => "completed".to_string(),
        Some((_, false)) => format!("completed, **{failed} host(s) failed** on the way"),
        Some((_, true)) => "**ABORTED**".to_string(),
        None if m.state.paused => "**PAUSED**: left by the operators or a signal; `--resume` carries on".to_string(),
        None => format!(
            "**still running or interrupted**: no end recorded (journal ends at seq {})",
            m.records.last().map_or(0, |r| r.seq)
        ),
    };
    let standings: Vec<Standing> = m.hosts.iter().map(|h| m.standing(h)).collect();
    let count = |f: &dyn Fn(&Standing) -> bool| standings.iter().filter(|s| f(s)).count();
    let unfinished = count(&|s| matches!(s, Standing::Underway { .. }));
    let sha = h.runbook_sha256.get(..12).unwrap_or(&h.runbook_sha256);
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Window | {} |", esc(&h.window));
    let _ = writeln!(out, "| Runbook | {} (sha256 {}) |", code(&h.runbook), code(sha));
    let _ = writeln!(out, "| Operators | {} |", names(&h.operators));
    let _ = writeln!(out, "| Journal created | {} |", full(m.created_at));
    let _ = writeln!(out, "| Started | {} |", m.started.map_or("(not started)".into(), full));
    match m.finished {
        Some((at, _)) => {
            let _ = writeln!(out, "| Finished | {} |", full(at));
        }
        None => {
            let _ =
                writeln!(out, "| Finished | (not recorded; last record {}) |", m.last_at().map_or("-".into(), full));
        }
    }
    if let (Some(a), Some(b)) = (m.started, m.finished.map(|f| f.0).or(m.last_at())) {
        let so_far = if m.finished.is_some() { "" } else { " so far" };
        let _ = writeln!(out, "| Duration | {}{so_far} |", between(a, b));
    }
    let _ = writeln!(out, "| Outcome | {outcome} |");
    let mut hosts = format!(
        "{} done, {} rolled back, {} skipped, {} failed",
        count(&|s| matches!(s, Standing::Done | Standing::DoneOverride)),
        count(&|s| matches!(s, Standing::RolledBack(_))),
        count(&|s| matches!(s, Standing::Skipped)),
        count(&|s| matches!(s, Standing::Failed)),
    );
    let stopped = count(&|s| matches!(s, Standing::Stopped { .. }));
    if stopped > 0 {
        hosts.push_str(&format!(", {stopped} stopped with changes not undone"));
    }
    let not_started = count(&|s| matches!(s, Standing::NotStarted));
    if m.finished.is_some() && not_started > 0 {
        hosts.push_str(&format!(", {not_started} not started"));
    }
    if unfinished > 0 {
        hosts.push_str(&format!(", {unfinished} unfinished"));
    }
    let _ = writeln!(out, "| Hosts | {hosts} (of {}) |", m.hosts.len());
    let _ = writeln!(out, "| Hard stops | {} |", m.stops.len());
    let _ = writeln!(out, "| patchdeck | {} |", esc(&h.patchdeck_version));
    out.push('\n');
    if !m.hosts.is_empty() {
        let _ = writeln!(out, "| Host | Result |\n|---|---|");
        for host in &m.hosts {
            let _ = writeln!(out, "| {} | {} |", esc(host), esc(&crate::narrate::standing(m.standing(host))));
        }
        out.push('\n');
    }
}

/// One line per significant event; passing checks, snapshots and announcements whose
/// outcome follows are left out.
pub fn timeline(out: &mut String, m: &Model) {
    let _ = writeln!(out, "## Timeline\n");
    let _ = writeln!(out, "Times are UTC.\n\n| Time | Host | What |\n|---|---|---|");
    for (i, r) in m.records.iter().enumerate() {
        let Some(what) = describe(m, i, &r.event) else { continue };
        let host = match &r.event {
            Event::WaveStarted { .. } | Event::WaveFinished { .. } => String::new(),
            e => host_of(e).map(esc).unwrap_or_default(),
        };
        let _ = writeln!(out, "| {} | {host} | {what} |", hms(r.at));
    }
    out.push('\n');
}

fn describe(m: &Model, i: usize, e: &Event) -> Option<String> {
    Some(match e {
        Event::FaultInjected { fault, .. } => format!("**drill fault injected**: {}", esc(fault)),
        Event::DrillScorecard { scorecard } => {
            format!("drill scorecard: **{}** (see below)", if scorecard.passed { "passed" } else { "FAILED" })
        }
        Event::Requested { request, operators } => {
            let what = match request {
                Request::RollbackHost { host } => format!("roll back {}", esc(host)),
                Request::RollbackWave { wave, .. } => format!("roll back wave {}", esc(wave)),
                Request::RollbackAll => "roll back everything".to_string(),
                Request::Abort => "abort the window".to_string(),
                Request::Pause { reason } => format!("leave the window paused ({})", esc(reason)),
            };
            format!("**requested**: {what} (by {})", names(operators))
        }
        Event::WindowStarted { hosts, operators, drill, .. } => format!(
            "window started{}: {} host(s), operators {}",
            if *drill { " (drill)" } else { "" },
            hosts.len(),
            names(operators)
        ),
        Event::Preflight { findings, checks, .. } => {
            let div = findings.iter().filter(|f| f.verdict.is_some()).count();
            let failing: Vec<String> = checks.iter().filter(|c| !c.ok).map(|c| c.check.clone()).collect();
            if div == 0 && failing.is_empty() {
                return None;
            }
            let mut parts = Vec::new();
            if div > 0 {
                parts.push(format!("{div} divergence(s)"));
            }
            if !failing.is_empty() {
                parts.push(format!("already failing: {}", names(&failing)));
            }
            format!("preflight: {}", parts.join("; "))
        }
        Event::WaveStarted { wave } => format!("wave **{}** started", esc(wave)),
        Event::Recheck { findings, .. } => {
            let div = findings.iter().filter(|f| f.verdict.is_some()).count();
            if div == 0 {
                return None;
            }
            format!("re-check before first change: {div} divergence(s)")
        }
        Event::HardStop { id, stop, .. } => format!("**HARD STOP #{id}**: {}", esc(&stop.headline())),
        Event::Decided(Decided { id, decision, operators, .. }) => {
            format!("decision #{id}: {} (by {})", decision_text(decision), names(operators))
        }
        Event::RollbackAccepted { step, stop, .. } => format!(
            "rollback of \"{}\" accepted as done, **unverified**, by the override at stop #{stop}",
            esc(&m.step_name(*step))
        ),
        Event::StepAccepted { step, stop, .. } => {
            format!("step \"{}\" accepted as done by the override at stop #{stop}", esc(&m.step_name(*step)))
        }
        Event::Resumed { operators, pid, machine } => {
            format!("window **resumed** by {} (process {pid} on {})", names(operators), esc(machine))
        }
        Event::Snapshot { .. } => return None,
        Event::StepStarted { step, .. } | Event::RollbackStarted { step, .. } => {
            if !m.unfinished.contains(&i) {
                return None;
            }
            let what = if matches!(e, Event::RollbackStarted { .. }) { "rollback of" } else { "step" };
            format!("{what} \"{}\" started; **no outcome recorded**", esc(&m.step_name(*step)))
        }
        Event::StepFinished { step, outcome, changes, millis, .. } => {
            let mut s = format!(
                "step \"{}\": {} in {}",
                esc(&m.step_name(*step)),
                outcome_label(outcome),
                duration_ms(*millis)
            );
            if !changes.is_empty() {
                s.push_str(&format!(", {} package(s) changed", changes.len()));
            }
            s
        }
        Event::Checks { after_step, results, .. } => {
            let failing: Vec<String> = results.iter().filter(|c| !c.ok).map(|c| c.check.clone()).collect();
            if failing.is_empty() {
                return None;
            }
            let after = after_step.map_or(String::new(), |s| format!(" after \"{}\"", esc(&m.step_name(s))));
            format!("health check(s) failing{after}: {}", names(&failing))
        }
        Event::AutoRollbackArmed { seconds, .. } => format!("auto-rollback armed ({seconds}s countdown)"),
        Event::AutoRollbackCancelled { operators, .. } => format!("auto-rollback cancelled by {}", names(operators)),
        Event::RollbackFinished { step, outcome, verified, millis, .. } => format!(
            "rolled back \"{}\" in {}: {}; snapshot {}",
            esc(&m.step_name(*step)),
            duration_ms(*millis),
            outcome_label(outcome),
            verified_label(outcome, *verified)
        ),
        Event::RunRecord { step, rollback, found, .. } => format!(
            "{}\"{}\": read from the host's record: {}",
            if *rollback { "rollback of " } else { "" },
            esc(&m.step_name(*step)),
            esc(&found.describe())
        ),
        Event::RepairStarted { why, .. } => format!("**repair** of the package database: {}", esc(why)),
        Event::RepairFinished { outcome, healthy, left, millis, .. } => format!(
            "repair: {} in {}; {}",
            outcome_label(outcome),
            duration_ms(*millis),
            match healthy {
                Some(true) => "nothing left half done".to_string(),
                Some(false) => format!("**still half done**: {}", esc(&left.join(", "))),
                None => "not checked after".to_string(),
            }
        ),
        Event::HostFinished { host, result } => {
            // The same result journaled again (the engine may confirm it) is not news.
            let repeated = m.records[..i]
                .iter()
                .rev()
                .find_map(|r| match &r.event {
                    Event::HostFinished { host: h, result: r } if h == host => Some(r == result),
                    _ => None,
                })
                .unwrap_or(false);
            if repeated {
                return None;
            }
            format!("host finished: **{}**", result_label(Some(*result)))
        }
        Event::WaveFinished { wave, failures } => format!("wave **{}** finished, {failures} failure(s)", esc(wave)),
        Event::WindowFinished { aborted: true } => "window **ABORTED**".into(),
        Event::WindowFinished { aborted: false } => "window finished".into(),
    })
}

/// The packages each host's steps changed, and whether a rollback restored them.
pub fn package_changes(out: &mut String, m: &Model) {
    let _ = writeln!(out, "## Package changes per host\n");
    let mut any = false;
    for host in &m.hosts {
        let mut rows = Vec::new();
        for (i, r) in m.records.iter().enumerate() {
            let Event::StepFinished { host: h, step, changes, .. } = &r.event else { continue };
            if h != host {
                continue;
            }
            // The first rollback of this step after it ran.
            let rollback = m.records[i + 1..].iter().find_map(|r| match &r.event {
                Event::RollbackFinished { host: rh, step: rs, outcome, verified, mismatches, .. }
                    if rh == h && rs == step =>
                {
                    Some((outcome, *verified, mismatches))
                }
                _ => None,
            });
            for c in changes {
                let status = match rollback {
                    None => format!("in place: {}", version(c.to.as_deref())),
                    Some((o, _, _)) if !o.is_ok() => "rollback FAILED: state unknown".to_string(),
                    Some((_, Some(false), mismatches)) => {
                        match mismatches.iter().find(|x| x.starts_with(&format!("{}:", c.name))) {
                            Some(x) => format!("**NOT restored**: {}", esc(x)),
                            None => format!("restored to {}", version(c.from.as_deref())),
                        }
                    }
                    Some((_, Some(true), _)) => {
                        format!("rolled back, verified: restored to {}", version(c.from.as_deref()))
                    }
                    Some((_, None, _)) => format!("rolled back (unverified) to {}", version(c.from.as_deref())),
                };
                rows.push(format!(
                    "| {} | {} | {} | {} | {status} |",
                    code(&c.name),
                    version(c.from.as_deref()),
                    version(c.to.as_deref()),
                    esc(&m.step_name(*step))
                ));
            }
        }
        if rows.is_empty() {
            continue;
        }
        any = true;
        let _ = writeln!(out, "### {} ({})\n", esc(host), esc(&crate::narrate::standing(m.standing(host))));
        let _ = writeln!(out, "| Package | From | To | Step | Now |\n|---|---|---|---|---|");
        for row in rows {
            let _ = writeln!(out, "{row}");
        }
        out.push('\n');
    }
    if !any {
        let _ = writeln!(out, "No package was changed on any host.\n");
    }
}

fn findings_table(out: &mut String, findings: &[&Finding]) {
    let _ = writeln!(out, "| Class | Subject | Tested | Here | Verdict | Detail |\n|---|---|---|---|---|---|");
    for f in findings {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            f.class.label(),
            code(&f.subject),
            version(f.tested.as_deref()),
            version(f.here.as_deref()),
            verdict_label(f.verdict),
            esc(&f.detail)
        );
    }
}

fn checks_table(out: &mut String, checks: &[&CheckResult]) {
    let _ = writeln!(out, "| Check | Result | Detail |\n|---|---|---|");
    for c in checks {
        let _ = writeln!(out, "| {} | {} | {} |", esc(&c.check), if c.ok { "ok" } else { "FAILING" }, esc(&c.detail));
    }
}

fn stop_details(out: &mut String, s: &Stop) {
    match s.stop {
        StopKind::Divergence { findings } => {
            findings_table(out, &findings.iter().collect::<Vec<_>>());
            out.push('\n');
        }
        StopKind::Unreachable { detail } => {
            let _ = writeln!(out, "Connection error: {}\n", esc(detail));
        }
        StopKind::StepFailed { output_tail, .. } if !output_tail.trim().is_empty() => {
            let _ = writeln!(out, "Last output:\n\n{}", block(output_tail));
        }
        StopKind::HealthFailed { failing, .. } => {
            checks_table(out, &failing.iter().collect::<Vec<_>>());
            out.push('\n');
        }
        StopKind::RebootRequired { packages } => {
            let list: Vec<String> = packages.iter().map(|p| code(p)).collect();
            let _ = writeln!(out, "Packages wanting a reboot: {}\n", list.join(", "));
        }
        StopKind::RollbackUnverified { mismatches } => {
            for x in mismatches {
                let _ = writeln!(out, "- {}", esc(x));
            }
            out.push('\n');
        }
        _ => {}
    }
}

/// Every hard stop, what it was about, and what was decided, by whom.
pub fn decisions(out: &mut String, m: &Model) {
    let _ = writeln!(out, "## Divergences and decisions\n");
    if m.stops.is_empty() {
        let _ = writeln!(out, "No hard stop: nothing needed a decision.\n");
        return;
    }
    for s in &m.stops {
        let _ = writeln!(out, "### Stop #{} on {}: {}\n", s.id, host_label(s.host), esc(&s.stop.headline()));
        let _ = writeln!(out, "Raised at {}.\n", hms(s.at));
        stop_details(out, s);
        if s.decisions.is_empty() {
            let _ = writeln!(out, "**Decision: none recorded** (the window stopped here unanswered).\n");
        }
        for d in &s.decisions {
            let auto = matches!(d.by, Some(Actor::AutoRollback));
            let _ = writeln!(
                out,
                "**Decision: {}** at {} by {}{}\n",
                esc(&crate::narrate::choice(d.decision.choice, &d.decision.target)),
                hms(d.at),
                names(d.operators),
                if auto { " (automatic, after a failed health check)" } else { "" }
            );
            if let Some(reason) = &d.decision.reason {
                let _ = writeln!(out, "Reason:\n\n> {}\n", esc(reason));
            }
        }
    }
}

/// Each rollback, its outcome and whether the snapshot was verified restored.
pub fn rollbacks(out: &mut String, m: &Model) {
    let _ = writeln!(out, "## Rollbacks\n");
    let mut rows = Vec::new();
    for r in m.records {
        match &r.event {
            Event::RollbackFinished { host, step, outcome, verified, mismatches, millis } => {
                let mism = if mismatches.is_empty() {
                    String::new()
                } else {
                    mismatches.iter().map(|x| esc(x)).collect::<Vec<_>>().join("; ")
                };
                rows.push(format!(
                    "| {} | {} | {} | {} | {} | {} | {mism} |",
                    hms(r.at),
                    esc(host),
                    esc(&m.step_name(*step)),
                    outcome_label(outcome),
                    verified_label(outcome, *verified),
                    duration_ms(*millis)
                ));
            }
            Event::AutoRollbackCancelled { host, operators } => rows.push(format!(
                "| {} | {} | | auto-rollback cancelled by {} | | | |",
                hms(r.at),
                esc(host),
                names(operators)
            )),
            _ => {}
        }
    }
    for &i in &m.unfinished {
        if let Event::RollbackStarted { host, step, .. } = &m.records[i].event {
            rows.push(format!(
                "| {} | {} | {} | **no outcome recorded** | unknown | | |",
                hms(m.records[i].at),
                esc(host),
                esc(&m.step_name(*step))
            ));
        }
    }
    if rows.is_empty() {
        let _ = writeln!(out, "Nothing was rolled back.\n");
        return;
    }
    let _ = writeln!(
        out,
        "| Time | Host | Step undone | Outcome | Snapshot | Took | Mismatches |\n|---|---|---|---|---|---|---|"
    );
    for row in rows {
        let _ = writeln!(out, "{row}");
    }
    out.push('\n');
}

/// Preflight results (what was already failing) and failures after steps.
pub fn health(out: &mut String, m: &Model) {
    let _ = writeln!(out, "## Health checks\n\n### Preflight\n");
    let mut total = 0;
    let mut hosts = 0;
    let mut failing_before = Vec::new();
    for r in m.records {
        if let Event::Preflight { host, checks, .. } = &r.event {
            hosts += 1;
            total += checks.len();
            failing_before.extend(checks.iter().filter(|c| !c.ok).map(|c| (host, c)));
        }
    }
    if hosts == 0 {
        let _ = writeln!(out, "No preflight recorded.\n");
    } else if failing_before.is_empty() {
        let _ = writeln!(out, "All {total} check(s) passed on {hosts} host(s) before any change.\n");
    } else {
        let _ = writeln!(
            out,
            "{} of {total} check(s) on {hosts} host(s) were **already failing before any change** \
             (not blamed on the window):\n",
            failing_before.len()
        );
        let _ = writeln!(out, "| Host | Check | Detail |\n|---|---|---|");
        for (h, c) in &failing_before {
            let _ = writeln!(out, "| {} | {} | {} |", esc(h), esc(&c.check), esc(&c.detail));
        }
        out.push('\n');
    }

    let _ = writeln!(out, "### After steps\n");
    let mut rows = Vec::new();
    let mut runs = 0;
    for r in m.records {
        if let Event::Checks { host, after_step, results, .. } = &r.event {
            runs += 1;
            for c in results.iter().filter(|c| !c.ok) {
                let before = failing_before.iter().any(|(h, b)| *h == host && b.check == c.check);
                rows.push(format!(
                    "| {} | {} | {} | {} | {} | {} |",
                    hms(r.at),
                    esc(host),
                    after_step.map_or("-".into(), |s| esc(&m.step_name(s))),
                    esc(&c.check),
                    esc(&c.detail),
                    if before { "yes" } else { "no" }
                ));
            }
        }
    }
    if rows.is_empty() {
        let _ = writeln!(out, "No failure in {runs} round(s) of checks after steps.\n");
        return;
    }
    let _ = writeln!(out, "| Time | Host | After step | Check | Detail | Failing before? |\n|---|---|---|---|---|---|");
    for row in rows {
        let _ = writeln!(out, "{row}");
    }
    out.push('\n');
}

/// How long each step took, and each host from its first to its last event.
pub fn durations(out: &mut String, m: &Model) {
    let _ = writeln!(out, "## Durations\n\n### Steps\n");
    let mut rows = Vec::new();
    for r in m.records {
        if let Event::StepFinished { host, step, outcome, millis, .. } = &r.event {
            rows.push(format!(
                "| {} | {} | {} | {} |",
                esc(host),
                esc(&m.step_name(*step)),
                outcome_label(outcome),
                duration_ms(*millis)
            ));
        }
    }
    if rows.is_empty() {
        let _ = writeln!(out, "No step finished.\n");
    } else {
        let _ = writeln!(out, "| Host | Step | Outcome | Took |\n|---|---|---|---|");
        for row in rows {
            let _ = writeln!(out, "{row}");
        }
        out.push('\n');
    }

    let _ = writeln!(out, "### Hosts\n");
    let _ = writeln!(
        out,
        "| Host | First event | Last event | Wall time | In steps | In rollbacks |\n|---|---|---|---|---|---|"
    );
    for host in &m.hosts {
        let mine: Vec<_> =
            m.records.iter().filter(|r| host_of(&r.event) == Some(*host) && !is_preflight(&r.event)).collect();
        let (Some(first), Some(last)) = (mine.first(), mine.last()) else { continue };
        let steps: u64 = mine
            .iter()
            .filter_map(|r| match r.event {
                Event::StepFinished { millis, .. } => Some(millis),
                _ => None,
            })
            .sum();
        let rollbacks: u64 = mine
            .iter()
            .filter_map(|r| match r.event {
                Event::RollbackFinished { millis, .. } => Some(millis),
                _ => None,
            })
            .sum();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            esc(host),
            hms(first.at),
            hms(last.at),
            between(first.at, last.at),
            duration_ms(steps),
            duration_ms(rollbacks)
        );
    }
    out.push('\n');
}

fn is_preflight(e: &Event) -> bool {
    matches!(e, Event::Preflight { .. })
}

/// A review skeleton: the facts are filled in, the judgement is left to people.
pub fn post_incident(out: &mut String, m: &Model) {
    let _ = writeln!(out, "## Post-incident review (draft)\n");
    let _ = writeln!(out, "### What diverged from the tested baseline\n");
    let divergences = m.divergences();
    if divergences.is_empty() {
        let _ = writeln!(out, "Nothing: every host matched what was tested.\n");
    }
    for (host, findings) in &divergences {
        for f in findings {
            let _ = writeln!(
                out,
                "- {}: {} {} (tested {}, here {}): {}",
                esc(host),
                f.class.label(),
                code(&f.subject),
                version(f.tested.as_deref()),
                version(f.here.as_deref()),
                esc(&f.detail)
            );
        }
    }
    if !divergences.is_empty() {
        out.push('\n');
    }

    let _ = writeln!(out, "### What failed\n");
    let mut failed = Vec::new();
    for s in &m.stops {
        // What went wrong on a host (not a question about the plan), or could not be known.
        let code = s.stop.code();
        let is_failure = code.is_failure() || matches!(code, StopCode::Unreachable | StopCode::UnknownOutcome);
        if is_failure {
            let decided = s.decisions.last().map_or("undecided".into(), |d| decision_text(d.decision));
            failed.push(format!("- {} at {}: {} ({decided})", host_label(s.host), hms(s.at), esc(&s.stop.headline())));
        }
    }
    for host in &m.hosts {
        match m.standing(host) {
            Standing::Failed => failed.push(format!("- {}: host ended **failed**", esc(host))),
            Standing::Stopped { done } => failed.push(format!(
                "- {}: left with {done} step(s) done and **not undone** (`patchdeck rollback` undoes them)",
                esc(host)
            )),
            Standing::RolledBack(crate::engine::state::RollbackCheck::StillUnhealthy) => {
                failed.push(format!("- {}: rolled back, **still unhealthy**", esc(host)))
            }
            _ => {}
        }
    }
    if failed.is_empty() {
        let _ = writeln!(out, "Nothing failed.\n");
    } else {
        let _ = writeln!(out, "{}\n", failed.join("\n"));
    }

    let _ = writeln!(out, "### What was rolled back\n");
    let mut rolled = Vec::new();
    for r in m.records {
        if let Event::RollbackFinished { host, step, outcome, verified, mismatches, .. } = &r.event {
            let mut line = format!(
                "- {}: \"{}\" {}, {}",
                esc(host),
                esc(&m.step_name(*step)),
                if outcome.is_ok() { "undone" } else { "could not be undone" },
                verified_label(outcome, *verified)
            );
            if !mismatches.is_empty() {
                line.push_str(&format!(" ({})", mismatches.iter().map(|x| esc(x)).collect::<Vec<_>>().join("; ")));
            }
            rolled.push(line);
        }
    }
    if rolled.is_empty() {
        let _ = writeln!(out, "Nothing.\n");
    } else {
        let _ = writeln!(out, "{}\n", rolled.join("\n"));
    }

    let overrides: Vec<String> = m
        .stops
        .iter()
        .flat_map(|s| s.decisions.iter().map(move |d| (s, d)))
        .filter_map(|(s, d)| match (d.decision.choice, &d.decision.reason) {
            (Choice::Override, Some(reason)) => Some(format!(
                "- {} (stop #{}: {}): overridden by {}: \u{201c}{}\u{201d}",
                host_label(s.host),
                s.id,
                esc(&s.stop.headline()),
                names(d.operators),
                esc(reason)
            )),
            _ => None,
        })
        .collect();
    if !overrides.is_empty() {
        let _ = writeln!(out, "### Stops overridden\n\n{}\n", overrides.join("\n"));
    }

    let _ = writeln!(out, "### Impact\n\n_To be filled in._\n");
    let _ = writeln!(out, "### Root cause\n\n_To be filled in._\n");
    let _ = writeln!(out, "### Follow-ups\n\n- [ ] _To be filled in._");
}

/// A drill's scorecard, as the drill printed it.
pub fn drill_scorecard(out: &mut String, m: &Model) {
    for r in m.records {
        if let Event::DrillScorecard { scorecard } = &r.event {
            let _ = writeln!(out, "## Drill scorecard\n");
            out.push_str(&block(&scorecard.render().join("\n")));
            out.push('\n');
        }
    }
}
