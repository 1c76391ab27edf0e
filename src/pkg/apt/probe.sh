# patchdeck apt probe: read-only, never prompts, never takes the dpkg lock.
# Every section prints something parseable or nothing; a missing tool is not an error.
# Host text is never fed back into a command line except through the awk filter below,
# which keeps only strings shaped like package names.
export LC_ALL=C LANG=C LANGUAGE=C
pd_has() { command -v "$1" >/dev/null 2>&1; }
# A file line beginning with our section marker must not open a section.
pd_body() { sed 's/^@@patchdeck:/@@escaped:/'; }

echo '@@patchdeck:os'
if [ -r /etc/os-release ]; then pd_body </etc/os-release
elif [ -r /usr/lib/os-release ]; then pd_body </usr/lib/os-release; fi

echo '@@patchdeck:arch'
if pd_has dpkg; then dpkg --print-architecture 2>/dev/null; fi

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
# Only a listing that really has dpkg's database with nanosecond times is a state (a stat
# without that format would hash the same few bytes every time).
case "$pd_files" in
  *'/var/lib/dpkg/status '[0-9]*' '[0-9]*' '[0-9]*.[0-9]*' '[0-9]*.[0-9]*)
    pd_state=$(printf '%s\nuid %s\n' "$pd_files" "$(id -u)" | sha256sum 2>/dev/null | cut -c1-64) ;;
esac
printf '%s\n' "$pd_state"
pd_resolve=yes
if [ "${PD_PROBE_MODE:-full}" = installed ]; then
  echo skipped
  pd_resolve=no
elif [ -n "$pd_state" ] && [ "$pd_state" = "${PD_KNOWN_PKG_STATE:-}" ]; then
  echo unchanged
  pd_resolve=no
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
