//! Account, recovery-code and throttle rows. Never sees actix types.

use chrono::{DateTime, Utc};
use entity::{account, recovery_code, throttle};
use sea_orm::ExprTrait;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<account::Model>, DbErr> {
    account::Entity::find_by_id(id).one(db).await
}

pub async fn find_by_login(
    db: &impl ConnectionTrait,
    login: &str,
) -> Result<Option<account::Model>, DbErr> {
    account::Entity::find()
        .filter(account::Column::Login.eq(login))
        .one(db)
        .await
}

pub async fn login_exists(db: &impl ConnectionTrait, login: &str) -> Result<bool, DbErr> {
    Ok(account::Entity::find()
        .filter(account::Column::Login.eq(login))
        .count(db)
        .await?
        > 0)
}

pub async fn insert(db: &impl ConnectionTrait, row: account::Model) -> Result<(), DbErr> {
    row.into_active_model().reset_all().insert(db).await?;
    Ok(())
}

/// Accounts of one agency, by login.
pub async fn list_for_agency(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
) -> Result<Vec<account::Model>, DbErr> {
    account::Entity::find()
        .filter(account::Column::AgencyId.eq(agency_id))
        .order_by_asc(account::Column::Login)
        .all(db)
        .await
}

pub async fn activate_totp(
    db: &impl ConnectionTrait,
    id: Uuid,
    step: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    account::Entity::update_many()
        .col_expr(account::Column::Status, Expr::value("active"))
        .col_expr(account::Column::TotpLastStep, Expr::value(step))
        .col_expr(account::Column::UpdatedAt, Expr::value(now))
        .filter(account::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Replaces the sealed TOTP secret (a new authenticator app) and records the step its first code
/// was accepted at, only if that step is newer than the last one accepted (so one code, and one
/// form, changes the authenticator once). False when the step was already used.
pub async fn replace_totp(
    db: &impl ConnectionTrait,
    id: Uuid,
    sealed_secret: Vec<u8>,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = account::Entity::update_many()
        .col_expr(account::Column::TotpSecret, Expr::value(sealed_secret))
        .col_expr(account::Column::TotpLastStep, Expr::value(step))
        .col_expr(account::Column::UpdatedAt, Expr::value(now))
        .filter(account::Column::Id.eq(id))
        .filter(
            account::Column::TotpLastStep
                .is_null()
                .or(account::Column::TotpLastStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records an accepted TOTP step only if it is newer than the last one (so two instances racing
/// on the same code accept it once). Returns false when the step was already used.
pub async fn advance_totp_step(
    db: &impl ConnectionTrait,
    id: Uuid,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = account::Entity::update_many()
        .col_expr(account::Column::TotpLastStep, Expr::value(step))
        .col_expr(account::Column::UpdatedAt, Expr::value(now))
        .filter(account::Column::Id.eq(id))
        .filter(
            account::Column::TotpLastStep
                .is_null()
                .or(account::Column::TotpLastStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn set_password(
    db: &impl ConnectionTrait,
    id: Uuid,
    password_hash: String,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    account::Entity::update_many()
        .col_expr(account::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(account::Column::PasswordChangedAt, Expr::value(now))
        .col_expr(account::Column::UpdatedAt, Expr::value(now))
        .filter(account::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Stores a re-made hash of the same password (stronger parameters), only if the stored hash
/// is still the one that was verified: a password changed meanwhile is never overwritten. The
/// password change time stays: the password itself did not change.
pub async fn upgrade_password_hash(
    db: &impl ConnectionTrait,
    id: Uuid,
    verified_hash: &str,
    new_hash: String,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = account::Entity::update_many()
        .col_expr(account::Column::PasswordHash, Expr::value(new_hash))
        .col_expr(account::Column::UpdatedAt, Expr::value(now))
        .filter(account::Column::Id.eq(id))
        .filter(account::Column::PasswordHash.eq(verified_hash))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Replaces every recovery code of an account with new hashes.
pub async fn replace_recovery_codes(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    hashes: Vec<String>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    let rows = hashes.into_iter().map(|hash| recovery_code::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(account_id),
        code_hash: Set(hash),
        created_at: Set(now),
        used_at: Set(None),
    });
    recovery_code::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

pub async fn unused_recovery_codes(
    db: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<recovery_code::Model>, DbErr> {
    recovery_code::Entity::find()
        .filter(recovery_code::Column::AccountId.eq(account_id))
        .filter(recovery_code::Column::UsedAt.is_null())
        .all(db)
        .await
}

/// True when the account has a recovery code with this hash that was already used.
pub async fn recovery_code_was_used(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    code_hash: &str,
) -> Result<bool, DbErr> {
    let used = recovery_code::Entity::find()
        .filter(recovery_code::Column::AccountId.eq(account_id))
        .filter(recovery_code::Column::CodeHash.eq(code_hash))
        .filter(recovery_code::Column::UsedAt.is_not_null())
        .count(db)
        .await?;
    Ok(used > 0)
}

/// Marks a recovery code used, only if it still was unused. False when someone else used it
/// first.
pub async fn use_recovery_code(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = recovery_code::Entity::update_many()
        .col_expr(recovery_code::Column::UsedAt, Expr::value(now))
        .filter(recovery_code::Column::Id.eq(id))
        .filter(recovery_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn find_throttle(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<throttle::Model>, DbErr> {
    throttle::Entity::find_by_id(key.to_owned()).one(db).await
}

/// Writes `row` only if the stored row still holds the state that was read: absent when `read`
/// is `None`, else the same failures, window start and lockout. False when another request
/// wrote first (the caller reads again and retries), so no increment is ever lost, on one
/// instance or many. Comparing the whole state (not a version) is enough: the next state
/// depends on nothing else, so a row that came back to the same values takes the same step.
pub async fn compare_and_set_throttle(
    db: &impl ConnectionTrait,
    read: Option<&throttle::Model>,
    row: throttle::Model,
) -> Result<bool, DbErr> {
    let Some(read) = read else {
        let inserted = throttle::Entity::insert(row.into_active_model().reset_all())
            .on_conflict(
                OnConflict::column(throttle::Column::Key)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        return Ok(inserted == 1);
    };
    let locked = match read.locked_until {
        Some(until) => throttle::Column::LockedUntil.eq(until),
        None => throttle::Column::LockedUntil.is_null(),
    };
    let result = throttle::Entity::update_many()
        .col_expr(throttle::Column::Failures, Expr::value(row.failures))
        .col_expr(
            throttle::Column::WindowStartedAt,
            Expr::value(row.window_started_at),
        )
        .col_expr(throttle::Column::LockedUntil, Expr::value(row.locked_until))
        .col_expr(throttle::Column::UpdatedAt, Expr::value(row.updated_at))
        .filter(throttle::Column::Key.eq(row.key))
        .filter(throttle::Column::Failures.eq(read.failures))
        .filter(throttle::Column::WindowStartedAt.eq(read.window_started_at))
        .filter(locked)
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn clear_throttle(db: &impl ConnectionTrait, key: &str) -> Result<(), DbErr> {
    throttle::Entity::delete_by_id(key.to_owned())
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes throttle rows untouched since `cutoff` whose lockout (if any) is over.
pub async fn delete_stale_throttles(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let result = throttle::Entity::delete_many()
        .filter(throttle::Column::UpdatedAt.lt(cutoff))
        .filter(
            throttle::Column::LockedUntil
                .is_null()
                .or(throttle::Column::LockedUntil.lt(cutoff)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Up to `limit` accounts whose data key is wrapped by another master key than `current`.
pub async fn wrapped_by_other_than(
    db: &impl ConnectionTrait,
    current: &str,
    skip: &[Uuid],
    limit: u64,
) -> Result<Vec<account::Model>, DbErr> {
    use sea_orm::QuerySelect;
    account::Entity::find()
        .filter(account::Column::MasterKeyId.ne(current))
        .filter(account::Column::Id.is_not_in(skip.iter().copied()))
        .order_by_asc(account::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Replaces one account's wrapped data key, only if it is still wrapped by `old_key_id` (so a
/// concurrent or repeated rotation never overwrites newer work).
pub async fn rewrap(
    db: &impl ConnectionTrait,
    id: Uuid,
    old_key_id: &str,
    new_key_id: &str,
    wrapped: Vec<u8>,
) -> Result<bool, DbErr> {
    let result = account::Entity::update_many()
        .col_expr(account::Column::WrappedDataKey, Expr::value(wrapped))
        .col_expr(account::Column::MasterKeyId, Expr::value(new_key_id))
        .filter(account::Column::Id.eq(id))
        .filter(account::Column::MasterKeyId.eq(old_key_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// How many accounts still have their data key wrapped by `key_id`.
pub async fn count_wrapped_by(db: &impl ConnectionTrait, key_id: &str) -> Result<u64, DbErr> {
    account::Entity::find()
        .filter(account::Column::MasterKeyId.eq(key_id))
        .count(db)
        .await
}
