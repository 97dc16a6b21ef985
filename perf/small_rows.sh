#!/usr/bin/env bash
# Small rows the way users log them (issue 14, item 2): the time set before every row and a
# fresh one-point Points3D per row, into a lossless file, by spate and by the official Rust
# SDK (re_sdk 0.36.3, the newest that builds on Rust 1.95) in the same run.
#
#   perf/small_rows.sh [--quick] [--rounds R] [--rows N] [--peer-rows M] [--producers K]
#                      [--dir DIR] [--peer-target DIR]
#
#   peer   perf/rust_sdk_peer (a scratch crate, not in spate's workspace):
#          RecordingStreamBuilder::save, then per row set_time_sequence("frame", i) and
#          log("p", &Points3D::new(vec![[i, 0, 1]])); flush_blocking and drop
#   spate  examples/perf_small_rows.rs: Recording -> FileSink (LanePolicy::Block,
#          SinkPolicy::Block), the same loop (K producers: N/K rows each, own entity);
#          shutdown; the report must be complete with N rows logged
# Each round runs both (the order alternates between rounds), each into a new file in DIR
# (default $TMPDIR), deleted after it is checked. Both clocks start before the first row
# (file already created) and stop after the last byte is written and the file closed: the
# final flush to disk is inside both. Rows/s is what is compared, so the slower SDK runs
# fewer rows by default (M = 500k against spate's N = 2M).
#
# Every file is checked with the official tools (rerun-sdk 0.41.0 in .venv-rerun): `rerun
# rrd verify FILE`, and rerun.chunk.RrdReader(FILE).stream() must hold exactly the rows
# logged on the temporal entities. A run whose file fails a check counts as failed.
#
# The ratio spate ÷ peer is paired within a round, then the median and min-max over rounds
# are reported, against the goal (≥ 15×). Writes perf/results/<date>-<host>-small_rows.md
# (machine, commit, build time of the peer if it was built, every run's JSON line) and prints
# it. Full: 5 rounds (under a minute once built); --quick: 3 rounds of 500k / 200k rows.
#
# The peer is built once (cargo --locked, perf/rust_sdk_peer/Cargo.lock) into --peer-target
# (default: target-peer beside the repository, or $SPATE_PEER_TARGET_DIR), outside spate's
# target dir; the first build compiles re_sdk and its dependencies: 10+ minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

quick=0
rounds=""
rows=""
peer_rows=""
producers=1
workdir="${TMPDIR:-/tmp}"
peer_target="${SPATE_PEER_TARGET_DIR:-$(dirname "$ROOT")/target-peer}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --rounds) rounds="$2"; shift ;;
    --rows) rows="$2"; shift ;;
    --peer-rows) peer_rows="$2"; shift ;;
    --producers) producers="$2"; shift ;;
    --dir) workdir="$2"; shift ;;
    --peer-target) peer_target="$2"; shift ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ $quick == 1 ]]; then
  rounds="${rounds:-3}"; rows="${rows:-500000}"; peer_rows="${peer_rows:-200000}"
else
  rounds="${rounds:-5}"; rows="${rows:-2000000}"; peer_rows="${peer_rows:-500000}"
fi

# shellcheck source=perf/lib.sh
source perf/lib.sh
official_python

echo "building spate (release) ..." >&2
cargo build --release --example perf_small_rows >&2
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/perf_small_rows"

PEER="$peer_target/release/rust_sdk_peer"
echo "building the re_sdk peer (release, into $peer_target) ..." >&2
peer_build_started=$(date +%s)
peer_before=$(stat -c %Y "$PEER" 2>/dev/null || echo none)
cargo build --release --locked --manifest-path perf/rust_sdk_peer/Cargo.toml \
  --target-dir "$peer_target" >&2
peer_build_secs=$(($(date +%s) - peer_build_started))
peer_was_built=0
[[ $(stat -c %Y "$PEER") != "$peer_before" ]] && peer_was_built=1

runs_dir small-rows

