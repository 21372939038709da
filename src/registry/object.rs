//! A registry on an object store (S3, Azure Blob storage, Google Cloud
//! Storage) through the `object_store` crate.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{
    GetOptions, ObjectStore as _, ObjectStoreExt as _, PutOptions, PutPayload, UpdateVersion,
};

use super::store::{Fetched, PutMode, RegistryStore, Revision};
use super::{RegistryError, Result};
use crate::artifact::ArtifactError;

/// A [`RegistryStore`] on an object store: `s3://bucket/prefix` (feature
/// `s3`), `az://container/prefix` (feature `azure`), `gs://bucket/prefix`
/// (feature `gcs`).
///
/// The layout under the prefix is [`FsStore`](super::FsStore)'s. The
/// model index is written with conditional requests (`If-None-Match: *`
/// to create, `If-Match: ETAG` to replace), which S3 (since 2024), S3
/// compatible servers that implement them, Azure Blob storage and Google
/// Cloud Storage all honour; every other object is written once. A read
/// of the index that a replica already holds is a conditional GET
/// (`If-None-Match: ETAG`), answered `304 Not Modified` without a body
/// when nothing changed: following an alias costs one small request per
/// poll interval per replica.
///
/// Configuration comes from each cloud's usual environment variables:
///
/// | store | variables |
/// |---|---|
/// | S3 | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ENDPOINT` (an S3-compatible server), `AWS_ALLOW_HTTP=true` (plain HTTP), or the instance's / task's / web identity credentials |
/// | Azure | `AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY` (or `AZURE_STORAGE_SAS_KEY`, a managed or workload identity), `AZURE_STORAGE_USE_EMULATOR=true` with `AZURITE_BLOB_STORAGE_URL` for Azurite |
/// | GCS | `GOOGLE_SERVICE_ACCOUNT` (a key file), or the metadata server's credentials |
///
/// The store must honour those conditions: an S3-compatible server that
/// ignores `If-Match` and `If-None-Match` on writes (some older ones do)
/// would let racing writers overwrite each other's index changes.
///
/// Requests are retried by the client (up to 6 times, backing off from
/// 100 ms to at most 2 s between tries, within 20 seconds: a store that
/// stalls or restarts for a few seconds is ridden out) before an error
/// reaches the registry. The store drives its requests on a
/// thread of its own, so its blocking calls work from any thread, an async
/// runtime's included (they block that thread while they wait).
pub struct ObjectStore {
    store: Arc<dyn object_store::ObjectStore>,
    prefix: String,
    url: String,
    driver: Driver,
}

impl fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ObjectStore {
    /// The store a registry URL names, configured from the environment.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Location`] for a scheme this build has no feature
    /// for, or a configuration the client refuses.
    pub fn from_url(url: &str) -> Result<Self> {
        Self::from_url_with(url, &[])
    }

