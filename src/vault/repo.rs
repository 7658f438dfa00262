//! Document and upload rows. Never sees actix types.

use chrono::{DateTime, Utc};
use entity::{certification_request, document, document_signature, upload, vault_usage};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

pub use super::model::Position;

/// Makes sure the owner has a usage counter row (created at the first upload).
pub async fn ensure_usage(db: &impl ConnectionTrait, owner_id: Uuid) -> Result<(), DbErr> {
    vault_usage::Entity::insert(vault_usage::ActiveModel {
        account_id: Set(owner_id),
        used_bytes: Set(0),
        reserved_bytes: Set(0),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Bytes an owner's documents hold and bytes reserved by uploads in flight: one row by key.
pub async fn usage(db: &impl ConnectionTrait, owner_id: Uuid) -> Result<(u64, u64), DbErr> {
    let row = vault_usage::Entity::find_by_id(owner_id).one(db).await?;
    Ok(row.map_or((0, 0), |r| {
        (
            u64::try_from(r.used_bytes).unwrap_or(0),
            u64::try_from(r.reserved_bytes).unwrap_or(0),
        )
    }))
}

/// Reserves `bytes` of the owner's quota for an upload, only if stored plus reserved bytes stay
/// within `quota` — one conditional update, so parallel uploads cannot together pass the quota
/// (the row is locked by the first writer; the next one re-checks the condition against the
/// updated row). False when there is no room; the caller's transaction must then be rolled
/// back (the usage row may already have moved).
pub async fn reserve(
    db: &impl ConnectionTrait,
    upload_id: Uuid,
    owner_id: Uuid,
    bytes: u64,
    quota: u64,
) -> Result<bool, DbErr> {
    let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
    let quota = i64::try_from(quota).unwrap_or(i64::MAX);
    let reserved = vault_usage::Entity::update_many()
        .col_expr(
            vault_usage::Column::ReservedBytes,
            Expr::col(vault_usage::Column::ReservedBytes).add(bytes),
        )
        .filter(vault_usage::Column::AccountId.eq(owner_id))
        .filter(
            Expr::col(vault_usage::Column::UsedBytes)
                .add(Expr::col(vault_usage::Column::ReservedBytes))
                .add(bytes)
                .lte(quota),
        )
        .exec(db)
        .await?;
    if reserved.rows_affected != 1 {
        return Ok(false);
    }
    let noted = upload::Entity::update_many()
        .col_expr(
            upload::Column::ReservedBytes,
            Expr::col(upload::Column::ReservedBytes).add(bytes),
        )
        .filter(upload::Column::Id.eq(upload_id))
        .exec(db)
        .await?;
    Ok(noted.rows_affected == 1)
}

/// Takes the reservation off an upload row (compare-and-set, so two callers never both
/// release it) and returns how many bytes it held. Starts with a write that locks the row: on
/// PostgreSQL a second caller waits for the first; on SQLite the transaction holds the write
/// lock before it reads, so it never has to upgrade a stale read snapshot (which fails with
/// `SQLITE_BUSY_SNAPSHOT` instead of waiting).
async fn take_reservation(db: &impl ConnectionTrait, upload_id: Uuid) -> Result<i64, DbErr> {
    upload::Entity::update_many()
        .col_expr(
            upload::Column::ReservedBytes,
            Expr::col(upload::Column::ReservedBytes),
        )
        .filter(upload::Column::Id.eq(upload_id))
        .exec(db)
        .await?;
    let Some(row) = upload::Entity::find_by_id(upload_id).one(db).await? else {
        return Ok(0);
    };
    if row.reserved_bytes == 0 {
        return Ok(0);
    }
    let taken = upload::Entity::update_many()
        .col_expr(upload::Column::ReservedBytes, Expr::value(0i64))
        .filter(upload::Column::Id.eq(upload_id))
        .filter(upload::Column::ReservedBytes.eq(row.reserved_bytes))
        .exec(db)
        .await?;
    Ok(if taken.rows_affected == 1 {
        row.reserved_bytes
    } else {
        0
    })
}

/// Changes an owner's counters by `used` and `reserved` bytes (either may be negative).
async fn adjust_usage(
    db: &impl ConnectionTrait,
    owner_id: Uuid,
    used: i64,
    reserved: i64,
) -> Result<(), DbErr> {
    if used == 0 && reserved == 0 {
        return Ok(());
    }
    vault_usage::Entity::update_many()
        .col_expr(
            vault_usage::Column::UsedBytes,
            Expr::col(vault_usage::Column::UsedBytes).add(used),
        )
        .col_expr(
            vault_usage::Column::ReservedBytes,
            Expr::col(vault_usage::Column::ReservedBytes).add(reserved),
        )
        .filter(vault_usage::Column::AccountId.eq(owner_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives back an upload's reserved quota (the upload failed or was abandoned); the upload row
/// stays until its blob is gone.
pub async fn release_reservation(
    db: &impl ConnectionTrait,
    upload_id: Uuid,
    owner_id: Uuid,
) -> Result<(), DbErr> {
    let held = take_reservation(db, upload_id).await?;
    adjust_usage(db, owner_id, 0, -held).await
}

/// Notes the store's multipart upload id on an upload row (for the sweep to abort it).
pub async fn note_multipart(
    db: &impl ConnectionTrait,
    upload_id: Uuid,
    multipart_id: &str,
) -> Result<(), DbErr> {
    upload::Entity::update_many()
        .col_expr(upload::Column::MultipartId, Expr::value(multipart_id))
        .filter(upload::Column::Id.eq(upload_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn start_upload(db: &impl ConnectionTrait, row: upload::Model) -> Result<(), DbErr> {
    row.into_active_model().reset_all().insert(db).await?;
    Ok(())
}

pub async fn abandon_upload(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    upload::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// Records a finished document and forgets its upload row (in the caller's transaction),
/// settling the owner's usage: the document's size is counted as stored and the upload's
/// reservation given back.
pub async fn complete_upload(db: &impl ConnectionTrait, row: document::Model) -> Result<(), DbErr> {
    settle_upload(db, &row).await?;
    row.into_active_model().reset_all().insert(db).await?;
    Ok(())
}

/// Inside the transaction that records `row`: forgets its upload row and moves its bytes from
/// reserved to stored.
async fn settle_upload(db: &impl ConnectionTrait, row: &document::Model) -> Result<(), DbErr> {
    let held = take_reservation(db, row.id).await?;
    upload::Entity::delete_by_id(row.id).exec(db).await?;
    ensure_usage(db, row.owner_id).await?;
    adjust_usage(db, row.owner_id, row.size_bytes, -held).await
}

/// Uploads started before `cutoff` that never completed.
pub async fn stale_uploads(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<Vec<upload::Model>, DbErr> {
    upload::Entity::find()
        .filter(upload::Column::StartedAt.lt(cutoff))
        .all(db)
        .await
}

pub async fn list_for_owner(
    db: &impl ConnectionTrait,
    owner_id: Uuid,
) -> Result<Vec<document::Model>, DbErr> {
    document::Entity::find()
        .filter(document::Column::OwnerId.eq(owner_id))
        .order_by_desc(document::Column::CreatedAt)
        .order_by_desc(document::Column::Id)
        .all(db)
        .await
}

/// The owner's documents of these types, newest first (what a citizen may pick to share).
pub async fn of_types(
    db: &impl ConnectionTrait,
    owner: Uuid,
    types: &[String],
    limit: u64,
) -> Result<Vec<document::Model>, DbErr> {
    document::Entity::find()
        .filter(document::Column::OwnerId.eq(owner))
        .filter(document::Column::DocType.is_in(types.iter().cloned()))
        .order_by_desc(document::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<document::Model>, DbErr> {
    document::Entity::find_by_id(id).one(db).await
}

/// A document and its owner's account, in one query (a reader other than the owner needs the
/// owner's key).
pub async fn find_with_owner(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<(document::Model, entity::account::Model)>, DbErr> {
    let to_owner: sea_orm::RelationDef = document::Entity::belongs_to(entity::account::Entity)
        .from(document::Column::OwnerId)
        .to(entity::account::Column::Id)
        .into();
    let found = document::Entity::find_by_id(id)
        .join(sea_orm::JoinType::InnerJoin, to_owner)
        .select_also(entity::account::Entity)
        .one(db)
        .await?;
    Ok(found.and_then(|(row, owner)| owner.map(|owner| (row, owner))))
}

pub async fn rename(
    db: &impl ConnectionTrait,
    id: Uuid,
    owner_id: Uuid,
    sealed_title: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = document::Entity::update_many()
        .col_expr(document::Column::Title, Expr::value(sealed_title))
        .col_expr(document::Column::UpdatedAt, Expr::value(now))
        .filter(document::Column::Id.eq(id))
        .filter(document::Column::OwnerId.eq(owner_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes a document row and takes its size off the owner's usage (in the caller's
/// transaction). False when the row was already gone.
pub async fn delete(db: &impl ConnectionTrait, row: &document::Model) -> Result<bool, DbErr> {
    let result = document::Entity::delete_many()
        .filter(document::Column::Id.eq(row.id))
        .filter(document::Column::OwnerId.eq(row.owner_id))
        .exec(db)
        .await?;
    if result.rows_affected != 1 {
        return Ok(false);
    }
    adjust_usage(db, row.owner_id, -row.size_bytes, 0).await?;
    Ok(true)
}

/// How many documents an owner has.
pub async fn count_for_owner(db: &impl ConnectionTrait, owner_id: Uuid) -> Result<u64, DbErr> {
    document::Entity::find()
        .filter(document::Column::OwnerId.eq(owner_id))
        .count(db)
        .await
}

/// Which way a page goes from a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Documents older than the position (the next page, newest first).
    Older(Position),
    /// Documents newer than the position (the previous page).
    Newer(Position),
}

/// What the list asks for.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    pub doc_type: Option<String>,
    pub source: Option<String>,
    pub from: Option<Direction>,
}

/// One page of an owner's listed documents, newest first: at most `limit` rows, and whether
/// more lie beyond the page in the direction asked. A document replaced by a newer one of the
/// same type and number is left out (it shows in the newer one's history) unless the newer one
/// was deleted. Keyset paging on `idx_document_owner_created`: the cost does not grow with the
/// vault.
pub async fn page_for_owner(
    db: &impl ConnectionTrait,
    owner_id: Uuid,
    query: &PageQuery,
    limit: u64,
) -> Result<(Vec<document::Model>, bool), DbErr> {
    let mut select = document::Entity::find()
        .filter(document::Column::OwnerId.eq(owner_id))
        .filter(Expr::cust(
            "NOT EXISTS (SELECT 1 FROM document_signature s \
             JOIN document newer ON newer.id = s.superseded_by \
             WHERE s.document_id = document.id)",
        ));
    if let Some(doc_type) = &query.doc_type {
        select = select.filter(document::Column::DocType.eq(doc_type.as_str()));
    }
    if let Some(source) = &query.source {
        select = select.filter(document::Column::Source.eq(source.as_str()));
    }
    let newer = matches!(query.from, Some(Direction::Newer(_)));
    select = match query.from {
        Some(Direction::Older(at)) => select.filter(
            Condition::any()
                .add(document::Column::CreatedAt.lt(at.created_at))
                .add(
                    Condition::all()
                        .add(document::Column::CreatedAt.eq(at.created_at))
                        .add(document::Column::Id.lt(at.id)),
                ),
        ),
        Some(Direction::Newer(at)) => select.filter(
            Condition::any()
                .add(document::Column::CreatedAt.gt(at.created_at))
                .add(
                    Condition::all()
                        .add(document::Column::CreatedAt.eq(at.created_at))
                        .add(document::Column::Id.gt(at.id)),
                ),
        ),
        None => select,
    };
    select = if newer {
        select
            .order_by_asc(document::Column::CreatedAt)
            .order_by_asc(document::Column::Id)
    } else {
        select
            .order_by_desc(document::Column::CreatedAt)
            .order_by_desc(document::Column::Id)
    };
    let mut rows = select.limit(limit + 1).all(db).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    if newer {
        rows.reverse();
    }
    Ok((rows, more))
}

/// Deletes an account (its documents, sessions and recovery codes cascade) and records its
/// blobs for removal, inside the caller's transaction.
pub async fn shred_account(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    tombstones: Vec<upload::Model>,
) -> Result<(), DbErr> {
    for tombstone in tombstones {
        tombstone
            .into_active_model()
            .reset_all()
            .insert(conn)
            .await?;
    }
    document::Entity::delete_many()
        .filter(document::Column::OwnerId.eq(account_id))
        .exec(conn)
        .await?;
    entity::account::Entity::delete_by_id(account_id)
        .exec(conn)
        .await?;
    Ok(())
}

/// Records an issued document with its signature record and marks the documents it supersedes,
/// forgetting the upload row, in the caller's transaction.
pub async fn complete_signed_upload(
    db: &impl ConnectionTrait,
    row: document::Model,
    signature: document_signature::Model,
    supersedes: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    settle_upload(db, &row).await?;
    let new_id = row.id;
    row.into_active_model().reset_all().insert(db).await?;
    signature.into_active_model().reset_all().insert(db).await?;
    if !supersedes.is_empty() {
        document_signature::Entity::update_many()
            .col_expr(
                document_signature::Column::SupersededBy,
                Expr::value(new_id),
            )
            .col_expr(document_signature::Column::SupersededAt, Expr::value(now))
            .filter(document_signature::Column::DocumentId.is_in(supersedes.iter().copied()))
            .filter(document_signature::Column::SupersededBy.is_null())
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Signature records of an owner's current (not superseded) documents of one type.
pub async fn current_signed(
    db: &impl ConnectionTrait,
    owner_id: Uuid,
    doc_type: &str,
) -> Result<Vec<document_signature::Model>, DbErr> {
    document_signature::Entity::find()
        .filter(document_signature::Column::OwnerId.eq(owner_id))
        .filter(document_signature::Column::DocType.eq(doc_type))
        .filter(document_signature::Column::SupersededBy.is_null())
        .all(db)
        .await
}

/// Every signature record of an owner (for list badges and history).
pub async fn signatures_for_owner(
    db: &impl ConnectionTrait,
    owner_id: Uuid,
) -> Result<Vec<document_signature::Model>, DbErr> {
    document_signature::Entity::find()
        .filter(document_signature::Column::OwnerId.eq(owner_id))
        .order_by_desc(document_signature::Column::AcceptedAt)
        .all(db)
        .await
}

pub async fn find_signature(
    db: &impl ConnectionTrait,
    document_id: Uuid,
) -> Result<Option<document_signature::Model>, DbErr> {
    document_signature::Entity::find_by_id(document_id)
        .one(db)
        .await
}

/// Marks an open certification request used; false if it was used already.
pub async fn complete_certification_request(
    db: &impl ConnectionTrait,
    request_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let used = certification_request::Entity::update_many()
        .col_expr(certification_request::Column::CompletedAt, Expr::value(now))
        .filter(certification_request::Column::Id.eq(request_id))
        .filter(certification_request::Column::CompletedAt.is_null())
        .exec(db)
        .await?;
    Ok(used.rows_affected == 1)
}

/// Records a certified copy: the document goes from `self` to `certified` (compare-and-set)
/// and its signature is stored; false, writing nothing, if it was no longer self-uploaded.
pub async fn record_certified_copy(
    db: &impl ConnectionTrait,
    signature: document_signature::Model,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let marked = document::Entity::update_many()
        .col_expr(document::Column::Source, Expr::value("certified"))
        .col_expr(document::Column::UpdatedAt, Expr::value(now))
        .filter(document::Column::Id.eq(signature.document_id))
        .filter(document::Column::Source.eq("self"))
        .exec(db)
        .await?;
    if marked.rows_affected != 1 {
        return Ok(false);
    }
    signature.into_active_model().reset_all().insert(db).await?;
    Ok(true)
}

pub async fn insert_certification_request(
    db: &impl ConnectionTrait,
    row: certification_request::Model,
) -> Result<(), DbErr> {
    row.into_active_model().reset_all().insert(db).await?;
    Ok(())
}

pub async fn find_certification_request(
    db: &impl ConnectionTrait,
    code_hash: &str,
) -> Result<Option<certification_request::Model>, DbErr> {
    certification_request::Entity::find()
        .filter(certification_request::Column::CodeHash.eq(code_hash))
        .one(db)
        .await
}

/// Binds an open request to the clerk who entered its code, unless another clerk holds it
/// already (compare-and-set, so two clerks typing the same code at once cannot both win).
/// Returns whether `clerk` now holds it.
pub async fn claim_certification_request(
    db: &impl ConnectionTrait,
    id: Uuid,
    clerk: Uuid,
    agency: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let claimed = certification_request::Entity::update_many()
        .col_expr(certification_request::Column::ClaimedBy, Expr::value(clerk))
        .col_expr(
            certification_request::Column::ClaimedAgencyId,
            Expr::value(agency),
        )
        .col_expr(certification_request::Column::ClaimedAt, Expr::value(now))
        .filter(certification_request::Column::Id.eq(id))
        .filter(certification_request::Column::CompletedAt.is_null())
        .filter(certification_request::Column::ClaimedBy.is_null())
        .exec(db)
        .await?;
    if claimed.rows_affected == 1 {
        return Ok(true);
    }
    // Entering one's own code again is fine.
    Ok(certification_request::Entity::find_by_id(id)
        .one(db)
        .await?
        .is_some_and(|r| r.claimed_by == Some(clerk) && r.claimed_agency_id == Some(agency)))
}

pub async fn find_certification_request_by_id(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<certification_request::Model>, DbErr> {
    certification_request::Entity::find_by_id(id).one(db).await
}

/// Removes certification requests that ended before `cutoff`.
pub async fn delete_stale_certification_requests(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let result = certification_request::Entity::delete_many()
        .filter(certification_request::Column::ExpiresAt.lt(cutoff))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
