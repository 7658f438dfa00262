use sea_orm::entity::prelude::*;

/// The size of the global access-log tree (one row, `id` = 1): the next leaf index. Moved in
/// the same transaction as the entry it counts, so leaf indexes have no gap.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_log_tree")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub size: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
