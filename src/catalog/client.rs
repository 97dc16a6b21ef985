//! [`CatalogClient`] (async, on tokio) and [`BlockingCatalogClient`] (its own runtime, for a
//! plain thread): the calls of `rerun.cloud.v1alpha1.RerunCloudService` spate needs.

use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::uri::PathAndQuery;
use hyper::client::conn::http2::SendRequest;
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{AsciiMetadataValue, MetadataMap};

use super::frame::{self, FrameError};
use super::proto::{self, IfDuplicateBehavior};
use crate::net::{
    CatalogUrl, ClientTls, Endpoint, H2Service, Http2Tuning, Token, UrlError, code_name, connect,
};

/// The header naming the dataset of a dataset call (the entry id as 32 hex characters).
const ENTRY_ID_HEADER: &str = "x-rerun-entry-id";
/// The header saying which client is calling (the official SDK sends `rerun-py/0.41.0`).
const CLIENT_VERSION_HEADER: &str = "x-rerun-client-version";
/// What spate sends as its client version.
const CLIENT_VERSION: &str = concat!("spate/", env!("CARGO_PKG_VERSION"));

/// What a registration does with a layer the segment already has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnDuplicate {
    /// Keep the registered layer and skip this source (the default: a retry after a crash
    /// registers nothing twice and succeeds).
    #[default]
    Skip,
    /// Replace the registered layer with this source.
    Overwrite,
    /// Fail the registration.
    Error,
}

impl OnDuplicate {
    fn proto(self) -> IfDuplicateBehavior {
        match self {
            Self::Skip => IfDuplicateBehavior::Skip,
            Self::Overwrite => IfDuplicateBehavior::Overwrite,
            Self::Error => IfDuplicateBehavior::Error,
        }
    }
}

/// How a [`CatalogClient`] connects, authenticates and bounds its calls.
///
/// ```
/// use spate::catalog::CatalogOptions;
/// use spate::net::Token;
/// use std::time::Duration;
/// let opts = CatalogOptions::default()
///     .token(Token::new("secret"))
///     .call_timeout(Duration::from_secs(10));
/// assert!(!format!("{opts:?}").contains("secret"));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CatalogOptions {
    /// The bearer token; `None` (the default) reads [`TOKEN_ENV`](crate::net::TOKEN_ENV) when connecting, and sends
    /// no `authorization` header if that is unset too.
    pub token: Option<Token>,
    /// What a `rerun+https` connection trusts; `None` (the default): the system's roots
    /// (honouring `SSL_CERT_FILE` / `SSL_CERT_DIR`).
    pub tls: Option<ClientTls>,
    /// TCP connect + HTTP/2 handshake limit (default 10 s).
    pub connect_timeout: Duration,
    /// Limit of each call, from sending the request to the end of its response (default
    /// 30 s; also sent to the server as `grpc-timeout`).
    pub call_timeout: Duration,
    /// How long [`CatalogClient::register`] waits for the server's registration tasks to
    /// finish (default 5 min).
    pub task_timeout: Duration,
    /// The largest response message (and decompressed dataframe) accepted (default 64 MiB).
    pub max_response_bytes: usize,
}

impl Default for CatalogOptions {
    fn default() -> Self {
        Self {
            token: None,
            tls: None,
            connect_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            task_timeout: Duration::from_secs(300),
            max_response_bytes: 64 << 20,
        }
    }
}

impl CatalogOptions {
    /// Sets the bearer token (else [`TOKEN_ENV`](crate::net::TOKEN_ENV) is read).
    pub fn token(mut self, token: Token) -> Self {
        self.token = Some(token);
        self
    }

    /// Sets what a `rerun+https` connection trusts.
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the per-call timeout.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Sets how long a registration waits for its tasks.
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = timeout;
        self
    }

    /// Sets the response size limit.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }
}

/// A dataset's entry id (a Rerun TUID); shown as the 32 hex characters the
/// `x-rerun-entry-id` header carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DatasetId {
    /// Time part of the TUID.
    pub time_ns: u64,
    /// Counter part of the TUID.
    pub inc: u64,
}

