//! `spate inspect FILE.rrd [--json]`: what a recording holds.
//!
//! The file is decoded with [`spate::wire::decode_rrd_with`] (within
//! `--max-uncompressed-bytes`); a [`Report`] is gathered from the
//! decoded messages, then printed as aligned tables or as one JSON object.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use bytes::Bytes;
use serde_json::{Value, json};
use spate::chunk::Chunk;
use spate::wire::proto::{self, StoreKind, StoreSourceKind};
use spate::wire::{
    DecodeLimits, DecodedRrd, Message, Truncation, TruncationReason, decode_rrd_with,
};

use crate::Judgement;

/// `--help` text of the subcommand (also documents the JSON keys).
pub const LONG_ABOUT: &str = "\
Show what an .rrd file holds: stream headers, recordings, entities (chunks, rows, points,
static or not, components), timelines (kind, range, chunks), sizes and compression, the
footer (valid, or its problems) and truncation.

A truncated file (a writer that crashed or was stopped) is still inspected: everything up
to the last complete message is reported, with the offset where the file ends early.
A file that cannot be decoded prints `error: at byte N: ...` on stderr and exits with 2.

`points` of a chunk are the instances of its `Points3D:positions` component, or, without
one, of its largest component.

With --json, one JSON object is printed on stdout (nothing on stdout on error):
  file              path as given
  size              file size in bytes
  status            \"ok\" | \"truncated\" | \"no_footer\" | \"invalid_footer\"
  exit_code         0 for \"ok\", 1 otherwise
  streams[]         {offset, rerun_version (\"0.41.0\"), version_bytes [4], lz4}
  messages          {set_store_info, arrow_msg, blueprint_activation_command, end}
  recordings[]      {kind (\"recording\"|\"blueprint\"|\"unspecified\"), application_id,
                     recording_id, set_store_info (messages), chunks, rows,
                     source (\"python_sdk\", \"rust_sdk\", \"other\", ... or null),
                     source_detail (text payload of the source, or null),
                     store_version (\"0.41.0\" or null)}
  entities[]        {path, chunks, static_chunks, static (all chunks static), rows,
                     points, components [names]}  (sorted by path)
  timelines[]       {name, kind (\"sequence\"|\"timestamp\"|\"duration\"), min, max
                     (i64; null if no non-null time), min_utc, max_utc (RFC 3339 UTC for
                     timestamps, else null), chunks}  (sorted by name)
  chunks            {total, static, rows}
  payload           {message_bytes (sum of all message bodies), arrow_payload_bytes (sum
                     of ArrowMsg payloads as stored), ipc_bytes (Arrow IPC after
                     decompression), compression (\"none\"|\"lz4\"|\"mixed\"), ratio
                     (ipc_bytes / arrow_payload_bytes, or null)}
  footer            {present, offset (End message, or null), valid, problems [text],
                     manifests, manifest_rows}
  truncation        null, or {offset, reason (text), reason_code (\"stream_header\"|
                     \"message_header\"|\"message_body\"|\"no_end_message\"|\"stream_footer\")}

Status: \"ok\" (exit 0) when the file decodes, is complete and its footer is valid;
\"truncated\" when it ends inside a structure; \"no_footer\" when it ends after complete
messages without an End message and footer (e.g. a gRPC `--save` stopped by a signal);
\"invalid_footer\" when the footer does not match the stream (all exit 1).";

/// Arguments of `spate inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `.rrd` file to inspect.
    pub file: PathBuf,
    /// Print one JSON object instead of tables (keys are listed above).
    #[arg(long)]
    pub json: bool,
    /// Largest payload an LZ4 chunk may decompress to; a file claiming more is refused as
    /// undecodable before anything is allocated for it.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = spate::units::parse_size)]
    pub max_uncompressed_bytes: u64,
}

/// Runs `spate inspect`.
pub fn run(args: &Args) -> anyhow::Result<Judgement> {
    // The whole file is read into memory and decoded at once. Fine for the recordings we
    // handle today; multi-GB files will want a streaming (or mmap) pass later.
    let data = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let limits = DecodeLimits::default().max_uncompressed_bytes(args.max_uncompressed_bytes);
    let decoded = decode_rrd_with(Bytes::from(data), &limits)?;
    let report = Report::new(&args.file.display().to_string(), &decoded);
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&report.to_json())?;
        s.push('\n');
        s
    } else {
        report.to_human()
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => {}
        // `spate inspect f | head`: not our problem.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e).context("writing to stdout"),
    }
    Ok(report.status.outcome())
}

/// The overall verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Ok,
    Truncated,
    NoFooter,
    InvalidFooter,
}

impl Status {
    fn of(decoded: &DecodedRrd) -> Self {
        if let Some(t) = &decoded.truncated {
            return match t.reason {
                TruncationReason::NoEndMessage | TruncationReason::UnwrittenTail => Self::NoFooter,
                _ => Self::Truncated,
            };
        }
        match &decoded.footer {
            None => Self::NoFooter,
            Some(f) if !f.valid => Self::InvalidFooter,
            Some(_) => Self::Ok,
        }
    }
    fn code(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Truncated => "truncated",
            Self::NoFooter => "no_footer",
            Self::InvalidFooter => "invalid_footer",
        }
    }
    fn describe(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Truncated => "truncated (the file ends inside a message or header)",
            Self::NoFooter => "no footer (the writer did not finish the file)",
            Self::InvalidFooter => "invalid footer (does not match the stream)",
        }
    }
    fn outcome(self) -> Judgement {
        match self {
            Self::Ok => Judgement::Clean,
            _ => Judgement::Problems,
        }
    }
}

#[derive(Debug, Default)]
struct Recording {
    set_store_info: u64,
    chunks: u64,
    rows: u64,
    source: Option<&'static str>,
    source_detail: Option<String>,
    store_version: Option<String>,
}

/// Recordings are keyed by `(kind, application id, recording id)`.
type StoreKey = (&'static str, String, String);

#[derive(Debug, Default)]
struct Entity {
    chunks: u64,
    static_chunks: u64,
    rows: u64,
    points: u64,
    components: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct TimelineStats {
    range: Option<(i64, i64)>,
    chunks: u64,
}

#[derive(Debug, Default)]
struct MessageCounts {
    set_store_info: u64,
    arrow_msg: u64,
    blueprint: u64,
    end: u64,
}

#[derive(Debug)]
struct FooterSummary {
    offset: u64,
    valid: bool,
    problems: Vec<String>,
    manifests: usize,
    manifest_rows: usize,
}

/// Everything `inspect` prints, gathered in one pass.
#[derive(Debug)]
struct Report {
    file: String,
    size: u64,
    status: Status,
    streams: Vec<(u64, [u8; 4], bool)>,
    messages: MessageCounts,
    recordings: BTreeMap<StoreKey, Recording>,
    entities: BTreeMap<String, Entity>,
    /// Keyed by `(name, kind)`.
    timelines: BTreeMap<(String, &'static str), TimelineStats>,
    chunks: u64,
    static_chunks: u64,
    rows: u64,
    message_bytes: u64,
    arrow_payload_bytes: u64,
    ipc_bytes: u64,
    lz4_chunks: u64,
    footer: Option<FooterSummary>,
    truncation: Option<Truncation>,
}

fn store_key(id: Option<&proto::StoreId>, fallback_app: Option<&proto::ApplicationId>) -> StoreKey {
    let kind = match id.map(|s| StoreKind::try_from(s.kind)) {
        Some(Ok(StoreKind::Recording)) => "recording",
        Some(Ok(StoreKind::Blueprint)) => "blueprint",
        _ => "unspecified",
    };
    let app = id
        .and_then(|s| s.application_id.as_ref())
        .or(fallback_app)
        .map(|a| a.id.clone())
        .unwrap_or_default();
    let rec = id.map(|s| s.recording_id.clone()).unwrap_or_default();
    (kind, app, rec)
}

fn source_name(kind: i32) -> &'static str {
    match StoreSourceKind::try_from(kind) {
        Ok(StoreSourceKind::CSdk) => "c_sdk",
        Ok(StoreSourceKind::PythonSdk) => "python_sdk",
        Ok(StoreSourceKind::RustSdk) => "rust_sdk",
        Ok(StoreSourceKind::File) => "file",
        Ok(StoreSourceKind::Viewer) => "viewer",
        Ok(StoreSourceKind::Other) => "other",
        Ok(StoreSourceKind::Unspecified) | Err(_) => "unspecified",
    }
}

/// Instances of `Points3D:positions`, or else of the largest component.
fn chunk_points(chunk: &Chunk) -> u64 {
    let n = match chunk.component("Points3D:positions") {
        Some(c) => c.num_instances(),
        None => chunk
            .components()
            .iter()
            .map(|c| c.num_instances())
            .max()
            .unwrap_or(0),
    };
    n as u64
}

impl Report {
    fn new(file: &str, decoded: &DecodedRrd) -> Self {
        let mut r = Report {
            file: file.to_owned(),
            size: decoded.input_len,
            status: Status::of(decoded),
            streams: decoded
                .headers
                .iter()
                .map(|h| (h.offset, h.version, h.lz4))
                .collect(),
            messages: MessageCounts::default(),
            recordings: BTreeMap::new(),
            entities: BTreeMap::new(),
            timelines: BTreeMap::new(),
            chunks: 0,
            static_chunks: 0,
            rows: 0,
            message_bytes: 0,
            arrow_payload_bytes: 0,
            ipc_bytes: 0,
            lz4_chunks: 0,
            footer: decoded.footer.as_ref().map(|f| FooterSummary {
                offset: f.end_offset,
                valid: f.valid,
                problems: f.problems.iter().map(ToString::to_string).collect(),
                manifests: f.manifests.len(),
                manifest_rows: f.manifests.iter().map(|m| m.rows.len()).sum(),
            }),
            truncation: decoded.truncated.clone(),
        };
        for m in &decoded.messages {
            r.message_bytes += m.len;
            match &m.message {
                Message::SetStoreInfo(s) => {
                    r.messages.set_store_info += 1;
                    let info = s.info.as_ref();
                    let key = store_key(
                        info.and_then(|i| i.store_id.as_ref()),
                        info.and_then(|i| i.application_id.as_ref()),
                    );
                    let rec = r.recordings.entry(key).or_default();
                    rec.set_store_info += 1;
                    if let Some(src) = info.and_then(|i| i.store_source.as_ref()) {
                        rec.source = Some(source_name(src.kind));
                        rec.source_detail = src
                            .extra
                            .as_ref()
                            .and_then(|e| std::str::from_utf8(&e.payload).ok())
                            .filter(|t| !t.is_empty() && !t.chars().any(char::is_control))
                            .map(str::to_owned);
                    }
                    if let Some(v) = info.and_then(|i| i.store_version) {
                        rec.store_version =
                            Some(version_string(v.crate_version_bits.to_le_bytes()));
                    }
                }
                Message::ArrowMsg {
                    store_id,
                    compression,
                    payload_len,
                    uncompressed_size,
                    chunk,
                    ..
                } => {
                    r.messages.arrow_msg += 1;
                    r.add_chunk(chunk);
                    r.arrow_payload_bytes += payload_len;
                    r.ipc_bytes += uncompressed_size;
                    if *compression == proto::Compression::Lz4 {
                        r.lz4_chunks += 1;
                    }
                    let rec = r
                        .recordings
                        .entry(store_key(Some(store_id), None))
                        .or_default();
                    rec.chunks += 1;
                    rec.rows += chunk.num_rows() as u64;
                }
                Message::BlueprintActivationCommand(_) => r.messages.blueprint += 1,
                Message::End(_) => r.messages.end += 1,
            }
        }
        r
    }

    fn add_chunk(&mut self, chunk: &Chunk) {
        let rows = chunk.num_rows() as u64;
        self.chunks += 1;
        self.rows += rows;
        let e = self.entities.entry(chunk.entity().to_string()).or_default();
        e.chunks += 1;
        e.rows += rows;
        e.points += chunk_points(chunk);
        if chunk.is_static() {
            e.static_chunks += 1;
            self.static_chunks += 1;
        }
        for c in chunk.components() {
            e.components.insert(c.descriptor().component.to_string());
        }
        for t in chunk.timelines() {
            let key = (t.timeline().name().to_owned(), t.timeline().kind().as_str());
            let s = self.timelines.entry(key).or_default();
            s.chunks += 1;
            if let Some((lo, hi)) = t.range() {
                s.range = Some(match s.range {
                    Some((a, b)) => (a.min(lo), b.max(hi)),
                    None => (lo, hi),
                });
            }
        }
    }

    fn compression(&self) -> &'static str {
        match self.lz4_chunks {
            0 => "none",
            n if n == self.chunks => "lz4",
            _ => "mixed",
        }
    }

    fn ratio(&self) -> Option<f64> {
        (self.arrow_payload_bytes > 0)
            .then(|| self.ipc_bytes as f64 / self.arrow_payload_bytes as f64)
    }

    fn to_json(&self) -> Value {
        let streams: Vec<Value> = self
            .streams
            .iter()
            .map(|&(offset, version, lz4)| {
                json!({
                    "offset": offset,
                    "rerun_version": version_string(version),
                    "version_bytes": version,
                    "lz4": lz4,
                })
            })
            .collect();
        let recordings: Vec<Value> = self
            .recordings
            .iter()
            .map(|((kind, app, rec), r)| {
                json!({
                    "kind": kind,
                    "application_id": app,
                    "recording_id": rec,
                    "set_store_info": r.set_store_info,
                    "chunks": r.chunks,
                    "rows": r.rows,
                    "source": r.source,
                    "source_detail": r.source_detail,
                    "store_version": r.store_version,
                })
            })
            .collect();
        let entities: Vec<Value> = self
            .entities
            .iter()
            .map(|(path, e)| {
                json!({
                    "path": path,
                    "chunks": e.chunks,
                    "static_chunks": e.static_chunks,
                    "static": e.static_chunks == e.chunks,
                    "rows": e.rows,
                    "points": e.points,
                    "components": e.components,
                })
            })
            .collect();
        let timelines: Vec<Value> = self
            .timelines
            .iter()
            .map(|((name, kind), t)| {
                let utc = |v: i64| (*kind == "timestamp").then(|| utc_string(v));
                json!({
                    "name": name,
                    "kind": kind,
                    "min": t.range.map(|r| r.0),
                    "max": t.range.map(|r| r.1),
                    "min_utc": t.range.and_then(|r| utc(r.0)),
                    "max_utc": t.range.and_then(|r| utc(r.1)),
                    "chunks": t.chunks,
                })
            })
            .collect();
        let footer = match &self.footer {
            Some(f) => json!({
                "present": true,
                "offset": f.offset,
                "valid": f.valid,
                "problems": f.problems,
                "manifests": f.manifests,
                "manifest_rows": f.manifest_rows,
            }),
            None => json!({
                "present": false,
                "offset": null,
                "valid": false,
                "problems": [],
                "manifests": 0,
                "manifest_rows": 0,
            }),
        };
        let truncation = self.truncation.as_ref().map(|t| {
            json!({
                "offset": t.offset,
                "reason": t.reason.to_string(),
                "reason_code": reason_code(&t.reason),
            })
        });
        json!({
            "file": self.file,
            "size": self.size,
            "status": self.status.code(),
            "exit_code": match self.status.outcome() {
                Judgement::Clean => 0,
                Judgement::Problems => 1,
            },
            "streams": streams,
            "messages": {
                "set_store_info": self.messages.set_store_info,
                "arrow_msg": self.messages.arrow_msg,
                "blueprint_activation_command": self.messages.blueprint,
                "end": self.messages.end,
            },
            "recordings": recordings,
            "entities": entities,
            "timelines": timelines,
            "chunks": {
                "total": self.chunks,
                "static": self.static_chunks,
                "rows": self.rows,
            },
            "payload": {
                "message_bytes": self.message_bytes,
                "arrow_payload_bytes": self.arrow_payload_bytes,
                "ipc_bytes": self.ipc_bytes,
                "compression": self.compression(),
                "ratio": self.ratio(),
            },
            "footer": footer,
            "truncation": truncation,
        })
    }

    fn to_human(&self) -> String {
        let mut out = String::new();
        let o = &mut out;
        let mut kv = Table::new(&["", ""]);
        kv.row(["file".into(), self.file.clone()]);
        kv.row(["size".into(), bytes_human(self.size)]);
        for (i, &(offset, version, lz4)) in self.streams.iter().enumerate() {
            let label = if self.streams.len() == 1 {
                "stream header".to_owned()
            } else {
                format!("stream {i} header")
            };
            kv.row([
                label,
                format!(
                    "Rerun {}, LZ4 {}, at offset {offset}",
                    version_string(version),
                    if lz4 { "on" } else { "off" }
                ),
            ]);
        }
        let m = &self.messages;
        kv.row([
            "messages".into(),
            format!(
                "{} SetStoreInfo, {} ArrowMsg, {} BlueprintActivationCommand, {} End",
                m.set_store_info, m.arrow_msg, m.blueprint, m.end
            ),
        ]);
        kv.write_plain(o);

        let _ = writeln!(o, "\nrecordings");
        let mut t = Table::new(&[
            "KIND",
            "APPLICATION",
            "RECORDING",
            "SOURCE",
            "VERSION",
            ">SET_STORE_INFO",
            ">CHUNKS",
            ">ROWS",
        ]);
        for ((kind, app, rec), r) in &self.recordings {
            let source = match (&r.source, &r.source_detail) {
                (Some(s), Some(d)) => format!("{s} ({d})"),
                (Some(s), None) => (*s).to_owned(),
                (None, _) => "-".into(),
            };
            t.row([
                (*kind).to_owned(),
                quoted_or_dash(app),
                quoted_or_dash(rec),
                source,
                r.store_version.clone().unwrap_or_else(|| "-".into()),
                r.set_store_info.to_string(),
                r.chunks.to_string(),
                r.rows.to_string(),
            ]);
        }
        t.write(o);

        let _ = writeln!(o, "\nentities");
        let mut t = Table::new(&[
            "ENTITY",
            ">CHUNKS",
            ">ROWS",
            ">POINTS",
            "STATIC",
            "COMPONENTS",
        ]);
        for (path, e) in &self.entities {
            let stat = match e.static_chunks {
                0 => "no".to_owned(),
                n if n == e.chunks => "yes".to_owned(),
                n => format!("mixed ({n} static)"),
            };
            t.row([
                path.clone(),
                e.chunks.to_string(),
                e.rows.to_string(),
                e.points.to_string(),
                stat,
                e.components.iter().cloned().collect::<Vec<_>>().join(", "),
            ]);
        }
        t.write(o);

        let _ = writeln!(o, "\ntimelines");
        let mut t = Table::new(&["TIMELINE", "KIND", ">MIN", ">MAX", ">CHUNKS", "AS TIME"]);
        for ((name, kind), s) in &self.timelines {
            let (min, max, extra) = match s.range {
                None => ("-".into(), "-".into(), String::new()),
                Some((lo, hi)) => (
                    lo.to_string(),
                    hi.to_string(),
                    match *kind {
                        "timestamp" => format!("{} .. {}", utc_string(lo), utc_string(hi)),
                        "duration" => format!("{} .. {}", duration_string(lo), duration_string(hi)),
                        _ => String::new(),
                    },
                ),
            };
            t.row([
                name.clone(),
                (*kind).to_owned(),
                min,
                max,
                s.chunks.to_string(),
                extra,
            ]);
        }
        t.write(o);

        let _ = writeln!(o);
        let mut kv = Table::new(&["", ""]);
        kv.row([
            "chunks".into(),
            format!(
                "{} ({} static), {} rows",
                self.chunks, self.static_chunks, self.rows
            ),
        ]);
        kv.row([
            "message bytes".into(),
            format!("{}, all message bodies", bytes_human(self.message_bytes)),
        ]);
        kv.row([
            "arrow payload".into(),
            format!(
                "{} stored, {} Arrow IPC",
                bytes_human(self.arrow_payload_bytes),
                bytes_human(self.ipc_bytes)
            ),
        ]);
        kv.row([
            "compression".into(),
            match self.ratio() {
                Some(r) => format!("{}, ratio {r:.2}", self.compression()),
                None => self.compression().to_owned(),
            },
        ]);
        kv.row([
            "footer".into(),
            match &self.footer {
                None => "absent".into(),
                Some(f) => format!(
                    "present at offset {}, {}: {} manifest(s), {} manifest row(s)",
                    f.offset,
                    if f.valid { "valid" } else { "INVALID" },
                    f.manifests,
                    f.manifest_rows
                ),
            },
        ]);
        for p in self.footer.iter().flat_map(|f| &f.problems) {
            kv.row(["  footer problem".into(), p.clone()]);
        }
        kv.row([
            "truncation".into(),
            match &self.truncation {
                None => "none".into(),
                Some(t) => t.to_string(),
            },
        ]);
        kv.row(["status".into(), self.status.describe().into()]);
        kv.write_plain(o);
        out
    }
}

fn quoted_or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_owned()
    }
}

fn reason_code(r: &TruncationReason) -> &'static str {
    match r {
        TruncationReason::StreamHeader => "stream_header",
        TruncationReason::MessageHeader => "message_header",
        TruncationReason::MessageBody { .. } => "message_body",
        TruncationReason::NoEndMessage => "no_end_message",
        TruncationReason::StreamFooter => "stream_footer",
        TruncationReason::UnwrittenTail => "unwritten_tail",
    }
}

/// `[major, minor, patch, meta]` as `0.41.0`, `0.41.0-rc.1`, `0.41.0-alpha.1+dev`.
fn version_string(v: [u8; 4]) -> String {
    let [major, minor, patch, meta] = v;
    let n = meta & 0x3f;
    let suffix = match meta >> 6 {
        _ if meta == 0 => String::new(),
        0b01 => format!("-rc.{n}"),
        0b10 => format!("-alpha.{n}"),
        0b11 => format!("-alpha.{n}+dev"),
        _ => format!("+meta.{meta}"),
    };
    format!("{major}.{minor}.{patch}{suffix}")
}

/// Nanoseconds since the Unix epoch as RFC 3339 UTC (`2023-11-14T22:13:20.3Z`), with
/// 0, 3, 6 or 9 fractional digits.
fn utc_string(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        fraction(nanos)
    )
}

/// `.3`, `.300001`, … (empty for whole seconds).
fn fraction(nanos: i64) -> String {
    if nanos == 0 {
        String::new()
    } else if nanos % 1_000_000 == 0 {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    }
}

/// Nanoseconds as seconds, e.g. `1.5s`, `-0.001s`.
fn duration_string(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let abs = ns.unsigned_abs();
    let frac = fraction((abs % 1_000_000_000) as i64);
    format!("{sign}{}{frac}s", abs / 1_000_000_000)
}

/// `69242 bytes (67.6 KiB)`.
fn bytes_human(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{n} bytes ({v:.1} {})", UNITS[unit])
}

/// A hand-aligned text table. A header starting with `>` is right-aligned.
struct Table {
    headers: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers
                .iter()
                .map(|h| h.trim_start_matches('>').to_owned())
                .collect(),
            right: headers.iter().map(|h| h.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    fn row<const N: usize>(&mut self, cells: [String; N]) {
        debug_assert_eq!(N, self.headers.len());
        self.rows.push(cells.into());
    }

    /// With the header line, indented by two spaces; `(none)` if there are no rows.
    fn write(&self, out: &mut String) {
        if self.rows.is_empty() {
            out.push_str("  (none)\n");
            return;
        }
        self.write_lines(out, "  ", Some(&self.headers));
    }

    /// Without a header line (label/value lists).
    fn write_plain(&self, out: &mut String) {
        self.write_lines(out, "", None);
    }

    fn write_lines(&self, out: &mut String, indent: &str, headers: Option<&Vec<String>>) {
        let width = |cell: &String| cell.chars().count();
        let mut widths = vec![0; self.headers.len()];
        for row in headers.into_iter().chain(&self.rows) {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        for row in headers.into_iter().chain(&self.rows) {
            let mut line = String::from(indent);
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i] - width(cell);
                if self.right[i] {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc() {
        assert_eq!(utc_string(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            utc_string(1_700_000_000_000_000_000),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            utc_string(1_700_000_000_300_000_000),
            "2023-11-14T22:13:20.300Z"
        );
        assert_eq!(utc_string(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(utc_string(951_782_400_000_000_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn versions() {
        assert_eq!(version_string([0, 41, 0, 0]), "0.41.0");
        assert_eq!(version_string([0, 41, 0, 0xc1]), "0.41.0-alpha.1+dev");
        assert_eq!(version_string([0, 41, 0, 0x42]), "0.41.0-rc.2");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_string(1_500_000_000), "1.500s");
        assert_eq!(duration_string(-1_000_000), "-0.001s");
        assert_eq!(duration_string(0), "0s");
    }
}
