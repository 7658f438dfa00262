//! Issuer keys, API credentials, issuing authorities and agency successions. Never sees actix
//! types.

use chrono::{DateTime, Utc};
use entity::{agency_succession, api_credential, issuer_key, issuing_authority};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

pub async fn insert_key(db: &impl ConnectionTrait, row: issuer_key::Model) -> Result<(), DbErr> {
    row.into_active_model().reset_all().insert(db).await?;
    Ok(())
}

pub async fn keys_for_agency(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
) -> Result<Vec<issuer_key::Model>, DbErr> {
    issuer_key::Entity::find()
        .filter(issuer_key::Column::AgencyId.eq(agency_id))
        .order_by_asc(issuer_key::Column::CreatedAt)
        .all(db)
        .await
}

pub async fn all_keys(db: &impl ConnectionTrait) -> Result<Vec<issuer_key::Model>, DbErr> {
    issuer_key::Entity::find()
        .order_by_asc(issuer_key::Column::AgencyId)
        .order_by_asc(issuer_key::Column::CreatedAt)
        .all(db)
        .await
}

pub async fn find_key(
    db: &impl ConnectionTrait,
    key_id: &str,
) -> Result<Option<issuer_key::Model>, DbErr> {
    issuer_key::Entity::find()
        .filter(issuer_key::Column::KeyId.eq(key_id))
        .one(db)
        .await
}

