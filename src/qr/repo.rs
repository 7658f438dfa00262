//! Queries of QR identity rows. Every function takes the caller's connection: the service
//! decides what runs in one transaction.

use chrono::{DateTime, Utc};
use entity::{qr_card, qr_card_counter, qr_handle, qr_scan, qr_token_use};
use sea_orm::ExprTrait;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
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

/// Takes the next card status index. Call it inside the transaction that inserts the card: the
/// update is its first write, so it holds the counter row (PostgreSQL's row lock, SQLite's
/// write lock) until commit, and two cards issued at once get two indexes.
pub async fn allocate_status_index(conn: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let updated = qr_card_counter::Entity::update_many()
        .col_expr(
            qr_card_counter::Column::NextIndex,
            Expr::col(qr_card_counter::Column::NextIndex).add(1),
        )
        .filter(qr_card_counter::Column::Id.eq(1))
        .exec(conn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(DbErr::RecordNotFound("qr_card_counter row 1".to_owned()));
    }
    let row = qr_card_counter::Entity::find_by_id(1)
        .one(conn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("qr_card_counter row 1".to_owned()))?;
    Ok(row.next_index - 1)
}

pub async fn insert_card(conn: &impl ConnectionTrait, row: qr_card::Model) -> Result<(), DbErr> {
    let active: qr_card::ActiveModel = row.into();
    qr_card::Entity::insert(active)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn find_card(
    conn: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<qr_card::Model>, DbErr> {
    qr_card::Entity::find_by_id(id).one(conn).await
}

/// The account's cards, newest first.
pub async fn cards_of(
    conn: &impl ConnectionTrait,
    account: Uuid,
) -> Result<Vec<qr_card::Model>, DbErr> {
    qr_card::Entity::find()
        .filter(qr_card::Column::AccountId.eq(account))
        .order_by_desc(qr_card::Column::IssuedAt)
        .order_by_desc(qr_card::Column::StatusIndex)
        .all(conn)
        .await
}

/// Revokes a card not yet revoked (compare-and-set: a second revocation changes nothing and
/// returns false).
pub async fn revoke_card(
    conn: &impl ConnectionTrait,
    id: &str,
    by: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = qr_card::Entity::update_many()
        .col_expr(qr_card::Column::RevokedAt, Expr::value(Some(at)))
        .col_expr(qr_card::Column::RevokedBy, Expr::value(Some(by)))
        .filter(qr_card::Column::Id.eq(id))
        .filter(qr_card::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The status indexes of every revoked card (the bits set in the status list).
pub async fn revoked_indexes(conn: &impl ConnectionTrait) -> Result<Vec<i64>, DbErr> {
    let rows = qr_card::Entity::find()
        .filter(qr_card::Column::RevokedAt.is_not_null())
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|r| r.status_index).collect())
}

/// Stores a fresh one-time code's hash on a card not revoked (replacing any earlier code and
/// its wrong-try count). False if the card is revoked or unknown.
pub async fn set_code(
    conn: &impl ConnectionTrait,
    card: &str,
    hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    set_code_where(conn, card, hash, expires_at, sea_orm::Condition::all()).await
}

async fn set_code_where(
    conn: &impl ConnectionTrait,
    card: &str,
    hash: &str,
    expires_at: DateTime<Utc>,
    condition: sea_orm::Condition,
) -> Result<bool, DbErr> {
    let result = qr_card::Entity::update_many()
        .col_expr(
            qr_card::Column::CodeHash,
            Expr::value(Some(hash.to_owned())),
        )
        .col_expr(
            qr_card::Column::CodeExpiresAt,
            Expr::value(Some(expires_at)),
        )
        .col_expr(qr_card::Column::CodeFailures, Expr::value(0))
        .filter(qr_card::Column::Id.eq(card))
        .filter(qr_card::Column::RevokedAt.is_null())
        .filter(condition)
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// [`set_code`], unless a code was set recently: only if the card has no code expiring after
/// `recent_cutoff` (a code set within the interval expires later than that). Compare-and-set:
/// of several calls at once, one sets the code.
pub async fn set_code_unless_recent(
    conn: &impl ConnectionTrait,
    card: &str,
    hash: &str,
    expires_at: DateTime<Utc>,
    recent_cutoff: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let not_recent = sea_orm::Condition::any()
        .add(qr_card::Column::CodeExpiresAt.is_null())
        .add(qr_card::Column::CodeExpiresAt.lte(recent_cutoff));
    set_code_where(conn, card, hash, expires_at, not_recent).await
}

/// Uses a card's one-time code: clears it only if it is still `hash` and not void (compare-and-
/// set; the first statement of the verification's transaction). False if another use, a new
/// code or the wrong-try limit came first.
pub async fn use_code(
    conn: &impl ConnectionTrait,
    card: &str,
    hash: &str,
    max_failures: i32,
) -> Result<bool, DbErr> {
    let result = qr_card::Entity::update_many()
        .col_expr(
            qr_card::Column::CodeHash,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            qr_card::Column::CodeExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(qr_card::Column::Id.eq(card))
        .filter(qr_card::Column::CodeHash.eq(hash))
        // The try that brought the right code is counted already (`take_code_try`).
        .filter(qr_card::Column::CodeFailures.lte(max_failures))
        .filter(qr_card::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Takes one of the card's code tries, before the code is compared: false (nothing changed) if
/// the code is no longer `hash` or all `max_tries` are taken. Counting the try first, by
/// compare-and-set, is what bounds guesses fired at once: each must win a try to be compared.
pub async fn take_code_try(
    conn: &impl ConnectionTrait,
    card: &str,
    hash: &str,
    max_tries: i32,
) -> Result<bool, DbErr> {
    let result = qr_card::Entity::update_many()
        .col_expr(
            qr_card::Column::CodeFailures,
            Expr::col(qr_card::Column::CodeFailures).add(1),
        )
        .filter(qr_card::Column::Id.eq(card))
        .filter(qr_card::Column::CodeHash.eq(hash))
        .filter(qr_card::Column::CodeFailures.lt(max_tries))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// After a wrong code: the code `hash` is void (cleared) once all `max_tries` are taken.
pub async fn void_spent_code(
    conn: &impl ConnectionTrait,
    card: &str,
    hash: &str,
    max_tries: i32,
) -> Result<(), DbErr> {
    qr_card::Entity::update_many()
        .col_expr(
            qr_card::Column::CodeHash,
            Expr::value(Option::<String>::None),
        )
        .filter(qr_card::Column::Id.eq(card))
        .filter(qr_card::Column::CodeHash.eq(hash))
        .filter(qr_card::Column::CodeFailures.gte(max_tries))
        .exec(conn)
        .await?;
    Ok(())
}
