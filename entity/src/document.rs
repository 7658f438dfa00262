use sea_orm::entity::prelude::*;

/// A document in a citizen's vault. Content is encrypted in the blob store under `blob_key`;
/// `title` and `file_name` are sealed under the owner's data key; the rest stays in clear for
/// queries.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "document")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Uuid,
    pub doc_type: String,
    /// `self` (uploaded by the citizen), `issued` (signed by an agency) or `certified`.
    pub source: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub blob_key: String,
    pub blob_bytes: i64,
    pub sha256: String,
    pub title: Vec<u8>,
    pub file_name: Vec<u8>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
