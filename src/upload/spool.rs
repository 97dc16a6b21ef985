//! The spool directory: run names, the series lock, and what an earlier run left.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::FlockOperation;

use super::UploadError;
use crate::sink::file::rotated_path;

/// A series of runs: `DIR/STEM-*.EXT`, given as `DIR/STEM.EXT`.
#[derive(Clone, Debug)]
pub(super) struct Series {
    pub(super) dir: PathBuf,
    stem: String,
    ext: String,
}

impl Series {
    pub(super) fn new(path: &Path) -> Result<Self, UploadError> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "run".to_owned());
        let ext = path
            .extension()
            .map_or_else(|| "rrd".to_owned(), |e| e.to_string_lossy().into_owned());
        std::fs::create_dir_all(&dir).map_err(|source| UploadError::Dir {
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir, stem, ext })
    }

    /// Takes the series lock `DIR/.STEM.upload.lock`, held while the returned file lives.
    pub(super) fn lock(&self) -> Result<File, UploadError> {
        let path = self.dir.join(format!(".{}.upload.lock", self.stem));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| UploadError::Dir {
                path: path.clone(),
                source,
            })?;
        match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(file),
            Err(rustix::io::Errno::WOULDBLOCK) => Err(UploadError::SpoolLocked { path }),
            Err(e) => Err(UploadError::Dir {
                path,
                source: e.into(),
            }),
        }
    }

    /// The base path of a new run, whose files do not exist yet:
    /// `DIR/STEM-YYYYMMDDTHHMMSSZ-PID.EXT` (`-N` appended if taken).
    pub(super) fn new_run(&self, rotates: bool) -> PathBuf {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let pid = std::process::id();
        loop {
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let base = self.run_base(secs, pid, n);
            let first = if rotates {
                rotated_path(&base, 0)
            } else {
                base.clone()
            };
            if std::fs::symlink_metadata(&first).is_err() {
                return base;
            }
        }
    }

    /// The base path of the run started at `secs` by `pid`, `n`th name tried (0: no `-N`).
    /// The one place run names are made: [`is_run_file`](Self::is_run_file) matches with it.
    fn run_base(&self, secs: u64, pid: u32, n: u32) -> PathBuf {
        let stamp = utc_stamp(secs);
        let name = if n == 0 {
            format!("{}-{stamp}-{pid}.{}", self.stem, self.ext)
        } else {
            format!("{}-{stamp}-{pid}-{n}.{}", self.stem, self.ext)
        };
        self.dir.join(name)
    }

    /// Whether `name` is a file name a run of this series writes:
    /// `STEM-<stamp>-<pid>[-N][.NNNNN].EXT`. The parts are parsed, then the name is made
    /// again by [`run_base`](Self::run_base) (and `rotated_path`) and must come out the same,
    /// so the matcher cannot drift from the naming (nor take `STEM-other-….EXT`, another
    /// series' file).
    pub(super) fn is_run_file(&self, name: &str) -> bool {
        let Some(mid) = name
            .strip_prefix(self.stem.as_str())
            .and_then(|r| r.strip_prefix('-'))
            .and_then(|r| r.strip_suffix(self.ext.as_str()))
            .and_then(|r| r.strip_suffix('.'))
        else {
            return false;
        };
        // STAMP-PID[-N][.NNNNN]
        let (Some(stamp), Some(rest)) = (mid.get(..16), mid.get(16..)) else {
            return false;
        };
        let Some(secs) = parse_utc_stamp(stamp) else {
            return false;
        };
        let Some(rest) = rest.strip_prefix('-') else {
            return false;
        };
        let (run, index) = match rest.split_once('.') {
            Some((run, index)) => match index.parse::<u32>() {
                Ok(i) => (run, Some(i)),
                Err(_) => return false,
            },
            None => (rest, None),
        };
        let parsed = match run.split_once('-') {
            Some((pid, n)) => pid.parse::<u32>().ok().zip(n.parse::<u32>().ok()),
            None => run.parse::<u32>().ok().map(|pid| (pid, 0)),
        };
        let Some((pid, n)) = parsed else {
            return false;
        };
        let base = self.run_base(secs, pid, n);
        let made = match index {
            Some(i) => rotated_path(&base, i),
            None => base,
        };
        made.file_name().is_some_and(|f| f == name)
    }

    /// Files of earlier runs of the series that no live writer holds, sorted by name.
    pub(super) fn leftovers(&self) -> Result<Vec<PathBuf>, UploadError> {
        let dir_err = |source| UploadError::Dir {
            path: self.dir.clone(),
            source,
        };
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(dir_err)? {
            let Ok(entry) = entry else { continue };
            // Only this series' run names (not another series `STEM-x`'s). A name that is
            // not UTF-8 but reads as one (lossily) is taken too: the uploader gives it up,
            // counted, rather than skipping it unseen.
            if !self.is_run_file(&entry.file_name().to_string_lossy()) {
                continue;
            }
            // Regular files only: no symlinks, directories or devices.
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let path = entry.path();
            if held_by_writer(&path) {
                continue;
            }
            found.push(path);
        }
        found.sort();
        Ok(found)
    }
}

