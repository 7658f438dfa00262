//! Records which platform keys this deployment uses, so rotation knows what is still in use and
//! verifiers can be given the history of platform public keys.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use entity::platform_key;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, QueryOrder};

use super::Keyring;

/// Inserts the running keys if this is the first time they are seen (idempotent, safe when
/// several instances start at once).
pub async fn register(
    db: &impl ConnectionTrait,
    keys: &Keyring,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let previous = keys.previous.iter().map(|k| platform_key::ActiveModel {
        id: Set(k.id().as_str().to_owned()),
        kind: Set("master".to_owned()),
        public_key: Set(None),
        first_seen_at: Set(now),
        retired_at: Set(None),
    });
    let rows = [
        platform_key::ActiveModel {
            id: Set(keys.master.id().as_str().to_owned()),
            kind: Set("master".to_owned()),
            public_key: Set(None),
            first_seen_at: Set(now),
            retired_at: Set(None),
        },
        platform_key::ActiveModel {
            id: Set(keys.signing.id().to_owned()),
            kind: Set("signing".to_owned()),
            public_key: Set(Some(B64.encode(keys.signing.verifying_key().as_bytes()))),
            first_seen_at: Set(now),
            retired_at: Set(None),
        },
    ];
    platform_key::Entity::insert_many(rows.into_iter().chain(previous))
        .on_conflict_do_nothing_on([platform_key::Column::Id])
        .exec(db)
        .await?;
    Ok(())
}

/// Every platform key recorded, oldest first.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<platform_key::Model>, DbErr> {
    platform_key::Entity::find()
        .order_by_asc(platform_key::Column::FirstSeenAt)
        .all(db)
        .await
}

/// Marks a master key retired (no data key uses it any more).
pub async fn retire(
    db: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    let result = platform_key::Entity::update_many()
        .col_expr(platform_key::Column::RetiredAt, Expr::value(now))
        .filter(platform_key::Column::Id.eq(id))
        .filter(platform_key::Column::Kind.eq("master"))
        .filter(platform_key::Column::RetiredAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Master keys recorded for this deployment that still wrap live data (a citizen's data key, a
/// counter key the platform holds, or the webhook key of a live API credential) but that `keys`
/// does not hold: with one of these missing, the people whose keys it wraps cannot log in, or an
/// agency's webhooks die unsigned. Cheap enough for every readiness probe: the platform-key
/// table has a handful of rows, and each key not held costs one `LIMIT 1` look-up per table
/// (indexed for accounts; the key and credential tables hold a few rows per agency), none at all
/// in the normal case, where every recorded key that is not retired is held. Every instance
/// records its keys at start-up, so any key that can have wrapped data is in the table.
pub async fn unheld_master_keys_in_use(
    db: &impl ConnectionTrait,
    keys: &Keyring,
) -> Result<Vec<String>, DbErr> {
    use entity::{account, api_credential, issuer_key};
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    let recorded: Vec<String> = platform_key::Entity::find()
        .select_only()
        .column(platform_key::Column::Id)
        .filter(platform_key::Column::Kind.eq("master"))
        .into_tuple()
        .all(db)
        .await?;
    let mut missing = Vec::new();
    for id in recorded {
        if keys.master_by_id(&id).is_some() {
            continue;
        }
        let account: Option<uuid::Uuid> = account::Entity::find()
            .select_only()
            .column(account::Column::Id)
            .filter(account::Column::MasterKeyId.eq(id.as_str()))
            .into_tuple()
            .one(db)
            .await?;
        let held: Option<uuid::Uuid> = if account.is_none() {
            issuer_key::Entity::find()
                .select_only()
                .column(issuer_key::Column::Id)
                .filter(issuer_key::Column::MasterKeyId.eq(id.as_str()))
                .into_tuple()
                .one(db)
                .await?
        } else {
            None
        };
        let webhook: Option<uuid::Uuid> = if account.is_none() && held.is_none() {
            api_credential::Entity::find()
                .select_only()
                .column(api_credential::Column::Id)
                .filter(api_credential::Column::WebhookKeyMasterId.eq(id.as_str()))
                .filter(api_credential::Column::RevokedAt.is_null())
                .into_tuple()
                .one(db)
                .await?
        } else {
            None
        };
        if account.is_some() || held.is_some() || webhook.is_some() {
            missing.push(id);
        }
    }
    Ok(missing)
}

/// When the master key `keys` would wrap new data with was retired by rotation, the id and time.
pub async fn retired_current_master(
    db: &impl ConnectionTrait,
    keys: &Keyring,
) -> Result<Option<(String, DateTime<Utc>)>, DbErr> {
    let row = platform_key::Entity::find_by_id(keys.master.id().as_str().to_owned())
        .one(db)
        .await?;
    Ok(row.and_then(|r| r.retired_at.map(|at| (r.id, at))))
}
