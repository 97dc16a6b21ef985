//! The catalog client (`spate::catalog`): against the official Rerun 0.41 `rerun server`
//! (checked with the official Python `CatalogClient`), and against a scripted in-test
//! HTTP/2 server for headers, auth and hostile answers.
//!
//! The official tools come from `.venv-rerun` (or `$SPATE_RERUN_VENV`); without them the
//! official tests SKIP loudly, and fail when `CI=true`.

#[path = "support/official.rs"]
mod official;
#[path = "support/rerun_server.rs"]
mod rerun_server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use spate::catalog::{
    BlockingCatalogClient, CatalogError, CatalogOptions, DatasetRegistrar, OnDuplicate, Source,
    layer_for,
};
use spate::net::Token;

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

/// Options with short bounds, for tests.
fn quick() -> CatalogOptions {
    CatalogOptions::default()
        .connect_timeout(Duration::from_secs(5))
        .call_timeout(Duration::from_secs(20))
        .task_timeout(Duration::from_secs(20))
}

/// Writes recording `recording_id` (`frames` rows of one point at `/points`, frame `i` at
/// `[i, 2i, 3i]`, on the sequence timeline `frame`) through a rotating `FileSink`, one row
/// per chunk; returns the rotated files in order (at least 3).
fn write_rotated(dir: &Path, base_name: &str, recording_id: &str, frames: i64) -> Vec<PathBuf> {
    use spate::sink::{FileSink, FileSinkOptions, IoBackend};
    use spate::{BatchPolicy, EntityPath, Points3D, Recording, SinkExt, SinkPolicy};
    let base = dir.join(format!("{base_name}.rrd"));
    let sink = FileSink::create(
        &base,
        FileSinkOptions::default()
            .backend(IoBackend::Pwrite)
            .rotate_bytes(6_000),
    )
    .unwrap()
    .with_policy(SinkPolicy::Block);
    let rec = Recording::builder("spate_catalog")
        .recording_id(recording_id)
        .sinks(sink)
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let points = EntityPath::parse("points").unwrap();
    for i in 0..frames {
        rec.set_time_sequence("frame", i).unwrap();
        let v = i as f32;
        rec.log(&points, &Points3D::new(vec![[v, 2.0 * v, 3.0 * v]]))
            .unwrap();
    }
    let report = rec.shutdown(deadline());
    assert!(report.is_complete(), "{report:#?}");
    let files: Vec<PathBuf> = (0..)
        .map(|i| spate::sink::file::rotated_path(&base, i))
        .take_while(|p| p.exists())
        .collect();
    assert!(
        files.len() >= 3,
        "expected several rotated files: {files:?}"
    );
    files
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.canonicalize().unwrap().display())
}

/// The rows the Python checker should see for a recording written by [`write_rotated`].
fn expected_rows(recording_id: &str, frames: i64) -> Vec<serde_json::Value> {
    (0..frames)
        .map(|i| {
            let v = i as f64;
            serde_json::json!([recording_id, i, [[v, 2.0 * v, 3.0 * v]]])
        })
        .collect()
}

mod official_server {
    use super::*;
    use rerun_server::{RerunServer, python_view};