impl DatasetId {
    fn from_entry(id: Option<proto::EntryId>) -> Option<Self> {
        let t = id?.id?;
        Some(Self {
            time_ns: t.time_ns?,
            inc: t.inc?,
        })
    }
}

impl std::fmt::Display for DatasetId {
    /// As Rerun prints a TUID: the time part in upper-case hex, the counter in lower-case.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016X}{:016x}", self.time_ns, self.inc)
    }
}

/// One file to register: where the catalog server reads it, and the segment layer it fills.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    /// The URL the server loads (`file:///…` for a local `rerun server`, `s3://…` for Hub).
    pub storage_url: String,
    /// The layer of the recording's segment (see [`layer_for`](super::layer_for)).
    pub layer: String,
}

impl Source {
    /// A source.
    pub fn new(storage_url: impl Into<String>, layer: impl Into<String>) -> Self {
        Self {
            storage_url: storage_url.into(),
            layer: layer.into(),
        }
    }
}

/// One row of a registration's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    /// The segment the source went to (the recording id of its first recording).
    pub segment_id: String,
    /// Its layer, when the server says.
    pub layer: Option<String>,
    /// Its URL, when the server says.
    pub storage_url: Option<String>,
}

/// What [`CatalogClient::register`] registered: a row per registered source. The protocol
/// lets a server leave out sources skipped as duplicates ([`OnDuplicate::Skip`]) and fold
/// sources of one segment into one row; the local `rerun server` 0.41 does neither (a
/// repeated registration reports the segment again), so count on the segment ids, not on
/// the number of rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registration {
    /// The rows.
    pub rows: Vec<Registered>,
    /// The server's registration tasks, all finished successfully when `register` returns.
    pub task_ids: Vec<String>,
}

impl Registration {
    /// The segment ids of the rows, in order (repeats included).
    pub fn segment_ids(&self) -> Vec<String> {
        self.rows.iter().map(|r| r.segment_id.clone()).collect()
    }
}

