//! The deterministic data of the `points` example — the contract every output path is
//! tested against (files, gRPC, `spate check`). Tests check it against an independent
//! statement of the same formulas, not against this code.

use crate::archetype::Points3D;

/// The cloud of entity `e` at frame `f` with `n` points: point `i` has position
/// `[i * 0.001, f, e + (i % 7) * 0.25]` (f32 arithmetic), color `0xRRGGBBAA` with
/// R = i % 256, G = f % 256, B = e % 256, A = 255, and radius `0.01 + (i % 10) * 0.001`.
///
/// ```
/// let p = spate::demo::example_cloud(10, 2, 1);
/// assert_eq!(p.num_points(), 10);
/// ```
pub fn example_cloud(n: u32, f: u32, e: u32) -> Points3D {
    let positions: Vec<[f32; 3]> = (0..n)
        .map(|i| [i as f32 * 0.001, f as f32, e as f32 + (i % 7) as f32 * 0.25])
        .collect();
    let colors: Vec<u32> = (0..n)
        .map(|i| u32::from_be_bytes([(i % 256) as u8, (f % 256) as u8, (e % 256) as u8, 255]))
        .collect();
    let radii: Vec<f32> = (0..n).map(|i| 0.01 + (i % 10) as f32 * 0.001).collect();
    Points3D::new(positions)
        .with_colors(colors)
        .with_radii(radii)
}
