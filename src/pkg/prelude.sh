# patchdeck probe prelude: which system this is, before any package manager is asked.
# Prints the `os` section (os-release as it is, marker lines defused) and collects the
# os-release ID and ID_LIKE words in pd_family, which the detection after it reads.
pd_has() { command -v "$1" >/dev/null 2>&1; }
# A file line beginning with our section marker must not open a section.
pd_body() { sed 's/^@@patchdeck:/@@escaped:/'; }

pd_osr=''
if [ -r /etc/os-release ]; then pd_osr=/etc/os-release
elif [ -r /usr/lib/os-release ]; then pd_osr=/usr/lib/os-release; fi
echo '@@patchdeck:os'
if [ -n "$pd_osr" ]; then pd_body <"$pd_osr"; fi

pd_family=' '
if [ -n "$pd_osr" ]; then
  while IFS='=' read -r pd_k pd_v || [ -n "$pd_k" ]; do
    case "$pd_k" in
      ID|ID_LIKE) pd_v=${pd_v#[\"\']}; pd_v=${pd_v%[\"\']}; pd_family="$pd_family$pd_v " ;;
    esac
  done <"$pd_osr"
fi
# Does os-release name $1 as this system or one it is like?
pd_family_is() { case "$pd_family" in *" $1 "*) return 0 ;; esac; return 1; }
pd_manager=''
