#!/usr/bin/env bash
# Builds the Python package (`pip install ./python`: a release build of python/, sharing the
# workspace's target/) into a virtualenv outside git, .venv-spate-py (or $SPATE_PY_VENV), and
# runs its tests. The interop tests use the official tools of .venv-rerun
# (scripts/rerun-tools.sh): without them they SKIP loudly, and under CI=true they FAIL.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
VENV="${SPATE_PY_VENV:-$PWD/.venv-spate-py}"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
pip=("$VENV/bin/pip" install --quiet --disable-pip-version-check)
"${pip[@]}" pytest "numpy>=1.23"
"${pip[@]}" ./python
built=$(date +%s)
rc=0
"$VENV/bin/python" -m pytest -q -rs python/tests "$@" || rc=$?
echo "python package: built in $((built - started))s, tested in $(( $(date +%s) - built ))s"
exit $rc
