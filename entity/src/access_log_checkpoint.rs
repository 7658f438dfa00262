use sea_orm::entity::prelude::*;

/// A published tree head: the C2SP checkpoint `note` signed by the platform key `key_id`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_log_checkpoint")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tree_size: i64,
    #[sea_orm(column_type = "Text")]
    pub origin: String,
    pub root_hash: Vec<u8>,
    #[sea_orm(column_type = "Text")]
    pub note: String,
    pub key_id: String,
    pub published_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
