#!/usr/bin/env bash
# Rollback speed on the real fleet: how long a host's rollback of its packages step takes
# against the forward packages step itself. Not run by tests/run.
#
#   tests/fleet/bench-rollback.sh [--instance NAME] [--runs 5] [--keep]
#
# Each run: `patchdeck run --no-tui --yes --decide rollback` of a window on one plain host
# (prod-n001) whose steps are the packages step (less, pd-web: the tested updates) and then
# a step that fails (`run = "false"`, rollback `true`), so the engine rolls the host back:
# the failing step's rollback, then the packages step's (restore the snapshot: reinstall
# the previous versions, which come from the Debian mirror or the host's cached .debs).
# From the journal: StepFinished.millis of the packages step (forward) and
# RollbackFinished.millis of the packages step (rollback). The host is back at its old
# versions after every run, so runs are alike. Prints medians and the ratio rollback/forward.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
INSTANCE=benchrb RUNS=5 KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --instance) INSTANCE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: bench-rollback.sh [--instance NAME] [--runs 5] [--keep]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench-rollback.sh: needs root (the fleet)" >&2; exit 1; }
(cd "$REPO" && cargo build -q --release --bin patchdeck)
PD=$REPO/target/release/patchdeck
D=$("$HERE/up.sh" --instance "$INSTANCE" --hosts 1)
[ "$KEEP" -eq 1 ] || trap '"$HERE/down.sh" --instance "$INSTANCE" || true' EXIT
"$PD" baseline capture "$D/runbook.toml" --host staging -o "$D/tested.toml" >&2
awk '/^\[\[host\]\]/ { if (blk != "" && ok) printf "%s", blk; blk = ""; ok = 0; started = 1 }
  /^name = / { n = $3; gsub(/"/, "", n); ok = (n == "staging" || n == "prod-n001") }
  { if (started) blk = blk $0 "\n"; else print }
  END { if (ok) printf "%s", blk }' "$D/hosts.toml" >"$D/hosts-rb.toml"
{ awk '/^\[\[wave\]\]/ { exit } { print }' "$D/runbook.toml" | sed 's/^file = "hosts.toml"/file = "hosts-rb.toml"/'
  cat <<'TOML'
[[wave]]
name = "one"
hosts = ["prod-n001"]

[[step]]
name = "apply tested updates"
packages = "tested"

[[step]]
name = "fails after the packages step"
run = "false"
rollback = "true"
TOML
} >"$D/rollback.toml"
out=$D/rollback-times.txt; : >"$out"
for r in $(seq "$RUNS"); do
  j=$D/rollback-$r.journal.jsonl
  (cd "$D" && "$PD" run rollback.toml --no-tui --yes --decide rollback --journal "$j" >"$D/rollback-$r.log" 2>&1) || true
  python3 - "$j" >>"$out" <<'PY'
import json, sys
fwd = rb = None
for line in open(sys.argv[1]):
    ev = json.loads(line).get("event", {})
    if ev.get("step") != 0:  # the packages step is the window's first step
        continue
    if ev.get("type") == "step_finished":
        fwd = ev["millis"]
    elif ev.get("type") == "rollback_finished":
        rb = ev["millis"]
print(fwd, rb)
PY
  tail -n1 "$out" >&2
done
python3 - "$out" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
f = [int(a) / 1000 for a, b in rows if a != "None" and b != "None"]
r = [int(b) / 1000 for a, b in rows if a != "None" and b != "None"]
if not f:
    sys.exit("no run had both a forward and a rollback duration; see the rollback-*.log files")
print(f"packages step forward : median {statistics.median(f):.2f} s (min {min(f):.2f}, max {max(f):.2f}) runs {' '.join(f'{x:.2f}' for x in f)}")
print(f"packages step rollback: median {statistics.median(r):.2f} s (min {min(r):.2f}, max {max(r):.2f}) runs {' '.join(f'{x:.2f}' for x in r)}")
print(f"rollback / forward    : {statistics.median(r) / statistics.median(f):.2f}")
PY
