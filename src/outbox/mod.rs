//! The durable outbox: one mechanism for every message the platform owes someone outside the
//! request (webhooks to agencies now; in-app, email and SMS notifications later).
//!
//! - [`enqueue`] inserts a row **in the caller's transaction**: the message exists if and only if
//!   the change it reports committed, and nothing is sent before that commit.
//! - A deliverer task ([`run`], started beside the server) claims due rows with a lease (a
//!   conditional UPDATE that only one instance wins), delivers, and marks them delivered; a
//!   failure is retried with exponential back-off and jitter up to a cap, and after
//!   `CONGDANSO_OUTBOX_MAX_ATTEMPTS` the message is `dead`.
//! - Delivery is at-least-once: a crash between the receiver's answer and the `delivered` mark
//!   sends the message again once the lease runs out. Receivers dedupe by the message id.

pub mod repo;
pub mod ssrf;
pub mod webhook;

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::outbox_message;
use sea_orm::{ConnectionTrait, DbErr};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;

use crate::config::OutboxSettings;
use crate::error::AppError;
use crate::state::AppState;

/// The longest callback URL accepted.
pub const MAX_CALLBACK_LEN: usize = 2048;

/// A message to deliver later.
#[derive(Debug, Clone)]
pub enum Message {
    /// A signed `POST` of `body` to an agency's callback URL, signed with the webhook key of
    /// `credential` (the API credential the agency used).
    Webhook {
        credential: Uuid,
        url: url::Url,
        /// e.g. `grant.withdrawn`
        event: String,
        body: serde_json::Value,
    },
    /// A notification to a person (`crate::notify`): fanned out when due into their in-app
    /// inbox and one message per external channel they chose (kinds `email`, `sms`).
    Notify {
        account: Uuid,
        /// `crate::notify::model::Kind` code, e.g. `grant.used`
        kind: String,
        /// Short values only (a link, a count, an agency's name), never document content.
        params: serde_json::Value,
    },
    /// One SMS through the configured gateway. With `one_time_until`, the text carries a
    /// one-time code valid until then: not sent after it, never printed by the log channel, and
    /// cleared from the row once sent or given up on.
    Sms {
        to: String,
        text: String,
        one_time_until: Option<DateTime<Utc>>,
    },
    /// One email over SMTP (or printed by the log channel in development).
    Email {
        to: String,
        subject: String,
        text: String,
        html: String,
        lang: String,
    },
}

/// What a webhook row's `payload` holds.
#[derive(Debug, Serialize, Deserialize)]
struct WebhookPayload {
    credential: Uuid,
    event: String,
    body: serde_json::Value,
}

/// Writes `message` to the outbox on `conn` (pass the caller's transaction), due at `at`.
/// Returns the message id, which receivers see as `Congdanso-Webhook-Id`.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    at: DateTime<Utc>,
    message: Message,
) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    repo::insert(conn, row_of(id, at, message)?).await?;
    Ok(id)
}

/// Writes a message that gathers events: the first `events` of `batch_key` insert it (count
/// `events`, due at `due`); each later call while it is still waiting adds its `events` to the
/// count. A key used once only (a warning that must exist once) is simply not inserted again.
pub async fn enqueue_batched(
    conn: &impl ConnectionTrait,
    at: DateTime<Utc>,
    due: DateTime<Utc>,
    batch_key: &str,
    events: i32,
    message: Message,
) -> Result<(), DbErr> {
    let mut row = row_of(Uuid::now_v7(), at, message)?;
    row.next_attempt_at = due;
    row.batch_key = Some(batch_key.to_owned());
    row.batch_count = Some(events.max(1));
    repo::upsert_batched(conn, row).await
}

fn row_of(id: Uuid, at: DateTime<Utc>, message: Message) -> Result<outbox_message::Model, DbErr> {
    let json = |v: &serde_json::Value| {
        serde_json::to_string(v).map_err(|e| DbErr::Custom(format!("outbox payload: {e}")))
    };
    let (kind, destination, payload) = match message {
        Message::Webhook {
            credential,
            url,
            event,
            body,
        } => (
            KIND_WEBHOOK,
            url.to_string(),
            serde_json::to_string(&WebhookPayload {
                credential,
                event,
                body,
            })
            .map_err(|e| DbErr::Custom(format!("outbox payload: {e}")))?,
        ),
        Message::Notify {
            account,
            kind,
            params,
        } => (
            KIND_NOTIFY,
            account.to_string(),
            json(&serde_json::json!({ "kind": kind, "params": params }))?,
        ),
        Message::Sms {
            to,
            text,
            one_time_until,
        } => {
            let mut payload = serde_json::json!({ "text": text });
            if let Some(until) = one_time_until {
                payload["one_time_until"] = serde_json::json!(until.to_rfc3339());
            }
            (KIND_SMS, to, json(&payload)?)
        }
        Message::Email {
            to,
            subject,
            text,
            html,
            lang,
        } => (
            KIND_EMAIL,
            to,
            json(&serde_json::json!({
                "subject": subject, "text": text, "html": html, "lang": lang,
            }))?,
        ),
    };
    Ok(outbox_message::Model {
        id,
        kind: kind.to_owned(),
        destination,
        payload,
        status: repo::PENDING.to_owned(),
        attempts: 0,
        next_attempt_at: at,
        claimed_by: None,
        claimed_until: None,
        last_error: None,
        created_at: at,
        delivered_at: None,
        batch_key: None,
        batch_count: None,
    })
}

