use sea_orm::entity::prelude::*;

/// A QR token already used: its nonce (32 hex digits) is the primary key, so a second use of
/// the same token — another tab, another instance, a screenshot — fails the insert.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "qr_token_use")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub nonce: String,
    pub account_id: Uuid,
    /// The token's own expiry: after it, the row can go (the token is refused as expired).
    pub expires_at: DateTimeUtc,
    pub used_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
