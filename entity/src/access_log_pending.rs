use sea_orm::entity::prelude::*;

/// An access-log entry written with its action but not yet sequenced into the citizen's chain
/// and the global tree (see `audit::service::integrate`). Its content is already fixed and
/// committed to by `content_hash` (salted), exactly as it will be in `access_log_entry`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_log_pending")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub occurred_at: DateTimeUtc,
    pub salt: Vec<u8>,
    pub content_hash: Vec<u8>,
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_agency_id: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    #[sea_orm(column_type = "Text")]
    pub purpose: String,
    pub authorization: String,
    pub outcome: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
