#!/usr/bin/env bash
# Every benchmark of BENCHMARKS.md, one after the other, on the real test fleet; ~85 min on
# 2 cores. Needs root (the fleet) and tmux.
# The curve25519 run of bench.sh goes to LOGDIR/kex.md, not into BENCHMARKS.md. Not run by tests/run.
#
#   benches/all.sh [--runs 5] [--sizes "1 10 20 50"] [--quick]
#
# --quick: leaves out the slowest figure, the 1,000-name `--fresh=per-host` check (~11 min).
# Rewrites the bench.sh table of BENCHMARKS.md; the other figures are printed (and kept in
# LOGDIR, printed at the end) for the document's other sections. Run it on an otherwise
# idle machine: every tool shares the operator's cores with the fleet's hosts.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNS=5 SIZES="1 10 20 50" SCALE_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --quick) SCALE_ARGS+=(--no-per-host); shift ;;
    *) echo "usage: benches/all.sh [--runs 5] [--sizes \"1 10 20 50\"] [--quick]" >&2; exit 2 ;;
  esac
done
LOG=$(mktemp -d /tmp/patchdeck-bench.XXXXXX)
step() { printf '\n== %s (log: %s/%s.log)\n' "$1" "$LOG" "$2" >&2; }
trap '"$REPO/tests/fleet/down.sh" --instance bench >/dev/null 2>&1 || true' EXIT

step "fleet comparison: bench.sh --sizes \"$SIZES\" --runs $RUNS" compare
"$REPO/tests/fleet/bench.sh" --sizes "$SIZES" --runs "$RUNS" --keep 2>"$LOG/compare.log" | tee "$LOG/compare.txt"
step "the same with curve25519 for every tool: bench.sh --kex curve25519-sha256" kex
"$REPO/tests/fleet/bench.sh" --sizes "10 50" --runs 3 --kex curve25519-sha256 --keep --out "$LOG/kex.md" \
  2>"$LOG/kex.log" | tee "$LOG/kex.txt"
step "1,000 host names: bench-scale.sh" scale
"$REPO/tests/fleet/bench-scale.sh" --reuse "${SCALE_ARGS[@]}" 2>"$LOG/scale.log" | tee "$LOG/scale.txt"
"$REPO/tests/fleet/down.sh" --instance bench >/dev/null 2>&1
step "rollback against forward: bench-rollback.sh --runs $RUNS" rollback
"$REPO/tests/fleet/bench-rollback.sh" --runs "$RUNS" 2>"$LOG/rollback.log" | tee "$LOG/rollback.txt"
step "cockpit frames: cargo bench --bench render" render
(cd "$REPO" && cargo bench --bench render 2>"$LOG/render.log") | grep -E '^[a-z0-9_/ x-]+$|time:' | tee "$LOG/render.txt"
step "cockpit idle CPU: benches/idle-cpu.sh 60" idle
"$REPO/benches/idle-cpu.sh" 60 2>"$LOG/idle.log" | tee "$LOG/idle.txt"
printf '\nall figures: %s/*.txt\n' "$LOG" >&2
