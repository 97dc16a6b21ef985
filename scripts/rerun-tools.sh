#!/usr/bin/env bash
# Installs the official Rerun 0.41 tools (rerun CLI + Python SDK, and the query extras the
# lazy readers need, and moto's S3 server) into a virtualenv outside git, unless they are
# already there.
# The interop tests find it at ./.venv-rerun, or at $SPATE_RERUN_VENV.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SPATE_RERUN_VENV:-$PWD/.venv-rerun}"
if ! "$VENV/bin/python" -c 'import rerun, datafusion, pandas; assert rerun.__version__ == "0.41.0"' 2>/dev/null; then
  echo "installing rerun-sdk==0.41.0 into $VENV ..."
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    rerun-sdk==0.41.0 datafusion==54.0.0 pandas
fi
# moto in server mode: the S3-compatible server of the upload tests (tests/upload.rs).
if ! "$VENV/bin/python" -c 'import moto; assert moto.__version__ == "5.2.5"' 2>/dev/null \
   || [[ ! -x "$VENV/bin/moto_server" ]]; then
  echo "installing moto[server]==5.2.5 into $VENV ..."
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
fi
"$VENV/bin/rerun" analytics disable >/dev/null 2>&1 || true
echo "official tools: $("$VENV/bin/rerun" --version | cut -d' ' -f1-2) in $VENV"
