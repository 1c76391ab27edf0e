//! The cockpit's screens as an operator sees them, at 80x24 and 160x48. Each App is built
//! from a real event stream (the demo window run by the engine on the simulated fleet with
//! scripted decisions), then driven through the same `update(Action)` API the keys use.
//! Clock and event times are injected, so the snapshots are stable.

use std::path::Path;
use std::time::Duration;

use patchdeck::diag::SourceFile;
use patchdeck::engine::control::{Actor, Choice, Decision, Target};
use patchdeck::engine::decide::{Scripted, Verdict};
use patchdeck::engine::event::{Event, Request, StopKind};
use patchdeck::engine::live::{self, Live, RunId};
use patchdeck::engine::recorder::MemoryLog;
use patchdeck::engine::state::OpenStop;
use patchdeck::sim::SimTransport;
use patchdeck::sim::{Fault, FaultEffect, Fleet, SimProber};
use patchdeck::transport::{OutputLine, Stream};
use patchdeck::tui::action::Action;
use patchdeck::tui::app::{App, Effect, Mode, Pending, Popup, StopStage, WindowInfo, update};
use patchdeck::tui::keymap::{self, Context};
use patchdeck::tui::theme::Theme;
use patchdeck::tui::transcript;
use patchdeck::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo");
const T0: &str = "2026-11-22T22:05:00Z";

fn runbook(dir: &Path, edit: impl Fn(String) -> String) -> patchdeck::runbook::Runbook {
    for f in ["hosts.toml", "tested.toml"] {
        std::fs::copy(Path::new(DEMO).join(f), dir.join(f)).unwrap();
    }
    let text = edit(std::fs::read_to_string(Path::new(DEMO).join("runbook.toml")).unwrap());
    let path = dir.join("runbook.toml");
    std::fs::write(&path, text).unwrap();
    patchdeck::runbook::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn fleet(setup: impl FnOnce(&Fleet)) -> Fleet {
    let f = Fleet::from_toml(&SourceFile::read(&Path::new(DEMO).join("fleet.toml")).unwrap()).unwrap().with_speed(0.0);
    setup(&f);
    f
}

/// Runs the window and returns its events and the runbook's plan.
async fn events(
    edit: impl Fn(String) -> String,
    setup: impl FnOnce(&Fleet),
    decisions: Vec<Choice>,
    now: &str,
) -> (WindowInfo, Vec<Event>) {
    let (info, events, _) = window(edit, setup, decisions, now, false).await;
    (info, events)
}

/// Runs the window; with `watched`, also returns what the cockpit's live feed received:
/// the same events, with the commands' output lines between them.
async fn window(
    edit: impl Fn(String) -> String,
    setup: impl FnOnce(&Fleet),
    decisions: Vec<Choice>,
    now: &str,
    watched: bool,
) -> (WindowInfo, Vec<Event>, Vec<Live>) {
    let dir = tempfile::tempdir().unwrap();
    // One host at a time, so the order of events (and the screens) is always the same.
    // The demo's go/no-go before the web wave is opened by the script (it is about the
    // stops), unless the script itself says go: then it answers the gate too.
    let rb = runbook(dir.path(), |t| edit(t).replace("parallel = 2", "parallel = 1"));
    let f = fleet(setup);
    let mut decider = Scripted::new(decisions.clone());
    decider.open_gates = !decisions.contains(&Choice::Go);
    let (feed, rx) = live::feed(live::CAPACITY);
    let (_, mut events) = crate::support::window::run(&rb, &f, &decider, now, watched.then_some(feed)).await;
    let mut items = rx.try_batch();
    // Durations are real (the simulation is instant, the machine is not): fix them.
    let items_events = items.iter_mut().filter_map(|i| if let Live::Event(e) = i { Some(e) } else { None });
    for e in events.iter_mut().chain(items_events) {
        if let Event::StepFinished { millis, .. } | Event::RollbackFinished { millis, .. } = e {
            *millis = 1234;
        }
    }
    (WindowInfo::from_runbook(&rb), events, items)
}

fn at(secs: i64) -> jiff::Timestamp {
    T0.parse::<jiff::Timestamp>().unwrap().checked_add(jiff::SignedDuration::from_secs(secs)).unwrap()
}

/// An App fed with `events` up to and including the first for which `until` holds (all of
/// them if none does), one second apart; the clock (and the monotonic one the key guards
/// use) 7 s after the last one.
fn app_until(info: &WindowInfo, events: &[Event], mode: Mode, until: impl Fn(&Event) -> bool) -> App {
    let mut app = App::new(mode, info.clone(), at(0));
    for (i, e) in events.iter().enumerate() {
        app.uptime = Duration::from_secs(i as u64);
        app.on_event(at(i as i64), e.clone());
        app.now = at(i as i64 + 7);
        app.uptime = Duration::from_secs(i as u64 + 7);
        if until(e) {
            break;
        }
    }
    app
}

/// Time passes on the monotonic clock: what just opened has been seen.
fn later(app: &mut App, ms: u64) {
    app.uptime += Duration::from_millis(ms);
}

/// The open stop of the last HardStop fed, as the decider would hand it to the UI, and
/// read by the operators (its keys no longer held).
fn raise_last_stop(app: &mut App) -> OpenStop {
    let stop = app.state.open_stops.last().cloned().expect("an open stop");
    app.on_stop(stop.clone());
    later(app, 1000);
    stop
}

/// Who the record names for a person's decision.
fn by(name: &str) -> Actor {
    Actor::operator(name)
}

/// The loop's answer to `stop`.
fn decide(stop: &OpenStop, decision: Decision, who: &str) -> Effect {
    Effect::Decide { stop: stop.id, verdict: Verdict { decision, by: by(who) } }
}

/// A request journaled by `who`.
fn request(r: Request, who: &str) -> Effect {
    Effect::Request { request: r, by: vec![who.to_string()] }
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let theme = Theme::builtin("dark").unwrap();
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| view::draw(f, app, &theme)).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn snap(name: &str, app: &App) {
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(format!("{name}_80x24"), screen(app, 80, 24));
        insta::assert_snapshot!(format!("{name}_160x48"), screen(app, 160, 48));
    });
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        update(app, Action::Input(c));
    }
}

fn skips() -> Vec<Choice> {
    vec![Choice::Skip, Choice::Skip, Choice::Skip, Choice::Abort]
}

/// A host's own decision at its stop.
fn on(c: Choice, host: &str) -> Decision {
    Decision::new(c, Target::Host(host.into()))
}

fn is_stop_on(e: &Event, host: &str) -> bool {
    matches!(e, Event::HardStop { host: Some(h), .. } if h == host)
}

#[tokio::test]
async fn main_screen_while_a_step_runs() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let app =
        app_until(&info, &ev, Mode::Live, |e| matches!(e, Event::StepStarted { host, step: 1, .. } if host == "web1"));
    let text = screen(&app, 80, 24);
    assert!(text.contains("R ROLLBACK web1"), "the rollback key is always shown:\n{text}");
    assert!(text.contains("running 7s"), "{text}");
    snap("main_running", &app);
}

#[tokio::test]
async fn hard_stop_divergence_then_rollback_with_one_confirmation() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let mut app = app_until(&info, &ev, Mode::Live, |e| is_stop_on(e, "web3"));
    let stop = raise_last_stop(&mut app);
    assert!(matches!(stop.stop, StopKind::Divergence { .. }));
    assert_eq!(app.context(), Context::Stop);
    snap("stop_divergence", &app);

    // The modal takes all input: main-screen keys do nothing; q asks how to leave, over it.
    assert!(update(&mut app, Action::SelectNext).is_empty());
    assert_eq!(app.selected_host().as_deref(), Some("web3"));
    assert!(update(&mut app, Action::Quit).is_empty());
    assert_eq!(app.context(), Context::Leave);
    update(&mut app, Action::Deny);
    assert_eq!(app.context(), Context::Stop, "back at the stop");
    // Retry is not a choice for a divergence: its key says so and does nothing.
    assert!(update(&mut app, Action::Choose(Choice::Retry)).is_empty());
    assert_eq!(app.context(), Context::Stop);
    assert!(app.status.as_deref().unwrap().starts_with("e (retry) is not a choice at this stop"));

    // Rollback: one key, one confirmation, recorded as the operator who answered.
    assert!(update(&mut app, Action::Choose(Choice::RollbackHost)).is_empty());
    assert_eq!(app.context(), Context::Confirm);
    snap("stop_rollback_confirm", &app);
    assert_eq!(update(&mut app, Action::Confirm), vec![decide(&stop, on(Choice::RollbackHost, "web3"), "alice")]);
    assert_eq!(app.context(), Context::Main);
}

#[tokio::test]
async fn override_needs_a_reason_and_the_host_name_typed_out() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let mut app = app_until(&info, &ev, Mode::Live, |e| is_stop_on(e, "web3"));
    let stop = raise_last_stop(&mut app);
    update(&mut app, Action::Choose(Choice::Override));
    assert_eq!(app.context(), Context::Text);
    // An empty reason is refused.
    assert!(update(&mut app, Action::Submit).is_empty());
    typed(&mut app, "deb12u3 only rebuilds docs");
    update(&mut app, Action::Submit);
    typed(&mut app, "web");
    snap("stop_override_typing", &app);
    // The wrong name is refused, the right one decides.
    assert!(update(&mut app, Action::Submit).is_empty());
    assert!(app.status.as_deref().unwrap().contains("\"web3\""));
    typed(&mut app, "3");
    // Bob decides this one: Tab, since digits are text in a prompt.
    update(&mut app, Action::NextOperator);
    let d = Decision::with_reason(Choice::Override, Target::Host("web3".into()), "deb12u3 only rebuilds docs");
    assert_eq!(update(&mut app, Action::Submit), vec![decide(&stop, d, "bob")]);
}

