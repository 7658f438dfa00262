//! Misuse-report queries. Every function takes the caller's connection or transaction.

use chrono::{DateTime, Utc};
use entity::misuse_report;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

pub async fn insert(db: &impl ConnectionTrait, row: misuse_report::Model) -> Result<(), DbErr> {
    misuse_report::Entity::insert(misuse_report::ActiveModel::from(row))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn find(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<misuse_report::Model>, DbErr> {
    misuse_report::Entity::find_by_id(id).one(db).await
}

/// A citizen's reports, newest first.
pub async fn list_for_account(
    db: &impl ConnectionTrait,
    account: Uuid,
    limit: u64,
) -> Result<Vec<misuse_report::Model>, DbErr> {
    misuse_report::Entity::find()
        .filter(misuse_report::Column::AccountId.eq(account))
        .order_by_desc(misuse_report::Column::CreatedAt)
        .order_by_desc(misuse_report::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Reports with one status, oldest first (the inbox).
pub async fn list_by_status(
    db: &impl ConnectionTrait,
    status: &str,
    limit: u64,
) -> Result<Vec<misuse_report::Model>, DbErr> {
    misuse_report::Entity::find()
        .filter(misuse_report::Column::Status.eq(status))
        .order_by_asc(misuse_report::Column::CreatedAt)
        .order_by_asc(misuse_report::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The change a status move makes.
pub struct Move<'a> {
    pub id: Uuid,
    /// The statuses it may move from; if the row is in none of them nothing changes.
    pub from: &'a [&'a str],
    pub to: &'a str,
    pub answer: Option<Vec<u8>>,
    pub answered_by: Option<Uuid>,
    pub now: DateTime<Utc>,
}

/// Moves a report's status by compare-and-set: `true` if this call moved it. Two operators
/// acting at once: one moves it, the other finds it moved (PostgreSQL re-checks the condition
/// after the first commits; SQLite has one writer at a time).
pub async fn move_status(db: &impl ConnectionTrait, change: Move<'_>) -> Result<bool, DbErr> {
    use misuse_report::Column as C;
    let mut update = misuse_report::Entity::update_many()
        .col_expr(C::Status, Expr::value(change.to))
        .col_expr(C::UpdatedAt, Expr::value(change.now));
    if let Some(answer) = change.answer {
        update = update
            .col_expr(C::Answer, Expr::value(answer))
            .col_expr(C::AnsweredBy, Expr::value(change.answered_by))
            .col_expr(C::AnsweredAt, Expr::value(change.now));
    }
    let result = update
        .filter(C::Id.eq(change.id))
        .filter(C::Status.is_in(change.from.iter().copied()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
