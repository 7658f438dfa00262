//! PLACEHOLDER until wave/outbox merges (replaced wholesale by that branch).
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use crate::error::AppError;

pub enum Message {
    Webhook {
        credential: Uuid,
        url: url::Url,
        event: String,
        body: serde_json::Value,
    },
}

pub async fn enqueue(
    _conn: &impl ConnectionTrait,
    _at: DateTime<Utc>,
    _message: Message,
) -> Result<Uuid, DbErr> {
    Ok(Uuid::nil())
}

pub fn parse_callback(raw: &str) -> Result<url::Url, AppError> {
    url::Url::parse(raw).map_err(|_| AppError::invalid("invalid_callback", "bad callback URL"))
}
