//! What an agency asks for and what a grant covers, as stored (JSON columns) and as the API
//! takes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Whether a field or document is needed or only welcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    Required,
    Optional,
}

/// One kind of document asked for: its type, whether the file itself, which signed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Item {
    #[serde(rename = "type")]
    pub doc_type: String,
    /// Whether the agency needs this document at all (a procedure's optional types are not).
    #[serde(default = "required")]
    pub need: Need,
    /// The file itself (the scan or the issued PDF).
    #[serde(default)]
    pub file: bool,
    /// Signed fields, each required or optional.
    #[serde(default)]
    pub fields: BTreeMap<String, Need>,
}

fn required() -> Need {
    Need::Required
}

/// The body of `POST /api/v1/requests`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// The citizen's 12-digit national ID number.
    pub citizen_national_id: String,
    /// A purpose code registered for the agency.
    pub purpose: String,
    /// Why, in the agency's words, shown to the citizen.
    pub explanation: String,
    /// A procedure of the catalogue, instead of (or besides) listing documents.
    #[serde(default)]
    pub procedure: Option<String>,
    #[serde(default)]
    pub documents: Vec<Item>,
    /// How long the grant lasts once approved.
    pub duration_days: u32,
    /// Reads allowed of each granted document (1: one-time).
    #[serde(default = "one")]
    pub max_uses: u32,
    #[serde(default)]
    pub callback_url: Option<String>,
}

fn one() -> u32 {
    1
}

/// Status of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Pending,
    Approved,
    Refused,
    Expired,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Refused => "refused",
            Self::Expired => "expired",
        }
    }
}

/// Status of a grant, derived at read time from its row and the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantStatus {
    Active,
    Withdrawn,
    Expired,
}

impl GrantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
        }
    }

    pub fn of(grant: &entity::access_grant::Model, now: chrono::DateTime<chrono::Utc>) -> Self {
        if grant.withdrawn_at.is_some() {
            Self::Withdrawn
        } else if grant.expires_at <= now {
            Self::Expired
        } else {
            Self::Active
        }
    }
}

/// A request's status as the agency and the citizen see it: a pending request past its
/// answer-by time is expired, whether or not the tidy-up job has marked it yet.
pub fn request_status(
    row: &entity::access_request::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> RequestStatus {
    match row.status.as_str() {
        "approved" => RequestStatus::Approved,
        "refused" => RequestStatus::Refused,
        "expired" => RequestStatus::Expired,
        _ if row.answer_by <= now => RequestStatus::Expired,
        _ => RequestStatus::Pending,
    }
}

/// How long a grant lasts once approved: days for an agency's API request, minutes for a
/// request made at a counter session (the clerk reads while the citizen is at the desk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    Days(u32),
    Minutes(u32),
}

impl Length {
    /// The length a stored request asked for.
    pub fn of(row: &entity::access_request::Model) -> Self {
        match row.grant_minutes {
            Some(minutes) => Self::Minutes(u32::try_from(minutes).unwrap_or(0)),
            None => Self::Days(u32::try_from(row.grant_days).unwrap_or(0)),
        }
    }

    pub fn duration(self) -> chrono::Duration {
        match self {
            Self::Days(n) => chrono::Duration::days(i64::from(n)),
            Self::Minutes(n) => chrono::Duration::minutes(i64::from(n)),
        }
    }
}

/// The credential id stored on a request made at a counter (and on its grant): such a request
/// comes from a clerk's session, not from an API credential. The counter session names the
/// clerk; no webhook is ever sent for it (it has no callback).
pub const COUNTER_CREDENTIAL: uuid::Uuid = uuid::Uuid::nil();
