#!/usr/bin/env bash
# Offline DaLI checker for okx-export's DaLI files (see ../shared/tax-formats.md (relative to the repo) §9).
#
#   scripts/dali-check.sh install                  create the venv and pip install dali-rp2 + rp2
#   scripts/dali-check.sh check DIR [--out OUT]    run dali_us offline on DIR's DaLI files
#
# The venv lives at ${DALI_VENV:-target/dali-venv} (relative paths are taken from the
# repository root); DALI_BIN overrides the dali_us executable used by `check`. `check`
# installs first if the venv is missing (that step needs PyPI); the run itself never touches
# the network.
#
# `check DIR` copies DIR/dali-in.csv, dali-out.csv, dali-intra.csv and DIR/dali.ini (the one
# okx-export writes; a minimal equivalent is generated when DIR has none) into a fresh temp
# dir that is also HOME and the working directory (DaLI writes ./log and ./.dali_cache
# there), then runs the real `dali_us -o OUT -p okx_ dali.ini` without `-s` (inside
# `unshare -rn`, i.e. with no network at all, where the kernel allows it). OUT defaults to a
# temp dir removed on exit; `--out OUT` keeps DaLI's okx_crypto_data.ods/.ini there. After
# DaLI's own output it prints a summary of the generated workbook, one line per asset sheet
# plus a total: `ods BTC: IN=171 OUT=114 INTRA=32` (data rows of each table).
#
# DaLI exits 0 even after `ERROR: Fatal exception occurred:` + a traceback (bad timestamp,
# unknown transaction type, ...) and then writes nothing, so this script reads its output:
# it exits 1 if DaLI printed an ERROR line or a traceback, or if the .ods/.ini are missing or
# empty.
#
# Why RP2 is not run here: our files carry `spot_price = __unknown` (we have no USD prices).
# Without `-s` DaLI runs fine offline but copies `__unknown` into the workbook, and rp2_us
# 1.7.2 then stops at the first row: `RP2ValueError: Argument 'spot_price' has non-numeric
# value: __unknown` (exit 1). Filling the prices needs `dali_us -s`, i.e. the network.
# tests/dali.rs (`rp2_reports_the_demo_export_offline`) puts fixture prices in instead and
# runs rp2_us offline to its report; deposits and withdrawals are IN/OUT rows, so there is
# no half-transfer for DaLI to resolve.
set -euo pipefail

