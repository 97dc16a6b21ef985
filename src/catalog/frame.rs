//! Decoding the `DataframePart`s of catalog responses (pure code: untrusted bytes in, typed
//! rows or a typed error out, never a panic).

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_ipc::reader::StreamDecoder;
use arrow_schema::{ArrowError, DataType};
use bytes::Bytes;

use super::proto::DataframePart;
use crate::wire::proto::Compression;

/// The largest LZ4 block expansion (`lz4_flex` can at most reach ~255x); a claimed
/// uncompressed size beyond this ratio is a lie.
const MAX_LZ4_RATIO: u64 = 255;

/// Why a response's dataframe could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The response has no dataframe, or the dataframe no payload.
    #[error("the response carries no dataframe payload")]
    Missing,
    /// The compression field has a value this build does not know.
    #[error("unknown dataframe compression {0}")]
    UnknownCompression(i32),
    /// The claimed uncompressed size is over the limit, or impossible for the payload.
    #[error("dataframe claims {claimed} uncompressed bytes (limit {limit})")]
    TooLarge {
        /// Claimed.
        claimed: u64,
        /// The most that is accepted.
        limit: u64,
    },
    /// LZ4 decompression failed, or gave another size than claimed.
    #[error("LZ4 decompression of the dataframe failed")]
    Lz4(#[source] Option<lz4_flex::block::DecompressError>),
    /// The Arrow IPC stream is malformed.
    #[error("bad Arrow IPC stream")]
    Arrow(#[source] ArrowError),
    /// The Arrow IPC reader panicked on the bytes (contained).
    #[error("the Arrow IPC reader failed on malformed bytes")]
    ArrowPanic,
    /// A needed column is absent.
    #[error("column {0:?} is missing")]
    MissingColumn(&'static str),
    /// A column has a type other than a string type.
    #[error("column {column:?} is {found}, expected a string column")]
    WrongType {
        /// The column.
        column: &'static str,
        /// Its Arrow type.
        found: DataType,
    },
}

/// The payload of `part` as Arrow IPC bytes, decompressed within `max_bytes`.
fn ipc_bytes(part: &DataframePart, max_bytes: u64) -> Result<Bytes, FrameError> {
    let payload = part.payload.clone().ok_or(FrameError::Missing)?;
    match Compression::try_from(part.compression) {
        Ok(Compression::Unspecified | Compression::None) => Ok(payload),
        Ok(Compression::Lz4) => {
            let claimed = part.uncompressed_size;
            let possible = (payload.len() as u64)
                .saturating_mul(MAX_LZ4_RATIO)
                .saturating_add(16);
            if claimed > max_bytes || claimed > possible {
                return Err(FrameError::TooLarge {
                    claimed,
                    limit: max_bytes.min(possible),
                });
            }
            let len = usize::try_from(claimed).map_err(|_| FrameError::TooLarge {
                claimed,
                limit: max_bytes,
            })?;
            let mut buf = vec![0u8; len];
            let n = lz4_flex::block::decompress_into(&payload, &mut buf)
                .map_err(|e| FrameError::Lz4(Some(e)))?;
            if n != len {
                return Err(FrameError::Lz4(None));
            }
            Ok(Bytes::from(buf))
        }
        Err(_) => Err(FrameError::UnknownCompression(part.compression)),
    }
}

/// Every record batch of the dataframe `part` (an Arrow IPC stream).
pub(crate) fn record_batches(
    part: Option<&DataframePart>,
    max_bytes: u64,
) -> Result<Vec<RecordBatch>, FrameError> {
    let part = part.ok_or(FrameError::Missing)?;
    let ipc = ipc_bytes(part, max_bytes)?;
    // arrow-ipc validates what it reads but is not written for hostile bytes: contain a
    // panic as a typed error, as `wire::decode` does.
    std::panic::catch_unwind(move || -> Result<Vec<RecordBatch>, ArrowError> {
        let mut decoder = StreamDecoder::new();
        let mut buf = arrow_buffer::Buffer::from(ipc);
        let mut batches = Vec::new();
        while !buf.is_empty() {
            if let Some(batch) = decoder.decode(&mut buf)? {
                batches.push(batch);
            }
        }
        decoder.finish()?;
        Ok(batches)
    })
    .map_err(|_| FrameError::ArrowPanic)?
    .map_err(FrameError::Arrow)
}

/// The values of the string column `name` over `batches` (nulls as `None`), or `None` when
/// no batch has the column.
pub(crate) fn string_column(
    batches: &[RecordBatch],
    name: &'static str,
) -> Result<Option<Vec<Option<String>>>, FrameError> {
    let mut out: Option<Vec<Option<String>>> = None;
    for batch in batches {
        let Some(col) = batch.column_by_name(name) else {
            if out.is_some() {
                return Err(FrameError::MissingColumn(name));
            }
            continue;
        };
        let values = out.get_or_insert_with(Vec::new);
        let mut push = |v: Option<&str>| values.push(v.map(str::to_owned));
        match col.data_type() {
            DataType::Utf8 => col.as_string::<i32>().iter().for_each(&mut push),
            DataType::LargeUtf8 => col.as_string::<i64>().iter().for_each(&mut push),
            DataType::Utf8View => col.as_string_view().iter().for_each(&mut push),
            other => {
                return Err(FrameError::WrongType {
                    column: name,
                    found: other.clone(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int32Array, StringArray};
    use arrow_ipc::writer::StreamWriter;

    use super::*;

    /// An Arrow IPC stream of one batch with these string columns.
    pub(crate) fn ipc_of(columns: &[(&str, Vec<Option<&str>>)]) -> Vec<u8> {
        let cols: Vec<(&str, ArrayRef)> = columns
            .iter()
            .map(|(n, v)| (*n, Arc::new(StringArray::from(v.clone())) as ArrayRef))
            .collect();
        let batch = RecordBatch::try_from_iter(cols).unwrap();
        let mut out = Vec::new();
        let mut w = StreamWriter::try_new(&mut out, &batch.schema()).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
        drop(w);
        out
    }

    fn part(payload: Vec<u8>) -> DataframePart {
        DataframePart {
            encoder_version: 1,
            payload: Some(payload.into()),
            compression: 0,
            uncompressed_size: 0,
        }
    }

    #[test]
    fn string_columns_come_back_and_other_types_are_typed_errors() {
        let ipc = ipc_of(&[
            ("a", vec![Some("x"), None]),
            ("b", vec![Some("y"), Some("z")]),
        ]);
        let batches = record_batches(Some(&part(ipc.clone())), 1 << 20).unwrap();
        assert_eq!(
            string_column(&batches, "a").unwrap(),
            Some(vec![Some("x".into()), None])
        );
        assert_eq!(string_column(&batches, "nope").unwrap(), None);

        // LZ4 of the same stream decodes the same.
        let lz = part(lz4_flex::block::compress(&ipc));
        let lz = DataframePart {
            compression: Compression::Lz4 as i32,
            uncompressed_size: ipc.len() as u64,
            ..lz
        };
        assert_eq!(record_batches(Some(&lz), 1 << 20).unwrap().len(), 1);
        let lying = DataframePart {
            uncompressed_size: 1 << 40,
            ..lz.clone()
        };
        assert!(matches!(
            record_batches(Some(&lying), 1 << 20),
            Err(FrameError::TooLarge { .. })
        ));

        let ints =
            RecordBatch::try_from_iter([("a", Arc::new(Int32Array::from(vec![1])) as ArrayRef)])
                .unwrap();
        assert!(matches!(
            string_column(&[ints], "a"),
            Err(FrameError::WrongType { column: "a", .. })
        ));
    }

    #[test]
    fn garbage_is_a_typed_error() {
        for bytes in [
            vec![],
            vec![0xff; 3],
            vec![0xff, 0xff, 0xff, 0xff, 0x10, 0, 0, 0, 1, 2, 3],
            b"definitely not arrow".to_vec(),
        ] {
            let r = record_batches(Some(&part(bytes.clone())), 1 << 20);
            assert!(r.is_err() || r.as_ref().unwrap().is_empty(), "{bytes:?}");
        }
        // A truncated real stream.
        let ipc = ipc_of(&[("a", vec![Some("x")])]);
        for cut in [1, 8, ipc.len() / 2, ipc.len() - 1] {
            let _ = record_batches(Some(&part(ipc[..cut].to_vec())), 1 << 20);
        }
        assert!(matches!(
            record_batches(None, 1 << 20),
            Err(FrameError::Missing)
        ));
        assert!(matches!(
            record_batches(
                Some(&DataframePart {
                    compression: 77,
                    ..part(ipc)
                }),
                1 << 20
            ),
            Err(FrameError::UnknownCompression(77))
        ));
    }
}
