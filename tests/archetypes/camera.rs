//! Camera archetypes (`Transform3D`, `Pinhole`, `Image`, `DepthImage`, `EncodedImage`)
//! against the official Python SDK 0.41: each case is logged by the SDK
//! (`tests/interop/sdk_reference.py CASE`) and by spate, frames 0, 1, 2 on the sequence
//! timeline `frame`, and the two files must hold the same columns, descriptors, Arrow types
//! and values — from spate's file and through the official gRPC receiver.

use spate::Recording;
use spate::archetype::{
    ColorModel, DepthImage, EncodedImage, Image, MediaType, Pinhole, PixelFormat, Transform3D,
    TransformRelation, ViewCoordinates,
};

use crate::harness::{entity, same_as_sdk};

const FRAMES: i64 = 3;

/// Frames 0, 1, 2, each set as this thread's time on the sequence timeline `frame`.
fn frames(rec: &Recording) -> impl Iterator<Item = i64> + '_ {
    (0..FRAMES).inspect(|&f| rec.set_time_sequence("frame", f).unwrap())
}

/// `world/robot`: translation, quaternion, scale, relation; `world/axis`: axis-angle and a
/// non-symmetric matrix (row-major in, column-major stored).
fn log_transform3d(rec: &Recording) {
    let (robot, axis) = (entity("world/robot"), entity("world/axis"));
    for f in frames(rec) {
        let half = 0.05 * f as f64;
        let robot_t = Transform3D::new()
            .with_translation([0.5 * f as f32, f as f32, -f as f32])
            .with_quaternion([0.0, 0.0, half.sin() as f32, half.cos() as f32])
            .with_scale([1.0, 2.0, 3.0])
            .with_relation(TransformRelation::ChildFromParent);
        rec.log(&robot, &robot_t).unwrap();
        let axis_t = Transform3D::new()
            .with_rotation_axis_angle([0.0, 0.0, 1.0], (0.1 * f as f64) as f32)
            .with_mat3x3([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]);
        rec.log(&axis, &axis_t).unwrap();
    }
}

/// `camera/front`: static, with resolution and RDF axes; `camera/side`: per frame.
fn log_pinhole(rec: &Recording) {
    let front = Pinhole::new([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])
        .with_resolution([640.0, 480.0])
        .with_camera_xyz(ViewCoordinates::RDF);
    rec.log_static(&entity("camera/front"), &front).unwrap();
    let side = entity("camera/side");
    for f in frames(rec) {
        let focal = 400.0 + f as f32;
        let pinhole = Pinhole::new([[focal, 0.0, 300.0], [0.0, focal, 200.0], [0.0, 0.0, 1.0]])
            .with_resolution([600.0, 400.0]);
        rec.log(&side, &pinhole).unwrap();
    }
}

/// `cam/rgb`: 8×6 RGB u8; `cam/gray`: 4×3 L f32; `cam/nv12`: 8×6 NV12 (72 bytes).
fn log_image(rec: &Recording) {
    let (rgb, gray, nv12) = (entity("cam/rgb"), entity("cam/gray"), entity("cam/nv12"));
    for f in frames(rec) {
        let f = f as usize;
        let mut pixels = Vec::with_capacity(8 * 6 * 3);
        for y in 0..6 {
            for x in 0..8 {
                pixels.extend([(x + f) % 256, (y + f) % 256, (x * y + f) % 256].map(|v| v as u8));
            }
        }
        let image = Image::from_color_model(pixels, [8, 6], ColorModel::Rgb).unwrap();
        rec.log(&rgb, &image).unwrap();

        let values: Vec<f32> = (0..3)
            .flat_map(|y| (0..4).map(move |x| (x + 10 * y + f) as f32))
            .collect();
        let image = Image::from_elements(values, [4, 3], ColorModel::L).unwrap();
        rec.log(&gray, &image).unwrap();

        let bytes: Vec<u8> = (0..72).map(|i| ((i + f) % 256) as u8).collect();
        let image = Image::from_pixel_format(bytes, [8, 6], PixelFormat::Nv12).unwrap();
        rec.log(&nv12, &image).unwrap();
    }
}

/// `cam/depth`: 5×4 u16 millimeters; `cam/depth_f32`: 5×4 f32 meters.
fn log_depth(rec: &Recording) {
    let (mm, m) = (entity("cam/depth"), entity("cam/depth_f32"));
    for f in frames(rec) {
        let values: Vec<u16> = (0..4)
            .flat_map(|y| (0..5).map(move |x| (1000 + x + 100 * y + f) as u16))
            .collect();
        let depth = DepthImage::new(values, [5, 4]).unwrap().with_meter(1000.0);
        rec.log(&mm, &depth).unwrap();

        let values: Vec<f32> = (0..4)
            .flat_map(|y| (0..5).map(move |x| 0.5 * (x + y) as f32 + f as f32))
            .collect();
        let depth = DepthImage::new(values, [5, 4]).unwrap().with_meter(1.0);
        rec.log(&m, &depth).unwrap();
    }
}

/// `cam/jpeg`: FF D8, `spate-frame-{f}`, FF D9, as `image/jpeg`.
fn log_encoded_image(rec: &Recording) {
    let jpeg = entity("cam/jpeg");
    for f in frames(rec) {
        let mut bytes = vec![0xff, 0xd8];
        bytes.extend_from_slice(format!("spate-frame-{f}").as_bytes());
        bytes.extend_from_slice(&[0xff, 0xd9]);
        let image = EncodedImage::new(bytes).with_media_type(MediaType::JPEG);
        rec.log(&jpeg, &image).unwrap();
    }
}

#[test]
fn transform3d_is_written_as_the_sdk_writes_it() {
    same_as_sdk(
        "transform3d_is_written_as_the_sdk_writes_it",
        "transform3d",
        &log_transform3d,
    );
}

#[test]
fn pinhole_is_written_as_the_sdk_writes_it() {
    same_as_sdk(
        "pinhole_is_written_as_the_sdk_writes_it",
        "pinhole",
        &log_pinhole,
    );
}

#[test]
fn image_is_written_as_the_sdk_writes_it() {
    same_as_sdk("image_is_written_as_the_sdk_writes_it", "image", &log_image);
}

#[test]
fn depth_image_is_written_as_the_sdk_writes_it() {
    same_as_sdk(
        "depth_image_is_written_as_the_sdk_writes_it",
        "depth",
        &log_depth,
    );
}

#[test]
fn encoded_image_is_written_as_the_sdk_writes_it() {
    same_as_sdk(
        "encoded_image_is_written_as_the_sdk_writes_it",
        "encoded_image",
        &log_encoded_image,
    );
}
