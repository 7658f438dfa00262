//! Vault rules: storing a document (type check, size limit, quota, streaming encryption,
//! crash-safe bookkeeping), listing, renaming, deleting, and the one door every read of a
//! document's content goes through.

use std::ops::Range;

use bytes::Bytes;
use entity::{account, document, upload};
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::model::{self, DocumentType};
use super::repo;
use crate::crypto::{
    self, DEFAULT_CHUNK_SIZE, DataKey, FieldContext, HEADER_LEN, StreamContext, StreamDecryptor,
    StreamEncryptor, StreamHeader,
};
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::BlobKey;

/// Plaintext read from the blob store per request when streaming a download: bounds memory.
pub const READ_PIECE: u64 = 1024 * 1024;

fn crypto_error(error: crypto::CryptoError) -> AppError {
    AppError::internal(format!("crypto: {error}"))
}

fn blob_key(owner: Uuid, document: Uuid) -> Result<BlobKey, AppError> {
    BlobKey::parse(format!("documents/{owner}/{document}")).map_err(AppError::internal)
}

/// The context a document's sealed field is bound to (owner, document, field name).
pub fn sealed_context(owner: Uuid, document: Uuid, field: &'static str) -> FieldContext {
    FieldContext {
        owner,
        record: document,
        field,
    }
}

/// What the citizen says about a file they upload.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub doc_type: DocumentType,
    pub title: String,
    pub file_name: String,
}

/// A file name as sent by a client, made safe to show and to offer on download: the last path
/// component, control characters removed, at most 255 characters.
pub fn clean_file_name(raw: &str) -> String {
    raw.rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(255)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Checks a title: 1..=200 characters after trimming.
pub fn clean_title(raw: &str) -> Result<String, AppError> {
    let title = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if title.is_empty() {
        return Err(AppError::field("title", "title_required"));
    }
    if title.chars().count() > 200 {
        return Err(AppError::field("title", "title_length"));
    }
    Ok(title)
}

/// What content must satisfy while it streams in.
#[derive(Debug, Clone, Copy)]
pub struct ContentRules {
    /// Largest accepted size in bytes.
    pub limit: u64,
    /// Bytes left in the owner's quota; `None` when the quota does not apply (documents the
    /// state issues must arrive even into a full vault).
    pub quota_left: Option<u64>,
    /// The content type when the caller knows it; `None` judges it by the first bytes and
    /// accepts only the vault's file types.
    pub content_type: Option<&'static str>,
}

/// Content written to the blob store, not yet recorded as a document.
#[derive(Debug)]
pub struct Written {
    pub id: Uuid,
    pub blob_key: BlobKey,
    pub size: u64,
    pub content_type: String,
    pub sha256: String,
    pub blob_bytes: u64,
}

/// Writes content for a new document of `owner`: notes the upload first, checks size, quota
/// and type while streaming, encrypts chunk by chunk. On failure the partial blob is removed
/// (or, after a crash, by the sweep) and nothing is recorded. The caller records the document
/// with [`repo::complete_upload`] (or discards it with [`discard`]).
pub async fn write_content<S, E>(
    state: &AppState,
    owner: &account::Model,
    data_key: &DataKey,
    rules: ContentRules,
    mut body: S,
) -> Result<Written, AppError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let id = Uuid::now_v7();
    let key_name = blob_key(owner.id, id)?;
    repo::start_upload(
        &state.db,
        upload::Model {
            id,
            owner_id: owner.id,
            blob_key: key_name.as_str().to_owned(),
            started_at: state.clock.now(),
        },
    )
    .await?;

    let ctx = StreamContext {
        owner: owner.id,
        document: id,
    };
    let mut writer = state.blobs.writer(&key_name);
    let outcome: Result<(u64, String, String), AppError> = async {
        let (mut encryptor, header) =
            StreamEncryptor::new(data_key, &ctx, DEFAULT_CHUNK_SIZE).map_err(crypto_error)?;
        writer.write(Bytes::from(header)).await?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut head: Vec<u8> = Vec::with_capacity(model::SNIFF_LEN);
        let mut content_type: Option<&'static str> = rules.content_type;
        let mut out: Vec<u8> = Vec::with_capacity(DEFAULT_CHUNK_SIZE as usize * 2);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                tracing::info!(error = %e, "upload interrupted");
                AppError::field("file", "upload_interrupted")
            })?;
            size += chunk.len() as u64;
            if size > rules.limit {
                return Err(AppError::field("file", "file_too_large"));
            }
            if rules.quota_left.is_some_and(|left| size > left) {
                return Err(AppError::field("file", "quota_exceeded"));
            }
            if content_type.is_none() {
                let need = model::SNIFF_LEN - head.len();
                head.extend_from_slice(&chunk[..need.min(chunk.len())]);
                if head.len() >= model::SNIFF_LEN {
                    content_type = Some(
                        model::sniff(&head).ok_or_else(|| AppError::field("file", "file_type"))?,
                    );
                }
            }
            hasher.update(&chunk);
            encryptor
                .push_into(&chunk, &mut out)
                .map_err(crypto_error)?;
            if !out.is_empty() {
                writer.write(Bytes::from(std::mem::take(&mut out))).await?;
            }
        }
        if size == 0 {
            return Err(AppError::field("file", "file_required"));
        }
        let content_type = match content_type {
            Some(known) => known,
            None => model::sniff(&head).ok_or_else(|| AppError::field("file", "file_type"))?,
        };
        encryptor.finish_into(&mut out).map_err(crypto_error)?;
        writer.write(Bytes::from(out)).await?;
        Ok((
            size,
            content_type.to_owned(),
            hex::encode(hasher.finalize()),
        ))
    }
    .await;

    let (size, content_type, sha256) = match outcome {
        Ok(done) => done,
        Err(error) => {
            writer.abort().await;
            forget_blob(state, id, &key_name).await;
            return Err(error);
        }
    };
    let blob_bytes = match writer.finish().await {
        Ok(bytes) => bytes,
        Err(error) => {
            forget_blob(state, id, &key_name).await;
            return Err(error.into());
        }
    };
    Ok(Written {
        id,
        blob_key: key_name,
        size,
        content_type,
        sha256,
        blob_bytes,
    })
}