#[tokio::test]
async fn step_failed_stop_shows_the_output_tail_and_offers_retry() {
    let fault = |f: &Fleet| {
        f.with_host("canary1", |h| {
            h.faults.push(Fault { on: "systemctl restart nginx".into(), effect: FaultEffect::Exit(1), sticky: false })
        });
    };
    let (info, ev) = events(|t| t, fault, vec![Choice::Abort], T0).await;
    let mut app = app_until(&info, &ev, Mode::Live, |e| is_stop_on(e, "canary1"));
    let stop = raise_last_stop(&mut app);
    assert!(matches!(stop.stop, StopKind::StepFailed { .. }), "{stop:?}");
    snap("stop_step_failed", &app);
}

/// Issue 14.4: a packages step cut off mid-run (dpkg killed): the stop's modal says why
/// repair is offered, at 80x24 too, and its key is in the footer.
#[tokio::test]
async fn a_stop_where_dpkg_is_half_done_says_why_repair_is_offered() {
    let fault = |f: &Fleet| {
        f.with_host("canary1", |h| {
            let on = "--no-remove --allow-downgrades".into();
            h.faults.push(Fault { on, effect: FaultEffect::Interrupt("libssl3".into()), sticky: false })
        });
    };
    let (info, ev) = events(|t| t, fault, vec![Choice::Abort], T0).await;
    let mut app = app_until(&info, &ev, Mode::Live, |e| is_stop_on(e, "canary1"));
    let stop = raise_last_stop(&mut app);
    assert!(matches!(&stop.stop, StopKind::StepFailed { repair: Some(_), .. }), "{stop:?}");
    for (w, h) in [(80, 24), (160, 48)] {
        let text = screen(&app, w, h);
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains("repair offered: the package database was interrupted"), "{w}x{h}:\n{text}");
        assert!(flat.contains("libssl3 (iF)"), "{w}x{h}:\n{text}");
    }
    assert!(footer(&app).contains("repair"), "{}", footer(&app));
}

#[tokio::test]
async fn auto_rollback_countdown_is_visible_and_cancellable() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let mut app =
        app_until(&info, &ev, Mode::Live, |e| matches!(e, Event::AutoRollbackArmed { host, .. } if host == "shop1"));
    app.now = at(ev.len() as i64); // any instant: the countdown starts now
    let start = app.now;
    app.on_countdown("shop1", 15);
    app.now = start.checked_add(jiff::SignedDuration::from_secs(4)).unwrap();
    later(&mut app, 4000);
    assert!(update(&mut app, Action::Tick).is_empty(), "not expired yet");
    snap("countdown", &app);
    // Cancelled by the operator who pressed it (bob, chosen with 2): never "alice+bob".
    update(&mut app, Action::Operator(1));
    assert_eq!(
        update(&mut app, Action::CancelAutoRollback),
        vec![Effect::AutoRollback { host: "shop1".into(), cancelled_by: Some(by("bob")) }]
    );
    // Left alone, it rolls back when it reaches zero.
    app.on_countdown("shop1", 15);
    app.now = app.now.checked_add(jiff::SignedDuration::from_secs(15)).unwrap();
    assert_eq!(update(&mut app, Action::Tick), vec![Effect::AutoRollback { host: "shop1".into(), cancelled_by: None }]);
}

#[tokio::test]
async fn point_of_no_return_prompt() {
    let edit = |t: String| t.replacen("rollback = \"systemctl restart nginx\"", "irreversible = true", 1);
    let (info, ev) = events(edit, |_| {}, vec![Choice::Abort], T0).await;
    let mut app = app_until(&info, &ev, Mode::Live, |e| is_stop_on(e, "canary1"));
    let stop = raise_last_stop(&mut app);
    assert!(matches!(stop.stop, StopKind::Irreversible { .. }), "{stop:?}");
    snap("stop_irreversible", &app);
}

#[tokio::test]
async fn deadline_prompt() {
    let late = "2026-11-22T23:14:00Z";
    let (info, ev) = events(|t| t, |_| {}, vec![Choice::Abort], late).await;
    let mut app = App::new(Mode::Live, info, late.parse().unwrap());
    app.uptime = Duration::from_secs(60);
    for e in &ev {
        app.on_event(late.parse().unwrap(), e.clone());
        if matches!(e, Event::HardStop { .. }) {
            break;
        }
    }
    let stop = raise_last_stop(&mut app);
    assert!(matches!(stop.stop, StopKind::Deadline { .. }), "{stop:?}");
    let text = screen(&app, 80, 24);
    assert!(text.contains("PAST decide by 23:10Z"), "{text}");
    snap("stop_deadline", &app);
    // A window-wide override is confirmed by typing "override".
    update(&mut app, Action::Choose(Choice::Override));
    typed(&mut app, "customer agreed");
    update(&mut app, Action::Submit);
    typed(&mut app, "override");
    assert!(matches!(update(&mut app, Action::Submit).as_slice(),
        [Effect::Decide { verdict: Verdict { decision: d, by: Actor::Operator { name } }, .. }]
            if d.choice == Choice::Override && d.target == Target::Window && name == "alice"));
}

#[tokio::test]
async fn help_journal_diff_filter_and_requests() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let mut app =
        app_until(&info, &ev, Mode::Live, |e| matches!(e, Event::StepStarted { host, step: 1, .. } if host == "web1"));
    update(&mut app, Action::Help);
    snap("help", &app);
    update(&mut app, Action::Back);
    update(&mut app, Action::Timeline);
    snap("journal", &app);
    update(&mut app, Action::Back);

    // Full-screen diff of web2 (moving the selection down from web1).
    update(&mut app, Action::SelectNext);
    assert_eq!(app.selected_host().as_deref(), Some("web2"));
    update(&mut app, Action::FullDiff);
    snap("full_diff", &app);
    update(&mut app, Action::Back);

    // `/` filters the hosts and the diff: by a package, the hosts whose diff has it, and
    // only its lines.
    update(&mut app, Action::Filter);
    assert_eq!(app.context(), Context::Text);
    typed(&mut app, "libxml2");
    let prompt = screen(&app, 80, 24);
    assert!(prompt.contains(" filter: libxml2_ "), "what is typed is shown:\n{prompt}");
    snap("filter_prompt", &app);
    update(&mut app, Action::Submit);
    assert_eq!(app.context(), Context::Main);
    assert_eq!(app.visible_hosts(), ["web2"]);
    assert_eq!(app.selected_host().as_deref(), Some("web2"));
    let subjects: Vec<&str> = app.diff_lines("web2").iter().map(|f| f.subject.as_str()).collect();
    assert_eq!(subjects, ["libxml2"]);
    let text = screen(&app, 80, 24);
    // At 80 columns the name column narrows and the starting version gives way (marked):
    // the candidate is shown whole.
    assert!(text.contains("+ libxml2  UNTESTED … -> 2.9.14+dfsg-1.3~deb12u2│"), "{text}");
    assert!(!text.contains("no host selected") && !text.contains("web1 ") && !text.contains("curl"), "{text}");
    snap("filtered", &app);
    update(&mut app, Action::FullDiff);
    let full = screen(&app, 80, 24);
    assert!(full.contains("libxml2 2.9.14+dfsg-1.3~deb12u2 was never tested"), "{full}");
    assert!(!full.contains("curl"), "the full diff is filtered too:\n{full}");
    update(&mut app, Action::Back);
    // Esc clears it.
    update(&mut app, Action::Back);
    assert!(app.filter.is_empty());
    assert_eq!(app.visible_hosts(), ["web1", "web2", "web3"]);

    // Nothing matches: it says so (not "no host selected").
    update(&mut app, Action::Filter);
    typed(&mut app, "zzz");
    update(&mut app, Action::Submit);
    assert!(app.visible_hosts().is_empty());
    let text = screen(&app, 80, 24);
    assert!(text.contains("no host or diff line matches") && !text.contains("no host selected"), "{text}");
    update(&mut app, Action::Back);

    // By a host's name: that host, and all of its diff.
    update(&mut app, Action::Filter);
    typed(&mut app, "web3");
    update(&mut app, Action::Submit);
    assert_eq!(app.visible_hosts(), ["web3"]);
    assert_eq!(app.selected_host().as_deref(), Some("web3"));
    let all = app.findings["web3"].1.len();
    assert!(all > 1);
    assert_eq!(app.diff_lines("web3").len(), all);
    update(&mut app, Action::Back);
    assert!(app.filter.is_empty());
    assert_eq!(app.selected_host().as_deref(), Some("web2"), "the operator's selection is back");

    // Abort asks once (and offers the rollback instead); no changes nothing.
    update(&mut app, Action::AbortWindow);
    assert_eq!(app.context(), Context::Confirm);
    let text = screen(&app, 80, 24);
    assert!(text.contains("Abort the window? Nothing new starts"), "{text}");
    snap("confirm_abort", &app);
    assert!(update(&mut app, Action::Deny).is_empty());
    assert_eq!(app.context(), Context::Main);

    // The rollback key asks once, then requests; about a host with nothing to undo it
    // says so instead.
    update(&mut app, Action::RollbackHost);
    assert!(app.popups.is_empty());
    assert_eq!(
        app.status.as_deref(),
        Some("web2 has no changes to undo (nothing ran on it, or it is rolled back already)")
    );
    update(&mut app, Action::SelectPrev);
    update(&mut app, Action::RollbackHost);
    assert_eq!(app.context(), Context::Confirm);
    assert_eq!(
        update(&mut app, Action::Confirm),
        vec![request(Request::RollbackHost { host: "web1".into() }, "alice")]
    );

    // `q` while the window runs asks which way to leave: PAUSED (never kills a command,
    // never aborts: `--resume` carries on), or ABORT, or back.
    update(&mut app, Action::Quit);
    assert_eq!(app.context(), Context::Leave);
    snap("leave", &app);
    let pause = Request::Pause { reason: "the operators left the cockpit".into() };
    assert_eq!(update(&mut app, Action::LeavePaused), vec![request(pause, "alice"), Effect::Quit]);
    assert!(app.quitting);
}