# check FILE ROWS: the official tools' verdict on FILE, as a JSON object: verify (ok or the
# error), rows_read (temporal rows RrdReader sees), entities, file_bytes.
check() {
  local file=$1 want=$2 verify
  if verify=$("$VENV/bin/rerun" rrd verify "$file" 2>&1); then verify=ok; fi
  "$PY" - "$file" "$want" "$verify" <<'EOF'
import json, os, sys, warnings
from collections import Counter
path, want, verify = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = {"verify": verify if verify == "ok" else verify.strip()[-300:], "file_bytes": os.path.getsize(path)}
try:
    from rerun.chunk import RrdReader
    rows = Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in RrdReader(path).stream():
            if not c.is_static:
                rows[c.entity_path] += c.num_rows
    out["rows_read"] = sum(rows.values())
    out["entities"] = len(rows)
except Exception as e:  # noqa: BLE001 - reported, not raised
    out["read_error"] = f"{type(e).__name__}: {e}"[:300]
out["ok"] = out["verify"] == "ok" and out.get("rows_read") == want
print(json.dumps(out))
EOF
}

# run ROUND VARIANT ROWS OUTFILE CMD...: one run and the check of its file, as one JSON line
# in $RUNS with its labels.
run() {
  local round=$1 variant=$2 n=$3 out=$4
  shift 4
  rm -f "$out"
  local load line verdict
  load=$(cut -d' ' -f1 /proc/loadavg)
  if line=$("$@" 2>"$DIR/stderr"); then
    verdict=$(check "$out" "$n")
    printf '{"size":"rows","round":%d,"variant":"%s","load1":%s,"result":%s,"check":%s}\n' \
      "$round" "$variant" "$load" "$line" "$verdict" >>"$RUNS"
    printf '  round %d  %-6s %10.0f rows/s   check: %s\n' "$round" "$variant" \
      "$(sed -E 's/.*"rows_per_s": *([0-9.eE+-]+).*/\1/' <<<"$line")" \
      "$(sed -E 's/.*"ok": *(true|false).*/\1/' <<<"$verdict" | sed 's/true/ok/;s/false/FAILED/')" >&2
  else
    record_failure rows "$round" "$variant" "$load"
  fi
  rm -f "$out"
}

echo "== $rounds rounds: re_sdk $peer_rows rows, spate $rows rows ($producers producer(s)) per run" >&2
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then order="peer spate"; else order="spate peer"; fi
  for v in $order; do
    case $v in
      peer) run "$r" peer "$peer_rows" "$DIR/peer.rrd" "$PEER" "$peer_rows" "$DIR/peer.rrd" ;;
      spate) run "$r" spate "$rows" "$DIR/spate.rrd" \
        "$BIN" --rows "$rows" --out "$DIR/spate.rrd" --producers "$producers" ;;
    esac
  done
done

clock_end

machine_context
mkdir -p perf/results
REPORT="perf/results/${stamp}-${host}-small_rows.md"
peer_lock=$(awk '/^name = "re_sdk"$/ {getline; print $3}' perf/rust_sdk_peer/Cargo.lock | tr -d '"')

export RUNS REPORT host commit cpu mem rustc_v sdk elapsed load_start load_end quick rounds \
  rows peer_rows producers peer_build_secs peer_was_built peer_lock
export KERNEL="$(uname -srm)" NPROC="$(nproc)" WHEN="$(date -Is)"
"$PY" - <<'EOF'
import json, os, statistics as st, sys
from collections import defaultdict

sys.path.insert(0, "perf")
from report import finish

E = os.environ
runs = [json.loads(l) for l in open(E["RUNS"])]
# A run counts only if its file passed the official checks.
ok = [r for r in runs if "result" in r and r["check"]["ok"]]
rate = defaultdict(dict)
for r in ok:
    rate[r["round"]][r["variant"]] = r["result"]["rows_per_s"]

def fmt(x):
    return f"{x:,.0f}"

