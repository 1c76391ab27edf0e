# patchdeck apt probe: read-only, never prompts, never takes the dpkg lock.
# Every section prints something parseable or nothing; a missing tool is not an error.
# Host text is never fed back into a command line except through the awk filter below,
# which keeps only strings shaped like package names.
export LC_ALL=C LANG=C LANGUAGE=C
pd_has() { command -v "$1" >/dev/null 2>&1; }
# A file line beginning with our section marker must not open a section.
pd_body() { sed 's/^@@patchdeck:/@@escaped:/'; }

echo '@@patchdeck:arch'
pd_arch=''
if pd_has dpkg; then pd_arch=$(dpkg --print-architecture 2>/dev/null) && printf '%s\n' "$pd_arch"; fi

echo '@@patchdeck:installed'
if pd_has dpkg-query; then
  dpkg-query -W -f='${db:Status-Abbrev}\t${binary:Package}\t${Version}\n' 2>/dev/null
fi

echo '@@patchdeck:pkgstate'
# What apt's answer depends on: dpkg's database, apt's lists, sources, preferences and
# configuration, the architectures, the machine (phased updates). Size, inode and both
# nanosecond times of each file, as apt itself validates its cache: any write changes them.
# When this equals the state the operator saw last (PD_KNOWN_PKG_STATE), apt would answer
# exactly as then, so the costly resolver run below is skipped and the operator reuses its
# copy of those sections. PD_PROBE_MODE=installed skips them outright (after a change,
# only the installed versions are wanted).
pd_files=$(stat -L -c '%n %s %i %.9Y %.9Z' /etc/machine-id /var/lib/dpkg/status \
    /var/lib/dpkg/arch /var/lib/dpkg/updates /var/lib/dpkg/updates/* \
    /var/lib/apt/extended_states /etc/apt /etc/apt/* /etc/apt/*/* \
    /var/lib/apt/lists /var/lib/apt/lists/* 2>/dev/null)
pd_state=''
pd_uid=$(id -u)
# Only a listing that really has dpkg's database with nanosecond times is a state (a stat
# without that format would hash the same few bytes every time).
case "$pd_files" in
  *'/var/lib/dpkg/status '[0-9]*' '[0-9]*' '[0-9]*.[0-9]*' '[0-9]*.[0-9]*)
    pd_state=$(printf '%s\nuid %s\n' "$pd_files" "$pd_uid" | sha256sum 2>/dev/null | cut -c1-64) ;;
esac
printf '%s\n' "$pd_state"

# The CONTENT of apt's inputs, for hosts that are clones: two hosts printing the same
# content digest get the same answer from apt, so the operator asks one of them and uses
# its answer for both (computed only when the stat digest above did not match, after it:
# a write in between changes the stat digest, so the answer is never kept under it). It
# covers: dpkg's status, arch and pending journal, extended_states, every file under
# /etc/apt with its path, and of /var/lib/apt/lists the name and size of every list plus
# the content of every Release/InRelease file (apt verified the lists against their
# hashes when it fetched them); a list no Release file of the same repository covers
# (a flat repository without one) and any list that is a symbolic link (a file: source,
# read in place) count by content. Plus the uid, the native architecture and
# $APT_CONFIG. Phased updates make apt's answer depend on /etc/machine-id: it counts
# unless os-release says ID=debian, whose archive phases nothing. apt configured to read
# its state from elsewhere (Dir::...) gets no content digest: that host is resolved alone.
pd_content() {
  # Most hosts never set Dir (read here, no process); otherwise ask apt where it reads
  # (~10 ms): anywhere but the usual places, no content digest.
  pd_dirconf=''
  for pd_f in /etc/apt/apt.conf /etc/apt/apt.conf.d/* ${APT_CONFIG:+"$APT_CONFIG"}; do
    [ -f "$pd_f" ] && [ -r "$pd_f" ] || continue
    while IFS= read -r pd_l || [ -n "$pd_l" ]; do
      case "$pd_l" in *[Dd][Ii][Rr]*) pd_dirconf=yes; break ;; esac
    done <"$pd_f"
  done
  if [ -n "$pd_dirconf" ]; then
    pd_dirs=$(apt-config shell A Dir::State::lists/d B Dir::State::status/f C Dir::Etc/d \
      D Dir::Etc::sourcelist/f E Dir::Etc::sourceparts/d F Dir::Etc::preferences/f \
      G Dir::Etc::preferencesparts/d H Dir::Etc::parts/d I Dir::Etc::main/f \
      J Dir::State::extended_states/f 2>/dev/null)
    [ "$pd_dirs" = "A='/var/lib/apt/lists/'
B='/var/lib/dpkg/status'
C='/etc/apt/'
D='/etc/apt/sources.list'
E='/etc/apt/sources.list.d/'
F='/etc/apt/preferences'
G='/etc/apt/preferences.d/'
H='/etc/apt/apt.conf.d/'
I='/etc/apt/apt.conf'
J='/var/lib/apt/extended_states'" ] || return 0
  fi
  pd_osr=/etc/os-release
  [ -r "$pd_osr" ] || pd_osr=/usr/lib/os-release
  pd_id=''
  while IFS= read -r pd_l; do
    case "$pd_l" in ID=debian|ID=\"debian\"|ID=\'debian\') pd_id=debian ;; esac
  done 2>/dev/null <"$pd_osr"
  # Repositories with a Release file: the name prefix their lists share.
  pd_rel=''
  for pd_f in /var/lib/apt/lists/*_Release /var/lib/apt/lists/*_InRelease; do
    if [ -f "$pd_f" ] && [ ! -h "$pd_f" ]; then pd_rel="$pd_rel ${pd_f%_*}_"; fi
  done
  # By content: dpkg's and apt's state files, /etc/apt, Release files, uncovered lists
  # (an unreadable or missing file counts by sha256sum's message, which names it).
  # By name and size: the lists a Release file covers.
  set -- /var/lib/dpkg/status /var/lib/dpkg/arch /var/lib/dpkg/updates/* \
    /var/lib/apt/extended_states /etc/apt/* /etc/apt/*/* /etc/apt/*/*/* ${APT_CONFIG:+"$APT_CONFIG"}
  pd_sized=''
  for pd_f in /var/lib/apt/lists/*; do
    [ -f "$pd_f" ] || continue
    pd_by=content
    case "$pd_f" in
      */lock|*_Release|*_InRelease|*_Release.gpg) ;;
      *[!A-Za-z0-9._~%+/-]*) ;;
      *) if [ ! -h "$pd_f" ]; then
           for pd_p in $pd_rel; do
             case "$pd_f" in "$pd_p"*) pd_by=size ;; esac
           done
         fi ;;
    esac
    if [ "$pd_by" = size ]; then pd_sized="$pd_sized $pd_f"; else set -- "$@" "$pd_f"; fi
  done
  {
    printf 'uid %s\narch %s\nAPT_CONFIG %s\n' "$pd_uid" "$pd_arch" "${APT_CONFIG:-}"
    if [ "$pd_id" != debian ]; then printf 'machine-id %s\n' "$(cat /etc/machine-id 2>/dev/null)"; fi
    # Names checked above: no space, no glob character.
    # shellcheck disable=SC2086
    if [ -n "$pd_sized" ]; then stat -L -c '%n %s' $pd_sized 2>&1; fi
    sha256sum "$@" 2>&1
  } | sha256sum 2>/dev/null
}

