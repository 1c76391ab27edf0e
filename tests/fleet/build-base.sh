#!/usr/bin/env bash
# Builds (once) the cached base root every fleet host overlays, and prints its path.
#
# The base is `debootstrap --variant=minbase bookworm` from the machine's own mirror plus
# what the hosts need: openssh-server (each host runs its own sshd), ca-certificates,
# busybox (its httpd is each host's tiny web server: one small Debian package, already
# needed by nothing else, and no Python in minbase), sudo (the `--reach` hosts' non-root
# logins use it; up.sh), and the packages the planted updates
# are about: less (+pd1 for everyone, +pd2 for prod-newer), tree (only on prod-extra) and
# pd-web (our own two-file package; 1.1 breaks prod-breaks). It also holds the local apt
# repositories (/srv/pdrepo, /srv/pdrepo-newer): the repacked builds live inside the base,
# so no bind mounts are needed and a warm start touches no network; nor does a rollback (the
# original .debs stay in apt's cache, see below).
#
# PD_FLEET_EXTRA_PACKAGES (comma-separated Debian package names, default none) adds packages
# to the base: tests/fleet/bench.sh adds python3, which Ansible's `-m command` needs. The
# tests never set it; a base with extras is cached under its own key, next to theirs.
#
# Cold: ~2-3 min (debootstrap dominates). Warm: instant (the key below already exists).
# The cache key covers this script, pd-web's sources, the mirror, the architecture and the
# extra packages, so
# changing any of them builds a new base next to the old one. The build happens in
# base-KEY.tmp-PID and is renamed to base-KEY only when complete: a killed build never
# leaves a half cache, and the next build removes the leftover.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root

for tool in debootstrap dpkg-deb dpkg-scanpackages flock; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install debootstrap dpkg-dev; tests/run does it)"
done

MIRROR=$(machine_mirror)
ARCH=$(dpkg --print-architecture)
EXTRA=${PD_FLEET_EXTRA_PACKAGES:-}
[[ $EXTRA =~ ^$|^[a-z0-9][a-z0-9.+-]*(,[a-z0-9][a-z0-9.+-]*)*$ ]] \
  || die "PD_FLEET_EXTRA_PACKAGES must be comma-separated package names, not: $EXTRA"