pub const KIND_WEBHOOK: &str = "webhook";
pub const KIND_NOTIFY: &str = "notify";
pub const KIND_SMS: &str = "sms";
pub const KIND_EMAIL: &str = "email";

/// Parses an agency's callback URL: `https://` only (or `http://` to a loopback address when
/// `CONGDANSO_OUTBOX_ALLOW_HTTP_LOOPBACK` is on), no user name or password, no fragment, at most
/// [`MAX_CALLBACK_LEN`] characters, and a host that is public ([`ssrf::check_host`]: no private,
/// loopback, link-local or reserved address, no `localhost` or internal name). Error code
/// `invalid_callback`.
pub fn parse_callback(raw: &str, settings: &OutboxSettings) -> Result<url::Url, AppError> {
    let bad = |why: &str| AppError::invalid("invalid_callback", format!("callback URL: {why}"));
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_CALLBACK_LEN {
        return Err(bad("must be 1 to 2048 characters"));
    }
    let url = url::Url::parse(raw).map_err(|_| bad("not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    let host = url.host().ok_or_else(|| bad("must name a host"))?;
    let loopback = match &host {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => *ip == std::net::Ipv6Addr::LOCALHOST,
        url::Host::Domain(name) => ssrf::is_localhost(name),
    };
    match url.scheme() {
        "https" => {}
        "http" if settings.allow_http_loopback && loopback => {}
        _ => return Err(bad("must use https")),
    }
    ssrf::check_host(host, settings.allow_http_loopback).map_err(bad)?;
    Ok(url)
}

/// The delay before attempt `attempts + 1`: `base · 2^(attempts-1)`, capped, then a random
/// jitter that keeps between half and all of it (so retries of many messages spread out).
pub fn backoff(settings: &OutboxSettings, attempts: i32, jitter: f64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let delay = settings
        .backoff_base
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(settings.backoff_cap);
    delay.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

fn random_unit() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 1.0,
    }
}

/// Why a delivery did not happen: retry later, or never.
pub(crate) enum Failure {
    Retry(String),
    Dead(String),
}

/// One deliverer: its instance id (for leases) and its HTTP clients.
pub struct Deliverer {
    instance: String,
    /// For agencies' callbacks: public hosts only.
    client: reqwest::Client,
    /// For endpoints the operator configured (the SMS gateway, which may be internal).
    pub(crate) operator_client: reqwest::Client,
    /// The SMTP transport (its connection pool), made at the first email.
    pub(crate) smtp: std::sync::OnceLock<crate::notify::channels::SmtpTransport>,
}

impl Deliverer {
    pub fn new(settings: &OutboxSettings) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            // A redirect could lead anywhere, past the host rule: never followed.
            .redirect(reqwest::redirect::Policy::none())
            // Every name is resolved here and refused if any address is not public; a proxy
            // would resolve it itself, past that check, so none is used.
            .dns_resolver(ssrf::PublicOnly {
                allow_loopback: settings.allow_http_loopback,
            })
            .no_proxy()
            .timeout(settings.timeout)
            .user_agent(concat!("congdanso-webhook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        let operator_client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(settings.timeout)
            .user_agent(concat!("congdanso-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("notification client: {e}"))?;
        Ok(Self {
            instance: format!("deliverer-{}", Uuid::new_v4().simple()),
            client,
            operator_client,
            smtp: std::sync::OnceLock::new(),
        })
    }

    /// This deliverer's instance id (the `claimed_by` of its leases).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Claims the due messages once and delivers them; returns how many were claimed.
    pub async fn deliver_due(&self, state: &AppState) -> Result<usize, DbErr> {
        let settings = &state.config.outbox;
        let now = state.clock.now();
        let lease = chrono::Duration::from_std(settings.lease)
            .unwrap_or_else(|_| chrono::Duration::seconds(60));
        let claimed =
            repo::claim_due(&state.db, &self.instance, now, now + lease, settings.batch).await?;
        let count = claimed.len();
        for row in claimed {
            let outcome = match row.kind.as_str() {
                KIND_WEBHOOK => self.send_webhook(state, &row).await,
                // Fanned out and marked delivered in one transaction (or not at all).
                KIND_NOTIFY => {
                    match crate::notify::service::fan_out(state, &self.instance, &row).await {
                        Ok(()) => {
                            state.metrics.record_delivery(KIND_NOTIFY, "sent");
                            continue;
                        }
                        Err(error) => Err(Failure::Retry(format!("fan-out: {error}"))),
                    }
                }
                KIND_SMS => crate::notify::channels::send_sms(state, self, &row).await,
                KIND_EMAIL => crate::notify::channels::send_email(state, self, &row).await,
                other => Err(Failure::Dead(format!("unknown message kind `{other}`"))),
            };
            let now = state.clock.now();
            match &outcome {
                Ok(()) => state.metrics.record_delivery(&row.kind, "sent"),
                Err(Failure::Dead(_)) => state.metrics.record_delivery(&row.kind, "failed"),
                Err(Failure::Retry(_)) if row.attempts >= settings.max_attempts => {
                    state.metrics.record_delivery(&row.kind, "failed")
                }
                Err(Failure::Retry(_)) => state.metrics.record_delivery(&row.kind, "retried"),
            }
            // A one-time code leaves the row with the update that finishes it.
            let scrub = row.kind == KIND_SMS && crate::notify::channels::holds_one_time_code(&row);
            match outcome {
                Ok(()) => {
                    repo::mark_delivered(&state.db, row.id, &self.instance, now, scrub).await?;
                }
                Err(Failure::Dead(why)) => {
                    tracing::warn!(message = %row.id, reason = %why, "outbox message dead");
                    repo::mark_failed(&state.db, row.id, &self.instance, &why, None, scrub).await?;
                }
                Err(Failure::Retry(why)) if row.attempts >= settings.max_attempts => {
                    let why = format!("gave up after {} attempts: {why}", row.attempts);
                    tracing::warn!(message = %row.id, reason = %why, "outbox message dead");
                    repo::mark_failed(&state.db, row.id, &self.instance, &why, None, scrub).await?;
                }
                Err(Failure::Retry(why)) => {
                    let delay = backoff(settings, row.attempts, random_unit());
                    let next = now
                        + chrono::Duration::from_std(delay)
                            .unwrap_or_else(|_| chrono::Duration::hours(1));
                    tracing::info!(message = %row.id, attempts = row.attempts, reason = %why,
                        "outbox delivery failed; retrying later");
                    repo::mark_failed(&state.db, row.id, &self.instance, &why, Some(next), false)
                        .await?;
                }
            }
        }
        Ok(count)
    }

    async fn send_webhook(
        &self,
        state: &AppState,
        row: &outbox_message::Model,
    ) -> Result<(), Failure> {
        let payload: WebhookPayload = serde_json::from_str(&row.payload)
            .map_err(|e| Failure::Dead(format!("unreadable payload: {e}")))?;
        let url = url::Url::parse(&row.destination)
            .map_err(|_| Failure::Dead("unreadable callback URL".into()))?;
        // The host was checked when the URL was given. An address cannot change: checked again
        // here (for rows written before the rule), once and for all. A name can: the client's
        // resolver (`ssrf::PublicOnly`) checks what it resolves to at every attempt.
        if let Some(host @ (url::Host::Ipv4(_) | url::Host::Ipv6(_))) = url.host() {
            ssrf::check_host(host, state.config.outbox.allow_http_loopback)
                .map_err(|why| Failure::Dead(format!("refused: {why}")))?;
        }
        let credential = crate::issuers::repo::find_credential(&state.db, payload.credential)
            .await
            .map_err(|e| Failure::Retry(format!("database: {e}")))?
            .ok_or_else(|| Failure::Dead("the API credential no longer exists".into()))?;
        if credential.revoked_at.is_some() {
            return Err(Failure::Dead("the API credential is revoked".into()));
        }
        let (Some(wrapped), Some(master_key_id)) = (
            credential.webhook_key_wrapped.as_deref(),
            credential.webhook_key_master_id.as_deref(),
        ) else {
            return Err(Failure::Dead(
                "the API credential has no webhook key (rotate its webhook key)".into(),
            ));
        };
        let secret = webhook::open_key(&state.keys, credential.id, wrapped, master_key_id)
            .map_err(Failure::Dead)?;
        let id = row.id.to_string();
        let body = serde_json::to_vec(&serde_json::json!({
            "id": id,
            "type": payload.event,
            "created_at": row.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "data": payload.body,
        }))
        .map_err(|e| Failure::Dead(format!("body: {e}")))?;
        let timestamp = state.clock.now().timestamp().to_string();
        let signature = webhook::signature(secret.as_bytes(), &id, &timestamp, &body);
        drop(secret);
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(webhook::HEADER_ID, &id)
            .header(webhook::HEADER_TIMESTAMP, &timestamp)
            .header(webhook::HEADER_SIGNATURE, signature)
            .body(body)
            .send()
            .await
            // Without the URL: its query may name things the log should not keep.
            .map_err(|e| Failure::Retry(describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(Failure::Retry(format!(
                "receiver answered {}",
                status.as_u16()
            )))
        }
    }
}

fn describe(error: &reqwest::Error) -> String {
    if let Some(refused) = ssrf::refused_in(error) {
        refused.to_string()
    } else if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        "request failed".into()
    }
}

/// Delivers due messages every `CONGDANSO_OUTBOX_INTERVAL_MS` until shutdown (at once again
/// while a full batch came back).
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let deliverer = match Deliverer::new(&state.config.outbox) {
        Ok(d) => d,
        Err(error) => {
            tracing::error!(%error, "outbox deliverer not started");
            return;
        }
    };
    loop {
        let full = match deliverer.deliver_due(&state).await {
            Ok(n) => n as u64 >= state.config.outbox.batch,
            Err(error) => {
                tracing::warn!(%error, "outbox not delivered this round");
                false
            }
        };
        if *shutdown.borrow() {
            return;
        }
        if full {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(state.config.outbox.interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(extra: &[(&str, &str)]) -> OutboxSettings {
        let mut vars: HashMap<&str, &str> = HashMap::new();
        vars.extend(extra.iter().copied());
        crate::config::Config::from_vars(&vars).unwrap().outbox
    }

    #[test]
    fn callback_urls() {
        let strict = settings(&[]);
        let lax = settings(&[("CONGDANSO_OUTBOX_ALLOW_HTTP_LOOPBACK", "true")]);
        assert!(parse_callback("https://agency.example/hook?x=1", &strict).is_ok());
        for bad in [
            "http://agency.example/hook",
            "http://127.0.0.1:8080/hook",
            "https://user:pw@agency.example/hook",
            "https://agency.example/hook#x",
            "ftp://agency.example/",
            "not a url",
            "",
        ] {
            let error = parse_callback(bad, &strict).unwrap_err();
            assert_eq!(error.code(), "invalid_callback", "{bad}");
        }
        let long = format!("https://agency.example/{}", "a".repeat(MAX_CALLBACK_LEN));
        assert!(parse_callback(&long, &strict).is_err());
        assert!(parse_callback("http://127.0.0.1:8080/hook", &lax).is_ok());
        assert!(parse_callback("http://[::1]:8080/hook", &lax).is_ok());
        assert!(parse_callback("http://agency.example/hook", &lax).is_err());
        // Hosts inside a network are refused, with or without the development exception
        // (which covers plain loopback only).
        for bad in [
            "https://10.0.0.5/x",
            "https://[::ffff:127.0.0.1]/",
            "https://169.254.169.254/latest/meta-data/",
            "https://192.168.1.10/hook",
            "https://[fd00::5]/hook",
            "https://metadata.google.internal/",
            "https://api.localhost/",
        ] {
            for settings in [&strict, &lax] {
                let error = parse_callback(bad, settings).unwrap_err();
                assert_eq!(error.code(), "invalid_callback", "{bad}");
                assert!(error.api_message().contains("public"), "{bad}");
            }
        }
        assert!(parse_callback("http://[::ffff:127.0.0.1]:8080/hook", &lax).is_err());
        assert!(parse_callback("https://127.0.0.1/hook", &strict).is_err());
        assert!(parse_callback("https://localhost/hook", &strict).is_err());
        assert!(parse_callback("https://localhost/hook", &lax).is_ok());
        assert!(parse_callback("https://8.8.8.8/hook", &strict).is_ok());
    }

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        let s = settings(&[
            ("CONGDANSO_OUTBOX_BACKOFF_BASE_SECS", "10"),
            ("CONGDANSO_OUTBOX_BACKOFF_CAP_SECS", "100"),
        ]);
        assert_eq!(backoff(&s, 1, 1.0), Duration::from_secs(10));
        assert_eq!(backoff(&s, 2, 1.0), Duration::from_secs(20));
        assert_eq!(backoff(&s, 3, 1.0), Duration::from_secs(40));
        assert_eq!(backoff(&s, 5, 1.0), Duration::from_secs(100));
        assert_eq!(backoff(&s, 50, 1.0), Duration::from_secs(100));
        assert_eq!(backoff(&s, 1, 0.0), Duration::from_secs(5));
    }
}
