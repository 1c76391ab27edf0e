//! Drills: every bundled scenario runs headless on the demo window (library and binary),
//! proving the hard stop it is about, the decision, the rollback's verification and the
//! scorecard.

use std::path::Path;

use patchdeck::diag::SourceFile;
use patchdeck::drill::{Backend, Drill, Scenario, Script, scenario};
use patchdeck::engine::event::Event;
use patchdeck::engine::recorder::WriteAhead;
use patchdeck::pkg::apt::Apt as _Apt;
use patchdeck::sim::{Fleet, SimProber};
use patchdeck::transport::simulated::SimTransport;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo");

pub struct Ran {
    pub outcome: patchdeck::drill::Outcome,
    pub fleet: Fleet,
}

pub async fn drill(s: &Scenario) -> Ran {
    let rb = patchdeck::runbook::load(&Path::new(DEMO).join("runbook.toml")).unwrap();
    let baseline = patchdeck::baseline::load(&rb.baseline.file).unwrap();
    s.check(&rb).unwrap();
    let rb = s.apply(&rb);
    let fleet =
        Fleet::from_toml(&SourceFile::read(&Path::new(DEMO).join("fleet.toml")).unwrap()).unwrap().with_speed(0.0);
    let transport = SimTransport::new(fleet.clone());
    let prober = SimProber(fleet.clone());
    let decider = Script::new(s.decisions().unwrap(), None, 0.0, Box::new(|_| {}));
    let d = Drill {
        runbook: &rb,
        baseline: &baseline,
        scenario: s,
        transport: &transport,
        local: &transport,
        prober: &prober,
        backend: Backend::Sim(fleet.clone()),
        live: false,
        speed: 0.0,
        decider: &decider,
        operators: vec!["alice".into()],
    };
    let write: WriteAhead = Box::new(|_e: &Event| Ok(()));
    let outcome = d.run(write, None).await.unwrap();
    Ran { outcome, fleet }
}

#[tokio::test]
async fn every_bundled_scenario_passes() {
    let _ = _Apt;
    for s in scenario::all_bundled() {
        let r = drill(&s).await;
        for l in r.outcome.scorecard.render() {
            println!("{l}");
        }
        assert!(r.outcome.scorecard.passed, "{}", s.name);
    }
}
