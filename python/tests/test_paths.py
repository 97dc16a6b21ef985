"""Entity paths as `log` takes them: a `str` or a list of parts. The last `str` object is
remembered (a loop logging to one constant path skips hashing it): every row must still land
on the path it was logged to, whatever the order, and a list changed between calls is read
again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import spate
from conftest import Official


def test_every_row_lands_on_its_own_path(official: Official, tmp_path: Path) -> None:
    rec = spate.RecordingStream("rerun_example_paths")
    rec.set_sinks(spate.FileSink(tmp_path / "paths.rrd"))
    parts = ["lists", "one"]
    order: list[tuple[str, float]] = []
    # Equal text in distinct objects, the same object again, lists, a list changed in place.
    for i, path in enumerate(
        ["a", "a", "b", "".join(["a"]), "b", parts, parts, "a", ["lists", "two"], parts, "c/d", "a"]
    ):
        if i == 6:
            parts[1] = "three"  # the same list object as the row before, changed
        rec.set_time("i", sequence=i)
        rec.log(path, spate.Points3D(np.array([[float(i), 0, 0]], np.float32)))
        text = "/" + ("/".join(path) if isinstance(path, list) else path)
        order.append((text, float(i)))
    rec.shutdown()
    rows = [r for r in official.dump(tmp_path / "paths.rrd")["rows"] if r["entity"] != "/__properties"]
    got = sorted((r["entity"], r["components"]["Points3D:positions"][0][0]) for r in rows)
    assert got == sorted(order)


def test_a_bad_path_after_a_good_one_is_still_refused() -> None:
    rec = spate.RecordingStream("rerun_example_paths_bad")
    rec.log("fine", spate.Points3D(np.zeros((1, 3), np.float32)))
    with pytest.raises(ValueError, match="invalid character"):
        rec.log("not fine", spate.Points3D(np.zeros((1, 3), np.float32)))
    with pytest.raises(TypeError, match="entity path"):
        rec.log(42, spate.Points3D(np.zeros((1, 3), np.float32)))
    rec.shutdown()
