#!/usr/bin/env bash
# Offline BittyTax checker for okx-export's bittytax.csv (see ../shared/tax-formats.md (relative to the repo) §8).
#
#   scripts/bittytax-check.sh install              create the venv and pip install bittytax
#   scripts/bittytax-check.sh check FILE [--skipint]
#                                                  import FILE and compute the tax report offline
#
# The venv lives at ${BITTYTAX_VENV:-target/bittytax-venv} (relative paths are taken from the
# repository root); BITTYTAX_BIN overrides the bittytax executable used by `check`. `check` installs first if the venv is missing (that step needs PyPI); the run
# itself never touches the network: HOME points at a fresh temp dir, one `--audit` run creates
# ~/.bittytax/bittytax.conf, both price data-source lists are emptied, and then the real
# `bittytax FILE --nopdf` runs (inside `unshare -rn`, i.e. with no network at all, where the
# kernel allows it). `--skipint` (or BITTYTAX_SKIPINT=1) skips the integrity check.
#
# BittyTax exits 0 even when rows fail to import, so callers must read the output: look for
# "import successful (success=N, failure=0)" and "integrity check: passed".
set -euo pipefail

BITTYTAX_VERSION=0.6.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BITTYTAX_VENV:-target/bittytax-venv}"
case "$VENV" in
/*) ;;
*) VENV="$ROOT/$VENV" ;;
esac
BIN="${BITTYTAX_BIN:-$VENV/bin/bittytax}"

usage() {
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

installed_version() {
    "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("bittytax"))' 2>/dev/null || true
}

install() {
    if [ -x "$VENV/bin/bittytax" ] && [ "$(installed_version)" = "$BITTYTAX_VERSION" ]; then
        echo "bittytax $BITTYTAX_VERSION already installed in $VENV" >&2
        return 0
    fi
    local py="${PYTHON:-python3}"
    command -v "$py" >/dev/null || {
        echo "error: $py not found; BittyTax needs Python 3" >&2
        exit 1
    }
    mkdir -p "$(dirname "$VENV")"
    "$py" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "bittytax==$BITTYTAX_VERSION"
    echo "installed bittytax $(installed_version) in $VENV" >&2
}

check() {
    [ $# -ge 1 ] || usage
    local file="$1"
    shift
    local skipint="${BITTYTAX_SKIPINT:-}"
    local arg
    for arg in "$@"; do
        case "$arg" in
        --skipint) skipint=1 ;;
        *) usage ;;
        esac
    done
    [ -f "$file" ] || {
        echo "error: no such file: $file" >&2
        exit 2
    }
    file="$(cd "$(dirname "$file")" && pwd)/$(basename "$file")"
    if [ ! -x "$BIN" ]; then
        [ -z "${BITTYTAX_BIN:-}" ] || {
            echo "error: BITTYTAX_BIN=$BITTYTAX_BIN is not executable" >&2
            exit 1
        }
        install
    fi
    local py="$VENV/bin/python"
    [ -x "$py" ] || py="${PYTHON:-python3}"

    # Global, so the EXIT trap still sees it after check() returns.
    home="$(mktemp -d "${TMPDIR:-/tmp}/bittytax-home.XXXXXX")"
    trap 'rm -rf "$home"' EXIT
    cd "$home"
    export HOME="$home"
    # First run creates ~/.bittytax/bittytax.conf (import + audit need no network).
    "$BIN" "$file" --audit --nopdf >/dev/null 2>&1 || true
    local conf="$home/.bittytax/bittytax.conf"
    [ -f "$conf" ] || {
        echo "error: bittytax did not create $conf" >&2
        exit 1
    }
    # Offline switch: no price data sources at all, so nothing is downloaded at start-up.
    "$py" - "$conf" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
for key in ("data_source_fiat", "data_source_crypto"):
    # The value is a YAML list that may span the following indented lines.
    text, n = re.subn(r"(?m)^%s:.*(\n[ \t]+.*)*" % key, "%s: []" % key, text)
    if n != 1:
        sys.exit("error: could not set %s in %s" % (key, path))
open(path, "w", encoding="utf-8").write(text)
PY
    local args=("$file" --nopdf)
    [ -n "$skipint" ] && args+=(--skipint)
    local runner=()
    if command -v unshare >/dev/null && unshare -rn true 2>/dev/null; then
        runner=(unshare -rn)
    fi
    echo "+ ${runner[*]:-} bittytax ${args[*]}" >&2
    "${runner[@]}" "$BIN" "${args[@]}"
}

[ $# -ge 1 ] || usage
cmd="$1"
shift
case "$cmd" in
install) install ;;
check) check "$@" ;;
*) usage ;;
esac
