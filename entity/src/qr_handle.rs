use sea_orm::entity::prelude::*;

/// A citizen's public handle for QR identity tokens: 16 random bytes as 32 hex digits, made
/// once per account. Tokens name the handle, never the national ID number.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "qr_handle")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    #[sea_orm(unique)]
    pub handle: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
