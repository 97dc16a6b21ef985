//! The object store named by a URL, and how one file is uploaded to it.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ObjectStore, ObjectStoreExt as _, PutPayload, RetryConfig, WriteMultipart,
};

use super::{UploadError, UploadOptions};

/// Where segments go: a store, a prefix in it, and the URL of that prefix.
pub(super) struct Target {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// `s3://bucket/prefix` or `file:///dir`, without a trailing `/`.
    url: String,
}

/// Installs rustls's ring provider for the process, unless one is installed.
pub(super) fn install_crypto_provider() {
    // Err = a provider is installed already (ours or the program's): keep it.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Target {
    /// Parses `url` and configures its store (no request is made).
    pub(super) fn parse(
        url: &str,
        options: &UploadOptions,
        env: &[(&str, &str)],
    ) -> Result<Self, UploadError> {
        let invalid = |reason| UploadError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("no bucket"));
            }
            let prefix = prefix.trim_matches('/');
            let prefix_path = ObjectPath::parse(prefix).map_err(|_| invalid("bad prefix"))?;
            install_crypto_provider();
            let retry = RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: options.request_retries,
                retry_timeout: options.request_retry_timeout,
            };
            let mut builder = AmazonS3Builder::from_env();
            // As `from_env` reads them: `AWS_*` names, lower-cased, as config keys.
            for (key, value) in env {
                let key = key.to_ascii_lowercase();
                let key = key
                    .parse::<AmazonS3ConfigKey>()
                    .map_err(|_| invalid("unknown AWS configuration variable"))?;
                builder = builder.with_config(key, *value);
            }
            let store = builder
                .with_url(format!("s3://{bucket}"))
                .with_retry(retry)
                .build()
                .map_err(|source| UploadError::Store {
                    url: url.to_owned(),
                    source,
                })?;
            let url = if prefix.is_empty() {
                format!("s3://{bucket}")
            } else {
                format!("s3://{bucket}/{prefix}")
            };
            Ok(Self {
                store: Arc::new(store),
                prefix: prefix_path,
                url,
            })
        } else if let Some(rest) = url.strip_prefix("file://") {
            let dir = Path::new(rest);
            if !dir.is_absolute() {
                return Err(invalid("expected file:///absolute/dir"));
            }
            if rest.contains('%') {
                return Err(invalid("percent escapes are not supported"));
            }
            std::fs::create_dir_all(dir).map_err(|source| UploadError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
            let store =
                LocalFileSystem::new_with_prefix(dir).map_err(|source| UploadError::Store {
                    url: url.to_owned(),
                    source,
                })?;
            let trimmed = rest.trim_end_matches('/');
            Ok(Self {
                store: Arc::new(store),
                prefix: ObjectPath::default(),
                url: format!("file://{}", if trimmed.is_empty() { "/" } else { trimmed }),
            })
        } else {
            Err(invalid("expected s3://bucket[/prefix] or file:///dir"))
        }
    }

    /// The object of file `name`.
    fn location(&self, name: &str) -> ObjectPath {
        self.prefix.clone().join(name)
    }

    /// The URL of the object of file `name`.
    pub(super) fn object_url(&self, name: &str) -> String {
        if self.url.ends_with('/') {
            format!("{}{name}", self.url)
        } else {
            format!("{}/{name}", self.url)
        }
    }
}

/// Why one attempt at a segment failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum AttemptError {
    /// The local file is gone.
    #[error("the local file is gone")]
    Vanished,
    /// The path is not a regular file (a directory, a FIFO, a device…): it never uploads.
    #[error("{path} is not a regular file")]
    NotAFile { path: PathBuf },
    /// Reading the local file failed.
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A request failed (after `object_store`'s retries); `aborted` says whether the
    /// multipart upload was aborted.
    #[error("upload failed{}", if *.aborted { " (multipart upload aborted)" } else { "" })]
    Store {
        aborted: bool,
        #[source]
        source: object_store::Error,
    },
    /// The object's size is not the file's.
    #[error("uploaded object has {found} bytes, the file {expected}")]
    SizeMismatch { expected: u64, found: u64 },
}

impl AttemptError {
    /// Whether trying again cannot help: the path is not a file, or reading it is refused
    /// (a directory, permission denied). `Vanished` is final too, but counted apart.
    pub(super) fn is_final(&self) -> bool {
        use std::io::ErrorKind as K;
        match self {
            Self::Vanished | Self::NotAFile { .. } => true,
            Self::Read { source, .. } => matches!(
                source.kind(),
                K::IsADirectory | K::NotADirectory | K::PermissionDenied | K::InvalidFilename
            ),
            Self::Store { .. } | Self::SizeMismatch { .. } => false,
        }
    }

    /// Whether the failure is the local file's own (reading it), not the store's.
    pub(super) fn is_local(&self) -> bool {
        matches!(
            self,
            Self::Vanished | Self::NotAFile { .. } | Self::Read { .. }
        )
    }

    fn store(source: object_store::Error) -> Self {
        Self::Store {
            aborted: false,
            source,
        }
    }
}

/// What a successful upload did.
pub(super) struct Uploaded {
    pub(super) bytes: u64,
    pub(super) parts: u64,
}

/// Uploads `path` as object `name` (multipart), then checks the object's size.
pub(super) async fn upload_file(
    target: &Target,
    path: &Path,
    name: &str,
    options: &UploadOptions,
) -> Result<Uploaded, AttemptError> {
    let read_err = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            AttemptError::Vanished
        } else {
            AttemptError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    // Checked before opening: opening a FIFO would block, a directory opens but never reads.
    if !std::fs::metadata(path).map_err(read_err)?.is_file() {
        return Err(AttemptError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    let expected = file.metadata().map_err(read_err)?.len();
    let location = target.location(name);
    let part_bytes = options.part_bytes.max(super::MIN_PART_BYTES);
    let mut parts = 0u64;
    let mut sent = 0u64;
    if expected == 0 {
        target
            .store
            .put(&location, PutPayload::default())
            .await
            .map_err(AttemptError::store)?;
    } else {
        let upload = target
            .store
            .put_multipart(&location)
            .await
            .map_err(AttemptError::store)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, part_bytes);
        loop {
            // A failed read or part aborts the upload (S3 keeps parts otherwise).
            let chunk = match read_part(&mut file, part_bytes) {
                Ok(chunk) => chunk,
                Err(source) => {
                    let _ = writer.abort().await;
                    return Err(read_err(source));
                }
            };
            if chunk.is_empty() {
                break;
            }
            if let Err(source) = writer.wait_for_capacity(options.concurrency.max(1)).await {
                let aborted = writer.abort().await.is_ok();
                return Err(AttemptError::Store { aborted, source });
            }
            sent += chunk.len() as u64;
            parts += 1;
            writer.put(chunk);
        }
        // `finish` aborts the upload itself when a part or the completion fails.
        writer
            .finish()
            .await
            .map_err(|source| AttemptError::Store {
                aborted: true,
                source,
            })?;
    }
    let meta = target
        .store
        .head(&location)
        .await
        .map_err(AttemptError::store)?;
    if meta.size != expected || sent != expected {
        return Err(AttemptError::SizeMismatch {
            expected,
            found: meta.size,
        });
    }
    Ok(Uploaded {
        bytes: expected,
        parts,
    })
}

/// Reads up to `max` bytes (fewer only at the end of the file).
fn read_part(file: &mut std::fs::File, max: usize) -> std::io::Result<Bytes> {
    let mut buf = Vec::with_capacity(max);
    file.by_ref().take(max as u64).read_to_end(&mut buf)?;
    Ok(Bytes::from(buf))
}
