use sea_orm::entity::prelude::*;

/// A citizen's report that one entry of their access log was misuse, and an operator's answer.
/// `comment` and `answer` are sealed with the citizen's data key.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "misuse_report")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub entry_id: Uuid,
    pub comment: Vec<u8>,
    /// `new`, `investigating` or `answered`.
    pub status: String,
    pub answer: Option<Vec<u8>>,
    pub answered_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub answered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
