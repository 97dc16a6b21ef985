"""The three examples of Rerun's "Sinks" page run with only their import line changed
(`import spate as rr`), against the official `rerun --serve-grpc` on the default port 9876
and into files, and the official tools read back every value the official SDK writes for
the same script.

Each example runs as a subprocess (`cwd` = a temporary directory): none calls flush, so the
exit hook is what delivers the data. What reached the server is read back with
`ReadMessages` (`spate._spate._read_messages`, as a late viewer would) into an `.rrd` file;
every file is judged by the official `rerun rrd verify` and `rerun.chunk.RrdReader`
(`support/dump_rrd.py`), and compared with what the official SDK's own run of the
unmodified script writes (the same server, restarted between the two runs).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, LIMIT, Official, run_script, skip_or_fail
from spate import _spate

PAGE_DIR = Path(__file__).resolve().parent / "sinks_page"
EXAMPLES = ["grpc_sink.py", "file_sink.py", "set_sinks.py"]
PROPERTIES = "/__properties"


def page_lines() -> list[str]:
    page = Path(os.environ.get("SPATE_SEED_SINKS", REPO.parent / "shared" / "seed-sinks.txt"))
    if not page.exists():
        skip_or_fail(f"the Sinks page's text {page} is missing")
    return page.read_text().splitlines()


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_are_the_page_with_only_the_import_line_changed(name: str) -> None:
    # The page's copy lost the indentation inside `rr.set_sinks(` ... `)` and `rr.log(` ... `)`;
    # the files restore it (4 spaces). Nothing else may differ but the import line.
    ours = (PAGE_DIR / name).read_text().splitlines()
    page = page_lines()
    start = page.index(ours[0])  # the docstring opens each example
    theirs = page[start : start + len(ours)]
    assert len(theirs) == len(ours), "the file is longer than the page's example"
    after = page[start + len(ours)] if start + len(ours) < len(page) else ""
    assert not after.startswith(("rr.", " ", ")", "#", "import", '"""')), f"the file stops before the example does: {after!r}"

    inside, reindented = False, []
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a == b:
            if b.endswith("(") and b.startswith(("rr.set_sinks", "rr.log")):
                inside = True
            elif b == ")":
                inside = False
            continue
        if b == "import rerun as rr":
            assert a == "import spate as rr", (i, a)
            continue
        assert inside and a == "    " + b, f"line {i + 1} differs beyond indentation: {a!r} vs the page's {b!r}"
        reindented.append(i)
    assert ours.count("import spate as rr") == 1
    if name == "set_sinks.py":
        assert len(reindented) == 8, reindented  # 4 lines in set_sinks(...), 4 in log(...)
    else:
        assert reindented == []


def official_copy(name: str, where: Path) -> Path:
    """The unmodified example (`import rerun as rr`) in `where`."""
    where.mkdir(parents=True, exist_ok=True)
    text = (PAGE_DIR / name).read_text().replace("import spate as rr", "import rerun as rr")
    out = where / name
    out.write_text(text)
    return out


def run_both(official: Official, name: str, tmp_path: Path, start_server=None, min_rows: int = 0):
    """Runs the official SDK's copy, then spate's, each into a directory of its own (and
    each against a fresh server when `start_server` is given, read back into grpc.rrd)."""
    runs = {}
    for who in ("sdk", "spate"):
        cwd = tmp_path / who
        cwd.mkdir()
        server = start_server() if start_server else None
        if who == "sdk":
            r = official.run_script(official_copy(name, tmp_path / "scripts"), cwd)
        else:
            r = run_script(PAGE_DIR / name, cwd)
        assert r.returncode == 0, f"{who} run of {name} failed:\n{r.stdout}\n{r.stderr}"
        if who == "spate":
            assert "not everything was delivered" not in r.stderr, r.stderr
        if server is not None:
            rows = _spate._read_messages(server.url, str(cwd / "grpc.rrd"), min_rows, LIMIT)
            assert rows == min_rows, f"{who}: {rows} rows on the server, expected {min_rows}"
            server.stop()
        runs[who] = cwd
    return runs["sdk"], runs["spate"]


def logged_rows(dump: dict) -> list[dict]:
    return [r for r in dump["rows"] if r["entity"] != PROPERTIES]


def assert_same_recording(sdk: dict, spate: dict, application_id: str) -> None:
    assert [s[:2] for s in spate["recordings"]] == [["recording", application_id]], spate["recordings"]
    assert [s[:2] for s in sdk["recordings"]] == [["recording", application_id]], sdk["recordings"]
    # The recording's properties row: the same components (start times differ).
    props = {who: [sorted(r["components"]) for r in d["rows"] if r["entity"] == PROPERTIES] for who, d in (("sdk", sdk), ("spate", spate))}
    assert props["spate"] == props["sdk"], props
    assert logged_rows(spate) == logged_rows(sdk)


def test_grpc_sink_example(official: Official, serve_9876, tmp_path: Path) -> None:
    sdk, spate = run_both(official, "grpc_sink.py", tmp_path, serve_9876, min_rows=0)
    assert_same_recording(official.dump(sdk / "grpc.rrd"), official.dump(spate / "grpc.rrd"), "rerun_example_grpc_sink")


def test_file_sink_example(official: Official, tmp_path: Path) -> None:
    sdk, spate = run_both(official, "file_sink.py", tmp_path)
    assert_same_recording(official.dump(sdk / "recording.rrd"), official.dump(spate / "recording.rrd"), "rerun_example_file_sink")


def expected_points() -> dict:
    """What the tee example logs, computed here as the script does (float64 and uint8 rows,
    F-ordered by the `.T`), in the SDK's stored form: float32 positions, packed RGBA."""
    SIZE = 10
    pos_grid = np.meshgrid(*[np.linspace(-10, 10, SIZE)] * 3)
    positions = np.vstack([d.reshape(-1) for d in pos_grid]).T
    col_grid = np.meshgrid(*[np.linspace(0, 255, SIZE)] * 3)
    colors = np.vstack([c.reshape(-1) for c in col_grid]).astype(np.uint8).T.astype(np.uint32)
    packed = (colors[:, 0] << 24) | (colors[:, 1] << 16) | (colors[:, 2] << 8) | 0xFF
    return {
        "Points3D:positions": positions.astype(np.float32).tolist(),
        "Points3D:colors": packed.tolist(),
        "Points3D:radii": [0.5],
    }


def test_set_sinks_example_tee(official: Official, serve_9876, tmp_path: Path) -> None:
    sdk, spate = run_both(official, "set_sinks.py", tmp_path, serve_9876, min_rows=1)
    dumps = {
        (who, where): official.dump(d / f)
        for who, d in (("sdk", sdk), ("spate", spate))
        for where, f in (("file", "data.rrd"), ("grpc", "grpc.rrd"))
    }
    for where in ("file", "grpc"):
        assert_same_recording(dumps["sdk", where], dumps["spate", where], "rerun_example_set_sinks")
    (row,) = logged_rows(dumps["spate", "file"])
    assert row["entity"] == "/my_points" and not row["static"]
    assert len(row["components"]["Points3D:positions"]) == 1000
    assert row["components"] == expected_points()
    assert logged_rows(dumps["spate", "grpc"]) == [row]
