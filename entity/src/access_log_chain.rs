use sea_orm::entity::prelude::*;

/// The head of one citizen's access-log chain: the last `seq` and its leaf hash. Appends lock
/// this row (PostgreSQL) and move it with a compare-and-set, so the chain never forks.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_log_chain")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    pub seq: i64,
    pub head_hash: Vec<u8>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
