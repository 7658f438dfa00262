use sea_orm::entity::prelude::*;

/// An agency's authority to issue one catalogue document type (`doc_type`), from `valid_from`
/// until `valid_until` (open-ended when null). Registered by an operator (`registered_by`;
/// null for the demo data and for rows the upgrade migration recorded for existing documents).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "issuing_authority")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub doc_type: String,
    pub valid_from: DateTimeUtc,
    pub valid_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub registered_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
