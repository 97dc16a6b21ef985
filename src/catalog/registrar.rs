//! [`DatasetRegistrar`]: registers uploaded segments one at a time into one dataset, from a
//! plain thread, connecting and creating the dataset lazily.

use std::path::Path;

use super::client::{
    BlockingCatalogClient, CatalogError, CatalogOptions, DatasetId, OnDuplicate, Source,
};
use crate::net::CatalogUrl;

/// The layer name of a rotated file: its file stem (`run-20261201T2213Z-123.00003` for
/// `…/run-20261201T2213Z-123.00003.rrd`), or `None` if the path has no UTF-8 stem.
///
/// Why one layer per file: the catalog makes the segment of a file from its recording id,
/// so every rotated file of a recording goes to the **same segment**; the official 0.41
/// catalog refuses a second file under a layer the segment already has ("duplicate segment
/// layers"), while each file as its own layer of that segment is accepted and a query over
/// the dataset returns every row once. The stem is unique per file (the rotation index is in
/// it) and stable (a retry registers the same layer name, which
/// [`OnDuplicate::Skip`] makes a no-op).
///
/// ```
/// use spate::catalog::layer_for;
/// assert_eq!(
///     layer_for("/spool/run-20261201T2213Z-123.00003.rrd").as_deref(),
///     Some("run-20261201T2213Z-123.00003")
/// );
/// assert_eq!(layer_for("/"), None);
/// ```
pub fn layer_for(path: impl AsRef<Path>) -> Option<String> {
    path.as_ref()
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Registers files into one named dataset of a catalog, one call per file: what the
/// uploader calls for each segment it uploaded.
///
/// Lazy: nothing is dialed until the first [`register_one`](Self::register_one); the
/// dataset is looked up (and created if missing) once and its id kept. A call that fails on
/// a connection that was already open is retried once on a fresh connection (registration
/// with [`OnDuplicate::Skip`] is idempotent, so a retry cannot register twice); later calls
/// after a failure reconnect.
///
/// ```no_run
/// use spate::catalog::{CatalogOptions, DatasetRegistrar, layer_for};
/// let mut reg = DatasetRegistrar::new("rerun+http://127.0.0.1:51234", "robots", CatalogOptions::default())?;
/// let path = "/spool/run.00000.rrd";
/// let segments = reg.register_one(&format!("file://{path}"), &layer_for(path).unwrap())?;
/// println!("{segments:?}"); // e.g. ["run-1"]: the recording id
/// # Ok::<(), spate::catalog::CatalogError>(())
/// ```
#[derive(Debug)]
pub struct DatasetRegistrar {
    url: String,
    dataset_name: String,
    options: CatalogOptions,
    on_duplicate: OnDuplicate,
    client: Option<BlockingCatalogClient>,
    dataset: Option<DatasetId>,
}

impl DatasetRegistrar {
    /// A registrar for `dataset_name` at `url`. The URL and the dataset name are checked
    /// now; the connection is made on first use.
    pub fn new(
        url: &str,
        dataset_name: &str,
        options: CatalogOptions,
    ) -> Result<Self, CatalogError> {
        CatalogUrl::parse(url).map_err(|reason| CatalogError::InvalidUrl {
            url: url.to_owned(),
            reason,
        })?;
        if dataset_name.is_empty() {
            return Err(CatalogError::InvalidArgument("empty dataset name".into()));
        }
        Ok(Self {
            url: url.to_owned(),
            dataset_name: dataset_name.to_owned(),
            options,
            on_duplicate: OnDuplicate::Skip,
            client: None,
            dataset: None,
        })
    }

    /// Sets what a registration does with a layer that exists (default
    /// [`OnDuplicate::Skip`]).
    pub fn on_duplicate(mut self, on_duplicate: OnDuplicate) -> Self {
        self.on_duplicate = on_duplicate;
        self
    }

    /// The dataset's id, once known.
    pub fn dataset_id(&self) -> Option<DatasetId> {
        self.dataset
    }

    /// Registers the file at `storage_url` as layer `layer` and returns the segment ids the
    /// server reported: the file's recording id (a layer registered before is skipped; the
    /// local 0.41 server still reports its segment, a server may also report nothing).
    pub fn register_one(
        &mut self,
        storage_url: &str,
        layer: &str,
    ) -> Result<Vec<String>, CatalogError> {
        let sources = [Source::new(storage_url, layer)];
        let reused = self.client.as_ref().is_some_and(|c| !c.is_closed());
        match self.try_register(&sources) {
            Err(e) if reused && e.is_connection_error() => {
                self.client = None;
                self.try_register(&sources)
            }
            r => r,
        }
    }

    fn try_register(&mut self, sources: &[Source]) -> Result<Vec<String>, CatalogError> {
        let result = self.register_with_client(sources);
        if let Err(e) = &result {
            if e.is_connection_error() {
                self.client = None;
            }
            if e.grpc_code() == Some(tonic::Code::NotFound) {
                // The dataset may have been deleted: look it up again next time.
                self.dataset = None;
            }
        }
        result
    }

    fn register_with_client(&mut self, sources: &[Source]) -> Result<Vec<String>, CatalogError> {
        let client = match self.client.take() {
            Some(c) if !c.is_closed() => c,
            _ => BlockingCatalogClient::connect(&self.url, self.options.clone())?,
        };
        let client = self.client.insert(client);
        let dataset = match self.dataset {
            Some(d) => d,
            None => {
                let d = client.ensure_dataset(&self.dataset_name)?;
                self.dataset = Some(d);
                d
            }
        };
        Ok(client
            .register(dataset, sources, self.on_duplicate)?
            .segment_ids())
    }
}
