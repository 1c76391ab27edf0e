# patchdeck drift probe: the host's configuration map, read-only, in the probe's round trip.
# Self-contained (its own helpers, prefixed pd_d): it may be merged beside any other part of
# the probe. Every line it prints starts with a kind word and a tab, so no host text can
# open a section. Only checksums leave the host for files; the small network, kernel and
# service listings leave as text and are normalized by patchdeck before anything is kept.
# File names with a newline or a backslash are skipped (md5sum escapes them).
pd_d_etc=/etc
pd_d_has() { command -v "$1" >/dev/null 2>&1; }

# Who this host is: its names and addresses are replaced by placeholders before comparing.
# The configured name (/etc/hostname) first: a container or chroot shares the kernel's.
pd_d_name=''
if [ -r "$pd_d_etc/hostname" ]; then read -r pd_d_name <"$pd_d_etc/hostname" 2>/dev/null; fi
[ -n "$pd_d_name" ] || pd_d_name=$(uname -n 2>/dev/null)
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
pd_d_kname=$(uname -n 2>/dev/null)
pd_d_id name "${pd_d_kname%%.*}"
if [ "$pd_d_kname" != "${pd_d_kname%%.*}" ]; then pd_d_id fqdn "$pd_d_kname"; fi
if [ -r "$pd_d_etc/hosts" ]; then
  # Lines naming this host: their addresses and fully qualified names are its own.
  pd_d_hosts=$(awk -v s="$pd_d_short" '
    /^[ \t]*#/ { next }
    { sub(/#.*/, ""); mine = 0
      for (i = 2; i <= NF; i++) if ($i == s || index($i, s ".") == 1) mine = 1
      if (mine) { print "addr " $1; for (i = 2; i <= NF; i++) if (index($i, s ".") == 1) print "fqdn " $i } }
  ' "$pd_d_etc/hosts" 2>/dev/null)
  while read -r pd_d_k pd_d_v; do pd_d_id "$pd_d_k" "$pd_d_v"; done <<EOF
$pd_d_hosts
EOF
fi
if pd_d_has ip; then
  for pd_d_v in $(ip -o addr show 2>/dev/null | awk '$3 == "inet" || $3 == "inet6" { sub(/\/.*/, "", $4); print $4 }'); do
    pd_d_id addr "$pd_d_v"
  done
fi
if [ -r "$pd_d_etc/machine-id" ] && read -r pd_d_v <"$pd_d_etc/machine-id" 2>/dev/null; then pd_d_id machine "$pd_d_v"; fi

# The file part below (conffiles, unowned files, checksums) is the map's costly part. Its
# inputs are /etc's files and dpkg's database; a digest of their metadata (path, size,
# mtime, ctime, inode, mode, owner: ctime cannot be set back by hand) and of this host's
# names is cheap. When it equals the one patchdeck kept with the lines from last time
# (PD_KNOWN_DRIFT_FILES), the host says `unchanged` and the kept lines stand
# (src/probe/kept_drift.rs).
# Without GNU find's -printf (busybox: no output) or stat, no digest: the lines are always
# sent. A directory the login cannot read is left out alike each time (find goes on).
pd_d_fd=''
pd_d_meta=$(find "$pd_d_etc" -printf '%p\t%s\t%T@\t%C@\t%i\t%m\t%U\t%G\t%l\n' 2>/dev/null)
pd_d_dpkg=$(stat -c '%n %s %Y %Z %i' /var/lib/dpkg/status /var/lib/dpkg/info /var/lib/dpkg/updates 2>/dev/null)
if [ -n "$pd_d_meta" ] && [ -n "$pd_d_dpkg" ]; then
  pd_d_fd=$(printf 'ids%s\n%s\n%s\n' "$pd_d_ids" "$pd_d_meta" "$pd_d_dpkg" | sha256sum 2>/dev/null)
fi
pd_d_fd=${pd_d_fd%% *}
case "$pd_d_fd" in *[!0-9a-f]*|'') pd_d_fd='' ;; esac
if [ ${#pd_d_fd} -eq 64 ] && [ "$pd_d_fd" = "${PD_KNOWN_DRIFT_FILES:-}" ]; then
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
# (a process per command is the probe's main cost on the host).
{
  if pd_d_has ip; then
    echo '@@pd-drift-kind:link'; ip -o link show
    echo '@@pd-drift-kind:addr'; ip -o addr show
    echo '@@pd-drift-kind:route'; ip route show
    echo '@@pd-drift-kind:route6'; ip -6 route show
    echo '@@pd-drift-kind:rule'; ip rule show
  fi
  if [ -r "$pd_d_etc/resolv.conf" ]; then echo '@@pd-drift-kind:resolv'; grep -v '^[[:space:]]*[#;]' "$pd_d_etc/resolv.conf"; fi
  if pd_d_has nft; then echo '@@pd-drift-kind:nft'; nft list ruleset; fi
  if pd_d_has iptables-save; then echo '@@pd-drift-kind:iptables'; iptables-save; fi
} 2>/dev/null | awk '/^@@pd-drift-kind:[a-z0-9]+$/ { k = substr($0, 17); next } k != "" { print k "\t" $0 }'

# `net.*` sysctls: a thousand values, sent only when their digest moved (as the files are).
# Values that change by themselves are left out here, so that the digest does not move
# with them (the same list as VOLATILE_SYSCTL_SUFFIXES in src/drift/map.rs).
if [ -d /proc/sys/net ]; then
  pd_d_sys=$(grep -r -v -e '_count:' -e 'rss_key:' -e 'fastopen_key:' -e 'stable_secret:' -e 'hash_secret:' \
    /proc/sys/net 2>/dev/null)
  pd_d_sd=$(printf '%s\n' "$pd_d_sys" | sha256sum 2>/dev/null)
  pd_d_sd=${pd_d_sd%% *}
  case "$pd_d_sd" in *[!0-9a-f]*|'') pd_d_sd='' ;; esac
  if [ ${#pd_d_sd} -eq 64 ] && [ "$pd_d_sd" = "${PD_KNOWN_DRIFT_SYSCTL:-}" ]; then
    printf 'kept\tsysctl\tunchanged\t%s\n' "$pd_d_sd"
  else
    printf 'kept\tsysctl\tfresh\t%s\n' "$pd_d_sd"
    printf '%s\n' "$pd_d_sys" | awk 'NF { print "sysctl\t" $0 }'
  fi
fi

# The running kernel, its command line, and the services enabled at boot.
printf 'kernel\trelease\t%s\n' "$(uname -r 2>/dev/null)"
if [ -r /proc/cmdline ] && read -r pd_d_v </proc/cmdline 2>/dev/null; then printf 'kernel\tcmdline\t%s\n' "$pd_d_v"; fi
# Enabled: the links `systemctl enable` makes (what list-unit-files --state=enabled reads,
# without its second of CPU per probe), named with the target that pulls them in.
for pd_d_f in "$pd_d_etc"/systemd/system/*.wants/* "$pd_d_etc"/systemd/system/*.requires/*; do
  if [ -e "$pd_d_f" ] || [ -h "$pd_d_f" ]; then pd_d_t=${pd_d_f%/*}; printf 'svc\t%s/%s\n' "${pd_d_t##*/}" "${pd_d_f##*/}"; fi
done
echo 'end'
