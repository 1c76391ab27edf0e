//! The change record, rendered from real event streams of windows run on the simulated
//! demo fleet (the engine tests' pattern), and from a real journal on disk.

use std::path::Path;

use jiff::Timestamp;
use patchdeck::diag::SourceFile;
use patchdeck::engine::Summary;
use patchdeck::engine::control::Choice;
use patchdeck::engine::decide::Scripted;
use patchdeck::engine::event::{Event, HostResult};
use patchdeck::journal::{Header, Journal, Record};
use patchdeck::sim::{Fault, FaultEffect, Fleet};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo");
const BEFORE_DEADLINE: &str = "2026-11-22T22:05:00Z";
const REASON: &str = "deb12u3 only rebuilds docs; tested deb12u2 is what we install";

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

fn only_hosts(hosts: &[&str]) -> impl Fn(String) -> String {
    let list = hosts.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ");
    move |text: String| {
        crate::support::demo::with_waves(
            &text,
            &format!("[[wave]]\nname = \"only\"\nhosts = [{list}]\nmax_failures = 10\n\n"),
        )
    }
}

async fn run(rb: &patchdeck::runbook::Runbook, fleet: Fleet, decider: Scripted) -> (Summary, Vec<Event>) {
    crate::support::window::run(rb, &fleet, &decider, BEFORE_DEADLINE, None).await
}

fn header(drill: bool) -> Header {
    Header::new(
        "openssl-security-2026-11",
        "assets/demo/runbook.toml",
        Header::sha256_hex(b"runbook"),
        vec!["alice".into(), "bob".into()],
        drill,
    )
}

fn t0() -> Timestamp {
    "2026-11-22T22:05:00Z".parse().unwrap()
}

/// Records with seq from 1, one second apart from 22:05:01.
fn records(events: &[Event]) -> Vec<Record<Event>> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| Record {
            seq: i as u64 + 1,
            at: t0().checked_add(jiff::SignedDuration::from_secs(i as i64 + 1)).unwrap(),
            event: e.clone(),
        })
        .collect()
}

/// The text from `## title` up to the next `## ` heading.
fn section<'a>(md: &'a str, title: &str) -> &'a str {
    let start = md.find(&format!("\n## {title}\n")).unwrap_or_else(|| panic!("no section {title}:\n{md}"));
    let rest = &md[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    &rest[..end]
}

/// The demo window with web2 skipped, web3's version mismatch overridden, api1 skipped,
/// and shop1's failing health check auto-rolled back.
async fn demo_window() -> (Summary, Vec<Event>) {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["canary1", "web1", "web2", "web3", "api1", "shop1"]));
    let mut decisions =
        Scripted::with_reasons([(Choice::Skip, None), (Choice::Override, Some(REASON.into())), (Choice::Skip, None)]);
    decisions.actor = patchdeck::engine::control::Actor::operator("alice");
    run(&rb, fleet(|_| {}), decisions).await
}

