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
/// component, hidden control characters removed, at most 255 characters; `.` and `..` become
/// empty (the download then falls back to the title).
pub fn clean_file_name(raw: &str) -> String {
    let name = raw
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !crate::text::is_hidden_control(*c))
        .take(255)
        .collect::<String>()
        .trim()
        .to_owned();
    if name == "." || name == ".." {
        return String::new();
    }
    name
}

/// Checks a title: 1..=200 characters after trimming, hidden control characters removed.
pub fn clean_title(raw: &str) -> Result<String, AppError> {
    let visible: String = raw
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !crate::text::is_hidden_control(*c))
        .collect();
    let title = visible.split_whitespace().collect::<Vec<_>>().join(" ");
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
    /// The owner's quota: bytes are reserved against it while they stream in; `None` when the
    /// quota does not apply (documents the state issues must arrive even into a full vault).
    pub quota: Option<u64>,
    /// An upper bound of the size known before the content arrives (the request's
    /// `Content-Length`): reserved at once when the quota has room for it, so parallel uploads
    /// near the quota are served first come, first served instead of all stalling part-way.
    pub expected_size: Option<u64>,
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

/// Quota reserved at a time while an upload streams in (fewer database writes than one per
/// chunk); near the quota only what is needed is reserved.
pub const RESERVE_STEP: u64 = 1024 * 1024;

