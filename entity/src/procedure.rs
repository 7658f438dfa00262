use sea_orm::entity::prelude::*;

/// A procedure of the catalogue (e.g. birth registration) and the document types it needs.
/// `required_types` and `optional_types` are JSON arrays of type codes.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "procedure")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    pub national_code: Option<String>,
    pub name_vi: String,
    pub name_en: String,
    pub required_types: String,
    pub optional_types: String,
    pub source: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
