#!/usr/bin/env bash
# Brings up the patchdeck test fleet and prints its directory (see lib.sh for the layout).
#
#   tests/fleet/up.sh [--instance NAME] [--hosts N] [--reach]
#       --instance NAME   default "manual" (env PD_FLEET_INSTANCE)
#       --reach           also a bastion and two hosts behind it whose login is a non-root
#                         user with sudo (see "Reach hosts" below); in reach-hosts.toml, not
#                         in hosts.toml or runbook.toml, so the fleet's own window is as without.
#       --hosts N         N more prod hosts prod-n001..prod-nN (0..200, default 0), each
#                         planted with nothing (like prod-clean); they are in hosts.toml and
#                         fleet.env (HOSTS, EXTRA_HOSTS) and in a last wave "extra" of
#                         runbook.toml.
#                         Used by the benchmarks (tests/fleet/bench.sh).
#
# Hosts (each a real Debian bookworm root: an overlayfs over the cached base, its own
# package state in its upper dir, its own sshd and busybox httpd on its own 127.0.K.x):
#   staging      the tested baseline is captured here (same as prod-clean)
#   prod-clean   nothing planted: check must find only tested updates
#   prod-extra   tree installed (tree +pd1 pending: an update staging never saw)
#   prod-newer   /srv/pdrepo-newer enabled (an extra apt source): less +pd2 instead of the
#                tested +pd1
#   prod-drift   /etc/network/interfaces differs from staging's; so do, with no fingerprint
#                naming them, /etc/sysctl.d/60-patchdeck.conf (only here), /etc/login.defs
#                (a conffile of login, changed locally) and /etc/pd-web/pd-web.conf (a
#                conffile of pd-web, which the window upgrades, changed locally)
#   prod-breaks  /etc/pd-web/local.conf: clean at check time, but pd-web 1.1's postinst
#                removes its page, so the http health check fails after the update
# Reach hosts (--reach), on 127.0.K.240+, each reached as user `deploy` through the bastion
# (ProxyJump in the generated ssh_config, which names them by address):
#   bastion      sshd only: the jump host (deploy may log in, forward, nothing else)
#   prod-sudo    like prod-clean; deploy has passwordless sudo (NOPASSWD: ALL)
#   prod-sudopw  like prod-clean; deploy's sudo needs a password (which it has none of)
# Every host has less +pd1 and pd-web 1.1 pending from /srv/pdrepo, and keeps the Debian
# mirror in its sources, so the installed versions stay installable (rollback).
# What differs per host and must not count as drift: the name (/etc/hostname, /etc/hosts),
# sshd_config naming the host and its own address, the ssh host keys.
#
# A previous instance of the same name (left running, or crashed) is torn down first.
# Warm start (base cached): a few seconds. Cold: add the base build (build-base.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root

while [ $# -gt 0 ]; do
  case "$1" in
    --instance) PD_FLEET_INSTANCE=$2; shift 2 ;;
    --hosts) EXTRA=$2; shift 2 ;;
    --reach) REACH=1; shift ;;
    *) die "usage: up.sh [--instance NAME] [--hosts N] [--reach]" ;;
  esac
done
check_instance
EXTRA=${EXTRA:-0}
[[ $EXTRA =~ ^[0-9]{1,3}$ ]] && [ "$EXTRA" -le 200 ] || die "--hosts takes 0..200, not $EXTRA"
EXTRA_HOSTS=()
for ((i = 1; i <= EXTRA; i++)); do EXTRA_HOSTS+=("$(printf 'prod-n%03d' "$i")"); done
FLEET_HOSTS+=("${EXTRA_HOSTS[@]}")
REACH_HOSTS=()
if [ "${REACH:-0}" = 1 ]; then REACH_HOSTS=(bastion prod-sudo prod-sudopw); fi
for tool in ssh-keygen mount chroot setsid flock; do
  command -v "$tool" >/dev/null || die "$tool is missing (openssh-client, util-linux)"
done
DIR=$(instance_dir)

if [ -d "$DIR" ]; then
  log "tearing down the previous fleet $PD_FLEET_INSTANCE (left over or crashed)"
  teardown_instance
