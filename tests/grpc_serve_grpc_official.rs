//! GrpcSink against the official headless server (`rerun --serve-grpc`): spate streams the
//! points example, reads it back with `ReadMessages` (`spate::sink::grpc::read_messages`,
//! stopping once every row is back: the official server keeps the call open for live
//! messages), frames the messages into an `.rrd` with spate's encoder, and the official
//! tools (`rerun rrd verify` with footers, `print`, eager and lazy readers) find every
//! value. SKIPs loudly without the venv, fails under CI=true.

#[path = "support/official.rs"]
mod official;
#[path = "support/preamble.rs"]
mod preamble;
#[path = "support/procs.rs"]
mod procs;

use std::time::Instant;

use official::{check_points_example, official_python, stream_points_example, write_rrd};
use preamble::logged_rows_of;
use procs::{LIMIT, Server};
use spate::sink::grpc::read_messages;
use spate::wire::{MessageKind, decode_rrd};

const POINTS: u32 = 20_000;
const ENTITIES: u32 = 2;
const FRAMES: u32 = 3;

#[test]
fn official_serve_grpc_gives_back_the_points_example_with_every_value() {
    let Some(python) =
        official_python("official_serve_grpc_gives_back_the_points_example_with_every_value")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let official = Server::official_serve_grpc(&python, dir.path().join("official.log"));

    stream_points_example(&official.url(), POINTS, FRAMES, ENTITIES, LIMIT);

    let rows = u64::from(FRAMES * ENTITIES);
    // (The recording's properties row comes back too; it is not a logged row.)
    let msgs = read_messages(&official.url(), Instant::now() + LIMIT, |m| {
        logged_rows_of(m) == rows
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", official.log_text()));
    assert_eq!(msgs[0].kind(), MessageKind::SetStoreInfo);

    let path = dir.path().join("read_back.rrd");
    let out = write_rrd(&path, &msgs);
    let decoded = decode_rrd(out).unwrap();
    assert!(
        decoded.footer.as_ref().is_some_and(|f| f.valid),
        "{:?}",
        decoded.footer
    );

    check_points_example(&python, &path, POINTS, FRAMES, ENTITIES);
}
