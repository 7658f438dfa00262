//! Document and upload rows. Never sees actix types.

use chrono::{DateTime, Utc};
use entity::{certification_request, document, document_signature, upload};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

pub async fn start_upload(db: &impl ConnectionTrait, row: upload::Model) -> Result<(), DbErr> {
    row.into_active_model().reset_all().insert(db).await?;
    Ok(())
}

pub async fn abandon_upload(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    upload::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// Records a finished document and forgets its upload row, in one transaction.
pub async fn complete_upload<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    row: document::Model,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    upload::Entity::delete_by_id(row.id).exec(&txn).await?;
    row.into_active_model().reset_all().insert(&txn).await?;
    txn.commit().await
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

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<document::Model>, DbErr> {
    document::Entity::find_by_id(id).one(db).await
}

/// Bytes a citizen stores (plaintext sizes of their documents).
pub async fn usage(db: &impl ConnectionTrait, owner_id: Uuid) -> Result<u64, DbErr> {
    let sizes: Vec<i64> = document::Entity::find()
        .select_only()
        .column(document::Column::SizeBytes)
        .filter(document::Column::OwnerId.eq(owner_id))
        .into_tuple()
        .all(db)
        .await?;
    Ok(sizes
        .into_iter()
        .map(|s| u64::try_from(s).unwrap_or(0))
        .sum())
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

pub async fn delete(db: &impl ConnectionTrait, id: Uuid, owner_id: Uuid) -> Result<bool, DbErr> {
    let result = document::Entity::delete_many()
        .filter(document::Column::Id.eq(id))
        .filter(document::Column::OwnerId.eq(owner_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes an account (its documents, sessions and recovery codes cascade) and records its
/// blobs for removal, in one transaction.
pub async fn shred_account<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    account_id: Uuid,
    tombstones: Vec<upload::Model>,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    for tombstone in tombstones {
        tombstone
            .into_active_model()
            .reset_all()
            .insert(&txn)
            .await?;
    }
    document::Entity::delete_many()
        .filter(document::Column::OwnerId.eq(account_id))
        .exec(&txn)
        .await?;
    entity::account::Entity::delete_by_id(account_id)
        .exec(&txn)
        .await?;
    txn.commit().await
}

/// Records an issued document with its signature record and marks the documents it supersedes,
/// forgetting the upload row, in one transaction.
pub async fn complete_signed_upload<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    row: document::Model,
    signature: document_signature::Model,
    supersedes: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    upload::Entity::delete_by_id(row.id).exec(&txn).await?;
    let new_id = row.id;
    row.into_active_model().reset_all().insert(&txn).await?;
    signature
        .into_active_model()
        .reset_all()
        .insert(&txn)
        .await?;
    if !supersedes.is_empty() {
        document_signature::Entity::update_many()
            .col_expr(
                document_signature::Column::SupersededBy,
                Expr::value(new_id),
            )
            .col_expr(document_signature::Column::SupersededAt, Expr::value(now))
            .filter(document_signature::Column::DocumentId.is_in(supersedes.iter().copied()))
            .filter(document_signature::Column::SupersededBy.is_null())
            .exec(&txn)
            .await?;
    }
    txn.commit().await
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

/// Records a certification: the signature record, the document's source becomes `certified`,
/// and the request is used up — only if it was still open (compare-and-set), in one
/// transaction. False when the request was already used.
pub async fn record_certification<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    request_id: Uuid,
    signature: document_signature::Model,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    let used = certification_request::Entity::update_many()
        .col_expr(certification_request::Column::CompletedAt, Expr::value(now))
        .filter(certification_request::Column::Id.eq(request_id))
        .filter(certification_request::Column::CompletedAt.is_null())
        .exec(&txn)
        .await?;
    if used.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(false);
    }
    document::Entity::update_many()
        .col_expr(document::Column::Source, Expr::value("certified"))
        .col_expr(document::Column::UpdatedAt, Expr::value(now))
        .filter(document::Column::Id.eq(signature.document_id))
        .filter(document::Column::Source.eq("self"))
        .exec(&txn)
        .await?;
    signature
        .into_active_model()
        .reset_all()
        .insert(&txn)
        .await?;
    txn.commit().await?;
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
