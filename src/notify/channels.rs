//! The external channels: SMS through the configured HTTP gateway, email over SMTP (lettre;
//! STARTTLS, TLS, or plain to a loopback relay), and in development the
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

use crate::config::{SmtpSettings, SmtpTls};
use crate::outbox::{Deliverer, Failure, webhook};
use crate::state::AppState;

pub const HEADER_ID: &str = "Congdanso-Sms-Id";
pub const HEADER_TIMESTAMP: &str = "Congdanso-Sms-Timestamp";
pub const HEADER_SIGNATURE: &str = "Congdanso-Sms-Signature";

#[derive(Deserialize)]
struct SmsPayload {
    text: String,
    /// Set when the text carries a one-time code valid until then (RFC 3339).
    #[serde(default)]
    one_time_until: Option<String>,
}

/// Whether an `sms` row carries a one-time code (cleared from the row once done with).
pub fn holds_one_time_code(row: &outbox_message::Model) -> bool {
    serde_json::from_str::<SmsPayload>(&row.payload).is_ok_and(|p| p.one_time_until.is_some())
}

/// What an `email` outbox row's payload holds.
#[derive(Debug, Deserialize)]
pub struct EmailPayload {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub lang: String,
}

/// The last three characters of a phone number: all of it a log line or a clerk is shown.
pub fn phone_tail(to: &str) -> String {
    let tail: Vec<char> = to.chars().rev().take(3).collect();
    tail.into_iter().rev().collect()
}

/// The phone number as log lines show it: `…678`.
fn masked(to: &str) -> String {
    format!("…{}", phone_tail(to))
}

pub(crate) async fn send_sms(
    state: &AppState,
    deliverer: &Deliverer,
    row: &outbox_message::Model,
) -> Result<(), Failure> {
    let payload: SmsPayload = serde_json::from_str(&row.payload)
        .map_err(|e| Failure::Dead(format!("unreadable payload: {e}")))?;
    if let Some(until) = &payload.one_time_until {
        let until = chrono::DateTime::parse_from_rfc3339(until)
            .map_err(|e| Failure::Dead(format!("unreadable payload: {e}")))?;
        if state.clock.now() > until {
            return Err(Failure::Dead(
                "the one-time code expired before it could be sent".into(),
            ));
        }
    }
    let settings = &state.config.notify;
    let (Some(url), Some(key)) = (&settings.sms_url, &settings.sms_key) else {
        if settings.log_channel {
            // A one-time code is a secret: the log gets the fact, not the text.
            let text = match payload.one_time_until {
                Some(_) => "(one-time code withheld)",
                None => payload.text.as_str(),
            };
            tracing::info!(message = %row.id, to = %masked(&row.destination), text = %text,
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

/// `Content-Language` (RFC 3282): the language the message is written in (`vi`, `en`).
#[derive(Debug, Clone)]
struct ContentLanguage(String);

impl lettre::message::header::Header for ContentLanguage {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Content-Language")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.trim().to_owned()))
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The SMTP client the deliverer keeps (with its pool of connections).
pub type SmtpTransport = lettre::AsyncSmtpTransport<lettre::Tokio1Executor>;

fn smtp_transport(settings: &SmtpSettings) -> Result<SmtpTransport, Failure> {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    let tls_parameters = || {
        TlsParameters::new(settings.host.clone())
            .map_err(|e| Failure::Retry(format!("SMTP TLS setup: {e}")))
    };
    let tls = match settings.tls {
        SmtpTls::StartTls => Tls::Required(tls_parameters()?),
        SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
        SmtpTls::None => Tls::None,
    };
    let mut builder = SmtpTransport::builder_dangerous(settings.host.as_str())
        .port(settings.port)
        .tls(tls)
        .timeout(Some(settings.timeout));
    if let Some((user, password)) = &settings.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    Ok(builder.build())
}

/// The email as sent: multipart text + HTML in the person's language, its `Message-ID` made
/// from the outbox row's id (a re-send after a crash carries the same id, so mail systems and
/// people can tell it is the same message).
pub(crate) fn email_message(
    settings: &SmtpSettings,
    id: uuid::Uuid,
    to: &str,
    payload: &EmailPayload,
) -> Result<lettre::Message, Failure> {
    use lettre::message::{Mailbox, MultiPart};
    let to: Mailbox = to
        .parse()
        .map_err(|_| Failure::Dead("the recipient is not an email address".into()))?;
    let domain = settings.from.email.domain().to_owned();
    lettre::Message::builder()
        .from(settings.from.clone())
        .to(to)
        .subject(payload.subject.clone())
        .message_id(Some(format!("<{id}@{domain}>")))
        .header(ContentLanguage(payload.lang.clone()))
        .multipart(MultiPart::alternative_plain_html(
            payload.text.clone(),
            payload.html.clone(),
        ))
        .map_err(|e| Failure::Dead(format!("email: {e}")))
}

pub(crate) async fn send_email(
    state: &AppState,
    deliverer: &Deliverer,
    row: &outbox_message::Model,
) -> Result<(), Failure> {
    use lettre::AsyncTransport;
    let payload: EmailPayload = serde_json::from_str(&row.payload)
        .map_err(|e| Failure::Dead(format!("unreadable payload: {e}")))?;
    let Some(settings) = &state.config.notify.smtp else {
        if state.config.notify.log_channel {
            tracing::info!(message = %row.id, lang = %payload.lang, subject = %payload.subject,
                text = %payload.text, "email (log channel)");
            return Ok(());
        }
        return Err(Failure::Retry("no email transport configured".into()));
    };
    let message = email_message(settings, row.id, &row.destination, &payload)?;
    let transport = match deliverer.smtp.get() {
        Some(transport) => transport,
        None => {
            let _ = deliverer.smtp.set(smtp_transport(settings)?);
            deliverer
                .smtp
                .get()
                .ok_or_else(|| Failure::Retry("SMTP transport".into()))?
        }
    };
    match transport.send(message).await {
        Ok(_) => Ok(()),
        // A permanent refusal (5xx: no such mailbox, policy) will not change on retry.
        Err(error) if error.is_permanent() => Err(Failure::Dead(format!(
            "the SMTP server refused the message: {}",
            error.status().map_or_else(String::new, |c| c.to_string())
        ))),
        Err(error) => Err(Failure::Retry(if error.is_timeout() {
            "SMTP server timed out".into()
        } else {
            "SMTP server unreachable or refused for now".into()
        })),
    }
}
