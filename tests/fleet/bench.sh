#!/usr/bin/env bash
# Benchmarks `patchdeck check` against the usual ways of asking a fleet for pending updates,
# on a real test fleet (tests/fleet/up.sh --hosts N). Not run by tests/run: it takes ~20 min.
#
#   tests/fleet/bench.sh [--instance NAME] [--sizes "1 10 20 50"] [--runs 5] [--keep]
#                        [--out FILE] [--kex ALGORITHMS]
#
# --kex puts `KexAlgorithms ALGORITHMS` into the fleet's ssh_config, which every tool below
# uses; without it ssh negotiates its default (sntrup761x25519-sha512@openssh.com between
# bookworm's OpenSSH 9.2 client and server, the bulk of a connection's CPU; see
# BENCHMARKS.md).
#
# For each size N (prod hosts prod-n001..prod-nN; max of --sizes hosts are brought up):
#   patchdeck fresh  `patchdeck check --fresh bench-N.toml`: new process, no ssh master open,
#                    apt asked anew once per distinct package state (a first check, or
#                    after `apt update`); the N hosts are clones, so one resolver run
#   patchdeck per-host `patchdeck check --fresh=per-host bench-N.toml`: every host's own
#                    resolver asked (what fresh cost before hosts shared answers)
#   patchdeck cold   `patchdeck check bench-N.toml`: new process, no ssh master open; hosts
#                    whose package state is unchanged since the warm-up check are not asked
#                    to resolve again (apt's kept answer, see src/probe/cache.rs)
#   patchdeck warm   benches/recheck.rs: check::run again over the same SshTransport, its
#                    masters open (passes 2..runs+1 of one process; pass 1 is the cold one)
#   ssh sequential   for h in hosts: ssh h 'apt list --upgradable'
#   parallel-ssh     parallel-ssh -p 50 -i 'apt list --upgradable' (Debian's pssh)
#   ansible command  ansible all -m command -a 'apt list --upgradable' -f 50, Ansible's own
#                    defaults (a ControlMaster per host for the module's few ssh commands);
#                    the masters of one run are ended before the next, so every run is cold.
#                    The bench's hosts have python3 (PD_FLEET_EXTRA_PACKAGES, build-base.sh)
#   ansible raw      ansible all -m raw -a 'apt list --upgradable' -f 50, ControlMaster off:
#                    one ssh per host, no Python; the cheapest thing Ansible can do
#   pssh warm        parallel-ssh over ControlMasters opened beforehand (ssh -M, ControlPersist)
# bench-N.toml is the fleet's runbook narrowed to one wave of those N hosts, with its
# fingerprint and without health checks, so patchdeck does one round trip per host, like the
# others. Cold figures are hyperfine medians of --runs runs (min, max kept); a discarded
# warm-up check of all hosts (--fresh=per-host) first builds each host's apt cache
# (pkgcache.bin).
# Writes the results between the markers of FILE (default: BENCHMARKS.md at the repo root)
# and prints them. Needs root; installs pssh, ansible, hyperfine with apt-get if missing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
INSTANCE=bench SIZES="1 10 20 50" RUNS=5 KEEP=0 OUT=$REPO/BENCHMARKS.md KEX=
while [ $# -gt 0 ]; do
  case "$1" in
    --instance) INSTANCE=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    --kex) KEX=$2; shift 2 ;;
    *) echo "usage: bench.sh [--instance NAME] [--sizes \"1 10 20 50\"] [--runs 5] [--keep] [--out FILE] [--kex ALGORITHMS]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench.sh: needs root (the fleet)" >&2; exit 1; }
log() { printf 'bench: %s\n' "$*" >&2; }

missing=()
command -v parallel-ssh >/dev/null || missing+=(pssh)
command -v ansible >/dev/null || missing+=(ansible)
command -v hyperfine >/dev/null || missing+=(hyperfine)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

