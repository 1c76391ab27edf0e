#!/usr/bin/env bash
# Scale: `patchdeck check` against 1,000 host names; peak memory of patchdeck plus every
# process under it (its ssh masters and mux clients) and its peak open fds. Not run by
# tests/run.
#
#   tests/fleet/bench-scale.sh [--instance NAME] [--names 1000] [--hosts 50] [--keep] [--reuse]
#                              [--no-per-host] [--connect-timeout SECS]
#
# --reuse: use the instance if it is already up (e.g. left by bench.sh --keep) and leave it up.
# --no-per-host: leave out the `--fresh=per-host` check (1,000 resolver runs, ~11 min here).
# --connect-timeout: patchdeck's (default 10 s). During the per-host check the hosts' 1,000
#   resolver runs load the operator's own 2 cores (load average ~45), and a new master's
#   handshake (~230 ms of CPU) can then take longer than 10 s of wall time.
#
# The names s0001..sNNNN point round-robin at the addresses of the fleet's plain hosts
# prod-n001..prod-nHOSTS (each its own sshd), so 1,000 names need 50 sshds, not 1,000.
# Note: patchdeck keys its ssh connections by (address, user, port), so names sharing an
# address share one master: this measures 1,000 probes through `--concurrency` 32 hosts
# at a time, with HOSTS masters, not 1,000 masters.
# Sampling: every 0.2 s, VmRSS summed over patchdeck and all its descendants (from /proc),
# and the number of fds patchdeck holds; the peaks are printed with the wall time.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
INSTANCE=bench NAMES=1000 HOSTS=50 KEEP=0 REUSE=0 PER_HOST=1 CT=()
while [ $# -gt 0 ]; do
  case "$1" in
    --instance) INSTANCE=$2; shift 2 ;;
    --names) NAMES=$2; shift 2 ;;
    --hosts) HOSTS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --reuse) REUSE=1; KEEP=1; shift ;;
    --no-per-host) PER_HOST=0; shift ;;
    --connect-timeout) CT=(--connect-timeout "$2"); shift 2 ;;
    *) echo "usage: bench-scale.sh [--instance NAME] [--names 1000] [--hosts 50] [--keep] [--reuse] [--no-per-host] [--connect-timeout SECS]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench-scale.sh: needs root (the fleet)" >&2; exit 1; }
source "$HERE/lib.sh"
(cd "$REPO" && cargo build -q --release --bin patchdeck)
PD=${CARGO_TARGET_DIR:-$REPO/target}/release/patchdeck
D=$PD_FLEET_DIR/$INSTANCE
if [ "$REUSE" -eq 0 ] || ! grep -q "prod-n$(printf %03d "$HOSTS")" "$D/fleet.env" 2>/dev/null; then
  D=$("$HERE/up.sh" --instance "$INSTANCE" --hosts "$HOSTS")
fi
[ "$KEEP" -eq 1 ] || trap '"$HERE/down.sh" --instance "$INSTANCE" || true' EXIT
SSH_PORT=$(sed -n 's/^SSH_PORT=//p' "$D/fleet.env")
addr() { sed -n "s/^HOST_ADDR_${1//-/_}=//p" "$D/fleet.env"; }
"$PD" baseline capture "$D/runbook.toml" --host staging -o "$D/tested.toml" >&2
{ printf '[[host]]\nname = "staging"\naddress = "%s"\nport = %s\nuser = "root"\n' "$(addr staging)" "$SSH_PORT"
  for ((i = 1; i <= NAMES; i++)); do
    h=$(printf 'prod-n%03d' $(( (i - 1) % HOSTS + 1 )))
    printf '\n[[host]]\nname = "s%04d"\naddress = "%s"\nport = %s\nuser = "root"\n' "$i" "$(addr "$h")" "$SSH_PORT"
  done
} >"$D/hosts-scale.toml"
{ awk '/^\[\[wave\]\]/ { exit } { print }' "$D/runbook.toml" | sed 's/^file = "hosts.toml"/file = "hosts-scale.toml"/'
  printf '[[wave]]\nname = "all"\nhosts = [%s]\n\n[[step]]\nname = "apply tested updates"\npackages = "tested"\n' \
    "$(for ((i = 1; i <= NAMES; i++)); do printf '"s%04d",' "$i"; done | sed 's/,$//')"
} >"$D/scale.toml"
echo "fd limit (ulimit -n): $(ulimit -n)"
export XDG_CACHE_HOME=$D/scale-cache
rm -rf "$XDG_CACHE_HOME"

# One measured check: its wall time, and peaks sampled every 0.2 s.
measure() {
  local label=$1 tag=$2; shift 2
  local start end pid rc=0 peak_rss=0 peak_fds=0 peak_procs=0 rss fds kb p
  start=$(date +%s.%N)
  (cd "$D" && exec "$PD" check scale.toml --json "${CT[@]}" "$@" >"$D/scale-$tag.json" 2>"$D/scale-$tag.err") &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    mapfile -t all < <(echo "$pid"; descendants "$pid")
    rss=0
    for p in "${all[@]}"; do
      [ -n "$p" ] || continue
      kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true)
      rss=$((rss + ${kb:-0}))
    done
    fds=$( (ls "/proc/$pid/fd" 2>/dev/null || true) | wc -l)
    [ "$rss" -gt "$peak_rss" ] && peak_rss=$rss
    [ "$fds" -gt "$peak_fds" ] && peak_fds=$fds
    [ "${#all[@]}" -gt "$peak_procs" ] && peak_procs=${#all[@]}
    sleep 0.2
  done
  wait "$pid" || rc=$?
  end=$(date +%s.%N)
  python3 - "$D/scale-$tag.json" <<'PY'
import collections, json, sys
r = json.load(open(sys.argv[1]))
hs = r["hosts"]
reused = sum(1 for h in hs if h.get("resolver") == "reused")
shared = sum(1 for h in hs if h.get("resolver") == "shared")
unreachable = sum(1 for h in hs if any(f["class"] == "unreachable" for f in h["diff"]["findings"]))
print(f"hosts reported: {len(hs)}, clean: {sum(1 for h in hs if not [f for f in h['diff']['findings'] if f['class'] != 'tested'])}, unreachable: {unreachable}, apt answer reused: {reused}, shared: {shared}")
# Why hosts were not reached, most frequent first (the JSON is kept in the fleet dir).
why = collections.Counter(f.get("detail") or f.get("here") or "?" for h in hs for f in h["diff"]["findings"] if f["class"] == "unreachable")
for detail, n in why.most_common(5):
    print(f"  unreachable x{n}: {detail[:160]}")
PY
  awk -v s="$start" -v e="$end" -v r="$peak_rss" -v f="$peak_fds" -v p="$peak_procs" -v rc="$rc" -v n="$NAMES" -v l="$label" 'BEGIN {
    printf "%s check of %d names: exit %d, wall %.1f s, peak RSS (patchdeck + ssh) %.1f MiB, peak fds of patchdeck %d, peak processes %d\n", l, n, rc, e - s, r / 1024, f, p }'
}

[ "$PER_HOST" -eq 0 ] || measure "per-host fresh (every resolver asked)" per-host --fresh=per-host
measure "fresh (apt asked once per distinct package state)" fresh --fresh
measure "kept answers (package state unchanged)" kept
