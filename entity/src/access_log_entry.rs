use sea_orm::entity::prelude::*;

/// One access-log entry: link of the citizen's hash chain (`seq`, `prev_hash`) and leaf of the
/// global Merkle tree (`leaf_index`, `leaf_hash`). The readable content (actor … outcome) and
/// the `salt` are `None` once erased; `content_hash` (the salted hash) stays, so every proof
/// still verifies. Byte formats: docs/CRYPTO.md "Access log".
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_log_entry")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub seq: i64,
    pub leaf_index: i64,
    pub prev_hash: Vec<u8>,
    pub content_hash: Vec<u8>,
    pub leaf_hash: Vec<u8>,
    pub salt: Option<Vec<u8>>,
    pub occurred_at: DateTimeUtc,
    pub actor_kind: Option<String>,
    pub actor_id: Option<String>,
    pub actor_agency_id: Option<String>,
    pub action: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub purpose: Option<String>,
    pub authorization: Option<String>,
    pub outcome: Option<String>,
    pub erased: bool,
    pub erased_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