/// Why a catalog call failed. Every error is typed; a hostile or broken server gives one of
/// these, never a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The URL was refused.
    #[error("invalid catalog URL {url:?}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why.
        #[source]
        reason: UrlError,
    },
    /// The token cannot be sent as an HTTP header (it is not printed).
    #[error("the bearer token is not a valid header value (visible ASCII only)")]
    InvalidToken,
    /// A dataset name or a source was refused before anything was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The blocking client's runtime could not start.
    #[error("cannot start the catalog client's runtime")]
    Runtime(#[source] std::io::Error),
    /// The blocking client was called on a thread that runs a tokio runtime (blocking there
    /// would stall it): use [`CatalogClient`] from async code.
    #[error("the blocking catalog client was called from inside a tokio runtime")]
    InsideRuntime,
    /// TCP connect or the HTTP/2 handshake failed.
    #[error("cannot connect to {url}")]
    Connect {
        /// The server.
        url: CatalogUrl,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A connect, a call or the wait for registration tasks ran out of time.
    #[error("{what} did not finish within {after:?}")]
    Deadline {
        /// The step (`"connect"`, the call's name, or `"registration tasks"`).
        what: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The connection failed during a call.
    #[error("{call}: the connection failed")]
    Transport {
        /// The call.
        call: &'static str,
        /// Why (hyper's or h2's error, through tonic).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server ended the call with a gRPC status other than OK.
    #[error("{call}: server returned gRPC status {code_name} ({code}): {message}")]
    Status {
        /// The call.
        call: &'static str,
        /// The gRPC status code.
        code: i32,
        /// Its name (`AlreadyExists`, `Unauthenticated`, …).
        code_name: &'static str,
        /// The server's message.
        message: String,
    },
    /// A response message is larger than [`CatalogOptions::max_response_bytes`].
    #[error("{call}: response over the {limit}-byte limit")]
    ResponseTooLarge {
        /// The call.
        call: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A response is not the protobuf message the call returns.
    #[error("{call}: malformed response message")]
    BadMessage {
        /// The call.
        call: &'static str,
        /// Why.
        #[source]
        source: prost::DecodeError,
    },
    /// A response's dataframe is malformed or lacks what the call needs.
    #[error("{call}: malformed response dataframe")]
    BadDataframe {
        /// The call.
        call: &'static str,
        /// Why.
        #[source]
        source: FrameError,
    },
    /// A response lacks a field the call needs (e.g. the new dataset's id).
    #[error("{call}: response lacks {field}")]
    MissingField {
        /// The call.
        call: &'static str,
        /// The field.
        field: &'static str,
    },
    /// The name belongs to an entry that is not a dataset (e.g. a table).
    #[error("entry {name:?} exists but is not a dataset (entry kind {kind})")]
    NotADataset {
        /// The name.
        name: String,
        /// Its `EntryKind` number.
        kind: i32,
    },
    /// Creating the dataset said it exists, and looking it up again did not find it.
    #[error("dataset {name:?} exists by CreateDatasetEntry, but FindEntries does not list it")]
    DatasetVanished {
        /// The name.
        name: String,
    },
    /// A registration task finished with another status than success.
    #[error("registration task {task_id} ended {status:?}: {message}")]
    TaskFailed {
        /// The task.
        task_id: String,
        /// Its `exec_status`.
        status: String,
        /// The server's messages about it, if any.
        message: String,
    },
}

impl CatalogError {
    /// The gRPC status code, when the server answered with one.
    pub fn grpc_code(&self) -> Option<tonic::Code> {
        match self {
            Self::Status { code, .. } => Some(tonic::Code::from_i32(*code)),
            _ => None,
        }
    }

    /// Whether a fresh connection might do better (the connection failed, timed out or was
    /// never made); the blocking registrar reconnects once for these.
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. } | Self::Transport { .. } | Self::Deadline { .. }
        )
    }

    fn from_status(call: &'static str, s: tonic::Status, limit: usize) -> Self {
        if s.code() == tonic::Code::OutOfRange
            && s.message()
                .starts_with("Error, decoded message length too large")
        {
            return Self::ResponseTooLarge { call, limit };
        }
        // tonic gives a status a source when it stands for a local or transport failure
        // (hyper, h2, I/O); a server's status comes from its headers, without one.
        if std::error::Error::source(&s).is_some() {
            return Self::Transport {
                call,
                source: Box::new(s),
            };
        }
        Self::Status {
            call,
            code: s.code() as i32,
            code_name: code_name(s.code()),
            message: s.message().to_owned(),
        }
    }
}

type Connection = (
    SendRequest<tonic::body::Body>,
    tokio::task::JoinHandle<Result<(), hyper::Error>>,
);

/// The `authorization` metadata of `token`, marked sensitive.
fn token_header(token: &Token) -> Result<AsciiMetadataValue, CatalogError> {
    let header = token.header().ok_or(CatalogError::InvalidToken)?;
    let mut v =
        AsciiMetadataValue::try_from(header.as_bytes()).map_err(|_| CatalogError::InvalidToken)?;
    v.set_sensitive(true);
    Ok(v)
}

/// The one place a catalog connection is made: TCP, TLS for `rerun+https` (`tls`, else the
/// system's roots), and HTTP/2, through the transport every spate client uses.
async fn dial(url: &CatalogUrl, tls: Option<&ClientTls>) -> Result<Connection, CatalogError> {
    let connect_error = |source: Box<dyn std::error::Error + Send + Sync>| CatalogError::Connect {
        url: url.clone(),
        source,
    };
    let system;
    let tls = match (url.tls(), tls) {
        (false, _) => None,
        (true, Some(tls)) => Some(tls),
        (true, None) => {
            system = ClientTls::system().map_err(|e| connect_error(Box::new(e)))?;
            Some(&system)
        }
    };
    let tuning = Http2Tuning {
        keep_alive_interval: None,
        ..Http2Tuning::hyper_defaults()
    };
    let to = Endpoint {
        host: url.host(),
        port: url.port(),
        tls,
    };
    connect(to, &tuning)
        .await
        .map_err(|e| connect_error(Box::new(e)))
}

/// An async client of a Rerun catalog (`rerun server`, Rerun Hub) over one HTTP/2
/// connection. Cheap to share by reference: calls take `&self` and may run concurrently.
///
/// Run it on a tokio runtime with time and I/O enabled. From a plain thread use
/// [`BlockingCatalogClient`].
///
/// ```no_run
/// use spate::catalog::{CatalogClient, CatalogOptions, OnDuplicate, Source};
/// # async fn run() -> Result<(), spate::catalog::CatalogError> {
/// let client = CatalogClient::connect("rerun+http://127.0.0.1:51234", CatalogOptions::default()).await?;
/// let dataset = client.ensure_dataset("robots").await?;
/// let done = client
///     .register(dataset, &[Source::new("file:///data/run.00000.rrd", "run.00000")], OnDuplicate::Skip)
///     .await?;
/// println!("segments: {:?}", done.segment_ids());
/// # Ok(()) }
/// ```
pub struct CatalogClient {
    url: CatalogUrl,
    origin: http::Uri,
    options: CatalogOptions,
    authorization: Option<AsciiMetadataValue>,
    send: SendRequest<tonic::body::Body>,
    conn: tokio::task::JoinHandle<Result<(), hyper::Error>>,
}

impl std::fmt::Debug for CatalogClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogClient")
            .field("url", &self.url)
            .field("authorization", &self.authorization.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for CatalogClient {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

impl CatalogClient {
    /// Connects to `url` (`rerun+http://HOST:PORT`), within
    /// [`CatalogOptions::connect_timeout`]. The token is [`CatalogOptions::token`], else the
    /// value of [`TOKEN_ENV`](crate::net::TOKEN_ENV), else none.
    pub async fn connect(url: &str, options: CatalogOptions) -> Result<Self, CatalogError> {
        let parsed = CatalogUrl::parse(url).map_err(|reason| CatalogError::InvalidUrl {
            url: url.to_owned(),
            reason,
        })?;
        let authorization = match options.token.clone().or_else(Token::from_env) {
            Some(t) => Some(token_header(&t)?),
            None => None,
        };
        let origin: http::Uri = parsed.origin().parse().map_err(|e| CatalogError::Connect {
            url: parsed.clone(),
            source: Box::new(e),
        })?;
        let (send, conn) =
            tokio::time::timeout(options.connect_timeout, dial(&parsed, options.tls.as_ref()))
                .await
                .map_err(|_| CatalogError::Deadline {
                    what: "connect",
                    after: options.connect_timeout,
                })??;
        Ok(Self {
            url: parsed,
            origin,
            options,
            authorization,
            send,
            conn,
        })
    }

    /// The server's URL.
    pub fn url(&self) -> &CatalogUrl {
        &self.url
    }

    /// Whether the connection is gone (the next call would fail; connect again).
    pub fn is_closed(&self) -> bool {
        self.send.is_closed() || self.conn.is_finished()
    }

    /// The dataset named `name`, if the catalog has one (`FindEntries`).
    pub async fn find_dataset(&self, name: &str) -> Result<Option<DatasetId>, CatalogError> {
        const CALL: &str = "FindEntries";
        let request = proto::FindEntriesRequest {
            filter: Some(proto::EntryFilter {
                id: None,
                name: Some(name.to_owned()),
                entry_kind: None,
            }),
        };
        let response: proto::FindEntriesResponse =
            self.unary(CALL, proto::FIND_ENTRIES, request, None).await?;
        // A filter by name finds at most one entry (names are unique); check it anyway.
        let Some(entry) = response
            .entries
            .into_iter()
            .find(|e| e.name.as_deref() == Some(name))
        else {
            return Ok(None);
        };
        if entry.entry_kind != proto::EntryKind::Dataset as i32 {
            return Err(CatalogError::NotADataset {
                name: name.to_owned(),
                kind: entry.entry_kind,
            });
        }
        DatasetId::from_entry(entry.id)
            .map(Some)
            .ok_or(CatalogError::MissingField {
                call: CALL,
                field: "entries[].id",
            })
    }

    /// Creates the dataset `name` (`CreateDatasetEntry`); fails with gRPC `AlreadyExists`
    /// if there is one. See [`ensure_dataset`](Self::ensure_dataset).
    pub async fn create_dataset(&self, name: &str) -> Result<DatasetId, CatalogError> {
        const CALL: &str = "CreateDatasetEntry";
        check_name(name)?;
        let request = proto::CreateDatasetEntryRequest {
            name: Some(name.to_owned()),
            id: None,
        };
        let response: proto::CreateDatasetEntryResponse = self
            .unary(CALL, proto::CREATE_DATASET_ENTRY, request, None)
            .await?;
        DatasetId::from_entry(response.dataset.and_then(|d| d.details).and_then(|d| d.id)).ok_or(
            CatalogError::MissingField {
                call: CALL,
                field: "dataset.details.id",
            },
        )
    }

    /// The dataset `name`, created if missing. A create that loses a race with another
    /// client (`AlreadyExists`) looks the dataset up again.
    pub async fn ensure_dataset(&self, name: &str) -> Result<DatasetId, CatalogError> {
        check_name(name)?;
        if let Some(id) = self.find_dataset(name).await? {
            return Ok(id);
        }
        match self.create_dataset(name).await {
            Ok(id) => Ok(id),
            Err(e) if e.grpc_code() == Some(tonic::Code::AlreadyExists) => self
                .find_dataset(name)
                .await?
                .ok_or_else(|| CatalogError::DatasetVanished {
                    name: name.to_owned(),
                }),
            Err(e) => Err(e),
        }
    }

    /// Registers `sources` into `dataset` (`RegisterWithDataset`, the dataset named by the
    /// `x-rerun-entry-id` header), then waits — within [`CatalogOptions::task_timeout`] —
    /// for the registration tasks the server reports (`QueryTasksOnCompletion`); a task that
    /// did not succeed is [`CatalogError::TaskFailed`].
    ///
    /// Each source's first recording becomes (or extends) the segment named by its
    /// recording id, under the source's layer; `on_duplicate` says what happens to a layer
    /// the segment already has ([`OnDuplicate::Skip`] makes a repeat a no-op).
    pub async fn register(
        &self,
        dataset: DatasetId,
        sources: &[Source],
        on_duplicate: OnDuplicate,
    ) -> Result<Registration, CatalogError> {
        const CALL: &str = "RegisterWithDataset";
        if sources.is_empty() {
            return Err(CatalogError::InvalidArgument(
                "no sources to register".into(),
            ));
        }
        for s in sources {
            if s.storage_url.is_empty() || s.layer.is_empty() {
                return Err(CatalogError::InvalidArgument(format!(
                    "source {s:?}: empty URL or layer"
                )));
            }
        }
        let request = proto::RegisterWithDatasetRequest {
            data_sources: sources
                .iter()
                .map(|s| proto::DataSource {
                    storage_url: Some(s.storage_url.clone()),
                    typ: proto::DataSourceKind::Rrd as i32,
                    layer: Some(s.layer.clone()),
                    prefix: false,
                })
                .collect(),
            on_duplicate: on_duplicate.proto() as i32,
        };
        let response: proto::RegisterWithDatasetResponse = self
            .unary(CALL, proto::REGISTER_WITH_DATASET, request, Some(dataset))
            .await?;
        let registration = self.registration(CALL, response.data.as_ref())?;
        self.wait_for_tasks(&registration.task_ids).await?;
        Ok(registration)
    }

    /// The rows of a `RegisterWithDataset` answer: columns `rerun_segment_id` (required when
    /// there are rows), `rerun_segment_layer`, `rerun_storage_url`, `rerun_task_id`.
    fn registration(
        &self,
        call: &'static str,
        data: Option<&proto::DataframePart>,
    ) -> Result<Registration, CatalogError> {
        let bad = |source| CatalogError::BadDataframe { call, source };
        let batches =
            frame::record_batches(data, self.options.max_response_bytes as u64).map_err(bad)?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if rows == 0 {
            return Ok(Registration::default());
        }
        let column = |name| frame::string_column(&batches, name).map_err(bad);
        let segments = column("rerun_segment_id")?
            .ok_or(bad(FrameError::MissingColumn("rerun_segment_id")))?;
        let layers = column("rerun_segment_layer")?;
        let urls = column("rerun_storage_url")?;
        let tasks = column("rerun_task_id")?;
        let mut out = Registration::default();
        for (i, segment) in segments.into_iter().enumerate() {
            let segment_id = segment.ok_or(bad(FrameError::MissingColumn("rerun_segment_id")))?;
            out.rows.push(Registered {
                segment_id,
                layer: layers.as_ref().and_then(|l| l.get(i).cloned().flatten()),
                storage_url: urls.as_ref().and_then(|u| u.get(i).cloned().flatten()),
            });
        }
        for task in tasks.into_iter().flatten().flatten() {
            if !out.task_ids.contains(&task) {
                out.task_ids.push(task);
            }
        }
        Ok(out)
    }

    /// Waits until every task in `ids` finished (`QueryTasksOnCompletion`, a server stream
    /// of dataframes with `task_id` and `exec_status` columns), within the task timeout.
    async fn wait_for_tasks(&self, ids: &[String]) -> Result<(), CatalogError> {
        const CALL: &str = "QueryTasksOnCompletion";
        if ids.is_empty() {
            return Ok(());
        }
        let limit = self.options.task_timeout;
        let request = proto::QueryTasksOnCompletionRequest {
            ids: ids
                .iter()
                .map(|id| proto::TaskId { id: id.clone() })
                .collect(),
            timeout: Some(proto::Duration {
                seconds: i64::try_from(limit.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(limit.subsec_nanos()).unwrap_or(0),
            }),
        };
        let mut pending: Vec<&str> = ids.iter().map(String::as_str).collect();
        let wait = async {
            let mut grpc = self.grpc();
            grpc.ready().await.map_err(|e| CatalogError::Transport {
                call: CALL,
                source: Box::new(e),
            })?;
            let mut req = tonic::Request::new(request);
            self.decorate(req.metadata_mut(), None);
            req.set_timeout(limit);
            let response = grpc
                .server_streaming(
                    req,
                    PathAndQuery::from_static(proto::QUERY_TASKS_ON_COMPLETION),
                    RawCodec::<proto::QueryTasksOnCompletionRequest>::default(),
                )
                .await
                .map_err(|s| self.status(CALL, s))?;
            let mut stream = response.into_inner();
            let bad = |source| CatalogError::BadDataframe { call: CALL, source };
            while !pending.is_empty() {
                let Some(raw) = stream.message().await.map_err(|s| self.status(CALL, s))? else {
                    break;
                };
                let msg = proto::QueryTasksOnCompletionResponse::decode(raw)
                    .map_err(|source| CatalogError::BadMessage { call: CALL, source })?;
                let batches = frame::record_batches(
                    msg.data.as_ref(),
                    self.options.max_response_bytes as u64,
                )
                .map_err(bad)?;
                let ids = frame::string_column(&batches, "task_id")
                    .map_err(bad)?
                    .unwrap_or_default();
                if ids.is_empty() {
                    continue;
                }
                let statuses = frame::string_column(&batches, "exec_status")
                    .map_err(bad)?
                    .ok_or(bad(FrameError::MissingColumn("exec_status")))?;
                let msgs = frame::string_column(&batches, "msgs").unwrap_or(None);
                for (i, id) in ids.into_iter().enumerate() {
                    let Some(id) = id else { continue };
                    let status = statuses.get(i).cloned().flatten().unwrap_or_default();
                    if !status.eq_ignore_ascii_case("success") {
                        return Err(CatalogError::TaskFailed {
                            task_id: id,
                            status,
                            message: msgs
                                .as_ref()
                                .and_then(|m| m.get(i).cloned().flatten())
                                .unwrap_or_default(),
                        });
                    }
                    pending.retain(|p| *p != id);
                }
            }
            Ok(())
        };
        tokio::time::timeout(limit, wait)
            .await
            .map_err(|_| CatalogError::Deadline {
                what: "registration tasks",
                after: limit,
            })??;
        if pending.is_empty() {
            Ok(())
        } else {
            // The stream ended (the server's own cap on the wait) with tasks unreported.
            Err(CatalogError::Deadline {
                what: "registration tasks",
                after: limit,
            })
        }
    }

    fn grpc(&self) -> tonic::client::Grpc<H2Service> {
        tonic::client::Grpc::with_origin(H2Service(self.send.clone()), self.origin.clone())
            .max_decoding_message_size(self.options.max_response_bytes)
    }

    fn status(&self, call: &'static str, s: tonic::Status) -> CatalogError {
        CatalogError::from_status(call, s, self.options.max_response_bytes)
    }

    /// The headers every call carries: the client version, the token, and for a dataset
    /// call the entry id.
    fn decorate(&self, metadata: &mut MetadataMap, dataset: Option<DatasetId>) {
        metadata.insert(
            CLIENT_VERSION_HEADER,
            AsciiMetadataValue::from_static(CLIENT_VERSION),
        );
        if let Some(auth) = &self.authorization {
            metadata.insert("authorization", auth.clone());
        }
        if let Some(id) = dataset
            && let Ok(v) = id.to_string().parse()
        {
            metadata.insert(ENTRY_ID_HEADER, v);
        }
    }

    /// One unary call within the call timeout; the response decoded as `Resp`.
    async fn unary<Req, Resp>(
        &self,
        call: &'static str,
        path: &'static str,
        request: Req,
        dataset: Option<DatasetId>,
    ) -> Result<Resp, CatalogError>
    where
        Req: Message + Send + 'static,
        Resp: Message + Default,
    {
        let limit = self.options.call_timeout;
        let run = async {
            let mut grpc = self.grpc();
            grpc.ready().await.map_err(|e| CatalogError::Transport {
                call,
                source: Box::new(e),
            })?;
            let mut req = tonic::Request::new(request);
            self.decorate(req.metadata_mut(), dataset);
            req.set_timeout(limit);
            grpc.unary(
                req,
                PathAndQuery::from_static(path),
                RawCodec::<Req>::default(),
            )
            .await
            .map_err(|s| self.status(call, s))
        };
        let raw = tokio::time::timeout(limit, run)
            .await
            .map_err(|_| CatalogError::Deadline {
                what: call,
                after: limit,
            })??
            .into_inner();
        Resp::decode(raw).map_err(|source| CatalogError::BadMessage { call, source })
    }
}

fn check_name(name: &str) -> Result<(), CatalogError> {
    if name.is_empty() || name.ends_with("__manifest") {
        return Err(CatalogError::InvalidArgument(format!(
            "dataset name {name:?} is empty or reserved"
        )));
    }
    Ok(())
}

/// A blocking [`CatalogClient`]: owns a current-thread tokio runtime and runs each call to
/// its end on the calling thread. Not for use inside a tokio runtime
/// ([`CatalogError::InsideRuntime`]).
///
/// ```no_run
/// use spate::catalog::{BlockingCatalogClient, CatalogOptions, OnDuplicate, Source};
/// let client = BlockingCatalogClient::connect("rerun+http://127.0.0.1:51234", CatalogOptions::default())?;
/// let dataset = client.ensure_dataset("robots")?;
/// let done = client.register(dataset, &[Source::new("file:///data/run.00000.rrd", "run.00000")], OnDuplicate::Skip)?;
/// println!("{:?}", done.segment_ids());
/// # Ok::<(), spate::catalog::CatalogError>(())
/// ```
pub struct BlockingCatalogClient {
    // Field order: the client (and its connection task) goes before the runtime.
    inner: CatalogClient,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for BlockingCatalogClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BlockingCatalogClient")
            .field(&self.inner)
            .finish()
    }
}

impl BlockingCatalogClient {
    /// Connects (see [`CatalogClient::connect`]).
    pub fn connect(url: &str, options: CatalogOptions) -> Result<Self, CatalogError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(CatalogError::InsideRuntime);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CatalogError::Runtime)?;
        let inner = rt.block_on(CatalogClient::connect(url, options))?;
        Ok(Self { inner, rt })
    }

    fn run<T>(&self, f: impl Future<Output = Result<T, CatalogError>>) -> Result<T, CatalogError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(CatalogError::InsideRuntime);
        }
        self.rt.block_on(f)
    }

    /// The server's URL.
    pub fn url(&self) -> &CatalogUrl {
        self.inner.url()
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// See [`CatalogClient::find_dataset`].
    pub fn find_dataset(&self, name: &str) -> Result<Option<DatasetId>, CatalogError> {
        self.run(self.inner.find_dataset(name))
    }

    /// See [`CatalogClient::create_dataset`].
    pub fn create_dataset(&self, name: &str) -> Result<DatasetId, CatalogError> {
        self.run(self.inner.create_dataset(name))
    }

    /// See [`CatalogClient::ensure_dataset`].
    pub fn ensure_dataset(&self, name: &str) -> Result<DatasetId, CatalogError> {
        self.run(self.inner.ensure_dataset(name))
    }

    /// See [`CatalogClient::register`].
    pub fn register(
        &self,
        dataset: DatasetId,
        sources: &[Source],
        on_duplicate: OnDuplicate,
    ) -> Result<Registration, CatalogError> {
        self.run(self.inner.register(dataset, sources, on_duplicate))
    }
}

