//! The cockpit's event loop over a live window. One task: `tokio::select!` over the
//! engine's future (borrowed, polled here), its live feed (events and output lines), the
//! decider's questions, the keyboard, signals and a 1 s tick for the clock. It redraws only
//! when something changed, so an idle cockpit costs next to nothing, and paces redraws for
//! output (see [`super::pace`]), so streaming hosts cannot starve the keys.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep_until;

use super::app::{App, Effect, update};
use super::decider::Ask;
use super::keymap;
use super::pace::Pace;
use super::strings;
use super::terminal::{self, Guard};
use super::theme::Theme;
use super::view;
use crate::engine::Controls;
use crate::engine::control::Actor;
use crate::engine::decide::Verdict;
use crate::engine::event::Request;
use crate::engine::live::{Live, LiveReceiver};
use crate::session::signals::Signals;

/// The screen: drawn while attached; after SIGHUP/SIGTERM, or once the terminal is gone,
/// it is given back and nothing is drawn any more.
pub struct Screen {
    guard: Option<Guard>,
    pub theme: Theme,
}

impl Screen {
    pub fn open(theme: Theme) -> eyre::Result<Self> {
        Ok(Self { guard: Some(terminal::setup()?), theme })
    }

    /// Draws `app`; its size as drawn (`None`: detached, nothing drawn).
    pub fn draw(&mut self, app: &App) -> eyre::Result<Option<(u16, u16)>> {
        let Some(g) = &mut self.guard else { return Ok(None) };
        let frame = g.terminal.draw(|f| view::draw(f, app, &self.theme))?;
        Ok(Some((frame.area.width, frame.area.height)))
    }

    /// Gives the terminal back now (signals, and before printing anything).
    pub fn detach(&mut self) {
        self.guard = None;
        terminal::restore();
    }

    /// The terminal is gone: stops drawing without writing to it again (see
    /// [`Guard::abandon`]).
    pub fn abandon(&mut self) {
        if let Some(g) = self.guard.take() {
            g.abandon();
        }
    }
}

/// The key's action in the app's context, through the keymap.
pub fn key_action(app: &App, ev: &TermEvent) -> Option<super::action::Action> {
    match ev {
        TermEvent::Key(k) => keymap::lookup(app.context(), *k),
        _ => None,
    }
}

/// Says something on stderr, which may be a terminal that is gone: never panics.
pub fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Nobody can answer any more (signal, or the terminal is gone): give the terminal back
/// (`gone`: it cannot be written to), leave the window paused (running steps finish;
/// nothing new starts; nothing is killed; an open stop stays open for `--resume`).
async fn detach(screen: &mut Screen, controls: &dyn Controls, app: &App, why: &str, gone: bool) {
    if gone {
        screen.abandon();
    } else {
        screen.detach();
    }
    if app.mode == super::app::Mode::Live && !app.state.paused && !app.state.finished {
        let pause = Request::Pause { reason: why.to_string() };
        if let Err(e) = controls.request(pause, app.state.operators.clone()).await {
            tracing::error!("cannot leave the window paused: {e:?}");
        }
    }
    controls.close();
}

/// Applies what the feed brought. `true` when it held an event (shown at once; output
/// alone waits for the next frame).
pub fn apply(app: &mut App, batch: Vec<Live>) -> bool {
    let mut events = false;
    for item in batch {
        events |= matches!(item, Live::Event(_));
        app.on_live(item);
    }
    events
}