KEY=$( { cat "$FLEET_SRC/build-base.sh" "$FLEET_SRC"/pd-web/*; echo "$MIRROR $SUITE $ARCH ${EXTRA}"; } | sha256sum | cut -c1-16)
FINAL=$PD_FLEET_CACHE/base-$KEY
INCLUDE=openssh-server,ca-certificates,busybox,sudo,less,tree${EXTRA:+,$EXTRA}

if [ -e "$FINAL/.pd-fleet-complete" ]; then printf '%s\n' "$FINAL"; exit 0; fi

mkdir -p "$PD_FLEET_CACHE"
# One builder at a time (parallel fleets in other worktrees wait, then reuse the result).
exec 9>"$PD_FLEET_CACHE/.lock"
flock -w 1800 9 || die "waited 30 min for another fleet build ($PD_FLEET_CACHE/.lock)"
if [ -e "$FINAL/.pd-fleet-complete" ]; then printf '%s\n' "$FINAL"; exit 0; fi

# Leftovers of killed builds: we hold the lock, so no build is running.
shopt -s nullglob
for old in "$PD_FLEET_CACHE"/base-*.tmp-*; do
  log "removing the unfinished build $old"
  while read -r mp; do [ -n "$mp" ] && umount "$mp"; done < <(mounts_under "$old")
  rm -rf --one-file-system "$old"
done
shopt -u nullglob

TMP=$FINAL.tmp-$$
WORK=$(mktemp -d)
cleanup() {
  local rc=$?
  while read -r mp; do [ -n "$mp" ] && umount "$mp" || true; done < <(mounts_under "$TMP")
  rm -rf "$WORK"
  if [ $rc -ne 0 ]; then rm -rf --one-file-system "$TMP"; log "base build failed (exit $rc)"; fi
}
trap cleanup EXIT

log "building the base root from $MIRROR ($SUITE, $ARCH): a few minutes, once"
started=$SECONDS
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$TMP" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
log "debootstrap done in $((SECONDS - started))s"

# apt inside the chroot wants /proc; unmounted by the trap.
mount -t proc proc "$TMP/proc"
in_base() { chroot "$TMP" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive "$@"; }

# Never start services inside a host root (there is no init; the fleet starts sshd and
# httpd itself): Debian's maintainer scripts ask policy-rc.d first.
printf '#!/bin/sh\nexit 101\n' >"$TMP/usr/sbin/policy-rc.d"
chmod 755 "$TMP/usr/sbin/policy-rc.d"
printf 'APT::Install-Recommends "false";\nAcquire::Languages "none";\n' >"$TMP/etc/apt/apt.conf.d/90patchdeck-fleet"

# Host keys are generated per host at fleet start: none may be shared.
rm -f "$TMP"/etc/ssh/ssh_host_*
mkdir -p "$TMP/etc/network"
cat >"$TMP/etc/network/interfaces" <<'IFACES'
# The fleet's reference /etc/network/interfaces (prod-drift's differs).
auto lo
iface lo inet loopback
IFACES

deb_of() { # the .deb debootstrap downloaded for package $1
  local f
  f=$(find "$TMP/var/cache/apt/archives" -maxdepth 1 -name "$1_*.deb" | head -n1)
  [ -n "$f" ] || die "debootstrap kept no .deb for $1"
  printf '%s\n' "$f"
}

# repack DEB SUFFIX OUTDIR: the same package with "SUFFIX" appended to its version, i.e. a
# newer build of exactly what is installed.
repack() {
  local deb=$1 suffix=$2 out=$3 x
  x=$(mktemp -d -p "$WORK")
  dpkg-deb -R "$deb" "$x/pkg"
  sed -i "s/^Version: .*/&$suffix/" "$x/pkg/DEBIAN/control"
  dpkg-deb -b "$x/pkg" "$out/" >/dev/null
}

# build_pd_web VERSION OUTDIR
build_pd_web() {
  local v=$1 out=$2 x
  x=$(mktemp -d -p "$WORK")
  mkdir -p "$x/pkg/DEBIAN" "$x/pkg/usr/sbin" "$x/pkg/usr/share/doc/pd-web"
  sed "s/@VERSION@/$v/" "$FLEET_SRC/pd-web/control.in" >"$x/pkg/DEBIAN/control"
  install -m 755 "$FLEET_SRC/pd-web/postinst-$v" "$x/pkg/DEBIAN/postinst"
  sed "s/@VERSION@/$v/" "$FLEET_SRC/pd-web/pd-web-render" >"$x/pkg/usr/sbin/pd-web-render"
  chmod 755 "$x/pkg/usr/sbin/pd-web-render"
  echo "pd-web $v: patchdeck test fleet package" >"$x/pkg/usr/share/doc/pd-web/README"
  # A conffile, the same in both versions: prod-drift changes it locally (a modified conffile
  # of a package the window upgrades), and dpkg keeps the change without asking.
  mkdir -p "$x/pkg/etc/pd-web"
  install -m 644 "$FLEET_SRC/pd-web/pd-web.conf" "$x/pkg/etc/pd-web/pd-web.conf"
  echo /etc/pd-web/pd-web.conf >"$x/pkg/DEBIAN/conffiles"
  dpkg-deb --root-owner-group -b "$x/pkg" "$out/" >/dev/null
}

REPO=$TMP/srv/pdrepo
NEWER=$TMP/srv/pdrepo-newer
mkdir -p "$REPO" "$NEWER" "$TMP/srv/pd-debs"
repack "$(deb_of less)" +pd1 "$REPO"
repack "$(deb_of tree)" +pd1 "$REPO"
repack "$(deb_of less)" +pd2 "$NEWER"
build_pd_web 1.0 "$REPO"
build_pd_web 1.1 "$REPO"
# prod-extra installs the original tree from here at fleet start (no network needed then).
cp "$(deb_of tree)" "$TMP/srv/pd-debs/"
# Flat repositories; -m keeps both pd-web versions (1.0 must stay installable for rollback).
(cd "$REPO" && dpkg-scanpackages -m . /dev/null >Packages 2>/dev/null)
(cd "$NEWER" && dpkg-scanpackages -m . /dev/null >Packages 2>/dev/null)

# Sources: the Debian mirror debootstrap used (so the installed versions stay installable,
# i.e. rollback is feasible) plus the local repository. Only the bookworm suite, not
# -updates or -security: their old versions vanish from the mirror, which would make
# rollback_infeasible appear and disappear with Debian's schedule.
echo "deb [trusted=yes] file:/srv/pdrepo ./" >"$TMP/etc/apt/sources.list.d/pdrepo.list"
in_base apt-get update -qq </dev/null >"$WORK/update.log" 2>&1 || { cat "$WORK/update.log" >&2; die "apt-get update in the base failed"; }
in_base dpkg --purge tree >/dev/null
echo base >"$TMP/etc/hostname"
in_base dpkg -i /srv/pdrepo/pd-web_1.0_all.deb >/dev/null
# apt's cache keeps the original .debs of the packages the local repositories have newer
# builds of (less, tree; pd-web 1.0 is in /srv/pdrepo): a rollback reinstalls them from
# there, so once the base is built no run downloads anything, and a rollback still works
# after the mirror has dropped those versions. The mirror stays in the sources, so apt still
# lists the installed versions as available (rollback feasible). The rest of what debootstrap
# downloaded goes.
mkdir "$WORK/keep"
cp "$(deb_of less)" "$(deb_of tree)" "$WORK/keep/"
in_base apt-get clean
cp "$WORK"/keep/*.deb "$TMP/var/cache/apt/archives/"

touch "$TMP/.pd-fleet-complete"
umount "$TMP/proc"
mv -T "$TMP" "$FINAL"
log "base ready in $((SECONDS - started))s: $FINAL"
printf '%s\n' "$FINAL"