    /// As [`ObjectStore::from_url`], with configuration given here on top
    /// of the environment's: `object_store`'s keys for the store
    /// (`aws_endpoint`, `aws_access_key_id`, `aws_allow_http`,
    /// `azure_storage_account_name`, `azure_storage_endpoint`, …).
    ///
    /// # Errors
    ///
    /// [`RegistryError::Location`] for an unknown key, a scheme this build
    /// has no feature for, or a configuration the client refuses.
    ///
    /// # Examples
    ///
    /// A registry on an S3-compatible server on this machine:
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use modelhost::registry::{ObjectStore, Registry};
    ///
    /// let store = ObjectStore::from_url_with(
    ///     "s3://models/shop",
    ///     &[("aws_endpoint", "http://127.0.0.1:9000"), ("aws_allow_http", "true")],
    /// )?;
    /// let registry = Registry::with_store(Arc::new(store));
    /// println!("{:?}", registry.models()?);
    /// # Ok::<(), modelhost::registry::RegistryError>(())
    /// ```
    pub fn from_url_with(url: &str, options: &[(&str, &str)]) -> Result<Self> {
        let location = |reason: String| RegistryError::Location {
            location: url.to_owned(),
            reason,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| location("not a URL".into()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(location("no bucket or container".into()));
        }
        let retry = object_store::RetryConfig {
            max_retries: 6,
            retry_timeout: Duration::from_secs(20),
            backoff: object_store::BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
        };
        let bucket_url = format!("{scheme}://{bucket}");
        let store: Arc<dyn object_store::ObjectStore> = match scheme.to_ascii_lowercase().as_str() {
            #[cfg(feature = "s3")]
            "s3" | "s3a" => Arc::new(
                configure(
                    object_store::aws::AmazonS3Builder::from_env(),
                    options,
                    |b, k: object_store::aws::AmazonS3ConfigKey, v| b.with_config(k, v),
                )
                .map_err(location)?
                .with_url(bucket_url)
                .with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch)
                .with_retry(retry)
                .build()
                .map_err(|e| location(e.to_string()))?,
            ),
            #[cfg(feature = "azure")]
            "az" | "azure" | "abfs" | "abfss" => Arc::new(
                configure(
                    object_store::azure::MicrosoftAzureBuilder::from_env(),
                    options,
                    |b, k: object_store::azure::AzureConfigKey, v| b.with_config(k, v),
                )
                .map_err(location)?
                .with_url(bucket_url)
                .with_retry(retry)
                .build()
                .map_err(|e| location(e.to_string()))?,
            ),
            #[cfg(feature = "gcs")]
            "gs" => Arc::new(
                configure(
                    object_store::gcp::GoogleCloudStorageBuilder::from_env(),
                    options,
                    |b, k: object_store::gcp::GoogleConfigKey, v| b.with_config(k, v),
                )
                .map_err(location)?
                .with_url(bucket_url)
                .with_retry(retry)
                .build()
                .map_err(|e| location(e.to_string()))?,
            ),
            other => {
                let _ = retry;
                return Err(location(format!(
                    "this build cannot open `{other}://` (features: s3, azure, gcs)"
                )));
            }
        };
        Self::new(store, prefix, url)
    }

    /// A registry store on any `object_store` store, under `prefix`
    /// (`url` names it in messages).
    ///
    /// # Errors
    ///
    /// When the thread that drives requests cannot be started.
    pub fn new(store: Arc<dyn object_store::ObjectStore>, prefix: &str, url: &str) -> Result<Self> {
        Ok(Self {
            store,
            prefix: prefix.trim_matches('/').to_owned(),
            url: url.to_owned(),
            driver: Driver::start().map_err(|e| {
                RegistryError::Storage(ArtifactError::io(std::path::Path::new(url), e))
            })?,
        })
    }

    fn path(&self, key: &str) -> Path {
        let key = key.trim_matches('/');
        match (self.prefix.is_empty(), key.is_empty()) {
            (true, _) => Path::from(key),
            (false, true) => Path::from(self.prefix.as_str()),
            (false, false) => Path::from(format!("{}/{key}", self.prefix)),
        }
    }

    fn error(&self, key: &str, e: object_store::Error) -> RegistryError {
        let where_ = format!("{}/{key}", self.url.trim_end_matches('/'));
        RegistryError::Storage(ArtifactError::io(
            std::path::Path::new(&where_),
            std::io::Error::other(e.to_string()),
        ))
    }

    /// Reads `path` with `options`, refusing a body over `max_bytes` while
    /// it arrives (the size the server announces is checked first).
    async fn read(
        store: Arc<dyn object_store::ObjectStore>,
        path: Path,
        options: GetOptions,
        max_bytes: u64,
    ) -> Result<(Vec<u8>, Option<String>), Read> {
        let result = store.get_opts(&path, options).await.map_err(Read::Store)?;
        let size = result.meta.size;
        if size > max_bytes {
            return Err(Read::TooLarge(size));
        }
        let etag = result.meta.e_tag.clone();
        let mut body = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(Read::Store)?;
            if (body.len() + chunk.len()) as u64 > max_bytes {
                return Err(Read::TooLarge((body.len() + chunk.len()) as u64));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, etag))
    }

    fn read_error(&self, key: &str, e: Read, max_bytes: u64) -> RegistryError {
        match e {
            Read::Store(e) => self.error(key, e),
            Read::TooLarge(size) => RegistryError::Storage(ArtifactError::TooLarge {
                size,
                max: max_bytes,
            }),
        }
    }
}