pd_resolve=yes
if [ "${PD_PROBE_MODE:-full}" = installed ]; then
  echo skipped
  pd_resolve=no
elif [ -n "$pd_state" ] && [ "$pd_state" = "${PD_KNOWN_PKG_STATE:-}" ]; then
  echo unchanged
  pd_resolve=no
else
  pd_c=$(pd_content)
  pd_c=${pd_c%% *}
  if [ -n "$pd_c" ]; then printf 'content %s\n' "$pd_c"; fi
  # PD_PROBE_MODE=digests: only the digests; the operator asks one host per content digest.
  if [ "${PD_PROBE_MODE:-full}" = digests ]; then
    echo deferred
    pd_resolve=no
  fi
fi

if [ "$pd_resolve" = yes ]; then
  echo '@@patchdeck:upgrade'
  pd_up=''
  if pd_has apt-get; then
    # stderr is kept so an "E:" line can explain a failure; the parser skips N:/W: noise.
    pd_up=$(apt-get -s -q -o Debug::NoLocking=1 -o APT::Get::Show-Versions=1 \
      -o Dpkg::Use-Pty=0 dist-upgrade </dev/null 2>&1)
    pd_rc=$?
    printf '%s\n' "$pd_up" | pd_body
    echo "patchdeck-exit: $pd_rc"
  fi

  echo '@@patchdeck:held'
  if pd_has apt-mark; then apt-mark showhold </dev/null 2>/dev/null; fi

  echo '@@patchdeck:policy'
  if pd_has apt-cache; then
    pd_names=$( {
        printf '%s\n' "$pd_up" | awk '$1 == "Inst" || $1 == "Remv" { print $2 }'
        apt-mark showhold </dev/null 2>/dev/null
      } | awk '/^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$/' | sort -u)
    if [ -n "$pd_names" ]; then
      # Names were filtered to [a-z0-9+.:-]: splitting is safe, globbing is off anyway.
      (set -f; apt-cache policy $pd_names </dev/null 2>/dev/null) | pd_body
    fi
  fi
