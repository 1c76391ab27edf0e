//! Drills: rehearse a window with faults injected, and score how fast they were noticed,
//! decided and recovered from. The same engine as a real window runs the drill; faults are
//! injected around it (a transport wrapper, the journal's write-ahead hook and the clock),
//! never inside it. Format and bundled scenarios: `docs/drill.md`.

pub mod fleet;
pub mod handle;
pub mod history;
pub mod inject;
pub mod live;
pub mod scenario;
pub mod scorecard;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use handle::Handle;
pub use inject::{Backend, DrillClock, Script};
pub use scenario::Scenario;
pub use scorecard::Scorecard;

use crate::baseline::Baseline;
use crate::engine::decide::Decider;
use crate::engine::event::Event;
use crate::engine::recorder::{Listener, Recorder, WriteAhead};
use crate::engine::state::WindowState;
use crate::engine::{Control, Engine, Parts, Plan, Reaches, Summary};
use crate::health::Prober;
use crate::pkg::Managers;
use crate::runbook::Runbook;
use crate::transport::Transport;
use inject::{DrillDecider, DrillTransport, Injector};

/// One drill, ready to run.
pub struct Drill<'a> {
    /// The runbook as the scenario rehearses it ([`Scenario::apply`]).
    pub runbook: &'a Runbook,
    pub baseline: &'a Baseline,
    pub scenario: &'a Scenario,
    pub transport: &'a dyn Transport,
    /// Runs `local` steps.
    pub local: &'a dyn Transport,
    pub prober: &'a dyn Prober,
    pub backend: Backend,
    /// The drill's clock (real time for live drills, else simulated) and the cockpit's way
    /// in: [`Handle::new`] with the runbook's start.
    pub handle: Handle,
    pub speed: f64,
    pub decider: &'a dyn Decider,
    pub operators: Vec<String>,
    /// The cockpit's feed: events and the live output of running commands.
    pub live: Option<crate::engine::live::LiveFeed>,
}

/// What a drill produced.
pub struct Outcome {
    pub scorecard: Scorecard,
    pub summary: Summary,
    /// Every journaled event, the scorecard last.
    pub events: Vec<Event>,
    /// The runs of the engine: more than one after a simulated crash.
    pub engine_runs: usize,
}

type Installed = BTreeMap<String, String>;

async fn installed(transport: &dyn Transport, host: &crate::inventory::Host) -> Option<Installed> {
    let (timeout, mode) = (Duration::from_secs(60), crate::probe::Mode::Installed);
    let (facts, _) =
        crate::probe::probe_host_with(transport, Managers::standard(), host, &[], timeout, mode, None).await.ok()?;
    Some(facts.pkg.installed.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect())
}

/// The drill's write-ahead: the journal's, and every event shown to the injector (its
/// triggers, and the drill clock's record of when each event happened).
struct Observed {
    inner: Arc<dyn WriteAhead>,
    injector: Arc<Injector>,
}

#[async_trait]
impl WriteAhead for Observed {
    async fn write(&self, e: &Event) -> eyre::Result<()> {
        self.inner.write(e).await?;
        self.injector.observe(e);
        Ok(())
    }
}

/// A listener that is a plain function (the `[DRILL]` printer), told every journaled event.
#[derive(Clone)]
pub struct Tell(pub Arc<dyn Fn(&Event) + Send + Sync>);

impl Listener for Tell {
    fn event(&self, e: &Event) -> bool {
        (self.0)(e);
        true
    }
}

