//! Memory of a step that prints a lot (issue 14.6): a `local` step printing 1 GB (the
//! operator's machine, as `local` steps run), watched line by line as the cockpit watches,
//! its whole output written to its capped file beside the journal. The step runs in a child
//! process of this bench, which reports its own peak resident memory (`VmHWM` in
//! `/proc/self/status`); the bench fails if it reaches 100 MB.
//!
//! `cargo bench --bench output_memory [-- BYTES]` prints 1 GB (or BYTES). Under
//! `cargo test --all-targets` (no `--bench`) it prints 64 MB: the same bound, quickly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use patchdeck::inventory::Host;
use patchdeck::transport::local::LocalTransport;
use patchdeck::transport::{Command, OPERATOR_HOST, OutputLine, Transport};

const CHILD: &str = "PATCHDECK_OUTPUT_MEMORY_CHILD";
const LIMIT_BYTES: u64 = 100 * 1000 * 1000;

fn main() {
    if let Ok(bytes) = std::env::var(CHILD) {
        child(bytes.parse().expect("a byte count"));
        return;
    }
    let bench = std::env::args().any(|a| a == "--bench");
    let positional = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let bytes: u64 = match positional {
        Some(b) => b.parse().expect("usage: output_memory [BYTES]"),
        None if bench => 1 << 30,
        None => 64 << 20,
    };
    let started = std::time::Instant::now();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD, bytes.to_string())
        .output()
        .expect("run the child");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
    let peak: u64 = field(&report, "peak_rss_bytes");
    println!(
        "output_memory: a local step printing {} MB: peak RSS {:.1} MB (limit {} MB), {:.1} s",
        bytes / 1_000_000,
        peak as f64 / 1e6,
        LIMIT_BYTES / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    print!("{report}");
    assert!(peak < LIMIT_BYTES, "peak RSS {peak} bytes: not under {LIMIT_BYTES}");
}

fn field(report: &str, name: &str) -> u64 {
    let line = report.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("{name}?"));
    line.trim().parse().unwrap()
}

/// Runs the step and says what it kept, what it saw and how much memory it took at most.
fn child(bytes: u64) {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lines = AtomicU64::new(0);
    let out = rt.block_on(async {
        let t = LocalTransport::new().with_output_dir(dir.path().join("window.journal.jsonl.output"));
        let script = format!("yes 'a chatty step prints this line again and again' | head -c {bytes}");
        let cmd = Command::shell(script, Duration::from_secs(3600));
        let sink = |_: OutputLine| {
            lines.fetch_add(1, Ordering::Relaxed);
        };
        t.exec_streaming(&Host::named(OPERATOR_HOST), &cmd, &sink).await.unwrap()
    });
    assert!(out.success());
    assert_eq!(out.stdout.len() as u64 + out.stdout_cut, bytes, "every byte counted");
    let file = out.saved_to.as_ref().expect("the whole output has a file");
    let file_len = std::fs::metadata(file).unwrap().len();
    let hwm = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = hwm
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    println!("peak_rss_bytes={}", kb * 1024);
    println!("kept_bytes={}", out.stdout.len());
    println!("cut_bytes={}", out.stdout_cut);
    println!("lines_streamed={}", lines.load(Ordering::Relaxed));
    println!("file_bytes={file_len}");
    println!("note={}", out.cut_note().unwrap_or_default());
}