/// The footer row of the 80x24 screen.
fn footer(app: &App) -> String {
    screen(app, 80, 24).lines().last().unwrap().to_string()
}

fn key(c: char) -> crossterm::event::KeyEvent {
    crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(c))
}

/// `R`, as the loop would send it in the app's context.
fn press_r(app: &mut App) -> Vec<Effect> {
    let action = keymap::lookup(app.context(), key('R')).expect("R is bound here");
    update(app, action)
}

#[tokio::test]
async fn the_rollback_key_is_shown_and_works_in_every_view_prompt_and_question() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let running =
        app_until(&info, &ev, Mode::Live, |e| matches!(e, Event::StepStarted { host, step: 1, .. } if host == "web1"));
    let asks_web1 = Popup::Confirm(Pending::Request(Request::RollbackHost { host: "web1".into() }));

    // Help, the journal, the full diff: R closes the view and asks about the selected host.
    for open in [Action::Help, Action::Timeline, Action::FullDiff] {
        let mut app = running.clone();
        update(&mut app, open.clone());
        assert_eq!(app.context(), Context::View);
        let foot = footer(&app);
        assert!(foot.starts_with(" R ROLLBACK web1  "), "{open:?}: {foot}");
        assert!(press_r(&mut app).is_empty());
        assert_eq!(app.popups, std::slice::from_ref(&asks_web1), "{open:?}");
        assert_eq!(
            update(&mut app, Action::Confirm),
            vec![request(Request::RollbackHost { host: "web1".into() }, "alice")]
        );
    }

    // The filter prompt: R is a letter there; the footer says Esc closes and R works then.
    let mut app = running.clone();
    update(&mut app, Action::Filter);
    assert!(press_r(&mut app).is_empty());
    assert_eq!(app.filter, "R");
    assert_eq!(app.popups, [Popup::Filter]);
    let foot = footer(&app);
    assert_eq!(foot, " Enter keep filter  Esc clear and close  R ROLLBACK once closed", "{foot}");
    update(&mut app, Action::Back);
    press_r(&mut app);
    assert_eq!(app.popups, std::slice::from_ref(&asks_web1));

    // Asked about something else (abort, leaving): R asks about the rollback instead.
    for ask in [Action::AbortWindow, Action::Quit] {
        let mut app = running.clone();
        update(&mut app, ask.clone());
        assert!(matches!(app.context(), Context::Confirm | Context::Leave), "{ask:?}");
        let text = screen(&app, 80, 24);
        assert!(text.contains("R ROLLBACK web1 instead"), "{ask:?}:\n{text}");
        press_r(&mut app);
        assert_eq!(app.popups, std::slice::from_ref(&asks_web1), "{ask:?}");
        assert!(!screen(&app, 80, 24).contains("instead"), "already asking about it");
        assert!(press_r(&mut app).is_empty());
        assert_eq!(app.popups, std::slice::from_ref(&asks_web1));
    }

    // In watch: no rollback key anywhere, and R does nothing.
    let mut app = app_until(&info, &ev, Mode::ReadOnly, |e| is_stop_on(e, "web2"));
    for open in [Action::Help, Action::Timeline, Action::FullDiff] {
        update(&mut app, open.clone());
        assert_eq!(app.context(), Context::ReadOnlyView);
        assert_eq!(keymap::lookup(app.context(), key('R')), None);
        let text = screen(&app, 160, 48);
        assert!(!text.contains("ROLLBACK") && !text.contains("R rolls back"), "{open:?}:\n{text}");
        assert!(update(&mut app, Action::RollbackHost).is_empty());
        assert_eq!(app.context(), Context::ReadOnlyView, "the view stays, nothing is asked");
        update(&mut app, Action::Back);
    }
    update(&mut app, Action::Filter);
    assert_eq!(footer(&app), " Enter keep filter  Esc clear and close  READ-ONLY");

    // Once the window has ended there is nothing to roll back from the cockpit.
    let mut app = app_until(&info, &ev, Mode::Live, |_| false);
    app.on_engine_done();
    update(&mut app, Action::Help);
    assert!(!footer(&app).contains("ROLLBACK"), "{}", footer(&app));
}

#[tokio::test]
async fn at_a_hard_stop_r_from_a_view_or_another_question_chooses_its_rollback() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let mut app = app_until(&info, &ev, Mode::Live, |e| is_stop_on(e, "web3"));
    let stop = raise_last_stop(&mut app);
    let confirming = |d: Decision| Popup::Stop { stop: stop.clone(), stage: StopStage::Confirm(d) };
    let alice_rolls_back = decide(&stop, on(Choice::RollbackHost, "web3"), "alice");

    // The full diff over the stop: R closes it and asks about the stop's rollback.
    update(&mut app, Action::FullDiff);
    assert_eq!(app.context(), Context::View);
    assert!(footer(&app).starts_with(" R ROLLBACK web3  "), "{}", footer(&app));
    assert!(press_r(&mut app).is_empty());
    assert_eq!(app.popups, [confirming(on(Choice::RollbackHost, "web3"))]);
    update(&mut app, Action::Deny);

    // Confirming skip: R switches to the rollback.
    update(&mut app, Action::Choose(Choice::Skip));
    assert_eq!(app.popups, [confirming(on(Choice::Skip, "web3"))]);
    let text = screen(&app, 80, 24);
    assert!(text.contains("R ROLLBACK web3 instead"), "{text}");
    press_r(&mut app);
    assert_eq!(app.popups, [confirming(on(Choice::RollbackHost, "web3"))]);
    assert!(!screen(&app, 80, 24).contains("instead"), "already asking about it");
    update(&mut app, Action::Deny);

    // Typing an override's reason: R is a letter; the footer says how to get to the key.
    update(&mut app, Action::Choose(Choice::Override));
    press_r(&mut app);
    assert!(matches!(&app.popups[..], [Popup::Stop { stage: StopStage::Reason { text, .. }, .. }] if text == "R"));
    assert!(footer(&app).contains("Esc back  R ROLLBACK once closed"), "{}", footer(&app));
    update(&mut app, Action::Back);
    press_r(&mut app);
    assert_eq!(app.popups, [confirming(on(Choice::RollbackHost, "web3"))]);
    assert_eq!(update(&mut app, Action::Confirm), vec![alice_rolls_back]);
}

#[tokio::test]
async fn too_small_says_so() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let app = app_until(&info, &ev, Mode::Live, |_| false);
    let text = screen(&app, 79, 24);
    assert!(text.contains("too small") && text.contains("79x24"), "{text}");
    assert!(!text.contains("DRILL"), "not a drill: no marker\n{text}");
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("too_small_60x20", screen(&app, 60, 20));
    });
}

#[tokio::test]
async fn watch_is_read_only() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let mut app = app_until(&info, &ev, Mode::ReadOnly, |e| is_stop_on(e, "web2"));
    assert_eq!(app.context(), Context::ReadOnly, "no modal: watch cannot decide");
    snap("watch_stop", &app);
    let text = screen(&app, 80, 24);
    assert!(text.contains("READ-ONLY") && !text.contains("ROLLBACK web2"), "{text}");
    assert!(text.contains("HARD STOP web2"), "the stop is shown, as waiting for the operators:\n{text}");
    // R is refused, and says so.
    let key = |c| crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(c));
    let r = keymap::lookup(app.context(), key('R')).expect("R is matched, to be refused");
    assert!(update(&mut app, r).is_empty());
    assert_eq!(app.popups, [], "nothing is asked");
    assert!(screen(&app, 80, 24).contains("READ-ONLY: watching the journal; this screen cannot send commands"));
    // Said for a while; then the status line is the window's again (the stop's banner).
    later(&mut app, 5000);
    assert!(app.status_line().starts_with("HARD STOP web2, operators deciding"), "{}", app.status_line());
    assert_eq!(update(&mut app, Action::Quit), vec![Effect::Quit]);
}

// ---- drills: DRILL on every screen ----

/// A bundled drill of the demo window, run by the real drill (simulated fleet, scripted
/// decisions, `--speed 0`): the plan and every event it journaled.
async fn drill_events(name: &str) -> (WindowInfo, Vec<Event>) {
    use patchdeck::drill::{Backend, Drill, Handle, Script, scenario};
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), |t| t);
    let s = scenario::load(name).unwrap();
    let rb = s.apply(&rb);
    let baseline = patchdeck::baseline::load(&rb.baseline.file).unwrap();
    let f = fleet(|_| {});
    let transport = SimTransport::new(f.clone());
    let prober = SimProber(f.clone());
    let decider = Script::new(&s.name, s.decisions().unwrap(), None, vec!["alice".into()], 0.0, Box::new(|_| {}));
    let drill = Drill {
        runbook: &rb,
        baseline: &baseline,
        scenario: &s,
        transport: &transport,
        local: &transport,
        prober: &prober,
        backend: Backend::Sim(f),
        handle: Handle::new(rb.window.starts, false),
        speed: 0.0,
        decider: &decider,
        operators: vec!["alice".into(), "bob".into()],
        live: None,
    };
    let outcome = drill.run(Box::new(MemoryLog(Default::default())), None).await.unwrap();
    assert!(outcome.scorecard.passed, "{:#?}", outcome.scorecard);
    let mut events = outcome.events;
    for e in &mut events {
        if let Event::StepFinished { millis, .. } | Event::RollbackFinished { millis, .. } = e {
            *millis = 1234;
        }
    }
    (WindowInfo::from_runbook(&rb), events)
}

