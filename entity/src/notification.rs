use sea_orm::entity::prelude::*;

/// One message in a person's in-app inbox (kept 90 days). Rendered from `kind` and `params` in
/// the reader's language when shown; the id is the outbox message's.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    /// e.g. `grant.used`
    pub kind: String,
    /// JSON object of short values (a count, a link, an agency's name); never document content.
    pub params: String,
    pub created_at: DateTimeUtc,
    pub read_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
