#!/bin/sh
# Fuzzes every parser of untrusted text on stable Rust: the runbook loader, the TOML, Ansible
# INI and YAML/JSON inventory parsers, the apt output parsers and the journal reader, each
# with CASES generated inputs (mutants of the fixtures; see tests/integration/fuzz.rs), in a
# release build. Prints the cases run per parser and in total; a panic or an unpositioned
# problem fails the run with proptest's smallest failing input: save it under
# tests/fixtures/fuzz/ (named <parser>-<what>.<ext>) and fix the parser.
#
# Usage: benches/fuzz.sh [CASES_PER_PARSER]     (default 1000000: about 6 million in all)
set -eu
cd "$(dirname "$0")/.."
CASES=${1:-1000000}
LOG=${TMPDIR:-/tmp}/patchdeck-fuzz.$$.log
if ! PATCHDECK_FUZZ_CASES=$CASES cargo test --release --locked --test integration -- fuzz:: --nocapture \
  >"$LOG" 2>&1; then
  grep -E "panicked|minimal failing|Test failed|unpositioned" -A20 "$LOG" | head -80
  echo "fuzz: FAILED (full log: $LOG)"
  exit 1
fi
grep '^fuzz ' "$LOG"
awk '/^fuzz .*: [0-9]+ cases/ { for (i = 1; i <= NF; i++) if ($(i + 1) == "cases,") { n += $i; p++ } }
  END { printf "fuzz: %d cases across %d parsers, no panic\n", n, p }' "$LOG"
rm -f "$LOG"
