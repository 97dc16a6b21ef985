"""Several Python threads log clouds at once, each through a lane of its own (a Python thread
is an OS thread): every row arrives, with its values and its thread's own time.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

import spate
from conftest import LIMIT, Official

THREADS = 4
CLOUDS = 50
POINTS = 100


def positions(t: int, i: int) -> np.ndarray:
    # Distinct per (thread, cloud): x = thread, y = cloud, z = point index.
    p = np.empty((POINTS, 3), np.float32)
    p[:, 0], p[:, 1], p[:, 2] = t, i, np.arange(POINTS)
    return p


def test_threads_log_through_their_own_lanes_and_every_row_arrives(official: Official, tmp_path: Path) -> None:
    rec = spate.RecordingStream("rerun_example_threads")
    rec.set_sinks(spate.FileSink(tmp_path / "threads.rrd"))
    start = threading.Barrier(THREADS, timeout=LIMIT)
    # The producers stay alive until their lanes were looked at (an exited thread's lane is
    # folded into one "exited threads" entry).
    logged = threading.Barrier(THREADS + 1, timeout=LIMIT)
    looked = threading.Event()
    errors: list[BaseException] = []

    def producer(t: int) -> None:
        try:
            start.wait()
            for i in range(CLOUDS):
                # Each thread has its own time: another thread's set_time must not leak in.
                rec.set_time("frame", sequence=t * 1000 + i)
                rec.log(f"thread{t}", spate.Points3D(positions(t, i), radii=float(t)))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            logged.wait()
            looked.wait(LIMIT)

    threads = [threading.Thread(target=producer, args=(t,), name=f"producer-{t}") for t in range(THREADS)]
    for th in threads:
        th.start()
    try:
        logged.wait()
        rec.flush()
        stats = rec.stats()
    finally:
        looked.set()
    for th in threads:
        th.join(LIMIT)
        assert not th.is_alive(), f"{th.name} still running after {LIMIT}s"
    assert errors == []
    lanes = {lane["thread"]: lane["rows_pushed"] for lane in stats["lanes"] if lane["rows_pushed"]}
    assert sorted(lanes.values()) == [CLOUDS] * THREADS, stats["lanes"]
    report = rec.shutdown()
    assert report["complete"], report["summary"]

    rows = [r for r in official.dump(tmp_path / "threads.rrd")["rows"] if r["entity"] != "/__properties"]
    assert len(rows) == THREADS * CLOUDS
    seen = set()
    for r in rows:
        t = int(r["entity"].removeprefix("/thread"))
        frame = r["time"]["frame"]
        assert frame // 1000 == t, f"thread {t}'s row carries another thread's time {frame}"
        i = frame % 1000
        assert r["components"]["Points3D:positions"] == positions(t, i).tolist()
        assert r["components"]["Points3D:radii"] == [float(t)]
        seen.add((t, i))
    assert seen == {(t, i) for t in range(THREADS) for i in range(CLOUDS)}


def test_a_thread_waiting_in_flush_does_not_hold_up_the_others(tmp_path: Path) -> None:
    # One thread flushes a recording whose server is unreachable (a long wait, the GIL
    # released); meanwhile this thread logs and flushes another recording to the end. Were
    # the GIL held while waiting, this thread could not run until that flush gave up (20 s),
    # and the waiting thread would be gone by the time the work here was done.
    from conftest import free_port

    stuck = spate.RecordingStream("rerun_example_stuck")
    stuck.set_sinks(spate.GrpcSink(f"rerun+http://127.0.0.1:{free_port()}/proxy"))
    stuck.log("points", spate.Points3D(positions(0, 0)))
    outcome: list[BaseException | None] = []
    waiting = threading.Event()

    def flusher() -> None:
        waiting.set()
        try:
            stuck.flush(timeout_sec=20)
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001 - checked below
            outcome.append(e)

    th = threading.Thread(target=flusher, name="flusher")
    th.start()
    assert waiting.wait(LIMIT)
    free = spate.RecordingStream("rerun_example_free")
    free.set_sinks(spate.FileSink(tmp_path / "free.rrd"))
    for i in range(CLOUDS):
        free.set_time("frame", sequence=i)
        free.log("points", spate.Points3D(positions(1, i)))
    free.flush()
    assert free.stats()["sinks"][0]["rows"] == CLOUDS
    assert th.is_alive(), f"the flush returned before the other thread's work was done: {outcome}"
    stuck.shutdown(timeout_sec=0.5)  # ends the waiting flush
    th.join(LIMIT)
    assert not th.is_alive()
    assert free.shutdown()["complete"]


def test_a_thread_waiting_for_room_in_a_full_lane_lets_the_others_run() -> None:
    # A recording whose only sink is stuck in its first write (`Block`, a one-message queue)
    # and whose lanes hold 2 rows: the producer soon waits for room inside `log`. Were the
    # GIL held while it waits, this thread could not run again until the stuck sink gave up
    # (30 s): by then the producer would have logged everything, and `done` would be set
    # when this thread looks.
    rows = 50
    rec, gate = spate._spate._stuck_recording(2)
    attempt = [0]
    done = threading.Event()

    def producer() -> None:
        for i in range(rows):
            attempt[0] = i + 1
            rec.log("points", spate.Points3D(positions(0, i)))
        done.set()

    th = threading.Thread(target=producer, name="producer")
    th.start()
    try:
        # Wait (bounded) until the producer is inside a `log` that cannot find room: it has
        # started a row the lane has not taken, and stays there.
        deadline = time.monotonic() + LIMIT
        while True:
            logged = rec.stats()["rows_logged"]
            if attempt[0] > logged >= 2:
                threading.Event().wait(0.1)  # the GIL goes to the producer meanwhile
                if rec.stats()["rows_logged"] == logged:
                    break
            assert time.monotonic() < deadline, f"the producer never filled its lane: {rec.stats()}"
            threading.Event().wait(0.005)
        assert not done.is_set(), "the producer finished while its sink was stuck"
        assert th.is_alive()
    finally:
        gate.open()
    th.join(LIMIT)
    assert done.is_set()
    report = rec.shutdown()
    assert report["complete"], report["summary"]
    assert report["rows_logged"] == rows