/// Applies `options` to `builder`, each key parsed as the store's
/// configuration key.
#[allow(dead_code)] // unused in builds with no object-store feature enabled
fn configure<B, K: std::str::FromStr>(
    mut builder: B,
    options: &[(&str, &str)],
    set: impl Fn(B, K, &str) -> B,
) -> std::result::Result<B, String>
where
    K::Err: fmt::Display,
{
    for (key, value) in options {
        let key: K = key
            .parse()
            .map_err(|e| format!("unknown option `{key}`: {e}"))?;
        builder = set(builder, key, value);
    }
    Ok(builder)
}

enum Read {
    Store(object_store::Error),
    TooLarge(u64),
}

impl RegistryStore for ObjectStore {
    fn get(&self, key: &str, max_bytes: u64) -> Result<Option<Vec<u8>>> {
        let store = self.store.clone();
        let path = self.path(key);
        match self
            .driver
            .run(Self::read(store, path, GetOptions::default(), max_bytes))?
        {
            Ok((bytes, _)) => Ok(Some(bytes)),
            Err(Read::Store(object_store::Error::NotFound { .. })) => Ok(None),
            Err(e) => Err(self.read_error(key, e, max_bytes)),
        }
    }

    fn get_if_changed(
        &self,
        key: &str,
        max_bytes: u64,
        known: Option<&Revision>,
    ) -> Result<Fetched> {
        let store = self.store.clone();
        let path = self.path(key);
        let options = GetOptions {
            if_none_match: known.map(|r| r.as_str().to_owned()),
            ..Default::default()
        };
        match self
            .driver
            .run(Self::read(store, path, options, max_bytes))?
        {
            Ok((bytes, Some(etag))) => Ok(Fetched::Changed(bytes, Revision::new(etag))),
            Ok((_, None)) => Err(self.error(
                key,
                object_store::Error::NotSupported {
                    source: "the store returned no ETag, which conditional writes need".into(),
                },
            )),
            Err(Read::Store(object_store::Error::NotModified { .. })) => Ok(Fetched::Unchanged),
            Err(Read::Store(object_store::Error::NotFound { .. })) => Ok(Fetched::Absent),
            Err(e) => Err(self.read_error(key, e, max_bytes)),
        }
    }

    fn put(&self, key: &str, bytes: &[u8], mode: PutMode) -> Result<()> {
        let store = self.store.clone();
        let path = self.path(key);
        let mode = match mode {
            PutMode::Overwrite => object_store::PutMode::Overwrite,
            PutMode::Create => object_store::PutMode::Create,
            PutMode::Update(r) => object_store::PutMode::Update(UpdateVersion {
                e_tag: Some(r.as_str().to_owned()),
                version: None,
            }),
        };
        let payload = PutPayload::from(bytes.to_vec());
        let options = PutOptions {
            mode,
            ..Default::default()
        };
        match self
            .driver
            .run(async move { store.put_opts(&path, payload, options).await })?
        {
            Ok(_) => Ok(()),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. }
                | object_store::Error::NotFound { .. },
            ) => Err(RegistryError::Conflict {
                key: key.to_owned(),
            }),
            Err(e) => Err(self.error(key, e)),
        }
    }

    fn delete(&self, key: &str) -> Result<()> {
        let store = self.store.clone();
        let path = self.path(key);
        match self.driver.run(async move { store.delete(&path).await })? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(key, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let store = self.store.clone();
        let path = self.path(prefix);
        let root = path.as_ref().is_empty();
        let listed = self.driver.run(async move {
            store
                .list_with_delimiter(if root { None } else { Some(&path) })
                .await
        })?;
        let listed = listed.map_err(|e| self.error(prefix, e))?;
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .chain(listed.objects.iter().map(|o| &o.location))
            .filter_map(|p| p.filename().map(str::to_owned))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn location(&self) -> String {
        self.url.clone()
    }
}

/// A thread running a single-threaded tokio runtime that drives the
/// store's requests; callers on any thread hand it a future and block on
/// the answer.
struct Driver {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Driver {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("modelhost-object-store".into())
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Runs `future` on the driver thread and waits for its output.
    fn run<T: Send + 'static>(
        &self,
        future: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.handle.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().map_err(|_| {
            RegistryError::Storage(ArtifactError::io(
                std::path::Path::new("object store"),
                std::io::Error::other("the object store's request thread stopped"),
            ))
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}