fn snap_drill(name: &str, app: &App) -> String {
    let text = screen(app, 80, 24);
    assert!(text.lines().next().unwrap().starts_with(" DRILL  openssl-security"), "DRILL first on {name}:\n{text}");
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(format!("drill_{name}_80x24"), text);
    });
    text
}

#[tokio::test]
async fn a_drill_is_marked_on_every_screen() {
    let (info, ev) = drill_events("step-failed").await;
    assert!(matches!(ev.first(), Some(Event::WindowStarted { drill: true, .. })));

    // The main screen, while the fault's step runs.
    let app = app_until(&info, &ev, Mode::Live, |e| matches!(e, Event::FaultInjected { .. }));
    assert!(app.drill, "the drill flag comes from the journal's WindowStarted");
    snap_drill("main", &app);

    // The hard stop's modal, then its confirmation.
    let mut app = app_until(&info, &ev, Mode::Live, |e| is_stop_on(e, "canary1"));
    raise_last_stop(&mut app);
    snap_drill("stop", &app);
    update(&mut app, Action::Choose(Choice::RollbackHost));
    snap_drill("stop_confirm", &app);
    update(&mut app, Action::Back);

    // Help, the journal (the injected fault is in it), the full diff.
    let mut app = app_until(&info, &ev, Mode::Live, |e| matches!(e, Event::HostFinished { .. }));
    update(&mut app, Action::Help);
    snap_drill("help", &app);
    update(&mut app, Action::Back);
    update(&mut app, Action::Timeline);
    let journal = snap_drill("journal", &app);
    assert!(journal.contains("canary1: DRILL fault injected: nginx restart exits 1"), "{journal}");
    update(&mut app, Action::Back);
    update(&mut app, Action::FullDiff);
    snap_drill("full_diff", &app);

    // The end: the scorecard's verdict in the status line.
    let app = app_until(&info, &ev, Mode::Live, |_| false);
    let end = snap_drill("end", &app);
    assert!(end.contains("DRILL over: scorecard PASSED"), "{end}");

    // `watch` of a drill journal: read-only, and still a drill.
    let app = app_until(&info, &ev, Mode::ReadOnly, |e| is_stop_on(e, "canary1"));
    let watched = snap_drill("watch", &app);
    assert!(watched.lines().next().unwrap().ends_with("READ-ONLY"), "nothing cut off:\n{watched}");
    assert!(watched.contains("HARD STOP canary1"), "{watched}");

    // A terminal too small for the cockpit: the marker first, then why nothing else is drawn.
    for mode in [Mode::Live, Mode::ReadOnly] {
        let app = app_until(&info, &ev, mode, |e| is_stop_on(e, "canary1"));
        let small = screen(&app, 60, 20);
        let mut rows = small.lines();
        assert_eq!(rows.next(), Some(" DRILL"), "{mode:?}:\n{small}");
        assert_eq!(rows.next(), Some("The terminal is too small for the cockpit."), "{mode:?}:\n{small}");
        // What waits for the operators is said, so nobody types blind at it.
        let name = if mode == Mode::Live { "drill_too_small_60x20" } else { "drill_watch_too_small_60x20" };
        insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(name, small);
        });
    }
}

#[tokio::test]
async fn a_drill_auto_rollback_countdown_is_marked() {
    let (info, ev) = drill_events("health-failed").await;
    let mut app =
        app_until(&info, &ev, Mode::Live, |e| matches!(e, Event::AutoRollbackArmed { host, .. } if host == "web1"));
    app.on_countdown("web1", 15);
    later(&mut app, 1000);
    snap_drill("countdown", &app);
    // Not a drill: no marker (the same screens as ever).
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let app = app_until(&info, &ev, Mode::Live, |_| false);
    assert!(!app.drill && !screen(&app, 80, 24).contains("DRILL"));
}

/// An App fed with the live feed's `items` up to and including the first for which `until`
/// holds, one second apart; the clock 7 s after the last one.
fn live_until(info: &WindowInfo, items: &[Live], until: impl Fn(&Live) -> bool) -> App {
    let mut app = App::new(Mode::Live, info.clone(), at(0));
    for (i, item) in items.iter().enumerate() {
        app.now = at(i as i64);
        app.on_live(item.clone());
        app.now = at(i as i64 + 7);
        if until(item) {
            break;
        }
    }
    app
}

/// The output pane's rows as text (between its borders), at 80x24.
fn pane(app: &App) -> Vec<String> {
    let text = screen(app, 80, 24);
    let rows: Vec<&str> = text.lines().collect();
    let top = rows.iter().position(|l| l.starts_with("┌ Output")).expect("an output pane");
    rows[top + 1..].iter().take_while(|l| l.starts_with('│')).map(|l| l.to_string()).collect()
}

fn is_line_of(item: &Live, host: &str, step: usize, text: &str) -> bool {
    matches!(item, Live::Line { run, line } if run.host == host && run.step == step && line.text.contains(text))
}

fn line(run: &RunId, text: &str) -> Live {
    Live::Line {
        run: std::sync::Arc::new(run.clone()),
        line: OutputLine { stream: Stream::Stdout, text: text.into(), cut: false },
    }
}

#[tokio::test]
async fn live_output_streams_into_the_pane_and_follows_its_tail() {
    // web1's restart prints what a hostile host might: escapes and an endless line.
    let restart = format!("nginx: \x1b[2Jreloaded\x07\n{}", "x".repeat(700));
    let setup = |f: &Fleet| {
        f.with_host("web1", |h| h.commands.insert("systemctl restart nginx".into(), restart.clone()));
    };
    let (info, _, items) = window(|t| t, setup, skips(), T0, true).await;
    // Mid-install on web1: apt's lines so far are there, newest at the bottom.
    let mut app = live_until(&info, &items, |i| is_line_of(i, "web1", 1, "Setting up libc-bin"));
    let pane_now = pane(&app);
    assert!(pane_now.last().unwrap().contains("Setting up libc-bin"), "follows the tail: {pane_now:#?}");
    let big = screen(&app, 160, 48);
    assert!(big.contains("step 2 apply tested updates: running 13s"), "{big}");
    snap("output_live", &app);

    // Scrolled up, the view stays put while lines keep coming; back down, it follows again.
    update(&mut app, Action::ScrollUp);
    let held = pane(&app);
    assert!(screen(&app, 80, 24).contains("scrolled up 3 lines"));
    let run = RunId { host: "web1".into(), step: 1, rollback: false };
    for i in 0..10 {
        app.on_live(line(&run, &format!("more {i}")));
    }
    assert_eq!(pane(&app), held, "new lines do not move what the operator is reading");
    update(&mut app, Action::ScrollDown);
    assert_eq!(pane(&app)[0], held[3], "PgDn moves the view down, still held");
    // End follows the newest output again.
    let end = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::End);
    let follow = keymap::lookup(app.context(), end).expect("End is bound");
    update(&mut app, follow);
    assert!(pane(&app).last().unwrap().contains("more 9"), "{:#?}", pane(&app));
    assert!(!screen(&app, 80, 24).contains("scrolled up"));

    // Lines the screen could not keep up with are counted where they went missing.
    app.on_live(Live::Dropped { run: std::sync::Arc::new(run.clone()), lines: 120 });
    app.on_live(line(&run, "after the gap"));
    let p = pane(&app);
    assert!(p[p.len() - 2].contains("… 120 lines dropped"), "{p:#?}");

    // The restart's hostile output arrives made safe, and the endless line cut.
    let app = live_until(
        &info,
        &items,
        |i| matches!(i, Live::Event(Event::StepFinished { host, step: 2, .. }) if host == "web1"),
    );
    let text = screen(&app, 160, 48);
    assert!(text.contains(r"nginx: \u{1b}[2Jreloaded\u{7}"), "{text}");
    assert!(!text.contains('\x1b') && !text.contains('\x07'));
    assert!(text.contains("  (line cut) xxxx"), "{text}");
    snap("output_hostile", &app);
}

