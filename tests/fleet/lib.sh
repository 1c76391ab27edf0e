# Shared helpers for the patchdeck test fleet (sourced by up.sh, down.sh, fault.sh and
# build-base.sh; never run directly). Everything here runs as root on Debian bookworm.
#
# Layout (all overridable through the environment, so a developer can keep things apart):
#   $PD_FLEET_CACHE (/var/cache/patchdeck-fleet)   cached debootstrap roots, one per key:
#       base-KEY/        the finished base root (overlay lower dir of every host), read-only
#       base-KEY.tmp-PID a build in progress; renamed to base-KEY only when complete
#       .lock            flock held while building, so parallel fleets build once
#   $PD_FLEET_DIR (/var/lib/patchdeck-fleet)/INSTANCE   one running fleet; EVERY mount of
#       the fleet lives under it (hosts/NAME/root and the /proc, /dev, /run inside it):
#       state            what up.sh started and mounted, one line each, appended as it goes
#                        ("pid PID STARTTIME HOST ROLE", "mount PATH") so a killed run can be
#                        undone by the next one
#       fleet.env        KEY=VALUE facts for tests (addresses, ports, file paths)
#       runbook.toml hosts.toml ssh_config known_hosts id_ed25519[.pub]
#       hosts/NAME/{upper,work,root,sshd.log,httpd.log}
set -euo pipefail

FLEET_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PD_FLEET_CACHE=${PD_FLEET_CACHE:-/var/cache/patchdeck-fleet}
PD_FLEET_DIR=${PD_FLEET_DIR:-/var/lib/patchdeck-fleet}
PD_FLEET_INSTANCE=${PD_FLEET_INSTANCE:-manual}
SUITE=bookworm
# The hosts, in a fixed order: the order gives each its loopback address.
FLEET_HOSTS=(staging prod-clean prod-extra prod-newer prod-drift prod-breaks)

log() { printf 'fleet: %s\n' "$*" >&2; }
die() { printf 'fleet: error: %s\n' "$*" >&2; exit 1; }

need_root() { [ "$(id -u)" -eq 0 ] || die "the fleet needs root (debootstrap, mount, chroot)"; }

# Instance names become directory names: keep them boring.
check_instance() {
  [[ $PD_FLEET_INSTANCE =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$ ]] || die "bad instance name: $PD_FLEET_INSTANCE"
}

instance_dir() { printf '%s/%s\n' "$PD_FLEET_DIR" "$PD_FLEET_INSTANCE"; }
host_root() { printf '%s/hosts/%s/root\n' "$(instance_dir)" "$1"; }

# The Debian mirror this machine itself uses for bookworm, read from its apt sources at run
# time (deb822 .sources first, then one-line .list files), so the fleet is built from and keeps
# pointing at the same archive as the machine. PD_FLEET_MIRROR overrides it.
machine_mirror() {
  if [ -n "${PD_FLEET_MIRROR:-}" ]; then printf '%s\n' "$PD_FLEET_MIRROR"; return; fi
  local m=''
  shopt -s nullglob
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    # One paragraph per source; take the first enabled "deb" paragraph whose Suites hold
    # exactly "bookworm" and whose Components hold "main".
    m=$(awk -v suite="$SUITE" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && suites ~ ("(^| )" suite "( |$)") && comps ~ /(^| )main( |$)/ && enabled != "no" && uri != "")
          { print uri; found = 1; exit }
        types = suites = comps = uri = enabled = ""
      }
      /^[ \t]*$/ { flush(); next }
      /^#/ { next }
      { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
        if (key == "types") types = $0; else if (key == "suites") suites = $0
        else if (key == "components") comps = $0; else if (key == "enabled") enabled = tolower($0)
        else if (key == "uris") { split($0, u, " "); uri = u[1] } }
      END { if (!found) flush() }' "$f")
    [ -n "$m" ] && break
  done
  if [ -z "$m" ]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -r "$f" ] || continue
      m=$(awk -v suite="$SUITE" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
            if ($(i + 1) == suite) { print $i; exit } }' "$f")
      [ -n "$m" ] && break
    done
  fi
  shopt -u nullglob
  [ -n "$m" ] || die "no '$SUITE main' source in this machine's apt sources; set PD_FLEET_MIRROR"
  printf '%s\n' "${m%/}"
}

