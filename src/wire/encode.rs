//! Encoding chunks and store info into protobuf message bodies, as lists of `Bytes` parts.

use std::sync::Arc;

use arrow_array::Array;
use arrow_ipc::writer::StreamEncoder;
use arrow_schema::{ArrowError, DataType};
use bytes::{BufMut, Bytes, BytesMut};
use prost::Message as _;

use super::proto;
use super::sorbet::chunk_to_record_batch;
use crate::chunk::{Chunk, ChunkId, ComponentDescriptor, Tuid};
use crate::entity::EntityPath;
use crate::time::Timeline;

/// Why a message could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Arrow IPC encoding failed.
    #[error("Arrow IPC encoding failed")]
    Arrow(#[from] ArrowError),
    /// The application id must be non-empty.
    #[error("application id is empty")]
    EmptyApplicationId,
}

/// Payload compression of ArrowMsg bodies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Raw Arrow IPC (zero-copy: the payload parts are the chunk's own buffers).
    #[default]
    Off,
    /// LZ4 block compression, as the official SDK writes (one contiguous compressed part).
    Lz4,
}

/// The kind of a framed message (`MessageHeader.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// End of stream (kind 0), body = RrdFooter.
    End,
    /// SetStoreInfo (kind 1).
    SetStoreInfo,
    /// ArrowMsg (kind 2): one chunk.
    ArrowMsg,
    /// BlueprintActivationCommand (kind 3).
    BlueprintActivationCommand,
}

impl MessageKind {
    /// The u64 written in the message header.
    pub fn code(self) -> u64 {
        match self {
            Self::End => 0,
            Self::SetStoreInfo => 1,
            Self::ArrowMsg => 2,
            Self::BlueprintActivationCommand => 3,
        }
    }

    /// The kind for a header value, if known.
    pub fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            0 => Self::End,
            1 => Self::SetStoreInfo,
            2 => Self::ArrowMsg,
            3 => Self::BlueprintActivationCommand,
            _ => return None,
        })
    }

    /// The `LogMsg` oneof field number for this kind (gRPC wrapping), if it has one.
    pub fn log_msg_tag(self) -> Option<u32> {
        match self {
            Self::SetStoreInfo => Some(1),
            Self::ArrowMsg => Some(2),
            Self::BlueprintActivationCommand => Some(3),
            Self::End => None,
        }
    }
}

/// Identity of a recording: application id and recording id.
///
/// ```
/// use spate::wire::StoreInfo;
/// let info = StoreInfo::new("my_app", "run-42")?;
/// assert_eq!(info.application_id(), "my_app");
/// # Ok::<(), spate::wire::EncodeError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StoreInfo {
    application_id: Arc<str>,
    recording_id: Arc<str>,
    blueprint: bool,
}

impl StoreInfo {
    /// A recording of `application_id` with the given recording id.
    pub fn new(application_id: &str, recording_id: &str) -> Result<Self, EncodeError> {
        if application_id.is_empty() {
            return Err(EncodeError::EmptyApplicationId);
        }
        Ok(Self {
            application_id: Arc::from(application_id),
            recording_id: Arc::from(recording_id),
            blueprint: false,
        })
    }

    /// The same ids, naming a blueprint store (`StoreKind::BLUEPRINT`) instead of a
    /// recording.
    ///
    /// ```
    /// use spate::wire::StoreInfo;
    /// let bp = StoreInfo::new("my_app", "bp-1")?.into_blueprint();
    /// assert!(bp.is_blueprint());
    /// # Ok::<(), spate::wire::EncodeError>(())
    /// ```
    pub fn into_blueprint(mut self) -> Self {
        self.blueprint = true;
        self
    }

    /// Whether this names a blueprint store rather than a recording.
    pub fn is_blueprint(&self) -> bool {
        self.blueprint
    }

    /// The store named by a protobuf `StoreId` (`fallback_app` is the deprecated
    /// `StoreInfo.application_id`, used when the id has none); `None` without an
    /// application id.
    pub(crate) fn from_proto(id: &proto::StoreId, fallback_app: Option<&str>) -> Option<Self> {
        let app = id
            .application_id
            .as_ref()
            .map(|a| a.id.as_str())
            .filter(|a| !a.is_empty())
            .or(fallback_app.filter(|a| !a.is_empty()))?;
        let mut s = Self::new(app, &id.recording_id).ok()?;
        s.blueprint = id.kind == proto::StoreKind::Blueprint as i32;
        Some(s)
    }

    /// The application id.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// The recording id.
    pub fn recording_id(&self) -> &str {
        &self.recording_id
    }

    pub(crate) fn store_id(&self) -> proto::StoreId {
        proto::StoreId {
            kind: if self.blueprint {
                proto::StoreKind::Blueprint
            } else {
                proto::StoreKind::Recording
            } as i32,
            recording_id: self.recording_id.to_string(),
            application_id: Some(proto::ApplicationId {
                id: self.application_id.to_string(),
            }),
        }
    }
}