#[tokio::test]
async fn a_flood_from_fifty_hosts_stays_bounded_and_keys_still_work() {
    let hosts: Vec<String> = (1..=50).map(|i| format!("web{i:02}")).collect();
    let info = WindowInfo {
        name: "flood".into(),
        steps: vec!["apply".into()],
        waves: vec![("all".into(), hosts.clone())],
        ..Default::default()
    };
    let mut app = App::new(Mode::Live, info, at(0));
    let mut feed_events = vec![
        Event::WindowStarted {
            window: "flood".into(),
            operators: vec![],
            hosts: hosts.clone(),
            drill: false,
            waves: vec![],
        },
        Event::WaveStarted { wave: "all".into() },
    ];
    feed_events.extend(hosts.iter().map(|h| Event::StepStarted {
        host: h.clone(),
        step: 0,
        name: "apply".into(),
        command: "apt-get install".into(),
    }));
    for e in feed_events {
        app.on_event(at(1), e);
    }
    app.now = at(5);

    // Far more lines than are kept, from every host, interleaved, in batches as the loop
    // would apply them.
    let per_host = transcript::MAX_LINES + 1_000;
    let (feed, rx) = live::feed(live::CAPACITY);
    let sinks: Vec<_> = hosts.iter().map(|h| feed.sink(h, 0, false)).collect();
    for i in 0..per_host {
        for (h, sink) in hosts.iter().zip(&sinks) {
            let text = format!("{h} Unpacking package-{i} ({i}.0) over ({}.9) ...", i.saturating_sub(1));
            patchdeck::transport::Sink::line(sink, OutputLine { stream: Stream::Stdout, text, cut: false });
        }
        if i % 100 == 99 {
            patchdeck::tui::run::apply(&mut app, rx.try_batch());
        }
    }
    patchdeck::tui::run::apply(&mut app, rx.try_batch());

    for h in &hosts {
        let t = &app.output[h];
        assert!(t.len() <= transcript::MAX_LINES && t.bytes() <= transcript::MAX_BYTES, "{h}: {} lines", t.len());
        assert!(t.evicted() > 0, "{h}: older lines were let go");
    }
    let held: usize = app.output.values().map(|t| t.bytes()).sum();
    assert!(held <= 50 * transcript::MAX_BYTES, "{held} bytes held");

    // The selected host shows its newest line; a key after the flood is handled.
    let first = app.selected_host().unwrap();
    let newest = format!("package-{} ", per_host - 1);
    assert!(pane(&app).last().unwrap().contains(&newest), "{:#?}", pane(&app));
    update(&mut app, Action::SelectPrev);
    let next = app.selected_host().unwrap();
    assert_ne!(next, first, "the key moved the selection");
    assert!(pane(&app).last().unwrap().contains(&format!("{next} Unpacking package-{}", per_host - 1)));
    update(&mut app, Action::ScrollUp);
    assert_eq!(app.scroll, 3);
    // Scrolled all the way up, the pane says what it no longer holds.
    for _ in 0..transcript::MAX_LINES {
        update(&mut app, Action::ScrollUp);
    }
    assert!(pane(&app)[0].contains("earlier lines not kept"), "{:#?}", pane(&app));
}

// ---- keys under pressure: a key acts on what was on screen when it was pressed ----

/// Presses `c` as the loop would: looked up in the app's context, then `update`.
fn press(app: &mut App, c: char) -> Vec<Effect> {
    match keymap::lookup(app.context(), key(c)) {
        Some(a) => update(app, a),
        None => Vec::new(),
    }
}

/// The events up to, not including, the first for which `at` holds; and that one.
fn split_at(ev: &[Event], at: impl Fn(&Event) -> bool) -> (Vec<Event>, Event) {
    let i = ev.iter().position(at).expect("the event is there");
    (ev[..i].to_vec(), ev[i].clone())
}

/// Feeds one more event a second after the last, as the loop would, then raises its stop
/// (if it is one) as the decider would ask it; the monotonic clock does not move.
fn arrives(app: &mut App, e: Event) {
    app.on_event(app.now, e.clone());
    if let Event::HardStop { .. } = e {
        let stop = app.state.open_stops.last().cloned().unwrap();
        app.on_stop(stop);
    }
}

#[tokio::test]
async fn a_key_pressed_as_a_stop_opens_is_swallowed_and_never_lands_on_its_host() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let (before, stop_event) = split_at(&ev, |e| is_stop_on(e, "api1"));
    let mut app = app_until(&info, &before, Mode::Live, |_| false);
    // The operator is looking at web1, in the wave before: R would roll web1 back.
    update(&mut app, Action::PrevWave);
    press(&mut app, 'k');
    press(&mut app, 'k');
    assert_eq!(app.selected_host().as_deref(), Some("web1"));
    assert!(footer(&app).starts_with(" R ROLLBACK web1 "), "{}", footer(&app));

    // api1's stop opens, and R (meant for web1) arrives at once: nothing happens.
    arrives(&mut app, stop_event);
    let opened = app.popups.clone();
    assert!(
        matches!(&opened[..], [Popup::Stop { stop, stage: StopStage::Choose }] if stop.host.as_deref() == Some("api1"))
    );
    assert!(press_r(&mut app).is_empty());
    assert_eq!(app.popups, opened, "R did not become \"roll back api1\"");
    assert_eq!(app.status.as_deref(), Some("key ignored: the stop just opened; read it, then press again"));
    snap("stop_held", &app);
    // Every key is held, for the whole grace period, on the monotonic clock.
    for c in ['a', 's', 'X', 'o', 'q', '?', 't', '2'] {
        later(&mut app, 50);
        assert!(press(&mut app, c).is_empty(), "{c}");
        assert_eq!(app.popups, opened, "{c}");
    }
    assert_eq!(app.by, 0, "2 did not choose bob either");
    app.uptime = app.hold_ends().unwrap() - Duration::from_millis(1);
    assert!(press_r(&mut app).is_empty() && app.popups == opened, "still held a millisecond before its end");
    // Once seen, R is this stop's rollback: of api1, the host it is about.
    later(&mut app, 1);
    assert!(app.holding().is_none());
    press_r(&mut app);
    assert!(
        matches!(&app.popups[..], [Popup::Stop { stage: StopStage::Confirm(d), .. }] if *d == on(Choice::RollbackHost, "api1"))
    );
    assert!(!screen(&app, 80, 24).contains("just opened"), "the note goes with the hold");
}

#[tokio::test]
async fn r_right_after_the_selection_moved_by_itself_does_nothing_and_says_so() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    // web1 runs its first step; the selection follows it.
    let (before, started) = split_at(&ev, |e| matches!(e, Event::StepStarted { host, step: 0, .. } if host == "web1"));
    let mut app = app_until(&info, &before, Mode::Live, |_| false);
    assert_eq!(app.selected_host().as_deref(), Some("canary1"));
    arrives(&mut app, started);
    assert_eq!(app.selected_host().as_deref(), Some("web1"), "followed the activity");
    // R meant for canary1, pressed as the screen moved to web1: nothing is asked.
    assert!(press_r(&mut app).is_empty());
    assert!(app.popups.is_empty());
    assert_eq!(app.status.as_deref(), Some("key ignored: the selection just moved to web1; look, then press again"));
    later(&mut app, 700);
    press_r(&mut app);
    assert_eq!(app.popups, [Popup::Confirm(Pending::Request(Request::RollbackHost { host: "web1".into() }))]);
    // A move the operator made is theirs: R right after it acts on it.
    update(&mut app, Action::Back);
    let mut app2 = app_until(&info, &before, Mode::Live, |_| false);
    update(&mut app2, Action::PrevWave);
    assert_eq!(app2.visible_hosts(), ["canary1"]);
    press_r(&mut app2);
    assert_eq!(app2.popups, [Popup::Confirm(Pending::Request(Request::RollbackHost { host: "canary1".into() }))]);
}

#[tokio::test]
async fn a_question_waits_behind_a_stop_and_comes_back_with_its_keys_held() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let (before, stop_event) = split_at(&ev, |e| is_stop_on(e, "web3"));
    let mut app = app_until(&info, &before, Mode::Live, |_| false);
    // Asked to leave, the operators think about it; web3's stop opens meanwhile.
    press(&mut app, 'q');
    assert_eq!(app.context(), Context::Leave);
    arrives(&mut app, stop_event);
    let stop = app.open_stop().cloned().unwrap();
    assert_eq!(app.context(), Context::Stop, "the stop comes first");
    assert_eq!(app.popups.len(), 2, "the question waits behind it, not dropped");
    later(&mut app, 1000);
    press_r(&mut app);
    // A y typed twice: the second must not answer the question that comes back.
    assert_eq!(press(&mut app, 'y'), vec![decide(&stop, on(Choice::RollbackHost, "web3"), "alice")]);
    assert_eq!(app.context(), Context::Leave, "the question is back");
    assert!(press(&mut app, 'p').is_empty(), "held: it came back by itself");
    assert_eq!(app.status.as_deref(), Some("key ignored: the question just opened; read it, then press again"));
    later(&mut app, 700);
    let pause = Request::Pause { reason: "the operators left the cockpit".into() };
    assert_eq!(press(&mut app, 'p'), vec![request(pause, "alice"), Effect::Quit]);

    // A request's confirmation waits behind a stop the same way.
    let mut app = app_until(&info, &before, Mode::Live, |_| false);
    later(&mut app, 1000);
    press(&mut app, 'k');
    press(&mut app, 'k');
    press_r(&mut app);
    assert_eq!(app.popups, [Popup::Confirm(Pending::Request(Request::RollbackHost { host: "web1".into() }))]);
    let asked = app.popups.clone();
    arrives(&mut app, ev.iter().find(|e| is_stop_on(e, "web3")).cloned().unwrap());
    assert_eq!(app.popups[..1], asked[..], "still there, under the stop");
}

#[tokio::test]
async fn while_the_terminal_is_too_small_no_key_decides_anything() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let mut app = app_until(&info, &ev, Mode::Live, |e| is_stop_on(e, "web2"));
    raise_last_stop(&mut app);
    let asked = app.popups.clone();
    app.size = (70, 20);
    for c in ['s', 'y', 'R', 'a', 'X', 'q', '1'] {
        assert!(press(&mut app, c).is_empty(), "{c}");
        assert_eq!(app.popups, asked, "{c} typed blind did nothing");
        assert_eq!(
            app.status.as_deref(),
            Some("keys do nothing while the terminal is too small: make it bigger first")
        );
    }
    let small = screen(&app, 70, 20);
    assert!(small.contains("A decision is waiting: HARD STOP web2"), "{small}");
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("too_small_stop_70x20", small);
    });
    // Bigger again: the keys work.
    app.size = (80, 24);
    press(&mut app, 's');
    assert!(
        matches!(&app.popups[..], [Popup::Stop { stage: StopStage::Confirm(d), .. }] if *d == on(Choice::Skip, "web2"))
    );
}

