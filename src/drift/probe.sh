# patchdeck drift probe: the host's configuration map, read-only, in the probe's round trip.
# Self-contained (its own helpers, prefixed pd_d): it may be merged beside any other part of
# the probe. Every line it prints starts with a kind word and a tab, so no host text can
# open a section. Only checksums leave the host for files; the small network, kernel and
# service listings leave as text and are normalized by patchdeck before anything is kept.
# File names with a newline or a backslash are skipped (md5sum escapes them).
# It runs on every host at every check: what the shell can read itself (names, /etc/hosts,
# the resolver, the kernel's release) it reads without starting a process, and on a host
# whose files and sysctls have not moved it starts three: find, grep and sha256sum (plus
# ip, once per listing, where iproute2 is installed). See BENCHMARKS.md, "Configuration map".
pd_d_etc=/etc
pd_d_proc=/proc
pd_d_has() { command -v "$1" >/dev/null 2>&1; }

# Who this host is: its names and addresses are replaced by placeholders before comparing.
# The configured name (/etc/hostname) first: a container or chroot shares the kernel's.
pd_d_name=''
if [ -r "$pd_d_etc/hostname" ]; then read -r pd_d_name <"$pd_d_etc/hostname" 2>/dev/null; fi
pd_d_kname=''
if [ -r "$pd_d_proc/sys/kernel/hostname" ]; then read -r pd_d_kname <"$pd_d_proc/sys/kernel/hostname" 2>/dev/null; fi
[ -n "$pd_d_kname" ] || pd_d_kname=$(uname -n 2>/dev/null)
[ -n "$pd_d_name" ] || pd_d_name=$pd_d_kname
pd_d_short=${pd_d_name%%.*}
pd_d_ids=''
pd_d_names=''
pd_d_long=''
pd_d_id() {
  # Only plain tokens (a name, an address, a machine id) of 3 characters or more.
  case "$2" in ''|??|?|*[!A-Za-z0-9.:-]*|localhost|localhost.*|127.0.0.1|::1) return ;; esac
  case " $pd_d_ids " in *" $2 "*) return ;; esac
  pd_d_ids="$pd_d_ids $2"
  # The short name last: a fully qualified name is replaced whole, before its first label.
  if [ "$1" = name ]; then pd_d_names="$pd_d_names $2"; else pd_d_long="$pd_d_long $2"; fi
  printf 'id\t%s\t%s\n' "$1" "$2"
}
pd_d_id name "$pd_d_short"
if [ "$pd_d_name" != "$pd_d_short" ]; then pd_d_id fqdn "$pd_d_name"; fi
pd_d_id name "${pd_d_kname%%.*}"
if [ "$pd_d_kname" != "${pd_d_kname%%.*}" ]; then pd_d_id fqdn "$pd_d_kname"; fi
if [ -n "$pd_d_short" ] && [ -r "$pd_d_etc/hosts" ]; then
  # Lines naming this host: their addresses and fully qualified names are its own. Split by
  # the shell into fields (never globbed: set -f), comments cut.
  set -f
  while IFS= read -r pd_d_l || [ -n "$pd_d_l" ]; do
    # shellcheck disable=SC2086
    set -- ${pd_d_l%%#*}
    pd_d_l=''
    [ $# -ge 2 ] || continue
    pd_d_a=$1
    shift
    pd_d_mine=''
    for pd_d_v; do case "$pd_d_v" in "$pd_d_short"|"$pd_d_short".*) pd_d_mine=1 ;; esac; done
    [ -n "$pd_d_mine" ] || continue
    pd_d_id addr "$pd_d_a"
    for pd_d_v; do case "$pd_d_v" in "$pd_d_short".*) pd_d_id fqdn "$pd_d_v" ;; esac; done
  done <"$pd_d_etc/hosts"
  set +f
fi
# The addresses the kernel has, read once: the network listing below sends them too.
pd_d_ipaddr=''
if pd_d_has ip; then
  pd_d_ipaddr=$(ip -o addr show 2>/dev/null)
  while read -r pd_d_x pd_d_x pd_d_a pd_d_v pd_d_x; do
    case "$pd_d_a" in inet|inet6) pd_d_id addr "${pd_d_v%%/*}" ;; esac
  done <<EOF
$pd_d_ipaddr
EOF
fi
if [ -r "$pd_d_etc/machine-id" ] && read -r pd_d_v <"$pd_d_etc/machine-id" 2>/dev/null; then pd_d_id machine "$pd_d_v"; fi