    fn unique(prefix: &str) -> String {
        format!(
            "{prefix}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        )
    }

    /// The check: rotated files of one recording, each registered as its own layer
    /// into a dataset that did not exist, come out as one segment named after the
    /// recording, one layer per file, every row exactly once; registering them again
    /// changes nothing; a second dataset does not mix with the first.
    #[test]
    fn rotated_files_become_layers_of_one_segment_and_every_row_comes_back_once() {
        let Some(python) = official::official_python(
            "rotated_files_become_layers_of_one_segment_and_every_row_comes_back_once",
        ) else {
            return;
        };
        let server = RerunServer::start(&python);
        let dir = tempfile::tempdir().unwrap();
        let frames = 40;
        let rec_a = unique("rec-a");
        let files_a = write_rotated(dir.path(), &format!("{rec_a}-run"), &rec_a, frames);
        let rec_b = unique("rec-b");
        let files_b = write_rotated(dir.path(), &format!("{rec_b}-run"), &rec_b, 25);

        // Dataset A through the registrar, one file per call, as the uploader does.
        let name_a = unique("spate-a");
        let mut registrar = DatasetRegistrar::new(&server.url(), &name_a, quick()).unwrap();
        assert_eq!(registrar.dataset_id(), None);
        for f in &files_a {
            let segments = registrar
                .register_one(&file_url(f), &layer_for(f).unwrap())
                .unwrap();
            assert_eq!(segments, std::slice::from_ref(&rec_a), "{}", f.display());
        }
        let id_a = registrar.dataset_id().unwrap();
        // Again (a retry after a crash): skipped, nothing new, no error.
        for f in &files_a {
            let segments = registrar
                .register_one(&file_url(f), &layer_for(f).unwrap())
                .unwrap();
            // The protocol says a skipped source has no row; the local 0.41 server still
            // reports its segment. Either way: the same segment, and (checked below) no
            // row twice.
            println!("re-registration of {}: {segments:?}", f.display());
            assert!(
                segments.iter().all(|s| *s == rec_a),
                "re-registration: {segments:?}"
            );
        }

        // Dataset B through the blocking client, all files in one call.
        let client = BlockingCatalogClient::connect(&server.url(), quick()).unwrap();
        let name_b = unique("spate-b");
        assert_eq!(client.find_dataset(&name_b).unwrap(), None);
        let id_b = client.ensure_dataset(&name_b).unwrap();
        assert_ne!(id_a, id_b);
        assert_eq!(client.ensure_dataset(&name_b).unwrap(), id_b);
        assert_eq!(client.find_dataset(&name_a).unwrap(), Some(id_a));
        let err = client.create_dataset(&name_b).unwrap_err();
        assert_eq!(
            err.grpc_code(),
            Some(tonic::Code::AlreadyExists),
            "create of an existing dataset: {err}"
        );
        let sources: Vec<Source> = files_b
            .iter()
            .map(|f| Source::new(file_url(f), layer_for(f).unwrap()))
            .collect();
        let done = client.register(id_b, &sources, OnDuplicate::Skip).unwrap();
        println!("register B: {done:?}");
        assert!(done.segment_ids().iter().all(|s| *s == rec_b), "{done:?}");

        // The design's reason: two files of one recording under one layer are refused.
        let name_c = unique("spate-c");
        let id_c = client.ensure_dataset(&name_c).unwrap();
        let same_layer: Vec<Source> = files_b[..2]
            .iter()
            .map(|f| Source::new(file_url(f), "base"))
            .collect();
        let refused = client.register(id_c, &same_layer, OnDuplicate::Error);
        println!("two files under one layer: {refused:?}");
        assert!(refused.is_err(), "{refused:?}");

        let view = python_view(&python, &server.url(), &[&name_a, &name_b]);
        let names = view["datasets"].as_array().unwrap();
        assert!(names.contains(&name_a.clone().into()), "{names:?}");
        assert!(names.contains(&name_b.clone().into()), "{names:?}");
        for (name, rec, files, frames) in [
            (&name_a, &rec_a, &files_a, frames),
            (&name_b, &rec_b, &files_b, 25),
        ] {
            let d = &view[name.as_str()];
            assert_eq!(d["segment_ids"], serde_json::json!([rec]), "{name}");
            let mut layers: Vec<serde_json::Value> = files
                .iter()
                .map(|f| serde_json::json!([rec, layer_for(f).unwrap()]))
                .collect();
            layers.sort_by_key(|v| v.to_string());
            assert_eq!(d["layers"], serde_json::Value::Array(layers), "{name}");
            assert_eq!(
                d["rows"],
                serde_json::Value::Array(expected_rows(rec, frames)),
                "{name}: every row exactly once"
            );
        }
    }

    /// An unreachable port is a typed connect error, fast.
    #[test]
    fn an_unreachable_server_is_a_typed_error_within_the_deadline() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t = Instant::now();
        let err =
            BlockingCatalogClient::connect(&format!("rerun+http://127.0.0.1:{port}"), quick())
                .unwrap_err();
        assert!(matches!(err, CatalogError::Connect { .. }), "{err:?}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        let mut registrar =
            DatasetRegistrar::new(&format!("rerun+http://127.0.0.1:{port}"), "x", quick()).unwrap();
        let err = registrar
            .register_one("file:///nope.rrd", "nope")
            .unwrap_err();
        assert!(err.is_connection_error(), "{err:?}");
        // A TLS URL to a port nobody serves fails to connect too, within the deadline.
        let err =
            BlockingCatalogClient::connect(&format!("rerun+https://127.0.0.1:{port}"), quick())
                .unwrap_err();
        assert!(matches!(err, CatalogError::Connect { .. }), "{err:?}");
    }
}

/// A scripted HTTP/2 gRPC server: records every request's path and headers, and answers
/// each with what the script says.
mod fake {
    use std::collections::VecDeque;
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use hyper::body::{Body, Frame, Incoming};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    /// How to answer one request.
    #[derive(Clone, Debug)]
    pub enum Reply {
        /// gRPC OK with this message.
        Message(Vec<u8>),
        /// Trailers-only gRPC error.
        Status(i32, &'static str),
        /// Raw: HTTP status, body bytes (gRPC framing up to the script), optional grpc-status
        /// trailer.
        Raw(u16, Vec<u8>, Option<i32>),
        /// Never answer.
        Hang,
    }

