"""Every name spate shares with the official SDK takes the same parameters: names, kinds
and defaults (`inspect.signature`), the official side read in its own interpreter. pyo3
renders text signatures without annotations, so annotations are not compared.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import LIMIT, Official

FUNCTIONS = ["init", "set_sinks", "GrpcSink", "FileSink", "log", "set_time", "reset_time", "disconnect", "send_columns", "Points3D", "RecordingStream", "ViewCoordinates"]
METHODS = ["log", "set_time", "reset_time", "flush", "set_sinks", "disconnect", "send_columns"]
NAMES = FUNCTIONS + [f"RecordingStream.{m}" for m in METHODS]

DESCRIBE = """
import inspect, json, sys
import {sdk} as rr

def describe(name):
    obj = rr
    for part in name.split("."):
        obj = getattr(obj, part)
    ps = list(inspect.signature(obj).parameters.values())
    if ps and ps[0].name == "self":
        # Rendered as positional-only by pyo3, positional-or-keyword by Python, and named by
        # some native classes' text signatures (the SDK's GrpcSink): never passed by name.
        ps = ps[1:]
    return [[p.name, p.kind.name, None if p.default is inspect.Parameter.empty else repr(p.default)] for p in ps]

print(json.dumps({{n: describe(n) for n in json.loads(sys.argv[1])}}))
"""


def signatures(python: str, sdk: str) -> dict:
    r = subprocess.run(
        [python, "-c", DESCRIBE.format(sdk=sdk), json.dumps(NAMES)], capture_output=True, text=True, timeout=LIMIT
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def both(official: Official) -> tuple[dict, dict]:
    import sys

    return signatures(str(official.python), "rerun"), signatures(sys.executable, "spate")


@pytest.mark.parametrize("name", NAMES)
def test_signature_equals_the_sdks(both, name: str) -> None:
    sdk, ours = both
    assert ours[name] == sdk[name]
