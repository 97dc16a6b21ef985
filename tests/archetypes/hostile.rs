//! The open logging API under careless and hostile callers: archetypes of the caller's own
//! making, `send_columns` with columns that do not fit, and a random mix of every kind of
//! row from several threads — every row delivered once, in order per entity, or refused on
//! the caller's thread with a typed error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Array, ArrayRef, Float64Array, Int32Array, StringArray};
use spate::archetype::{Scalars, TextLog};
use spate::{
    ArchetypeError, AsComponents, ComponentDescriptor, DynamicArchetype, EntityPath, MemorySink,
    Points3D, Recording, RecordingError, TimeColumn, Timeline,
};

use crate::rng::Rng;

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

/// An archetype that returns whatever it was given.
struct Raw(Vec<(ComponentDescriptor, ArrayRef)>);

impl AsComponents for Raw {
    fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError> {
        Ok(self.0.clone())
    }
}

fn f64s(v: &[f64]) -> ArrayRef {
    Arc::new(Float64Array::from(v.to_vec()))
}

#[test]
fn rows_that_cannot_be_columns_are_refused_on_the_callers_thread() {
    let (sink, received) = MemorySink::new();
    let rec = Recording::builder("hostile").sinks(sink).start().unwrap();
    let e = EntityPath::parse("x").unwrap();
    let twice = Raw(vec![
        (ComponentDescriptor::named("a"), f64s(&[1.0])),
        (ComponentDescriptor::named("a"), f64s(&[2.0])),
    ]);
    assert!(matches!(
        rec.log(&e, &twice),
        Err(RecordingError::Archetype(ArchetypeError::DuplicateComponent(c))) if c == "a"
    ));
    let unnamed = Raw(vec![(ComponentDescriptor::named(""), f64s(&[1.0]))]);
    assert!(matches!(
        rec.log(&e, &unnamed),
        Err(RecordingError::Archetype(
            ArchetypeError::EmptyComponentName
        ))
    ));
    // Columns of different lengths: refused whole.
    let times = TimeColumn::new(Timeline::sequence("t").unwrap(), vec![0, 1, 2]);
    let short = Scalars::columns(vec![1.0, 2.0]).unwrap();
    assert!(matches!(
        rec.send_columns(&e, vec![times], short),
        Err(RecordingError::Columns(_))
    ));
    // The same component twice in columns.
    let mut twice = Scalars::columns(vec![1.0]).unwrap();
    twice.extend(Scalars::columns(vec![2.0]).unwrap());
    assert!(matches!(
        rec.send_columns(&e, Vec::new(), twice),
        Err(RecordingError::Archetype(
            ArchetypeError::DuplicateComponent(_)
        ))
    ));
    // Nothing at all: nothing logged, no error.
    rec.send_columns(&e, Vec::new(), Vec::new()).unwrap();
    let report = rec.shutdown(deadline());
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.rows_logged(), 0);
    let decoded = received.decode().unwrap();
    assert!(
        decoded.chunks().all(|c| c.entity().to_string() != "/x"),
        "a refused row reached the sink"
    );
}

/// Rows of one entity whose component changes Arrow type from row to row: each kind goes
/// to a chunk of its own, in logging order, and nothing is lost or mixed.
#[test]
fn a_component_that_changes_type_keeps_every_row_in_order() {
    let (sink, received) = MemorySink::new();
    let rec = Recording::builder("hostile").sinks(sink).start().unwrap();
    let e = EntityPath::parse("shifty").unwrap();
    for f in 0..40i32 {
        rec.set_time_sequence("frame", i64::from(f)).unwrap();
        let values: ArrayRef = match f % 3 {
            0 => f64s(&[f64::from(f)]),
            1 => Arc::new(Int32Array::from(vec![f])),
            _ => Arc::new(StringArray::from(vec![f.to_string()])),
        };
        rec.log(
            &e,
            &DynamicArchetype::any_values().with_component("v", values),
        )
        .unwrap();
    }
    let report = rec.shutdown(deadline());
    assert!(report.is_complete(), "{report}");
    let decoded = received.decode().unwrap();
    let mut frames = Vec::new();
    for c in decoded
        .chunks()
        .filter(|c| c.entity().to_string() == "/shifty")
    {
        let t = c
            .timelines()
            .iter()
            .find(|t| t.timeline().name() == "frame")
            .unwrap();
        let list = c.component("v").unwrap().list();
        for (row, &f) in t.values().iter().enumerate() {
            let cell = list.value(row);
            let expected = match f % 3 {
                0 => arrow_schema::DataType::Float64,
                1 => arrow_schema::DataType::Int32,
                _ => arrow_schema::DataType::Utf8,
            };
            assert_eq!(cell.data_type(), &expected, "frame {f}");
            frames.push(f);
        }
    }
    assert_eq!(frames, (0..40).collect::<Vec<i64>>());
}

