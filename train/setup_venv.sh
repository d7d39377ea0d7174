#!/usr/bin/env bash
# Create train/.venv with the pinned packages of train/requirements.txt.
# Idempotent: does nothing when the venv exists and already has exactly those versions.
# Usage: train/setup_venv.sh            (PYTHON=python3.11 train/setup_venv.sh to pick the interpreter)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
REQ="$HERE/requirements.txt"
PYTHON="${PYTHON:-python3}"

satisfied() {
    [ -x "$VENV/bin/python" ] || return 1
    "$VENV/bin/python" - "$REQ" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
ok = True
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have != want:
        print(f"{name}: have {have}, want {want}")
        ok = False
sys.exit(0 if ok else 1)
PY
}

if satisfied; then
    echo "train/.venv already satisfies requirements.txt"
    exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --upgrade pip
"$VENV/bin/python" -m pip install -r "$REQ"
satisfied
echo "train/.venv ready"
