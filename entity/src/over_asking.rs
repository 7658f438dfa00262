use sea_orm::entity::prelude::*;

/// A request refused for asking more than the agency's purpose covers. Names whether a citizen
/// was named, never which.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "over_asking")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub credential_id: Uuid,
    pub purpose_code: String,
    pub asked: String,
    pub reason: String,
    pub citizen_named: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