#[tokio::test]
async fn rolling_back_a_wave_or_everything_is_typed_with_the_number_of_hosts() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    // After web1 finished: canary1 and web1 have changes.
    let mut app =
        app_until(&info, &ev, Mode::Live, |e| matches!(e, Event::HostFinished { host, .. } if host == "web1"));
    assert_eq!(app.hosts_with_changes(None), ["canary1", "web1"]);
    press(&mut app, 'X');
    assert_eq!(app.context(), Context::Text);
    snap("rollback_all_typed", &app);
    // y is a letter here, Enter with the wrong number is refused.
    for c in "y3".chars() {
        update(&mut app, Action::Input(c));
    }
    assert!(update(&mut app, Action::Submit).is_empty());
    assert_eq!(app.status.as_deref(), Some("type 2 (or \"all 2\") to confirm, or Esc to go back"));
    for _ in 0..2 {
        update(&mut app, Action::Backspace);
    }
    // Bob confirms it (Tab), by typing "all 2".
    update(&mut app, Action::NextOperator);
    typed(&mut app, "all 2");
    assert_eq!(update(&mut app, Action::Submit), vec![request(Request::RollbackAll, "bob")]);
    assert!(app.popups.is_empty());

    // The wave shown (web): its own count; the number alone is enough.
    press(&mut app, 'W');
    assert!(screen(&app, 80, 24).contains("This rolls back 1 host(s) with changes (wave web's)"));
    typed(&mut app, "1");
    let web = Request::RollbackWave { wave: "web".into(), hosts: vec!["web1".into(), "web2".into(), "web3".into()] };
    assert_eq!(update(&mut app, Action::Submit), vec![request(web, "alice")]);
    // A wave with nothing to undo: nothing is asked.
    update(&mut app, Action::NextWave);
    press(&mut app, 'W');
    assert!(app.popups.is_empty());
    assert_eq!(app.status.as_deref(), Some("no host of wave core has changes to undo"));

    // At a hard stop, X is typed the same way and decides the stop.
    let mut app = app_until(&info, &ev, Mode::Live, |e| is_stop_on(e, "web2"));
    let stop = raise_last_stop(&mut app);
    press(&mut app, 'X');
    snap("stop_rollback_all_typed", &app);
    typed(&mut app, "2");
    let all = Decision::new(Choice::RollbackAll, Target::Window);
    assert_eq!(update(&mut app, Action::Submit), vec![decide(&stop, all, "alice")]);
}

#[tokio::test]
async fn r_is_one_host_only_and_at_a_window_wide_stop_it_says_which_key_does_what() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let mut app = app_until(&info, &ev, Mode::Live, |e| {
        matches!(e, Event::HardStop { host: None, stop: StopKind::TooManyFailures { .. }, .. })
    });
    let stop = raise_last_stop(&mut app);
    assert!(matches!(stop.stop, StopKind::TooManyFailures { .. }));
    assert!(!footer(&app).contains("ROLLBACK"), "{}", footer(&app));
    assert!(press_r(&mut app).is_empty());
    assert_eq!(app.popups.len(), 1);
    assert!(matches!(&app.popups[..], [Popup::Stop { stage: StopStage::Choose, .. }]));
    let expected = format!(
        "R rolls back one host; this stop is about the window: X rolls back all {} host(s) with changes, a aborts",
        app.hosts_with_changes(None).len()
    );
    assert_eq!(app.status.as_deref(), Some(expected.as_str()));
}

#[tokio::test]
async fn with_two_operators_each_answer_names_the_one_who_gave_it() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let mut app = app_until(&info, &ev, Mode::Live, |e| is_stop_on(e, "web3"));
    let stop = raise_last_stop(&mut app);
    assert!(screen(&app, 80, 24).contains("by 1 [alice]  2 bob  (Tab: next)"));
    // 2: bob answers; the choice stays through the stop's stages.
    press(&mut app, '2');
    assert!(screen(&app, 80, 24).contains("by 1 alice  2 [bob]  (Tab: next)"));
    press(&mut app, 's');
    assert_eq!(press(&mut app, 'y'), vec![decide(&stop, on(Choice::Skip, "web3"), "bob")]);
    // Past the last operator: nothing chosen, and the list is said.
    let mut app = app_until(&info, &ev, Mode::Live, |e| is_stop_on(e, "web3"));
    raise_last_stop(&mut app);
    press(&mut app, '9');
    assert_eq!(app.status.as_deref(), Some("no operator 9: 1 alice  2 bob"));
    // Tab goes round.
    let tab = keymap::lookup(app.context(), crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Tab)).unwrap();
    for who in ["bob", "alice", "bob"] {
        update(&mut app, tab.clone());
        assert_eq!(app.answerer(), who);
    }

    // A new question starts with the first operator again; requests name who confirmed.
    let mut app =
        app_until(&info, &ev, Mode::Live, |e| matches!(e, Event::StepStarted { host, step: 1, .. } if host == "web1"));
    press(&mut app, 'A');
    update(&mut app, Action::Operator(1));
    assert_eq!(press(&mut app, 'y'), vec![request(Request::Abort, "bob")]);
    press(&mut app, 'q');
    assert_eq!(app.answerer(), "alice", "a new question: the first operator by default");
    update(&mut app, Action::Operator(1));
    let pause = Request::Pause { reason: "the operators left the cockpit".into() };
    assert_eq!(press(&mut app, 'p'), vec![request(pause, "bob"), Effect::Quit]);

    // One operator: no choice shown, and that one is recorded.
    let mut app = app_until(&info, &ev, Mode::Live, |e| is_stop_on(e, "web3"));
    app.state.operators = vec!["carol".into()];
    let stop = raise_last_stop(&mut app);
    assert!(!screen(&app, 80, 24).contains("by 1"));
    press(&mut app, 's');
    assert_eq!(press(&mut app, 'y'), vec![decide(&stop, on(Choice::Skip, "web3"), "carol")]);
}

#[tokio::test]
async fn leaving_works_everywhere_and_a_stop_stays_open_when_left_paused() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let mut at_stop = app_until(&info, &ev, Mode::Live, |e| is_stop_on(e, "web3"));
    let stop = raise_last_stop(&mut at_stop);

    // ? and t open over the stop; Esc comes back to it.
    for (c, view) in [('?', Popup::Help), ('t', Popup::Timeline)] {
        let mut app = at_stop.clone();
        press(&mut app, c);
        assert_eq!(app.popups.last(), Some(&view), "{c}");
        update(&mut app, Action::Back);
        assert_eq!(app.context(), Context::Stop, "{c}");
    }

    // q: leave PAUSED keeps the stop open (for --resume), and journals who left.
    let mut app = at_stop.clone();
    press(&mut app, 'q');
    assert_eq!(app.context(), Context::Leave);
    let text = screen(&app, 80, 24);
    assert!(text.contains("Left paused, the HARD STOP web3 stays open"), "{text}");
    snap("leave_at_stop", &app);
    let pause = Request::Pause { reason: "the operators left the cockpit".into() };
    assert_eq!(press(&mut app, 'p'), vec![request(pause, "alice"), Effect::Quit]);
    assert!(matches!(&app.popups[..], [Popup::Stop { .. }]), "the stop is not answered");
    assert!(app.quitting);
    assert!(press(&mut app, 'q').is_empty(), "leaving already");
    assert!(app.status_line().starts_with("leaving: nothing new starts"));

    // R there is the stop's rollback, as its footer says.
    let mut app = at_stop.clone();
    press(&mut app, 'q');
    assert!(footer(&app).ends_with("R ROLLBACK web3"), "{}", footer(&app));
    press_r(&mut app);
    assert!(
        matches!(&app.popups[..], [Popup::Stop { stage: StopStage::Confirm(d), .. }] if *d == on(Choice::RollbackHost, "web3"))
    );

    // a: abort answers the stop itself (so nothing starts), then leaves.
    let mut app = at_stop.clone();
    press(&mut app, 'q');
    assert_eq!(press(&mut app, 'a'), vec![decide(&stop, Decision::abort(), "alice"), Effect::Quit]);
    // Ctrl-C, from a prompt where q is a letter.
    let mut app = at_stop.clone();
    press(&mut app, 'o');
    let ctrl_c =
        crossterm::event::KeyEvent::new(crossterm::event::KeyCode::Char('c'), crossterm::event::KeyModifiers::CONTROL);
    let quit = keymap::lookup(app.context(), ctrl_c).unwrap();
    update(&mut app, quit);
    assert_eq!(app.context(), Context::Leave);
    update(&mut app, Action::Deny);
    assert!(matches!(&app.popups[..], [Popup::Stop { stage: StopStage::Reason { .. }, .. }]), "back where it was");

    // At a countdown: leave paused (the engine turns the countdown into a stop on resume).
    let mut app = app_until(&info, &ev, Mode::Live, |e| matches!(e, Event::AutoRollbackArmed { .. }));
    app.on_countdown("shop1", 15);
    later(&mut app, 1000);
    press(&mut app, 'q');
    assert_eq!(app.context(), Context::Leave);
    let pause = Request::Pause { reason: "the operators left the cockpit".into() };
    assert_eq!(press(&mut app, 'p'), vec![request(pause, "alice"), Effect::Quit]);

    // Without a stop, abort is a request.
    let mut app =
        app_until(&info, &ev, Mode::Live, |e| matches!(e, Event::StepStarted { host, step: 1, .. } if host == "web1"));
    press(&mut app, 'q');
    assert_eq!(press(&mut app, 'a'), vec![request(Request::Abort, "alice"), Effect::Quit]);
}

