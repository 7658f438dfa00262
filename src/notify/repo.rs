//! Queries of the inbox and of people's notification contacts. Never begins a transaction.

use chrono::{DateTime, Utc};
use entity::{notification, notify_contact};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

/// Puts a message in the inbox; a second insert of the same id does nothing.
pub async fn insert(db: &impl ConnectionTrait, row: notification::Model) -> Result<(), DbErr> {
    let active = notification::ActiveModel {
        id: ActiveValue::Set(row.id),
        account_id: ActiveValue::Set(row.account_id),
        kind: ActiveValue::Set(row.kind),
        params: ActiveValue::Set(row.params),
        created_at: ActiveValue::Set(row.created_at),
        read_at: ActiveValue::Set(row.read_at),
    };
    let result = notification::Entity::insert(active)
        .on_conflict(
            OnConflict::column(notification::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await;
    match result {
        Ok(_) | Err(DbErr::RecordNotInserted) => Ok(()),
        Err(error) => Err(error),
    }
}

/// The newest `limit` messages of an account.
pub async fn newest(
    db: &impl ConnectionTrait,
    account: Uuid,
    limit: u64,
) -> Result<Vec<notification::Model>, DbErr> {
    notification::Entity::find()
        .filter(notification::Column::AccountId.eq(account))
        .order_by_desc(notification::Column::CreatedAt)
        .order_by_desc(notification::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Marks one message (`Some(id)`) or all of an account's messages read; returns how many
/// changed. Another account's message is never touched.
pub async fn mark_read(
    db: &impl ConnectionTrait,
    account: Uuid,
    id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut update = notification::Entity::update_many()
        .col_expr(notification::Column::ReadAt, Expr::value(now))
        .filter(notification::Column::AccountId.eq(account))
        .filter(notification::Column::ReadAt.is_null());
    if let Some(id) = id {
        update = update.filter(notification::Column::Id.eq(id));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// Deletes messages created before `before` (the 90-day retention).
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(notification::Entity::delete_many()
        .filter(notification::Column::CreatedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

pub async fn contact(
    db: &impl ConnectionTrait,
    account: Uuid,
) -> Result<Option<notify_contact::Model>, DbErr> {
    notify_contact::Entity::find_by_id(account).one(db).await
}

/// Writes an account's contact row (insert or replace).
pub async fn save_contact(
    db: &impl ConnectionTrait,
    row: notify_contact::Model,
) -> Result<(), DbErr> {
    let active = notify_contact::ActiveModel {
        account_id: ActiveValue::Set(row.account_id),
        email: ActiveValue::Set(row.email),
        phone: ActiveValue::Set(row.phone),
        lang: ActiveValue::Set(row.lang),
        disabled: ActiveValue::Set(row.disabled),
        updated_at: ActiveValue::Set(row.updated_at),
    };
    notify_contact::Entity::insert(active)
        .on_conflict(
            OnConflict::column(notify_contact::Column::AccountId)
                .update_columns([
                    notify_contact::Column::Email,
                    notify_contact::Column::Phone,
                    notify_contact::Column::Lang,
                    notify_contact::Column::Disabled,
                    notify_contact::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}