fi

echo '@@patchdeck:reboot'
if [ -e /var/run/reboot-required ]; then
  echo 'reboot-required'
  if [ -r /var/run/reboot-required.pkgs ]; then pd_body </var/run/reboot-required.pkgs; fi
fi

echo '@@patchdeck:needrestart'
if pd_has needrestart; then
  NEEDRESTART_SUSPEND=1 needrestart -b -r l </dev/null 2>/dev/null | pd_body
fi

echo '@@patchdeck:cache'
for pd_f in /var/cache/apt/archives/*.deb; do
  [ -e "$pd_f" ] && printf '%s\n' "${pd_f##*/}"
done | pd_body

# --- dpkg's own health: read fresh every probe (never kept with the resolver's answer) ---
# `updates N`: files in dpkg's journal that its last run never merged (it was killed, or
# the session carrying it died); `lock PATH PID` for each lock file another process holds;
# `audit LINE` for what `dpkg --audit` reports (half-installed, unpacked, half-configured,
# awaiting triggers). Reads only: the audit opens dpkg's database read-only, without the lock.
echo '@@patchdeck:dpkg'
if pd_has dpkg; then
  pd_n=0
  for pd_f in /var/lib/dpkg/updates/*; do
    case "${pd_f##*/}" in *[!0-9]* | '') ;; *) pd_n=$((pd_n + 1)) ;; esac
  done
  echo "updates $pd_n"
  # dpkg and apt lock with fcntl(2), which flock(1) cannot see; /proc/locks lists every
  # such lock by MAJOR:MINOR:INODE (hex, hex, decimal) and the holder's pid, readable by
  # anyone. A line with "->" is a process waiting for a lock, not holding one.
  if [ -r /proc/locks ]; then
    for pd_f in /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock; do
      pd_id=$(stat -L -c '%d %i' "$pd_f" 2>/dev/null) || continue
      pd_dev=${pd_id% *}
      pd_id=$(printf '%02x:%02x:%s' $(((pd_dev >> 8) & 4095)) \
        $(((pd_dev & 255) | ((pd_dev >> 12) & 1048320))) "${pd_id#* }")
      awk -v id="$pd_id" -v f="$pd_f" '$2 != "->" && $6 == id { print "lock " f " " $5 }' /proc/locks 2>/dev/null
    done
  fi
  dpkg --audit </dev/null 2>&1 | sed 's/^/audit /'
fi
