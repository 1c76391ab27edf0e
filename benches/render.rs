//! How long one redraw of the cockpit takes (the loop redraws on events, keys, resizes
//! and once a second): the main screen and a hard stop, at 80x24 and 160x48. And one frame
//! of a flood: fifty hosts streaming, each already holding a full output ring, twenty new
//! lines each applied (sanitised, stored, oldest let go), then the screen drawn, which the
//! loop does at most once per 50 ms frame while output streams.

use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use patchdeck::diff::{Class, Finding};
use patchdeck::engine::event::{Event, StopKind};
use patchdeck::engine::live::{Live, RunId};
use patchdeck::engine::state::OpenStop;
use patchdeck::transport::{OutputLine, Stream};
use patchdeck::tui::app::{App, Mode, WindowInfo};
use patchdeck::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn app() -> App {
    sized_app(12, 40, 40)
}

/// `n_hosts` in one wave, each with `findings` diff lines, the selected one (web1) with
/// `selected_findings`.
fn sized_app(n_hosts: usize, findings: usize, selected_findings: usize) -> App {
    let now: jiff::Timestamp = "2026-11-22T22:30:00Z".parse().unwrap();
    let hosts: Vec<String> = (1..=n_hosts).map(|i| format!("web{i}")).collect();
    let info = WindowInfo {
        name: "bench".into(),
        ends: Some("2026-11-22T23:30:00Z".parse().unwrap()),
        decide_by: Some("2026-11-22T23:10:00Z".parse().unwrap()),
        steps: vec!["drain".into(), "apply tested updates".into(), "restart".into(), "enable".into()],
        waves: vec![("web".into(), hosts.clone())],
        risk_policy: Some((0.01, 0.25)),
    };
    let mut app = App::new(Mode::Live, info, now);
    app.on_event(
        now,
        Event::WindowStarted {
            window: "bench".into(),
            operators: vec!["alice".into()],
            hosts: hosts.clone(),
            drill: false,
            waves: vec![],
        },
    );
    let finding_list = |n: usize| -> Vec<Finding> {
        (0..n)
            .map(|i| Finding {
                class: if i % 7 == 0 { Class::VersionMismatch } else { Class::Tested },
                subject: format!("pkg{i}"),
                tested: Some("1.0 -> 1.1".into()),
                here: Some("1.0 -> 1.2".into()),
                verdict: None,
                detail: format!("pkg{i} detail"),
            })
            .collect()
    };
    let (findings, selected) = (finding_list(findings), finding_list(selected_findings));
    for (i, h) in hosts.iter().enumerate() {
        let findings = if i == 0 { selected.clone() } else { findings.clone() };
        app.on_event(now, Event::Preflight { host: h.clone(), findings, checks: vec![] });
    }
    app.on_event(now, Event::WaveStarted { wave: "web".into() });
    for (i, h) in hosts.iter().enumerate().take(6) {
        app.on_event(
            now,
            Event::StepStarted { host: h.clone(), step: i % 4, name: "apply".into(), command: "apt install x".into() },
        );
    }
    app
}

fn bench(c: &mut Criterion) {
    let theme = Theme::builtin("dark").unwrap();
    let main = app();
    let mut stop = app();
    stop.on_stop(OpenStop {
        id: 1,
        host: Some("web1".into()),
        stop: StopKind::StepFailed {
            step: "apply".into(),
            status: Some(100),
            output_tail: "E: broken\n".repeat(20),
            repair: None,
        },
        step: Some(1),
        rollback: false,
    });
    for (name, app) in [("main", &main), ("hard_stop", &stop)] {
        for (w, h) in [(80, 24), (160, 48)] {
            let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
            c.bench_function(&format!("draw_{name}_{w}x{h}"), |b| {
                b.iter(|| {
                    term.draw(|f| patchdeck::tui::view::draw(f, app, &theme)).unwrap();
                })
            });
        }
    }
}

