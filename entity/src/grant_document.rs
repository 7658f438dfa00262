use sea_orm::entity::prelude::*;

/// One document a grant covers: whether its file may be read, which signed fields, and how
/// often each form has been read (each bounded by the grant's `max_uses`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "grant_document")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub grant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub document_id: Uuid,
    pub doc_type: String,
    pub file: bool,
    /// JSON array of field names.
    pub fields: String,
    pub field_reads: i32,
    pub file_reads: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
