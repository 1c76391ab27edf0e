#!/usr/bin/env bash
# Issue 16.4: what the configuration map costs `patchdeck check` at 50 hosts. Two builds:
# BEFORE without the map and AFTER with it, on one fleet of 50 plain prod hosts, each
# checking the same narrowed runbook (no health checks, like bench.sh) against a baseline it
# captured itself. Measures `check` as bench.sh's "patchdeck cold": a new process, apt's
# answers (and the map's kept parts) kept from a warm-up; RUNS runs each, alternating.
# Prints wall time, the CPU time of patchdeck and its ssh clients (the operator's side) and
# of the hosts' sessions, and the median of the paired differences (see the end).
#
#   benches/drift-cost.sh BEFORE_BINARY AFTER_BINARY [RUNS=15]
#
# BEFORE: the same commit with benches/no-map.patch applied (the probe leaves the map out,
# capture accepts that), built alike, e.g. in a worktree:
#   git worktree add /tmp/nomap HEAD && cd /tmp/nomap && git apply benches/no-map.patch &&
#   cargo build --release && cp target/release/patchdeck /tmp/pd-nomap
#
# Needs root (the fleet). Not run by tests/run. Results: BENCHMARKS.md, "Configuration map".
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: benches/drift-cost.sh BEFORE_BINARY AFTER_BINARY [RUNS]" >&2; exit 2; }
BEFORE=$1 AFTER=$2 RUNS=${3:-15}
REPO=$(cd "$(dirname "$0")/.." && pwd)
D=$("$REPO/tests/fleet/up.sh" --instance bench16 --hosts 50)
trap '"$REPO/tests/fleet/down.sh" --instance bench16 >/dev/null 2>&1 || true' EXIT
hs=(); for ((i = 1; i <= 50; i++)); do hs+=("$(printf 'prod-n%03d' "$i")"); done
awk -v keep="staging ${hs[*]}" 'BEGIN { split(keep, k, " "); for (i in k) want[k[i]] = 1 }
  /^\[\[host\]\]/ { if (blk != "" && ok) printf "%s", blk; blk = ""; ok = 0; started = 1 }
  /^name = / { n = $3; gsub(/"/, "", n); ok = (n in want) }
  { if (started) blk = blk $0 "\n"; else print }
  END { if (ok) printf "%s", blk }' "$D/hosts.toml" >"$D/hosts-50.toml"
for v in before after; do
  { awk '/^\[\[wave\]\]/ { exit } { print }' "$D/runbook.toml" \
      | sed -e "s/^file = \"hosts.toml\"/file = \"hosts-50.toml\"/" -e "s/^file = \"tested.toml\"/file = \"tested-$v.toml\"/"
    printf '[[wave]]\nname = "bench"\nhosts = [%s]\n\n[[step]]\nname = "apply tested updates"\npackages = "tested"\n' \
      "$(printf '"%s",' "${hs[@]}" | sed 's/,$//')"
  } >"$D/bench-$v.toml"
done
cd "$D"
"$BEFORE" baseline capture bench-before.toml --host staging -o tested-before.toml >/dev/null
"$AFTER" baseline capture bench-after.toml --host staging -o tested-after.toml >/dev/null
grep -c '^\[drift' tested-after.toml | sed 's/^/drift entries in the after baseline: /' || true
XDG_CACHE_HOME=$D/cache-before "$BEFORE" check --fresh=per-host bench-before.toml >/dev/null || true
XDG_CACHE_HOME=$D/cache-after "$AFTER" check --fresh=per-host bench-after.toml >/dev/null || true
hz=$(getconf CLK_TCK)
# The hosts' side: every fleet sshd's children's CPU (what a check's sessions cost the hosts).
pids=$(awk '$1 == "pid" && $5 == "sshd" { print $2 }' "$D/state")
hostcpu() { local t=0 p; for p in $pids; do t=$((t + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$p/stat"))); done; echo "$t"; }
declare -A T C H
: >"$D/pairs"
for ((r = 1; r <= RUNS; r++)); do
  line=''
  for v in before after; do
    bin=$BEFORE; [ $v = after ] && bin=$AFTER
    # Wall time, the CPU time of patchdeck and its ssh clients (the operator's side) and
    # of the hosts' sessions.
    TIMEFORMAT='%R %U %S'
    h0=$(hostcpu)
    t=$( { time XDG_CACHE_HOME=$D/cache-$v "$bin" check bench-$v.toml >"$D/out-$v.txt" 2>/dev/null || true; } 2>&1)
    h1=$(hostcpu)
    read -r wall user sys <<<"$t"
    host=$(echo "($h1 - $h0) / $hz" | bc -l)
    T[$v]+="$wall "
    C[$v]+="$(echo "$user + $sys" | bc) "
    H[$v]+="$(printf '%.2f' "$host") "
    line+="$wall "
  done
  echo "$line" >>"$D/pairs"
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {printf "median %.2f s (min %.2f, max %.2f)", a[int((NR+1)/2)], a[1], a[NR]}'; }
for v in before after; do
  echo "$v: wall ${T[$v]}"; echo "  wall $(echo "${T[$v]}" | median)"
  echo "  operator CPU $(echo "${C[$v]}" | median)"
  echo "  hosts' CPU $(echo "${H[$v]}" | median)"
done
# Runs alternate, so each pair shares the machine's moment: the median of the pairs'
# differences is the figure least moved by other work on the machine.
mid() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)], a[1], a[NR], NR }'; }
read -r dmed dmin dmax n < <(awk '{ printf "%.3f\n", $2 - $1 }' "$D/pairs" | mid)
read -r bmed _ < <(awk '{ print $1 }' "$D/pairs" | mid)
printf 'after - before, paired: median %+.2f s = %+.1f%% of the median before (min %+.2f, max %+.2f, %d pairs)\n' \
  "$dmed" "$(echo "100 * $dmed / $bmed" | bc -l)" "$dmin" "$dmax" "$n"
tail -3 "$D/out-after.txt"
