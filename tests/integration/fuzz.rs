//! Property tests ("fuzzing" on stable Rust) for every parser of untrusted text: the runbook
//! loader, the three inventory parsers, the apt output parsers and the journal reader. Each
//! takes real inputs (the fixtures and the bundled demo), mutates them (bytes flipped,
//! hostile tokens inserted, lines cut, duplicated or removed) and checks that the parser
//! never panics and that every problem it reports names a place in the file.
//!
//! A normal test run tries a few cases per parser ([`cases`]); `benches/fuzz.sh` runs
//! millions (`PATCHDECK_FUZZ_CASES`) and prints the count. A crash found there becomes a
//! fixture under `tests/fixtures/fuzz/`, which [`every_saved_crash_stays_fixed`] replays.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use patchdeck::diag::{Diagnostics, SourceFile};
use patchdeck::inventory::{ansible_ini, ansible_yaml, toml_file};
use patchdeck::pkg::apt::parse;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Cases per parser: `PATCHDECK_FUZZ_CASES`, else a few for the normal test run.
fn cases() -> u32 {
    std::env::var("PATCHDECK_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Text that breaks parsers: quoting, nesting, YAML and TOML syntax, huge numbers, control,
/// bidi and invisible characters, shell syntax.
const TOKENS: &[&str] = &[
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "{{",
    "}}",
    "=",
    ":",
    ": ",
    "- ",
    "-",
    "#",
    "\n",
    "\r\n",
    "\t",
    " ",
    "\\",
    "\\u",
    "\\U0010ffff",
    "\0",
    "\x1b[2J",
    "\u{202e}",
    "\u{200b}",
    "\u{feff}",
    "é",
    "𝕏",
    "&a ",
    "*a",
    "<<: *a",
    "!!int ",
    "!vault |",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "? ",
    "|",
    ">",
    "~",
    "null",
    "true",
    "1e999",
    "-0",
    "99999999999999999999",
    "0x1F",
    "nan",
    "[host]",
    "[[host]]",
    "[[wave]]",
    "[[step]]",
    "name = ",
    "hosts = [",
    "[web:children]",
    "[web:vars]",
    "web[1:9999999]",
    "[a:z]",
    "ansible_port=",
    "ansible_host=-o",
    "{host.name}",
    "$(",
    "`",
    "${",
    "$((",
    "<<EOF\n",
    "ii \t",
    "@@patchdeck:",
    "Inst ",
    "Conf ",
    "(",
    ")",
    "{\"seq\":",
    "\"event\":",
    "}\n",
    ",",
    "9223372036854775808",
];

/// One change to a text.
#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, usize),
    Flip(usize, u8),
    Delete(usize, usize),
    Truncate(usize),
    DuplicateLine(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, t)| Mutation::Insert(at, t)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Flip(at, b)),
        2 => (any::<usize>(), 1usize..64).prop_map(|(at, n)| Mutation::Delete(at, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => any::<usize>().prop_map(Mutation::DuplicateLine),
    ]
}

/// `seed` with `mutations` applied, as text (invalid UTF-8 is replaced, as the reader
/// refuses it before any parser sees it).
fn mutate(seed: &str, mutations: &[Mutation]) -> String {
    let mut b = seed.as_bytes().to_vec();
    for m in mutations {
        let len = b.len().max(1);
        match *m {
            Mutation::Insert(at, t) => {
                let at = at % (b.len() + 1);
                b.splice(at..at, TOKENS[t].bytes());
            }
            Mutation::Flip(at, byte) if !b.is_empty() => b[at % len] = byte,
            Mutation::Delete(at, n) if !b.is_empty() => {
                let at = at % len;
                b.drain(at..(at + n).min(b.len()));
            }
            Mutation::Truncate(at) => b.truncate(at % (b.len() + 1)),
            Mutation::DuplicateLine(at) if !b.is_empty() => {
                let at = at % len;
                let start = b[..at].iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
                let end = b[at..].iter().position(|&c| c == b'\n').map_or(b.len(), |i| at + i + 1);
                let line = b[start..end].to_vec();
                b.splice(end..end, line);
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Runs `check` on mutants of `seeds`, `cases()` times; prints the count so a long run
/// says what it did.
fn fuzz(name: &str, seeds: &[String], check: impl Fn(&str)) {
    let config = Config { cases: cases(), failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let strategy = (0..seeds.len(), prop::collection::vec(mutation(), 0..12));
    let result = runner.run(&strategy, |(seed, mutations)| {
        let text = mutate(&seeds[seed], &mutations);
        check(&text);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    println!("fuzz {name}: {} cases, no panic, every problem positioned", cases());
}

/// Every problem names a line of the file it is about.
#[track_caller]
fn positioned(text: &str, diags: &Diagnostics) {
    for d in diags.iter() {
        assert!(d.line > 0 && d.col > 0, "unpositioned problem {d}\nin:\n{text:?}");
    }
    assert!(!diags.is_empty(), "rejected without a problem:\n{text:?}");
}

fn runbook_seeds() -> Vec<String> {
    let mut seeds = vec![read("assets/demo/runbook.toml"), read("tests/fleet/runbook.toml")];
    for f in ["valid/inline-hosts.toml", "invalid/many-problems.toml", "invalid/syntax.toml"] {
        seeds.push(read(&format!("tests/fixtures/runbooks/{f}")));
    }
    seeds
}

#[test]
fn the_runbook_loader_never_panics_and_positions_every_problem() {
    // Relative paths in a mutant (an inventory file) resolve into an empty directory.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rb.toml");
    fuzz("runbook", &runbook_seeds(), |text| {
        if let Err(e) = patchdeck::runbook::load_str(&path, text) {
            for d in e.iter().filter(|d| d.file == path) {
                assert!(d.line > 0, "unpositioned problem {d}\nin:\n{text:?}");
            }
        }
    });
}

#[test]
fn the_toml_hosts_parser_never_panics_and_positions_every_problem() {
    let seeds = vec![read("assets/demo/hosts.toml"), read("tests/fixtures/runbooks/valid/hosts.toml")];
    fuzz("hosts.toml", &seeds, |text| {
        if let Err(e) = toml_file::parse(&SourceFile::new("hosts.toml", text)) {
            positioned(text, &e);
        }
    });
}

#[test]
fn the_ansible_ini_parser_never_panics_and_positions_every_problem() {
    let seeds = vec![
        read("tests/fixtures/inventory/production.ini"),
        read("tests/fixtures/inventory/broken.ini"),
        read("tests/fixtures/runbooks/valid/ansible/hosts.ini"),
    ];
    fuzz("ansible ini", &seeds, |text| {
        if let Err(e) = ansible_ini::parse(&SourceFile::new("hosts", text)) {
            positioned(text, &e);
        }
    });
}

#[test]
fn the_ansible_yaml_and_json_parser_never_panics_and_positions_every_problem() {
    let seeds = vec![
        read("tests/fixtures/inventory/production.yml"),
        read("tests/fixtures/inventory/broken.yml"),
        read("tests/fixtures/inventory/billion-laughs.yml"),
        read("tests/fixtures/runbooks/valid/ansible/hosts.yml"),
        read("tests/fixtures/runbooks/valid/ansible/hosts.json"),
    ];
    fuzz("ansible yaml", &seeds, |text| {
        if let Err(e) = ansible_yaml::parse(&SourceFile::new("hosts.yml", text)) {
            positioned(text, &e);
        }
    });
}

/// The probe output, split into its sections (as the probe does).
fn sections(text: &str) -> BTreeMap<String, String> {
    patchdeck::probe::split_sections(text)
}

#[test]
fn the_apt_output_parsers_never_panic() {
    let dir = root().join("tests/fixtures/apt");
    let mut seeds: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt" || x == "log"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    seeds.sort();
    let arch = parse::NativeArch::new("amd64");
    fuzz("apt output", &seeds, |text| {
        let _ = patchdeck::pkg::OsRelease::parse(text);
        let _ = parse::installed(text, &arch);
        let _ = parse::upgrade(text, &arch);
        let _ = parse::name_list(text, &arch);
        let _ = parse::reboot(text, &arch);
        let _ = parse::needrestart(text);
        let _ = parse::policy(text, &arch);
        let _ = parse::cache(text, &arch);
        let _ = parse::parse_probe(&sections(text));
        let _ = patchdeck::pkg::apt::history::parse_last_upgrade(text);
    });
}

/// A real journal of the demo window's engine events: the header and a few records.
fn journal_seed(dir: &Path) -> String {
    use patchdeck::journal::{Header, Journal};
    let path = dir.join("seed.journal.jsonl");
    let header = Header::new("w", "runbook.toml", Header::sha256_hex(b"x"), vec!["alice".into()], false);
    let mut journal: Journal<serde_json::Value> = Journal::create(&path, &header).unwrap();
    for n in 0..4 {
        journal.append(&serde_json::json!({"kind": "step", "n": n, "host": "web1", "detail": "ok\n"})).unwrap();
    }
    drop(journal);
    std::fs::read_to_string(&path).unwrap()
}

#[test]
fn the_journal_reader_never_panics_and_names_the_file_in_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = vec![journal_seed(dir.path())];
    let path = dir.path().join("fuzzed.journal.jsonl");
    fuzz("journal", &seeds, |text| {
        std::fs::write(&path, text).unwrap();
        // Framing, header and sequence (any event), then the engine's own event shape.
        let errors = [
            patchdeck::journal::replay::<serde_json::Value>(&path).err(),
            patchdeck::journal::replay::<patchdeck::engine::event::Event>(&path).err(),
        ];
        for e in errors.into_iter().flatten() {
            let shown = e.to_string();
            assert!(shown.contains("fuzzed.journal.jsonl"), "error without the file: {shown}");
        }
    });
}

/// Inputs that once crashed a parser, kept as fixtures: `<parser>-<name>.<ext>`.
#[test]
fn every_saved_crash_stays_fixed() {
    let dir = root().join("tests/fixtures/fuzz");
    let entries = std::fs::read_dir(&dir).unwrap();
    let mut seen = 0;
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let src = SourceFile::new(PathBuf::from(&name), text.as_str());
        let result = match name.split('-').next() {
            Some("runbook") => patchdeck::runbook::load_str(&path, &text).map(drop),
            Some("toml") => toml_file::parse(&src).map(drop),
            Some("ini") => ansible_ini::parse(&src).map(drop),
            Some("yaml") => ansible_yaml::parse(&src).map(drop),
            _ => continue,
        };
        if let Err(e) = result {
            positioned(&text, &e);
        }
        seen += 1;
    }
    assert!(seen > 0, "tests/fixtures/fuzz/ holds the crashes found so far");
    println!("{seen} saved crashes replayed");
}
