//! Session rows. Never sees actix types.

use chrono::{DateTime, Utc};
use entity::session;
use sea_orm::ExprTrait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

pub async fn insert(db: &impl ConnectionTrait, row: session::Model) -> Result<(), DbErr> {
    session::ActiveModel {
        id: Set(row.id),
        token_hash: Set(row.token_hash),
        account_id: Set(row.account_id),
        stage: Set(row.stage),
        created_at: Set(row.created_at),
        last_seen_at: Set(row.last_seen_at),
        expires_at: Set(row.expires_at),
        step_up_until: Set(row.step_up_until),
        ip_address: Set(row.ip_address),
        user_agent: Set(row.user_agent),
        ended_at: Set(row.ended_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The live (not ended) session with this token hash.
pub async fn find_live_by_token_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<session::Model>, DbErr> {
    session::Entity::find()
        .filter(session::Column::TokenHash.eq(token_hash))
        .filter(session::Column::EndedAt.is_null())
        .one(db)
        .await
}

/// The live session with this token hash and its account, in one query (every request that
/// carries a session cookie asks for both) — and, with `with_unread`, the account's unread
/// notifications in the same query (a scalar subquery: the header of every signed-in page shows
/// the count, so a page costs no round trip more for it).
pub async fn find_live_with_account(
    db: &impl ConnectionTrait,
    token_hash: &str,
    with_unread: bool,
) -> Result<Option<(session::Model, entity::account::Model, Option<u64>)>, DbErr> {
    use entity::notification;
    use sea_orm::sea_query::{Func, Query, QueryStatementBuilder, SimpleExpr};
    use sea_orm::{FromQueryResult, QueryTrait};
    let to_account: sea_orm::RelationDef = session::Entity::belongs_to(entity::account::Entity)
        .from(session::Column::AccountId)
        .to(entity::account::Column::Id)
        .into();
    let mut select = session::Entity::find()
        .join(sea_orm::JoinType::InnerJoin, to_account)
        .select_also(entity::account::Entity)
        .filter(session::Column::TokenHash.eq(token_hash))
        .filter(session::Column::EndedAt.is_null());
    if with_unread {
        let unread = Query::select()
            .expr(Func::count(Expr::col((
                notification::Entity,
                notification::Column::Id,
            ))))
            .from(notification::Entity)
            .and_where(
                Expr::col((notification::Entity, notification::Column::AccountId))
                    .equals((session::Entity, session::Column::AccountId)),
            )
            .and_where(Expr::col((notification::Entity, notification::Column::ReadAt)).is_null())
            .to_owned();
        select = select.expr_as(
            SimpleExpr::SubQuery(None, Box::new(unread.into_sub_query_statement())),
            "unread",
        );
    }
    let statement = select.limit(1).build(db.get_database_backend());
    let Some(row) = db.query_one_raw(statement).await? else {
        return Ok(None);
    };
    let session = session::Model::from_query_result(&row, "A_")?;
    let Some(account) = entity::account::Model::from_query_result_optional(&row, "B_")? else {
        return Ok(None);
    };
    let unread = match with_unread {
        true => Some(u64::try_from(row.try_get::<i64>("", "unread")?).unwrap_or(0)),
        false => None,
    };
    Ok(Some((session, account, unread)))
}

pub async fn touch(db: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::LastSeenAt, Expr::value(now))
        .filter(session::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends a session; false when it had ended already (so two requests racing to end it find
/// out which one did).
pub async fn end(db: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> Result<bool, DbErr> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::EndedAt, Expr::value(now))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::EndedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Ends one session of an account; false when it is not that account's or already ended.
pub async fn end_for_account(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::EndedAt, Expr::value(now))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::AccountId.eq(account_id))
        .filter(session::Column::EndedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

pub async fn end_all_for_account(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::EndedAt, Expr::value(now))
        .filter(session::Column::AccountId.eq(account_id))
        .filter(session::Column::EndedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

pub async fn set_step_up(
    db: &impl ConnectionTrait,
    id: Uuid,
    until: DateTime<Utc>,
) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::StepUpUntil, Expr::value(until))
        .filter(session::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Live sessions of an account, newest first.
pub async fn live_for_account(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<session::Model>, DbErr> {
    session::Entity::find()
        .filter(session::Column::AccountId.eq(account_id))
        .filter(session::Column::EndedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .order_by_desc(session::Column::LastSeenAt)
        .all(db)
        .await
}

/// Deletes sessions that ended or expired before `cutoff` (housekeeping).
pub async fn delete_finished_before(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let result = session::Entity::delete_many()
        .filter(
            session::Column::EndedAt
                .lt(cutoff)
                .or(session::Column::ExpiresAt.lt(cutoff)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