DALI_VERSION=0.6.11
RP2_VERSION=1.7.2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DALI_VENV:-target/dali-venv}"
case "$VENV" in
/*) ;;
*) VENV="$ROOT/$VENV" ;;
esac
BIN="${DALI_BIN:-$VENV/bin/dali_us}"
CSVS=(dali-in.csv dali-out.csv dali-intra.csv)

usage() {
    sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

installed_version() {
    "$VENV/bin/python" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$1" 2>/dev/null || true
}

install() {
    if [ -x "$VENV/bin/dali_us" ] && [ "$(installed_version dali-rp2)" = "$DALI_VERSION" ] &&
        [ "$(installed_version rp2)" = "$RP2_VERSION" ]; then
        echo "dali-rp2 $DALI_VERSION (rp2 $RP2_VERSION) already installed in $VENV" >&2
        return 0
    fi
    local py="${PYTHON:-python3}"
    command -v "$py" >/dev/null || {
        echo "error: $py not found; DaLI needs Python 3" >&2
        exit 1
    }
    mkdir -p "$(dirname "$VENV")"
    "$py" -m venv "$VENV"
    # dali-rp2 0.6.11 only asks for rp2>=1.7.1: pin the version tax-formats.md §9 was tested with.
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "dali-rp2==$DALI_VERSION" "rp2==$RP2_VERSION"
    echo "installed dali-rp2 $(installed_version dali-rp2) (rp2 $(installed_version rp2)) in $VENV" >&2
}

check() {
    [ $# -ge 1 ] || usage
    local dir="$1"
    shift
    local out=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --out)
            [ $# -ge 2 ] || usage
            out="$2"
            shift 2
            ;;
        *) usage ;;
        esac
    done
    [ -d "$dir" ] || {
        echo "error: no such directory: $dir" >&2
        exit 2
    }
    dir="$(cd "$dir" && pwd)"
    local f
    for f in "${CSVS[@]}"; do
        [ -f "$dir/$f" ] || {
            echo "error: no $f in $dir" >&2
            exit 2
        }
    done
    if [ -n "$out" ]; then
        mkdir -p "$out"
        out="$(cd "$out" && pwd)"
    fi
    if [ ! -x "$BIN" ]; then
        [ -z "${DALI_BIN:-}" ] || {
            echo "error: DALI_BIN=$DALI_BIN is not executable" >&2
            exit 1
        }
        install
    fi
    # The python next to dali_us has ezodf (an rp2 dependency) for the workbook summary.
    local py
    py="$(dirname "$BIN")/python"
    [ -x "$py" ] || py="${PYTHON:-python3}"

    # Global, so the EXIT trap still sees it after check() returns.
    home="$(mktemp -d "${TMPDIR:-/tmp}/dali-home.XXXXXX")"
    trap 'rm -rf "$home"' EXIT
    [ -n "$out" ] || out="$home/rp2"
    for f in "${CSVS[@]}"; do
        cp "$dir/$f" "$home/$f"
    done
    if [ -f "$dir/dali.ini" ]; then
        cp "$dir/dali.ini" "$home/dali.ini"
    else
        echo "note: no dali.ini in $dir, using a minimal manual-plugin one" >&2
        printf '[dali.plugin.input.csv.manual]\nin_csv_file = %s\nout_csv_file = %s\nintra_csv_file = %s\nnative_fiat = USD\n' \
            "${CSVS[@]}" >"$home/dali.ini"
    fi
    cd "$home"
    export HOME="$home"
    local runner=()
    if command -v unshare >/dev/null && unshare -rn true 2>/dev/null; then
        runner=(unshare -rn)
    fi
    local args=(-o "$out" -p okx_ dali.ini)
    echo "+ ${runner[*]:-} dali_us ${args[*]}" >&2
    local status=0
    "${runner[@]}" "$BIN" "${args[@]}" 2>&1 | tee "$home/dali-output.txt" || status=$?
    [ "$status" -eq 0 ] || {
        echo "error: dali_us exited with status $status" >&2
        exit 1
    }
    if grep -qE '^ERROR|Traceback' "$home/dali-output.txt"; then
        echo "error: DaLI reported an error (it exits 0 regardless)" >&2
        exit 1
    fi
    for f in okx_crypto_data.ods okx_crypto_data.ini; do
        [ -s "$out/$f" ] || {
            echo "error: DaLI did not write $out/$f" >&2
            exit 1
        }
    done
    "$py" - "$out/okx_crypto_data.ods" <<'PY'
import sys
import ezodf

# Each asset sheet holds IN / OUT / INTRA tables: a marker row, a header row, data rows, and
# a `TABLE END` row (column A is never empty inside a table).
totals = {"IN": 0, "OUT": 0, "INTRA": 0}
for sheet in ezodf.opendoc(sys.argv[1]).sheets:
    counts = dict.fromkeys(totals, 0)
    table, header = None, False
    for r in range(sheet.nrows()):
        first = sheet[r, 0].value
        if first in counts:
            table, header = first, True
        elif first == "TABLE END":
            table = None
        elif table and header:
            header = False
        elif table and first is not None:
            counts[table] += 1
    for k, v in counts.items():
        totals[k] += v
    print("ods %s: %s" % (sheet.name, " ".join("%s=%d" % kv for kv in counts.items())))
print("ods total: %s" % " ".join("%s=%d" % kv for kv in totals.items()))
PY
}

[ $# -ge 1 ] || usage
cmd="$1"
shift
case "$cmd" in
install) install ;;
check) check "$@" ;;
*) usage ;;
esac