/// Threads log a random mix — clouds, scalars, text, dynamic columns (small and large,
/// batched and passed through) and `send_columns` batches — each on entities of its own,
/// with a sequence number per entity. The reference model is the list each thread logged;
/// the sink must hold exactly those rows, each once, in order per entity, with their values.
#[test]
fn a_random_mix_of_every_kind_of_row_arrives_exactly_once_in_order() {
    let seed = std::env::var("SPATE_MIX_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64);
    let (sink, received) = MemorySink::new();
    let rec = Recording::builder("mix").sinks(sink).start().unwrap();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let rec = rec.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(seed ^ (t + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                // entity -> the sequence numbers logged there, in order.
                let mut model: BTreeMap<String, Vec<i64>> = BTreeMap::new();
                for _ in 0..400 {
                    let kind = rng.below(5);
                    let path = format!("t{t}/k{kind}");
                    let e = EntityPath::parse(&path).unwrap();
                    let seq = model.entry(path.clone()).or_default();
                    let next = seq.len() as i64;
                    match kind {
                        0 => {
                            let n = if rng.below(10) == 0 {
                                30_000
                            } else {
                                1 + rng.below(8) as usize
                            };
                            rec.set_time_sequence("seq", next).unwrap();
                            rec.log(&e, &Points3D::new(vec![[next as f32, 0.0, 0.0]; n]))
                                .unwrap();
                            seq.push(next);
                        }
                        1 => {
                            rec.set_time_sequence("seq", next).unwrap();
                            rec.log(&e, &Scalars::new(vec![next as f64])).unwrap();
                            seq.push(next);
                        }
                        2 => {
                            rec.set_time_sequence("seq", next).unwrap();
                            rec.log(&e, &TextLog::new(next.to_string())).unwrap();
                            seq.push(next);
                        }
                        3 => {
                            let n = if rng.below(10) == 0 { 40_000 } else { 1 };
                            rec.set_time_sequence("seq", next).unwrap();
                            let any = DynamicArchetype::new("Mix")
                                .with_component("v", f64s(&vec![next as f64; n]));
                            rec.log(&e, &any).unwrap();
                            seq.push(next);
                        }
                        _ => {
                            let rows = 1 + rng.below(300) as i64;
                            let times: Vec<i64> = (next..next + rows).collect();
                            let values: Vec<f64> = times.iter().map(|&v| v as f64).collect();
                            rec.send_columns(
                                &e,
                                vec![TimeColumn::new(
                                    Timeline::sequence("seq").unwrap(),
                                    times.clone(),
                                )],
                                Scalars::columns(values).unwrap(),
                            )
                            .unwrap();
                            seq.extend(times);
                        }
                    }
                }
                model
            })
        })
        .collect();
    let mut model: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for t in threads {
        model.extend(t.join().unwrap());
    }
    let report = rec.shutdown(deadline());
    assert!(report.is_complete(), "seed {seed}: {report}");
    let logged: usize = model.values().map(Vec::len).sum();
    assert_eq!(report.rows_logged(), logged as u64, "seed {seed}");
    // Every counter speaks of rows, a `send_columns` call being as many rows as it holds.
    assert_eq!(report.stats.rows_drained, logged as u64, "seed {seed}");
    assert_eq!(report.stats.rows_encoded, logged as u64, "seed {seed}");

    let decoded = received.decode().unwrap();
    let mut got: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for c in decoded.chunks() {
        let entity = c.entity().to_string();
        if entity == "/__properties" {
            continue;
        }
        let seq = c
            .timelines()
            .iter()
            .find(|t| t.timeline().name() == "seq")
            .unwrap_or_else(|| panic!("seed {seed}: {entity} row without seq"));
        // Each row's value equals its sequence number (the first instance of its one
        // value-carrying component).
        let values = c
            .components()
            .iter()
            .find(|col| !col.descriptor().component.ends_with("text"));
        for (row, &s) in seq.values().iter().enumerate() {
            if let Some(col) = values {
                let cell = col.list().value(row);
                let first = if let Some(f) = cell.as_any().downcast_ref::<Float64Array>() {
                    f.value(0)
                } else {
                    let fsl = cell
                        .as_any()
                        .downcast_ref::<arrow_array::FixedSizeListArray>()
                        .unwrap();
                    f64::from(
                        fsl.values()
                            .as_any()
                            .downcast_ref::<arrow_array::Float32Array>()
                            .unwrap()
                            .value(0),
                    )
                };
                assert_eq!(first, s as f64, "seed {seed}: {entity} row {s}");
            }
            got.entry(entity.trim_start_matches('/').to_owned())
                .or_default()
                .push(s);
        }
    }
    assert_eq!(got, model, "seed {seed}");
}
