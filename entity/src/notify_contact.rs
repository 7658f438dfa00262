use sea_orm::entity::prelude::*;

/// Where and how a person is notified: their email address and phone number (not verified),
/// the language of messages, and the `kind:channel` pairs they turned off (a JSON array).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notify_contact")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// `vi` or `en`
    pub lang: String,
    pub disabled: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
