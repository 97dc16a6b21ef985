//! `GrpcSink` and `FileSink`: descriptions of where data goes, made real by `set_sinks`
//! (as in the official SDK: a bad URL fails at construction, an uncreatable file at
//! `set_sinks`).

use std::path::PathBuf;

use pyo3::exceptions::PyNotImplementedError;
use pyo3::prelude::*;
use spate::net::GrpcUrl;
use spate::sink::{FileSink as SpateFileSink, FileSinkOptions, GrpcSink as SpateGrpcSink};
use spate::{SinkPolicy, SinkSpec};

use crate::errors;

/// The official SDK's default: a Rerun viewer on this machine.
pub(crate) const DEFAULT_GRPC_URL: &str = "rerun+http://127.0.0.1:9876/proxy";

/// Streams to a Rerun viewer or server over gRPC (`rerun+http://host:port/proxy`).
///
/// Connecting happens in the background: an unreachable server is not an error; messages
/// wait (bounded) and the sink keeps reconnecting until the recording shuts down. Nothing is
/// dropped while the server takes data: a slow server slows the producers down.
#[pyclass(frozen, eq, hash, module = "spate")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct GrpcSink {
    url: String,
}

#[pymethods]
impl GrpcSink {
    #[new]
    #[pyo3(signature = (url=None))]
    fn new(url: Option<String>) -> PyResult<Self> {
        let url = url.unwrap_or_else(|| DEFAULT_GRPC_URL.to_owned());
        GrpcUrl::parse(&url).map_err(|e| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "invalid gRPC URL {url:?}: {}",
                spate::ErrorChain(&e)
            ))
        })?;
        Ok(Self { url })
    }

    /// The server's URL.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    fn __repr__(&self) -> String {
        format!("GrpcSink({:?})", self.url)
    }
}

/// Writes an `.rrd` file (created, or truncated, by `set_sinks`).
#[pyclass(frozen, eq, hash, module = "spate")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FileSink {
    path: PathBuf,
}

#[pymethods]
impl FileSink {
    #[new]
    #[pyo3(signature = (path, *, write_footer=true))]
    fn new(path: PathBuf, write_footer: bool) -> PyResult<Self> {
        if !write_footer {
            return Err(PyNotImplementedError::new_err(
                "spate: FileSink(write_footer=False) is not supported: spate's files always end with a footer",
            ));
        }
        Ok(Self { path })
    }

    /// The file's path.
    #[getter]
    fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn __repr__(&self) -> String {
        format!(
            "FileSink({:?}, write_footer=True)",
            self.path.display().to_string()
        )
    }
}

/// The sinks `set_sinks` was given, made real (files created, gRPC clients started).
pub(crate) fn specs(py: Python<'_>, sinks: &[Bound<'_, PyAny>]) -> PyResult<Vec<SinkSpec>> {
    let mut seen: Vec<Bound<'_, PyAny>> = Vec::new();
    for s in sinks {
        if !(s.is_instance_of::<GrpcSink>() || s.is_instance_of::<FileSink>()) {
            return Err(errors::type_error(format!(
                "{} is not a valid sink: spate supports GrpcSink and FileSink",
                s.get_type().name()?
            )));
        }
        for earlier in &seen {
            if earlier.eq(s)? {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "Duplicate sinks detected: {}",
                    s.repr()?
                )));
            }
        }
        seen.push(s.clone());
    }
    let mut out = Vec::with_capacity(sinks.len());
    for s in sinks {
        if let Ok(g) = s.cast::<GrpcSink>() {
            let url = g.get().url.clone();
            let sink = py
                .detach(|| SpateGrpcSink::connect(&url))
                .map_err(errors::value)?;
            // Lossless while the server takes data, as the official SDK's gRPC sink: a slow
            // viewer slows the producers (their wait releases the GIL) instead of losing
            // rows. Disconnected, the sink buffers up to its budget and then drops the
            // oldest (counted); the engine's own default for gRPC is to drop.
            out.push(SinkSpec::from(sink).policy(SinkPolicy::Block));
        } else if let Ok(f) = s.cast::<FileSink>() {
            let path = f.get().path.clone();
            let sink = py
                .detach(|| SpateFileSink::create(&path, FileSinkOptions::default()))
                .map_err(|e| {
                    pyo3::exceptions::PyOSError::new_err(format!(
                        "Failed to create file {}: {}",
                        path.display(),
                        spate::ErrorChain(&e)
                    ))
                })?;
            out.push(SinkSpec::from(sink));
        }
    }
    Ok(out)
}
