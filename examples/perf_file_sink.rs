//! File-write throughput, for `perf/file_sink.sh`: the machine's raw sequential-write limit and
//! spate's `Recording` → `FileSink` path, measured the same way. Each run prints one JSON line
//! on stdout: `{"mode":..,"bytes":..,"seconds":..,"mb_per_s":..}` (MB = 10^6 bytes) plus
//! details; diagnostics go to stderr.
//!
//! ```text
//! # plain sequential writes of N bytes in blocks from one warm, pre-touched buffer
//! perf_file_sink raw --bytes 1GiB --block 8MiB --method write|pwritev --out FILE
//! # Recording -> FileSink, warm loaned buffers, C clouds of P points (20 B/point)
//! perf_file_sink spate --points 1000000 --clouds 50 --backend pwrite|mmap|uring|auto --out FILE
//! ```
//!
//! Timing, the same in both modes: the file is created before the clock starts; the clock
//! stops when every byte has been handed to the kernel and the file is closed (for spate:
//! `Recording::shutdown` returned, i.e. footer written and the sink closed). No `fsync` is
//! timed unless `--fsync` is given, in which case both modes end with one `fdatasync`
//! (spate: `SyncPolicy::OnClose`). Page-cache writes are what these runs compare.

use std::fs::OpenOptions;
use std::io::{IoSlice, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use spate::sink::{FileSink, FileSinkOptions, IoBackend, SyncPolicy};
use spate::{EntityPath, Points3D, Recording, SinkExt, SinkPolicy};

mod perf_common;
use perf_common::{fill, parse_size};

#[derive(Parser)]
#[command(about = "Raw vs spate file-write throughput (one JSON line per run)")]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Plain sequential writes from one warm buffer: the machine's limit.
    Raw {
        /// Total bytes to write (suffixes K, M, G, KiB, MiB, GiB).
        #[arg(long, value_parser = parse_size)]
        bytes: u64,
        /// Bytes per write call.
        #[arg(long, default_value = "8MiB", value_parser = parse_size)]
        block: u64,
        /// `write(2)` or `pwritev(2)` (one iovec per block unless --iovs).
        #[arg(long, value_enum, default_value_t = Method::Write)]
        method: Method,
        /// pwritev only: split each block into this many iovecs.
        #[arg(long, default_value_t = 1)]
        iovs: usize,
        /// The warm source buffer, cycled through (default: one block).
        #[arg(long, value_parser = parse_size)]
        buffer: Option<u64>,
        /// Output file (created / truncated).
        #[arg(long)]
        out: PathBuf,
        /// End the timed region with `fdatasync`.
        #[arg(long)]
        fsync: bool,
    },
    /// `Recording` -> `FileSink` end to end, from warm loaned buffers.
    Spate {
        /// Points per cloud (20 bytes each: f32x3 position, u32 color, f32 radius).
        #[arg(long, default_value_t = 1_000_000)]
        points: usize,
        /// Clouds logged (one entity, timeline `frame`).
        #[arg(long, default_value_t = 50)]
        clouds: usize,
        /// I/O backend: auto, uring, mmap or pwrite.
        #[arg(long, default_value = "auto")]
        backend: IoBackend,
        /// Output `.rrd` file.
        #[arg(long)]
        out: PathBuf,
        /// Clouds' worth of buffers to loan, touch and return before timing (default: what
        /// can be in flight, at most 32: what the pools keep).
        #[arg(long)]
        warm: Option<usize>,
        /// Do not fill the loaned buffers in the timed loop (they keep the warm-up values).
        #[arg(long)]
        no_fill: bool,
        /// Sync on close (`SyncPolicy::OnClose`) instead of never.
        #[arg(long)]
        fsync: bool,
        /// The producer lane's byte bound (`RecordingBuilder::lane_capacity`).
        #[arg(long, default_value = "32MiB", value_parser = parse_size)]
        lane_bytes: u64,
        /// The file sink's queue bound (`SinkSpec::max_queue_bytes`). With the lane, this
        /// bounds the clouds in flight, which must stay within the pools (64 idle buffers
        /// each) for every loan to be warm.
        #[arg(long, default_value = "32MiB", value_parser = parse_size)]
        queue_bytes: u64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Method {
    Write,
    Pwritev,
}

fn json_line(mode: &str, bytes: u64, seconds: f64, extra: serde_json::Value) {
    // The four common keys first, in this order; then the mode's details.
    let mut line = format!(
        "{{\"mode\":{},\"bytes\":{bytes},\"seconds\":{seconds},\"mb_per_s\":{}",
        serde_json::Value::from(mode),
        bytes as f64 / seconds / 1e6
    );
    if let serde_json::Value::Object(more) = extra {
        for (k, v) in more {
            line.push_str(&format!(",{}:{v}", serde_json::Value::from(k)));
        }
    }
    line.push('}');
    println!("{line}");
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[allow(clippy::too_many_arguments)]
fn raw(
    bytes: u64,
    block: u64,
    method: Method,
    iovs: usize,
    buffer: Option<u64>,
    out: PathBuf,
    fsync: bool,
) -> Res<()> {
    let block = usize::try_from(block.max(1))?;
    let buf_len = usize::try_from(buffer.unwrap_or(block as u64))?.max(block);
    // Pre-touched: every page written (non-zero, so not a shared zero page) before timing.
    let buf: Vec<u8> = (0..buf_len).map(|i| (i % 251) as u8 + 1).collect();
    let iovs = iovs.clamp(1, 1024);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&out)?;
    let mut calls = 0u64;

    let start = Instant::now();
    let (mut done, mut src) = (0u64, 0usize);
    while done < bytes {
        let len = block.min(usize::try_from(bytes - done)?);
        if src + len > buf_len {
            src = 0;
        }
        let piece = &buf[src..src + len];
        match method {
            Method::Write => {
                file.write_all(piece)?;
                calls += 1;
            }
            Method::Pwritev => {
                let mut off = 0usize;
                while off < len {
                    let rest = &piece[off..];
                    let step = rest.len().div_ceil(iovs);
                    let slices: Vec<IoSlice<'_>> = rest.chunks(step).map(IoSlice::new).collect();
                    let n = match rustix::io::pwritev(&file, &slices, done + off as u64) {
                        Ok(0) => return Err("pwritev wrote nothing".into()),
                        Ok(n) => n,
                        Err(rustix::io::Errno::INTR) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    calls += 1;
                    off += n;
                }
            }
        }
        done += len as u64;
        src += len;
    }
    if fsync {
        file.sync_data()?;
    }
    drop(file);
    let seconds = start.elapsed().as_secs_f64();

    let method = match method {
        Method::Write => "write",
        Method::Pwritev => "pwritev",
    };
    json_line(
        "raw",
        bytes,
        seconds,
        serde_json::json!({
            "method": method,
            "block": block,
            "iovs": iovs,
            "buffer": buf_len,
            "calls": calls,
            "fsync": fsync,
        }),
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn spate(
    points: usize,
    clouds: usize,
    backend: IoBackend,
    out: PathBuf,
    warm: Option<usize>,
    no_fill: bool,
    fsync: bool,
    lane_bytes: u64,
    queue_bytes: u64,
) -> Res<()> {
    let sync = if fsync {
        SyncPolicy::OnClose
    } else {
        SyncPolicy::Never
    };
    let sink = FileSink::create(&out, FileSinkOptions::default().backend(backend).sync(sync))?;
    let resolved = sink.backend();
    let rec = Recording::builder("spate_perf")
        .recording_id("perf-file-sink")
        // Lossless: every cloud must reach the file.
        .sinks(
            sink.with_policy(SinkPolicy::Block)
                .max_queue_bytes(queue_bytes),
        )
        .lane_capacity(lane_bytes)
        .start()?;
    let entity = EntityPath::parse("lidar")?;

    // Warm the pools: loan what the engine will have in flight, touch every page, give back.
    // What can be in flight: a lane's and a queue's worth, what the io_uring backend keeps
    // submitted (up to 64 MiB), one cloud being written, one being filled, one of slack; the
    // pools keep at most 32 clouds' worth (64 f32 buffers).
    let cloud_bytes = (points as u64 * 20).max(1);
    let in_flight = ((lane_bytes + queue_bytes + (64 << 20)) / cloud_bytes) as usize + 3;
    let warm = warm.unwrap_or(clouds.min(in_flight).min(32));
    {
        let mut held = Vec::with_capacity(warm);
        for f in 0..warm {
            let mut p = rec.loan_points(points);
            let mut c = rec.loan_u32(points);
            let mut r = rec.loan_f32(points);
            fill(&mut p, &mut c, &mut r, f);
            held.push((p, c, r));
        }
    }

    let start = Instant::now();
    for f in 0..clouds {
        rec.set_time_sequence("frame", f as i64)?;
        let mut p = rec.loan_points(points);
        let mut c = rec.loan_u32(points);
        let mut r = rec.loan_f32(points);
        if !no_fill {
            fill(&mut p, &mut c, &mut r, f);
        }
        rec.log(&entity, &Points3D::new(p).with_colors(c).with_radii(r))?;
    }
    rec.flush(Instant::now() + Duration::from_secs(600))?;
    let flushed = start.elapsed().as_secs_f64();
    let report = rec.shutdown(Instant::now() + Duration::from_secs(600));
    let seconds = start.elapsed().as_secs_f64();

    if !report.is_complete() {
        return Err(format!("not everything reached the file: {report:#?}").into());
    }
    let (f32_pool, u32_pool) = rec.pool_stats();
    let file_bytes = std::fs::metadata(&out)?.len();
    eprintln!(
        "spate: {} via {}: {} chunks; pools: f32 {} fresh / {} reused, u32 {} fresh / {} reused",
        out.display(),
        report.sinks[0].stats.name,
        report.stats.chunks_encoded,
        f32_pool.fresh,
        f32_pool.reuses,
        u32_pool.fresh,
        u32_pool.reuses,
    );
    json_line(
        "spate",
        file_bytes,
        seconds,
        serde_json::json!({
            "backend": resolved.as_str(),
            "points": points,
            "clouds": clouds,
            "payload_bytes": (points * 20 * clouds) as u64,
            "flush_seconds": flushed,
            "fill": !no_fill,
            "warm_clouds": warm,
            "fsync": fsync,
            "lane_bytes": lane_bytes,
            "queue_bytes": queue_bytes,
            "fresh_loans_timed": f32_pool.fresh + u32_pool.fresh - (3 * warm) as u64,
        }),
    );
    Ok(())
}

fn main() -> Res<()> {
    match Args::parse().mode {
        Mode::Raw {
            bytes,
            block,
            method,
            iovs,
            buffer,
            out,
            fsync,
        } => raw(bytes, block, method, iovs, buffer, out, fsync),
        Mode::Spate {
            points,
            clouds,
            backend,
            out,
            warm,
            no_fill,
            fsync,
            lane_bytes,
            queue_bytes,
        } => spate(
            points,
            clouds,
            backend,
            out,
            warm,
            no_fill,
            fsync,
            lane_bytes,
            queue_bytes,
        ),
    }
}