/// Gives up written content that will not become a document.
pub async fn discard(state: &AppState, written: Written) {
    forget_blob(state, written.id, &written.blob_key).await;
}

/// The document row for written content, with title and file name sealed.
pub fn document_row(
    state: &AppState,
    owner: &account::Model,
    data_key: &DataKey,
    written: &Written,
    new: &NewDocument,
    source: &str,
) -> Result<document::Model, AppError> {
    let now = state.clock.now();
    let id = written.id;
    let title = crypto::seal_field(
        data_key,
        &sealed_context(owner.id, id, "title"),
        new.title.as_bytes(),
    )
    .map_err(crypto_error)?;
    let file_name = crypto::seal_field(
        data_key,
        &sealed_context(owner.id, id, "file_name"),
        new.file_name.as_bytes(),
    )
    .map_err(crypto_error)?;
    Ok(document::Model {
        id,
        owner_id: owner.id,
        doc_type: new.doc_type.as_str().to_owned(),
        source: source.to_owned(),
        content_type: written.content_type.clone(),
        size_bytes: i64::try_from(written.size).map_err(AppError::internal)?,
        blob_key: written.blob_key.as_str().to_owned(),
        blob_bytes: i64::try_from(written.blob_bytes).map_err(AppError::internal)?,
        sha256: written.sha256.clone(),
        title,
        file_name,
        created_at: now,
        updated_at: now,
    })
}

