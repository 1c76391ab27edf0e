# patchdeck apt history: the native architecture, then every apt history log, oldest first.
export LC_ALL=C LANG=C LANGUAGE=C
if command -v dpkg >/dev/null 2>&1; then
  printf 'Patchdeck-Native-Architecture: %s\n' "$(dpkg --print-architecture 2>/dev/null)"
fi
cd /var/log/apt 2>/dev/null || exit 0
# Rotated logs: history.log.N[.gz], larger N is older. Only digits pass the filter.
for pd_n in $(ls 2>/dev/null | sed -n 's/^history\.log\.\([0-9][0-9]*\)\(\.gz\)\{0,1\}$/\1/p' | sort -rnu); do
  if [ -r "history.log.$pd_n.gz" ]; then zcat "history.log.$pd_n.gz" 2>/dev/null
  elif [ -r "history.log.$pd_n" ]; then cat "history.log.$pd_n"; fi
  echo
done
if [ -r history.log ]; then cat history.log; fi
