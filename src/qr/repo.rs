//! Queries of QR identity rows. Every function takes the caller's connection: the service
//! decides what runs in one transaction.

use chrono::{DateTime, Utc};
use entity::{qr_handle, qr_scan, qr_token_use};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

/// Inserts the account's handle unless it has one (two first visits at once keep one).
pub async fn insert_handle_if_none(
    conn: &impl ConnectionTrait,
    row: qr_handle::Model,
) -> Result<(), DbErr> {
    let active: qr_handle::ActiveModel = row.into();
    qr_handle::Entity::insert(active)
        .on_conflict_do_nothing_on([qr_handle::Column::AccountId])
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn handle_of(
    conn: &impl ConnectionTrait,
    account: Uuid,
) -> Result<Option<qr_handle::Model>, DbErr> {
    qr_handle::Entity::find_by_id(account).one(conn).await
}

pub async fn find_by_handle(
    conn: &impl ConnectionTrait,
    handle: &str,
) -> Result<Option<qr_handle::Model>, DbErr> {
    qr_handle::Entity::find()
        .filter(qr_handle::Column::Handle.eq(handle))
        .one(conn)
        .await
}

/// Records a token's use: fails with a unique violation if it was already used.
pub async fn insert_use(
    conn: &impl ConnectionTrait,
    row: qr_token_use::Model,
) -> Result<(), DbErr> {
    let active: qr_token_use::ActiveModel = row.into();
    qr_token_use::Entity::insert(active)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Forgets uses of tokens expired before `before` (they are refused as expired anyway).
pub async fn delete_uses_expired_before(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let result = qr_token_use::Entity::delete_many()
        .filter(qr_token_use::Column::ExpiresAt.lt(before))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

pub async fn insert_scan(conn: &impl ConnectionTrait, row: qr_scan::Model) -> Result<(), DbErr> {
    let active: qr_scan::ActiveModel = row.into();
    qr_scan::Entity::insert(active)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn find_scan(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<qr_scan::Model>, DbErr> {
    qr_scan::Entity::find_by_id(id).one(conn).await
}
