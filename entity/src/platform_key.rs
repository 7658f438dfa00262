use sea_orm::entity::prelude::*;

/// A platform key this deployment has used (`kind` = `master` or `signing`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "platform_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub kind: String,
    /// Base64 Ed25519 public key for signing keys; `None` for master keys.
    pub public_key: Option<String>,
    pub first_seen_at: DateTimeUtc,
    pub retired_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
