use sea_orm::entity::prelude::*;

/// A printed QR card: its random id (24 hex digits, the first 12 bytes of the token's nonce
/// field), its status index (the last 4; its bit in the status list), validity and revocation.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "qr_card")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: Uuid,
    #[sea_orm(unique)]
    pub status_index: i64,
    pub issued_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    /// Who revoked it: the citizen's own account, or a staff member's.
    pub revoked_by: Option<Uuid>,
    /// SHA-256(card id bytes || the 6 code digits), 64 hex digits: the current one-time code,
    /// never in clear; cleared when used or void.
    pub code_hash: Option<String>,
    pub code_expires_at: Option<DateTimeUtc>,
    /// Wrong codes tried against the current code.
    pub code_failures: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
