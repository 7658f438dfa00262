use sea_orm::entity::prelude::*;

/// A citizen's request to have a self-uploaded scan certified at the counter: a short code
/// (stored hashed) the citizen reads out, valid for a few minutes, used once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "certification_request")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub document_id: Uuid,
    pub owner_id: Uuid,
    #[sea_orm(unique)]
    pub code_hash: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    /// The clerk who entered the code first; only they may open or certify it.
    pub claimed_by: Option<Uuid>,
    pub claimed_agency_id: Option<Uuid>,
    pub claimed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
