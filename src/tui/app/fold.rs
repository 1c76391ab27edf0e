//! The event fold: what the engine tells the cockpit (events, running commands' output,
//! hard stops, auto-rollback countdowns, its return) folded into the [`App`], with the
//! bookkeeping that comes with it (findings and the risk's package counts, the output
//! pane's scroll, selection following activity).

use jiff::Timestamp;

use super::model::{App, CommandRun, Mode, Popup, StopStage};
use crate::diff::{Class, Finding};
use crate::engine::event::{Event, Outcome, StopKind};
use crate::engine::live::{Live, RunId};
use crate::engine::state::OpenStop;
use crate::safe_text::for_terminal;
use crate::tui::transcript::Streamed;

impl App {
    /// A host's latest findings, and the count of hosts changing each package with them.
    fn set_findings(&mut self, host: &str, rechecked: bool, findings: &[Finding]) {
        let changes = |f: &&Finding| matches!(f.class, Class::Tested | Class::DifferentStart | Class::VersionMismatch);
        // The selected host's findings replaced under the operator's eyes: a key acting on
        // "the finding at the cursor" must not land on another one (see `refuse`).
        let replaced = self.findings.get(host).is_some_and(|(_, old)| old.as_slice() != findings);
        if replaced && self.selected_host().as_deref() == Some(host) {
            self.findings_moved_at = Some(self.uptime);
        }
        if let Some((_, old)) = self.findings.insert(host.to_string(), (rechecked, findings.to_vec())) {
            for f in old.iter().filter(changes) {
                if let Some(n) = self.changed.get_mut(&f.subject) {
                    *n -= 1;
                    if *n == 0 {
                        self.changed.remove(&f.subject);
                    }
                }
            }
        }
        for f in findings.iter().filter(changes) {
            *self.changed.entry(f.subject.clone()).or_default() += 1;
        }
    }

    /// Selection follows activity, unless the operator is reading back through the output.
    fn select_activity(&mut self, host: &str) {
        if self.follow && self.scroll == 0 && self.state.hosts.contains_key(host) {
            self.selected = Some(host.to_string());
            self.scroll = 0;
        }
    }

    /// While the operator has scrolled up, rows added below keep the view where it is.
    /// Scrolling up pinned `selected` (see `main_screen::main_input`), so this is cheap per line.
    fn keep_view(&mut self, host: &str, added: usize) {
        if self.scroll > 0 && self.selected.as_deref() == Some(host) {
            let max = self.pane_len(host).min(u16::MAX as usize) as u16;
            self.scroll = self.scroll.saturating_add(added.min(u16::MAX as usize) as u16).min(max);
        }
    }

    /// An item of the live feed: an engine event, or output of a running command.
    pub fn on_live(&mut self, item: Live) {
        match item {
            Live::Event(e) => self.on_event(self.now, e),
            Live::Line { run, line } => {
                let stderr = line.stream == crate::transport::Stream::Stderr;
                let text = for_terminal(&line.text);
                self.on_streamed(&run, Streamed::Line { text, stderr, cut: line.cut });
            }
            Live::Dropped { run, lines } => self.on_streamed(&run, Streamed::Dropped(lines)),
        }
    }

    /// Appends to the command's host transcript. Output of a command the cockpit has not
    /// seen start cannot happen (its event comes first in the feed) and is ignored.
    fn on_streamed(&mut self, run: &RunId, s: Streamed) {
        let Some(i) = self
            .runs
            .get(&run.host)
            .and_then(|runs| runs.iter().rposition(|r| r.step == run.step && r.rollback == run.rollback))
        else {
            return;
        };
        self.output.entry(run.host.clone()).or_default().push(i, s);
        self.keep_view(&run.host, 1);
    }

    /// An engine event (or a journal record in `watch`), at `at`.
    pub fn on_event(&mut self, at: Timestamp, e: Event) {
        let before = match (&e, self.scroll) {
            (
                Event::StepStarted { host, .. }
                | Event::RollbackStarted { host, .. }
                | Event::StepFinished { host, .. }
                | Event::RollbackFinished { host, .. },
                1..,
            ) => Some((host.clone(), self.pane_len(host))),
            _ => None,
        };
        let target = self.target_shown();
        self.on_pane_event(at, e);
        if let Some((host, before)) = before {
            let added = self.pane_len(&host).saturating_sub(before);
            self.keep_view(&host, added);
        }
        self.after_engine(target);
    }

