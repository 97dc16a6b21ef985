//! Protobuf messages of the Rerun 0.41 catalog service (`rerun.cloud.v1alpha1`, and the
//! `rerun.common.v1alpha1` types it uses), written with `prost` derives so that no `protoc`
//! is needed. Field numbers follow the `FileDescriptorProto` embedded in the 0.41 SDK
//! (`rerun_bindings.abi3.so`), as decoded in `docs/design/fleet-ingest.md` §2; only the
//! messages and fields spate uses are here (unknown fields of a response are skipped by
//! prost, so a newer server's additions do not break decoding).

#![allow(missing_docs)] // field-for-field mirrors of the .proto files; documented there.

use bytes::Bytes;

pub use crate::wire::proto::Tuid;

/// `FindEntries` (unary).
pub(crate) const FIND_ENTRIES: &str = "/rerun.cloud.v1alpha1.RerunCloudService/FindEntries";
/// `CreateDatasetEntry` (unary).
pub(crate) const CREATE_DATASET_ENTRY: &str =
    "/rerun.cloud.v1alpha1.RerunCloudService/CreateDatasetEntry";
/// `RegisterWithDataset` (unary; needs the dataset header).
pub(crate) const REGISTER_WITH_DATASET: &str =
    "/rerun.cloud.v1alpha1.RerunCloudService/RegisterWithDataset";
/// `QueryTasksOnCompletion` (server streaming).
pub(crate) const QUERY_TASKS_ON_COMPLETION: &str =
    "/rerun.cloud.v1alpha1.RerunCloudService/QueryTasksOnCompletion";

/// `rerun.common.v1alpha1.EntryId`
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct EntryId {
    #[prost(message, optional, tag = "1")]
    pub id: Option<Tuid>,
}

/// `rerun.common.v1alpha1.TaskId`
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct TaskId {
    #[prost(string, tag = "1")]
    pub id: String,
}

/// `rerun.common.v1alpha1.IfDuplicateBehavior`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum IfDuplicateBehavior {
    Unspecified = 0,
    Overwrite = 1,
    Skip = 2,
    Error = 3,
}

/// `rerun.common.v1alpha1.DataframePart`: one Arrow IPC stream (schema + record batches).
#[derive(Clone, PartialEq, prost::Message)]
pub struct DataframePart {
    #[prost(enumeration = "crate::wire::proto::EncoderVersion", tag = "1")]
    pub encoder_version: i32,
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub payload: Option<Bytes>,
    #[prost(enumeration = "crate::wire::proto::Compression", tag = "3")]
    pub compression: i32,
    #[prost(uint64, tag = "4")]
    pub uncompressed_size: u64,
}

/// `google.protobuf.Duration`
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Duration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `google.protobuf.Timestamp`
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `rerun.cloud.v1alpha1.EntryKind`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum EntryKind {
    Unspecified = 0,
    Dataset = 1,
    DatasetView = 2,
    Table = 3,
    TableView = 4,
    BlueprintDataset = 5,
    AssetDataset = 6,
}

/// `rerun.cloud.v1alpha1.EntryFilter`
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryFilter {
    #[prost(message, optional, tag = "1")]
    pub id: Option<EntryId>,
    #[prost(string, optional, tag = "2")]
    pub name: Option<String>,
    #[prost(enumeration = "EntryKind", optional, tag = "3")]
    pub entry_kind: Option<i32>,
}

/// `rerun.cloud.v1alpha1.EntryDetails`
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryDetails {
    #[prost(message, optional, tag = "1")]
    pub id: Option<EntryId>,
    #[prost(string, optional, tag = "2")]
    pub name: Option<String>,
    #[prost(enumeration = "EntryKind", tag = "3")]
    pub entry_kind: i32,
    #[prost(message, optional, tag = "4")]
    pub created_at: Option<Timestamp>,
    #[prost(message, optional, tag = "5")]
    pub updated_at: Option<Timestamp>,
}

/// `rerun.cloud.v1alpha1.FindEntriesRequest`
#[derive(Clone, PartialEq, prost::Message)]
pub struct FindEntriesRequest {
    #[prost(message, optional, tag = "1")]
    pub filter: Option<EntryFilter>,
}

/// `rerun.cloud.v1alpha1.FindEntriesResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct FindEntriesResponse {
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<EntryDetails>,
}

/// `rerun.cloud.v1alpha1.CreateDatasetEntryRequest`
#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateDatasetEntryRequest {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(message, optional, tag = "2")]
    pub id: Option<EntryId>,
}

/// `rerun.cloud.v1alpha1.DatasetEntry` (only the entry details are read).
#[derive(Clone, PartialEq, prost::Message)]
pub struct DatasetEntry {
    #[prost(message, optional, tag = "1")]
    pub details: Option<EntryDetails>,
}

/// `rerun.cloud.v1alpha1.CreateDatasetEntryResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateDatasetEntryResponse {
    #[prost(message, optional, tag = "1")]
    pub dataset: Option<DatasetEntry>,
}

/// `rerun.cloud.v1alpha1.DataSourceKind`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DataSourceKind {
    Unspecified = 0,
    Rrd = 1,
}

/// `rerun.cloud.v1alpha1.DataSource`
#[derive(Clone, PartialEq, prost::Message)]
pub struct DataSource {
    #[prost(string, optional, tag = "1")]
    pub storage_url: Option<String>,
    #[prost(enumeration = "DataSourceKind", tag = "2")]
    pub typ: i32,
    #[prost(string, optional, tag = "3")]
    pub layer: Option<String>,
    #[prost(bool, tag = "4")]
    pub prefix: bool,
}

/// `rerun.cloud.v1alpha1.RegisterWithDatasetRequest`
#[derive(Clone, PartialEq, prost::Message)]
pub struct RegisterWithDatasetRequest {
    #[prost(message, repeated, tag = "2")]
    pub data_sources: Vec<DataSource>,
    #[prost(enumeration = "IfDuplicateBehavior", tag = "3")]
    pub on_duplicate: i32,
}

/// `rerun.cloud.v1alpha1.RegisterWithDatasetResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct RegisterWithDatasetResponse {
    #[prost(message, optional, tag = "1")]
    pub data: Option<DataframePart>,
}

/// `rerun.cloud.v1alpha1.QueryTasksOnCompletionRequest`
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryTasksOnCompletionRequest {
    #[prost(message, repeated, tag = "1")]
    pub ids: Vec<TaskId>,
    #[prost(message, optional, tag = "2")]
    pub timeout: Option<Duration>,
}

/// `rerun.cloud.v1alpha1.QueryTasksOnCompletionResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryTasksOnCompletionResponse {
    #[prost(message, optional, tag = "1")]
    pub data: Option<DataframePart>,
}