#[tokio::test]
async fn change_record_of_a_demo_window_states_what_happened() {
    let (summary, events) = demo_window().await;
    assert_eq!(summary.results["web3"], Some(HostResult::Done));
    assert_eq!(summary.results["shop1"], Some(HostResult::RolledBack));
    assert_eq!(summary.results["web2"], Some(HostResult::Skipped));
    let recs = records(&events);
    let md = patchdeck::report::markdown(&header(true), t0(), &recs);

    // Title, drill banner, summary.
    assert!(md.starts_with("# Change record: openssl-security-2026-11\n"), "{md}");
    assert!(md.contains("> **DRILL**"), "{md}");
    assert!(md.contains("| Runbook | `assets/demo/runbook.toml` (sha256 `"), "{md}");
    assert!(md.contains(&format!("(sha256 `{}`)", &Header::sha256_hex(b"runbook")[..12])), "{md}");
    assert!(md.contains("| Operators | alice, bob |"), "{md}");
    assert!(md.contains("| Started | 2026-11-22 22:05:01 UTC |"), "{md}");
    let end = format!("2026-11-22 {} UTC", recs.last().unwrap().at.strftime("%H:%M:%S"));
    assert!(md.contains(&format!("| Finished | {end} |")), "{md}");
    let secs = recs.len() - 1;
    assert!(md.contains(&format!("| Duration | {}m {:02}s |", secs / 60, secs % 60)), "{md}");
    // shop1's health check failed after its update: a failure, rolled back or not.
    assert!(md.contains("| Outcome | completed, **1 host(s) failed** on the way |"), "{md}");
    assert!(md.contains("| Hosts | 3 done, 1 rolled back, 2 skipped, 0 failed (of 6) |"), "{md}");
    assert!(md.contains("| web2 | skipped |") && md.contains("| shop1 | rolled back, verified |"), "{md}");
    assert!(md.contains("| web3 | done (override) |"), "{md}");

    // Timeline: stops and decisions are there, passing checks are not.
    let timeline = section(&md, "Timeline");
    assert!(timeline.contains("| web3 | **HARD STOP #2**: 2 difference(s) from what was tested |"), "{timeline}");
    assert!(timeline.contains("| shop1 | auto-rollback armed"), "{timeline}");
    assert!(timeline.contains("| web2 | host finished: **skipped** |"), "{timeline}");
    assert!(timeline.contains("window finished |"), "{timeline}");
    let checks = events.iter().filter(|e| matches!(e, Event::Checks { .. })).count();
    assert!(checks > 5);
    assert_eq!(
        timeline.matches("| health check(s) failing after").count(),
        1,
        "only shop1's failing round: {timeline}"
    );
    assert!(
        timeline
            .contains("| shop1 | health check(s) failing after \"apply tested updates\": site answers from outside |")
    );
    assert!(timeline.contains("| shop1 | rolled back \"apply tested updates\" in "), "{timeline}");
    assert!(timeline.contains(": ok; snapshot verified |"), "{timeline}");
    assert_eq!(timeline.matches("| shop1 | host finished: **rolled back** |").count(), 1, "{timeline}");
    assert!(!timeline.contains("Snapshot"), "{timeline}");

    // Decisions: web3's override with its reason and both operators; shop1's auto-rollback.
    let decisions = section(&md, "Divergences and decisions");
    let web3 = &decisions[decisions.find("### Stop #2 on web3").expect(decisions)..];
    let web3 = &web3[..web3[4..].find("### ").unwrap() + 4];
    assert!(web3.contains(
            "| VERSION MISMATCH | `openssl` | `3.0.15-1~deb12u1 -> 3.0.17-1~deb12u2` | `3.0.15-1~deb12u1 -> 3.0.17-1~deb12u3` | stop |"
        ), "{web3}");
    assert!(web3.contains("**Decision: override on web3** at "), "{web3}");
    assert!(web3.contains(" by alice\n"), "the one who decided, not both operators: {web3}");
    assert!(web3.contains("Reason:\n\n> deb12u3 only rebuilds docs; tested deb12u2 is what we install\n"));
    assert!(decisions.contains("### Stop #1 on web2"), "{decisions}");
    assert!(decisions.contains("**Decision: skip web2**"), "{decisions}");
    let shop1 = &decisions[decisions.find("on shop1: 1 health check(s) failing after").expect(decisions)..];
    assert!(shop1.contains("| site answers from outside | FAILING |"), "{shop1}");
    assert!(shop1.contains("**Decision: roll back shop1** at"), "{shop1}");
    assert!(shop1.contains("by auto-rollback (automatic, after a failed health check)"), "{shop1}");

    // Package changes: web3 keeps the tested versions, shop1's are restored and verified.
    let changes = section(&md, "Package changes per host");
    assert!(changes.contains("### web3 (done (override))"), "{changes}");
    assert!(
        changes.contains(
            "| `openssl` | `3.0.15-1~deb12u1` | `3.0.17-1~deb12u2` | apply tested updates | in place: `3.0.17-1~deb12u2` |"
        ),
        "{changes}"
    );
    assert!(changes.contains("### shop1 (rolled back, verified)"), "{changes}");
    assert!(
        changes.contains(
            "| `libssl3` | `3.0.15-1~deb12u1` | `3.0.17-1~deb12u2` | apply tested updates | rolled back, verified: restored to `3.0.15-1~deb12u1` |"
        ),
        "{changes}"
    );
    assert!(!changes.contains("### web2"), "a skipped host changed nothing: {changes}");

    // Rollbacks: the packages step verified, newest first.
    let rollbacks = section(&md, "Rollbacks");
    let pkg = rollbacks.find("| shop1 | apply tested updates | ok | verified |").expect(rollbacks);
    let drain = rollbacks.find("| shop1 | drain from load balancer | ok |").expect(rollbacks);
    assert!(pkg < drain, "{rollbacks}");

    // Health: preflight was clean on shop1; the failure after the packages step is listed.
    let health = section(&md, "Health checks");
    assert!(health.contains("| shop1 | apply tested updates | site answers from outside |"), "{health}");
    assert!(health.contains("| no |"), "{health}");

    // Durations: per step and per host.
    let durations = section(&md, "Durations");
    assert!(durations.contains("| canary1 | apply tested updates | ok |"), "{durations}");
    assert!(durations.contains("| Host | First event | Last event | Wall time | In steps | In rollbacks |"));

    // Post-incident skeleton: facts filled in, judgement left open.
    let review = section(&md, "Post-incident review (draft)");
    assert!(review.contains("- web3: VERSION MISMATCH `openssl`"), "{review}");
    assert!(review.contains("- web2: "), "{review}");
    assert!(review.contains("- shop1 at "), "{review}");
    assert!(review.contains("1 health check(s) failing after \"apply tested updates\" (roll back shop1)"), "{review}");
    assert!(review.contains("- shop1: \"apply tested updates\" undone, verified"), "{review}");
    assert!(review.contains(&format!("overridden by alice: \u{201c}{REASON}\u{201d}")), "{review}");
    for h in ["### Impact\n\n_To be filled in._", "### Root cause\n", "### Follow-ups\n"] {
        assert!(review.contains(h), "{review}");
    }
}