    /// One recorded request.
    #[derive(Clone, Debug)]
    pub struct Seen {
        pub path: String,
        pub headers: http::HeaderMap,
        pub body: Bytes,
    }

    type Script = Arc<dyn Fn(&str, usize) -> Reply + Send + Sync>;

    pub struct FakeServer {
        pub port: u16,
        pub seen: Arc<Mutex<Vec<Seen>>>,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl FakeServer {
        /// `script(path, n)` answers the `n`-th request (0-based, all paths counted).
        pub fn start(script: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> Self {
            let script: Script = Arc::new(script);
            let seen = Arc::new(Mutex::new(Vec::new()));
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let port = listener.local_addr().unwrap().port();
            let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
            let seen2 = seen.clone();
            let thread = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    let count = Arc::new(Mutex::new(0usize));
                    loop {
                        let (tcp, _) = tokio::select! {
                            a = listener.accept() => a.unwrap(),
                            _ = &mut stopped => return,
                        };
                        let (script, seen, count) = (script.clone(), seen2.clone(), count.clone());
                        tokio::spawn(async move {
                            let svc = hyper::service::service_fn(move |req| {
                                let (script, seen, count) =
                                    (script.clone(), seen.clone(), count.clone());
                                async move {
                                    Ok::<_, Infallible>(answer(req, &script, &seen, &count).await)
                                }
                            });
                            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                                .serve_connection(TokioIo::new(tcp), svc)
                                .await;
                        });
                    }
                });
            });
            Self {
                port,
                seen,
                stop: Some(stop),
                thread: Some(thread),
            }
        }

        pub fn url(&self) -> String {
            format!("rerun+http://127.0.0.1:{}", self.port)
        }

