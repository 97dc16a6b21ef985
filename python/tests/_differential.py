"""Differential tests: the same script logs once with the official Rerun 0.41 SDK
(`.venv-rerun/bin/python`, `import rerun as rr`) and once with spate (this interpreter,
`import spate as rr`), each into an `.rrd` through `rr.set_sinks(rr.FileSink(path))`; then
`tests/interop/compare_rrd.py`, run with the official tools, requires both files to hold the
same logical tables (entities, timelines, component descriptors, Arrow types, values) and
both to pass `rerun rrd verify`.

Scripts run as subprocesses and end without `flush()`: exiting writes the data, as with the
SDK. Without `.venv-rerun` the tests SKIP loudly, unless `CI=true`, where they FAIL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OFFICIAL_PYTHON = REPO / ".venv-rerun" / "bin" / "python"
COMPARE = REPO / "tests" / "interop" / "compare_rrd.py"
SCRIPT_LIMIT_S = 120

PRELUDE = """\
import numpy as np
import {module} as rr

rr.init("rerun_example_spate_differential", recording_id="spate-differential")
rr.set_sinks(rr.FileSink({path!r}))
"""


def official_python() -> Path:
    """The official SDK's interpreter; skips (or fails under CI=true) when it is absent."""
    if OFFICIAL_PYTHON.exists():
        return OFFICIAL_PYTHON
    message = f"the official Rerun tools are missing ({OFFICIAL_PYTHON}): differential tests cannot run"
    if os.environ.get("CI") in ("true", "1"):
        pytest.fail(message + " (CI=true: they must)")
    print(f"\nSKIP LOUDLY: {message}", file=sys.stderr)
    pytest.skip(message)


def run_script(python: Path | str, module: str, body: str, rrd: Path) -> subprocess.CompletedProcess[str]:
    """Runs `body` after the prelude with `python`, logging into `rrd`; fails on a non-zero exit."""
    script = rrd.with_suffix(".py")
    script.write_text(PRELUDE.format(module=module, path=str(rrd)) + textwrap.dedent(body))
    p = subprocess.run(
        [str(python), str(script)],
        capture_output=True,
        text=True,
        timeout=SCRIPT_LIMIT_S,
        cwd=rrd.parent,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if p.returncode != 0:
        pytest.fail(f"{module} script failed ({p.returncode}):\n{script.read_text()}\n{p.stdout}\n{p.stderr}")
    return p


def compare(sdk: Path, spate: Path, *ignore_values: str) -> subprocess.CompletedProcess[str]:
    """`compare_rrd.py SDK SPATE` with the official tools (no assertion)."""
    argv = [str(official_python()), str(COMPARE), str(sdk), str(spate)]
    for component in ignore_values:
        argv += ["--ignore-value", component]
    return subprocess.run(argv, capture_output=True, text=True, timeout=SCRIPT_LIMIT_S)


def assert_same_as_sdk(tmp_path: Path, body: str, name: str = "case") -> None:
    """Logs `body` with both SDKs and requires the same logical tables (and valid files)."""
    official = official_python()
    sdk = tmp_path / f"{name}.sdk.rrd"
    spate = tmp_path / f"{name}.spate.rrd"
    run_script(official, "rerun", body, sdk)
    run_script(sys.executable, "spate", body, spate)
    p = compare(sdk, spate)
    assert p.returncode == 0, f"spate differs from the official SDK:\n{body}\n{p.stdout}\n{p.stderr}"