impl Drill<'_> {
    /// Runs the drill to its end. `write` journals each event durably (the journal, or
    /// memory); `listener` receives every event as it is journaled (the progress printer).
    pub async fn run(self, write: Box<dyn WriteAhead>, listener: Option<Tell>) -> eyre::Result<Outcome> {
        let hosts = crate::check::window_hosts(self.runbook);
        let start = self.runbook.window.starts;
        let live = self.handle.is_live();
        let clock = self.handle.clock().clone();
        let injector = Arc::new(Injector::new(
            self.scenario.faults.clone(),
            clock.clone(),
            self.backend.clone(),
            self.runbook.window.decide_by(),
            if live { 1.0 } else { self.speed },
        ));

        // Recorders hold the injector and it holds the current recorder: break the cycle
        // however the drill ends, or the printer listening to them never finishes.
        // The handle holds the current recorder too. Live faults are undone however the
        // drill ends (normally that happened already, and this finds nothing to do).
        struct Detach(Arc<Injector>, Handle);
        impl Drop for Detach {
            fn drop(&mut self) {
                self.0.detach();
                self.1.detach();
                for r in self.0.restore_hooked() {
                    match r {
                        Ok(done) => tracing::warn!("drill ended early; undid its fault: {done}"),
                        Err(e) => tracing::error!("drill ended early; could not undo its fault: {e}"),
                    }
                }
            }
        }
        let _detach = Detach(injector.clone(), self.handle.clone());

        // The state before the window, straight from the hosts (no fault, no drill time).
        let mut before = BTreeMap::new();
        for h in &hosts {
            if let Some(i) = installed(self.transport, h).await {
                before.insert(h.name.clone(), i);
            }
        }

        let transport = DrillTransport { inner: self.transport, injector: &injector };
        let local = DrillTransport { inner: self.local, injector: &injector };
        let decider = DrillDecider { inner: self.decider, clock: &clock };
        let sink: Arc<dyn WriteAhead> = Arc::from(write);
        let mut engine_runs = 0;
        let (summary, recorder) = loop {
            engine_runs += 1;
            // A fresh engine resumes from the journal's state, as `run --resume` would.
            let state = WindowState::fold(injector.timed().iter().map(|(_, e)| e));
            let write = Observed { inner: sink.clone(), injector: injector.clone() };
            let recorder = Arc::new(Recorder::new(Box::new(write), state));
            if let Some(l) = &listener {
                recorder.subscribe(l.clone());
            }
            injector.attach(recorder.clone());
            self.handle.attach(recorder.clone(), self.operators.clone());
            let mut parts = Parts::new(
                Plan { runbook: self.runbook, baseline: self.baseline },
                Reaches { transport: &transport, local: &local, prober: self.prober, managers: Managers::standard() },
                Control {
                    clock: clock.as_ref(),
                    decider: &decider,
                    recorder: &recorder,
                    operators: self.operators.clone(),
                },
            );
            parts.drill = true;
            // A drill's time runs at its fleet's speed; so do the waits between rollback retries.
            if !live {
                parts.retry_backoff = parts.retry_backoff.mul_f64(self.speed);
            }
            if let Some(feed) = &self.live {
                recorder.subscribe(feed.clone());
                parts.live = Some(feed.clone());
            }
            let engine = Engine::new(parts);
            let ran = tokio::select! {
                r = engine.run() => Some(r),
                () = injector.crashed() => None,
            };
            drop(engine);
            if let Some(summary) = ran {
                break (summary?, recorder);
            }
            if engine_runs > 10 {
                eyre::bail!("the drill crashed more than 10 times: check the scenario's crash faults");
            }
        };
        // The window is over: nothing more can be requested of it.
        self.handle.detach();

        // Hosts the fault command changed are put back before the last probe, which then
        // reads their packages (an sshd killed by the drill would hide them).
        let undone = injector.restore_hooked();

        let mut after = BTreeMap::new();
        for h in &hosts {
            after.insert(h.name.clone(), installed(self.transport, h).await);
        }
        let mut problems: Vec<String> = injector
            .unfired()
            .into_iter()
            .map(|i| {
                let f = &self.scenario.faults[i];
                match (&f.at_step, &f.at) {
                    (Some(step), _) => format!(
                        "`{}` never fired: step \"{step}\" never started on {}",
                        f.label(),
                        f.trigger_host().unwrap_or("?")
                    ),
                    (None, Some(at)) => format!("`{}` never fired: the window ended before {at}", f.label()),
                    (None, None) => format!("`{}` has no trigger", f.label()),
                }
            })
            .collect();
        problems.extend(injector.failures().into_iter().map(|f| format!("could not inject {f}")));
        let timed = injector.timed();
        let scorecard = scorecard::compute(scorecard::Inputs {
            scenario: self.scenario,
            window: &self.runbook.window.name,
            target: if live { "live" } else { "simulated" },
            speed: self.speed,
            start,
            timed: &timed,
            before: &before,
            after: &after,
            problems,
            undone,
        });
        recorder.record(Event::DrillScorecard { scorecard: Box::new(scorecard.clone()) }).await?;
        let events = injector.timed().into_iter().map(|(_, e)| e).collect();
        Ok(Outcome { scorecard, summary, events, engine_runs })
    }
}