/// Fifty hosts in one wave, each running its install.
fn streaming_app(hosts: &[String]) -> App {
    let now: jiff::Timestamp = "2026-11-22T22:30:00Z".parse().unwrap();
    let info = WindowInfo {
        name: "flood".into(),
        steps: vec!["apply tested updates".into()],
        waves: vec![("all".into(), hosts.to_vec())],
        ..Default::default()
    };
    let mut app = App::new(Mode::Live, info, now);
    let mut events = vec![
        Event::WindowStarted {
            window: "flood".into(),
            operators: vec![],
            hosts: hosts.to_vec(),
            drill: false,
            waves: vec![],
        },
        Event::WaveStarted { wave: "all".into() },
    ];
    events.extend(hosts.iter().map(|h| Event::StepStarted {
        host: h.clone(),
        step: 0,
        name: "apply tested updates".into(),
        command: "apt-get install ...".into(),
    }));
    for e in events {
        app.on_event(now, e);
    }
    app
}

/// `per_host` apt-like lines for every host, interleaved as they would arrive.
fn batch(hosts: &[String], per_host: usize, from: usize) -> Vec<Live> {
    let runs: Vec<Arc<RunId>> =
        hosts.iter().map(|h| Arc::new(RunId { host: h.clone(), step: 0, rollback: false })).collect();
    (from..from + per_host)
        .flat_map(|i| {
            runs.iter().map(move |run| Live::Line {
                run: run.clone(),
                line: OutputLine {
                    stream: Stream::Stdout,
                    text: format!(
                        "Unpacking libpackage{i} (1.2.{i}-1+deb12u1) over (1.2.{}-1) ...",
                        i.saturating_sub(1)
                    ),
                    cut: false,
                },
            })
        })
        .collect()
}

fn bench_streaming(c: &mut Criterion) {
    let theme = Theme::builtin("dark").unwrap();
    let hosts: Vec<String> = (1..=50).map(|i| format!("web{i:02}")).collect();
    let mut app = streaming_app(&hosts);
    for item in batch(&hosts, patchdeck::tui::transcript::MAX_LINES, 0) {
        app.on_live(item);
    }
    let next = batch(&hosts, 20, patchdeck::tui::transcript::MAX_LINES);
    for (w, h) in [(80, 24), (160, 48)] {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        // The drawing alone, to tell it from taking the lines in.
        c.bench_function(&format!("draw_50_hosts_streaming_{w}x{h}"), |b| {
            b.iter(|| {
                term.draw(|f| patchdeck::tui::view::draw(f, &app, &theme)).unwrap();
            })
        });
        c.bench_function(&format!("frame_50_hosts_streaming_{w}x{h}"), |b| {
            b.iter_batched(
                || next.clone(),
                |lines| {
                    for item in lines {
                        app.on_live(item);
                    }
                    term.draw(|f| patchdeck::tui::view::draw(f, &app, &theme)).unwrap();
                },
                BatchSize::SmallInput,
            )
        });
    }
}

/// The size: 500 hosts in the wave, the selected host's diff 2,000 packages long;
/// the main screen and the full-screen diff.
fn bench_large(c: &mut Criterion) {
    use patchdeck::tui::action::Action;
    let theme = Theme::builtin("dark").unwrap();
    let main = sized_app(500, 40, 2_000);
    let mut full = sized_app(500, 40, 2_000);
    patchdeck::tui::app::update(&mut full, Action::FullDiff);
    for (name, app) in [("main", &main), ("full_diff", &full)] {
        for (w, h) in [(80, 24), (160, 48)] {
            let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
            c.bench_function(&format!("draw_{name}_500_hosts_2000_pkgs_{w}x{h}"), |b| {
                b.iter(|| {
                    term.draw(|f| patchdeck::tui::view::draw(f, app, &theme)).unwrap();
                })
            });
        }
    }
}

criterion_group!(benches, bench, bench_streaming, bench_large);
criterion_main!(benches);
