#!/usr/bin/env bash
# Reads scripts/programs.txt.
#   check-programs.sh SOURCE...        every program of those sources (apt, cargo,
#                                      go, pip, machine, test-k8s, cluster, scan) is here, and
#                                      every Command::new("...") name is listed;
#                                      names the missing ones and fails
#   check-programs.sh --apt-missing    the Debian packages of missing programs
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$HOME/go/bin:$HOME/.cache/cloudshop-tools/bin:$HOME/.cache/cloudshop-tools/chaostoolkit/bin:$PATH"

present() { # a name on PATH, or an absolute path (glob expanded by the caller); a C header is a file
  if [[ $1 == /*.h ]]; then [ -f "$1" ]; elif [[ $1 == /* ]]; then [ -x "$1" ]; else command -v "$1" >/dev/null; fi
}
# Prints "source program" for each missing program of the given sources.
missing() {
  local source programs program
  while read -r source programs; do
    [[ -z $source || $source == \#* ]] && continue
    printf '%s\n' "$@" | grep -qx -- "${source%%:*}" || continue
    for program in $programs; do # unquoted: globs expand
      present "$program" || printf '%s %s\n' "$source" "$program"
    done
  done <scripts/programs.txt
}

if [ "${1:-}" = --apt-missing ]; then
  missing apt | awk '{ sub(/^apt:/, "", $1); print $1 }' | sort -u
  exit 0
fi

status=0
gone="$(missing "$@")"
if [ -n "$gone" ]; then
  printf 'missing programs (source, program):\n%s\n' "$gone" | sed '2,$s/^/  /' >&2
  status=1
fi
# The programs the Rust code runs by name: each must be listed, or a new
# machine would not install it.
listed="$(grep -v '^#' scripts/programs.txt | awk '{ for (i = 2; i <= NF; i++) print $i }')"
unlisted="$(git ls-files '*.rs' | xargs grep -ohE '(Command::new|tools::command)\("[^"]+"\)' |
  sed -E 's/(Command::new|tools::command)\("(.*)"\)/\2/' | sort -u | grep -vxF -f <(printf '%s\n' "$listed") || true)"
if [ -n "$unlisted" ]; then
  printf 'run by the Rust code but not in scripts/programs.txt: %s\n' "$(echo $unlisted)" >&2
  status=1
fi
[ "$status" = 0 ] && echo "every program of: $* is present"
exit "$status"
