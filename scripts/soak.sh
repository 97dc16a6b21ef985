#!/usr/bin/env bash
# The fault-injection soak (issue 12): N minutes of logging from several threads into one
# recording with three sinks at once while their world breaks:
#   - a FileSink (rotating) on a small tmpfs mounted here, which fills up (ENOSPC); the
#     driver moves the closed files out and attaches a fresh sink with set_sinks;
#   - a GrpcSink (SinkPolicy::Block) to a `spate serve --save` child that is SIGKILLed every
#     2-6 s and restarted on the same port;
#   - a sink of the driver's own that stalls for 0.3-3 s every 3-10 s.
# Then every row is accounted for (examples/soak: rows received + rows counted dropped =
# rows handed, per sink; rows lost without being counted must be 0), and every file left
# behind (file-sink segments, server saves) goes through the official `rerun rrd verify`.
#
#   scripts/soak.sh [--minutes N] [--out DIR] [--tmpfs-size SIZE] [--seed S]
#
# Defaults: 10 minutes, DIR = target/soak/DATE-TIME (must be empty), a 160m tmpfs (the file
# sinks cycle through the io_uring, pwritev and mmap backends; a new mmap file preallocates
# 64 MiB while the failed sink's last segment is still there). Needs root (mount).
# Results: DIR/soak.log (the numbers), DIR/soak.json, DIR/files.tsv (each file and how it is
# verified), DIR/verify.log, DIR/file/ and DIR/server/ (the files themselves).
# Exit code: 0 when everything adds up and every file passes; 1 when anything does not;
# 2 when the soak could not run.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=10
out=""
size=160m
seed=()
while (($#)); do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --tmpfs-size) size="$2"; shift 2 ;;
    --seed) seed=(--seed "$2"); shift 2 ;;
    -h | --help) sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if ! [[ $minutes =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  echo "soak.sh: --minutes wants a number, got $minutes" >&2
  exit 2
fi
if ((EUID != 0)); then
  echo "soak.sh: needs root (it mounts a tmpfs)" >&2
  exit 2
fi
out="${out:-target/soak/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
if [[ -n "$(ls -A "$out")" ]]; then
  echo "soak.sh: $out is not empty" >&2
  exit 2
fi

scripts/rerun-tools.sh
rerun="${SPATE_RERUN_VENV:-$PWD/.venv-rerun}/bin/rerun"
cargo build --release --bin spate --example soak

mnt="$(mktemp -d /tmp/spate-soak-tmpfs.XXXXXX)"
driver=""
viewer=""
cleanup() {
  # Only what this script started, by PID.
  if [[ -n $driver ]] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null || true
    wait "$driver" 2>/dev/null || true
  fi
  if [[ -n $viewer ]]; then
    kill "$viewer" 2>/dev/null || true
  fi
  # The driver's live server, if the driver died without stopping it (only if that PID is
  # still a server saving into this run's directory).
  if [[ -f $out/server.pid ]]; then
    local pid
    pid="$(cat "$out/server.pid")"
    if grep -qa -- "$out/server" "/proc/$pid/cmdline" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  if mountpoint -q "$mnt"; then
    umount "$mnt" || umount -l "$mnt"
  fi
  rmdir "$mnt" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mount -t tmpfs -o "size=$size" spate-soak "$mnt"

# A hang is a result too: the driver gets its minutes plus 10 for shutdown and read-back.
limit=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 + 600 }')
: >"$out/soak.log"
timeout --kill-after=30 "$limit" target/release/examples/soak \
  --minutes "$minutes" --out "$out" --tmpfs "$mnt" ${seed[@]+"${seed[@]}"} >"$out/soak.log" 2>&1 &
driver=$!
tail -n +1 -f --pid="$driver" "$out/soak.log" &
viewer=$!
status=0
wait "$driver" || status=$?
driver=""
wait "$viewer" 2>/dev/null || true
viewer=""
case $status in
  0 | 1) ;;
  124 | 137)
    echo "soak.sh: FAIL: the driver did not finish within ${limit} s (a hang); see $out/soak.log"
    exit 1
    ;;
  *)
    echo "soak.sh: the driver could not run (exit $status); see $out/soak.log"
    exit 2
    ;;
esac

echo
version="$("$rerun" --version)" # not piped into head: rerun panics on a closed stdout
version="${version%%$'\n'*}"
echo "verifying every file with the official tools (${version%% (*}) ..."
passed=0
failed=0
no_footer=0
skipped=0
: >"$out/verify.log"
while IFS=$'\t' read -r path mode why; do
  case $mode in
    full) args=() ;;
    no-footer) args=(--check-footers false) ;;
    *)
      skipped=$((skipped + 1))
      echo "SKIP ($why) $path" >>"$out/verify.log"
      continue
      ;;
  esac
  if msg="$(timeout 300 "$rerun" rrd verify ${args[@]+"${args[@]}"} "$path" 2>&1)"; then
    passed=$((passed + 1))
    if [[ $mode == no-footer ]]; then
      no_footer=$((no_footer + 1))
    fi
    echo "OK ($mode${why:+: $why}) $path" >>"$out/verify.log"
  else
    failed=$((failed + 1))
    echo "FAIL ($mode${why:+: $why}) $path" | tee -a "$out/verify.log"
    echo "$msg" | tail -n 5 | sed 's/^/    /' | tee -a "$out/verify.log"
  fi
done <"$out/files.tsv"
echo "official verify: $passed files passed ($no_footer of them with --check-footers false:" \
  "cut by ENOSPC or SIGKILL, see $out/files.tsv), $failed failed, $skipped skipped (empty)" |
  tee -a "$out/soak.log"

if ((status == 0 && failed == 0)); then
  echo "soak.sh: PASS ($out)"
  exit 0
fi
echo "soak.sh: FAIL: $([[ $status != 0 ]] && echo "the accounting does not add up; ")$failed files rejected by the official tools ($out)"
exit 1