/// Encodes a prost request; hands back each response message's bytes unparsed, so that a
/// malformed one is a typed [`CatalogError::BadMessage`] rather than a tonic status.
struct RawCodec<E>(PhantomData<fn(E)>);

impl<E> Default for RawCodec<E> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

struct ProstEncoder<E>(PhantomData<fn(E)>);

impl<E: Message> Encoder for ProstEncoder<E> {
    type Item = E;
    type Error = tonic::Status;

    fn encode(&mut self, item: E, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

struct BytesDecoder;

impl Decoder for BytesDecoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len)))
    }
}

impl<E: Message + Send + 'static> Codec for RawCodec<E> {
    type Encode = E;
    type Decode = Bytes;
    type Encoder = ProstEncoder<E>;
    type Decoder = BytesDecoder;

    fn encoder(&mut self) -> ProstEncoder<E> {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> BytesDecoder {
        BytesDecoder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dataset_id_prints_as_rerun_prints_a_tuid() {
        let id = DatasetId {
            time_ns: 0x18ED_3EBB_BA2D_870C,
            inc: 0x15b9_c15c_f10c_484e,
        };
        assert_eq!(id.to_string(), "18ED3EBBBA2D870C15b9c15cf10c484e");
        assert_eq!(id.to_string().len(), 32);
    }

    #[test]
    fn a_token_is_never_shown() {
        let t = Token::new("hunter2");
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
        let h = token_header(&t).unwrap();
        assert!(h.is_sensitive());
        assert!(!format!("{h:?}").contains("hunter2"));
        assert!(matches!(
            token_header(&Token::new("bad\ntoken")),
            Err(CatalogError::InvalidToken)
        ));
        let e = CatalogError::InvalidToken.to_string();
        assert!(!e.contains("bad"));
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        let too_large = tonic::Status::out_of_range(
            "Error, decoded message length too large: found 9 bytes, the limit is: 4 bytes",
        );
        assert!(matches!(
            CatalogError::from_status("X", too_large, 4),
            CatalogError::ResponseTooLarge {
                call: "X",
                limit: 4
            }
        ));
        let exists = CatalogError::from_status("X", tonic::Status::already_exists("dup"), 4);
        assert_eq!(exists.grpc_code(), Some(tonic::Code::AlreadyExists));
        assert_eq!(
            exists.to_string(),
            "X: server returned gRPC status AlreadyExists (6): dup"
        );
    }
}
