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
    platform_key::Entity::insert_many(rows)
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