# Field 22 of /proc/PID/stat: the start time, which tells a recorded PID from a reused one.
proc_starttime() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  # comm (field 2) may hold spaces: cut after the last ')'.
  stat=${stat##*) }
  awk '{ print $20 }' <<<"$stat"
}

# All descendants of PID (children first, then theirs), from /proc.
descendants() {
  local root=$1
  local -a queue=("$root") out=()
  local p c
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}; queue=("${queue[@]:1}")
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
      out+=("$c"); queue+=("$c")
    done
  done
  printf '%s\n' "${out[@]}"
}

# Kills PID and everything under it: TERM, then KILL whatever is left after 2 s.
kill_tree() {
  local pid=$1 p
  local -a all
  mapfile -t all < <(descendants "$pid"; echo "$pid")
  for p in "${all[@]}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 20); do
    local alive=0
    for p in "${all[@]}"; do [ -n "$p" ] && [ -e "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && return 0
    sleep 0.1
  done
  for p in "${all[@]}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
}

# Appends a line to the instance's state file (created by up.sh).
record() { printf '%s\n' "$*" >>"$(instance_dir)/state"; }

# mount(8) wrapper that records the mount point, so teardown can undo it in reverse order.
fleet_mount() {
  local target=${*: -1}
  mount "$@"
  record mount "$target"
}

# Mount points under DIR from /proc/self/mountinfo, deepest first. (Our paths contain no
# spaces, so mountinfo's octal escapes never matter here.)
mounts_under() {
  awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print length($5) "\t" $5 }' /proc/self/mountinfo \
    | sort -rn | cut -f2-
}

# Starts CMD... inside host HOST's root as a daemon: its own session (no terminal signals
# reach it), stdio to LOGFILE (so whoever ran up.sh, e.g. a test harness reading our output,
# is not kept waiting on an inherited pipe), its PID and start time recorded as ROLE.
start_in_host() {
  local host=$1 role=$2 logfile=$3; shift 3
  local root pid st
  root=$(host_root "$host")
  # Non-interactive bash does not make background jobs group leaders, so setsid execs
  # directly and $! is the daemon itself (chroot execs too).
  setsid chroot "$root" "$@" </dev/null >>"$logfile" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  pid=$!
  st=$(proc_starttime "$pid") || st=0
  record pid "$pid" "$st" "$host" "$role"
  printf '%s\n' "$pid"
}

# Whether the recorded PID (with start time ST) is still that process, alive. A zombie has
# exited and only waits for its parent to reap it (up.sh's daemons are reparented to PID 1,
# which may take its time): counting it as alive made `fault.sh restore` right after
# `kill-sshd` skip starting sshd again.
same_process() {
  local pid=$1 st=$2 now state
  now=$(proc_starttime "$pid") || return 1
  state=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  state=${state##*) }
  case "${state%% *}" in Z | X) return 1 ;; esac
  [ "$now" = "$st" ]
}

