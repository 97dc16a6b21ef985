//! Pieces the perf examples share (`perf_file_sink`, `perf_grpc_sink`): size arguments and
//! the cloud every producer fills, so both harnesses parse and log the same way.

/// Sizes as every spate command line takes them (`1GiB`, `8MiB`, `200MB`, `1_000_000`).
pub use spate::units::parse_size;

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