/// The loop over any window: `window` is the engine's run (or a drill around it),
/// `controls` reach it.
pub async fn drive<T>(
    window: impl Future<Output = eyre::Result<T>>,
    controls: &dyn Controls,
    live: LiveReceiver,
    mut asks: mpsc::UnboundedReceiver<Ask>,
    mut app: App,
    theme: Theme,
) -> eyre::Result<T> {
    let clock = controls.clock();
    let mut screen = Screen::open(theme)?;
    let mut signals = Signals::new()?;
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let opened = Instant::now();

    tokio::pin!(window);
    let mut summary: Option<eyre::Result<T>> = None;
    // The stop the engine asks about now, and where its answer goes.
    let mut decision: Option<(u64, oneshot::Sender<Verdict>)> = None;
    let mut countdowns: BTreeMap<String, oneshot::Sender<Option<Actor>>> = BTreeMap::new();
    let mut detached = false;
    // The operators asked to leave (quit confirmed, or `q` once the window is over).
    let mut leaving = false;
    let mut pace = Pace::new();

    loop {
        app.now = clock.now();
        app.uptime = opened.elapsed();
        let t = Instant::now();
        if !detached && pace.due(t) {
            match screen.draw(&app) {
                Ok(size) => {
                    if let Some(size) = size {
                        app.size = size;
                    }
                    pace.drawn(t);
                }
                Err(e) => {
                    // The terminal is gone (closed without SIGHUP): behave as on SIGHUP.
                    tracing::warn!("cannot draw, detaching: {e}");
                    detach(&mut screen, controls, &app, "the terminal went away", true).await;
                    detached = true;
                }
            }
        }
        if summary.is_some() && (leaving || detached) {
            break;
        }
        let mut effects = Vec::new();
        // Whatever wakes the loop is shown at once, except output alone (see `Pace`).
        let mut urgent = true;
        // When output waiting for its frame is due; the branch is off when none waits.
        let frame = if detached { None } else { pace.deadline() };
        let frame_at = tokio::time::Instant::from_std(frame.unwrap_or(t));
        // When keys held by a modal that just opened are let go: its note goes then.
        let held = app.hold_ends().filter(|_| !detached).map(|d| opened + d);
        let held_at = tokio::time::Instant::from_std(held.unwrap_or(t));
        tokio::select! {
            r = &mut window, if summary.is_none() => {
                if let Err(e) = &r {
                    tracing::error!("window engine stopped: {e:?}");
                }
                summary = Some(r);
                // Events recorded last may still be queued.
                apply(&mut app, live.try_batch());
                app.on_engine_done();
            }
            batch = live.next_batch() => {
                app.uptime = opened.elapsed();
                urgent = apply(&mut app, batch);
                // A question the journal answered meanwhile (a decision, the start time)
                // is no longer asked.
                if decision.as_ref().is_some_and(|(id, _)| !app.state.open_stops.iter().any(|s| s.id == *id)) {
                    decision = None;
                }
            }
            () = sleep_until(frame_at), if frame.is_some() => urgent = false,
            () = sleep_until(held_at), if held.is_some() => {}
            Some(ask) = asks.recv() => {
                app.now = clock.now();
                app.uptime = opened.elapsed();
                // Events journaled before the question (the HardStop) come first.
                apply(&mut app, live.try_batch());
                match ask {
                    Ask::Decide { stop, reply } => {
                        decision = Some((stop.id, reply));
                        app.on_stop(stop);
                    }
                    Ask::Countdown { host, seconds, reply } => {
                        app.on_countdown(&host, seconds);
                        countdowns.insert(host, reply);
                    }
                }
            }
            Some(ev) = keys.next(), if !detached => {
                app.now = clock.now();
                app.uptime = opened.elapsed();
                match ev {
                    Ok(TermEvent::Resize(w, h)) => app.size = (w, h),
                    Ok(ev) => {
                        if let Some(a) = key_action(&app, &ev) {
                            effects = update(&mut app, a);
                        }
                    }
                    Err(e) => {
                        // The terminal is gone (closed without SIGHUP): behave as on SIGHUP.
                        tracing::warn!("terminal input failed, detaching: {e}");
                        detach(&mut screen, controls, &app, "the terminal went away", true).await;
                        detached = true;
                    }
                }
            }
            _ = tick.tick() => {
                app.now = clock.now();
                app.uptime = opened.elapsed();
                effects = update(&mut app, super::action::Action::Tick);
            }
            name = signals.recv() => {
                tracing::warn!("{name}: giving the terminal back, leaving the window paused");
                // A hangup took the terminal with it.
                let gone = name == "SIGHUP";
                detach(&mut screen, controls, &app, &format!("{name} received"), gone).await;
                detached = true;
                say(&format!("patchdeck: {name}: {}", strings::SIGNAL_RECEIVED));
            }
        }
        if urgent {
            pace.now();
        } else {
            pace.soon();
        }
        for effect in effects {
            match effect {
                Effect::Decide { stop, verdict } => match decision.take() {
                    // Only the stop the operators saw is answered by it.
                    Some((id, reply)) if id == stop => {
                        let _ = reply.send(verdict);
                    }
                    other => {
                        decision = other;
                        app.status = Some(strings::STOP_GONE.into());
                    }
                },
                Effect::AutoRollback { host, cancelled_by } => {
                    if let Some(reply) = countdowns.remove(&host) {
                        let _ = reply.send(cancelled_by);
                    }
                }
                Effect::Request { request, by } => {
                    if let Err(e) = controls.request(request, by).await {
                        app.status = Some(format!("{e:#}"));
                    }
                }
                Effect::Quit => {
                    leaving = true;
                    controls.close();
                }
            }
        }
    }
    screen.detach();
    summary.unwrap_or_else(|| Err(eyre::eyre!("the window did not finish")))
}
