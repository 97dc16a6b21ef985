//! Memory bandwidth, the first raw limit of `perf/run.sh`: `copy_from_slice` between two
//! pre-touched buffers of `--bytes` (default 256 MiB, far above the caches), repeated
//! `--repeats` times; prints one JSON line `{"mode":"memcpy","bytes":..,"seconds":..,
//! "mb_per_s":..}` (MB = 10^6 bytes, bytes = bytes copied, the best repeat).
//!
//! ```text
//! cargo run --release --example perf_memcpy -- --bytes 268435456 --repeats 5
//! ```

use std::hint::black_box;
use std::time::Instant;

fn arg(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .ok_or_else(|| format!("{name} needs a value"))?
            .parse()
            .map_err(|e| format!("{name}: {e}")),
    }
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(bad) = args
        .iter()
        .step_by(2)
        .find(|a| *a != "--bytes" && *a != "--repeats")
    {
        return Err(format!(
            "unknown argument {bad} (use --bytes N --repeats R)"
        ));
    }
    let bytes = usize::try_from(arg(&args, "--bytes", 256 << 20)?).map_err(|e| e.to_string())?;
    let repeats = arg(&args, "--repeats", 5)?.max(1);
    // Touch both buffers before timing (no page faults inside the timed copies).
    let src: Vec<u8> = (0..bytes).map(|i| i as u8).collect();
    let mut dst = vec![1u8; bytes];
    let mut best = f64::INFINITY;
    for _ in 0..repeats {
        let t = Instant::now();
        dst.copy_from_slice(black_box(&src));
        black_box(&mut dst);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{{\"mode\":\"memcpy\",\"bytes\":{bytes},\"seconds\":{best},\"mb_per_s\":{}}}",
        bytes as f64 / best / 1e6
    );
    Ok(())
}
