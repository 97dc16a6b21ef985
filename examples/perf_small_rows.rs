//! Small rows logged the way users log them, for `perf/small_rows.sh`: for every row the
//! time is set, then a fresh one-point `Points3D` (its own `Vec`) is logged, into a lossless
//! `FileSink`. The official Rust SDK's side of the same loop is `perf/rust_sdk_peer`.
//!
//! ```text
//! perf_small_rows --rows 2M --out FILE [--producers K] [--sink file|null] [--deadline 10m]
//! ```
//!
//! With K producers, K threads each log their share of the rows (rows / K, the first
//! rows % K one more) to their own entity `p/{k}`; with one, the entity is `p`, as in the
//! peer. Every row is at `frame` = its index within its thread.
//!
//! Lossless: the lanes block when full (`LanePolicy::Block`, the default) and so does the
//! sink's queue (`SinkPolicy::Block`). The clock starts after the sink and recording exist,
//! just before the first row, and stops when `Recording::shutdown` returns (every row
//! encoded, the file's footer written and the file closed); the report must be complete
//! with every row logged, or the run fails. Prints one JSON line on stdout:
//! `{"impl":"spate","rows":..,"secs":..,"rows_per_s":..,"producers":..,"sink":..}`.
//!
//! Exit codes: 0 success, 1 a failed run (sink, recording, incomplete report), 2 bad usage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use spate::sink::{FileSink, FileSinkOptions, NullSink};
use spate::units::{parse_duration, parse_size};
use spate::{EntityPath, Points3D, Recording, SinkExt, SinkPolicy, SinkSpec};

const USAGE: &str = "usage: perf_small_rows --rows N --out FILE [--producers K] \
                     [--sink file|null] [--deadline DURATION]";

#[derive(Clone, Copy, PartialEq, Eq)]
enum SinkKind {
    File,
    Null,
}

impl SinkKind {
    fn as_str(self) -> &'static str {
        match self {
            SinkKind::File => "file",
            SinkKind::Null => "null",
        }
    }
}

struct Args {
    rows: u64,
    out: Option<PathBuf>,
    producers: u64,
    sink: SinkKind,
    deadline: Duration,
}

/// The command line, without clap (which comes only with the `cli` feature).
fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        rows: 2_000_000,
        out: None,
        producers: 1,
        sink: SinkKind::File,
        deadline: Duration::from_secs(600),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_owned());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--rows" => args.rows = parse_size(&value).map_err(|e| format!("--rows: {e}"))?,
            "--out" => args.out = Some(PathBuf::from(value)),
            "--producers" => {
                args.producers = parse_size(&value)
                    .ok()
                    .filter(|&k| k > 0)
                    .ok_or_else(|| format!("--producers: expected at least 1, found {value:?}"))?;
            }
            "--sink" => {
                args.sink = match value.as_str() {
                    "file" => SinkKind::File,
                    "null" => SinkKind::Null,
                    _ => return Err(format!("--sink: expected file or null, found {value:?}")),
                }
            }
            "--deadline" => {
                args.deadline = parse_duration(&value).map_err(|e| format!("--deadline: {e}"))?;
            }
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    if args.sink == SinkKind::File && args.out.is_none() {
        return Err(format!("--sink file needs --out FILE\n{USAGE}"));
    }
    Ok(args)
}

/// One producer's rows: the time set before every row, each row a fresh one-point `Vec`.
fn produce(rec: &Recording, entity: &EntityPath, rows: u64) -> Result<(), spate::RecordingError> {
    for i in 0..rows {
        rec.set_time_sequence("frame", i as i64)?;
        rec.log(entity, &Points3D::new(vec![[i as f32, 0.0, 1.0]]))?;
    }
    Ok(())
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let sink: SinkSpec = match (args.sink, &args.out) {
        (SinkKind::File, Some(out)) => {
            FileSink::create(out, FileSinkOptions::default())?.with_policy(SinkPolicy::Block)
        }
        _ => NullSink.with_policy(SinkPolicy::Block),
    };
    let rec = Recording::builder("small_rows").sinks(sink).start()?;
    let k = args.producers;
    let entities: Vec<EntityPath> = if k == 1 {
        vec![EntityPath::parse("p")?]
    } else {
        (0..k)
            .map(|p| EntityPath::parse(&format!("p/{p}")))
            .collect::<Result<_, _>>()?
    };
    let share = |p: u64| args.rows / k + u64::from(p < args.rows % k);

    let start = Instant::now();
    if k == 1 {
        produce(&rec, &entities[0], args.rows)?;
    } else {
        std::thread::scope(|s| {
            let threads: Vec<_> = (0..k)
                .map(|p| {
                    let (rec, entity) = (&rec, &entities[p as usize]);
                    s.spawn(move || produce(rec, entity, share(p)))
                })
                .collect();
            threads
                .into_iter()
                .try_for_each(|t| t.join().expect("a producer panicked"))
        })?;
    }
    let report = rec.shutdown(Instant::now() + args.deadline);
    let secs = start.elapsed().as_secs_f64();

    if !report.is_complete() || report.rows_logged() != args.rows {
        return Err(format!(
            "expected {} rows, every one delivered; the report says:\n{report}",
            args.rows
        )
        .into());
    }
    println!(
        "{{\"impl\":\"spate\",\"rows\":{},\"secs\":{secs},\"rows_per_s\":{},\"producers\":{k},\"sink\":\"{}\"}}",
        args.rows,
        args.rows as f64 / secs,
        args.sink.as_str()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("perf_small_rows: {msg}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("perf_small_rows: {err}");
            let mut source = err.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}
