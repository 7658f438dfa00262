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