/// Stores a file a citizen uploads: type judged by content, size limit and quota enforced while
/// streaming; the document is recorded only once the blob is complete.
pub async fn store_document<S, E>(
    state: &AppState,
    owner: &account::Model,
    new: NewDocument,
    body: S,
) -> Result<document::Model, AppError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let used = repo::usage(&state.db, owner.id).await?;
    let rules = ContentRules {
        limit: state.config.max_upload_bytes,
        quota_left: Some(state.config.storage_quota_bytes.saturating_sub(used)),
        content_type: None,
    };
    let data_key = crate::accounts::service::data_key(state, owner)?;
    let written = write_content(state, owner, &data_key, rules, body).await?;
    let row = match document_row(state, owner, &data_key, &written, &new, "self") {
        Ok(row) => row,
        Err(error) => {
            discard(state, written).await;
            return Err(error);
        }
    };
    if let Err(error) = repo::complete_upload(&state.db, row.clone()).await {
        discard(state, written).await;
        return Err(error.into());
    }
    state.metrics.record_document("stored");
    Ok(row)
}

/// Best-effort removal of a blob that will never be recorded; the upload row stays for the
/// sweep if the removal fails.
async fn forget_blob(state: &AppState, upload_id: Uuid, key: &BlobKey) {
    match state.blobs.delete(key).await {
        Ok(()) => {
            if let Err(error) = repo::abandon_upload(&state.db, upload_id).await {
                tracing::warn!(%error, "could not forget an abandoned upload; the sweep will");
            }
        }
        Err(error) => {
            tracing::warn!(%error, blob = %key, "could not remove a partial blob; the sweep will")
        }
    }
}

/// A document the caller may read, with what is needed to decrypt it.
pub struct OpenDocument {
    pub row: document::Model,
    key: DataKey,
}

impl std::fmt::Debug for OpenDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenDocument")
            .field("id", &self.row.id)
            .finish_non_exhaustive()
    }
}

/// Why someone reads a document (recorded by the access log in a later issue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    OwnerView,
    OwnerDownload,
    /// Counter staff compare the scan with the original, after the owner gave them a code.
    Certification,
}

/// THE door to a document's content and sealed fields. Decides who may read (its owner, or
/// a clerk acting on the owner's certification code — the caller passes the owner then) and
/// answers a refusal exactly like a missing document. Grants, counter staff and the
/// access log hang off this function.
pub async fn open_document(
    state: &AppState,
    reader: &account::Model,
    id: Uuid,
    purpose: Purpose,
) -> Result<OpenDocument, AppError> {
    let row = repo::find(&state.db, id).await?.ok_or(AppError::NotFound)?;
    if row.owner_id != reader.id {
        return Err(AppError::NotFound);
    }
    let key = crate::accounts::service::data_key(state, reader)?;
    tracing::debug!(document = %row.id, ?purpose, "document opened");
    Ok(OpenDocument { row, key })
}

impl OpenDocument {
    /// The owner's data key (to open other sealed records of this document).
    pub(crate) fn data_key(&self) -> &DataKey {
        &self.key
    }

    fn open_sealed(&self, field_name: &'static str, sealed: &[u8]) -> Result<String, AppError> {
        let bytes = crypto::open_field(
            &self.key,
            &sealed_context(self.row.owner_id, self.row.id, field_name),
            sealed,
        )
        .map_err(crypto_error)?;
        String::from_utf8(bytes.to_vec()).map_err(AppError::internal)
    }

    pub fn title(&self) -> Result<String, AppError> {
        self.open_sealed("title", &self.row.title)
    }

    pub fn file_name(&self) -> Result<String, AppError> {
        self.open_sealed("file_name", &self.row.file_name)
    }

    pub fn size(&self) -> u64 {
        u64::try_from(self.row.size_bytes).unwrap_or(0)
    }

    /// The decryptor for this document, after checking the stored header belongs to it.
    async fn decryptor(&self, state: &AppState) -> Result<StreamDecryptor, AppError> {
        let key = BlobKey::parse(self.row.blob_key.clone()).map_err(AppError::internal)?;
        let header = state
            .blobs
            .get_range(&key, 0..HEADER_LEN as u64)
            .await
            .map_err(|e| corrupted(state, self, format!("header unreadable: {e}")))?;
        StreamHeader::parse(&header).map_err(|e| corrupted(state, self, format!("header: {e}")))?;
        let ctx = StreamContext {
            owner: self.row.owner_id,
            document: self.row.id,
        };
        StreamDecryptor::new(&self.key, &ctx, &header)
            .map_err(|e| corrupted(state, self, e.to_string()))
    }