    /// What the selection keys act on now: the host `R` names, and the wave `W` names.
    fn target_shown(&self) -> (Option<String>, Option<usize>) {
        (self.selected_host(), self.shown_wave().map(|(i, _)| i))
    }

    /// After the engine changed something: what moved by itself, and what opened by itself,
    /// holds the keys acting on it for a moment.
    fn after_engine(&mut self, target: (Option<String>, Option<usize>)) {
        if self.target_shown() != target {
            self.moved_by_itself();
        }
        self.opened_by_itself();
    }

    fn on_pane_event(&mut self, at: Timestamp, e: Event) {
        self.state.apply(&e);
        match &e {
            Event::Preflight { host, findings, .. } => self.set_findings(host, false, findings),
            Event::Recheck { host, findings } if !findings.is_empty() => self.set_findings(host, true, findings),
            Event::StepStarted { host, step, name, command } | Event::RollbackStarted { host, step, name, command } => {
                let rollback = matches!(e, Event::RollbackStarted { .. });
                if rollback {
                    self.armed.remove(host);
                }
                self.runs.entry(host.clone()).or_default().push(CommandRun {
                    rollback,
                    step: *step,
                    name: for_terminal(name),
                    command: for_terminal(command),
                    started: at,
                    finished: None,
                    lines: Vec::new(),
                    interrupted: false,
                });
                let host = host.clone();
                self.select_activity(&host);
            }
            Event::StepFinished { host, step, outcome, changes, millis } => {
                let mut lines: Vec<String> = Vec::new();
                if let Outcome::Failed { output_tail, .. } = outcome {
                    lines.extend(output_tail.lines().map(for_terminal));
                }
                for c in changes {
                    lines.push(format!(
                        "changed {} {} -> {}",
                        for_terminal(&c.name),
                        c.from.as_deref().map_or("(none)".into(), for_terminal),
                        c.to.as_deref().map_or("(removed)".into(), for_terminal)
                    ));
                }
                self.finish_run(host, *step, false, outcome.clone(), *millis, lines);
            }
            Event::RollbackFinished { host, step, outcome, verified, mismatches, millis } => {
                let mut lines: Vec<String> = Vec::new();
                if let Outcome::Failed { output_tail, .. } = outcome {
                    lines.extend(output_tail.lines().map(for_terminal));
                }
                match verified {
                    Some(true) => lines.push("rollback verified: every version is back to the snapshot".into()),
                    Some(false) => {
                        lines.push("rollback NOT VERIFIED:".into());
                        lines.extend(mismatches.iter().map(|m| for_terminal(m)));
                    }
                    None => {}
                }
                self.finish_run(host, *step, true, outcome.clone(), *millis, lines);
            }
            Event::HardStop { host: Some(h), .. } => {
                // A stop is where the eyes must go, whatever the operator selected.
                self.selected = Some(h.clone());
                self.scroll = 0;
                let h = h.clone();
                self.show_wave_of(&h);
                self.armed.remove(&h);
            }
            // A go/no-go shows the wave that just finished: what the go is about.
            Event::HardStop { host: None, stop: StopKind::Gate { wave }, .. } => {
                if let Some(i) = self.info.waves.iter().position(|(w, _)| w == wave) {
                    self.show_wave(i.saturating_sub(1));
                }
            }
            Event::Decided(d) => {
                self.popups.retain(|p| !matches!(p, Popup::Stop { stop, .. } if stop.id == d.id));
            }
            Event::AutoRollbackArmed { host, seconds } => {
                let deadline = at.checked_add(jiff::SignedDuration::from_secs(*seconds as i64)).unwrap_or(at);
                self.armed.insert(host.clone(), deadline);
            }
            Event::AutoRollbackCancelled { host, .. } | Event::HostFinished { host, .. } => {
                self.popups.retain(|p| !matches!(p, Popup::Countdown { host: h, .. } if h == host));
                self.armed.remove(host);
            }
            Event::WindowFinished { .. } if self.mode == Mode::ReadOnly => self.engine_done = true,
            Event::WindowStarted { drill: true, .. } => self.drill = true,
            _ => {}
        }
        self.events.push((at, e));
    }

