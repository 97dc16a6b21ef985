"""A script that ends without calling flush still writes everything: the exit hook shuts the
recordings down with a bounded wait (`SPATE_EXIT_TIMEOUT_SECS`), says on stderr what was
lost, and a forked child never runs its parent's shutdown. Each script runs as a subprocess.
"""

from __future__ import annotations

import time
from pathlib import Path

from conftest import LIMIT, Official, free_port, run_script

ROWS = 20

LOG_ROWS = """
import numpy as np
import spate as rr

def log_rows(first, count):
    for i in range(first, first + count):
        rr.set_time("frame", sequence=i)
        rr.log("points", rr.Points3D(np.full((100, 3), i, np.float32), radii=0.5))
"""


def frames(dump: dict) -> list[int]:
    return sorted(r["time"]["frame"] for r in dump["rows"] if r["entity"] == "/points")


def assert_rows(dump: dict, first: int, count: int) -> None:
    rows = [r for r in dump["rows"] if r["entity"] == "/points"]
    assert frames(dump) == list(range(first, first + count))
    for r in rows:
        i = r["time"]["frame"]
        assert r["components"]["Points3D:positions"] == [[float(i)] * 3] * 100


def test_a_script_that_never_flushes_writes_everything(official: Official, tmp_path: Path) -> None:
    script = LOG_ROWS + f"""
rr.init("rerun_example_no_flush")
rr.set_sinks(rr.FileSink("out.rrd"))
log_rows(0, {ROWS})
"""
    r = run_script(script, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "spate:" not in r.stderr, r.stderr
    assert_rows(official.dump(tmp_path / "out.rrd"), 0, ROWS)


def test_a_recording_stream_nobody_flushes_or_holds_is_written_too(official: Official, tmp_path: Path) -> None:
    script = """
import numpy as np
import spate as rr
rec = rr.RecordingStream("rerun_example_stream_no_flush")
rec.set_sinks(rr.FileSink("a.rrd"))
rec.log("points", rr.Points3D(np.ones((100, 3), np.float32)))
other = rr.RecordingStream("rerun_example_stream_dropped")
other.set_sinks(rr.FileSink("b.rrd"))
other.log("points", rr.Points3D(np.ones((100, 3), np.float32)))
del other
rr.init("rerun_example_replaced")
rr.set_sinks(rr.FileSink("c.rrd"))
rr.log("points", rr.Points3D(np.ones((100, 3), np.float32)))
rr.init("rerun_example_replacing")
"""
    r = run_script(script, tmp_path)
    assert r.returncode == 0, r.stderr
    for name in ("a", "b", "c"):
        rows = [x for x in official.dump(tmp_path / f"{name}.rrd")["rows"] if x["entity"] == "/points"]
        assert len(rows) == 1, name


def test_exit_with_a_dead_server_ends_by_the_deadline_and_the_file_is_complete(official: Official, tmp_path: Path) -> None:
    script = LOG_ROWS + f"""
rr.init("rerun_example_dead_server_exit")
rr.set_sinks(rr.GrpcSink("rerun+http://127.0.0.1:{free_port()}/proxy"), rr.FileSink("tee.rrd"))
log_rows(0, {ROWS})
"""
    started = time.monotonic()
    r = run_script(script, tmp_path, env={"SPATE_EXIT_TIMEOUT_SECS": "1"})
    elapsed = time.monotonic() - started
    assert r.returncode == 0, r.stderr
    # A hang guard below the default deadline (10 s): the variable was obeyed.
    assert elapsed < 9, f"exit took {elapsed:.1f}s with SPATE_EXIT_TIMEOUT_SECS=1"
    assert "spate: at exit, not everything was delivered" in r.stderr, r.stderr
    assert "rerun+http" in r.stderr or "grpc" in r.stderr.lower(), r.stderr
    assert_rows(official.dump(tmp_path / "tee.rrd"), 0, ROWS)


def test_a_bad_exit_timeout_is_reported_and_the_default_used(official: Official, tmp_path: Path) -> None:
    script = LOG_ROWS + f"""
rr.init("rerun_example_bad_exit_timeout")
rr.set_sinks(rr.FileSink("out.rrd"))
log_rows(0, {ROWS})
"""
    r = run_script(script, tmp_path, env={"SPATE_EXIT_TIMEOUT_SECS": "soon"})
    assert r.returncode == 0, r.stderr
    assert "SPATE_EXIT_TIMEOUT_SECS='soon' is not a number" in r.stderr
    assert_rows(official.dump(tmp_path / "out.rrd"), 0, ROWS)


def test_a_forked_child_does_not_shut_down_its_parents_recording(official: Official, tmp_path: Path) -> None:
    # The child ends through sys.exit (so atexit hooks run in it); the parent logs on after
    # the child is gone, and its file must hold every row, footer and all.
    script = LOG_ROWS + f"""
import os, sys
rr.init("rerun_example_fork")
rr.set_sinks(rr.FileSink("out.rrd"))
log_rows(0, {ROWS})
pid = os.fork()
if pid == 0:
    sys.exit(0)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0
log_rows({ROWS}, {ROWS})
"""
    started = time.monotonic()
    r = run_script(script, tmp_path, env={"SPATE_EXIT_TIMEOUT_SECS": "20"})
    assert r.returncode == 0, r.stderr
    assert "spate:" not in r.stderr, r.stderr
    assert time.monotonic() - started < LIMIT
    assert_rows(official.dump(tmp_path / "out.rrd"), 0, 2 * ROWS)


def test_multiprocessing_children_leave_the_parents_recording_alone(official: Official, tmp_path: Path) -> None:
    script = LOG_ROWS + f"""
import multiprocessing as mp

def child(q):
    q.put(rr.__version__)

if __name__ == "__main__":
    rr.init("rerun_example_mp")
    rr.set_sinks(rr.FileSink("out.rrd"))
    log_rows(0, {ROWS})
    for method in ("fork", "spawn", "forkserver"):
        ctx = mp.get_context(method)
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(q,))
        p.start()
        assert q.get(timeout=60) == rr.__version__
        p.join(60)
        assert p.exitcode == 0, (method, p.exitcode)
    log_rows({ROWS}, {ROWS})
"""
    (tmp_path / "main.py").write_text(script)
    r = run_script(tmp_path / "main.py", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "spate:" not in r.stderr, r.stderr
    assert_rows(official.dump(tmp_path / "out.rrd"), 0, 2 * ROWS)


def test_the_exit_hook_says_nothing_of_a_recording_already_shut_down(tmp_path: Path) -> None:
    # Its report went to the caller of shutdown(); the exit must not print it again as news.
    script = f"""
import numpy as np
import spate as rr
rr.init("rerun_example_shut_down_before_exit")
rr.set_sinks(rr.GrpcSink("rerun+http://127.0.0.1:{free_port()}/proxy"))
rr.log("points", rr.Points3D(np.ones((100, 3), np.float32)))
report = rr.shutdown(timeout_sec=0.5)
assert not report["complete"]
print("shut down")
"""
    r = run_script(script, tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "shut down", r.stderr
    assert "spate:" not in r.stderr, r.stderr
