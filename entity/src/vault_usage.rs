use sea_orm::entity::prelude::*;

/// What one citizen's vault holds: plaintext bytes of recorded documents and bytes reserved by
/// uploads in flight. Quota checks change it with one conditional update, so parallel uploads
/// cannot together pass the quota.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vault_usage")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    pub used_bytes: i64,
    pub reserved_bytes: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