        pub fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }
    }

    impl Drop for FakeServer {
        fn drop(&mut self) {
            if let Some(s) = self.stop.take() {
                let _ = s.send(());
            }
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    async fn answer(
        req: http::Request<Incoming>,
        script: &Script,
        seen: &Mutex<Vec<Seen>>,
        count: &Mutex<usize>,
    ) -> http::Response<Canned> {
        let path = req.uri().path().to_owned();
        let headers = req.headers().clone();
        let mut body = req.into_body();
        let mut bytes = Vec::new();
        while let Some(Ok(f)) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Some(d) = f.data_ref() {
                bytes.extend_from_slice(d);
            }
        }
        let n = {
            let mut c = count.lock().unwrap();
            *c += 1;
            *c - 1
        };
        seen.lock().unwrap().push(Seen {
            path: path.clone(),
            headers,
            body: bytes.into(),
        });
        let grpc = |status: u16| {
            http::Response::builder()
                .status(status)
                .header("content-type", "application/grpc")
        };
        match script(&path, n) {
            Reply::Message(m) => grpc(200).body(Canned::new(frame(&m), Some(0))).unwrap(),
            Reply::Status(code, msg) => grpc(200)
                .header("grpc-status", code.to_string())
                .header("grpc-message", msg)
                .body(Canned::new(Vec::new(), None))
                .unwrap(),
            Reply::Raw(status, body, trailer) => {
                grpc(status).body(Canned::new(body, trailer)).unwrap()
            }
            Reply::Hang => std::future::pending().await,
        }
    }

    /// A gRPC length-prefixed message.
    pub fn frame(m: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8];
        out.extend_from_slice(&(m.len() as u32).to_be_bytes());
        out.extend_from_slice(m);
        out
    }

    /// A body of one data frame and optional grpc-status trailers.
    pub struct Canned {
        frames: VecDeque<Frame<Bytes>>,
    }

    impl Canned {
        fn new(data: Vec<u8>, status: Option<i32>) -> Self {
            let mut frames = VecDeque::new();
            if !data.is_empty() {
                frames.push_back(Frame::data(Bytes::from(data)));
            }
            if let Some(s) = status {
                let mut t = http::HeaderMap::new();
                t.insert("grpc-status", s.to_string().parse().unwrap());
                frames.push_back(Frame::trailers(t));
            }
            Self { frames }
        }
    }

    impl Body for Canned {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.frames.pop_front().map(Ok))
        }
    }
}

/// Canned protobuf answers of the catalog service.
mod canned {
    use prost::Message;
    use spate::catalog::proto::*;

    pub const ID: (u64, u64) = (0x18ED_3EBB_BA2D_870C, 0x15b9_c15c_f10c_484e);

    pub fn entry(name: &str) -> EntryDetails {
        EntryDetails {
            id: Some(EntryId {
                id: Some(Tuid {
                    time_ns: Some(ID.0),
                    inc: Some(ID.1),
                }),
            }),
            name: Some(name.into()),
            entry_kind: EntryKind::Dataset as i32,
            created_at: None,
            updated_at: None,
        }
    }

    pub fn found(name: Option<&str>) -> Vec<u8> {
        FindEntriesResponse {
            entries: name.map(entry).into_iter().collect(),
        }
        .encode_to_vec()
    }

    pub fn created(name: &str) -> Vec<u8> {
        CreateDatasetEntryResponse {
            dataset: Some(DatasetEntry {
                details: Some(entry(name)),
            }),
        }
        .encode_to_vec()
    }

    /// An Arrow IPC stream of one batch with these string columns.
    pub fn ipc(columns: &[(&str, Vec<&str>)]) -> Vec<u8> {
        use arrow_array::{ArrayRef, RecordBatch, StringArray};
        use std::sync::Arc;
        let batch = RecordBatch::try_from_iter(
            columns
                .iter()
                .map(|(n, v)| (*n, Arc::new(StringArray::from(v.clone())) as ArrayRef)),
        )
        .unwrap();
        let mut out = Vec::new();
        let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &batch.schema()).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
        drop(w);
        out
    }

    pub fn part(payload: Vec<u8>) -> Option<DataframePart> {
        Some(DataframePart {
            encoder_version: 1,
            payload: Some(payload.into()),
            compression: 1,
            uncompressed_size: 0,
        })
    }

    pub fn registered(segment: &str, task: Option<&str>) -> Vec<u8> {
        let mut cols = vec![
            ("rerun_segment_id", vec![segment]),
            ("rerun_segment_layer", vec!["l0"]),
        ];
        if let Some(t) = task {
            cols.push(("rerun_task_id", vec![t]));
        }
        RegisterWithDatasetResponse {
            data: part(ipc(&cols)),
        }
        .encode_to_vec()
    }

    pub fn tasks(id: &str, status: &str) -> Vec<u8> {
        QueryTasksOnCompletionResponse {
            data: part(ipc(&[
                ("task_id", vec![id]),
                ("exec_status", vec![status]),
                ("msgs", vec!["details"]),
            ])),
        }
        .encode_to_vec()
    }
}

