#!/usr/bin/env bash
# Opens a report.html in headless Chromium (Debian's `chromium`) and prints what the page
# shows, as JSON, for tests/browser.rs (issue 21).
#
#   scripts/browser-check.sh install              apt-get install chromium (as root, when missing)
#                                                 and npm install playwright-core into the prefix
#   scripts/browser-check.sh check FILE SHOT.png  open FILE, write a screenshot of its first
#                                                 page to SHOT.png, print the JSON on stdout
#
# playwright-core (pinned below) only drives the browser: it never downloads one
# (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD); the browser is ${CHROMIUM:-/usr/bin/chromium}. The
# node modules live in ${BROWSER_CHECK_PREFIX:-target/browser-check} (relative to the repo).
set -euo pipefail

PLAYWRIGHT_VERSION=1.56.1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${BROWSER_CHECK_PREFIX:-target/browser-check}"
case "$PREFIX" in
/*) ;;
*) PREFIX="$ROOT/$PREFIX" ;;
esac
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

installed_version() {
    node -e "console.log(require('$PREFIX/node_modules/playwright-core/package.json').version)" 2>/dev/null || true
}

install() {
    if [ ! -x "$CHROMIUM" ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
        else
            echo "error: $CHROMIUM not found; install Debian's chromium (apt-get install chromium)" >&2
            exit 1
        fi
    fi
    if [ "$(installed_version)" != "$PLAYWRIGHT_VERSION" ]; then
        command -v npm >/dev/null || {
            echo "error: npm not found; the browser check needs node and npm" >&2
            exit 1
        }
        mkdir -p "$PREFIX"
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund \
            --prefix "$PREFIX" "playwright-core@$PLAYWRIGHT_VERSION" >&2
    fi
    echo "browser check: $("$CHROMIUM" --version 2>/dev/null | head -1), playwright-core $(installed_version)" >&2
}

check() {
    [ $# -eq 2 ] || usage
    [ -f "$1" ] || {
        echo "error: no such file: $1" >&2
        exit 2
    }
    NODE_PATH="$PREFIX/node_modules" CHROMIUM="$CHROMIUM" node "$ROOT/scripts/browser-check.js" "$1" "$2"
}

[ $# -ge 1 ] || usage
cmd="$1"
shift
case "$cmd" in
install) install ;;
check) check "$@" ;;
*) usage ;;
esac