    fn finish_run(&mut self, host: &str, step: usize, rollback: bool, o: Outcome, millis: u64, lines: Vec<String>) {
        let runs = self.runs.entry(host.to_string()).or_default();
        if let Some(r) =
            runs.iter_mut().rev().find(|r| r.step == step && r.rollback == rollback && r.finished.is_none())
        {
            r.finished = Some((o, millis));
            r.lines.extend(lines);
        }
    }

    /// After replaying a journal (`--resume`): commands that never finished were cut off
    /// when patchdeck stopped; their outcome is unknown, they are not running now.
    pub fn mark_interrupted(&mut self) {
        for r in self.runs.values_mut().flatten() {
            if r.finished.is_none() {
                r.interrupted = true;
            }
        }
    }

    /// The engine asks for a decision: the modal takes the keys until it is answered. A
    /// question open before (leaving, a request) waits behind it, and comes back after.
    pub fn on_stop(&mut self, stop: OpenStop) {
        let target = self.target_shown();
        if let Some(h) = &stop.host {
            self.selected = Some(h.clone());
            self.show_wave_of(&h.clone());
        }
        self.popups.retain(|p| !matches!(p, Popup::Stop { stop: s, .. } if s.id == stop.id));
        self.popups.push(Popup::Stop { stop, stage: StopStage::Choose });
        self.after_engine(target);
    }

    /// The engine armed an auto-rollback: a visible, cancellable countdown.
    pub fn on_countdown(&mut self, host: &str, seconds: u64) {
        let target = self.target_shown();
        let deadline = self.now.checked_add(jiff::SignedDuration::from_secs(seconds as i64)).unwrap_or(self.now);
        self.selected = Some(host.to_string());
        self.show_wave_of(host);
        self.popups.retain(|p| !matches!(p, Popup::Countdown { host: h, .. } if h == host));
        self.popups.push(Popup::Countdown { host: host.to_string(), deadline });
        self.after_engine(target);
    }

    /// The engine returned: nothing is asked any more, nothing more can be requested.
    pub fn on_engine_done(&mut self) {
        self.engine_done = true;
        self.popups.retain(|p| {
            !matches!(p, Popup::Stop { .. } | Popup::Countdown { .. } | Popup::Confirm(_) | Popup::Count { .. })
        });
        self.opened_by_itself();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::app::model::WindowInfo;

    fn finding(class: Class, subject: &str) -> Finding {
        Finding {
            class,
            subject: subject.into(),
            tested: None,
            here: Some("1 -> 2".into()),
            verdict: None,
            detail: String::new(),
        }
    }

    #[test]
    fn risk_counts_each_changed_package_once_and_follows_rechecks() {
        let now: Timestamp = "2026-11-22T22:30:00Z".parse().unwrap();
        let info = WindowInfo {
            name: "w".into(),
            ends: None,
            decide_by: None,
            steps: vec!["apply".into()],
            waves: vec![("all".into(), vec!["a".into(), "b".into()])],
            risk_policy: Some((0.01, 0.25)),
        };
        let mut app = App::new(Mode::Live, info, now);
        assert_eq!(app.risk(), None, "nothing known yet");
        let pre = |host: &str, findings| Event::Preflight { host: host.into(), findings, checks: vec![] };
        app.on_event(now, pre("a", vec![finding(Class::Tested, "libssl3"), finding(Class::Tested, "openssl")]));
        app.on_event(
            now,
            pre("b", vec![finding(Class::VersionMismatch, "openssl"), finding(Class::UntestedPackage, "libxml2")]),
        );
        // libssl3 and openssl change; libxml2 is untested, not a planned change.
        let risk = |n: usize| Some((crate::diff::risk::window_risk(0.01, n), 0.25));
        assert_eq!(app.risk(), risk(2));
        // b's recheck no longer changes openssl, but a still does.
        app.on_event(
            now,
            Event::Recheck { host: "b".into(), findings: vec![finding(Class::UntestedPackage, "libxml2")] },
        );
        assert_eq!(app.risk(), risk(2));
        // a's recheck changes only libssl3 now, and a new package, curl.
        app.on_event(
            now,
            Event::Recheck {
                host: "a".into(),
                findings: vec![finding(Class::Tested, "libssl3"), finding(Class::DifferentStart, "curl")],
            },
        );
        assert_eq!(app.risk(), risk(2));
        app.on_event(now, Event::Recheck { host: "a".into(), findings: vec![finding(Class::UntestedPackage, "x")] });
        assert_eq!(app.risk(), None, "no host changes anything any more");
    }
}