    /// Decrypts plaintext bytes `range` (at most a few MiB; the caller splits larger ranges).
    pub async fn read(
        &self,
        state: &AppState,
        decryptor: &StreamDecryptor,
        range: Range<u64>,
    ) -> Result<Bytes, AppError> {
        let key = BlobKey::parse(self.row.blob_key.clone()).map_err(AppError::internal)?;
        let blob_len = state
            .blobs
            .size(&key)
            .await?
            .ok_or_else(|| corrupted(state, self, "blob missing".into()))?;
        let layout = decryptor.layout();
        let plaintext_len = layout
            .plaintext_len(blob_len)
            .map_err(|e| corrupted(state, self, e.to_string()))?;
        if plaintext_len != self.size() {
            return Err(corrupted(
                state,
                self,
                format!("blob holds {plaintext_len} bytes, expected {}", self.size()),
            ));
        }
        let wanted = layout
            .ciphertext_range_for(range.start, range.end, plaintext_len)
            .map_err(|e| corrupted(state, self, e.to_string()))?;
        let ciphertext = state
            .blobs
            .get_range(&key, wanted.offset..wanted.offset + wanted.len)
            .await?;
        let plain = decryptor
            .decrypt_range(&wanted, &ciphertext)
            .map_err(|e| corrupted(state, self, e.to_string()))?;
        Ok(Bytes::from(plain))
    }

    /// Streams plaintext `range` in pieces of [`READ_PIECE`], decrypting only the chunks needed.
    /// The first piece is read before returning, so a corrupt document fails cleanly before any
    /// response is sent; a later failure ends the stream with an error (the connection is cut,
    /// never garbage sent).
    pub async fn stream(
        self,
        state: AppState,
        range: Range<u64>,
    ) -> Result<impl Stream<Item = Result<Bytes, AppError>> + use<>, AppError> {
        let decryptor = self.decryptor(&state).await?;
        let first_end = range.end.min(range.start + READ_PIECE);
        let first = if range.is_empty() {
            Bytes::new()
        } else {
            self.read(&state, &decryptor, range.start..first_end)
                .await?
        };
        let rest = futures_util::stream::try_unfold(
            (self, state, decryptor, first_end, range.end),
            |(doc, state, decryptor, at, end)| async move {
                if at >= end {
                    return Ok(None);
                }
                let next = end.min(at + READ_PIECE);
                let bytes = doc.read(&state, &decryptor, at..next).await?;
                Ok(Some((bytes, (doc, state, decryptor, next, end))))
            },
        );
        Ok(futures_util::stream::once(async move { Ok(first) }).chain(rest))
    }
}

fn corrupted(state: &AppState, doc: &OpenDocument, detail: String) -> AppError {
    tracing::error!(document = %doc.row.id, %detail, "document failed authentication or is damaged");
    state.metrics.documents_corrupted.inc();
    AppError::DocumentCorrupted
}

/// The owner's documents, newest first, with their titles opened.
pub async fn list(
    state: &AppState,
    owner: &account::Model,
) -> Result<Vec<(document::Model, String)>, AppError> {
    let key = crate::accounts::service::data_key(state, owner)?;
    let rows = repo::list_for_owner(&state.db, owner.id).await?;
    // A document replaced by a newer one of the same type and number is shown in the newer
    // one's history, not in the list (unless the newer one was deleted).
    let present: std::collections::HashSet<Uuid> = rows.iter().map(|r| r.id).collect();
    let replaced: std::collections::HashSet<Uuid> = repo::signatures_for_owner(&state.db, owner.id)
        .await?
        .into_iter()
        .filter(|s| {
            s.superseded_by
                .is_some_and(|newer| present.contains(&newer))
        })
        .map(|s| s.document_id)
        .collect();
    rows.into_iter()
        .filter(|row| !replaced.contains(&row.id))
        .map(|row| {
            let title =
                crypto::open_field(&key, &sealed_context(owner.id, row.id, "title"), &row.title)
                    .map_err(crypto_error)
                    .and_then(|b| String::from_utf8(b.to_vec()).map_err(AppError::internal))?;
            Ok((row, title))
        })
        .collect()
}

