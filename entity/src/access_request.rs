use sea_orm::entity::prelude::*;

/// An agency's request for some of a citizen's documents for one purpose. `citizen_id` is
/// empty when no account holds the national ID number asked for: the request is kept and
/// answered exactly like any other (it expires unanswered), so the API reveals nothing.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_request")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub credential_id: Uuid,
    pub citizen_id: Option<Uuid>,
    pub purpose_code: String,
    pub explanation: String,
    pub procedure_code: Option<String>,
    /// JSON: the items asked for (see `grants::model::Item`).
    pub items: String,
    /// How long a grant lasts from approval.
    pub grant_days: i32,
    /// Set for a request made at a counter: the grant lasts this many minutes (and
    /// `grant_days` is 0).
    pub grant_minutes: Option<i32>,
    /// How often each granted document may be read (1: one-time).
    pub max_uses: i32,
    pub callback_url: Option<String>,
    pub idempotency_key: Option<String>,
    /// SHA-256 of the request body, to refuse a reused idempotency key with another body.
    pub body_sha256: String,
    /// `pending`, `approved`, `refused` or `expired`.
    pub status: String,
    pub created_at: DateTimeUtc,
    /// Unanswered by then, the request expires.
    pub answer_by: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
    pub grant_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
