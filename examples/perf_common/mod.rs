//! Pieces the perf examples share (`perf_file_sink`, `perf_grpc_sink`): size arguments and
//! the cloud every producer fills, so both harnesses parse and log the same way.

/// `1GiB`, `8MiB`, `200MB`, `1_000_000`: decimal (K, M, G) and binary (Ki, Mi, Gi) units.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .replace('_', "")
        .parse()
        .map_err(|e| format!("{s:?}: {e}"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KB" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        "Ki" | "KiB" => 1 << 10,
        "Mi" | "MiB" => 1 << 20,
        "Gi" | "GiB" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} overflows u64"))
}

/// Fills a loaned cloud (every element, as a real producer would).
pub fn fill(positions: &mut [[f32; 3]], colors: &mut [u32], radii: &mut [f32], frame: usize) {
    let f = frame as f32;
    for (i, p) in positions.iter_mut().enumerate() {
        *p = [i as f32 * 0.001, f, (i % 7) as f32 * 0.25];
    }
    let g = (frame % 256) as u32;
    for (i, c) in colors.iter_mut().enumerate() {
        *c = ((i as u32 % 256) << 24) | (g << 16) | 0xff;
    }
    for (i, r) in radii.iter_mut().enumerate() {
        *r = 0.01 + (i % 10) as f32 * 0.001;
    }
}
