use sea_orm::entity::prelude::*;

/// A message waiting to be delivered (or delivered, or given up on) by the outbox deliverer.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox_message")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The channel: `webhook` (later `in_app`, `email`, `sms`).
    pub kind: String,
    /// Where it goes (for a webhook: the callback URL).
    pub destination: String,
    /// JSON: the channel's envelope (for a webhook: credential, event and body).
    pub payload: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<DateTimeUtc>,
    /// Why the last attempt failed (never a secret, never the receiver's body).
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
    /// Set on a message that gathers several events (or must exist once): unique.
    pub batch_key: Option<String>,
    /// How many events a batched message gathers.
    pub batch_count: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