#[tokio::test]
async fn unverified_rollback_and_abort_are_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let rb = runbook(dir.path(), only_hosts(&["shop1", "canary1", "web1", "web2", "web3", "api1"]));
    let f = fleet(|f| {
        f.with_host("shop1", |h| {
            h.faults.push(Fault {
                on: "libssl3=3.0.15-1~deb12u1".into(),
                effect: FaultEffect::KeepVersion("libssl3".into()),
                sticky: false,
            })
        });
    });
    let decisions = Scripted::new([Choice::Skip, Choice::Skip, Choice::Skip, Choice::Abort]);
    let (summary, events) = run(&rb, f, decisions).await;
    assert!(summary.aborted);
    let md = patchdeck::report::markdown(&header(false), t0(), &records(&events));
    assert!(!md.contains("DRILL"), "{md}");
    assert!(md.contains("| Outcome | **ABORTED** |"), "{md}");
    let mismatch = "libssl3: expected 3.0.15-1\\~deb12u1, found 3.0.17-1\\~deb12u2";
    let changes = section(&md, "Package changes per host");
    assert!(changes.contains(&format!("| **NOT restored**: {mismatch} |")), "{changes}");
    let rollbacks = section(&md, "Rollbacks");
    assert!(rollbacks.contains("| shop1 | apply tested updates | ok | NOT VERIFIED |"), "{rollbacks}");
    assert!(rollbacks.contains(mismatch), "{rollbacks}");
    let decisions = section(&md, "Divergences and decisions");
    assert!(decisions.contains("rollback did not restore 1 package(s)"), "{decisions}");
    assert!(decisions.contains(&format!("- {mismatch}\n")), "{decisions}");
    assert!(decisions.contains("**Decision: abort the window**"), "{decisions}");
}

