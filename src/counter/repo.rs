//! Queries of counter sessions. Every function takes the caller's connection: the service
//! decides what runs in one transaction.

use chrono::{DateTime, Utc};
use entity::counter_session;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

/// Most sessions the staff home page lists.
pub const LIST_LIMIT: u64 = 50;

pub async fn insert(conn: &impl ConnectionTrait, row: counter_session::Model) -> Result<(), DbErr> {
    let active: counter_session::ActiveModel = row.into();
    counter_session::Entity::insert(active)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn find(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<counter_session::Model>, DbErr> {
    counter_session::Entity::find_by_id(id).one(conn).await
}

/// The session a counter request was made for.
pub async fn find_by_request(
    conn: &impl ConnectionTrait,
    request: Uuid,
) -> Result<Option<counter_session::Model>, DbErr> {
    counter_session::Entity::find()
        .filter(counter_session::Column::RequestId.eq(request))
        .one(conn)
        .await
}

pub async fn find_by_origin(
    conn: &impl ConnectionTrait,
    kind: &str,
    origin: Uuid,
) -> Result<Option<counter_session::Model>, DbErr> {
    counter_session::Entity::find()
        .filter(counter_session::Column::OriginKind.eq(kind))
        .filter(counter_session::Column::OriginId.eq(origin))
        .one(conn)
        .await
}

/// The clerk's sessions at this agency not ended by hand, newest first (some may have lapsed).
pub async fn not_ended_of_clerk(
    conn: &impl ConnectionTrait,
    clerk: Uuid,
    agency: Uuid,
) -> Result<Vec<counter_session::Model>, DbErr> {
    counter_session::Entity::find()
        .filter(counter_session::Column::ClerkId.eq(clerk))
        .filter(counter_session::Column::AgencyId.eq(agency))
        .filter(counter_session::Column::EndedAt.is_null())
        .order_by_desc(counter_session::Column::CreatedAt)
        .limit(LIST_LIMIT)
        .all(conn)
        .await
}

/// Ends a session not yet ended (a compare-and-set: of two "end" at once, one wins).
pub async fn end(conn: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> Result<bool, DbErr> {
    let result = counter_session::Entity::update_many()
        .col_expr(counter_session::Column::EndedAt, Expr::value(now))
        .filter(counter_session::Column::Id.eq(id))
        .filter(counter_session::Column::EndedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}
