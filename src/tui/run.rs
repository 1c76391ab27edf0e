//! The cockpit's event loop over a live window. One task: `tokio::select!` over the
//! engine's future (borrowed, polled here), its live feed (events and output lines), the
//! decider's questions, the keyboard, signals and a 1 s tick for the clock. It redraws only
//! when something changed, so an idle cockpit costs next to nothing, and paces redraws for
//! output (see [`super::pace`]), so streaming hosts cannot starve the keys.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
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
use crate::inventory::Host;
use crate::session::beside;
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

/// Why nobody can answer any more, and whether the terminal went with it.
struct Gone {
    why: String,
    /// The terminal cannot be written to (hung up, or a draw or a read failed).
    terminal: bool,
    /// What to say on stderr once the terminal is given back.
    say: Option<String>,
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

/// Where the cockpit fetches a drifted file and staging's (see [`crate::drift::fetch`]):
/// the window's transport, its hosts, and the baseline host's name.
#[derive(Clone, Copy)]
pub struct DriftSource<'a> {
    pub transport: &'a dyn crate::transport::Transport,
    pub hosts: &'a [Host],
    pub staging: &'a str,
}

impl DriftSource<'_> {
    /// Both files, fetched at once, as the action that shows them.
    async fn fetch(self, host: String, path: String) -> super::action::Action {
        use crate::drift::fetch::fetch;
        let (staging, here) = futures::join!(
            fetch(self.transport, self.hosts, self.staging, &path),
            fetch(self.transport, self.hosts, &host, &path)
        );
        super::action::Action::DriftFetched { host, path, staging, here }
    }
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
    drift: DriftSource<'_>,
) -> eyre::Result<T> {
    let clock = controls.clock();
    app.baseline_host = Some(drift.staging.to_string());
    // Drifted files being fetched for the operators (read only, never journaled).
    let mut fetches = FuturesUnordered::new();
    let mut screen = Screen::open(theme)?;
    let mut signals = Signals::new()?;
    // Dropped once nobody is at the terminal: its reader thread stops with it.
    let mut keys = Some(EventStream::new());
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
        // Nobody can answer any more (signal, or the terminal is gone).
        let mut gone: Option<Gone> = None;
        if !detached && pace.due(t) {
            match screen.draw(&app) {
                Ok(size) => {
                    if let Some(size) = size {
                        app.size = size;
                    }
                    pace.drawn(t);
                }
                Err(e) => {
                    tracing::warn!("cannot draw, detaching: {e}");
                    gone = Some(Gone { why: "the terminal went away".into(), terminal: true, say: None });
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
        let key = async {
            match keys.as_mut() {
                Some(k) => k.next().await,
                None => std::future::pending().await,
            }
        };
        if gone.is_none() {
            tokio::select! {
                r = &mut window, if summary.is_none() => {
                    if let Err(e) = &r {
                        tracing::error!("window engine stopped: {e:?}");
                    }
                    summary = Some(r);
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
                ev = key, if !detached => {
                    app.now = clock.now();
                    app.uptime = opened.elapsed();
                    match ev {
                        Some(Ok(TermEvent::Resize(w, h))) => app.size = (w, h),
                        Some(Ok(ev)) => {
                            if let Some(a) = key_action(&app, &ev) {
                                effects = update(&mut app, a);
                            }
                        }
                        // The terminal is gone (closed without SIGHUP): as on SIGHUP.
                        Some(Err(e)) => {
                            tracing::warn!("terminal input failed, detaching: {e}");
                            gone = Some(Gone { why: "the terminal went away".into(), terminal: true, say: None });
                        }
                        None => {
                            tracing::warn!("terminal input ended, detaching");
                            gone = Some(Gone { why: "the terminal went away".into(), terminal: true, say: None });
                        }
                    }
                }
                Some(fetched) = fetches.next(), if !fetches.is_empty() => {
                    app.now = clock.now();
                    app.uptime = opened.elapsed();
                    effects = update(&mut app, fetched);
                }
                _ = tick.tick() => {
                    app.now = clock.now();
                    app.uptime = opened.elapsed();
                    effects = update(&mut app, super::action::Action::Tick);
                }
                name = signals.recv() => {
                    tracing::warn!("{name}: giving the terminal back, leaving the window paused");
                    // A hangup took the terminal with it.
                    let say = Some(format!("patchdeck: {name}: {}", strings::SIGNAL_RECEIVED));
                    gone = Some(Gone { why: format!("{name} received"), terminal: name == "SIGHUP", say });
                }
            }
        }
        if let Some(g) = gone.take().filter(|_| !detached) {
            // Give the terminal back, leave the window paused (running steps finish; nothing
            // new starts; nothing is killed; an open stop stays open for `--resume`).
            detached = true;
            keys = None;
            if g.terminal {
                screen.abandon();
            } else {
                screen.detach();
            }
            if let Some(line) = &g.say {
                say(line);
            }
            if app.mode == super::app::Mode::Live && !app.state.paused && !app.state.finished {
                let pause = Request::Pause { reason: g.why };
                let by = app.state.operators.clone();
                if let Err(e) = beside(&mut window, &mut summary, controls.request(pause, by)).await {
                    tracing::error!("cannot leave the window paused: {e:?}");
                }
            }
            controls.close();
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
                    if let Err(e) = beside(&mut window, &mut summary, controls.request(request, by)).await {
                        app.status = Some(format!("{e:#}"));
                    }
                }
                Effect::FetchDrift { host, path } => fetches.push(Box::pin(drift.fetch(host, path))),
                Effect::Quit => {
                    leaving = true;
                    controls.close();
                }
            }
        }
        // The window returned (here or beside a request): what it recorded last may still
        // be queued.
        if summary.is_some() && !app.engine_done {
            apply(&mut app, live.try_batch());
            app.on_engine_done();
        }
    }
    screen.detach();
    summary.unwrap_or_else(|| Err(eyre::eyre!("the window did not finish")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window holds the journal's writer while it waits for its write to be synced, and
    /// only goes on when polled: a request awaited beside it still gets the writer.
    #[tokio::test]
    async fn a_request_waits_beside_the_window_not_instead_of_it() {
        let writer = tokio::sync::Mutex::new(());
        let (synced, wait_sync) = oneshot::channel::<()>();
        let window = async {
            let _held = writer.lock().await;
            let _ = wait_sync.await;
            Ok::<_, eyre::Report>("window over")
        };
        tokio::pin!(window);
        assert!(futures::poll!(window.as_mut()).is_pending(), "the window holds the writer");
        synced.send(()).unwrap();
        let mut summary = None;
        let request = async {
            let _w = writer.lock().await;
            "journaled"
        };
        let done = tokio::time::timeout(Duration::from_secs(10), beside(&mut window, &mut summary, request)).await;
        assert_eq!(done.expect("no deadlock: the window was polled meanwhile"), "journaled");
        assert_eq!(summary.map(|r| r.unwrap()), Some("window over"));
    }
}
