//! The test-only manager of [`crate::pkg::testing`] as the simulator plays it.

use std::fmt::Write;

use super::{HostState, Ran, SimManager};
use crate::pkg::VersionScheme;
use crate::pkg::testing::RpmLike;

/// Plays `crate::pkg::testing::Fake` (named "fake").
#[derive(Debug, Clone, Copy, Default)]
pub struct FakeSim;

impl SimManager for FakeSim {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn scheme(&self) -> &dyn VersionScheme {
        &RpmLike
    }
    fn probe(&self, h: &HostState) -> String {
        let mut out = String::from("@@patchdeck:fake.block\n@@patchdeck:fake.installed\n");
        for (n, v) in &h.installed {
            let _ = writeln!(out, "{n} {v}");
        }
        out.push_str("@@patchdeck:fake.pending\n");
        let pending: Vec<(&String, &String, String)> =
            h.installed.iter().filter_map(|(n, v)| Some((n, v, h.candidate(n, &RpmLike)?.0))).collect();
        for (n, from, to) in &pending {
            let _ = writeln!(out, "{n} {from} {to}");
        }
        out.push_str("@@patchdeck:fake.installable\n");
        for (n, _, _) in &pending {
            for (v, _) in h.installable(n) {
                let _ = writeln!(out, "{n} {v}");
            }
        }
        out
    }
    fn run(&self, h: &mut HostState, script: &str, _keep: Option<&str>) -> Result<Ran, String> {
        let words: Vec<&str> = script.split_whitespace().collect();
        let (sync, args) = match words.as_slice() {
            ["fakepm", "--exact", "install", args @ ..] => (false, args),
            ["fakepm", "--exact", "sync", args @ ..] => (true, args),
            _ => return Err(format!("not a fakepm script: {script}")),
        };
        let mut log = String::new();
        for a in args {
            let (n, v) = a.split_once('@').ok_or_else(|| format!("not name@version: {a}"))?;
            if v.is_empty() && sync {
                h.installed.remove(n);
                let _ = writeln!(log, "fakepm: removed {n}");
            } else if h.installable(n).iter().any(|(o, _)| o == v) {
                h.installed.insert(n.to_string(), v.to_string());
                let _ = writeln!(log, "fakepm: {n} now {v}");
            } else {
                return Ok(Ran::failed(3, format!("fakepm: no {n} {v}\n")));
            }
        }
        Ok(Ran { status: 0, stdout: log, stderr: String::new() })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::engine::clock::ManualClock;
    use crate::engine::control::Choice;
    use crate::engine::decide::Scripted;
    use crate::engine::event::{Event, HostResult};
    use crate::engine::recorder::Recorder;
    use crate::engine::{Control, Engine, Parts, Plan, Reaches};
    use crate::inventory::Host;
    use crate::pkg::apt::Apt;
    use crate::pkg::testing::Fake;
    use crate::pkg::{Managers, PkgName, Version};
    use crate::probe::{HostFacts, Mode, probe_host_with};
    use crate::sim::SimTransport;
    use crate::sim::{Fault, FaultEffect, Fleet, RepoVersion, SimProber};
    use crate::transport::Transport;

    fn both() -> Managers {
        Managers::new(vec![Arc::new(Apt), Arc::new(Fake::default())])
    }

    /// Two hosts with the same packages and repositories; one runs apt, one the fake
    /// manager. `tool` 1.a is installed and 1.1 offered: newer for rpm, older for dpkg.
    fn twins() -> (Fleet, SimTransport) {
        let host = |name: &str, manager: &str, id: &str| {
            let mut h = HostState {
                name: name.into(),
                manager: manager.into(),
                reachable: true,
                healthy: true,
                ..Default::default()
            };
            h.os.id = id.into();
            for (n, v) in [("tool", "1.a"), ("other", "1.0")] {
                h.installed.insert(n.into(), v.into());
                h.mirror.insert(n.into(), v.into());
            }
            for (n, v) in [("tool", "1.1"), ("other", "1.1"), ("other", "1.a")] {
                h.repo.push(RepoVersion { name: n.into(), version: v.into(), origin: "o".into(), pulled_in_by: None });
            }
            h
        };
        let fleet = Fleet::from_hosts([host("deb1", "apt", "debian"), host("fake1", "fake", "fakeos")]).with_speed(0.0);
        let t = SimTransport::new(fleet.clone()).with_manager(Arc::new(FakeSim));
        (fleet, t)
    }

    async fn probe(t: &SimTransport, managers: &Managers, host: &str) -> HostFacts {
        let (facts, _) =
            probe_host_with(t, managers, &Host::named(host), &[], Duration::from_secs(5), Mode::Full, None)
                .await
                .unwrap();
        facts
    }

    fn names(f: &HostFacts) -> Vec<(String, String)> {
        f.pkg.pending.iter().map(|p| (p.name.to_string(), p.to.to_string())).collect()
    }

    fn text(v: &[Version]) -> Vec<&str> {
        v.iter().map(Version::as_str).collect()
    }

    #[tokio::test]
    async fn a_host_answering_as_another_manager_gets_its_order_and_its_commands() {
        let (fleet, t) = twins();
        let managers = both();
        let (deb, fake) = (probe(&t, &managers, "deb1").await, probe(&t, &managers, "fake1").await);
        assert_eq!((deb.manager.as_str(), fake.manager.as_str()), ("apt", "fake"));
        assert_eq!(fake.pkg.os.id, "fakeos", "the prelude's os-release, whatever the manager");

        // Same packages, same repositories: each host's versions in its manager's order.
        assert_eq!(names(&deb), [("other".to_string(), "1.a".to_string())]);
        assert_eq!(names(&fake), [("other".to_string(), "1.1".to_string()), ("tool".to_string(), "1.1".to_string())]);
        assert_eq!(text(&deb.pkg.installable[&PkgName::parse("other").unwrap()]), ["1.0", "1.1", "1.a"]);
        assert_eq!(text(&fake.pkg.installable[&PkgName::parse("other").unwrap()]), ["1.a", "1.0", "1.1"]);

        // Commands come from the manager that answered, and the host runs them.
        let target = [(PkgName::parse("tool").unwrap(), Version::parse("1.1").unwrap())];
        let cmd = managers.named(&fake.manager).unwrap().install_exact(&target, Duration::from_secs(5));
        assert_eq!(cmd.script, "fakepm --exact install tool@1.1\n");
        assert!(t.exec(&Host::named("fake1"), &cmd).await.unwrap().success());
        assert_eq!(fleet.with_host("fake1", |h| h.installed["tool"].clone()).unwrap(), "1.1");
        let cmd = managers.named(&deb.manager).unwrap().install_exact(&target, Duration::from_secs(5));
        assert!(cmd.script.contains("apt-get install") && cmd.script.contains("'tool=1.1'"), "{}", cmd.script);
        // For dpkg 1.1 is older than the installed 1.a: the downgrade apt allows here.
        assert!(t.exec(&Host::named("deb1"), &cmd).await.unwrap().success());
        assert_eq!(fleet.with_host("deb1", |h| h.installed["tool"].clone()).unwrap(), "1.1");
        // The other way round, neither host understands the other's script.
        let apt_script = managers.named("apt").unwrap().install_exact(&target, Duration::from_secs(5));
        let err = t.exec(&Host::named("fake1"), &apt_script).await.unwrap_err().to_string();
        assert!(err.contains("cannot run this command"), "{err}");

        // A registry without the fake manager does not look for it: the host has none.
        let err = probe_host_with(
            &t,
            &Managers::default(),
            &Host::named("fake1"),
            &[],
            Duration::from_secs(5),
            Mode::Full,
            None,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("no supported package manager found on this host (looked for apt"), "{err}");
    }

    /// The demo window on canary1 alone, canary1 answering as the fake manager.
    async fn fake_window(decisions: Vec<Choice>, fault: Option<&str>) -> (Vec<Event>, Fleet, Option<HostResult>) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in crate::demo::FILES {
            let text = match *name {
                "runbook.toml" => {
                    let (start, end) = (text.find("# Smallest customer").unwrap(), text.find("[[step]]").unwrap());
                    format!("{}[[wave]]\nname = \"canary\"\nhosts = [\"canary1\"]\n\n{}", &text[..start], &text[end..])
                }
                // The inventory without the hosts in no wave (staging stays: the baseline's).
                "hosts.toml" => text
                    .split("[[host]]")
                    .filter(|b| {
                        !b.contains("name = ")
                            || ["staging", "canary1"].iter().any(|n| b.contains(&format!("name = \"{n}\"")))
                    })
                    .collect::<Vec<_>>()
                    .join("[[host]]"),
                _ => text.to_string(),
            };
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let runbook = crate::runbook::load(&dir.path().join("runbook.toml")).unwrap();
        let baseline = crate::baseline::load(&runbook.baseline.file).unwrap();
        let src = crate::diag::SourceFile::read(&dir.path().join("fleet.toml")).unwrap();
        let fleet = Fleet::from_toml(&src).unwrap().with_speed(0.0);
        fleet.with_host("canary1", |h| {
            h.manager = "fake".into();
            if let Some(on) = fault {
                h.faults.push(Fault { on: on.into(), effect: FaultEffect::Exit(1), sticky: false });
            }
        });
        let t = SimTransport::new(fleet.clone()).with_manager(Arc::new(FakeSim));
        let prober = SimProber(fleet.clone());
        let clock = ManualClock::new("2026-11-22T22:05:00Z".parse().unwrap());
        let decider = Scripted::new(decisions);
        let (recorder, log) = Recorder::in_memory();
        let managers = both();
        let parts = Parts::new(
            Plan { runbook: &runbook, baseline: &baseline },
            Reaches { transport: &t, local: &t, prober: &prober, managers: &managers },
            Control { clock: &clock, decider: &decider, recorder: &recorder, operators: vec!["carol".into()] },
        );
        let summary = Engine::new(parts).run().await.unwrap();
        let events = log.lock().unwrap().clone();
        (events, fleet, summary.results["canary1"])
    }

    #[tokio::test]
    async fn a_window_changes_and_restores_a_host_with_its_own_managers_commands() {
        let (events, fleet, result) = fake_window(vec![], None).await;
        assert_eq!(result, Some(HostResult::Done), "{events:#?}");
        let started = events.iter().find_map(|e| match e {
            Event::StepStarted { step: 1, command, .. } => Some(command.clone()),
            _ => None,
        });
        assert!(started.as_deref().is_some_and(|c| c.starts_with("fake install ")), "{started:?}");
        let history = fleet.with_host("canary1", |h| h.history.clone()).unwrap();
        assert!(history.iter().any(|s| s.starts_with("fakepm --exact install ")), "{history:#?}");
        assert!(!history.iter().any(|s| s.contains("apt-get install")), "no apt script reached the fake host");
        assert_eq!(fleet.with_host("canary1", |h| h.installed["openssl"].clone()).unwrap(), "3.0.17-1~deb12u2");

        // A failed restart, rolled back: the fake manager's restore, verified on the host.
        let (events, fleet, result) =
            fake_window(vec![Choice::RollbackHost, Choice::Abort], Some("systemctl restart nginx")).await;
        assert_eq!(result, Some(HostResult::RolledBack), "{events:#?}");
        let history = fleet.with_host("canary1", |h| h.history.clone()).unwrap();
        assert!(history.iter().any(|s| s.starts_with("fakepm --exact sync ")), "{history:#?}");
        assert!(events.iter().any(|e| matches!(e, Event::RollbackFinished { step: 1, verified: Some(true), .. })));
        assert_eq!(fleet.with_host("canary1", |h| h.installed["openssl"].clone()).unwrap(), "3.0.15-1~deb12u1");
    }
}
