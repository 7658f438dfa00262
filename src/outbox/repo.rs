//! Queries of the outbox table. Claiming succeeds for exactly one instance: `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, a conditional UPDATE per candidate row (a lease by compare-and-set) on
//! SQLite.

use chrono::{DateTime, Utc};
use entity::outbox_message;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const DEAD: &str = "dead";

pub async fn insert(db: &impl ConnectionTrait, row: outbox_message::Model) -> Result<(), DbErr> {
    outbox_message::Entity::insert(active_of(row))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

fn active_of(row: outbox_message::Model) -> outbox_message::ActiveModel {
    outbox_message::ActiveModel {
        id: ActiveValue::Set(row.id),
        kind: ActiveValue::Set(row.kind),
        destination: ActiveValue::Set(row.destination),
        payload: ActiveValue::Set(row.payload),
        status: ActiveValue::Set(row.status),
        attempts: ActiveValue::Set(row.attempts),
        next_attempt_at: ActiveValue::Set(row.next_attempt_at),
        claimed_by: ActiveValue::Set(row.claimed_by),
        claimed_until: ActiveValue::Set(row.claimed_until),
        last_error: ActiveValue::Set(row.last_error),
        created_at: ActiveValue::Set(row.created_at),
        delivered_at: ActiveValue::Set(row.delivered_at),
        batch_key: ActiveValue::Set(row.batch_key),
        batch_count: ActiveValue::Set(row.batch_count),
    }
}

/// Inserts a batched row (its `batch_count` the number of events it starts with), or adds that
/// number to the count of the waiting row with its key. A row of that key already claimed or
/// delivered is left alone (its window closed; the caller's key names the window, so this only
/// happens to a key meant to exist once).
pub async fn upsert_batched(
    db: &impl ConnectionTrait,
    row: outbox_message::Model,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::OnConflict;
    let events = row.batch_count.unwrap_or(1);
    let count = Expr::col((outbox_message::Entity, outbox_message::Column::BatchCount)).add(events);
    let on_conflict = OnConflict::column(outbox_message::Column::BatchKey)
        .value(outbox_message::Column::BatchCount, count)
        .action_and_where(
            Expr::col((outbox_message::Entity, outbox_message::Column::Status))
                .eq(PENDING)
                .and(
                    Expr::col((outbox_message::Entity, outbox_message::Column::ClaimedBy))
                        .is_null(),
                ),
        )
        .to_owned();
    let result = outbox_message::Entity::insert(active_of(row))
        .on_conflict(on_conflict)
        .exec_without_returning(db)
        .await;
    match result {
        Ok(_) | Err(DbErr::RecordNotInserted) => Ok(()),
        Err(error) => Err(error),
    }
}

fn unclaimed(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(outbox_message::Column::ClaimedUntil.is_null())
        .add(outbox_message::Column::ClaimedUntil.lt(now))
}

/// Claims up to `limit` due messages for `instance` until `until`; returns the claimed rows
/// (their `attempts` already counts this attempt).
///
/// PostgreSQL: one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING *`, so
/// instances claiming at once take disjoint rows without waiting for each other. SQLite (one
/// writer at a time): a select, then a compare-and-set per candidate; a row another instance
/// took in between is simply not claimed.
pub async fn claim_due(
    db: &impl ConnectionTrait,
    instance: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<outbox_message::Model>, DbErr> {
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        let sql = "UPDATE outbox_message SET claimed_by = $1, claimed_until = $2, \
                   attempts = attempts + 1 \
                   WHERE id IN (SELECT id FROM outbox_message \
                     WHERE status = 'pending' AND next_attempt_at <= $3 \
                       AND (claimed_until IS NULL OR claimed_until < $3) \
                     ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                   RETURNING *";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = outbox_message::Entity::find()
            .from_raw_sql(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                sql,
                [instance.into(), until.into(), now.into(), limit.into()],
            ))
            .all(db)
            .await?;
        // Oldest first, and in creation order (v7 ids) when due at the same instant.
        rows.sort_by_key(|r| (r.next_attempt_at, r.id));
        return Ok(rows);
    }
    let candidates: Vec<Uuid> = outbox_message::Entity::find()
        .select_only()
        .column(outbox_message::Column::Id)
        .filter(outbox_message::Column::Status.eq(PENDING))
        .filter(outbox_message::Column::NextAttemptAt.lte(now))
        .filter(unclaimed(now))
        .order_by_asc(outbox_message::Column::NextAttemptAt)
        .order_by_asc(outbox_message::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    let mut claimed = Vec::new();
    for id in candidates {
        let result = outbox_message::Entity::update_many()
            .col_expr(outbox_message::Column::ClaimedBy, Expr::value(instance))
            .col_expr(outbox_message::Column::ClaimedUntil, Expr::value(until))
            .col_expr(
                outbox_message::Column::Attempts,
                Expr::col(outbox_message::Column::Attempts).add(1),
            )
            .filter(outbox_message::Column::Id.eq(id))
            .filter(outbox_message::Column::Status.eq(PENDING))
            .filter(unclaimed(now))
            .exec(db)
            .await?;
        if result.rows_affected == 1
            && let Some(row) = outbox_message::Entity::find_by_id(id).one(db).await?
        {
            claimed.push(row);
        }
    }
    Ok(claimed)
}

/// What a message that carried a secret (an SMS with a one-time code) keeps once it is done
/// with: the row stays, for the metrics and the attempts; the text goes.
const SCRUBBED_PAYLOAD: &str = r#"{"cleared":true}"#;

/// With `scrub`, the same update also empties the payload (see [`SCRUBBED_PAYLOAD`]).
fn scrubbed(
    update: sea_orm::UpdateMany<outbox_message::Entity>,
    scrub: bool,
) -> sea_orm::UpdateMany<outbox_message::Entity> {
    match scrub {
        true => update.col_expr(
            outbox_message::Column::Payload,
            Expr::value(SCRUBBED_PAYLOAD),
        ),
        false => update,
    }
}

/// Marks a message delivered, if this instance still holds it; with `scrub`, its payload is
/// emptied in the same update.
pub async fn mark_delivered(
    db: &impl ConnectionTrait,
    id: Uuid,
    instance: &str,
    now: DateTime<Utc>,
    scrub: bool,
) -> Result<bool, DbErr> {
    let update = scrubbed(outbox_message::Entity::update_many(), scrub);
    let result = update
        .col_expr(outbox_message::Column::Status, Expr::value(DELIVERED))
        .col_expr(outbox_message::Column::DeliveredAt, Expr::value(now))
        .col_expr(
            outbox_message::Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            outbox_message::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .filter(outbox_message::Column::Id.eq(id))
        .filter(outbox_message::Column::ClaimedBy.eq(instance))
        .filter(outbox_message::Column::Status.eq(PENDING))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Releases a message after a failed attempt: `dead` (with `scrub`, its payload emptied in the
/// same update), or pending again from `next` (payload kept: it is still to be sent).
pub async fn mark_failed(
    db: &impl ConnectionTrait,
    id: Uuid,
    instance: &str,
    error: &str,
    next: Option<DateTime<Utc>>,
    scrub: bool,
) -> Result<bool, DbErr> {
    let mut update = outbox_message::Entity::update_many()
        .col_expr(
            outbox_message::Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(outbox_message::Column::LastError, Expr::value(error));
    update = match next {
        Some(at) => update.col_expr(outbox_message::Column::NextAttemptAt, Expr::value(at)),
        None => scrubbed(update, scrub).col_expr(outbox_message::Column::Status, Expr::value(DEAD)),
    };
    let result = update
        .filter(outbox_message::Column::Id.eq(id))
        .filter(outbox_message::Column::ClaimedBy.eq(instance))
        .filter(outbox_message::Column::Status.eq(PENDING))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn find(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<outbox_message::Model>, DbErr> {
    outbox_message::Entity::find_by_id(id).one(db).await
}

/// (pending, dead, oldest pending creation time), for /metrics.
pub async fn summary(
    db: &impl ConnectionTrait,
) -> Result<(u64, u64, Option<DateTime<Utc>>), DbErr> {
    let pending = outbox_message::Entity::find()
        .filter(outbox_message::Column::Status.eq(PENDING))
        .count(db)
        .await?;
    let dead = outbox_message::Entity::find()
        .filter(outbox_message::Column::Status.eq(DEAD))
        .count(db)
        .await?;
    let oldest = outbox_message::Entity::find()
        .filter(outbox_message::Column::Status.eq(PENDING))
        .order_by_asc(outbox_message::Column::CreatedAt)
        .one(db)
        .await?
        .map(|r| r.created_at);
    Ok((pending, dead, oldest))
}

/// (kind, status, count) of every message, for /metrics and the operators' page.
pub async fn counts_by_kind(
    db: &impl ConnectionTrait,
) -> Result<Vec<(String, String, i64)>, DbErr> {
    outbox_message::Entity::find()
        .select_only()
        .column(outbox_message::Column::Kind)
        .column(outbox_message::Column::Status)
        .column_as(outbox_message::Column::Id.count(), "n")
        .group_by(outbox_message::Column::Kind)
        .group_by(outbox_message::Column::Status)
        .into_tuple()
        .all(db)
        .await
}