fi
BASE=$("$FLEET_SRC/build-base.sh")
mkdir -p "$DIR/hosts"
: >"$DIR/state"
started=$SECONDS
# If anything below fails, undo what was done so far (the state file knows what).
trap 'rc=$?; if [ $rc -ne 0 ]; then log "up failed (exit $rc): tearing down"; teardown_instance || true; fi' EXIT

# Addresses 127.0.K.10+i: K from the instance name, so fleets of different instances (other
# worktrees) normally do not share addresses; ports are checked free anyway.
K=$(( $(printf '%s' "$PD_FLEET_INSTANCE" | cksum | cut -d' ' -f1) % 200 + 20 ))
addr_of() {
  local i
  for i in "${!FLEET_HOSTS[@]}"; do
    if [ "${FLEET_HOSTS[$i]}" = "$1" ]; then echo "127.0.$K.$((10 + i))"; return 0; fi
  done
  for i in "${!REACH_HOSTS[@]}"; do
    if [ "${REACH_HOSTS[$i]}" = "$1" ]; then echo "127.0.$K.$((240 + i))"; return 0; fi
  done
  die "unknown host $1"
}

# One ssh port and one web port for all hosts (each has its own address), free on all of
# them and on the wildcard address. Not 22/80: the machine may listen on those everywhere.
free_port_from() {
  local p=$1 h ok
  while [ "$p" -lt 65000 ]; do
    ok=1
    for h in "${FLEET_HOSTS[@]}" "${REACH_HOSTS[@]}"; do port_busy "$(addr_of "$h")" "$p" && ok=0; done
    [ $ok -eq 1 ] && { echo "$p"; return; }
    p=$((p + 1))
  done
  die "no free port"
}
SSH_PORT=$(free_port_from $((20000 + K * 50)))
WEB_PORT=$(free_port_from $((SSH_PORT + 1)))

ssh-keygen -q -t ed25519 -N '' -C "patchdeck-fleet-$PD_FLEET_INSTANCE" -f "$DIR/id_ed25519"
: >"$DIR/known_hosts"
# The client config patchdeck (and a person) uses for this fleet: isolated from ~/.ssh.
# The reach hosts' blocks come first: ssh_config takes the first value it finds.
: >"$DIR/ssh_config"
if [ ${#REACH_HOSTS[@]} -gt 0 ]; then
  cat >>"$DIR/ssh_config" <<CFG
# --reach: the bastion, and the hosts behind it, all logging in as deploy.
Host bastion
  HostName $(addr_of bastion)
  Port $SSH_PORT
  User deploy
Host $(addr_of prod-sudo) $(addr_of prod-sudopw)
  User deploy
  ProxyJump bastion

CFG
fi
cat >>"$DIR/ssh_config" <<CFG
Host *
  IdentityFile $DIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $DIR/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  User root
CFG

in_host() { chroot "$(host_root "$1")" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive "${@:2}"; }

# Mounts one host: overlay root, then /proc, a minimal /dev (tmpfs with the few nodes copied
# from the base, not a bind of the machine's /dev), a private /dev/pts, a tmpfs /run.
mount_host() {
  local h=$1 hd root
  hd="$DIR/hosts/$h"; root="$hd/root"
  mkdir -p "$hd/upper" "$hd/work" "$root"
  fleet_mount -t overlay "pd-$h" -o "lowerdir=$BASE,upperdir=$hd/upper,workdir=$hd/work" "$root"
  fleet_mount -t proc proc "$root/proc"
  fleet_mount -t tmpfs -o mode=755,size=1m,nosuid pd-dev "$root/dev"
  cp -a "$BASE"/dev/{null,zero,full,random,urandom,tty} "$root/dev/"
  mkdir -p "$root/dev/pts" "$root/dev/shm"
  ln -s pts/ptmx "$root/dev/ptmx"
  ln -s /proc/self/fd "$root/dev/fd"
  fleet_mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$root/dev/pts"
  fleet_mount -t tmpfs -o mode=755,size=16m,nosuid,nodev pd-run "$root/run"
  mkdir -p "$root/run/lock"
}

configure_host() {
  local h=$1 root addr
  root=$(host_root "$h"); addr=$(addr_of "$h")
  printf 'ADDR=%s\nSSH_PORT=%s\nWEB_PORT=%s\n' "$addr" "$SSH_PORT" "$WEB_PORT" >"$(host_env "$h")"
  echo "$h" >"$root/etc/hostname"
  printf '127.0.0.1 localhost\n%s %s\n' "$addr" "$h" >"$root/etc/hosts"
  # Today's resolver, not the one the base was built with: apt inside the host may still
  # reach the mirror (say, a rollback by hand of a package whose .deb the base did not keep).
  if [ -r /etc/resolv.conf ]; then cp -L /etc/resolv.conf "$root/etc/resolv.conf"; fi
  ssh-keygen -q -t ed25519 -N '' -C "root@$h" -f "$root/etc/ssh/ssh_host_ed25519_key"
  echo "[$addr]:$SSH_PORT $(cut -d' ' -f1,2 "$root/etc/ssh/ssh_host_ed25519_key.pub")" >>"$DIR/known_hosts"
  install -d -m 700 "$root/root/.ssh"
  install -m 600 "$DIR/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
  cat >"$root/etc/ssh/sshd_config" <<SSHD
# patchdeck fleet host $h: listens on its own loopback address only.
ListenAddress $addr:$SSH_PORT
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
MaxSessions 20
MaxStartups 50:30:100
PrintMotd no
LogLevel VERBOSE
Subsystem sftp /usr/lib/openssh/sftp-server
SSHD
}

# A reach host's login: user deploy (home, shell, the fleet key; password field `*`: no
# password, yet not locked, which sshd without PAM would refuse), and its sudo rule.
add_deploy() {
  local h=$1 root
  root=$(host_root "$h")
  in_host "$h" useradd -m -s /bin/sh deploy
  in_host "$h" usermod -p '*' deploy
  install -d -m 700 "$root/home/deploy/.ssh"
  install -m 600 "$DIR/id_ed25519.pub" "$root/home/deploy/.ssh/authorized_keys"
  in_host "$h" chown -R deploy:deploy /home/deploy/.ssh
  case "$h" in
    prod-sudo) echo 'deploy ALL=(root) NOPASSWD: ALL' >"$root/etc/sudoers.d/deploy" ;;
    prod-sudopw) echo 'deploy ALL=(root) ALL' >"$root/etc/sudoers.d/deploy" ;;
  esac
  [ -e "$root/etc/sudoers.d/deploy" ] && chmod 440 "$root/etc/sudoers.d/deploy"
  return 0
}