/// Changes a key's status; only from `active` (retired and revoked are final, except that a
/// retired key can still be revoked).
pub async fn set_key_status(
    db: &impl ConnectionTrait,
    id: Uuid,
    from: &[&str],
    status: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = issuer_key::Entity::update_many()
        .col_expr(issuer_key::Column::Status, Expr::value(status))
        .col_expr(issuer_key::Column::StatusChangedAt, Expr::value(at))
        .filter(issuer_key::Column::Id.eq(id))
        .filter(issuer_key::Column::Status.is_in(from.iter().copied()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn insert_credential(
    db: &impl ConnectionTrait,
    row: api_credential::Model,
) -> Result<(), DbErr> {
    row.into_active_model().reset_all().insert(db).await?;
    Ok(())
}

pub async fn find_credential(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<api_credential::Model>, DbErr> {
    api_credential::Entity::find_by_id(id).one(db).await
}

/// Replaces the wrapped webhook key of a live credential of one agency; false otherwise.
pub async fn set_webhook_key(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
    id: Uuid,
    wrapped: Vec<u8>,
    master_key_id: &str,
) -> Result<bool, DbErr> {
    let result = api_credential::Entity::update_many()
        .col_expr(
            api_credential::Column::WebhookKeyWrapped,
            Expr::value(wrapped),
        )
        .col_expr(
            api_credential::Column::WebhookKeyMasterId,
            Expr::value(master_key_id),
        )
        .filter(api_credential::Column::Id.eq(id))
        .filter(api_credential::Column::AgencyId.eq(agency_id))
        .filter(api_credential::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Live credentials whose webhook key is wrapped by a master key other than `current`.
pub async fn webhook_keys_wrapped_by_other_than(
    db: &impl ConnectionTrait,
    current: &str,
) -> Result<Vec<api_credential::Model>, DbErr> {
    api_credential::Entity::find()
        .filter(api_credential::Column::RevokedAt.is_null())
        .filter(api_credential::Column::WebhookKeyWrapped.is_not_null())
        .filter(api_credential::Column::WebhookKeyMasterId.ne(current))
        .all(db)
        .await
}

/// Rewraps a credential's webhook key, only if it is still wrapped by `old` (compare-and-set:
/// a rotation of the webhook key in between wins, and the rewrap is skipped).
pub async fn rewrap_webhook_key(
    db: &impl ConnectionTrait,
    id: Uuid,
    old: &str,
    new: &str,
    wrapped: Vec<u8>,
) -> Result<bool, DbErr> {
    let result = api_credential::Entity::update_many()
        .col_expr(
            api_credential::Column::WebhookKeyWrapped,
            Expr::value(wrapped),
        )
        .col_expr(api_credential::Column::WebhookKeyMasterId, Expr::value(new))
        .filter(api_credential::Column::Id.eq(id))
        .filter(api_credential::Column::WebhookKeyMasterId.eq(old))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// How many live credentials' webhook keys are wrapped by master key `key_id`.
pub async fn count_webhook_keys_wrapped_by(
    db: &impl ConnectionTrait,
    key_id: &str,
) -> Result<u64, DbErr> {
    api_credential::Entity::find()
        .filter(api_credential::Column::RevokedAt.is_null())
        .filter(api_credential::Column::WebhookKeyWrapped.is_not_null())
        .filter(api_credential::Column::WebhookKeyMasterId.eq(key_id))
        .count(db)
        .await
}

pub async fn credentials_for_agency(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
) -> Result<Vec<api_credential::Model>, DbErr> {
    api_credential::Entity::find()
        .filter(api_credential::Column::AgencyId.eq(agency_id))
        .order_by_asc(api_credential::Column::CreatedAt)
        .all(db)
        .await
}

/// The live credential with this token hash and its agency, in one query (every agency API
/// request asks for both).
pub async fn find_live_credential_with_agency(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<(api_credential::Model, entity::agency::Model)>, DbErr> {
    let found = live_credential_with_agency(token_hash).one(db).await?;
    Ok(found.and_then(|(credential, agency)| agency.map(|agency| (credential, agency))))
}

/// The rule of a live credential, for every query that authenticates an agency: the token's
/// hash, not revoked, with its agency (`A_…` the credential, `B_…` the agency; a query that
/// needs more rows joins them on, as `grants::repo::find_agency_read` does).
pub fn live_credential_with_agency(
    token_hash: &str,
) -> sea_orm::SelectTwo<api_credential::Entity, entity::agency::Entity> {
    let to_agency: sea_orm::RelationDef =
        api_credential::Entity::belongs_to(entity::agency::Entity)
            .from(api_credential::Column::AgencyId)
            .to(entity::agency::Column::Id)
            .into();
    api_credential::Entity::find()
        .join(sea_orm::JoinType::InnerJoin, to_agency)
        .select_also(entity::agency::Entity)
        .filter(api_credential::Column::TokenHash.eq(token_hash))
        .filter(api_credential::Column::RevokedAt.is_null())
}

pub async fn touch_credential(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    api_credential::Entity::update_many()
        .col_expr(api_credential::Column::LastUsedAt, Expr::value(now))
        .filter(api_credential::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes a credential of one agency; false when it is not theirs or already revoked.
pub async fn revoke_credential(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = api_credential::Entity::update_many()
        .col_expr(api_credential::Column::RevokedAt, Expr::value(now))
        .filter(api_credential::Column::Id.eq(id))
        .filter(api_credential::Column::AgencyId.eq(agency_id))
        .filter(api_credential::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Stores the wrapped private half of a platform-held counter key.
pub async fn set_wrapped_private_key(
    db: &impl ConnectionTrait,
    id: Uuid,
    wrapped: Vec<u8>,
    master_key_id: &str,
) -> Result<(), DbErr> {
    issuer_key::Entity::update_many()
        .col_expr(issuer_key::Column::WrappedPrivateKey, Expr::value(wrapped))
        .col_expr(issuer_key::Column::MasterKeyId, Expr::value(master_key_id))
        .filter(issuer_key::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Platform-held keys wrapped by another master key than `current` (for rotation).
pub async fn held_keys_wrapped_by_other_than(
    db: &impl ConnectionTrait,
    current: &str,
) -> Result<Vec<issuer_key::Model>, DbErr> {
    issuer_key::Entity::find()
        .filter(issuer_key::Column::WrappedPrivateKey.is_not_null())
        .filter(issuer_key::Column::MasterKeyId.ne(current))
        .all(db)
        .await
}

/// Rewraps a held key, only if it is still wrapped by `old` (compare-and-set).
pub async fn rewrap_held_key(
    db: &impl ConnectionTrait,
    id: Uuid,
    old: &str,
    new: &str,
    wrapped: Vec<u8>,
) -> Result<bool, DbErr> {
    let result = issuer_key::Entity::update_many()
        .col_expr(issuer_key::Column::WrappedPrivateKey, Expr::value(wrapped))
        .col_expr(issuer_key::Column::MasterKeyId, Expr::value(new))
        .filter(issuer_key::Column::Id.eq(id))
        .filter(issuer_key::Column::MasterKeyId.eq(old))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// How many platform-held keys are wrapped by master key `key_id`.
pub async fn count_held_keys_wrapped_by(
    db: &impl ConnectionTrait,
    key_id: &str,
) -> Result<u64, DbErr> {
    issuer_key::Entity::find()
        .filter(issuer_key::Column::WrappedPrivateKey.is_not_null())
        .filter(issuer_key::Column::MasterKeyId.eq(key_id))
        .count(db)
        .await
}

// ------------------------------------------------------------------ issuing authority

pub async fn insert_authority(
    db: &impl ConnectionTrait,
    row: issuing_authority::Model,
) -> Result<(), DbErr> {
    row.into_active_model().reset_all().insert(db).await?;
    Ok(())
}

/// Every authority of one agency, by type then start.
pub async fn authorities_for_agency(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
) -> Result<Vec<issuing_authority::Model>, DbErr> {
    issuing_authority::Entity::find()
        .filter(issuing_authority::Column::AgencyId.eq(agency_id))
        .order_by_asc(issuing_authority::Column::DocType)
        .order_by_asc(issuing_authority::Column::ValidFrom)
        .all(db)
        .await
}

/// One agency's authorities for one type.
pub async fn authorities_for(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
    doc_type: &str,
) -> Result<Vec<issuing_authority::Model>, DbErr> {
    issuing_authority::Entity::find()
        .filter(issuing_authority::Column::AgencyId.eq(agency_id))
        .filter(issuing_authority::Column::DocType.eq(doc_type))
        .all(db)
        .await
}

pub async fn all_authorities(
    db: &impl ConnectionTrait,
) -> Result<Vec<issuing_authority::Model>, DbErr> {
    issuing_authority::Entity::find()
        .order_by_asc(issuing_authority::Column::AgencyId)
        .order_by_asc(issuing_authority::Column::DocType)
        .order_by_asc(issuing_authority::Column::ValidFrom)
        .all(db)
        .await
}

pub async fn find_authority(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
    id: Uuid,
) -> Result<Option<issuing_authority::Model>, DbErr> {
    issuing_authority::Entity::find_by_id(id)
        .filter(issuing_authority::Column::AgencyId.eq(agency_id))
        .one(db)
        .await
}

/// Ends an authority at `at`, unless it already ends earlier (compare-and-set on the end).
pub async fn end_authority(
    db: &impl ConnectionTrait,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = issuing_authority::Entity::update_many()
        .col_expr(issuing_authority::Column::ValidUntil, Expr::value(at))
        .filter(issuing_authority::Column::Id.eq(id))
        .filter(
            sea_orm::Condition::any()
                .add(issuing_authority::Column::ValidUntil.is_null())
                .add(issuing_authority::Column::ValidUntil.gt(at)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes an authority that has not begun by `now` (nothing can have been issued under it).
pub async fn delete_future_authority(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = issuing_authority::Entity::delete_many()
        .filter(issuing_authority::Column::Id.eq(id))
        .filter(issuing_authority::Column::ValidFrom.gt(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

// ------------------------------------------------------------------ agency succession

pub async fn insert_succession(
    db: &impl ConnectionTrait,
    row: agency_succession::Model,
) -> Result<(), DbErr> {
    row.into_active_model().reset_all().insert(db).await?;
    Ok(())
}

/// Every succession (a small table: one row per merger or reorganisation).
pub async fn all_successions(
    db: &impl ConnectionTrait,
) -> Result<Vec<agency_succession::Model>, DbErr> {
    agency_succession::Entity::find()
        .order_by_asc(agency_succession::Column::CreatedAt)
        .all(db)
        .await
}

/// Deletes a succession of one predecessor; false when it is not theirs.
pub async fn delete_succession(
    db: &impl ConnectionTrait,
    predecessor_id: Uuid,
    id: Uuid,
) -> Result<bool, DbErr> {
    let result = agency_succession::Entity::delete_many()
        .filter(agency_succession::Column::Id.eq(id))
        .filter(agency_succession::Column::PredecessorId.eq(predecessor_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