/// What the footer manifest needs to know about one encoded chunk.
#[derive(Clone, Debug)]
pub struct ChunkSummary {
    /// The recording the chunk belongs to.
    pub store: StoreInfo,
    /// Entity path.
    pub entity: EntityPath,
    /// Chunk id.
    pub chunk_id: ChunkId,
    /// No index columns.
    pub is_static: bool,
    /// Number of rows.
    pub num_rows: u64,
    /// Size of the Arrow IPC payload before compression.
    pub uncompressed_size: u64,
    /// Per timeline: `(min, max)` time.
    pub time_ranges: Vec<(Timeline, Option<(i64, i64)>)>,
    /// Per component: descriptor, list type, rows where it is non-null, whether every list
    /// is empty, and per timeline `(min, max)` over those rows.
    pub components: Vec<ComponentSummary>,
}

/// Manifest facts about one component column of a chunk.
#[derive(Clone, Debug)]
pub struct ComponentSummary {
    /// Descriptor.
    pub descriptor: ComponentDescriptor,
    /// The column's Arrow type (a List).
    pub data_type: DataType,
    /// Rows where the component is non-null.
    pub num_rows: u64,
    /// Every list is empty or null.
    pub is_empty: bool,
    /// Per chunk timeline (same order as [`ChunkSummary::time_ranges`]): range over the rows
    /// where this component is present.
    pub time_ranges: Vec<Option<(i64, i64)>>,
}

impl ChunkSummary {
    /// For a static chunk, the key a later static chunk replaces it under when a sink keeps
    /// only the latest statics (to start a new file or replay on reconnect): store, entity
    /// and component set (a sink may carry several stores, e.g. `spate serve --forward`).
    /// `None` for a temporal chunk.
    pub(crate) fn static_key(&self) -> Option<String> {
        if !self.is_static {
            return None;
        }
        let mut key = format!(
            "{}|{}|{}|",
            self.store.application_id(),
            self.store.recording_id(),
            self.store.is_blueprint()
        );
        key.push_str(&self.entity.to_string());
        for c in &self.components {
            key.push('|');
            key.push_str(&c.descriptor.component);
        }
        Some(key)
    }

    pub(super) fn of(chunk: &Chunk, store: &StoreInfo, uncompressed_size: u64) -> Self {
        let time_ranges = chunk
            .timelines()
            .iter()
            .map(|t| (t.timeline().clone(), t.range()))
            .collect();
        let components = chunk
            .components()
            .iter()
            .map(|c| {
                let list = c.list();
                let present: Vec<usize> = (0..list.len()).filter(|&i| list.is_valid(i)).collect();
                let time_ranges = chunk
                    .timelines()
                    .iter()
                    .map(|t| {
                        let v = t.values();
                        let mut it = present
                            .iter()
                            .filter(|&&i| t.array().is_valid(i))
                            .map(|&i| v[i]);
                        let first = it.next()?;
                        Some(it.fold((first, first), |(lo, hi), x| (lo.min(x), hi.max(x))))
                    })
                    .collect();
                ComponentSummary {
                    descriptor: c.descriptor().clone(),
                    data_type: list.data_type().clone(),
                    num_rows: present.len() as u64,
                    is_empty: present.iter().all(|&i| list.value_length(i) == 0),
                    time_ranges,
                }
            })
            .collect();
        Self {
            store: store.clone(),
            entity: chunk.entity().clone(),
            chunk_id: chunk.id(),
            is_static: chunk.is_static(),
            num_rows: chunk.num_rows() as u64,
            uncompressed_size,
            time_ranges,
            components,
        }
    }
}

/// One encoded protobuf message body, as a list of parts (see the [module docs](super)).
///
/// Cloning is cheap: the parts are reference-counted.
#[derive(Clone, Debug)]
pub struct EncodedMessage {
    kind: MessageKind,
    parts: Vec<Bytes>,
    len: usize,
    /// The memory the parts keep alive: at least `len`, more when a part is a view into a
    /// larger allocation (a caller's `Vec` with spare capacity).
    retained: usize,
    pub(super) summary: Option<Arc<ChunkSummary>>,
    /// For a `SetStoreInfo`: the store it announces (for ArrowMsgs, see `summary`).
    pub(super) store: Option<StoreInfo>,
}

fn tuid_proto(t: Tuid) -> proto::Tuid {
    proto::Tuid {
        time_ns: Some(t.time_ns()),
        inc: Some(t.inc()),
    }
}

/// Encodes a protobuf varint into `buf`.
pub(crate) fn put_varint(buf: &mut impl BufMut, v: u64) {
    prost::encoding::encode_varint(v, buf);
}

impl EncodedMessage {
    /// A message from a single contiguous body.
    pub(crate) fn from_body(kind: MessageKind, body: Bytes) -> Self {
        let len = body.len();
        Self {
            kind,
            parts: vec![body],
            len,
            retained: len,
            summary: None,
            store: None,
        }
    }