log "building patchdeck (release) and benches/recheck"
(cd "$REPO" && cargo build -q --release --bin patchdeck)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
RECHECK=$(cd "$REPO" && cargo bench --bench recheck --no-run 2>&1 | grep -o '[^ (]*release/deps/recheck-[0-9a-f]*' | head -n1)
case "$RECHECK" in /*) ;; *) RECHECK=$REPO/$RECHECK ;; esac
[ -x "$RECHECK" ] || { echo "bench.sh: cannot find the recheck bench binary" >&2; exit 1; }
# Copies: a target directory shared with other checkouts may be rebuilt under us.
BIN=$(mktemp -d)
cp "$TARGET/release/patchdeck" "$BIN/patchdeck"
cp "$RECHECK" "$BIN/recheck"
PD=$BIN/patchdeck RECHECK=$BIN/recheck

MAX=0; for n in $SIZES; do [ "$n" -gt "$MAX" ] && MAX=$n; done
# Ansible's -m command runs a Python module on each host: the bench's base has python3.
D=$(PD_FLEET_EXTRA_PACKAGES=${PD_FLEET_EXTRA_PACKAGES:-python3} "$HERE/up.sh" --instance "$INSTANCE" --hosts "$MAX")
if [ "$KEEP" -eq 1 ]; then trap 'rm -rf "$BIN"' EXIT
else trap '"$HERE/down.sh" --instance "$INSTANCE" || true; rm -rf "$BIN"' EXIT; fi
SSH_PORT=$(sed -n 's/^SSH_PORT=//p' "$D/fleet.env")
addr() { sed -n "s/^HOST_ADDR_${1//-/_}=//p" "$D/fleet.env"; }
hosts_of() { for ((i = 1; i <= $1; i++)); do printf 'prod-n%03d\n' "$i"; done; }
W=$D/bench; mkdir -p "$W"
if [ -n "$KEX" ]; then
  [[ $KEX =~ ^[a-z0-9@.,+-]+$ ]] || { echo "bench.sh: bad --kex $KEX" >&2; exit 2; }
  sed -i "1i KexAlgorithms $KEX" "$D/ssh_config"
fi
# What ssh negotiates with these settings, for the record.
NEGOTIATED=$(ssh -v -F "$D/ssh_config" -p "$SSH_PORT" "root@$(addr prod-n001)" true 2>&1 </dev/null \
  | tr -d '\r' | sed -n 's/^debug1: kex: algorithm: //p' | head -n1)
log "key exchange: ${NEGOTIATED:-unknown}"

# Inputs for every tool, per size.
"$PD" baseline capture "$D/runbook.toml" --host staging -o "$D/tested.toml" >&2
for n in $SIZES; do
  mapfile -t hs < <(hosts_of "$n")
  # Inventory: staging (the baseline host) and the N hosts, copied from hosts.toml.
  awk -v keep="staging ${hs[*]}" 'BEGIN { split(keep, k, " "); for (i in k) want[k[i]] = 1 }
    /^\[\[host\]\]/ { if (blk != "" && ok) printf "%s", blk; blk = ""; ok = 0; started = 1 }
    /^name = / { n = $3; gsub(/"/, "", n); ok = (n in want) }
    { if (started) blk = blk $0 "\n"; else print }
    END { if (ok) printf "%s", blk }' "$D/hosts.toml" >"$D/hosts-$n.toml"
  { awk '/^\[\[wave\]\]/ { exit } { print }' "$D/runbook.toml" | sed "s/^file = \"hosts.toml\"/file = \"hosts-$n.toml\"/"
    printf '[[wave]]\nname = "bench"\nhosts = [%s]\n\n[[step]]\nname = "apply tested updates"\npackages = "tested"\n' \
      "$(printf '"%s",' "${hs[@]}" | sed 's/,$//')"
  } >"$D/bench-$n.toml"
  : >"$W/pssh-$n"; : >"$W/ansible-$n"; echo "[all:vars]" >/dev/null
  for h in "${hs[@]}"; do
    echo "root@$(addr "$h"):$SSH_PORT" >>"$W/pssh-$n"
    echo "$h ansible_host=$(addr "$h") ansible_port=$SSH_PORT ansible_user=root" >>"$W/ansible-$n"
  done
  printf '[all:vars]\nansible_ssh_common_args=-F %s\nansible_python_interpreter=/usr/bin/python3\n' "$D/ssh_config" >>"$W/ansible-$n"
  { echo '#!/bin/sh'
    for h in "${hs[@]}"; do echo "ssh -F $D/ssh_config -p $SSH_PORT root@$(addr "$h") 'apt list --upgradable' </dev/null"; done
  } >"$W/seq-$n.sh"
  chmod +x "$W/seq-$n.sh"
done

# patchdeck keeps apt's answers here (its default is ~/.cache/patchdeck/probe).
export XDG_CACHE_HOME=$W/cache
rm -rf "$XDG_CACHE_HOME"
log "warm-up: one discarded check of all $MAX hosts (builds each host's apt cache)"
# --fresh=per-host: every host's apt runs once (a shared check would build only one cache).
(cd "$D" && "$PD" check --fresh=per-host "bench-$MAX.toml" >/dev/null) || true

Q="apt list --upgradable"
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_HOST_KEY_CHECKING=true
RAW_ARGS="-o ControlMaster=no -o ControlPath=none"
# Ansible's default ssh_args; its masters live in ACP, and are ended before every run.
CMD_ARGS="-C -o ControlMaster=auto -o ControlPersist=60s" ACP=$W/ansible-cp
mkdir -p "$ACP"
cat >"$W/end-masters.sh" <<END
#!/bin/sh
for s in "$ACP"/*; do [ -S "\$s" ] && ssh -o ControlPath="\$s" -O exit x 2>/dev/null; done
rm -f "$ACP"/*; exit 0
END
chmod +x "$W/end-masters.sh"
CP=$W/cp
for n in $SIZES; do
  log "size $n: cold tools (hyperfine, $RUNS runs each)"
  hyperfine -N --runs "$RUNS" -i --style basic --export-json "$W/cold-$n.json" --prepare "$W/end-masters.sh" \
    -n "patchdeck fresh" "$PD check --fresh $D/bench-$n.toml" \
    -n "patchdeck per-host" "$PD check --fresh=per-host $D/bench-$n.toml" \
    -n "patchdeck cold" "$PD check $D/bench-$n.toml" \
    -n "ssh sequential" "$W/seq-$n.sh" \
    -n "parallel-ssh" "parallel-ssh -p 50 -t 0 -h $W/pssh-$n -x '-F $D/ssh_config' -i '$Q'" \
    -n "ansible command" "env 'ANSIBLE_SSH_ARGS=$CMD_ARGS' ANSIBLE_SSH_CONTROL_PATH_DIR=$ACP ansible all -i $W/ansible-$n -m command -a '$Q' -f 50" \
    -n "ansible raw" "env 'ANSIBLE_SSH_ARGS=$RAW_ARGS' ansible all -i $W/ansible-$n -m raw -a '$Q' -f 50" >&2
  log "size $n: pssh over open ControlMasters"
  rm -rf "$CP"; mkdir -p "$CP"
  for h in $(hosts_of "$n"); do
    ssh -F "$D/ssh_config" -p "$SSH_PORT" -o ControlMaster=yes -o "ControlPath=$CP/%C" -o ControlPersist=900 -fN "root@$(addr "$h")"
  done
  hyperfine -N --runs "$RUNS" -i --style basic --export-json "$W/warm-$n.json" \
    -n "parallel-ssh warm" "parallel-ssh -p 50 -t 0 -h $W/pssh-$n -x '-F $D/ssh_config -o ControlMaster=no -o ControlPath=$CP/%C' -i '$Q'" >&2
  for h in $(hosts_of "$n"); do
    ssh -F "$D/ssh_config" -p "$SSH_PORT" -o "ControlPath=$CP/%C" -O exit "root@$(addr "$h")" 2>/dev/null || true
  done
  log "size $n: patchdeck warm (benches/recheck, 1 cold + $RUNS warm passes)"
  (cd "$D" && "$RECHECK" "bench-$n.toml" $((RUNS + 1))) | tee "$W/recheck-$n.txt" >&2
done

# Results: table + raw numbers, into OUT between the markers.
MACHINE="nproc $(nproc), $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
python3 - "$W" "$SIZES" "$OUT" "$MACHINE" "$(date -u +%Y-%m-%dT%H:%MZ)" "$(cat /proc/loadavg)" "${NEGOTIATED:-unknown}${KEX:+ (--kex $KEX)}" <<'PY'
import json, statistics, sys, re
w, sizes, out, machine, date, load, kex = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
rows, raw = [], []
for n in sizes:
    res = {}
    for f in (f"{w}/cold-{n}.json", f"{w}/warm-{n}.json"):
        for r in json.load(open(f))["results"]:
            res[r["command"]] = r["times"]
    warm = [float(m.group(1)) for m in re.finditer(r"pass \d+ warm ([0-9.]+) s", open(f"{w}/recheck-{n}.txt").read())]
    res["patchdeck warm"] = warm
    pf, pc, pw = (statistics.median(res[k]) for k in ("patchdeck fresh", "patchdeck cold", "patchdeck warm"))
    for tool in ["patchdeck fresh", "patchdeck per-host", "patchdeck cold", "patchdeck warm", "ssh sequential", "parallel-ssh", "ansible command", "ansible raw", "parallel-ssh warm"]:
        t = res[tool]
        med = statistics.median(t)
        if tool.startswith("patchdeck"):
            ratio = fresh = ""
        elif tool.endswith("warm"):
            ratio, fresh = f"{pw / med:.2f}", ""
        else:
            ratio, fresh = f"{pc / med:.2f}", f"{pf / med:.2f}"
        rows.append(f"| {n} | {tool} | {med:.2f} | {min(t):.2f} | {max(t):.2f} | {ratio} | {fresh} |")
        raw.append(f"{n:>3} {tool:<18} " + " ".join(f"{x:.2f}" for x in t))
table = ["| prod hosts | what | median s | min s | max s | patchdeck / this | fresh / this |", "|---:|---|---:|---:|---:|---:|---:|"] + rows
text = "\n".join([
    f"Run {date} on {machine}; ssh key exchange: {kex}; load average at the end: {load}.", "",
    "Ratios: `patchdeck cold` (and `patchdeck fresh`) / each cold tool, `patchdeck warm` / `parallel-ssh warm`.", "",
    *table, "", "Raw seconds (each run):", "", "```", *raw, "```", ""])
print(text)
doc = open(out).read() if __import__("os").path.exists(out) else "<!-- bench.sh results begin -->\n<!-- bench.sh results end -->\n"
b, e = "<!-- bench.sh results begin -->", "<!-- bench.sh results end -->"
i, j = doc.index(b) + len(b), doc.index(e)
open(out, "w").write(doc[:i] + "\n" + text + doc[j:])
PY
log "results written to $OUT"
