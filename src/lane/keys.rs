//! Per-lane tables of entity paths and timeline lists, so a row carries two small keys
//! instead of reference-counted pointers.
//!
//! Cloning an `EntityPath` or a `Timeline` into every row costs an atomic increment on the
//! producer and a decrement on the drain, on a cache line both threads write: at millions of
//! rows per second that line ping-pongs between cores (it was ~40% of a one-point `log()`).
//! Instead, each lane's producer keeps a table of the entities and timeline lists it has
//! sent, and the first row that uses a new one carries it along ([`Defs`]); the drain's end
//! of the lane keeps the same table, filled in ring order. Both ends see the same sequence of
//! rows, so a key always means, on the drain, what it meant when the producer pushed it.
//!
//! A producer commits a new entry only once the row that defines it is in the ring (a
//! dropped row defines nothing). A full table starts over: every later row defines its keys
//! again, which costs a few rows one allocation each.

use std::collections::HashMap;
use std::sync::Arc;

use crate::entity::EntityPath;
use crate::time::{TimePoint, Timeline};

/// An index into one lane's table.
pub(crate) type Key = u32;

/// An ordered list of timelines (the timelines of rows with the same time layout).
pub(crate) type Timelines = Arc<[Timeline]>;

/// Table entries a row defines: the entity or timeline list its keys name, sent once.
#[derive(Debug, Default)]
pub(crate) struct Defs {
    pub entity: Option<EntityPath>,
    pub timelines: Option<Timelines>,
}

/// Most entities one lane remembers before starting over.
pub(crate) const MAX_ENTITIES: usize = 4096;
/// Most timeline lists one lane remembers before starting over.
pub(crate) const MAX_TIMELINE_LISTS: usize = 64;

/// What a lookup found: an existing key, or the key a new entry gets once committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Known(Key),
    New(Key),
}

impl Lookup {
    pub(crate) fn key(self) -> Key {
        match self {
            Self::Known(k) | Self::New(k) => k,
        }
    }
}

/// The producer's tables.
#[derive(Debug)]
pub(crate) struct ProducerKeys {
    entities: Vec<EntityPath>,
    entity_index: HashMap<EntityPath, Key>,
    last_entity: Key,
    timelines: Vec<Timelines>,
    last_timelines: Key,
    max_entities: usize,
}

impl Default for ProducerKeys {
    fn default() -> Self {
        Self::with_capacity(MAX_ENTITIES)
    }
}

fn same_timelines(list: &[Timeline], time: &TimePoint) -> bool {
    // `Timeline`'s `==` compares pointers first: rows from `set_time` share the same ones.
    list.len() == time.len() && list.iter().zip(time.iter()).all(|(a, (b, _))| a == b)
}

fn next_key(len: usize, max: usize) -> Key {
    // A full table starts over at 0 (see `commit_*`).
    Key::try_from(if len >= max { 0 } else { len }).unwrap_or(0)
}

impl ProducerKeys {
    /// Tables that start over after `max_entities` entities (tests use small ones).
    pub(crate) fn with_capacity(max_entities: usize) -> Self {
        Self {
            entities: Vec::new(),
            entity_index: HashMap::new(),
            last_entity: 0,
            timelines: Vec::new(),
            last_timelines: 0,
            max_entities: max_entities.max(1),
        }
    }

    /// The key of `entity`: O(1), and a pointer comparison when it is the last one used.
    pub(crate) fn entity(&self, entity: &EntityPath) -> Lookup {
        if self
            .entities
            .get(self.last_entity as usize)
            .is_some_and(|e| e == entity)
        {
            return Lookup::Known(self.last_entity);
        }
        match self.entity_index.get(entity) {
            Some(k) => Lookup::Known(*k),
            None => Lookup::New(next_key(self.entities.len(), self.max_entities)),
        }
    }

    /// The key of `time`'s list of timelines.
    pub(crate) fn timelines(&self, time: &TimePoint) -> Lookup {
        let last = self.last_timelines as usize;
        if self
            .timelines
            .get(last)
            .is_some_and(|l| same_timelines(l, time))
        {
            return Lookup::Known(self.last_timelines);
        }
        match self.timelines.iter().position(|l| same_timelines(l, time)) {
            Some(i) => Lookup::Known(Key::try_from(i).unwrap_or(0)),
            None => Lookup::New(next_key(self.timelines.len(), MAX_TIMELINE_LISTS)),
        }
    }

    /// Records that the row using `found` for `entity` entered the ring.
    pub(crate) fn commit_entity(&mut self, found: Lookup, entity: &EntityPath) {
        if let Lookup::New(k) = found {
            if k == 0 && !self.entities.is_empty() {
                self.entities.clear();
                self.entity_index.clear();
            }
            self.entities.push(entity.clone());
            self.entity_index.insert(entity.clone(), k);
        }
        self.last_entity = found.key();
    }

