#!/usr/bin/env bash
# Faults for drills and tests, on one host of a running fleet:
#
#   tests/fleet/fault.sh [--instance NAME] kill-sshd HOST   # sshd and its sessions die: unreachable
#   tests/fleet/fault.sh [--instance NAME] break-web HOST   # the page disappears: http check gets 404
#   tests/fleet/fault.sh [--instance NAME] hang-apt HOST    # a process holds dpkg's locks forever
#   tests/fleet/fault.sh [--instance NAME] interrupt-dpkg HOST  # dpkg killed mid-run: a package
#                                                           # half-configured, its journal unmerged
#   tests/fleet/fault.sh [--instance NAME] power-off HOST   # every process of the host killed at
#                                                           # once (SIGKILL), sshd and whatever
#                                                           # ran detached: as a power cut
#   tests/fleet/fault.sh [--instance NAME] power-on HOST    # after power-off: /run emptied (a
#                                                           # tmpfs), sshd and httpd started
#   tests/fleet/fault.sh [--instance NAME] restore HOST     # undoes all of the above
#
# Processes started here are recorded in the fleet's state file like up.sh's, so down.sh
# (or the next up.sh) stops them too.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root
while [ $# -gt 0 ]; do
  case "$1" in
    --instance) PD_FLEET_INSTANCE=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || die "usage: fault.sh [--instance NAME] kill-sshd|break-web|hang-apt|interrupt-dpkg|power-off|power-on|restore HOST"
check_instance
what=$1 host=$2
load_host "$host"
root=$(host_root "$host")
page=$root/var/www/pd-web/index.html

case "$what" in
  kill-sshd)
    # The listener and every session under it: the host vanishes as with a crashed sshd.
    for pid in $(live_pids "$host" sshd); do kill_tree "$pid"; done
    # Gone means refusing connections now, not in a moment.
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/$ADDR/$SSH_PORT") 2>/dev/null || break; sleep 0.1; done
    ;;
  break-web)
    # Server still up, page gone: a 404, as after a bad deploy.
    [ -e "$page" ] && mv "$page" "$page.pd-broken"
    ;;
  hang-apt)
    # apt and dpkg take fcntl locks on these files; a process holding them (as a hung
    # unattended-upgrades would) makes every apt/dpkg run wait or fail. perl-base is
    # Essential, so it is in every host. struct flock on 64-bit Linux: short type, short
    # whence, (pad), off_t start, off_t len, pid_t pid, (pad).
    start_in_host "$host" hang-apt "$(instance_dir)/hosts/$host/hang-apt.log" perl -e '
      use Fcntl;
      $| = 1;
      my @held;
      for my $f ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock") {
        open(my $h, ">>", $f) or die "$f: $!";
        my $lock = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0);   # fcntl writes into it
        fcntl($h, F_SETLKW, $lock) or die "lock $f: $!";
        push @held, $h;
      }
      print "holding the dpkg locks\n";
      sleep 3600 while 1;' >/dev/null
    for _ in $(seq 50); do grep -q holding "$(instance_dir)/hosts/$host/hang-apt.log" && break; sleep 0.1; done
    grep -q holding "$(instance_dir)/hosts/$host/hang-apt.log" || die "hang-apt did not take the locks"
    ;;
  interrupt-dpkg)
    # What a lost session does to apt mid-run, made repeatable: dpkg installs pd-interrupt,
    # whose postinst kills that dpkg with SIGKILL the first time it configures. The package
    # is left half-configured (iF) and dpkg's journal (/var/lib/dpkg/updates/) unmerged,
    # /var/lib/dpkg/status untouched; apt refuses everything until `dpkg --configure -a`
    # (which then succeeds: the postinst kills only once).
    build=$(mktemp -d)
    mkdir -p "$build/DEBIAN"
    printf '%s\n' 'Package: pd-interrupt' 'Version: 1.0' 'Architecture: all' \
      'Maintainer: patchdeck tests <tests@example.invalid>' \
      'Description: kills its dpkg the first time it is configured' >"$build/DEBIAN/control"
    printf '%s\n' '#!/bin/sh' \
      'if [ "$1" = configure ] && [ ! -e /var/lib/pd-interrupt.killed ]; then' \
      '  : >/var/lib/pd-interrupt.killed' '  kill -9 "$PPID"' 'fi' 'exit 0' >"$build/DEBIAN/postinst"
    chmod 755 "$build/DEBIAN/postinst"
    rm -f "$root/var/lib/pd-interrupt.killed"
    dpkg-deb --build --root-owner-group "$build" "$root/tmp/pd-interrupt.deb" >/dev/null
    rm -rf "$build"
    { chroot "$root" env LC_ALL=C dpkg -i /tmp/pd-interrupt.deb >/dev/null 2>&1 </dev/null; } 2>/dev/null || true
    state=$(chroot "$root" dpkg-query -W -f='${db:Status-Abbrev}' pd-interrupt 2>/dev/null || true)
    [ "$state" = "iF " ] || die "interrupt-dpkg: pd-interrupt is '$state', not half-configured"
    ;;
  power-off)
    # Everything whose root is the host's root dies at once, without a chance to clean up:
    # sshd, its sessions, and what was started detached from them (a step's apt). Repeated
    # until none is left (a dying process may have been forking).
    real=$(realpath "$root")
    for _ in $(seq 50); do
      left=0
      for p in /proc/[0-9]*; do
        r=$(readlink "$p/root" 2>/dev/null) || continue
        case "$r" in "$real" | "$real"/*) ;; *) continue ;; esac
        grep -q '^State:.*Z' "$p/status" 2>/dev/null && continue
        kill -KILL "${p#/proc/}" 2>/dev/null && left=1
      done
      [ $left -eq 0 ] && break
      sleep 0.1
    done
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/$ADDR/$SSH_PORT") 2>/dev/null || break; sleep 0.1; done
    ;;
  power-on)
    # /run is a tmpfs: a boot starts it empty.
    find "$root/run" -mindepth 1 -delete
    mkdir -p "$root/run/lock"
    [ -n "$(live_pids "$host" sshd)" ] || start_sshd "$host"
    [ -n "$(live_pids "$host" httpd)" ] || start_httpd "$host"
    ;;
  restore)
    if chroot "$root" dpkg-query -W pd-interrupt >/dev/null 2>&1; then
      chroot "$root" env LC_ALL=C DEBIAN_FRONTEND=noninteractive dpkg --configure -a >/dev/null </dev/null
      chroot "$root" env LC_ALL=C dpkg --purge pd-interrupt >/dev/null </dev/null
      rm -f "$root/var/lib/pd-interrupt.killed" "$root/tmp/pd-interrupt.deb"
    fi
    for pid in $(live_pids "$host" hang-apt); do kill_tree "$pid"; done
    : >"$(instance_dir)/hosts/$host/hang-apt.log"
    if [ -e "$page.pd-broken" ]; then mv "$page.pd-broken" "$page"; fi
    [ -n "$(live_pids "$host" sshd)" ] || start_sshd "$host"
    [ -n "$(live_pids "$host" httpd)" ] || start_httpd "$host"
    ;;
  *) die "unknown fault $what (kill-sshd, break-web, hang-apt, interrupt-dpkg, power-off, power-on, restore)" ;;
esac
log "$what $host: done"
