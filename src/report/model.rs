//! What the report needs, gathered once from the records.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::diff::Finding;
use crate::engine::control::{Actor, Decision};
use crate::engine::event::{Decided, Event, HostResult, Request, StopKind};
use crate::engine::state::{Standing, WindowState};
use crate::journal::{Header, Record};

/// A hard stop with the decisions that answered it (normally one).
pub struct Stop<'a> {
    pub at: Timestamp,
    pub id: u64,
    pub host: Option<&'a str>,
    pub stop: &'a StopKind,
    pub decisions: Vec<Answer<'a>>,
}

pub struct Answer<'a> {
    pub at: Timestamp,
    pub decision: &'a Decision,
    pub operators: &'a [String],
    /// What kind of decider it was (absent in older journals).
    pub by: Option<&'a Actor>,
}

pub struct Model<'a> {
    pub header: &'a Header,
    pub created_at: Timestamp,
    pub records: &'a [Record<Event>],
    /// Hosts in the window's order (then any others seen in events).
    pub hosts: Vec<&'a str>,
    pub started: Option<Timestamp>,
    /// When the window finished and whether it was aborted.
    pub finished: Option<(Timestamp, bool)>,
    pub results: BTreeMap<String, HostResult>,
    /// The window's state, folded from the records as the engine and the cockpit fold it.
    pub state: WindowState,
    /// Step names by index, from the events that announce steps.
    pub step_names: BTreeMap<usize, String>,
    pub stops: Vec<Stop<'a>>,
    /// Record indices of announced steps/rollbacks with no outcome recorded after them.
    pub unfinished: Vec<usize>,
}

impl<'a> Model<'a> {
    /// Where a host stands, as everyone says it.
    pub fn standing(&self, host: &str) -> Standing {
        self.state.host(host).map_or(Standing::NotStarted, |h| h.standing())
    }

