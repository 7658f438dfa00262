use sea_orm::entity::prelude::*;

/// An agency's Ed25519 public key. `purpose` is `issuing` (documents) or `certifying` (copies
/// certified at the counter); `status` is `active`, `retired` or `revoked` (with the time).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "issuer_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    #[sea_orm(unique)]
    pub key_id: String,
    pub public_key: String,
    pub purpose: String,
    pub valid_from: DateTimeUtc,
    pub valid_until: Option<DateTimeUtc>,
    pub status: String,
    pub status_changed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// Only for a counter key the platform holds: the Ed25519 seed wrapped by the master key
    /// `master_key_id` (bound to this row's id).
    pub wrapped_private_key: Option<Vec<u8>>,
    pub master_key_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
