//! The decoder reads the official Rerun 0.41 sample files and finds the values their
//! README lists.

use arrow_array::{Array, FixedSizeListArray, Float32Array, UInt32Array};
use spate::wire::{Message, TruncationReason, decode_rrd};

use crate::common::fixture;

fn f32_at(list: &arrow_array::ListArray, row: usize, i: usize) -> f32 {
    let v = list.value(row);
    v.as_any().downcast_ref::<Float32Array>().unwrap().value(i)
}

#[test]
fn points3d_1000x3_values_match_the_fixture_readme() {
    let rrd = decode_rrd(std::fs::read(fixture("points3d_1000x3.rrd")).unwrap()).unwrap();
    assert_eq!(rrd.headers.len(), 1);
    assert_eq!(rrd.headers[0].version, [0, 41, 0, 0]);
    assert!(rrd.headers[0].lz4);
    assert!(rrd.truncated.is_none());
    let set_store_infos = rrd
        .messages
        .iter()
        .filter(|m| matches!(m.message, Message::SetStoreInfo(_)))
        .count();
    assert_eq!(set_store_infos, 2);

    let chunks: Vec<_> = rrd.chunks().collect();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0].entity().as_str(), "/__properties");
    assert!(chunks[0].is_static());
    let points = chunks[1];
    assert_eq!(points.entity().as_str(), "/points");
    assert_eq!(points.num_rows(), 3);
    let frame = points
        .timelines()
        .iter()
        .find(|t| t.timeline().name() == "frame")
        .unwrap();
    assert_eq!(frame.values(), &[0, 1, 2]);

    let pos = points.component("Points3D:positions").unwrap().list();
    let xyz = pos.value(0);
    let xyz = xyz.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
    assert_eq!(xyz.len(), 1000);
    let p0 = xyz.value(0);
    let p0 = p0.as_any().downcast_ref::<Float32Array>().unwrap();
    assert_eq!(
        p0.values().as_ref(),
        &[
            0.5479121208190918_f64 as f32,
            -0.12224312126636505_f64 as f32,
            0.7171958684921265_f64 as f32
        ],
        "frame 0 point 0 position"
    );
    let colors = points.component("Points3D:colors").unwrap().list().value(0);
    assert_eq!(
        colors
            .as_any()
            .downcast_ref::<UInt32Array>()
            .unwrap()
            .value(0),
        0x9396_839e
    );
    let radii = points.component("Points3D:radii").unwrap().list();
    assert_eq!(f32_at(radii, 0, 0), 0.026561103761196136_f64 as f32);

    let footer = rrd.footer.as_ref().expect("official file has a footer");
    assert!(footer.valid, "{:?}", footer.problems);
    assert_eq!(footer.manifests.len(), 1);
    assert_eq!(footer.manifests[0].rows.len(), 2);
    assert_eq!(footer.manifests[0].store.1, "fixture-points3d-0001");
    // The manifest row of /points points at that ArrowMsg's body (the spec's example row
    // is from another run of the fixture script; sizes of the IPC payload are stable).
    let row = &footer.manifests[0].rows[1];
    assert_eq!(
        (row.entity.as_str(), row.num_rows, row.is_static),
        ("/points", 3, false)
    );
    let msg = rrd
        .messages
        .iter()
        .find(
            |m| matches!(&m.message, Message::ArrowMsg { chunk, .. } if chunk.id() == row.chunk_id),
        )
        .unwrap();
    assert_eq!((row.byte_offset, row.byte_size), (msg.offset + 16, msg.len));
    assert_eq!(row.byte_size_uncompressed, 65928);
}

#[test]
fn two_entities_two_timelines_has_static_origin_and_both_timelines() {
    let rrd =
        decode_rrd(std::fs::read(fixture("two_entities_two_timelines.rrd")).unwrap()).unwrap();
    let chunks: Vec<_> = rrd.chunks().collect();
    let entities: Vec<_> = chunks.iter().map(|c| c.entity().as_str()).collect();
    assert_eq!(
        entities,
        [
            "/__properties",
            "/world/radar",
            "/world/origin",
            "/world/lidar"
        ]
    );
    let origin = chunks[2];
    assert!(origin.is_static());
    assert_eq!(origin.num_rows(), 1);
    assert_eq!(
        f32_at(origin.component("Points3D:radii").unwrap().list(), 0, 0),
        0.2
    );

    let lidar = chunks[3];
    assert_eq!(lidar.num_rows(), 4);
    let names: Vec<_> = lidar
        .timelines()
        .iter()
        .map(|t| t.timeline().name())
        .collect();
    assert_eq!(names, ["frame", "log_time", "sim_time"]);
    let sim = &lidar.timelines()[2];
    assert_eq!(sim.timeline().kind(), spate::TimelineKind::Timestamp);
    let want: Vec<i64> = (0..4)
        .map(|f| 1_700_000_000_000_000_000 + f * 100_000_000)
        .collect();
    assert_eq!(sim.values(), want.as_slice());
    let class_ids = lidar
        .component("Points3D:class_ids")
        .unwrap()
        .list()
        .value(3);
    let class_ids = class_ids
        .as_any()
        .downcast_ref::<arrow_array::UInt16Array>()
        .unwrap();
    assert_eq!(class_ids.len(), 300);
    assert!(
        class_ids
            .values()
            .iter()
            .enumerate()
            .all(|(i, &c)| c as usize == i % 5)
    );

    let radar = chunks[1];
    let labels = radar.component("Points3D:labels").unwrap().list().value(2);
    let labels = labels
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    assert_eq!(labels.value(7), "r2_7");
    assert!(rrd.footer.as_ref().unwrap().valid);
}

#[test]
fn grpc_saved_file_without_footer_reports_no_end_message() {
    let bytes = std::fs::read(fixture("points3d_grpc_saved_nofooter.rrd")).unwrap();
    let len = bytes.len() as u64;
    let rrd = decode_rrd(bytes).unwrap();
    assert!(rrd.footer.is_none());
    let t = rrd.truncated.as_ref().unwrap();
    assert_eq!(t.reason, TruncationReason::NoEndMessage);
    assert_eq!(t.offset, len);
    let chunks: Vec<_> = rrd.chunks().collect();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[1].num_rows(), 3);
    assert_eq!(
        chunks[1]
            .component("Points3D:positions")
            .unwrap()
            .num_instances(),
        600
    );
}