# The map's two costly parts are each sent only when their digest moved (as apt's answer
# is): the files (conffiles, unowned files, checksums) behind a digest of the metadata of
# /etc and of dpkg's database (path, size, mtime, ctime, inode, mode, owner: ctime cannot
# be set back by hand) and of this host's names; the `net.*` sysctls behind a digest of
# the lines sent for them. When a digest equals the one patchdeck kept with the lines from
# last time (PD_KNOWN_DRIFT_FILES, PD_KNOWN_DRIFT_SYSCTL), the host says `unchanged` and
# the kept lines stand (src/probe/kept_drift.rs).
#
# One find reads the inputs of both: the host's names and the metadata, then the sysctls
# (the last start point, so that head's batches come after every metadata line), each
# value (its first 4 KiB: more than any net.* value holds) under a `==> path <==` header.
# head, not grep: it reads a procfs file with a small buffer, which the kernel zeroes on
# every read. Values that change by themselves are left out, so that no digest moves with
# them (the same names as VOLATILE_SYSCTL_SUFFIXES in src/drift/map.rs). Only GNU find
# prints metadata (and the `ids` line first): busybox's fails, and then the files are
# always sent and the sysctls read by pd_d_sysctls.
pd_d_sysctls() {
  find "$pd_d_proc/sys/net" -type f ! -name '*_count' ! -name '*rss_key' ! -name '*fastopen_key' \
    ! -name '*stable_secret' ! -name '*hash_secret' -exec head -v -c 4096 -- {} + 2>/dev/null
}
pd_d_sysdir=''
if [ -d "$pd_d_proc/sys/net" ]; then pd_d_sysdir=1; fi
# find's arguments, in "$@" (not a function: the shell then starts find without a fork of
# its own): /etc, dpkg's database where there is one (a missing start point would be an
# error every time), the sysctls.
set -- "$pd_d_etc"
for pd_d_v in /var/lib/dpkg/status /var/lib/dpkg/info /var/lib/dpkg/updates; do
  if [ -e "$pd_d_v" ]; then set -- "$@" "$pd_d_v"; fi
done
if [ -n "$pd_d_sysdir" ]; then set -- "$@" "$pd_d_proc/sys/net"; fi
set -- "$@" \( -path "$pd_d_proc/sys/net*" \( -type f -regextype posix-extended \
    ! -regex '.*(_count|rss_key|fastopen_key|stable_secret|hash_secret)' -exec head -v -c 4096 -- {} + -o -true \) \) \
  -o \( -path "$pd_d_etc" -printf "ids$pd_d_ids\n" -false \) \
  -o \( -path '/var/lib/dpkg/*' -prune -printf '%p\t%s\t%T@\t%C@\t%i\n' \) \
  -o -printf '%p\t%s\t%T@\t%C@\t%i\t%m\t%U\t%G\t%l\n'