    /// Records that the row using `found` entered the ring (`list`: the new entry, for
    /// `Lookup::New`).
    pub(crate) fn commit_timelines(&mut self, found: Lookup, list: Option<Timelines>) {
        if let (Lookup::New(k), Some(list)) = (found, list) {
            if k == 0 && !self.timelines.is_empty() {
                self.timelines.clear();
            }
            self.timelines.push(list);
        }
        self.last_timelines = found.key();
    }
}

/// The timeline list of `time`, as a new table entry.
pub(crate) fn timelines_of(time: &TimePoint) -> Timelines {
    time.iter().map(|(t, _)| t.clone()).collect()
}

/// The drain's tables, filled in ring order from the rows' [`Defs`].
#[derive(Debug, Default)]
pub(crate) struct ConsumerKeys {
    entities: Vec<Option<EntityPath>>,
    timelines: Vec<Option<Timelines>>,
}

fn set<T>(slots: &mut Vec<Option<T>>, key: Key, value: T) {
    let i = key as usize;
    if slots.len() <= i {
        slots.resize_with(i + 1, || None);
    }
    slots[i] = Some(value);
}

impl ConsumerKeys {
    /// Applies a row's definitions, then returns its entity and timelines (`None` only if
    /// the two ends of the lane disagree, which the protocol rules out).
    pub(crate) fn resolve(
        &mut self,
        entity: Key,
        timelines: Key,
        defs: Option<Box<Defs>>,
    ) -> Option<(&EntityPath, &Timelines)> {
        if let Some(d) = defs {
            if let Some(e) = d.entity {
                set(&mut self.entities, entity, e);
            }
            if let Some(t) = d.timelines {
                set(&mut self.timelines, timelines, t);
            }
        }
        let e = self.entities.get(entity as usize)?.as_ref()?;
        let t = self.timelines.get(timelines as usize)?.as_ref()?;
        Some((e, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lane::test_rng::Rng;

    /// Model test: a producer logging random entities (more than its table holds) and
    /// random time layouts, with some pushes failing (dropped rows define nothing), and
    /// the consumer resolving every row that went in: each resolves to exactly what was
    /// logged.
    #[test]
    fn keys_resolve_to_what_was_logged_across_restarts_and_failed_pushes() {
        for seed in 0..20u64 {
            let mut rng = Rng(seed);
            let names: Vec<EntityPath> = (0..40)
                .map(|i| EntityPath::parse(&format!("e{i}")).unwrap())
                .collect();
            let layouts: Vec<TimePoint> = vec![
                TimePoint::default(),
                TimePoint::default().with_sequence("frame", 1).unwrap(),
                TimePoint::default()
                    .with_sequence("frame", 1)
                    .unwrap()
                    .with_timestamp_ns("t", 5)
                    .unwrap(),
                TimePoint::default().with_duration_ns("d", 1).unwrap(),
            ];
            let mut p = ProducerKeys::with_capacity(7);
            let mut c = ConsumerKeys::default();
            for _ in 0..2_000 {
                // Fresh `EntityPath`s as often as shared ones: equal strings, other pointers.
                let i = rng.below(names.len() as u64) as usize;
                let entity = if rng.below(2) == 0 {
                    names[i].clone()
                } else {
                    EntityPath::parse(names[i].as_str()).unwrap()
                };
                let time = &layouts[rng.below(layouts.len() as u64) as usize];
                let (fe, ft) = (p.entity(&entity), p.timelines(time));
                let defs = Defs {
                    entity: matches!(fe, Lookup::New(_)).then(|| entity.clone()),
                    timelines: matches!(ft, Lookup::New(_)).then(|| timelines_of(time)),
                };
                if rng.below(5) == 0 {
                    continue; // dropped: never reaches the consumer, commits nothing
                }
                p.commit_entity(fe, &entity);
                p.commit_timelines(ft, defs.timelines.clone());
                let (e, t) = c
                    .resolve(fe.key(), ft.key(), Some(Box::new(defs)))
                    .expect("every key resolves");
                assert_eq!(e, &entity, "seed {seed}");
                assert!(same_timelines(t, time), "seed {seed}");
            }
            assert!(p.entities.len() <= 7);
        }
    }

    #[test]
    fn a_repeated_entity_and_layout_define_nothing() {
        let mut p = ProducerKeys::default();
        let e = EntityPath::parse("a").unwrap();
        let t = TimePoint::default().with_sequence("f", 1).unwrap();
        let (fe, ft) = (p.entity(&e), p.timelines(&t));
        assert_eq!((fe, ft), (Lookup::New(0), Lookup::New(0)));
        p.commit_entity(fe, &e);
        p.commit_timelines(ft, Some(timelines_of(&t)));
        assert_eq!(p.entity(&e), Lookup::Known(0));
        assert_eq!(p.entity(&EntityPath::parse("a").unwrap()), Lookup::Known(0));
        assert_eq!(p.timelines(&t), Lookup::Known(0));
        assert_eq!(p.entity(&EntityPath::parse("b").unwrap()), Lookup::New(1));
        let mut c = ConsumerKeys::default();
        assert!(
            c.resolve(3, 0, None).is_none(),
            "an unknown key resolves to nothing"
        );
    }
}