/// Writes content for a new document of `owner`: notes the upload first, checks size and type
/// while streaming, reserves quota ahead of the bytes (so parallel uploads cannot together pass
/// it), encrypts chunk by chunk. On failure the reservation is given back, the partial blob is
/// removed (or, after a crash, by the sweep) and nothing is recorded. The caller records the
/// document with [`repo::complete_upload`], which settles the reservation (or discards it with
/// [`discard`]).
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
    repo::ensure_usage(&state.db, owner.id).await?;
    repo::start_upload(
        &state.db,
        upload::Model {
            id,
            owner_id: owner.id,
            blob_key: key_name.as_str().to_owned(),
            started_at: state.clock.now(),
            reserved_bytes: 0,
            multipart_id: None,
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
        let mut reserved: u64 = 0;
        let mut noted_multipart = false;
        if let (Some(quota), Some(expected)) = (rules.quota, rules.expected_size) {
            let ahead = expected.min(rules.limit);
            if ahead > 0 && repo::reserve(&state.db, id, owner.id, ahead, quota).await? {
                reserved = ahead;
            }
        }
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
            if let Some(quota) = rules.quota
                && size > reserved
            {
                let need = size - reserved;
                let ahead = need.max(RESERVE_STEP).min(rules.limit - reserved);
                if repo::reserve(&state.db, id, owner.id, ahead, quota).await? {
                    reserved += ahead;
                } else if ahead > need
                    && repo::reserve(&state.db, id, owner.id, need, quota).await?
                {
                    reserved += need;
                } else {
                    return Err(AppError::field("file", "quota_exceeded"));
                }
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
                if !noted_multipart && let Some(multipart) = writer.multipart_id() {
                    // Recorded so the sweep can abort the multipart upload after a crash.
                    repo::note_multipart(&state.db, id, multipart).await?;
                    noted_multipart = true;
                }
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
            forget_blob(state, id, owner.id, &key_name).await;
            return Err(error);
        }
    };
    let blob_bytes = match writer.finish().await {
        Ok(bytes) => bytes,
        Err(error) => {
            forget_blob(state, id, owner.id, &key_name).await;
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
pub async fn discard(state: &AppState, owner: &account::Model, written: Written) {
    forget_blob(state, written.id, owner.id, &written.blob_key).await;
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

/// Stores a file a citizen uploads: title and file name cleaned, type judged by content, size
/// limit and quota enforced while streaming; the document is recorded only once the blob is
/// complete.
pub async fn store_document<S, E>(
    state: &AppState,
    owner: &account::Model,
    new: NewDocument,
    expected_size: Option<u64>,
    body: S,
) -> Result<document::Model, AppError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let new = NewDocument {
        doc_type: new.doc_type,
        title: clean_title(&new.title)?,
        file_name: clean_file_name(&new.file_name),
    };
    let rules = ContentRules {
        limit: state.config.max_upload_bytes,
        quota: Some(state.config.storage_quota_bytes),
        expected_size,
        content_type: None,
    };
    let data_key = crate::accounts::service::data_key(state, owner)?;
    let written = write_content(state, owner, &data_key, rules, body).await?;
    let row = match document_row(state, owner, &data_key, &written, &new, "self") {
        Ok(row) => row,
        Err(error) => {
            discard(state, owner, written).await;
            return Err(error);
        }
    };
    if let Err(error) = repo::complete_upload(&state.db, row.clone()).await {
        discard(state, owner, written).await;
        return Err(error.into());
    }
    state.metrics.record_document("stored");
    Ok(row)
}

/// Gives back the reservation, then removes (best effort) a blob that will never be recorded;
/// the upload row stays for the sweep if the removal fails.
async fn forget_blob(state: &AppState, upload_id: Uuid, owner_id: Uuid, key: &BlobKey) {
    if let Err(error) = repo::release_reservation(&state.db, upload_id, owner_id).await {
        tracing::warn!(%error, "could not release an upload's quota; the sweep will");
    }
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
        // The row knows the blob's length: no stat per read. A blob shorter than recorded fails
        // the range read below, one of another length fails authentication (the chunk
        // positions and the final-chunk flag are bound into each tag).
        let blob_len = u64::try_from(self.row.blob_bytes).map_err(AppError::internal)?;
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
        let ciphertext = match state
            .blobs
            .get_range(&key, wanted.offset..wanted.offset + wanted.len)
            .await
        {
            Ok(bytes) => bytes,
            // Only when a read fails is the blob's length asked for: shorter than the row says
            // (or gone) is damage, anything else an unavailable store.
            Err(error) => {
                return Err(match state.blobs.size(&key).await {
                    Ok(Some(actual)) if actual == blob_len => error.into(),
                    Ok(actual) => corrupted(
                        state,
                        self,
                        format!("blob holds {actual:?} bytes, expected {blob_len}"),
                    ),
                    Err(_) => error.into(),
                });
            }
        };
        if ciphertext.len() as u64 != wanted.len {
            return Err(corrupted(
                state,
                self,
                format!("read {} bytes, expected {}", ciphertext.len(), wanted.len),
            ));
        }
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

/// Documents on one page of the list.
pub const PAGE_SIZE: u64 = 25;

/// One page of the owner's documents, newest first, with only this page's titles opened.
#[derive(Debug)]
pub struct DocumentPage {
    pub rows: Vec<(document::Model, String)>,
    /// Where the page of older documents starts, if there is one.
    pub older: Option<repo::Position>,
    /// Where the page of newer documents starts, if there is one.
    pub newer: Option<repo::Position>,
}

/// A page of the owner's documents (see [`repo::page_for_owner`]): only the owner's rows are
/// ever read, whatever position the query names.
pub async fn page(
    state: &AppState,
    owner: &account::Model,
    query: &repo::PageQuery,
) -> Result<DocumentPage, AppError> {
    let (rows, more) = repo::page_for_owner(&state.db, owner.id, query, PAGE_SIZE).await?;
    let position = |row: &document::Model| repo::Position {
        created_at: row.created_at,
        id: row.id,
    };
    let (older, newer) = match query.from {
        None => (more.then(|| rows.last().map(position)).flatten(), None),
        Some(repo::Direction::Older(_)) => (
            more.then(|| rows.last().map(position)).flatten(),
            rows.first().map(position),
        ),
        Some(repo::Direction::Newer(_)) => (
            rows.last().map(position),
            more.then(|| rows.first().map(position)).flatten(),
        ),
    };
    let key = crate::accounts::service::data_key(state, owner)?;
    let rows = rows
        .into_iter()
        .map(|row| {
            let title =
                crypto::open_field(&key, &sealed_context(owner.id, row.id, "title"), &row.title)
                    .map_err(crypto_error)
                    .and_then(|b| String::from_utf8(b.to_vec()).map_err(AppError::internal))?;
            Ok((row, title))
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok(DocumentPage { rows, older, newer })
}

/// Bytes stored and the quota (one read of the usage counter).
pub async fn usage(state: &AppState, owner: &account::Model) -> Result<(u64, u64), AppError> {
    let (used, _reserved) = repo::usage(&state.db, owner.id).await?;
    Ok((used, state.config.storage_quota_bytes))
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
            reserved_bytes: 0,
            multipart_id: None,
        },
    )
    .await?;
    repo::delete(&state.db, &row).await?;
    let key = BlobKey::parse(row.blob_key).map_err(AppError::internal)?;
    state.blobs.delete(&key).await?;
    repo::abandon_upload(&state.db, tombstone).await?;
    state.metrics.record_document("deleted");
    Ok(())
}

/// Removes blobs of uploads that never completed (a crash, a killed server) and of deletions
/// that did not finish, once they are older than `grace`: gives back the quota the upload
/// reserved, deletes the blob, and removes what an interrupted multipart write left in the
/// store (local staging files, an S3 multipart upload). Returns how many blobs were removed.
pub async fn sweep(state: &AppState, grace: chrono::Duration) -> Result<u64, AppError> {
    let cutoff = state.clock.now() - grace;
    let mut removed = 0;
    for stale in repo::stale_uploads(&state.db, cutoff).await? {
        repo::release_reservation(&state.db, stale.id, stale.owner_id).await?;
        // A completed upload deletes its row in the same transaction, so anything here whose
        // blob is not referenced by a document is an orphan.
        let still_used = repo::find(&state.db, stale.id)
            .await?
            .is_some_and(|doc| doc.blob_key == stale.blob_key);
        if !still_used {
            let key = BlobKey::parse(stale.blob_key.clone()).map_err(AppError::internal)?;
            state.blobs.delete(&key).await?;
            let parts = state
                .blobs
                .remove_leftovers(&key, stale.multipart_id.as_deref())
                .await?;
            if parts > 0 {
                tracing::info!(blob = %key, parts, "removed what an interrupted upload left");
            }
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
            reserved_bytes: 0,
            multipart_id: None,
        })
        .collect();
    // One transaction: the account with its wrapped key and documents goes, and the readable
    // content of its access log is erased (the salted hashes stay, so every proof still holds).
    let txn = sea_orm::TransactionTrait::begin(&state.db).await?;
    repo::shred_account(&txn, owner.id, tombstones.clone()).await?;
    crate::audit::service::erase(&txn, owner.id, None, now).await?;
    txn.commit().await?;
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