/// Whether a live writer holds `path` (its `flock`), as a `FileSink` holds its files.
fn held_by_writer(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    matches!(
        rustix::fs::flock(&file, FlockOperation::NonBlockingLockShared),
        Err(rustix::io::Errno::WOULDBLOCK)
    )
    // (Dropping the file lets a shared lock we took go.)
}

/// Whether `path` ends with a StreamFooter (`… "RRF2FOOT" 1u32`): its writer finished it.
pub(super) fn has_stream_footer(path: &Path) -> bool {
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let mut tail = [0u8; 12];
    if file.seek(SeekFrom::End(-12)).is_err() || file.read_exact(&mut tail).is_err() {
        return false;
    }
    &tail[..8] == b"RRF2FOOT" && tail[8..] == 1u32.to_le_bytes()
}

/// `YYYYMMDDTHHMMSSZ` of `secs` since the Unix epoch, in UTC.
pub(super) fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The seconds since the Unix epoch of a `YYYYMMDDTHHMMSSZ` stamp (not checked to be one
/// [`utc_stamp`] makes: make it again and compare).
fn parse_utc_stamp(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = &b[r];
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let secs = days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs).ok()
}

/// (year, month, day) → days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
        assert_eq!(utc_stamp(1_798_761_599), "20261231T235959Z");
    }

    #[test]
    fn stamps_parse_back() {
        for secs in [0, 951_782_400, 1_798_761_599, 4_102_444_800] {
            assert_eq!(parse_utc_stamp(&utc_stamp(secs)), Some(secs));
        }
        assert_eq!(
            parse_utc_stamp("20260230T000000Z")
                .map(utc_stamp)
                .as_deref(),
            Some("20260302T000000Z")
        );
        assert_eq!(parse_utc_stamp("2026010xT000000Z"), None);
        assert_eq!(parse_utc_stamp("20260101T240000Z"), None);
    }

    #[test]
    fn run_names_match_what_the_series_writes_only() {
        let dir = tempfile::tempdir().unwrap();
        let series = Series::new(&dir.path().join("run.rrd")).unwrap();
        for rotates in [false, true] {
            let base = series.new_run(rotates);
            let name = base.file_name().unwrap().to_str().unwrap();
            assert!(series.is_run_file(name), "{name}");
            let rotated = rotated_path(&base, 12);
            assert!(series.is_run_file(rotated.file_name().unwrap().to_str().unwrap()));
        }
        for ok in [
            "run-20260101T000000Z-4242.rrd",
            "run-20260101T000000Z-4242-3.rrd",
            "run-20260101T000000Z-4242.00000.rrd",
            "run-20260101T000000Z-4242-3.00017.rrd",
        ] {
            assert!(series.is_run_file(ok), "{ok}");
        }
        for not in [
            "run.rrd",
            "run-left.rrd",
            "run-left-20260101T000000Z-4242.00000.rrd",
            "run-20260101T000000Z-4242.txt",
            "run-20260101T000000Z-4242-0.rrd",
            "run-20260101T000000Z-04242.rrd",
            "run-20260101T000000Z-+42.rrd",
            "run-20260101T000000Z-4242.0.rrd",
            "run-20260230T000000Z-4242.rrd",
            "run-20260101T000000Z.rrd",
            "run-20260101T000000Z-4242-x.rrd",
            "runx20260101T000000Z-4242.rrd",
        ] {
            assert!(!series.is_run_file(not), "{not}");
        }
    }

    #[test]
    fn footer_detection() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.rrd");
        std::fs::write(&p, b"short").unwrap();
        assert!(!has_stream_footer(&p));
        let mut v = vec![0u8; 20];
        v.extend_from_slice(b"RRF2FOOT\x01\0\0\0");
        std::fs::write(&p, &v).unwrap();
        assert!(has_stream_footer(&p));
        assert!(!has_stream_footer(&dir.path().join("missing.rrd")));
    }
}
