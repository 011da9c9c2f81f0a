# Sourced, not run, by the scripts that install pinned tools: the versions
# (tools/versions.env, their one home) and `have`, the check that lets a
# script skip a Go tool already built at its pin.
# shellcheck source=../tools/versions.env
source "$(dirname "${BASH_SOURCE[0]}")/../tools/versions.env"

bin="$(go env GOPATH)/bin"
# have BIN MODULE@VERSION: $bin/BIN was built from that module version.
have() { [ -x "$bin/$1" ] && go version -m "$bin/$1" 2>/dev/null | grep -Eq "^\s+(mod|dep)\s+${2%@*}\s+${2#*@}(\s|$)"; }
