//! Document and upload rows. Never sees actix types.

use chrono::{DateTime, Utc};
use entity::{document, upload};
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