pd_d_hex() { case "$1" in *[!0-9a-f]*|'') return 1 ;; esac; [ ${#1} -eq 64 ]; }
# What was read, whole, has a digest of its own (PD_KNOWN_DRIFT_MAP): when it equals the
# one kept, neither part moved, and one find, one head and one sha256sum said so.
pd_d_md=''
pd_d_same=''
if pd_d_hex "${PD_KNOWN_DRIFT_MAP:-}" && pd_d_hex "${PD_KNOWN_DRIFT_FILES:-}"; then
  pd_d_md=$(find "$@" 2>/dev/null | sha256sum 2>/dev/null)
  pd_d_md=${pd_d_md%% *}
  if [ "$pd_d_md" = "$PD_KNOWN_DRIFT_MAP" ]; then
    if [ -z "$pd_d_sysdir" ] || pd_d_hex "${PD_KNOWN_DRIFT_SYSCTL:-}"; then pd_d_same=1; fi
  fi
fi
pd_d_fd=''
pd_d_sd=''
pd_d_syslines=''
if [ -n "$pd_d_same" ]; then
  printf 'kept\tmap\tunchanged\t%s\n' "$pd_d_md"
  pd_d_fd=$PD_KNOWN_DRIFT_FILES
  pd_d_sd=${PD_KNOWN_DRIFT_SYSCTL:-}
else
  # Something moved (or nothing was kept): read again, once, and take every digest and the
  # sysctls' lines from that one reading (held whole: `.` keeps its last newlines), so that
  # what is kept under a digest is what was read for it. The files' lines are read after
  # it: a file changed in between moves the next digest.
  pd_d_nl='
'
  pd_d_all=$(find "$@" 2>/dev/null; echo .)
  pd_d_all=${pd_d_all%.}
  pd_d_gnu=''
  case "$pd_d_all" in ids*) pd_d_gnu=1 ;; esac
  if [ -z "$pd_d_gnu" ] && [ -n "$pd_d_sysdir" ]; then pd_d_all=$(pd_d_sysctls); fi
  # The metadata: everything before the first sysctl's header.
  pd_d_meta=${pd_d_all%%"$pd_d_nl==> $pd_d_proc/sys/net/"*}
  if [ -n "$pd_d_sysdir" ]; then
    # Sent as `path:value` lines (as `grep -r '' /proc/sys/net` prints them). head puts an
    # empty line before every header but the first: dropped, and only it.
    pd_d_syslines=$(printf '%s' "$pd_d_all" | awk -v h="==> $pd_d_proc/sys/net/" '
      !on { if (index($0, h) != 1) next; on = 1 }
      /^==> .* <==$/ { f = substr($0, 5, length($0) - 8); gap = 0; next }
      $0 == "" { if (gap) print "sysctl\t" f ":"; gap = 1; next }
      { if (gap) print "sysctl\t" f ":"; gap = 0; print "sysctl\t" f ":" $0 }
      END { if (gap) print "sysctl\t" f ":" }')
  fi
  # The three digests from one sha256sum: the whole reading (as the first pass hashes it:
  # a here-document adds the last newline), the names and metadata, the sysctls' lines.
  pd_d_all=${pd_d_all%"$pd_d_nl"}
  pd_d_sums=$(sha256sum /proc/self/fd/3 /proc/self/fd/5 /proc/self/fd/6 2>/dev/null 3<<PD_D_ALL 5<<PD_D_META 6<<PD_D_SYS
$pd_d_all
PD_D_ALL
$pd_d_meta
PD_D_META
$pd_d_syslines
PD_D_SYS
)
  while read -r pd_d_v pd_d_a; do
    pd_d_hex "$pd_d_v" || continue
    case "$pd_d_a" in /proc/self/fd/3) pd_d_md=$pd_d_v ;; /proc/self/fd/5) pd_d_fd=$pd_d_v ;; /proc/self/fd/6) pd_d_sd=$pd_d_v ;; esac
  done <<EOF
$pd_d_sums
EOF
  if [ -z "$pd_d_gnu" ]; then pd_d_md=''; pd_d_fd=''; fi
  printf 'kept\tmap\tfresh\t%s\n' "$pd_d_md"
fi

if [ -n "$pd_d_same" ] || { [ -n "$pd_d_fd" ] && [ "$pd_d_fd" = "${PD_KNOWN_DRIFT_FILES:-}" ]; }; then
  printf 'kept\tfiles\tunchanged\t%s\n' "$pd_d_fd"
else
printf 'kept\tfiles\tfresh\t%s\n' "$pd_d_fd"

# Conffiles of installed packages with the package's md5 (obsolete ones left out).
pd_d_cf=''
if pd_d_has dpkg-query; then
  pd_d_cf=$(dpkg-query -W -f='${db:Status-Abbrev}${Package}\n${Conffiles}\n' 2>/dev/null | awk '
    /^[a-z][a-z ][a-z ]/ { pkg = substr($0, 4); next }
    /^ \// { n = split($0, f, " "); if (f[n] == "obsolete" || f[n] == "remove-on-upgrade") next
             md5 = f[n]; path = substr($0, 2, length($0) - length(md5) - 2)
             if (pkg ~ /^[a-z0-9][a-z0-9+.-]*$/ && length(md5) == 32 && md5 ~ /^[0-9a-f]+$/) printf "cf\t%s\t%s\t%s\n", pkg, md5, path }')
  printf '%s\n' "$pd_d_cf"
fi

