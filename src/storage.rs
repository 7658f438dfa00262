//! Blob storage through `object_store`, chosen by configuration: a folder on local disk (default),
//! any S3-compatible store (production) or memory (tests).
//!
//! Blobs go in and out as streams: a write buffers at most one part (5 MiB) plus the parts in
//! flight, whatever the size of the blob, and switches to a multipart upload past one part; a
//! read yields the store's own chunks. Nothing here knows about encryption; the vault hands this
//! module ciphertext.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as StorePath;
use object_store::prefix::PrefixStore;
use object_store::{MultipartId, ObjectStore, ObjectStoreExt, PutPayloadMut};
use tokio::io::AsyncWriteExt;

use crate::config::{BlobStoreConfig, S3Settings};

/// Size of one buffered part: the smallest S3 accepts, so memory stays low.
pub const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts uploaded at once; bounds memory at about `(1 + PART_CONCURRENCY) × PART_SIZE`.
pub const PART_CONCURRENCY: usize = 2;

/// A storage failure, with the backend's cause kept for the log.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("blob not found")]
    NotFound,
    #[error("invalid blob key: {0}")]
    InvalidKey(String),
    #[error("blob store configuration: {0}")]
    Config(String),
    #[error("blob store unavailable: {0}")]
    Backend(String),
    /// The stream feeding a write failed (e.g. the client went away); the write was aborted.
    #[error("upload source failed: {0}")]
    Source(String),
}

impl From<object_store::Error> for StorageError {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => Self::NotFound,
            other => Self::Backend(other.to_string()),
        }
    }
}

/// The key of a blob: slash-separated segments of `[A-Za-z0-9._-]`, no empty, `.` or `..`
/// segment. Built by the code, never taken from a request as is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn parse(raw: impl Into<String>) -> Result<Self, StorageError> {
        let raw = raw.into();
        let valid = !raw.is_empty()
            && raw.len() <= 512
            && raw.split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            });
        if valid {
            Ok(Self(raw))
        } else {
            Err(StorageError::InvalidKey(raw))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn path(&self) -> StorePath {
        StorePath::from(self.0.as_str())
    }
}

impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which kind of store is behind a [`BlobStore`]; reported by `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobBackend {
    Local,
    S3,
    Memory,
}

impl BlobBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::S3 => "s3",
            Self::Memory => "memory",
        }
    }
}

/// A blob being written: buffers at most one part plus the parts in flight. Call
/// [`finish`](Self::finish) to complete it or [`abort`](Self::abort) to leave nothing behind.
pub struct BlobWriter {
    inner: WriterInner,
    key: BlobKey,
    written: u64,
}

enum WriterInner {
    /// Local disk and memory: object_store's buffered writer.
    Buffered(BufWriter),
    /// S3: the multipart API driven here, so the upload id is known (and can be recorded for
    /// the sweep to abort after a crash).
    Multipart(MultipartWriter),
}

type PartFuture = futures_util::future::BoxFuture<'static, Result<(usize, PartId), StorageError>>;

struct MultipartWriter {
    target: Arc<MultipartTarget>,
    /// The store as the rest of the code sees it (prefix applied), for blobs of one part.
    store: Arc<dyn ObjectStore>,
    key_path: StorePath,
    buffer: PutPayloadMut,
    id: Option<MultipartId>,
    next_part: usize,
    in_flight: futures_util::stream::FuturesUnordered<PartFuture>,
    done: Vec<(usize, PartId)>,
}

impl MultipartWriter {
    async fn put(&mut self, bytes: Bytes) -> Result<(), StorageError> {
        self.buffer.push(bytes);
        if self.buffer.content_length() >= PART_SIZE {
            self.send_part().await?;
        }
        Ok(())
    }

    async fn send_part(&mut self) -> Result<(), StorageError> {
        let path = self.target.path(&self.key_path);
        let id = match &self.id {
            Some(id) => id.clone(),
            None => {
                let id = self.target.store.create_multipart(&path).await?;
                self.id = Some(id.clone());
                id
            }
        };
        while self.in_flight.len() >= PART_CONCURRENCY {
            self.collect_one().await?;
        }
        let payload = std::mem::take(&mut self.buffer).freeze();
        let store = self.target.store.clone();
        let index = self.next_part;
        self.next_part += 1;
        self.in_flight.push(Box::pin(async move {
            let part = store.put_part(&path, &id, index, payload).await?;
            Ok((index, part))
        }));
        Ok(())
    }

    async fn collect_one(&mut self) -> Result<(), StorageError> {
        if let Some(result) = self.in_flight.next().await {
            self.done.push(result?);
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), StorageError> {
        let Some(id) = self.id.clone() else {
            let payload = std::mem::take(&mut self.buffer).freeze();
            self.store.put(&self.key_path, payload).await?;
            return Ok(());
        };
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        while !self.in_flight.is_empty() {
            self.collect_one().await?;
        }
        self.done.sort_by_key(|(index, _)| *index);
        let parts = std::mem::take(&mut self.done)
            .into_iter()
            .map(|(_, part)| part)
            .collect();
        let path = self.target.path(&self.key_path);
        self.target
            .store
            .complete_multipart(&path, &id, parts)
            .await?;
        Ok(())
    }

    async fn abort(&mut self) -> Result<(), StorageError> {
        self.in_flight = futures_util::stream::FuturesUnordered::new();
        if let Some(id) = self.id.take() {
            let path = self.target.path(&self.key_path);
            self.target.store.abort_multipart(&path, &id).await?;
        }
        Ok(())
    }
}

impl BlobWriter {
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), StorageError> {
        self.written += bytes.len() as u64;
        match &mut self.inner {
            WriterInner::Buffered(inner) => inner.put(bytes).await.map_err(StorageError::from),
            WriterInner::Multipart(inner) => inner.put(bytes).await,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The store's multipart upload id, once the blob spans more than one part on S3.
    pub fn multipart_id(&self) -> Option<&str> {
        match &self.inner {
            WriterInner::Multipart(inner) => inner.id.as_deref(),
            WriterInner::Buffered(_) => None,
        }
    }

    /// Completes the blob; on failure the partial upload is aborted.
    pub async fn finish(mut self) -> Result<u64, StorageError> {
        let outcome = match &mut self.inner {
            WriterInner::Buffered(inner) => inner
                .shutdown()
                .await
                .map_err(|e| StorageError::Backend(e.to_string())),
            WriterInner::Multipart(inner) => inner.finish().await,
        };
        match outcome {
            Ok(()) => Ok(self.written),
            Err(error) => {
                self.abort().await;
                Err(error)
            }
        }
    }

    /// Abandons the blob (best effort; a leftover is removed by the sweep).
    pub async fn abort(mut self) {
        let outcome = match &mut self.inner {
            WriterInner::Buffered(inner) => inner.abort().await.map_err(StorageError::from),
            WriterInner::Multipart(inner) => inner.abort().await,
        };
        if let Err(error) = outcome {
            tracing::warn!(blob = %self.key, %error, "aborting a blob upload failed");
        }
    }
}

/// The multipart API of an S3 store, with the prefix the rest of the store is seen under.
struct MultipartTarget {
    store: Arc<dyn MultipartStore>,
    prefix: StorePath,
}

impl std::fmt::Debug for MultipartTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultipartTarget")
            .field("prefix", &self.prefix.as_ref())
            .finish_non_exhaustive()
    }
}

impl MultipartTarget {
    fn path(&self, key_path: &StorePath) -> StorePath {
        self.prefix.parts().chain(key_path.parts()).collect()
    }
}

/// A blob read: its total size and a stream of its bytes.
pub struct BlobRead {
    pub size: u64,
    pub stream: BoxStream<'static, Result<Bytes, StorageError>>,
}

/// The blob store the application uses. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    backend: BlobBackend,
    local_root: Option<PathBuf>,
    multipart: Option<Arc<MultipartTarget>>,
}

impl BlobStore {
    /// Opens the store named by the configuration (creating the local folder if needed).
    pub fn open(config: &BlobStoreConfig, s3: &S3Settings) -> Result<Self, StorageError> {
        match config {
            BlobStoreConfig::Local(root) => {
                std::fs::create_dir_all(root).map_err(|e| {
                    StorageError::Config(format!("cannot create {}: {e}", root.display()))
                })?;
                let root = root.canonicalize().map_err(|e| {
                    StorageError::Config(format!("cannot open {}: {e}", root.display()))
                })?;
                let store = LocalFileSystem::new_with_prefix(&root)
                    .map_err(|e| StorageError::Config(e.to_string()))?
                    .with_automatic_cleanup(true);
                Ok(Self {
                    store: Arc::new(store),
                    backend: BlobBackend::Local,
                    local_root: Some(root),
                    multipart: None,
                })
            }
            BlobStoreConfig::Memory => Ok(Self::memory()),
            BlobStoreConfig::S3 { bucket, prefix } => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(s3.region.clone().unwrap_or_else(|| "us-east-1".to_owned()))
                    .with_allow_http(s3.allow_http)
                    .with_virtual_hosted_style_request(s3.virtual_hosted_style);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(id) = &s3.access_key_id {
                    builder = builder.with_access_key_id(id);
                }
                if let Some(secret) = &s3.secret_access_key {
                    builder = builder.with_secret_access_key(secret.expose());
                }
                let s3_store = Arc::new(
                    builder
                        .build()
                        .map_err(|e| StorageError::Config(e.to_string()))?,
                );
                let multipart = Arc::new(MultipartTarget {
                    store: s3_store.clone(),
                    prefix: StorePath::from(prefix.as_str()),
                });
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    s3_store
                } else {
                    Arc::new(PrefixStore::new(s3_store, prefix.as_str()))
                };
                Ok(Self {
                    store,
                    backend: BlobBackend::S3,
                    local_root: None,
                    multipart: Some(multipart),
                })
            }
        }
    }

    /// A fresh in-memory store.
    pub fn memory() -> Self {
        Self {
            store: Arc::new(InMemory::new()),
            backend: BlobBackend::Memory,
            local_root: None,
            multipart: None,
        }
    }

    pub fn backend(&self) -> BlobBackend {
        self.backend
    }

    /// Starts writing a blob piece by piece with bounded memory (see [`BlobWriter`]).
    pub fn writer(&self, key: &BlobKey) -> BlobWriter {
        let inner = match &self.multipart {
            Some(target) => WriterInner::Multipart(MultipartWriter {
                target: target.clone(),
                store: self.store.clone(),
                key_path: key.path(),
                buffer: PutPayloadMut::new(),
                id: None,
                next_part: 0,
                in_flight: futures_util::stream::FuturesUnordered::new(),
                done: Vec::new(),
            }),
            None => WriterInner::Buffered(
                BufWriter::with_capacity(self.store.clone(), key.path(), PART_SIZE)
                    .with_max_concurrency(PART_CONCURRENCY),
            ),
        };
        BlobWriter {
            inner,
            key: key.clone(),
            written: 0,
        }
    }

    /// Writes a blob from a stream of chunks with bounded memory. Returns the bytes written.
    /// On any error the partial upload is aborted and nothing is left under `key`.
    pub async fn put_stream<S, E>(&self, key: &BlobKey, mut source: S) -> Result<u64, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut writer = self.writer(key);
        while let Some(chunk) = source.next().await {
            let outcome = match chunk {
                Ok(chunk) => writer.write(chunk).await,
                Err(e) => Err(StorageError::Source(e.to_string())),
            };
            if let Err(error) = outcome {
                writer.abort().await;
                return Err(error);
            }
        }
        writer.finish().await
    }

    /// Writes a small blob in one request.
    pub async fn put_bytes(&self, key: &BlobKey, bytes: Bytes) -> Result<(), StorageError> {
        self.store.put(&key.path(), bytes.into()).await?;
        Ok(())
    }

    /// Streams a whole blob.
    pub async fn get_stream(&self, key: &BlobKey) -> Result<BlobRead, StorageError> {
        let result = self.store.get(&key.path()).await?;
        let size = result.meta.size;
        let stream = result.into_stream().map_err(StorageError::from).boxed();
        Ok(BlobRead { size, stream })
    }

    /// Reads one byte range of a blob (`start..end`, end exclusive).
    pub async fn get_range(&self, key: &BlobKey, range: Range<u64>) -> Result<Bytes, StorageError> {
        Ok(self.store.get_range(&key.path(), range).await?)
    }

    /// The blob's size, or `None` when it does not exist.
    pub async fn size(&self, key: &BlobKey) -> Result<Option<u64>, StorageError> {
        match self.store.head(&key.path()).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Moves a blob to a new key (used to finalise an upload written under a temporary key).
    pub async fn rename(&self, from: &BlobKey, to: &BlobKey) -> Result<(), StorageError> {
        Ok(self.store.rename(&from.path(), &to.path()).await?)
    }

    /// Deletes a blob; deleting a missing blob is not an error (deletes are retried).
    pub async fn delete(&self, key: &BlobKey) -> Result<(), StorageError> {
        match self.store.delete(&key.path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes what an interrupted multipart write of `key` left behind (a crash mid-upload):
    /// on local disk the staging files `<key>#<n>` object_store writes a multipart upload into
    /// (they are invisible to [`list`](Self::list) and never cleaned up by object_store after a
    /// crash); on S3 the multipart upload `multipart_id`, when the writer recorded one. Returns
    /// how many leftovers were removed.
    pub async fn remove_leftovers(
        &self,
        key: &BlobKey,
        multipart_id: Option<&str>,
    ) -> Result<u64, StorageError> {
        let mut removed = 0;
        if let Some(root) = &self.local_root {
            let path = root.join(key.as_str());
            let (Some(folder), Some(name)) = (path.parent(), path.file_name()) else {
                return Ok(0);
            };
            let Some(name) = name.to_str() else {
                return Ok(0);
            };
            let mut entries = match tokio::fs::read_dir(folder).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(StorageError::Backend(format!("{}: {e}", folder.display()))),
            };
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(|e| StorageError::Backend(e.to_string()))?
            {
                let file = entry.file_name();
                let is_staging = file
                    .to_str()
                    .and_then(|f| f.strip_prefix(name))
                    .and_then(|rest| rest.strip_prefix('#'))
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                if is_staging {
                    match tokio::fs::remove_file(entry.path()).await {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(StorageError::Backend(e.to_string())),
                    }
                }
            }
        }
        if let (Some(id), Some(multipart)) = (multipart_id, &self.multipart) {
            match multipart
                .store
                .abort_multipart(&multipart.path(&key.path()), &id.to_owned())
                .await
            {
                Ok(()) => removed += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(removed)
    }

    /// Lists the keys under a prefix (used by maintenance sweeps).
    pub fn list(&self, prefix: &BlobKey) -> BoxStream<'static, Result<BlobKey, StorageError>> {
        self.store
            .list(Some(&prefix.path()))
            .map(|item| {
                let meta = item?;
                BlobKey::parse(meta.location.to_string())
            })
            .boxed()
    }

    /// Proves the store answers: the local folder exists, or the bucket answers a request.
    pub async fn check(&self) -> Result<(), StorageError> {
        if let Some(root) = &self.local_root {
            let meta = tokio::fs::metadata(root)
                .await
                .map_err(|e| StorageError::Backend(format!("{}: {e}", root.display())))?;
            if !meta.is_dir() {
                return Err(StorageError::Backend(format!(
                    "{} is not a folder",
                    root.display()
                )));
            }
        }
        match self.store.head(&StorePath::from("_health/probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_keys_refuse_traversal_and_odd_characters() {
        assert!(BlobKey::parse("documents/0193/abc.bin").is_ok());
        for bad in [
            "",
            "../etc/passwd",
            "a//b",
            "a/./b",
            "a b",
            "a/\u{0}",
            "/abs",
            "x/",
        ] {
            assert!(BlobKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