# Waits until ADDR:PORT accepts TCP connections (bash's /dev/tcp; nothing to install).
wait_port() {
  local addr=$1 port=$2 tries=${3:-100}
  for _ in $(seq "$tries"); do
    if (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# Whether anything listens on ADDR:PORT or on the wildcard address at PORT (/proc/net/tcp).
port_busy() {
  local addr=$1 port=$2 hexaddr hexport
  hexaddr=$(printf '%02X%02X%02X%02X' $(tr '.' ' ' <<<"$addr" | awk '{ print $4, $3, $2, $1 }'))
  hexport=$(printf '%04X' "$port")
  awk -v a="$hexaddr:$hexport" -v w="00000000:$hexport" '$4 == "0A" && ($2 == a || $2 == w) { found = 1 } END { exit !found }' \
    /proc/net/tcp
}

# Per-host facts written by up.sh: ADDR SSH_PORT WEB_PORT.
host_env() { printf '%s/hosts/%s/env\n' "$(instance_dir)" "$1"; }
load_host() {
  [ -r "$(host_env "$1")" ] || die "no host $1 in fleet $(instance_dir) (is it up?)"
  # shellcheck disable=SC1090
  source "$(host_env "$1")"
}

# PIDs recorded for HOST with ROLE that are still those very processes.
live_pids() {
  local host=$1 role=$2 state
  state="$(instance_dir)/state"
  [ -f "$state" ] || return 0
  while read -r kind pid st h r; do
    [ "$kind" = pid ] && [ "$h" = "$host" ] && [ "$r" = "$role" ] && same_process "$pid" "$st" && echo "$pid"
  done <"$state"
  return 0
}

# The host's own sshd, inside its root, on its own loopback address only.
start_sshd() {
  local host=$1 dir
  dir="$(instance_dir)/hosts/$host"
  load_host "$host"
  mkdir -p "$(host_root "$host")/run/sshd"
  start_in_host "$host" sshd "$dir/sshd.log" /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config >/dev/null
  wait_port "$ADDR" "$SSH_PORT" || { tail -n 20 "$dir/sshd.log" >&2; die "sshd of $host did not come up"; }
}

# busybox httpd serving /var/www/pd-web (pd-web's page naming the host).
start_httpd() {
  local host=$1 dir
  dir="$(instance_dir)/hosts/$host"
  load_host "$host"
  start_in_host "$host" httpd "$dir/httpd.log" busybox httpd -f -v -p "$ADDR:$WEB_PORT" -h /var/www/pd-web >/dev/null
  wait_port "$ADDR" "$WEB_PORT" || { tail -n 20 "$dir/httpd.log" >&2; die "httpd of $host did not come up"; }
}

# Stops and removes the instance: recorded processes (only if still the same process, by
# start time) and everything under them, then any process still running inside one of our
# host roots (only ours can be there: e.g. an ssh session's children orphaned by kill-sshd),
# then every mount in reverse order, then the directory. Used by down.sh and, for a run that
# crashed or was killed, by the next up.sh.
teardown_instance() {
  local dir state p r mp
  dir=$(instance_dir)
  [ -d "$dir" ] || return 0
  state=$dir/state
  if [ -f "$state" ]; then
    while read -r kind pid st _; do
      [ "$kind" = pid ] || continue
      if same_process "$pid" "$st"; then kill_tree "$pid"; fi
    done < <(tac "$state")
  fi
  for _ in 1 2 3; do
    local left=0
    for p in /proc/[0-9]*; do
      r=$(readlink "$p/root" 2>/dev/null) || continue
      case "$r" in "$dir"/hosts/*) kill -KILL "${p#/proc/}" 2>/dev/null && left=1 ;; esac
    done
    [ $left -eq 0 ] && break
    sleep 0.2
  done
  if [ -f "$state" ]; then
    while read -r kind mp; do
      [ "$kind" = mount ] || continue
      if mountpoint -q "$mp" 2>/dev/null; then umount "$mp" || log "cannot unmount $mp yet"; fi
    done < <(tac "$state")
  fi
  # Anything still mounted under the instance (a state line lost to a crash mid-mount).
  while read -r mp; do
    [ -n "$mp" ] || continue
    umount "$mp" 2>/dev/null || { log "$mp is busy: detaching it lazily"; umount -l "$mp"; }
  done < <(mounts_under "$dir")
  if [ -n "$(mounts_under "$dir")" ]; then die "mounts remain under $dir; not deleting it"; fi
  # --one-file-system: even if a mount appeared meanwhile, never delete through it.
  rm -rf --one-file-system "$dir"
}
