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
use object_store::path::Path as StorePath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};
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
    inner: BufWriter,
    key: BlobKey,
    written: u64,
}

impl BlobWriter {
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), StorageError> {
        self.written += bytes.len() as u64;
        self.inner.put(bytes).await.map_err(StorageError::from)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Completes the blob; on failure the partial upload is aborted.
    pub async fn finish(mut self) -> Result<u64, StorageError> {
        match self.inner.shutdown().await {
            Ok(()) => Ok(self.written),
            Err(error) => {
                self.abort().await;
                Err(StorageError::Backend(error.to_string()))
            }
        }
    }

    /// Abandons the blob (best effort; a leftover is removed by the sweep).
    pub async fn abort(mut self) {
        if let Err(error) = self.inner.abort().await {
            tracing::warn!(blob = %self.key, %error, "aborting a blob upload failed");
        }
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
                let s3_store = builder
                    .build()
                    .map_err(|e| StorageError::Config(e.to_string()))?;
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(s3_store)
                } else {
                    Arc::new(PrefixStore::new(s3_store, prefix.as_str()))
                };
                Ok(Self {
                    store,
                    backend: BlobBackend::S3,
                    local_root: None,
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
        }
    }

    pub fn backend(&self) -> BlobBackend {
        self.backend
    }

    /// Starts writing a blob piece by piece with bounded memory (see [`BlobWriter`]).
    pub fn writer(&self, key: &BlobKey) -> BlobWriter {
        BlobWriter {
            inner: BufWriter::with_capacity(self.store.clone(), key.path(), PART_SIZE)
                .with_max_concurrency(PART_CONCURRENCY),
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
