//! Differential tests of the geometry and text archetypes (and of Scalars and the dynamic
//! columns): spate logs each case of `tests/interop/sdk_reference.py` exactly as that script
//! logs it with the official Rerun 0.41 SDK, and the two files must hold the same columns,
//! descriptors, Arrow types and values (`harness::Official::assert_same`).
//!
//! Every case: app id `spate_diff`, recording id `diff-{case}`, per-frame rows at f = 0, 1, 2
//! on the sequence timeline `frame`; compared from spate's file and through the official gRPC
//! receiver (`harness::same_as_sdk`).

use std::sync::Arc;

use arrow_array::{Float64Array, StringArray};
use spate::archetype::{Colors, Scalars};
use spate::{
    Arrows3D, Boxes3D, DynamicArchetype, LineStrips3D, Points2D, Recording, TextLog, TextLogLevel,
    TimeColumn, Timeline,
};

use crate::harness::{entity, same_as_sdk};

/// The frames every per-frame case logs.
const FRAMES: [i64; 3] = [0, 1, 2];

/// `imu/accel`'s first timestamp, ns since the Unix epoch.
const IMU_T0_NS: i64 = 1_700_000_000_000_000_000;

/// Sets `frame` to each of [`FRAMES`] in turn and calls `log` with it.
fn per_frame(rec: &Recording, mut log: impl FnMut(i64)) {
    for f in FRAMES {
        rec.set_time_sequence("frame", f).unwrap();
        log(f);
    }
}

#[test]
fn text_log_is_written_as_the_official_sdk_writes_it() {
    same_as_sdk(
        "text_log_is_written_as_the_official_sdk_writes_it",
        "text_log",
        &|rec| {
            let (log, plain) = (entity("log"), entity("log/plain"));
            per_frame(rec, |f| {
                let level = if f % 2 == 0 {
                    TextLogLevel::Info
                } else {
                    TextLogLevel::Warn
                };
                let line = TextLog::new(format!("frame {f}")).with_level(level);
                rec.log(&log, &line).unwrap();
                rec.log(&plain, &TextLog::new(format!("plain {f}")))
                    .unwrap();
            });
        },
    );
}

#[test]
fn points2d_is_written_as_the_official_sdk_writes_it() {
    same_as_sdk(
        "points2d_is_written_as_the_official_sdk_writes_it",
        "points2d",
        &|rec| {
            let points = entity("img/points");
            per_frame(rec, |f| {
                let f = f as f32;
                let p = Points2D::new(vec![[f, 0.0], [1.0, f], [2.0, 2.0]])
                    .with_colors(Colors::from_rgb(&[[255, 0, 0], [0, 255, 0], [0, 0, 255]]))
                    .with_radii([0.5f32])
                    .with_labels(["a", "b", "c"])
                    .with_class_ids(vec![1u16, 2, 3]);
                rec.log(&points, &p).unwrap();
            });
        },
    );
}

#[test]
fn boxes3d_is_written_as_the_official_sdk_writes_it() {
    same_as_sdk(
        "boxes3d_is_written_as_the_official_sdk_writes_it",
        "boxes3d",
        &|rec| {
            let boxes = entity("world/boxes");
            per_frame(rec, |f| {
                let f = f as f32;
                let b = Boxes3D::new(vec![[1.0f32, 2.0, 3.0], [0.5, 0.5, 0.5]])
                    .with_centers(vec![[f, 0.0, 0.0], [0.0, f, 0.0]])
                    .with_colors(Colors::from_rgb(&[[0, 255, 0]]))
                    .with_labels(["box0", "box1"]);
                rec.log(&boxes, &b).unwrap();
            });
        },
    );
}

#[test]
fn line_strips3d_is_written_as_the_official_sdk_writes_it() {
    same_as_sdk(
        "line_strips3d_is_written_as_the_official_sdk_writes_it",
        "line_strips3d",
        &|rec| {
            let lines = entity("world/lines");
            per_frame(rec, |f| {
                let f = f as f32;
                let l = LineStrips3D::new([
                    vec![[0.0f32, 0.0, 0.0], [1.0, 1.0, f]],
                    vec![[2.0, 2.0, 2.0], [3.0, 3.0, 3.0], [4.0, 4.0, 4.0 + f]],
                ])
                .with_colors(Colors::from_rgb(&[[0, 0, 255]]))
                .with_radii([0.1f32]);
                rec.log(&lines, &l).unwrap();
            });
        },
    );
}

#[test]
fn arrows3d_is_written_as_the_official_sdk_writes_it() {
    same_as_sdk(
        "arrows3d_is_written_as_the_official_sdk_writes_it",
        "arrows3d",
        &|rec| {
            let arrows = entity("world/arrows");
            per_frame(rec, |f| {
                let f = f as f32;
                let a = Arrows3D::new(vec![[1.0f32, 0.0, 0.0], [0.0, 1.0, f]])
                    .with_origins(vec![[0.0f32, 0.0, 0.0], [1.0, 1.0, 1.0]])
                    .with_colors(Colors::from_rgb(&[[1, 2, 3]]));
                rec.log(&arrows, &a).unwrap();
            });
        },
    );
}

#[test]
fn scalars_are_written_as_the_official_sdk_writes_them() {
    same_as_sdk(
        "scalars_are_written_as_the_official_sdk_writes_them",
        "scalars",
        &|rec| {
            let gyro = entity("imu/gyro");
            per_frame(rec, |f| {
                let f = f as f64;
                rec.log(&gyro, &Scalars::new(vec![f.sin(), f.cos(), f]))
                    .unwrap();
            });
            let times: Vec<i64> = (0..100).map(|k| IMU_T0_NS + k * 1_000_000).collect();
            let values: Vec<f64> = (0..100).map(|k| (0.01 * k as f64).sin()).collect();
            let imu_time = Timeline::timestamp("imu_time").unwrap();
            rec.send_columns(
                &entity("imu/accel"),
                vec![TimeColumn::new(imu_time, times)],
                Scalars::columns(values).unwrap(),
            )
            .unwrap();
        },
    );
}

#[test]
fn dynamic_columns_are_written_as_the_official_sdk_writes_them() {
    same_as_sdk(
        "dynamic_columns_are_written_as_the_official_sdk_writes_them",
        "dynamic",
        &|rec| {
            let (custom, arch) = (entity("custom"), entity("custom/arch"));
            per_frame(rec, |f| {
                let f = f as f64;
                let any = DynamicArchetype::any_values()
                    .with_component(
                        "confidence",
                        Arc::new(Float64Array::from(vec![1.5 * f, 2.0])),
                    )
                    .with_component("name", Arc::new(StringArray::from(vec!["a", "b"])));
                rec.log(&custom, &any).unwrap();
                let mine = DynamicArchetype::new("MyArchetype")
                    .with_component("speed", Arc::new(Float64Array::from(vec![f])));
                rec.log(&arch, &mine).unwrap();
            });
        },
    );
}