#[tokio::test]
async fn after_the_window_ended_rollback_stays_possible_on_every_wave() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let mut app = app_until(&info, &ev, Mode::Live, |_| false);
    assert!(app.state.finished && app.can_request());
    let text = screen(&app, 80, 24);
    assert!(text.contains("window ABORTED; rollback stays possible: R host, W wave, X all; q leaves"), "{text}");
    assert!(!footer(&app).contains("abort"), "nothing to abort: {}", footer(&app));
    snap("ended", &app);
    // Every wave is reachable: canary1 is in the first, finished long ago.
    update(&mut app, Action::PrevWave);
    update(&mut app, Action::PrevWave);
    assert_eq!(app.visible_hosts(), ["canary1"]);
    assert_eq!(app.selected_host().as_deref(), Some("canary1"));
    let text = screen(&app, 80, 24);
    assert!(text.contains("Wave 1/3 \"canary\" done [ ]") && text.contains("canary1 done"), "{text}");
    snap("ended_first_wave", &app);
    press_r(&mut app);
    assert_eq!(press(&mut app, 'y'), vec![request(Request::RollbackHost { host: "canary1".into() }, "alice")]);
    // The last wave again, and no further.
    for _ in 0..5 {
        update(&mut app, Action::NextWave);
    }
    assert_eq!(app.visible_hosts(), ["api1", "shop1"]);
    // Leaving once it ended is at once: nothing is left that leaving would leave behind.
    assert_eq!(press(&mut app, 'q'), vec![Effect::Quit]);
}

#[tokio::test]
async fn go_no_go_shows_the_finished_wave_and_waits_for_a_go() {
    // The demo waits for a go before the web wave.
    let (info, ev) =
        events(|t| t, |_| {}, vec![Choice::Go, Choice::Skip, Choice::Skip, Choice::Skip, Choice::Abort], T0).await;
    let mut app =
        app_until(&info, &ev, Mode::Live, |e| matches!(e, Event::HardStop { stop: StopKind::Gate { .. }, .. }));
    let stop = raise_last_stop(&mut app);
    let text = screen(&app, 80, 24);
    assert!(text.contains("GO/NO-GO: wave web") && text.contains("wave canary, just finished:"), "{text}");
    assert!(text.contains("canary1") && text.contains("done"), "{text}");
    assert_eq!(app.visible_hosts(), ["canary1"], "the hosts pane shows the finished wave");
    assert_eq!(app.stop_choices(&stop), [Choice::Go, Choice::Abort, Choice::RollbackAll]);
    snap("gate", &app);
    press(&mut app, 'g');
    update(&mut app, Action::Operator(1));
    assert_eq!(press(&mut app, 'y'), vec![decide(&stop, Decision::new(Choice::Go, Target::Window), "bob")]);
}

#[tokio::test]
async fn before_the_start_a_countdown_with_a_typed_early_start() {
    let early = "2026-11-22T21:00:00Z";
    let (info, ev) = events(|t| t, |_| {}, vec![Choice::StartEarly, Choice::Abort], early).await;
    let mut app = App::new(Mode::Live, info, early.parse().unwrap());
    for e in &ev {
        app.on_event(early.parse().unwrap(), e.clone());
        if matches!(e, Event::HardStop { .. }) {
            break;
        }
    }
    app.now = "2026-11-22T21:00:07Z".parse().unwrap();
    let stop = raise_last_stop(&mut app);
    assert!(matches!(stop.stop, StopKind::BeforeStart { .. }), "{stop:?}");
    let text = screen(&app, 80, 24);
    assert!(text.contains("WAITING FOR THE WINDOW'S START") && text.contains("in 59m53s"), "{text}");
    snap("before_start", &app);
    assert!(press(&mut app, 'g').is_empty(), "no go here: the start time or an early start");
    press(&mut app, 'S');
    assert_eq!(app.context(), Context::Text);
    assert!(update(&mut app, Action::Submit).is_empty(), "a reason is needed");
    typed(&mut app, "customer asked");
    update(&mut app, Action::Submit);
    let d = Decision::with_reason(Choice::StartEarly, Target::Window, "customer asked");
    assert_eq!(press(&mut app, 'y'), vec![decide(&stop, d, "alice")]);
}

#[tokio::test]
async fn watch_shows_a_countdown_from_the_journal_and_its_hosts_by_standing() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let app = app_until(
        &info,
        &ev,
        Mode::ReadOnly,
        |e| matches!(e, Event::AutoRollbackArmed { host, .. } if host == "shop1"),
    );
    let text = screen(&app, 80, 24);
    // Armed at its event's time, 15 s; the clock is 7 s later.
    assert!(text.contains("AUTO-ROLLBACK shop1: rolls back in 8s unless the operators cancel"), "{text}");
    assert!(text.contains("shop1 AUTO-ROLLBACK"), "{text}");
    snap("watch_countdown", &app);
    // Once the journal has the rollback's decision, the banner goes.
    let app =
        app_until(&info, &ev, Mode::ReadOnly, |e| matches!(e, Event::HostFinished { host, .. } if host == "shop1"));
    let text = screen(&app, 160, 48);
    assert!(!text.contains("rolls back in") && text.contains("shop1 rolled back, verified"), "{text}");
}

#[tokio::test]
async fn every_list_pages_and_jumps_to_its_ends() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let mut app =
        app_until(&info, &ev, Mode::Live, |e| matches!(e, Event::StepStarted { host, step: 1, .. } if host == "web1"));
    let page = |k| keymap::lookup(Context::View, crossterm::event::KeyEvent::from(k)).unwrap();
    use crossterm::event::KeyCode::{End, Home, PageDown, PageUp};
    // Help: a page down, the end, the top.
    press(&mut app, '?');
    let max = app.view_max();
    assert!(max > app.view_page(), "help is longer than a page at 80x24");
    update(&mut app, page(PageDown));
    assert_eq!(app.view_scroll, app.view_page());
    update(&mut app, page(End));
    assert_eq!(app.view_scroll, max);
    let end = screen(&app, 80, 24);
    assert!(end.contains("No key uses Ctrl-b (tmux's prefix) or the mouse."), "the last line is on screen:\n{end}");
    update(&mut app, page(PageDown));
    assert_eq!(app.view_scroll, max, "not past the end");
    update(&mut app, page(PageUp));
    assert_eq!(app.view_scroll, max - app.view_page());
    update(&mut app, page(Home));
    assert_eq!(app.view_scroll, 0);
    // The journal opens at its end; Home goes to its first line.
    update(&mut app, Action::Back);
    press(&mut app, 't');
    assert_eq!(app.view_scroll, app.view_max());
    update(&mut app, page(Home));
    assert!(screen(&app, 80, 24).contains("window openssl-security-2026-11 started by alice+bob"));
    update(&mut app, Action::Back);
    // The hosts: Tab gives them the keys; End is the last, Home the first.
    let main = |k| keymap::lookup(Context::Main, crossterm::event::KeyEvent::from(k)).unwrap();
    update(&mut app, main(crossterm::event::KeyCode::Tab));
    assert_eq!(app.list, patchdeck::tui::app::List::Hosts);
    update(&mut app, main(End));
    assert_eq!(app.selected_host().as_deref(), Some("web3"));
    update(&mut app, main(Home));
    assert_eq!(app.selected_host().as_deref(), Some("web1"));
    update(&mut app, main(PageDown));
    assert_eq!(app.selected_host().as_deref(), Some("web3"), "a page is more than the three hosts");
    snap("hosts_list_keys", &app);
    update(&mut app, main(Home));
    // Back to the output (web1's): Home shows its oldest line.
    update(&mut app, main(crossterm::event::KeyCode::Tab));
    update(&mut app, main(Home));
    assert!(app.scroll > 0);
    update(&mut app, main(End));
    assert_eq!(app.scroll, 0, "following again");
}

/// A finding as the diff makes it: `here` and `tested` (none for an untested package) as
/// "FROM -> TO".
fn finding(
    class: patchdeck::diff::Class,
    name: &str,
    here: (&str, &str),
    tested: Option<&str>,
) -> patchdeck::diff::Finding {
    use patchdeck::runbook::OnDivergence;
    let divergence = !matches!(class, patchdeck::diff::Class::Tested);
    patchdeck::diff::Finding {
        class,
        subject: name.into(),
        tested: tested.map(|t| format!("{} -> {t}", here.0)),
        here: Some(format!("{} -> {}", here.0, here.1)),
        verdict: divergence.then_some(OnDivergence::Stop),
        detail: format!("{name} detail"),
    }
}

