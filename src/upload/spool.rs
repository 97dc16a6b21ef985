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
        let stamp = utc_stamp(secs);
        let pid = std::process::id();
        loop {
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let name = if n == 0 {
                format!("{}-{stamp}-{pid}.{}", self.stem, self.ext)
            } else {
                format!("{}-{stamp}-{pid}-{n}.{}", self.stem, self.ext)
            };
            let base = self.dir.join(name);
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

    /// Files of earlier runs of the series that no live writer holds, sorted by name.
    pub(super) fn leftovers(&self) -> Result<Vec<PathBuf>, UploadError> {
        let dir_err = |source| UploadError::Dir {
            path: self.dir.clone(),
            source,
        };
        let prefix = format!("{}-", self.stem);
        let suffix = format!(".{}", self.ext);
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(dir_err)? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with(&prefix) || !name.ends_with(&suffix) {
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