    /// `SetStoreInfo` for a recording; send it once, first.
    pub fn set_store_info(store: &StoreInfo) -> Self {
        let source_desc = concat!("spate ", env!("CARGO_PKG_VERSION"));
        let msg = proto::SetStoreInfo {
            row_id: Some(tuid_proto(Tuid::new())),
            info: Some(proto::StoreInfo {
                application_id: None,
                store_id: Some(store.store_id()),
                store_source: Some(proto::StoreSource {
                    kind: proto::StoreSourceKind::Other as i32,
                    extra: Some(proto::StoreSourceExtra {
                        payload: Bytes::from_static(source_desc.as_bytes()),
                    }),
                }),
                store_version: Some(proto::StoreVersion {
                    crate_version_bits: i32::from_le_bytes(super::RERUN_VERSION),
                }),
            }),
        };
        let mut out = Self::from_body(MessageKind::SetStoreInfo, msg.encode_to_vec().into());
        out.store = Some(store.clone());
        out
    }

    /// Encodes a chunk as an `ArrowMsg` of `store`.
    ///
    /// With [`Compression::Off`] the payload parts are the chunk's own Arrow buffers (no
    /// copy of any payload byte). With [`Compression::Lz4`] the IPC stream is gathered once
    /// and compressed into one part.
    pub fn arrow_msg(
        chunk: &Chunk,
        store: &StoreInfo,
        compression: Compression,
    ) -> Result<Self, EncodeError> {
        let batch = chunk_to_record_batch(chunk)?;
        let mut encoder = StreamEncoder::try_new(&batch.schema())?;
        let mut pinned = 0usize;
        let mut ipc: Vec<Bytes> = encoder
            .encode(&batch)?
            .into_iter()
            .chain(encoder.finish()?)
            .filter(|b| !b.is_empty())
            .map(|b| {
                // The whole allocation stays alive while the message does.
                pinned += b.capacity().max(b.len());
                Bytes::from(b) // wraps the Arrow buffer: no copy
            })
            .collect();
        let ipc_len: usize = ipc.iter().map(Bytes::len).sum();
        let (wire_compression, payload) = match compression {
            Compression::Off => (proto::Compression::None, ipc),
            Compression::Lz4 => {
                let mut flat = Vec::with_capacity(ipc_len);
                for p in &ipc {
                    flat.extend_from_slice(p);
                }
                ipc.clear();
                (
                    proto::Compression::Lz4,
                    vec![Bytes::from(lz4_flex::block::compress(&flat))],
                )
            }
        };
        let payload_len: usize = payload.iter().map(Bytes::len).sum();

        // Fields 1–4, then field 5's key and length, then the payload parts, then 6–7.
        // Concatenated protobuf encodings of one message type merge, so this is a valid
        // ArrowMsg whose payload bytes are never copied.
        let head = proto::ArrowMsg {
            store_id: Some(store.store_id()),
            compression: wire_compression as i32,
            uncompressed_size: ipc_len as u64,
            encoding: proto::Encoding::ArrowIpc as i32,
            ..Default::default()
        };
        let mut prefix = BytesMut::with_capacity(head.encoded_len() + 12);
        head.encode(&mut prefix)
            .map_err(|e| ArrowError::IpcError(e.to_string()))?;
        prost::encoding::encode_key(5, prost::encoding::WireType::LengthDelimited, &mut prefix);
        put_varint(&mut prefix, payload_len as u64);
        let tail = proto::ArrowMsg {
            chunk_id: Some(tuid_proto(chunk.id())),
            is_static: Some(chunk.is_static()),
            ..Default::default()
        }
        .encode_to_vec();

        let mut parts = Vec::with_capacity(payload.len() + 2);
        parts.push(prefix.freeze());
        parts.extend(payload);
        parts.push(Bytes::from(tail));
        let len: usize = parts.iter().map(Bytes::len).sum();
        let retained = match compression {
            Compression::Off => len - ipc_len + pinned,
            Compression::Lz4 => len,
        };
        Ok(Self {
            kind: MessageKind::ArrowMsg,
            parts,
            len,
            retained: retained.max(len),
            summary: Some(Arc::new(ChunkSummary::of(chunk, store, ipc_len as u64))),
            store: None,
        })
    }

    /// The message kind.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The body's parts, in order.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// Total body length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The memory this message keeps alive, in bytes: its length, plus the spare capacity
    /// of any caller allocation a part is a view into. Queues are bounded by this.
    pub fn retained_bytes(&self) -> u64 {
        self.retained as u64
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// What the footer manifest needs (for ArrowMsgs).
    pub fn summary(&self) -> Option<&Arc<ChunkSummary>> {
        self.summary.as_ref()
    }

    /// The store a `SetStoreInfo` announces or an ArrowMsg belongs to, when known (it is
    /// for messages spate encoded and for [`from_received`](Self::from_received) ones).
    pub fn store(&self) -> Option<&StoreInfo> {
        self.store
            .as_ref()
            .or_else(|| self.summary.as_ref().map(|s| &s.store))
    }

    /// The body as one contiguous buffer (copies; for tests and small messages).
    pub fn to_contiguous(&self) -> Bytes {
        if let [only] = self.parts.as_slice() {
            return only.clone();
        }
        let mut out = BytesMut::with_capacity(self.len);
        for p in &self.parts {
            out.extend_from_slice(p);
        }
        out.freeze()
    }
}