#[test]
fn an_unfinished_window_says_so_and_host_text_cannot_break_the_table() {
    use patchdeck::engine::event::{Change, Outcome, StopKind};
    let evil = "web|1\x1b[2J";
    let events = vec![
        Event::WindowStarted {
            window: "w".into(),
            operators: vec!["alice".into()],
            hosts: vec![evil.into()],
            drill: false,
            waves: vec![],
        },
        Event::StepStarted { host: evil.into(), step: 0, name: "patch".into(), command: "apt-get".into() },
        Event::StepFinished {
            host: evil.into(),
            step: 0,
            outcome: Outcome::Ok,
            changes: vec![Change { name: "pkg`x|y".into(), from: None, to: Some("1.0<b>".into()) }],
            millis: 1500,
        },
        Event::HardStop {
            id: 1,
            host: Some(evil.into()),
            stop: StopKind::StepFailed {
                step: "restart".into(),
                status: Some(3),
                output_tail: "```\nboom".into(),
                repair: None,
            },
            step: None,
            rollback: false,
        },
        Event::StepStarted { host: evil.into(), step: 1, name: "restart".into(), command: "systemctl".into() },
    ];
    let md = patchdeck::report::markdown(&header(false), t0(), &records(&events));
    assert!(md.contains("| Outcome | **still running or interrupted**: no end recorded (journal ends at seq 5) |"));
    assert!(md.contains("| Finished | (not recorded; last record 2026-11-22 22:05:05 UTC) |"), "{md}");
    assert!(md.contains("| Hosts | 0 done, 0 rolled back, 0 skipped, 0 failed, 1 unfinished (of 1) |"), "{md}");
    assert!(md.contains("| web\\|1\\\\u{1b}\\[2J | step \"restart\" started; **no outcome recorded** |"), "{md}");
    assert!(md.contains("| ``pkg`x\\|y`` | (none) | `1.0<b>` | patch | in place: `1.0<b>` |"), "{md}");
    assert!(md.contains("````text\n```\nboom\n````\n"), "{md}");
    assert!(md.contains("**Decision: none recorded**"), "{md}");
    assert!(!md.contains('\x1b'), "no raw escape reaches the report");
    // Every table row has as many cells as its header: no stray `|` split a cell.
    for table in md.split("\n\n").filter(|b| b.starts_with('|')) {
        let cells = |l: &str| l.replace("\\|", "").matches('|').count();
        let mut lines = table.lines();
        let n = cells(lines.next().unwrap());
        for l in lines {
            assert_eq!(cells(l), n, "row {l:?} in\n{table}");
        }
    }
}

#[tokio::test]
async fn from_journal_reads_a_real_journal_and_notes_a_torn_tail() {
    let (_, events) = demo_window().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.journal.jsonl");
    {
        let mut journal = Journal::<Event>::create(&path, &header(false)).unwrap();
        for e in &events {
            journal.append(e).unwrap();
        }
    }
    let md = patchdeck::report::from_journal(&path).unwrap();
    assert!(md.starts_with("# Change record: openssl-security-2026-11\n"), "{md}");
    assert!(md.contains("| Outcome | completed, **1 host(s) failed** on the way |"), "{md}");
    assert!(md.contains("| Hosts | 3 done, 1 rolled back, 2 skipped, 0 failed (of 6) |"), "{md}");
    assert!(md.contains("> deb12u3 only rebuilds docs; tested deb12u2 is what we install\n"), "{md}");
    assert!(md.contains("restored to `3.0.15-1~deb12u1`"), "{md}");
    assert!(!md.contains("torn line"), "{md}");

    // A crash mid-append leaves a line without its newline: reported, not a record.
    use std::io::Write;
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"seq\":999,\"at\":").unwrap();
    let md = patchdeck::report::from_journal(&path).unwrap();
    let last = events.len();
    assert!(md.contains(&format!("**Note:** the journal ends with a torn line (16 bytes after seq {last})")), "{md}");

    // Not a journal at all: an error, not a report.
    let bogus = dir.path().join("bogus");
    std::fs::write(&bogus, "hello\n").unwrap();
    assert!(patchdeck::report::from_journal(&bogus).is_err());
}