def summary(xs, f=fmt):
    return (f(st.median(xs)), f"{f(min(xs))}–{f(max(xs))}") if xs else ("n/a", "")

lines = []
P = lines.append
P("# Small rows: spate vs the official Rust SDK (time set per row, fresh one-point Vec, lossless file)")
P("")
P(f"- when: {E['WHEN']} ({'quick' if E['quick'] == '1' else 'full'} mode, {E['rounds']} rounds, {E['elapsed']} s)")
P(f"- machine: {E['host']}, {E['NPROC']} cores ({E['cpu']}), {E['mem']} RAM; kernel {E['KERNEL']}")
P(f"- commit: {E['commit']}; {E['rustc_v']}; peer: re_sdk {E['peer_lock']} (perf/rust_sdk_peer, release, default features off)"
  + (f", built in this run in {E['peer_build_secs']} s" if E["peer_was_built"] == "1" else ", already built"))
P(f"- checks: {E['sdk']} (`rerun rrd verify`, `rerun.chunk.RrdReader` row count)")
loads = [r["load1"] for r in runs]
P(f"- load average (1/5/15 min) at start {E['load_start']}, at end {E['load_end']}; "
  f"1-min load seen by the runs {min(loads):.2f}–{max(loads):.2f}")
P("")
P(f"Each row: `set_time_sequence(\"frame\", i)`, then `log` of a `Points3D` of one fresh `vec![[i, 0, 1]]`. "
  f"re_sdk: {int(E['peer_rows']):,} rows per run into `RecordingStreamBuilder::save` (its defaults: "
  f"LZ4, default batcher), `flush_blocking` and drop inside the timing. spate: {int(E['rows']):,} rows per run, "
  f"{E['producers']} producer(s), into `FileSink` (`LanePolicy::Block`, `SinkPolicy::Block`), "
  "`shutdown` inside the timing, the report complete. Every file verified and its rows counted by the "
  "official tools. Ratios are paired within a round; median and min–max over rounds.")
P("")
P("| impl | rows per run | median rows/s | min–max rows/s | runs |")
P("| --- | ---: | ---: | ---: | ---: |")
for v, name, n in (("peer", f"re_sdk {E['peer_lock']}", E["peer_rows"]), ("spate", "**spate**", E["rows"])):
    xs = [rate[r][v] for r in rate if v in rate[r]]
    med, rng = summary(xs)
    P(f"| {name} | {int(n):,} | {med} | {rng} | {len(xs)} |")
ratios = [rate[r]["spate"] / rate[r]["peer"] for r in sorted(rate) if {"spate", "peer"} <= rate[r].keys()]
med, rng = summary(ratios, lambda x: f"{x:.1f}×")
P("")
P(f"**spate ÷ re_sdk: {med}** (min–max {rng}, {len(ratios)} paired rounds); goal ≥ 15×: "
  + ("n/a" if not ratios else ("met" if st.median(ratios) >= 15 else "not met")) + ".")
P("")
P("| round | re_sdk rows/s | spate rows/s | ratio | re_sdk file | spate file |")
P("| ---: | ---: | ---: | ---: | ---: | ---: |")
size = {(r["round"], r["variant"]): r["check"]["file_bytes"] for r in runs if "check" in r}
for rd in sorted(rate):
    p, s = rate[rd].get("peer"), rate[rd].get("spate")
    ratio = f"{s / p:.1f}×" if p and s else ""
    def mb(v):
        b = size.get((rd, v))
        return f"{b / 1e6:.1f} MB" if b else ""
    P(f"| {rd} | {fmt(p) if p else ''} | {fmt(s) if s else ''} | {ratio} | {mb('peer')} | {mb('spate')} |")
P("")
bad = [r for r in runs if "check" in r and not r["check"]["ok"]]
if bad:
    P("## Runs whose file failed a check (not counted)")
    P("")
    for r in bad:
        P(f"- round {r['round']} {r['variant']}: {json.dumps(r['check'])}")
    P("")

finish(lines, runs, E["REPORT"])
EOF
