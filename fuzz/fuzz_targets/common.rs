//! Shared by the fuzz targets.

use std::collections::HashSet;
use std::sync::{Mutex, Once};

use spate::wire::DecodeLimits;

/// The limits the targets decode with: tighter than the default, so that inputs of fuzzing
/// size (`-max_len`) reach both sides of the decompression limit (a 64 KiB LZ4 payload may
/// claim up to ~16 MiB).
pub fn limits() -> DecodeLimits {
    DecodeLimits::default().max_uncompressed_bytes(4 << 20)
}

/// libFuzzer aborts on every panic, even one spate catches: `decode_ipc` wraps arrow-ipc
/// in `catch_unwind` and turns its panics into `DecodeErrorKind::ArrowPanic`. With
/// `SPATE_FUZZ_CONTAIN_ARROW=1`, panics raised inside arrow-* crates do not abort (each
/// distinct panic site is printed once), so fuzzing can go on past known arrow bugs. A panic
/// that escapes `decode_rrd` still aborts ("panic in a function that cannot unwind", right
/// after the "arrow panic at" line of its site, printed the first time that site panicked).
pub fn contain_arrow_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("SPATE_FUZZ_CONTAIN_ARROW").is_none() {
            return;
        }
        let abort_hook = std::panic::take_hook();
        let seen = Mutex::new(HashSet::new());
        std::panic::set_hook(Box::new(move |info| {
            let Some(loc) = info.location().filter(|l| l.file().contains("/arrow-")) else {
                return abort_hook(info);
            };
            let site = format!("{}:{}", loc.file(), loc.line());
            if seen.lock().is_ok_and(|mut s| s.insert(site.clone())) {
                eprintln!(
                    "arrow panic at {site}: {}",
                    info.payload_as_str().unwrap_or("?")
                );
            }
        }));
    });
}