#[test]
fn checks_already_failing_in_preflight_are_not_blamed_on_the_window() {
    use patchdeck::diff::{Class, Finding};
    use patchdeck::health::CheckResult;
    let check = |ok: bool| CheckResult {
        check: "disk | space".into(),
        host: "db1".into(),
        ok,
        detail: "92% used".into(),
        millis: 3,
    };
    let drift = Finding {
        class: Class::ConfigDrift,
        subject: "file:/etc/my.cnf".into(),
        tested: Some("sha256 aaaa".into()),
        here: Some("sha256 bbbb".into()),
        verdict: Some(patchdeck::runbook::OnDivergence::Warn),
        detail: "differs from staging".into(),
    };
    let events = vec![
        Event::WindowStarted {
            window: "w".into(),
            operators: vec!["carol".into()],
            hosts: vec!["db1".into()],
            drill: false,
            waves: vec![],
        },
        Event::Preflight { host: "db1".into(), findings: vec![drift], checks: vec![check(false)] },
        Event::StepStarted { host: "db1".into(), step: 0, name: "patch".into(), command: "x".into() },
        Event::StepFinished {
            host: "db1".into(),
            step: 0,
            outcome: patchdeck::engine::event::Outcome::Ok,
            changes: vec![],
            millis: 65_000,
        },
        Event::Checks { host: "db1".into(), after_step: Some(0), results: vec![check(false)], after_rollback: false },
        Event::HostFinished { host: "db1".into(), result: HostResult::Done },
        Event::WindowFinished { aborted: false },
    ];
    let md = patchdeck::report::markdown(&header(false), t0(), &records(&events));
    let health = section(&md, "Health checks");
    assert!(health.contains("1 of 1 check(s) on 1 host(s) were **already failing before any change**"), "{health}");
    assert!(health.contains("| db1 | disk \\| space | 92% used |"), "{health}");
    assert!(health.contains("| db1 | patch | disk \\| space | 92% used | yes |"), "{health}");
    assert!(section(&md, "Timeline").contains("| db1 | preflight: 1 divergence(s); already failing: disk \\| space |"));
    assert!(section(&md, "Durations").contains("| db1 | patch | ok | 1m 05s |"), "{md}");
    let review = section(&md, "Post-incident review (draft)");
    assert!(review.contains("- db1: CONFIG DRIFT `file:/etc/my.cnf` (tested `sha256 aaaa`, here `sha256 bbbb`)"));
    assert!(review.contains("### What failed\n\nNothing failed.\n"), "{review}");
    assert!(section(&md, "Divergences and decisions").contains("No hard stop"), "{md}");
    assert!(section(&md, "Package changes per host").contains("No package was changed on any host."));
}

#[test]
fn the_report_lists_discovered_drift_per_host_by_area() {
    use patchdeck::diff::{Class, Finding};
    use patchdeck::runbook::OnDivergence;
    let finding = |class, subject: &str, verdict| Finding {
        class,
        subject: subject.into(),
        tested: Some("md5 aaaa".into()),
        here: Some("md5 bbbb".into()),
        verdict: Some(verdict),
        detail: "differs from staging".into(),
    };
    let events = vec![
        Event::WindowStarted {
            window: "w".into(),
            operators: vec!["carol".into()],
            hosts: vec!["db1".into(), "db2".into()],
            drill: false,
            waves: vec![],
        },
        Event::Preflight {
            host: "db1".into(),
            findings: vec![
                finding(Class::DriftKernel, "/etc/sysctl.d/60-x.conf", OnDivergence::Warn),
                finding(Class::DriftNetworking, "net:routes", OnDivergence::Stop),
                finding(Class::ConfigDrift, "file:/etc/my.cnf", OnDivergence::Warn),
            ],
            checks: vec![],
        },
        Event::Preflight { host: "db2".into(), findings: vec![], checks: vec![] },
        Event::WindowFinished { aborted: true },
    ];
    let md = patchdeck::report::markdown(&header(false), t0(), &records(&events));
    let drift = section(&md, "Configuration drift discovered");
    assert!(drift.contains("### db1"), "{drift}");
    let net = drift.find("| networking | `net:routes` | `md5 aaaa` | `md5 bbbb` | stop |").expect(drift);
    let kernel = drift.find("| kernel | `/etc/sysctl.d/60-x.conf` | `md5 aaaa` | `md5 bbbb` | warn |").expect(drift);
    assert!(net < kernel, "by area: {drift}");
    assert!(!drift.contains("my.cnf") && !drift.contains("db2"), "fingerprints and clean hosts are elsewhere: {drift}");
    // No drift, no section.
    let quiet = vec![events[0].clone(), events[3].clone()];
    assert!(!patchdeck::report::markdown(&header(false), t0(), &records(&quiet)).contains("Configuration drift"));
}