# Files under /etc no package owns (dpkg's file lists name every owned path).
pd_d_unowned=$( {
    if [ -d /var/lib/dpkg/info ]; then grep -h "^$pd_d_etc/" /var/lib/dpkg/info/*.list 2>/dev/null; fi
    echo '@@end-owned'
    find "$pd_d_etc" -type f 2>/dev/null
  } | awk 'listed == 0 { if ($0 == "@@end-owned") listed = 1; else owned[$0] = 1; next } !($0 in owned)')

# One md5sum for every file; files naming this host again, with the names replaced.
pd_d_files=$( { printf '%s\n' "$pd_d_cf" | cut -f4; printf '%s\n' "$pd_d_unowned"; } | grep '^/' | sort -u)
if [ -n "$pd_d_files" ]; then
  printf '%s\n' "$pd_d_files" | tr '\n' '\0' | xargs -0 md5sum 2>/dev/null | sed -n 's/^\([0-9a-f]\{32\}\)  \//sum\t\1\t\//p'
  pd_d_grep=''
  pd_d_sed=''
  for pd_d_v in $pd_d_long $pd_d_names; do
    pd_d_grep="$pd_d_grep -e $pd_d_v"
    pd_d_sed="$pd_d_sed -e s|\\b$(printf '%s' "$pd_d_v" | sed 's/\./\\./g')\\b|@SELF@|g"
  done
  if [ -n "$pd_d_grep" ]; then
    # Tokens were checked to be [A-Za-z0-9.:-]: splitting is safe, globbing is off.
    # shellcheck disable=SC2086
    printf '%s\n' "$pd_d_files" | tr '\n' '\0' | (set -f; xargs -0 grep -l -w -F $pd_d_grep -- 2>/dev/null) |
      while IFS= read -r pd_d_f; do
        # shellcheck disable=SC2086
        pd_d_m=$( (set -f; sed $pd_d_sed -- "$pd_d_f") 2>/dev/null | md5sum)
        printf 'norm\t%s\t%s\n' "${pd_d_m%% *}" "$pd_d_f"
      done
  fi
fi
fi

# The network as the kernel sees it and as it is configured: one awk tags every listing
# of a command (the resolver's lines the shell reads and tags itself).
if [ -r "$pd_d_etc/resolv.conf" ]; then
  while IFS= read -r pd_d_l || [ -n "$pd_d_l" ]; do
    pd_d_v=${pd_d_l#"${pd_d_l%%[![:space:]]*}"}
    case "$pd_d_v" in '#'*|';'*) ;; *) printf 'resolv\t%s\n' "$pd_d_l" ;; esac
    pd_d_l=''
  done <"$pd_d_etc/resolv.conf"
fi
if pd_d_has ip || pd_d_has nft || pd_d_has iptables-save; then
  {
    if pd_d_has ip; then
      echo '@@pd-drift-kind:link'; ip -o link show
      if [ -n "$pd_d_ipaddr" ]; then echo '@@pd-drift-kind:addr'; printf '%s\n' "$pd_d_ipaddr"; fi
      echo '@@pd-drift-kind:route'; ip route show
      echo '@@pd-drift-kind:route6'; ip -6 route show
      echo '@@pd-drift-kind:rule'; ip rule show
    fi
    if pd_d_has nft; then echo '@@pd-drift-kind:nft'; nft list ruleset; fi
    if pd_d_has iptables-save; then echo '@@pd-drift-kind:iptables'; iptables-save; fi
  } 2>/dev/null | awk '/^@@pd-drift-kind:[a-z0-9]+$/ { k = substr($0, 17); next } k != "" { print k "\t" $0 }'
fi

# `net.*` sysctls: a thousand values, sent only when their digest moved.
if [ -n "$pd_d_sysdir" ]; then
  if [ -n "$pd_d_same" ] || { [ -n "$pd_d_sd" ] && [ "$pd_d_sd" = "${PD_KNOWN_DRIFT_SYSCTL:-}" ]; }; then
    printf 'kept\tsysctl\tunchanged\t%s\n' "$pd_d_sd"
  else
    printf 'kept\tsysctl\tfresh\t%s\n' "$pd_d_sd"
    if [ -n "$pd_d_syslines" ]; then printf '%s\n' "$pd_d_syslines"; fi
  fi
fi

# The running kernel, its command line, and the services enabled at boot.
pd_d_v=''
if [ -r "$pd_d_proc/sys/kernel/osrelease" ]; then read -r pd_d_v <"$pd_d_proc/sys/kernel/osrelease" 2>/dev/null; fi
[ -n "$pd_d_v" ] || pd_d_v=$(uname -r 2>/dev/null)
printf 'kernel\trelease\t%s\n' "$pd_d_v"
if [ -r /proc/cmdline ] && read -r pd_d_v </proc/cmdline 2>/dev/null; then printf 'kernel\tcmdline\t%s\n' "$pd_d_v"; fi
# Enabled: the links `systemctl enable` makes (what list-unit-files --state=enabled reads,
# without its second of CPU per probe), named with the target that pulls them in.
for pd_d_f in "$pd_d_etc"/systemd/system/*.wants/* "$pd_d_etc"/systemd/system/*.requires/*; do
  if [ -e "$pd_d_f" ] || [ -h "$pd_d_f" ]; then pd_d_t=${pd_d_f%/*}; printf 'svc\t%s/%s\n' "${pd_d_t##*/}" "${pd_d_f##*/}"; fi
done
echo 'end'
