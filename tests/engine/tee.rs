//! A tee of a file and a gRPC sink: each chunk is encoded once and both receive the same
//! data; a stalled gRPC peer with `DropNewest` slows neither the file sink nor the caller.

use std::time::{Duration, Instant};

use spate::server::testing::ProxyReceiver;
use spate::sink::{FileSink, FileSinkOptions, GrpcSink, GrpcSinkOptions, IoBackend};
use spate::wire::decode_rrd;
use spate::{EntityPath, Recording, SinkExt, SinkPolicy};

use crate::common::{PREAMBLE_MESSAGES, logged_chunks, logged_rows, within};

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

fn log_frames(rec: &Recording, frames: u32, points: u32) {
    let e = EntityPath::parse("points/0").unwrap();
    for f in 0..frames {
        rec.set_time_sequence("frame", i64::from(f)).unwrap();
        rec.log(&e, &spate::demo::example_cloud(points, f, 0))
            .unwrap();
    }
}

#[test]
fn file_and_grpc_get_the_same_chunks_encoded_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tee.rrd");
    let server = ProxyReceiver::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let rec = Recording::builder("tee")
        .sinks((
            FileSink::create(&path, FileSinkOptions::default().backend(IoBackend::Pwrite))
                .unwrap()
                .with_policy(SinkPolicy::Block),
            GrpcSink::connect(&server.url())
                .unwrap()
                .with_policy(SinkPolicy::Block),
        ))
        .start()
        .unwrap();
    log_frames(&rec, 20, 50_000);
    let report = rec.shutdown(deadline());
    assert!(report.is_complete(), "{report:#?}");
    let chunks = report.stats.chunks_encoded;
    // One encode per chunk; every sink got every chunk plus the preamble (SetStoreInfo,
    // properties).
    for s in &report.sinks {
        assert_eq!(
            s.stats.messages,
            chunks + PREAMBLE_MESSAGES,
            "{}",
            s.stats.name
        );
    }
    let file = decode_rrd(std::fs::read(&path).unwrap()).unwrap();
    let net = server.decode().unwrap();
    let ids = |d: &spate::wire::DecodedRrd| d.chunks().map(|c| c.id()).collect::<Vec<_>>();
    assert_eq!(ids(&file), ids(&net), "the same chunks, in the same order");
    assert_eq!(logged_chunks(&file).count() as u64, chunks);
    assert_eq!(logged_rows(&file), 20);
}

#[test]
fn a_stalled_grpc_peer_slows_neither_the_file_nor_the_caller() {
    // A peer whose TCP backlog accepts connections but which never reads or answers.
    let stalled = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("rerun+http://{}/proxy", stalled.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tee-stalled.rrd");
    let grpc = GrpcSink::connect_with(&url, GrpcSinkOptions::default()).unwrap();
    let grpc_state = grpc.state_handle();
    let rec = Recording::builder("tee")
        .sinks((
            FileSink::create(&path, FileSinkOptions::default().backend(IoBackend::Pwrite))
                .unwrap()
                .with_policy(SinkPolicy::Block),
            grpc.with_policy(SinkPolicy::DropNewest)
                .max_queue_bytes(8 << 20),
        ))
        .start()
        .unwrap();
    let r = rec.clone();
    // 100 clouds of 2 MB: far more than the gRPC sink may buffer. If the stalled peer
    // slowed the caller, this would not finish.
    within(
        Duration::from_secs(120),
        "logging with a stalled peer",
        move || {
            log_frames(&r, 100, 100_000);
            r.flush(Instant::now() + Duration::from_secs(1)).ok();
        },
    );
    let report = rec.shutdown(Instant::now() + Duration::from_secs(2));
    let [file, net] = &report.sinks[..] else {
        panic!("{report:#?}")
    };
    assert_eq!(file.stats.messages, PREAMBLE_MESSAGES + 100, "{file:#?}");
    assert!(file.closed_cleanly);
    let d = decode_rrd(std::fs::read(&path).unwrap()).unwrap();
    assert!(d.footer.as_ref().unwrap().valid);
    assert_eq!(logged_rows(&d), 100);
    // The peer takes a few MB into its socket buffers and then nothing; what the gRPC
    // side could not deliver is counted.
    let g = grpc_state.stats();
    assert!(g.sent_messages < PREAMBLE_MESSAGES + 100, "{g:#?}");
    assert!(
        net.stats.dropped() + g.dropped_messages + g.abandoned_messages > 0,
        "{net:#?} {g:#?}"
    );
    drop(stalled);
}