# The planted differences (see the header).
plant() {
  local h=$1 root
  root=$(host_root "$h")
  case "$h" in
    prod-extra)
      in_host "$h" sh -c 'dpkg -i /srv/pd-debs/tree_*.deb' >/dev/null ;;
    prod-newer)
      echo "deb [trusted=yes] file:/srv/pdrepo-newer ./" >"$root/etc/apt/sources.list.d/pdrepo-newer.list"
      # Read only the new list: no network, the mirror's lists stay as cached.
      in_host "$h" apt-get update -qq -o Dir::Etc::sourcelist=sources.list.d/pdrepo-newer.list \
        -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 </dev/null >/dev/null ;;
    prod-drift)
      printf '\nauto eth0\niface eth0 inet dhcp\n' >>"$root/etc/network/interfaces"
      # Drift no [[fingerprint]] names, found by the configuration map: a sysctl file, and a
      # conffile (login's) changed locally.
      printf 'vm.swappiness = 10\n' >"$root/etc/sysctl.d/60-patchdeck.conf"
      printf '\n# changed by hand on prod-drift\nUMASK 027\n' >>"$root/etc/login.defs"
      printf '# changed by hand on prod-drift\nPD_WEB_INDEX=home.html\n' >>"$root/etc/pd-web/pd-web.conf" ;;
    prod-breaks)
      mkdir -p "$root/etc/pd-web"
      printf '# local pd-web settings (1.0 format)\nPD_WEB_TITLE="shop"\n' >"$root/etc/pd-web/local.conf" ;;
  esac
  # The page names the host: render it now that /etc/hostname says who we are.
  in_host "$h" pd-web-render
}

for h in "${FLEET_HOSTS[@]}"; do
  mount_host "$h"
  configure_host "$h"
  plant "$h"
  start_sshd "$h"
  start_httpd "$h"
done
for h in "${REACH_HOSTS[@]}"; do
  mount_host "$h"
  configure_host "$h"
  add_deploy "$h"
  plant "$h"
  start_sshd "$h"
  [ "$h" = bastion ] || start_httpd "$h"
