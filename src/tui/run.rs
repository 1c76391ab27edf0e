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

/// The screen: drawn while attached; after SIGHUP/SIGTERM it is given back and nothing is
/// drawn any more.
pub struct Screen {
    guard: Option<Guard>,
    pub theme: Theme,
}

impl Screen {
    pub fn open(theme: Theme) -> eyre::Result<Self> {
        Ok(Self { guard: Some(terminal::setup()?), theme })
    }

    pub fn draw(&mut self, app: &App) -> eyre::Result<()> {
        if let Some(g) = &mut self.guard {
            g.terminal.draw(|f| view::draw(f, app, &self.theme))?;
        }
        Ok(())
    }

    /// Gives the terminal back now (signals, and before printing anything).
    pub fn detach(&mut self) {
        self.guard = None;
        terminal::restore();
    }
}

/// The key's action in the app's context, through the keymap.
pub fn key_action(app: &App, ev: &TermEvent) -> Option<super::action::Action> {
    match ev {
        TermEvent::Key(k) => keymap::lookup(app.context(), *k),
        _ => None,
    }
}

/// Nobody can answer any more (signal, or the terminal is gone): give the terminal back,
/// leave the window paused (running steps finish; nothing new starts; nothing is killed;
/// an open stop stays open for `--resume`).
async fn detach(screen: &mut Screen, controls: &dyn Controls, app: &App, why: &str) {
    screen.detach();
    if app.mode == super::app::Mode::Live && !app.state.paused {
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

    tokio::pin!(window);
    let mut summary: Option<eyre::Result<T>> = None;
    let mut decision: Option<oneshot::Sender<Verdict>> = None;
    let mut countdowns: BTreeMap<String, oneshot::Sender<Option<Actor>>> = BTreeMap::new();
    let mut detached = false;
    // The operators asked to leave (quit confirmed, or `q` once the window is over).
    let mut leaving = false;
    let mut pace = Pace::new();

    loop {
        app.now = clock.now();
        let t = Instant::now();
        if !detached && pace.due(t) {
            screen.draw(&app)?;
            pace.drawn(t);
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
                urgent = apply(&mut app, batch);
                // A question the journal answered meanwhile (a decision, the start time)
                // is no longer asked.
                if app.open_stop().is_none() {
                    decision = None;
                }
            }
            () = sleep_until(frame_at), if frame.is_some() => urgent = false,
            Some(ask) = asks.recv() => {
                // Events journaled before the question (the HardStop) come first.
                apply(&mut app, live.try_batch());
                match ask {
                    Ask::Decide { stop, reply } => {
                        app.on_stop(stop);
                        decision = Some(reply);
                    }
                    Ask::Countdown { host, seconds, reply } => {
                        app.on_countdown(&host, seconds);
                        countdowns.insert(host, reply);
                    }
                }
            }
            Some(ev) = keys.next(), if !detached => {
                match ev {
                    Ok(ev) => {
                        if let Some(a) = key_action(&app, &ev) {
                            effects = update(&mut app, a);
                        }
                    }
                    Err(e) => {
                        // The terminal is gone (closed without SIGHUP): behave as on SIGHUP.
                        tracing::warn!("terminal input failed, detaching: {e}");
                        detach(&mut screen, controls, &app, "the terminal went away").await;
                        detached = true;
                    }
                }
            }
            _ = tick.tick() => {
                app.now = clock.now();
                effects = update(&mut app, super::action::Action::Tick);
            }
            name = signals.recv() => {
                tracing::warn!("{name}: giving the terminal back, leaving the window paused");
                detach(&mut screen, controls, &app, &format!("{name} received")).await;
                detached = true;
                eprintln!("patchdeck: {name}: {}", strings::SIGNAL_RECEIVED);
            }
        }
        if urgent {
            pace.now();
        } else {
            pace.soon();
        }
        for effect in effects {
            match effect {
                Effect::Decide(d) => {
                    if let Some(reply) = decision.take() {
                        let by = Actor::operator(app.state.operators.join("+"));
                        let _ = reply.send(Verdict { decision: d, by });
                    }
                }
                Effect::AutoRollback { host, roll_back } => {
                    if let Some(reply) = countdowns.remove(&host) {
                        let who = (!roll_back).then(|| Actor::operator(app.state.operators.join("+")));
                        let _ = reply.send(who);
                    }
                }
                Effect::Request(r) => {
                    if let Err(e) = controls.request(r, app.state.operators.clone()).await {
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
