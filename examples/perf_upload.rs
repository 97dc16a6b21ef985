//! Upload throughput (`spate::upload`) against a raw file write of the same bytes, measured
//! in the same run: `perf/upload.sh` starts moto and runs this.
//!
//!   perf_upload --dir DIR --total-mib 512 --segment-mib 64 [--url URL]...
//!
//! Per round: (1) raw — write the segments as files (`write_all` from memory, closed, no
//! fsync), (2) for each URL — the same segments written into a spool (not timed), then
//! handed to an `Uploader` at once; the clock runs from the hand-over until the uploader is
//! idle (every object uploaded, `head`-checked, local file deleted). S3 settings come from
//! the `AWS_*` environment variables. Rates are MB/s (10^6 B) of segment bytes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use spate::upload::{UploadOptions, Uploader};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn write_segments(dir: &Path, count: usize, data: &[u8]) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    (0..count)
        .map(|i| {
            let p = dir.join(format!("seg-{i:05}.rrd"));
            let mut f = std::fs::File::create(&p).unwrap();
            f.write_all(data).unwrap();
            p
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(arg(&args, "--dir").unwrap_or_else(|| "/tmp/spate-perf-upload".into()));
    let total_mib: usize = arg(&args, "--total-mib").map_or(512, |s| s.parse().unwrap());
    let segment_mib: usize = arg(&args, "--segment-mib").map_or(64, |s| s.parse().unwrap());
    let rounds: usize = arg(&args, "--rounds").map_or(1, |s| s.parse().unwrap());
    let urls: Vec<String> = args
        .windows(2)
        .filter(|w| w[0] == "--url")
        .map(|w| w[1].clone())
        .collect();
    let count = total_mib.div_ceil(segment_mib);
    let data: Vec<u8> = (0..segment_mib << 20)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3])
        .collect();
    let bytes = (count * data.len()) as f64;
    let mb_s = |d: Duration| bytes / d.as_secs_f64() / 1e6;
    println!(
        "| round | target | {count} x {segment_mib} MiB | MB/s | vs raw write |\n|---|---|---|---|---|"
    );
    for round in 0..rounds {
        let raw_dir = dir.join("raw");
        let t = Instant::now();
        let files = write_segments(&raw_dir, count, &data);
        let raw = t.elapsed();
        for f in files {
            std::fs::remove_file(f).unwrap();
        }
        let raw_rate = mb_s(raw);
        println!("| {round} | raw file write | {raw:.2?} | {raw_rate:.0} | 1.00 |");
        for url in &urls {
            let spool = dir.join("spool");
            let files = write_segments(&spool, count, &data);
            let store = if let Some(path) = url.strip_prefix("file://") {
                let _ = std::fs::remove_dir_all(path);
                url.clone()
            } else {
                url.clone()
            };
            let uploads = Uploader::new(&store, UploadOptions::default())
                .unwrap()
                .start()
                .unwrap();
            let t = Instant::now();
            for f in &files {
                uploads.submit(f);
            }
            assert!(uploads.wait_idle(Instant::now() + Duration::from_secs(3600)));
            let took = t.elapsed();
            let report = uploads.shutdown(Instant::now() + Duration::from_secs(10));
            assert_eq!(
                report.stats.uploaded_segments, count as u64,
                "{:?}",
                report.stats
            );
            let rate = mb_s(took);
            println!(
                "| {round} | {url} | {took:.2?} | {rate:.0} | {:.2} |",
                rate / raw_rate
            );
            if let Some(path) = url.strip_prefix("file://") {
                let _ = std::fs::remove_dir_all(path);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
