//! One way for tests to run a window on the simulated fleet: the real engine, a scripted
//! decider, a clock moved by hand, the journal kept in memory.

use std::sync::{Arc, Mutex};

use patchdeck::engine::clock::ManualClock;
use patchdeck::engine::decide::Scripted;
use patchdeck::engine::event::Event;
use patchdeck::engine::live::LiveFeed;
use patchdeck::engine::recorder::Recorder;
use patchdeck::engine::{Control, Engine, Parts, Plan, Reaches, Summary};
use patchdeck::pkg::Managers;
use patchdeck::runbook::Runbook;
use patchdeck::sim::SimTransport;
use patchdeck::sim::{Fleet, SimProber};

/// Runs `rb` to its end on `fleet` at `now`, operated by alice and bob, `decider` answering
/// every stop; with `live`, the cockpit's feed watches. The summary and every journaled
/// event, in order.
pub async fn run(
    rb: &Runbook,
    fleet: &Fleet,
    decider: &Scripted,
    now: &str,
    live: Option<LiveFeed>,
) -> (Summary, Vec<Event>) {
    // Rollback retries wait a little (the production wait is seconds): tests that retry
    // stay quick; `run_backing_off` tests the wait itself.
    run_backing_off(rb, fleet, decider, now, live, std::time::Duration::from_millis(20)).await
}

/// [`run`], with any decider and `backoff` as the first wait before a rollback is retried.
pub async fn run_backing_off(
    rb: &Runbook,
    fleet: &Fleet,
    decider: &dyn patchdeck::engine::Decider,
    now: &str,
    live: Option<LiveFeed>,
    backoff: std::time::Duration,
) -> (Summary, Vec<Event>) {
    let baseline = patchdeck::baseline::load(&rb.baseline.file).unwrap();
    let transport = SimTransport::new(fleet.clone());
    let prober = SimProber(fleet.clone());
    let clock = ManualClock::new(now.parse().unwrap());
    let (recorder, log): (Recorder, Arc<Mutex<Vec<Event>>>) = Recorder::in_memory();
    let mut parts = Parts::new(
        Plan { runbook: rb, baseline: &baseline },
        Reaches { transport: &transport, local: &transport, prober: &prober, managers: Managers::standard() },
        Control { clock: &clock, decider, recorder: &recorder, operators: vec!["alice".into(), "bob".into()] },
    );
    parts.retry_backoff = backoff;
    if let Some(feed) = live {
        recorder.subscribe(feed.clone());
        parts.live = Some(feed);
    }
    let summary = Engine::new(parts).run().await.unwrap();
    let events = log.lock().unwrap().clone();
    (summary, events)
}
