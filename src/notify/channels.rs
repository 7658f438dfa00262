//! The external channels: SMS through the configured HTTP gateway, email, and in development the
//! log channel (messages printed to the server log instead of sent).
//!
//! SMS gateway call: `POST <CONGDANSO_SMS_URL>` with
//! `{"id": "<message id>", "to": "+84…", "text": "…", "created_at": "<RFC 3339>"}` and headers
//! `Congdanso-Sms-Id`, `Congdanso-Sms-Timestamp` (Unix seconds) and
//! `Congdanso-Sms-Signature: v1=<hex HMAC-SHA256(key, id "." timestamp "." body)>` — the
//! webhook format (`outbox::webhook`), keyed by `CONGDANSO_SMS_KEY` (its UTF-8 bytes). Any 2xx
//! is delivered; anything else is retried. The gateway dedupes by the id: a crash between its
//! answer and the `delivered` mark sends the call again.

use entity::outbox_message;
use serde::Deserialize;

use crate::outbox::{Deliverer, Failure, webhook};
use crate::state::AppState;

pub const HEADER_ID: &str = "Congdanso-Sms-Id";
pub const HEADER_TIMESTAMP: &str = "Congdanso-Sms-Timestamp";
pub const HEADER_SIGNATURE: &str = "Congdanso-Sms-Signature";

#[derive(Deserialize)]
struct SmsPayload {
    text: String,
}

#[derive(Deserialize)]
struct EmailPayload {
    subject: String,
    text: String,
    #[allow(dead_code)]
    html: String,
    lang: String,
}

/// The last three digits of a phone number, for log lines.
fn masked(to: &str) -> String {
    let tail: String = to
        .chars()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

pub(crate) async fn send_sms(
    state: &AppState,
    deliverer: &Deliverer,
    row: &outbox_message::Model,
) -> Result<(), Failure> {
    let payload: SmsPayload = serde_json::from_str(&row.payload)
        .map_err(|e| Failure::Dead(format!("unreadable payload: {e}")))?;
    let settings = &state.config.notify;
    let (Some(url), Some(key)) = (&settings.sms_url, &settings.sms_key) else {
        if settings.log_channel {
            tracing::info!(message = %row.id, to = %masked(&row.destination), text = %payload.text,
                "sms (log channel)");
            return Ok(());
        }
        return Err(Failure::Retry("no SMS gateway configured".into()));
    };
    let id = row.id.to_string();
    let body = serde_json::to_vec(&serde_json::json!({
        "id": id,
        "to": row.destination,
        "text": payload.text,
        "created_at": row.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }))
    .map_err(|e| Failure::Dead(format!("body: {e}")))?;
    let timestamp = state.clock.now().timestamp().to_string();
    let signature = webhook::signature(key.expose().as_bytes(), &id, &timestamp, &body);
    let response = deliverer
        .operator_client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(HEADER_ID, &id)
        .header(HEADER_TIMESTAMP, &timestamp)
        .header(HEADER_SIGNATURE, signature)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            Failure::Retry(if e.is_timeout() {
                "SMS gateway timed out".into()
            } else {
                "SMS gateway unreachable".into()
            })
        })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(Failure::Retry(format!(
            "SMS gateway answered {}",
            status.as_u16()
        )))
    }
}

pub(crate) async fn send_email(
    state: &AppState,
    row: &outbox_message::Model,
) -> Result<(), Failure> {
    let payload: EmailPayload = serde_json::from_str(&row.payload)
        .map_err(|e| Failure::Dead(format!("unreadable payload: {e}")))?;
    if state.config.notify.log_channel {
        tracing::info!(message = %row.id, lang = %payload.lang, subject = %payload.subject,
            text = %payload.text, "email (log channel)");
        return Ok(());
    }
    Err(Failure::Retry("no email transport configured".into()))
}
