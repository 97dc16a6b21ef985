//! Protobuf messages of the Rerun 0.41 wire format (`rerun.log_msg.v1alpha1`,
//! `rerun.common.v1alpha1`, `rerun.sdk_comms.v1alpha1`), written with `prost` derives so that
//! no `protoc` is needed. Field numbers and types follow `rerun-format.md` §3.
//!
//! Large payloads are `bytes::Bytes`, so decoding a message out of a `Bytes` buffer does not
//! copy the Arrow payload.

#![allow(missing_docs)] // field-for-field mirrors of the .proto files; documented there.

use bytes::Bytes;

/// `rerun.common.v1alpha1.Tuid`
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Tuid {
    #[prost(fixed64, optional, tag = "1")]
    pub time_ns: Option<u64>,
    #[prost(fixed64, optional, tag = "2")]
    pub inc: Option<u64>,
}

/// `rerun.common.v1alpha1.ApplicationId`
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ApplicationId {
    #[prost(string, tag = "1")]
    pub id: String,
}

/// `rerun.common.v1alpha1.StoreKind`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum StoreKind {
    Unspecified = 0,
    Recording = 1,
    Blueprint = 2,
}

/// `rerun.common.v1alpha1.StoreId`
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct StoreId {
    #[prost(enumeration = "StoreKind", tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub recording_id: String,
    #[prost(message, optional, tag = "3")]
    pub application_id: Option<ApplicationId>,
}

/// `rerun.common.v1alpha1.Compression`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Compression {
    Unspecified = 0,
    None = 1,
    Lz4 = 2,
}

/// `rerun.log_msg.v1alpha1.Encoding`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Encoding {
    Unspecified = 0,
    ArrowIpc = 1,
}

/// `rerun.common.v1alpha1.EncoderVersion`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum EncoderVersion {
    Unspecified = 0,
    V0 = 1,
}

/// `rerun.log_msg.v1alpha1.StoreSourceKind`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum StoreSourceKind {
    Unspecified = 0,
    CSdk = 1,
    PythonSdk = 2,
    RustSdk = 3,
    File = 4,
    Viewer = 5,
    Other = 6,
}

/// `rerun.log_msg.v1alpha1.StoreSourceExtra`
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct StoreSourceExtra {
    #[prost(bytes = "bytes", tag = "1")]
    pub payload: Bytes,
}

/// `rerun.log_msg.v1alpha1.StoreSource`
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct StoreSource {
    #[prost(enumeration = "StoreSourceKind", tag = "1")]
    pub kind: i32,
    #[prost(message, optional, tag = "2")]
    pub extra: Option<StoreSourceExtra>,
}

/// `rerun.log_msg.v1alpha1.CrateInfo` (the `extra` payload of a `RUST_SDK` source)
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct CrateInfo {
    #[prost(string, tag = "1")]
    pub rustc_version: String,
    #[prost(string, tag = "2")]
    pub llvm_version: String,
}

/// `rerun.log_msg.v1alpha1.StoreVersion`
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct StoreVersion {
    #[prost(int32, tag = "1")]
    pub crate_version_bits: i32,
}

/// `rerun.log_msg.v1alpha1.StoreInfo`
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct StoreInfo {
    /// Deprecated; read only when `store_id.application_id` is missing.
    #[prost(message, optional, tag = "1")]
    pub application_id: Option<ApplicationId>,
    #[prost(message, optional, tag = "2")]
    pub store_id: Option<StoreId>,
    #[prost(message, optional, tag = "5")]
    pub store_source: Option<StoreSource>,
    #[prost(message, optional, tag = "6")]
    pub store_version: Option<StoreVersion>,
}

/// `rerun.log_msg.v1alpha1.SetStoreInfo`
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SetStoreInfo {
    #[prost(message, optional, tag = "1")]
    pub row_id: Option<Tuid>,
    #[prost(message, optional, tag = "2")]
    pub info: Option<StoreInfo>,
}

/// `rerun.log_msg.v1alpha1.ArrowMsg`
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ArrowMsg {
    #[prost(message, optional, tag = "1")]
    pub store_id: Option<StoreId>,
    #[prost(enumeration = "Compression", tag = "2")]
    pub compression: i32,
    #[prost(uint64, tag = "3")]
    pub uncompressed_size: u64,
    #[prost(enumeration = "Encoding", tag = "4")]
    pub encoding: i32,
    #[prost(bytes = "bytes", tag = "5")]
    pub payload: Bytes,
    #[prost(message, optional, tag = "6")]
    pub chunk_id: Option<Tuid>,
    #[prost(bool, optional, tag = "7")]
    pub is_static: Option<bool>,
}

/// `rerun.log_msg.v1alpha1.BlueprintActivationCommand`
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct BlueprintActivationCommand {
    #[prost(message, optional, tag = "1")]
    pub blueprint_id: Option<StoreId>,
    #[prost(bool, tag = "2")]
    pub make_active: bool,
    #[prost(bool, tag = "3")]
    pub make_default: bool,
}

/// `rerun.common.v1alpha1.Schema`
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Schema {
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub arrow_schema: Option<Bytes>,
}

/// `rerun.common.v1alpha1.DataframePart`
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DataframePart {
    #[prost(enumeration = "EncoderVersion", tag = "1")]
    pub encoder_version: i32,
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub payload: Option<Bytes>,
    #[prost(enumeration = "Compression", tag = "3")]
    pub compression: i32,
    #[prost(uint64, tag = "4")]
    pub uncompressed_size: u64,
}

/// `rerun.log_msg.v1alpha1.RrdManifest`
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RrdManifest {
    #[prost(message, optional, tag = "1")]
    pub store_id: Option<StoreId>,
    #[prost(message, optional, tag = "2")]
    pub sorbet_schema: Option<Schema>,
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub sorbet_schema_sha256: Option<Bytes>,
    #[prost(message, optional, tag = "4")]
    pub data: Option<DataframePart>,
}

/// `rerun.log_msg.v1alpha1.RrdFooter`
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RrdFooter {
    #[prost(message, repeated, tag = "1")]
    pub manifests: Vec<RrdManifest>,
}

/// `rerun.log_msg.v1alpha1.LogMsg` (gRPC only; files carry the inner message directly).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogMsg {
    #[prost(oneof = "log_msg::Msg", tags = "1, 2, 3")]
    pub msg: Option<log_msg::Msg>,
}

/// The `msg` oneof of [`LogMsg`].
pub mod log_msg {
    /// One of the three message kinds.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Msg {
        #[prost(message, tag = "1")]
        SetStoreInfo(super::SetStoreInfo),
        #[prost(message, tag = "2")]
        ArrowMsg(super::ArrowMsg),
        #[prost(message, tag = "3")]
        BlueprintActivationCommand(super::BlueprintActivationCommand),
    }
}

/// `rerun.sdk_comms.v1alpha1.WriteMessagesRequest`
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteMessagesRequest {
    #[prost(message, optional, tag = "1")]
    pub log_msg: Option<LogMsg>,
}