done

# The runbook (template with the web port filled in) and its hosts file.
# The window is placed around now (from five minutes ago, 90 minutes long): a window fixed in
# the calendar would meet its deadline once that day has passed.
WIN_STARTS=$(date -u -d '-5 minutes' +%Y-%m-%dT%H:%M:00Z)
WIN_ENDS=$(date -u -d '+85 minutes' +%Y-%m-%dT%H:%M:00Z)
sed -e "s/@WEB_PORT@/$WEB_PORT/g" -e "s/^starts = .*/starts = \"$WIN_STARTS\"/" \
  -e "s/^ends = .*/ends = \"$WIN_ENDS\"/" "$FLEET_SRC/runbook.toml" >"$DIR/runbook.toml"
if [ "$EXTRA" -gt 0 ]; then
  # Every inventory host must be in a wave: the extra hosts get one of their own.
  printf '\n# --hosts %s\n[[wave]]\nname = "extra"\nhosts = [%s]\nparallel = 10\n' "$EXTRA" \
    "$(printf '"%s",' "${EXTRA_HOSTS[@]}" | sed 's/,$//')" >>"$DIR/runbook.toml"
fi
# The window drills rehearse (scenarios in tests/fleet/drills/), over the same hosts.
sed "s/@WEB_PORT@/$WEB_PORT/g" "$FLEET_SRC/drill-runbook.toml" >"$DIR/drill-runbook.toml"
{
  echo "# Generated by tests/fleet/up.sh for fleet $PD_FLEET_INSTANCE."
  for h in "${FLEET_HOSTS[@]}"; do
    printf '\n[[host]]\nname = "%s"\naddress = "%s"\nport = %s\nuser = "root"\n' "$h" "$(addr_of "$h")" "$SSH_PORT"
  done
} >"$DIR/hosts.toml"
if [ ${#REACH_HOSTS[@]} -gt 0 ]; then
  # staging as in hosts.toml (the baseline is captured there), then the hosts behind the
  # bastion, by address (so checks from here reach them: {host.address} is that address).
  {
    echo "# Generated by tests/fleet/up.sh --reach for fleet $PD_FLEET_INSTANCE."
    printf '\n[[host]]\nname = "staging"\naddress = "%s"\nport = %s\nuser = "root"\n' "$(addr_of staging)" "$SSH_PORT"
    for h in prod-sudo prod-sudopw; do
      printf '\n[[host]]\nname = "%s"\naddress = "%s"\nport = %s\nuser = "deploy"\nsudo = true\n' "$h" "$(addr_of "$h")" "$SSH_PORT"
    done
  } >"$DIR/reach-hosts.toml"
fi
{
  echo "FLEET_DIR=$DIR"
  echo "FLEET_INSTANCE=$PD_FLEET_INSTANCE"
  echo "BASE=$BASE"
  echo "MIRROR=$(machine_mirror)"
  echo "RUNBOOK=$DIR/runbook.toml"
  echo "DRILL_RUNBOOK=$DIR/drill-runbook.toml"
  echo "SSH_CONFIG=$DIR/ssh_config"
  echo "KNOWN_HOSTS=$DIR/known_hosts"
  echo "IDENTITY=$DIR/id_ed25519"
  echo "SSH_PORT=$SSH_PORT"
  echo "WEB_PORT=$WEB_PORT"
  echo "HOSTS=${FLEET_HOSTS[*]}"
  echo "EXTRA_HOSTS=${EXTRA_HOSTS[*]}"
  echo "REACH_HOSTS=${REACH_HOSTS[*]}"
  for h in "${FLEET_HOSTS[@]}" "${REACH_HOSTS[@]}"; do
    echo "HOST_ADDR_${h//-/_}=$(addr_of "$h")"
  done
} >"$DIR/fleet.env"
trap - EXIT
log "fleet $PD_FLEET_INSTANCE up in $((SECONDS - started))s: ${#FLEET_HOSTS[@]} hosts on 127.0.$K.x, ssh port $SSH_PORT, web port $WEB_PORT"
log "try: patchdeck check $DIR/runbook.toml   (after: patchdeck baseline capture $DIR/runbook.toml)"
printf '%s\n' "$DIR"
