//! How long one redraw of the cockpit takes (the loop redraws on events, keys, resizes
//! and once a second): the main screen and a hard stop, at 80x24 and 160x48.

use criterion::{Criterion, criterion_group, criterion_main};
use patchdeck::diff::{Class, Finding};
use patchdeck::engine::event::{Event, StopKind};
use patchdeck::engine::state::OpenStop;
use patchdeck::tui::app::{App, Mode, WindowInfo};
use patchdeck::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn app() -> App {
    let now: jiff::Timestamp = "2026-11-22T22:30:00Z".parse().unwrap();
    let hosts: Vec<String> = (1..=12).map(|i| format!("web{i}")).collect();
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
        },
    );
    let findings: Vec<Finding> = (0..40)
        .map(|i| Finding {
            class: if i % 7 == 0 { Class::VersionMismatch } else { Class::Tested },
            subject: format!("pkg{i}"),
            tested: Some("1.0 -> 1.1".into()),
            here: Some("1.0 -> 1.2".into()),
            verdict: None,
            detail: format!("pkg{i} detail"),
        })
        .collect();
    for h in &hosts {
        app.on_event(now, Event::Preflight { host: h.clone(), findings: findings.clone(), checks: vec![] });
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
        stop: StopKind::StepFailed { step: "apply".into(), status: Some(100), output_tail: "E: broken\n".repeat(20) },
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

criterion_group!(benches, bench);
criterion_main!(benches);
