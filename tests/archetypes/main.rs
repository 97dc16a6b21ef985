//! Archetype tests: each archetype logged by spate is compared with the same data logged by
//! the official Rerun 0.41 Python SDK (`harness`, `tests/interop/sdk_reference.py`,
//! `tests/interop/compare_rrd.py`). One binary, a module per group of archetypes.
//!
//! This file also holds the harness's self-tests: the comparator must accept two SDK runs
//! of every case (they differ in RowIds, chunk ids, `log_time` and the start time), reject a
//! file with one value changed and name the component, and a case streamed by the SDK
//! through the official gRPC receiver must compare equal to the SDK's file.

mod harness;
#[path = "../support/official.rs"]
mod official;
#[path = "../support/procs.rs"]
mod procs;
#[path = "../support/rng.rs"]
mod rng;

// The spate side of each case, a module per group:
mod camera;
mod geometry;
mod hostile;
mod sensors;

use std::path::Path;

use harness::Official;

/// Every case of `sdk_reference.py`, in its order (checked by `the_case_list_is_complete`).
const CASES: &[&str] = &[
    "transform3d",
    "pinhole",
    "image",
    "depth",
    "encoded_image",
    "scalars",
    "text_log",
    "points2d",
    "boxes3d",
    "line_strips3d",
    "arrows3d",
    "dynamic",
    "properties",
    "sensors",
];

#[test]
fn the_case_list_is_complete() {
    let Some(off) = harness::official("the_case_list_is_complete") else {
        return;
    };
    let listed = off.sdk_script(["--list"]);
    assert_eq!(listed.lines().collect::<Vec<_>>(), CASES);
}

/// Two SDK runs of `case` compare equal; a third with `--perturb` differs, and the
/// comparator names the entity and component the script says it changed (for `transform3d`:
/// with that component's values ignored, the perturbed file compares equal again).
fn sdk_twice_equal_perturbed_differs(off: &Official, case: &str, dir: &Path) {
    let (a, b, p) = (dir.join("a"), dir.join("b"), dir.join("p"));
    for d in [&a, &b, &p] {
        std::fs::create_dir(d).unwrap();
    }
    let first = off.sdk_reference(case, &a);
    let second = off.sdk_reference(case, &b);
    off.assert_same(&first, &second);

    let perturbed = p.join(format!("{case}.perturbed.rrd"));
    let said = off.sdk_script([case.as_ref(), perturbed.as_os_str(), "--perturb".as_ref()]);
    let (entity, component) = said
        .lines()
        .find_map(|l| l.strip_prefix("perturbed "))
        .and_then(|l| l.split_once(' '))
        .unwrap_or_else(|| panic!("sdk_reference.py --perturb said {said:?}"));
    let out = off
        .compare(&first, &perturbed)
        .expect_err("a perturbed value must be a difference");
    let named = format!("/{entity} {component}");
    assert!(
        out.contains(&named),
        "the difference report does not name {named:?}:\n{out}"
    );
    assert!(out.contains("RESULT: 1 difference(s)"), "{out}");
    if case == "transform3d" {
        // `--ignore-value` (one case is enough: it is the comparator's flag, not the case's).
        off.compare_ignoring(&first, &perturbed, &[component])
            .unwrap_or_else(|out| panic!("only {component} was perturbed:\n{out}"));
    }
}

macro_rules! case_self_tests {
    ($($case:ident),* $(,)?) => {$(
        #[test]
        fn $case() {
            let name = concat!("sdk_self_compare::", stringify!($case));
            let Some(off) = harness::official(name) else { return };
            let dir = tempfile::tempdir().unwrap();
            sdk_twice_equal_perturbed_differs(&off, stringify!($case), dir.path());
        }
    )*};
}

/// Per case: two SDK runs are equal, a perturbed run differs in the perturbed component.
mod sdk_self_compare {
    use super::*;

    case_self_tests!(
        transform3d,
        pinhole,
        image,
        depth,
        encoded_image,
        scalars,
        text_log,
        points2d,
        boxes3d,
        line_strips3d,
        arrows3d,
        dynamic,
        properties,
        sensors,
    );
}

#[test]
fn different_cases_differ_in_ids_entities_and_components() {
    let Some(off) = harness::official("different_cases_differ_in_ids_entities_and_components")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let image = off.sdk_reference("image", dir.path());
    let depth = off.sdk_reference("depth", dir.path());
    let out = off
        .compare(&image, &depth)
        .expect_err("image and depth are different cases");
    for want in [
        "FAIL recordings",
        "diff-image",
        "diff-depth",
        "FAIL entities",
        "/cam/rgb",
        "/cam/depth",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }

    // Same entity path `/log`, different rows and components: named per component.
    let text_log = off.sdk_reference("text_log", dir.path());
    let sensors = off.sdk_reference("sensors", dir.path());
    let out = off
        .compare(&text_log, &sensors)
        .expect_err("different cases");
    for want in [
        "/log TextLog:level @ frame=1",
        "/log TextLog:text @ frame=9: only in spate",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
}

#[test]
fn a_file_the_official_reader_rejects_is_a_difference() {
    let Some(off) = harness::official("a_file_the_official_reader_rejects_is_a_difference") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sdk = off.sdk_reference("points2d", dir.path());
    let garbage = dir.path().join("garbage.rrd");
    let mut bytes = std::fs::read(&sdk).unwrap();
    bytes.truncate(bytes.len() / 2);
    bytes.extend_from_slice(b"not an rrd message");
    std::fs::write(&garbage, bytes).unwrap();
    let out = off
        .compare(&sdk, &garbage)
        .expect_err("a damaged file must not compare equal");
    assert!(out.contains("FAIL verify spate"), "{out}");
}

#[test]
fn the_sdk_streamed_through_the_official_receiver_equals_its_file() {
    let Some(off) =
        harness::official("the_sdk_streamed_through_the_official_receiver_equals_its_file")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = off.sdk_reference("scalars", dir.path());
    let received = off.via_official_grpc(dir.path(), "scalars", |url| {
        off.sdk_script(["scalars", "--grpc", url]);
    });
    let out = off
        .compare(&file, &received)
        .unwrap_or_else(|out| panic!("the received stream differs from the SDK's file:\n{out}"));
    println!("{out}");
    assert!(
        out.contains("OK   verify spate (--check-footers false)"),
        "{out}"
    );
    assert!(out.contains("OK   /imu/accel: 100 index keys"), "{out}");
}
