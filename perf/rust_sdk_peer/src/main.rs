//! The official Rust SDK (re_sdk 0.36.3) logging small rows the way users do, for
//! `perf/small_rows.sh`; spate's side of the same loop is `examples/perf_small_rows.rs`.
//!
//! ```text
//! rust_sdk_peer ROWS OUT.rrd
//! ```
//!
//! One thread: for every row, set the time on the `frame` timeline, then log a fresh
//! one-point `Points3D` at `p`. The clock starts after the file is created and stops once
//! everything is flushed and the stream dropped (the file writer has written the footer and
//! closed the file). Prints one JSON line on stdout:
//! `{"impl":"re_sdk 0.36.3","rows":..,"secs":..,"rows_per_s":..}`.

use std::process::ExitCode;
use std::time::Instant;

use re_sdk::RecordingStreamBuilder;
use re_sdk_types::archetypes::Points3D;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (rows, out) = match args.as_slice() {
        [rows, out] => match rows.replace('_', "").parse::<u64>() {
            Ok(rows) => (rows, out.clone()),
            Err(err) => {
                eprintln!("rust_sdk_peer: ROWS {rows:?}: {err}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: rust_sdk_peer ROWS OUT.rrd");
            return ExitCode::from(2);
        }
    };

    let rec = match RecordingStreamBuilder::new("small_rows").save(&out) {
        Ok(rec) => rec,
        Err(err) => {
            eprintln!("rust_sdk_peer: cannot save to {out}: {err}");
            return ExitCode::FAILURE;
        }
    };

    let start = Instant::now();
    for i in 0..rows {
        rec.set_time_sequence("frame", i as i64);
        rec.log("p", &Points3D::new(vec![[i as f32, 0.0, 1.0]]))
            .expect("a one-point Points3D always serializes");
    }
    if let Err(err) = rec.flush_blocking() {
        eprintln!("rust_sdk_peer: flush failed: {err}");
        return ExitCode::FAILURE;
    }
    // The last handle: dropping it stops the batcher and joins the file writer, which
    // writes the footer and closes the file.
    drop(rec);
    let secs = start.elapsed().as_secs_f64();

    println!(
        "{{\"impl\":\"re_sdk 0.36.3\",\"rows\":{rows},\"secs\":{secs},\"rows_per_s\":{}}}",
        rows as f64 / secs
    );
    ExitCode::SUCCESS
}
