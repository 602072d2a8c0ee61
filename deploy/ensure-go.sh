#!/usr/bin/env bash
# ensure-go.sh: make sure a Go toolchain able to build this module is on
# PATH. Go 1.21+ fetches the exact toolchain go.mod asks for through the
# module proxy (GOTOOLCHAIN=auto), so an older Debian golang-go suffices.
set -euo pipefail
if ! command -v go >/dev/null 2>&1; then
	if [[ -x /usr/local/go/bin/go ]]; then
		echo "ensure-go: add /usr/local/go/bin to PATH" >&2
		exit 1
	fi
	echo "ensure-go: go not found; installing Debian's golang-go (it fetches the toolchain go.mod needs)"
	sudo=(); [[ "$(id -u)" == 0 ]] || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq golang-go >/dev/null
fi
GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" go version >/dev/null