/// Bytes used and the quota.
pub async fn usage(state: &AppState, owner: &account::Model) -> Result<(u64, u64), AppError> {
    Ok((
        repo::usage(&state.db, owner.id).await?,
        state.config.storage_quota_bytes,
    ))
}

pub async fn rename(
    state: &AppState,
    owner: &account::Model,
    id: Uuid,
    title: &str,
) -> Result<(), AppError> {
    let title = clean_title(title)?;
    let opened = open_document(state, owner, id, Purpose::OwnerView).await?;
    let sealed = crypto::seal_field(
        &opened.key,
        &sealed_context(owner.id, id, "title"),
        title.as_bytes(),
    )
    .map_err(crypto_error)?;
    if !repo::rename(&state.db, id, owner.id, sealed, state.clock.now()).await? {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// Deletes a document: the row goes first (with a note of the blob in the upload table, so a
/// crash before the blob is gone leaves work for the sweep, never a dangling row), then the
/// blob.
pub async fn delete(state: &AppState, owner: &account::Model, id: Uuid) -> Result<(), AppError> {
    let row = repo::find(&state.db, id)
        .await?
        .filter(|r| r.owner_id == owner.id)
        .ok_or(AppError::NotFound)?;
    let tombstone = Uuid::now_v7();
    repo::start_upload(
        &state.db,
        upload::Model {
            id: tombstone,
            owner_id: owner.id,
            blob_key: row.blob_key.clone(),
            started_at: state.clock.now(),
        },
    )
    .await?;
    repo::delete(&state.db, id, owner.id).await?;
    let key = BlobKey::parse(row.blob_key).map_err(AppError::internal)?;
    state.blobs.delete(&key).await?;
    repo::abandon_upload(&state.db, tombstone).await?;
    state.metrics.record_document("deleted");
    Ok(())
}

/// Removes blobs of uploads that never completed and of deletions that did not finish, once
/// they are older than `grace`. Returns how many were removed.
pub async fn sweep(state: &AppState, grace: chrono::Duration) -> Result<u64, AppError> {
    let cutoff = state.clock.now() - grace;
    let mut removed = 0;
    for stale in repo::stale_uploads(&state.db, cutoff).await? {
        // A completed upload deletes its row in the same transaction, so anything here whose
        // blob is not referenced by a document is an orphan.
        let still_used = repo::find(&state.db, stale.id)
            .await?
            .is_some_and(|doc| doc.blob_key == stale.blob_key);
        if !still_used {
            let key = BlobKey::parse(stale.blob_key.clone()).map_err(AppError::internal)?;
            state.blobs.delete(&key).await?;
            removed += 1;
        }
        repo::abandon_upload(&state.db, stale.id).await?;
    }
    Ok(removed)
}

/// Deletes a citizen's account with crypto-shredding: in one transaction the account row — and
/// with it the only copy of the wrapped data key — is deleted together with its documents,
/// sessions and recovery codes, and every blob is noted for removal. From that moment nothing
/// of the vault can be decrypted, even from a backup of the blob store. The blobs are then
/// deleted (the sweep retries any that fail).
pub async fn delete_account(state: &AppState, owner: &account::Model) -> Result<(), AppError> {
    let documents = repo::list_for_owner(&state.db, owner.id).await?;
    let now = state.clock.now();
    let tombstones: Vec<upload::Model> = documents
        .iter()
        .map(|d| upload::Model {
            id: Uuid::now_v7(),
            owner_id: owner.id,
            blob_key: d.blob_key.clone(),
            started_at: now,
        })
        .collect();
    repo::shred_account(&state.db, owner.id, tombstones.clone()).await?;
    for tombstone in tombstones {
        let key = BlobKey::parse(tombstone.blob_key.clone()).map_err(AppError::internal)?;
        match state.blobs.delete(&key).await {
            Ok(()) => repo::abandon_upload(&state.db, tombstone.id).await?,
            Err(error) => tracing::warn!(%error, "blob of a deleted account left for the sweep"),
        }
    }
    state.metrics.record_document("account_shredded");
    Ok(())
}
