use sea_orm::entity::prelude::*;

/// An upload in flight: written before the blob, deleted in the transaction that records the
/// document. A row older than the sweep's grace period marks an orphan blob.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upload")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Uuid,
    pub blob_key: String,
    pub started_at: DateTimeUtc,
    /// Quota bytes this upload holds until it is recorded or given up.
    pub reserved_bytes: i64,
    /// The blob store's multipart upload id once the upload spans several parts (S3), so the
    /// sweep can abort what a crash left.
    pub multipart_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