    pub fn build(header: &'a Header, created_at: Timestamp, records: &'a [Record<Event>]) -> Self {
        let mut m = Model {
            header,
            created_at,
            records,
            hosts: Vec::new(),
            started: None,
            finished: None,
            results: BTreeMap::new(),
            state: WindowState::fold(records.iter().map(|r| &r.event)),
            step_names: BTreeMap::new(),
            stops: Vec::new(),
            unfinished: Vec::new(),
        };
        // (host, step, is_rollback) -> index of the announcing record still without outcome.
        let mut open: BTreeMap<(&str, usize, bool), usize> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            if let Some(h) = host_of(&r.event) {
                m.add_host(h);
            }
            match &r.event {
                Event::WindowStarted { hosts, .. } => {
                    m.started.get_or_insert(r.at);
                    for h in hosts {
                        m.add_host(h);
                    }
                }
                Event::WindowFinished { aborted } => m.finished = Some((r.at, *aborted)),
                Event::HostFinished { host, result } => {
                    m.results.insert(host.clone(), *result);
                }
                Event::StepStarted { host, step, name, .. } => {
                    m.step_names.entry(*step).or_insert_with(|| name.clone());
                    open.insert((host, *step, false), i);
                }
                Event::StepFinished { host, step, .. } => {
                    open.remove(&(host.as_str(), *step, false));
                }
                Event::RollbackStarted { host, step, name, .. } => {
                    m.step_names.entry(*step).or_insert_with(|| name.clone());
                    open.insert((host, *step, true), i);
                }
                Event::RollbackFinished { host, step, .. } => {
                    open.remove(&(host.as_str(), *step, true));
                }
                Event::HardStop { id, host, stop, .. } => {
                    m.stops.push(Stop { at: r.at, id: *id, host: host.as_deref(), stop, decisions: Vec::new() })
                }
                Event::Decided(Decided { id, decision, operators, by, .. }) => {
                    let answer = Answer { at: r.at, decision, operators, by: by.as_ref() };
                    // The latest stop with this id (ids are unique within a window).
                    if let Some(s) = m.stops.iter_mut().rev().find(|s| s.id == *id) {
                        s.decisions.push(answer);
                    }
                }
                _ => {}
            }
        }
        if m.started.is_none() {
            m.started = records.first().map(|r| r.at);
        }
        m.unfinished = open.into_values().collect();
        m.unfinished.sort_unstable();
        m
    }

    fn add_host(&mut self, h: &'a str) {
        if !self.hosts.contains(&h) {
            self.hosts.push(h);
        }
    }

    pub fn step_name(&self, step: usize) -> String {
        self.step_names.get(&step).cloned().unwrap_or_else(|| format!("step {}", step + 1))
    }

    pub fn last_at(&self) -> Option<Timestamp> {
        self.records.last().map(|r| r.at)
    }

    /// Divergences (findings with a verdict) per host: from the re-check right before the
    /// host's first change, else from preflight (a host never reached), plus any in a
    /// divergence stop. Deduplicated by class and subject.
    pub fn divergences(&self) -> Vec<(&'a str, Vec<&'a Finding>)> {
        let mut out: Vec<(&'a str, Vec<&'a Finding>)> = Vec::new();
        for host in self.hosts.iter().copied() {
            let recheck: Vec<&'a Finding> = self
                .records
                .iter()
                .filter_map(|r| match &r.event {
                    Event::Recheck { host: h, findings } if h == host => Some(findings),
                    _ => None,
                })
                .flatten()
                .collect();
            let rechecked =
                self.records.iter().any(|r| matches!(&r.event, Event::Recheck { host: h, .. } if h == host));
            let preflight = self
                .records
                .iter()
                .filter_map(|r| match &r.event {
                    Event::Preflight { host: h, findings, .. } if h == host && !rechecked => Some(findings),
                    _ => None,
                })
                .flatten();
            let stopped = self
                .stops
                .iter()
                .filter(|s| s.host == Some(host))
                .filter_map(|s| match s.stop {
                    StopKind::Divergence { findings } => Some(findings),
                    _ => None,
                })
                .flatten();
            let mut list: Vec<&'a Finding> = Vec::new();
            for f in recheck.into_iter().chain(preflight).chain(stopped) {
                if f.verdict.is_some() && !list.iter().any(|g| g.class == f.class && g.subject == f.subject) {
                    list.push(f);
                }
            }
            if !list.is_empty() {
                out.push((host, list));
            }
        }
        out
    }
}

/// The host an event is about, if any.
pub fn host_of(e: &Event) -> Option<&str> {
    match e {
        Event::Preflight { host, .. }
        | Event::Recheck { host, .. }
        | Event::Snapshot { host, .. }
        | Event::StepStarted { host, .. }
        | Event::StepFinished { host, .. }
        | Event::Checks { host, .. }
        | Event::AutoRollbackArmed { host, .. }
        | Event::AutoRollbackCancelled { host, .. }
        | Event::RollbackStarted { host, .. }
        | Event::RollbackFinished { host, .. }
        | Event::RepairStarted { host, .. }
        | Event::RepairFinished { host, .. }
        | Event::RunRecord { host, .. }
        | Event::HostFinished { host, .. } => Some(host),
        Event::HardStop { host, .. } | Event::Decided(Decided { host, .. }) => host.as_deref(),
        Event::StepAccepted { host, .. } | Event::RollbackAccepted { host, .. } => Some(host),
        Event::Resumed { .. } => None,
        Event::WindowStarted { .. } | Event::WaveStarted { .. } | Event::WaveFinished { .. } => None,
        Event::WindowFinished { .. } => None,
        Event::FaultInjected { host, .. } => host.as_deref(),
        Event::DrillScorecard { .. } => None,
        Event::Requested { request, .. } => match request {
            Request::RollbackHost { host } => Some(host),
            Request::RollbackWave { .. } | Request::RollbackAll | Request::Abort | Request::Pause { .. } => None,
        },
    }
}