mod scripted {
    use super::fake::{FakeServer, Reply};
    use super::*;

    const FIND: &str = "/rerun.cloud.v1alpha1.RerunCloudService/FindEntries";
    const CREATE: &str = "/rerun.cloud.v1alpha1.RerunCloudService/CreateDatasetEntry";
    const REGISTER: &str = "/rerun.cloud.v1alpha1.RerunCloudService/RegisterWithDataset";
    const TASKS: &str = "/rerun.cloud.v1alpha1.RerunCloudService/QueryTasksOnCompletion";

    /// A well-behaved catalog holding dataset "ds"; registration reports task `t1` with
    /// the given status.
    fn catalog(task_status: &'static str) -> FakeServer {
        FakeServer::start(move |path, _| match path {
            FIND => Reply::Message(canned::found(Some("ds"))),
            REGISTER => Reply::Message(canned::registered("rec", Some("t1"))),
            TASKS => Reply::Message(canned::tasks("t1", task_status)),
            _ => Reply::Status(12, "unimplemented"),
        })
    }

    fn header<'a>(s: &'a fake::Seen, name: &str) -> Option<&'a str> {
        s.headers.get(name).map(|v| v.to_str().unwrap())
    }

    #[test]
    fn registration_sends_the_entry_id_the_version_and_waits_for_its_tasks() {
        let server = catalog("success");
        let mut reg = DatasetRegistrar::new(&server.url(), "ds", quick()).unwrap();
        assert_eq!(reg.register_one("file:///a.rrd", "a").unwrap(), ["rec"]);
        let seen = server.seen();
        let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, [FIND, REGISTER, TASKS]);
        assert_eq!(
            header(&seen[1], "x-rerun-entry-id"),
            Some("18ED3EBBBA2D870C15b9c15cf10c484e")
        );
        assert_eq!(header(&seen[0], "x-rerun-entry-id"), None);
        for s in &seen {
            assert!(
                header(s, "x-rerun-client-version").is_some_and(|v| v.starts_with("spate/")),
                "{s:?}"
            );
            assert!(header(s, "grpc-timeout").is_some(), "{s:?}");
        }
        // The request carries the source, its layer, kind RRD and on_duplicate = SKIP.
        use prost::Message;
        let body = &seen[1].body[5..];
        let req = spate::catalog::proto::RegisterWithDatasetRequest::decode(body).unwrap();
        assert_eq!(req.on_duplicate, 2);
        assert_eq!(req.data_sources.len(), 1);
        let s = &req.data_sources[0];
        assert_eq!(
            (s.storage_url.as_deref(), s.layer.as_deref(), s.typ),
            (Some("file:///a.rrd"), Some("a"), 1)
        );
        // The dataset id is kept: the second file needs no lookup.
        assert_eq!(reg.register_one("file:///b.rrd", "b").unwrap(), ["rec"]);
        let paths: Vec<String> = server.seen().iter().map(|s| s.path.clone()).collect();
        assert_eq!(paths[3..], [REGISTER, TASKS]);
    }

    #[test]
    fn a_failed_registration_task_is_a_typed_error() {
        let server = catalog("failed");
        let mut reg = DatasetRegistrar::new(&server.url(), "ds", quick()).unwrap();
        let err = reg.register_one("file:///a.rrd", "a").unwrap_err();
        match err {
            CatalogError::TaskFailed {
                task_id,
                status,
                message,
            } => assert_eq!(
                (&*task_id, &*status, &*message),
                ("t1", "failed", "details")
            ),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn a_create_that_loses_a_race_looks_the_dataset_up_again() {
        let server = FakeServer::start(|path, n| match (path, n) {
            (FIND, 0) => Reply::Message(canned::found(None)),
            (CREATE, _) => Reply::Status(6, "entry already exists"),
            (FIND, _) => Reply::Message(canned::found(Some("ds"))),
            _ => Reply::Status(12, "unimplemented"),
        });
        let client = BlockingCatalogClient::connect(&server.url(), quick()).unwrap();
        let id = client.ensure_dataset("ds").unwrap();
        assert_eq!(id.to_string(), "18ED3EBBBA2D870C15b9c15cf10c484e");
        let paths: Vec<String> = server.seen().iter().map(|s| s.path.clone()).collect();
        assert_eq!(paths, [FIND, CREATE, FIND]);

        // Without a race: one lookup, one create.
        let server = FakeServer::start(|path, _| match path {
            FIND => Reply::Message(canned::found(None)),
            CREATE => Reply::Message(canned::created("ds")),
            _ => Reply::Status(12, "unimplemented"),
        });
        let client = BlockingCatalogClient::connect(&server.url(), quick()).unwrap();
        assert_eq!(client.ensure_dataset("ds").unwrap(), id);
        let paths: Vec<String> = server.seen().iter().map(|s| s.path.clone()).collect();
        assert_eq!(paths, [FIND, CREATE]);
    }

    #[test]
    fn a_token_from_the_option_is_sent_as_a_bearer_header_and_none_without_one() {
        let server = catalog("success");
        let client =
            BlockingCatalogClient::connect(&server.url(), quick().token(Token::new("opt-token")))
                .unwrap();
        client.find_dataset("ds").unwrap();
        assert!(!format!("{client:?}").contains("opt-token"));
        let seen = server.seen();
        assert_eq!(header(&seen[0], "authorization"), Some("Bearer opt-token"));
        if std::env::var_os("REDAP_TOKEN").is_none() {
            let client = BlockingCatalogClient::connect(&server.url(), quick()).unwrap();
            client.find_dataset("ds").unwrap();
            assert_eq!(header(&server.seen()[1], "authorization"), None);
        }
    }

    /// `REDAP_TOKEN` is read when the option is unset. The variable is set for a child
    /// process (this binary again, running only [`token_env_child`]): setting it here would
    /// race the other tests' threads.
    #[test]
    fn a_token_from_redap_token_is_sent_as_a_bearer_header() {
        let server = catalog("success");
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "scripted::token_env_child", "--nocapture"])
            .env("REDAP_TOKEN", "env-token")
            .env("SPATE_CATALOG_CHILD_URL", server.url())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let seen = server.seen();
        assert_eq!(seen.len(), 1, "the child made its call: {seen:?}");
        assert_eq!(header(&seen[0], "authorization"), Some("Bearer env-token"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains("env-token"), "the token leaked: {text}");
    }

    /// The child half of [`a_token_from_redap_token_is_sent_as_a_bearer_header`]; does
    /// nothing when run on its own.
    #[test]
    fn token_env_child() {
        let Ok(url) = std::env::var("SPATE_CATALOG_CHILD_URL") else {
            return;
        };
        let client = BlockingCatalogClient::connect(&url, quick()).unwrap();
        println!("{client:?}");
        client.find_dataset("ds").unwrap();
    }

    fn find_with(reply: Reply, options: CatalogOptions) -> CatalogError {
        let server = FakeServer::start(move |_, _| reply.clone());
        let client = BlockingCatalogClient::connect(&server.url(), options).unwrap();
        let t = Instant::now();
        let err = client.find_dataset("ds").unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        err
    }

    #[test]
    fn hostile_answers_are_typed_errors() {
        // Not a FindEntriesResponse.
        let err = find_with(Reply::Message(vec![0xff; 7]), quick());
        assert!(matches!(err, CatalogError::BadMessage { .. }), "{err:?}");
        // A length prefix of 3 GiB: refused from the prefix.
        let mut huge = vec![0u8];
        huge.extend_from_slice(&(3u32 << 30).to_be_bytes());
        huge.extend_from_slice(&[0; 64]);
        let err = find_with(Reply::Raw(200, huge, Some(0)), quick());
        assert!(
            matches!(err, CatalogError::ResponseTooLarge { .. }),
            "{err:?}"
        );
        // Over a small limit.
        let err = find_with(
            Reply::Message(canned::found(Some("ds"))),
            quick().max_response_bytes(8),
        );
        assert!(
            matches!(err, CatalogError::ResponseTooLarge { limit: 8, .. }),
            "{err:?}"
        );
        // HTTP 500, no gRPC status.
        let err = find_with(Reply::Raw(500, b"oops".to_vec(), None), quick());
        assert!(matches!(err, CatalogError::Status { .. }), "{err:?}");
        // A gRPC error status.
        let err = find_with(Reply::Status(16, "who are you"), quick());
        assert_eq!(
            err.grpc_code(),
            Some(tonic::Code::Unauthenticated),
            "{err:?}"
        );
        // A truncated message (the stream ends inside it).
        let mut cut = fake::frame(&canned::found(Some("ds")));
        cut.truncate(cut.len() - 3);
        let err = find_with(Reply::Raw(200, cut, Some(0)), quick());
        assert!(
            matches!(
                err,
                CatalogError::Status { .. }
                    | CatalogError::Transport { .. }
                    | CatalogError::BadMessage { .. }
            ),
            "{err:?}"
        );
        // No answer at all: the call deadline.
        let err = find_with(
            Reply::Hang,
            quick().call_timeout(Duration::from_millis(300)),
        );
        assert!(
            matches!(
                err,
                CatalogError::Deadline {
                    what: "FindEntries",
                    ..
                }
            ),
            "{err:?}"
        );
        // The name is an entry of another kind.
        let mut table = canned::entry("ds");
        table.entry_kind = 3;
        let reply = prost::Message::encode_to_vec(&spate::catalog::proto::FindEntriesResponse {
            entries: vec![table],
        });
        let err = find_with(Reply::Message(reply), quick());
        assert!(
            matches!(err, CatalogError::NotADataset { kind: 3, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_hostile_registration_dataframe_is_a_typed_error() {
        use prost::Message;
        use spate::catalog::proto::{DataframePart, RegisterWithDatasetResponse};
        let answers: Vec<Vec<u8>> = vec![
            // Garbage instead of Arrow IPC.
            RegisterWithDatasetResponse {
                data: canned::part(b"not arrow at all".to_vec()),
            }
            .encode_to_vec(),
            // No dataframe.
            RegisterWithDatasetResponse { data: None }.encode_to_vec(),
            // Rows without a segment id column.
            RegisterWithDatasetResponse {
                data: canned::part(canned::ipc(&[("something", vec!["x"])])),
            }
            .encode_to_vec(),
            // An LZ4 payload claiming 1 TiB.
            RegisterWithDatasetResponse {
                data: Some(DataframePart {
                    encoder_version: 1,
                    payload: Some(vec![0u8; 32].into()),
                    compression: 2,
                    uncompressed_size: 1 << 40,
                }),
            }
            .encode_to_vec(),
        ];
        for (i, answer) in answers.into_iter().enumerate() {
            let server = FakeServer::start(move |path, _| match path {
                FIND => Reply::Message(canned::found(Some("ds"))),
                _ => Reply::Message(answer.clone()),
            });
            let mut reg = DatasetRegistrar::new(&server.url(), "ds", quick()).unwrap();
            let err = reg.register_one("file:///a.rrd", "a").unwrap_err();
            assert!(
                matches!(err, CatalogError::BadDataframe { .. }),
                "answer {i}: {err:?}"
            );
        }
    }

    #[test]
    fn a_peer_that_does_not_speak_http2_is_a_deadline() {
        // Accepts TCP, never answers: the handshake (or, as hyper sends its preface without
        // waiting, the first call) never completes.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("rerun+http://{}", listener.local_addr().unwrap());
        let t = Instant::now();
        let options = quick()
            .connect_timeout(Duration::from_millis(300))
            .call_timeout(Duration::from_millis(300));
        let err = match BlockingCatalogClient::connect(&url, options) {
            Err(e) => e,
            Ok(client) => client.find_dataset("ds").unwrap_err(),
        };
        assert!(matches!(err, CatalogError::Deadline { .. }), "{err:?}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        drop(listener);
    }

    #[test]
    fn the_blocking_client_refuses_to_run_inside_a_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt
            .block_on(async { BlockingCatalogClient::connect("rerun+http://127.0.0.1:1", quick()) })
            .unwrap_err();
        assert!(matches!(err, CatalogError::InsideRuntime), "{err:?}");
    }
}
