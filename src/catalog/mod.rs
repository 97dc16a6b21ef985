//! Registering `.rrd` segments into a dataset of a Rerun catalog — `rerun server` on one
//! machine, Rerun Hub at scale — through `rerun.cloud.v1alpha1.RerunCloudService` (Rerun
//! 0.41), so the official `CatalogClient` can query what spate recorded.
//!
//! * [`CatalogClient`] (async, tokio) and [`BlockingCatalogClient`] (a plain thread): find a
//!   dataset by name ([`find_dataset`](CatalogClient::find_dataset)), create it if missing
//!   ([`ensure_dataset`](CatalogClient::ensure_dataset); a create that races another
//!   client's — `AlreadyExists` — looks it up again), and
//!   [`register`](CatalogClient::register) a batch of [`Source`]s (`storage_url` + layer).
//! * [`DatasetRegistrar`]: one dataset, one file per call, connected lazily — what the
//!   uploader calls for each uploaded segment.
//! * [`layer_for`]: the layer of a rotated file (its file stem).
//!
//! # Rotated files: one segment, one layer per file
//!
//! The catalog names a file's segment after the recording id of its first recording, so all
//! rotated files of one recording land in **one segment**. Rerun 0.41 refuses a second file
//! under a layer that segment already has ("duplicate segment layers"), so each file is
//! registered as **its own layer**, named by [`layer_for`] after its file stem
//! (`run-20261201T2213Z-123.00003`): the segment holds the recording's whole data, and a
//! query over the dataset returns every row once (checked against the official server and
//! the official Python `CatalogClient` in `tests/catalog.rs`). Two processes that write the
//! same recording id must use different file names, or their layers collide.
//!
//! Registration uses [`OnDuplicate::Skip`] by default: registering a file again (a retry
//! after a crash between upload and registration) succeeds and changes nothing (the local
//! 0.41 server still reports the segment; Hub may report no row).
//!
//! # The protocol
//!
//! Hand-written prost messages ([`proto`]), no `protoc`. Every call carries
//! `x-rerun-client-version: spate/VERSION` and, with a token, `authorization: Bearer TOKEN`;
//! a dataset call names the dataset by `x-rerun-entry-id` (the entry id as 32 hex
//! characters), as the official client does after resolving the name. The answer to
//! `RegisterWithDataset` is an Arrow IPC dataframe (`rerun_segment_id`,
//! `rerun_segment_layer`, `rerun_segment_type`, `rerun_storage_url`, `rerun_task_id`);
//! its tasks are awaited with `QueryTasksOnCompletion` (servers that load synchronously,
//! like `rerun server`, report tasks that are already done).
//!
//! # Auth
//!
//! The token is [`CatalogOptions::token`], else the environment variable [`TOKEN_ENV`](crate::net::TOKEN_ENV)
//! (`REDAP_TOKEN`, the one the official SDK reads). [`Token`](crate::net::Token)'s `Debug` is redacted, the
//! header value is marked sensitive, and no error message contains it.
//!
//! # Bounds
//!
//! Connecting has [`CatalogOptions::connect_timeout`], each call
//! [`CatalogOptions::call_timeout`] (also sent as `grpc-timeout`), the wait for registration
//! tasks [`CatalogOptions::task_timeout`]. A response over
//! [`CatalogOptions::max_response_bytes`] is refused from its length prefix, before it is
//! buffered; malformed messages and dataframes are typed [`CatalogError`]s.
//!
//! # Transport
//!
//! Connections go through [`crate::net`], from one private function (`client::dial`):
//! `rerun+https` (and `rerun://`, `https://`) is TLS, trusting
//! [`CatalogOptions::tls`] or else the system's roots.

mod client;
mod frame;
pub mod proto;
mod registrar;

pub use client::{
    BlockingCatalogClient, CatalogClient, CatalogError, CatalogOptions, DatasetId, OnDuplicate,
    Registered, Registration, Source,
};
pub use frame::FrameError;
pub use registrar::{DatasetRegistrar, layer_for};
