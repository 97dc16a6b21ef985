"""Shared helpers of the package's tests: the official Rerun tools, servers started by PID,
scripts run as subprocesses, and bounded polling (never a sleep as synchronisation).

The interop tests need the official Rerun 0.41 tools (`scripts/rerun-tools.sh` installs them
into `.venv-rerun`, or `$SPATE_RERUN_VENV`): without them they SKIP loudly, and under
`CI=true` they FAIL (the Rust tests' rule).

pytest runs the tests one at a time (no xdist): the Sinks-page examples hard-code port 9876.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUPPORT = Path(__file__).resolve().parent / "support"
# A loose bound on anything a test waits for: a hang guard, not a timing assertion.
LIMIT = 60.0


def in_ci() -> bool:
    return os.environ.get("CI") in ("true", "1")


def skip_or_fail(message: str) -> None:
    """Without a tool an interop test needs: SKIP loudly here, FAIL in CI."""
    if in_ci():
        pytest.fail(f"{message}: interop tests must run in CI", pytrace=False)
    print(f"\n!!!!!!!! SKIP: {message} !!!!!!!!", file=sys.stderr)
    pytest.skip(message)


def poll(cond: Callable[[], bool], limit: float = LIMIT, every: float = 0.02) -> bool:
    """Polls `cond` until it holds or `limit` seconds pass; returns whether it held."""
    end = time.monotonic() + limit
    while True:
        if cond():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Official:
    """The official Rerun 0.41 tools of `.venv-rerun`."""

    def __init__(self, venv: Path) -> None:
        self.venv = venv
        self.python = venv / "bin" / "python"
        out = subprocess.run(
            [str(self.python), "-c", "import rerun_cli,os;print(os.path.dirname(rerun_cli.__file__))"],
            capture_output=True,
            text=True,
            timeout=LIMIT,
            check=True,
        )
        # The real binary, not the console-script wrapper: signals reach it by PID.
        self.rerun = Path(out.stdout.strip()) / "rerun"
        assert self.rerun.exists(), f"{self.rerun} missing"

    def dump(self, rrd: Path, *, no_footer: bool = False) -> dict:
        """`rerun rrd verify` must pass; then the rows as the official reader sees them."""
        cmd = [str(self.python), str(SUPPORT / "dump_rrd.py"), str(rrd)]
        if no_footer:
            cmd.append("--no-footer")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=LIMIT)
        assert r.returncode == 0, f"official tools rejected {rrd}:\n{r.stderr}"
        return json.loads(r.stdout)

    def run_script(self, script: Path, cwd: Path, **kw) -> subprocess.CompletedProcess:
        return run_script(script, cwd, python=self.python, **kw)


@pytest.fixture(scope="session")
def official() -> Official:
    venv = Path(os.environ.get("SPATE_RERUN_VENV", REPO / ".venv-rerun"))
    if not ((venv / "bin" / "python").exists() and (venv / "bin" / "rerun").exists()):
        skip_or_fail(f"official Rerun tools not found in {venv} (run scripts/rerun-tools.sh)")
    return Official(venv)


class Server:
    """An official `rerun` server process on 127.0.0.1:`port`, SIGKILLed by PID on `stop`."""

    def __init__(self, official: Official, port: int, log: Path, args: list[str] | None = None) -> None:
        self.port = port
        self.log = log
        extra = args if args is not None else ["--serve-grpc"]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(official.rerun), *extra, "--bind", "127.0.0.1", "--port", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        def listening() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"rerun exited early ({self.proc.returncode}):\n{self.log_text()}")
            with socket.socket() as s:
                s.settimeout(0.2)
                return s.connect_ex(("127.0.0.1", port)) == 0

        if not poll(listening):
            self.stop()
            raise AssertionError(f"rerun not listening on {port} after {LIMIT}s:\n{self.log_text()}")

    @property
    def url(self) -> str:
        return f"rerun+http://127.0.0.1:{self.port}/proxy"

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=LIMIT)


@pytest.fixture
def serve_9876(official: Official, tmp_path: Path) -> Iterator[Callable[[], Server]]:
    """Starts official `rerun --serve-grpc` servers on the default port 9876 (the Sinks-page
    examples hard-code it), one at a time; fails fast if something else holds the port."""
    servers: list[Server] = []

    def start() -> Server:
        for s in servers:
            s.stop()
        if not port_is_free(9876):
            pytest.fail("port 9876 is busy: the Sinks-page examples need it (is a Rerun viewer running?)")
        s = Server(official, 9876, tmp_path / f"serve-{len(servers)}.log")
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def run_script(
    script: Path | str,
    cwd: Path,
    *,
    python: Path | str = sys.executable,
    env: dict[str, str] | None = None,
    timeout: float = LIMIT,
) -> subprocess.CompletedProcess:
    """Runs a Python file (or `-c` source when `script` is a str with a newline) in `cwd`."""
    args = ["-c", script] if isinstance(script, str) and "\n" in script else [str(script)]
    full_env = {**os.environ, **(env or {})}
    full_env.pop("RERUN", None)
    return subprocess.run(
        [str(python), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
