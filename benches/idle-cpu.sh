#!/usr/bin/env bash
# Idle CPU of the cockpit: the demo window in a real terminal (tmux), waiting at its first
# hard stop for a decision, as an operator's screen sits for minutes at 2 a.m. Prints the
# CPU seconds (user + system, from /proc/PID/stat) the patchdeck process used over SECS.
#
#   benches/idle-cpu.sh [SECS=60]
#
# Needs tmux (apt-get install tmux). Not run by tests/run: CPU time is a benchmark's figure,
# never a test's limit (the tests prove the loop has nothing to wake for while idle:
# src/tui/pace.rs, "nothing changed").
set -euo pipefail
SECS=${1:-60}
REPO=$(cd "$(dirname "$0")/.." && pwd)
command -v tmux >/dev/null || { echo "idle-cpu.sh: needs tmux" >&2; exit 1; }
(cd "$REPO" && cargo build -q --release --bin patchdeck)
PD=$REPO/target/release/patchdeck
DIR=$(mktemp -d)
SOCK=$DIR/tmux.sock
cleanup() { tmux -S "$SOCK" kill-server 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
tmux -S "$SOCK" -f /dev/null new-session -d -s idle -x 80 -y 24 "$PD demo --dir $DIR/demo"
for _ in $(seq 600); do
  tmux -S "$SOCK" capture-pane -p -t idle | grep -q "HARD STOP" && break
  sleep 0.1
done
tmux -S "$SOCK" capture-pane -p -t idle | grep -q "HARD STOP" || { echo "idle-cpu.sh: no hard stop on screen" >&2; exit 1; }
PID=$(tmux -S "$SOCK" list-panes -t idle -F '#{pane_pid}')
# The pane runs patchdeck itself (exec'd by tmux's shell or directly).
[ "$(cat "/proc/$PID/comm")" = patchdeck ] || PID=$(pgrep -P "$PID" -x patchdeck)
ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
before=$(ticks)
sleep "$SECS"
after=$(ticks)
awk -v b="$before" -v a="$after" -v hz="$HZ" -v s="$SECS" 'BEGIN {
  printf "cockpit idle at a hard stop for %d s: %.2f CPU s (%.3f%% of one core)\n", s, (a - b) / hz, 100 * (a - b) / hz / s }'