/// The diff pane at 80x24, and the full diff, with long names and long versions: every
/// target version (what the host would get, and what was tested) is on the screen whole, on
/// one row; where a name had to be shortened, the mark says so.
#[tokio::test]
async fn no_version_is_ever_cut_at_80_columns() {
    use patchdeck::diff::Class;
    let findings = vec![
        finding(Class::VersionMismatch, "libssl3", ("3.0.15-1~deb12u1", "3.0.17-1~deb12u3"), Some("3.0.17-1~deb12u2")),
        finding(
            Class::UntestedPackage,
            "python3-cryptography-vectors",
            ("3.4.8-2~deb12u1", "3.4.8-2~deb12u2+b1"),
            None,
        ),
        finding(
            Class::Tested,
            "libnginx-mod-http-geoip",
            ("1.22.1-9", "1:1.22.1-9+deb12u2~bpo12+1"),
            Some("1:1.22.1-9+deb12u2~bpo12+1"),
        ),
        finding(
            Class::Tested,
            "linux-image-6.1.0-28-amd64-unsigned",
            ("6.1.119-1", "6.1.123-1+deb12u1"),
            Some("6.1.123-1+deb12u1"),
        ),
        finding(Class::Tested, "curl", ("7.88.1-10+deb12u8", "7.88.1-10+deb12u12"), Some("7.88.1-10+deb12u12")),
    ];
    let (info, mut ev) = events(|t| t, |_| {}, skips(), T0).await;
    for e in &mut ev {
        if let Event::Preflight { findings: f, .. } | Event::Recheck { findings: f, .. } = e {
            *f = findings.clone();
        }
    }
    let app = app_until(&info, &ev, Mode::Live, |e| matches!(e, Event::StepStarted { step: 1, .. }));
    let host = app.selected_host().expect("a host is selected");
    let main = screen(&app, 80, 24);
    let mut full_app = app_until(&info, &ev, Mode::Live, |e| matches!(e, Event::StepStarted { step: 1, .. }));
    update(&mut full_app, Action::FullDiff);
    let full = screen(&full_app, 80, 24);
    let targets = [
        "3.0.17-1~deb12u3",
        "3.0.17-1~deb12u2",
        "3.4.8-2~deb12u2+b1",
        "1:1.22.1-9+deb12u2~bpo12+1",
        "6.1.123-1+deb12u1",
        "7.88.1-10+deb12u12",
    ];
    for (what, text) in [("diff pane", &main), ("full diff", &full)] {
        assert!(text.contains(&format!("{host}: pending vs tested")), "{what} shows {host}:\n{text}");
        for v in targets {
            // Whole, and followed by the end of its words (a space, a comma, the border):
            // "3.0.17-1~deb1" followed by the border would not count.
            let whole = text.lines().any(|l| {
                l.match_indices(v)
                    .any(|(i, _)| l[i + v.len()..].chars().next().is_none_or(|c| matches!(c, ' ' | ',' | '│')))
            });
            assert!(whole, "{what}: {v} is not shown whole:\n{text}");
        }
    }
    // Names give way instead, and say so.
    for shortened in ["python3-cryp…", "linux-image-6.1…"] {
        assert!(main.contains(shortened), "{shortened}:\n{main}");
    }
    assert!(main.lines().all(|l| l.chars().count() <= 80));
}

/// api1's stop (its /etc/network/interfaces drifted from staging's): the full diff, the
/// drift line selected, Enter, both files fetched through the simulated transport, the diff.
async fn drift_diff_of_api1(setup: impl Fn(&Fleet)) -> App {
    let (info, ev) = events(|t| t, &setup, skips(), T0).await;
    let mut app = app_until(&info, &ev, Mode::Live, |e| is_stop_on(e, "api1"));
    raise_last_stop(&mut app);
    app.baseline_host = Some("staging".into());
    update(&mut app, Action::FullDiff);
    assert_eq!(app.selected_host().as_deref(), Some("api1"));
    let lines = app.diff_lines("api1");
    // The runbook's `[[fingerprint]]` of the file found it (discovered drift works the same).
    let at = lines.iter().position(|f| f.subject == "file:/etc/network/interfaces").expect("the drift line");
    // Enter on another line opens nothing and says why.
    if let Some(other) = (0..lines.len()).find(|i| *i != at) {
        for _ in 0..other {
            update(&mut app, Action::SelectNext);
        }
        assert!(update(&mut app, Action::DriftDiff).is_empty());
        assert_eq!(app.popups.last(), Some(&Popup::FullDiff));
        assert!(app.status.as_deref().is_some_and(|s| s.contains("drift line")), "{:?}", app.status);
        update(&mut app, Action::ScrollTop);
    }
    for _ in 0..at {
        update(&mut app, Action::SelectNext);
    }
    assert_eq!(app.diff_cursor, at);
    let effects = update(&mut app, Action::DriftDiff);
    let path = "/etc/network/interfaces".to_string();
    assert_eq!(effects, [Effect::FetchDrift { host: "api1".into(), path: path.clone() }]);
    assert!(screen(&app, 80, 24).contains("fetching both files"), "{}", screen(&app, 80, 24));
    // What the loop does for the effect: both files, through the transport only.
    let dir = tempfile::tempdir().unwrap();
    let hosts = runbook(dir.path(), |t| t).hosts;
    let transport = SimTransport::new(fleet(setup));
    let fetch = |h: &'static str| patchdeck::drift::fetch::fetch(&transport, &hosts, h, "/etc/network/interfaces");
    let (staging, here) = (fetch("staging").await, fetch("api1").await);
    // An answer for another file (a view since closed) lands nowhere.
    let elsewhere = Action::DriftFetched {
        host: "api1".into(),
        path: "/etc/hosts".into(),
        staging: staging.clone(),
        here: here.clone(),
    };
    update(&mut app, elsewhere);
    assert!(
        matches!(app.popups.last(), Some(Popup::DriftDiff(v)) if v.body == patchdeck::tui::app::DriftBody::Fetching)
    );
    update(&mut app, Action::DriftFetched { host: "api1".into(), path, staging, here });
    app
}

#[tokio::test]
async fn a_drift_line_opens_the_two_files_diff_fetched_on_demand() {
    let mut app = drift_diff_of_api1(|_| {}).await;
    let text = screen(&app, 80, 24);
    assert!(text.contains("drift: /etc/network/interfaces  staging vs api1"), "{text}");
    assert!(text.contains("+    mtu 9000"), "api1's jumbo frames, as an added line:\n{text}");
    snap("drift_diff", &app);
    // Esc: back to the full diff, at the line it was opened from.
    update(&mut app, Action::Back);
    assert_eq!(app.popups.last(), Some(&Popup::FullDiff));
    // Help lists the key, among the views' keys.
    update(&mut app, Action::Help);
    update(&mut app, Action::ScrollBottom);
    let help = screen(&app, 80, 24);
    assert!(help.contains("Enter") && help.contains("full diff, a drifted file: its diff against staging's"), "{help}");
}

#[tokio::test]
async fn hostile_bytes_in_a_fetched_file_are_escaped_on_screen() {
    let hostile = "iface eth0 inet dhcp \u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}evil\n";
    let app = drift_diff_of_api1(|f| {
        f.with_host("api1", |h| {
            let text = h.files.get_mut("/etc/network/interfaces").unwrap();
            text.push_str(hostile);
        })
        .unwrap();
    })
    .await;
    let text = screen(&app, 80, 24);
    assert!(text.contains(r"\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}evil"), "escaped, visible:\n{text}");
    assert!(!text.chars().any(|c| c == '\u{1b}' || c == '\u{7}' || c == '\u{202e}'), "raw:\n{text:?}");
}

#[tokio::test]
async fn a_file_that_may_not_be_shown_is_named_in_a_sentence() {
    let app = drift_diff_of_api1(|f| {
        f.with_host("api1", |h| h.files.get_mut("/etc/network/interfaces").unwrap().push('\0')).unwrap();
    })
    .await;
    let text = screen(&app, 80, 24);
    assert!(text.contains("On api1 the file is not text: not shown."), "{text}");
    assert!(!text.contains("iface eth0"), "nothing of either file is shown:\n{text}");
}

/// A key acts on what was on screen: a re-check that replaces the selected host's findings
/// just before Enter (the cursor may now point at another finding) makes Enter do nothing,
/// saying why; once the operator had time to look, Enter opens the drifted file again.
#[tokio::test]
async fn enter_right_after_a_recheck_replaced_the_findings_does_nothing() {
    let (info, ev) = events(|t| t, |_| {}, skips(), T0).await;
    let mut app = app_until(&info, &ev, Mode::Live, |e| is_stop_on(e, "api1"));
    raise_last_stop(&mut app);
    app.baseline_host = Some("staging".into());
    update(&mut app, Action::FullDiff);
    let lines: Vec<patchdeck::diff::Finding> = app.diff_lines("api1").into_iter().cloned().collect();
    let at = lines.iter().position(|f| f.subject == "file:/etc/network/interfaces").expect("the drift line");
    for _ in 0..at {
        update(&mut app, Action::SelectNext);
    }
    // A re-check arrives with other findings (one fewer before the drift line).
    let mut moved = lines.clone();
    moved.insert(0, finding(patchdeck::diff::Class::UntestedPackage, "libxml2", ("1", "2"), None));
    app.on_event(app.now, Event::Recheck { host: "api1".into(), findings: moved });
    assert!(update(&mut app, Action::DriftDiff).is_empty(), "nothing fetched");
    assert_eq!(app.popups.last(), Some(&Popup::FullDiff));
    assert!(app.status.as_deref().is_some_and(|s| s.contains("checked again")), "{:?}", app.status);
    // Looked: the cursor is moved onto the drift line again, and Enter opens it.
    later(&mut app, 700);
    let at = app.diff_lines("api1").iter().position(|f| f.subject == "file:/etc/network/interfaces").unwrap();
    update(&mut app, Action::ScrollTop);
    for _ in 0..at {
        update(&mut app, Action::SelectNext);
    }
    let effects = update(&mut app, Action::DriftDiff);
    assert_eq!(
        effects,
        [Effect::FetchDrift { host: "api1".into(), path: "/etc/network/interfaces".into() }],
        "{:?}",
        app.status
    );
}
