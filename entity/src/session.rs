use sea_orm::entity::prelude::*;

/// A login session. The cookie holds a random token; only its SHA-256 is stored, so a leaked
/// database does not hand out sessions.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub account_id: Uuid,
    /// `second_factor` (password accepted, code pending), `enrolment` (TOTP not set up yet) or
    /// `full`.
    pub stage: String,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub step_up_until: Option<DateTimeUtc>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub ended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
