//! Vault rules: storing a document (type check, size limit, quota, streaming encryption,
//! crash-safe bookkeeping), renaming, deleting. Every read goes through `crate::access`, the
//! one door; changes commit their access-log entry in the same transaction.

use bytes::Bytes;
use entity::{account, document, upload};
use futures_util::{Stream, StreamExt};
use sea_orm::TransactionTrait;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::model::{self, DocumentType};
use super::repo;
use crate::access::{self, DocumentId, Purpose, Reader};
use crate::audit::{Action, Entry, Object};
use crate::crypto::{
    self, DEFAULT_CHUNK_SIZE, DataKey, FieldContext, StreamContext, StreamEncryptor,
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

/// Reserves quota for an upload in its own transaction (see [`repo::reserve`]).
async fn reserve(
    state: &AppState,
    upload_id: Uuid,
    owner_id: Uuid,
    bytes: u64,
    quota: u64,
) -> Result<bool, AppError> {
    let txn = state.db.begin().await?;
    if repo::reserve(&txn, upload_id, owner_id, bytes, quota).await? {
        txn.commit().await?;
        Ok(true)
    } else {
        txn.rollback().await?;
        Ok(false)
    }
}

/// Gives an upload's reservation back, in its own transaction.
async fn release(state: &AppState, upload_id: Uuid, owner_id: Uuid) -> Result<(), AppError> {
    let txn = state.db.begin().await?;
    repo::release_reservation(&txn, upload_id, owner_id).await?;
    txn.commit().await?;
    Ok(())
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
            if ahead > 0 && reserve(state, id, owner.id, ahead, quota).await? {
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
                if reserve(state, id, owner.id, ahead, quota).await? {
                    reserved += ahead;
                } else if ahead > need && reserve(state, id, owner.id, need, quota).await? {
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
    let recorded = async {
        let txn = access::begin_logged(state).await?;
        repo::complete_upload(&txn, row.clone()).await?;
        let entry = Entry::by_owner(
            owner.id,
            Action::DocumentUpload,
            access::door::document_object(&row)?,
        );
        access::door::commit_logged(state, txn, &entry).await
    }
    .await;
    if let Err(error) = recorded {
        discard(state, owner, written).await;
        return Err(error);
    }
    state.metrics.record_document("stored");
    Ok(row)
}

/// Gives back the reservation, then removes (best effort) a blob that will never be recorded;
/// the upload row stays for the sweep if the removal fails.
async fn forget_blob(state: &AppState, upload_id: Uuid, owner_id: Uuid, key: &BlobKey) {
    if let Err(error) = release(state, upload_id, owner_id).await {
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

/// Bytes stored and the quota (one read of the usage counter).
pub async fn usage(state: &AppState, owner: &account::Model) -> Result<(u64, u64), AppError> {
    let (used, _reserved) = repo::usage(&state.db, owner.id).await?;
    Ok((used, state.config.storage_quota_bytes))
}

pub async fn rename(
    state: &AppState,
    owner: &account::Model,
    id: DocumentId,
    title: &str,
) -> Result<(), AppError> {
    let title = clean_title(title)?;
    let visit = access::enter(state, &Reader::Owner(owner), id, Purpose::Rename).await?;
    let sealed = visit.document().seal_title(&title)?;
    if !repo::rename(visit.txn(), id.0, owner.id, sealed, state.clock.now()).await? {
        return Err(AppError::NotFound);
    }
    visit.finish().await?;
    Ok(())
}

/// Deletes a document: the row goes first (with a note of the blob in the upload table, so a
/// crash before the blob is gone leaves work for the sweep, never a dangling row), together
/// with its access-log entry, then the blob.
pub async fn delete(
    state: &AppState,
    owner: &account::Model,
    id: DocumentId,
) -> Result<(), AppError> {
    let visit = access::enter(state, &Reader::Owner(owner), id, Purpose::Delete).await?;
    let row = visit.document().row.clone();
    let tombstone = Uuid::now_v7();
    repo::start_upload(
        visit.txn(),
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
    if !repo::delete(visit.txn(), &row).await? {
        return Err(AppError::NotFound);
    }
    visit.finish().await?;
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
        release(state, stale.id, stale.owner_id).await?;
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
    // The deletion itself is the chain's last entry, appended after the erasure so it stays
    // readable: the platform's evidence that the account was deleted at the owner's request.
    let txn = access::begin_logged(state).await?;
    repo::shred_account(&txn, owner.id, tombstones.clone()).await?;
    crate::audit::service::erase(&txn, owner.id, None, now).await?;
    let entry = Entry::by_owner(owner.id, Action::AccountDelete, Object::Account);
    access::door::commit_logged(state, txn, &entry).await?;
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
