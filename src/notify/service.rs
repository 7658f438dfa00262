//! Notifications: written to the outbox in the transaction of the event they report, fanned out
//! when due into the person's inbox and the external channels they chose.
//!
//! An event costs its transaction one outbox row ([`notify`]) — or, for an agency's reads under a
//! grant, an upsert of the row of the current batch window ([`grant_used`]). The deliverer later
//! calls [`fan_out`]: in ONE transaction it marks the `notify` row delivered (compare-and-set on
//! its lease, first), writes the inbox row (same id: written once), and queues one `email` /
//! `sms` outbox row per channel the person has and wants. Each channel row is then delivered,
//! retried and given up on by itself: a failing channel holds up neither the others nor the
//! request that caused the event.
//!
//! Messages say what happened and link to the page; they never carry document content, titles,
//! field values or secrets. Params are: `link` (a path), `n` (a count), `agency` (a name, filled
//! in at fan-out from `agency_id`).

use chrono::{DateTime, Duration, DurationRound, Utc};
use entity::{notification, notify_contact, outbox_message};
use sea_orm::{ConnectionTrait, DbErr, TransactionTrait};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::model::{Channel, Kind, preference};
use super::repo;
use crate::accounts::model::{Email, PhoneNumber};
use crate::error::{AppError, FieldError};
use crate::i18n::Lang;
use crate::outbox::{self, Message};
use crate::state::AppState;

/// How long inbox messages are kept.
pub const RETENTION_DAYS: i64 = 90;

/// Queues a notification of `kind` to `account` in the caller's transaction `conn`.
pub async fn notify(
    conn: &impl ConnectionTrait,
    at: DateTime<Utc>,
    account: Uuid,
    kind: Kind,
    params: Value,
) -> Result<Uuid, DbErr> {
    outbox::enqueue(
        conn,
        at,
        Message::Notify {
            account,
            kind: kind.code().to_owned(),
            params,
        },
    )
    .await
}

/// Queues a notification that must exist once per `key` (an "about to expire" warning: two
/// instances running the same sweep write one row).
pub async fn notify_once(
    conn: &impl ConnectionTrait,
    at: DateTime<Utc>,
    key: &str,
    account: Uuid,
    kind: Kind,
    params: Value,
) -> Result<(), DbErr> {
    outbox::enqueue_batched(
        conn,
        at,
        at,
        &format!("once:{key}"),
        1,
        Message::Notify {
            account,
            kind: kind.code().to_owned(),
            params,
        },
    )
    .await
}

/// The batch window `at` falls in: (its key part, its end).
pub fn window(at: DateTime<Utc>, length: std::time::Duration) -> (i64, DateTime<Utc>) {
    let length = Duration::from_std(length).unwrap_or_else(|_| Duration::minutes(1));
    let start = at.duration_trunc(length).unwrap_or(at);
    (start.timestamp(), start + length)
}

/// A little after a window ends, so a read committed right at its end still joins it.
const WINDOW_GRACE: Duration = Duration::seconds(2);

/// `uses` uses of `grant` by `agency` (at `at`'s window): join the alert of this grant's
/// current window (one message per grant and window, its count the number of reads), due when
/// the window ends. Called in the transaction that took the uses (the group commit gathers a
/// batch's uses of one grant and window into one call).
pub async fn grant_used(
    conn: &impl ConnectionTrait,
    at: DateTime<Utc>,
    window_length: std::time::Duration,
    citizen: Uuid,
    grant: Uuid,
    agency: Uuid,
    uses: i32,
) -> Result<(), DbErr> {
    let (start, end) = window(at, window_length);
    outbox::enqueue_batched(
        conn,
        at,
        end + WINDOW_GRACE,
        &format!("grant.used:{grant}:{start}"),
        uses,
        Message::Notify {
            account: citizen,
            kind: Kind::GrantUsed.code().to_owned(),
            params: json!({ "agency_id": agency, "link": format!("/shared/grants/{grant}") }),
        },
    )
    .await
}

#[derive(serde::Deserialize)]
struct NotifyPayload {
    kind: String,
    params: Value,
}

/// The text of a message in `lang`: the kind's sentence with its params filled in.
pub fn text(lang: Lang, kind: &str, params: &Value) -> String {
    let Some(kind) = Kind::parse(kind) else {
        return lang.t("notify.kind.unknown").into_owned();
    };
    let mut out = lang.t(&kind.text_key()).into_owned();
    for name in ["agency", "n"] {
        let value = match params.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        out = out.replace(&format!("%{{{name}}}"), &value);
    }
    out
}

/// The page a message links to, if any (a local path only).
pub fn link(params: &Value) -> Option<&str> {
    params
        .get("link")
        .and_then(Value::as_str)
        .filter(|l| l.starts_with('/') && !l.starts_with("//"))
}

/// Delivers a due `notify` row: inbox row and channel rows, and the row marked delivered, in one
/// transaction. `Ok` also when another instance got there first (nothing written).
pub async fn fan_out(
    state: &AppState,
    instance: &str,
    row: &outbox_message::Model,
) -> Result<(), AppError> {
    let payload: NotifyPayload =
        serde_json::from_str(&row.payload).map_err(|e| AppError::internal(format!("{e}")))?;
    let account = Uuid::parse_str(&row.destination).map_err(AppError::internal)?;
    let mut params = match payload.params {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Some(n) = row.batch_count {
        params.insert("n".into(), json!(n));
    }
    if let Some(agency) = params
        .get("agency_id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        && let Some(found) = crate::agencies::repo::find_by_id(&state.db, agency).await?
    {
        params.insert("agency".into(), json!(found.name));
    }
    let params = Value::Object(params);
    let contact = repo::contact(&state.db, account).await?;
    let now = state.clock.now();
    if crate::accounts::repo::find_by_id(&state.db, account)
        .await?
        .is_none()
    {
        // The account was deleted since: nobody to tell (its inbox went with it).
        outbox::repo::mark_delivered(&state.db, row.id, instance, now, false).await?;
        return Ok(());
    }
    let txn = state.db.begin().await?;
    // First statement a write (SQLite), and the lease check: only the holder fans out.
    if !outbox::repo::mark_delivered(&txn, row.id, instance, now, false).await? {
        txn.rollback().await?;
        return Ok(());
    }
    repo::insert(
        &txn,
        notification::Model {
            id: row.id,
            account_id: account,
            kind: payload.kind.clone(),
            params: params.to_string(),
            created_at: row.created_at,
            read_at: None,
        },
    )
    .await?;
    if let (Some(contact), Some(kind)) = (contact, Kind::parse(&payload.kind)) {
        for message in channel_messages(state, &contact, kind, &params) {
            outbox::enqueue(&txn, now, message).await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// Whether a channel can deliver at all on this instance.
pub fn channel_available(state: &AppState, channel: Channel) -> bool {
    let settings = &state.config.notify;
    match channel {
        Channel::Sms => settings.sms_url.is_some() || settings.log_channel,
        Channel::Email => settings.smtp.is_some() || settings.log_channel,
    }
}

fn disabled_set(contact: &notify_contact::Model) -> Vec<String> {
    serde_json::from_str(&contact.disabled).unwrap_or_default()
}

/// Whether `kind` goes to `channel` for this person (security alerts always do).
pub fn wanted(contact: &notify_contact::Model, kind: Kind, channel: Channel) -> bool {
    kind.is_security() || !disabled_set(contact).contains(&preference(kind, channel))
}

fn channel_messages(
    state: &AppState,
    contact: &notify_contact::Model,
    kind: Kind,
    params: &Value,
) -> Vec<Message> {
    let lang = Lang::from_code(&contact.lang).unwrap_or_default();
    let body = text(lang, kind.code(), params);
    let url = link(params).and_then(|l| state.config.public_url.join(l).ok());
    let mut out = Vec::new();
    if let Some(phone) = &contact.phone
        && channel_available(state, Channel::Sms)
        && wanted(contact, kind, Channel::Sms)
    {
        let text = match &url {
            Some(url) => format!("{}: {body} {url}", lang.t("app.short_name")),
            None => format!("{}: {body}", lang.t("app.short_name")),
        };
        out.push(Message::Sms {
            to: phone.clone(),
            text,
            one_time_until: None,
        });
    }
    if let Some(email) = &contact.email
        && channel_available(state, Channel::Email)
        && wanted(contact, kind, Channel::Email)
    {
        let subject = format!("{} — {}", lang.t("app.name"), body);
        let open = lang.t("notify.email.open");
        let footer = lang.t("notify.email.footer");
        let text = match &url {
            Some(url) => format!("{body}\n\n{open}: {url}\n\n-- \n{footer}\n"),
            None => format!("{body}\n\n-- \n{footer}\n"),
        };
        let esc =
            |s: &str| askama::filters::escape(s, askama::filters::Html).map(|e| e.to_string());
        let html = format!(
            "<!doctype html><html lang=\"{code}\"><body><p>{b}</p>{link}<p><small>{f}</small></p></body></html>",
            code = lang.code(),
            b = esc(&body).unwrap_or_default(),
            link = url
                .as_ref()
                .map(|u| format!(
                    "<p><a href=\"{u}\">{o}</a></p>",
                    u = esc(u.as_str()).unwrap_or_default(),
                    o = esc(&open).unwrap_or_default()
                ))
                .unwrap_or_default(),
            f = esc(&footer).unwrap_or_default(),
        );
        out.push(Message::Email {
            to: email.clone(),
            subject,
            text,
            html,
            lang: lang.code().to_owned(),
        });
    }
    out
}

/// A message as the inbox shows it.
pub struct InboxItem {
    pub id: Uuid,
    pub text: String,
    pub link: Option<String>,
    pub created_at: DateTime<Utc>,
    pub unread: bool,
}

/// The newest 100 messages of an account, in `lang`.
pub async fn inbox(
    state: &AppState,
    account: Uuid,
    lang: Lang,
) -> Result<Vec<InboxItem>, AppError> {
    let rows = repo::newest(&state.db, account, 100).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let params: Value = serde_json::from_str(&row.params).unwrap_or(Value::Null);
            InboxItem {
                id: row.id,
                text: text(lang, &row.kind, &params),
                link: link(&params).map(str::to_owned),
                created_at: row.created_at,
                unread: row.read_at.is_none(),
            }
        })
        .collect())
}

/// The signed-in person's unread count, put in the request's extensions when the session is
/// loaded (the page header shows it; read in the session's own query,
/// `auth::repo::find_live_with_account`).
#[derive(Debug, Clone, Copy)]
pub struct Unread(pub u64);

/// Marks one message (or all, with `None`) of `account` read.
pub async fn mark_read(state: &AppState, account: Uuid, id: Option<Uuid>) -> Result<u64, AppError> {
    Ok(repo::mark_read(&state.db, account, id, state.clock.now()).await?)
}

/// Deletes inbox messages older than [`RETENTION_DAYS`]; returns how many.
pub async fn prune(state: &AppState) -> Result<u64, AppError> {
    let before = state.clock.now() - Duration::days(RETENTION_DAYS);
    Ok(repo::prune(&state.db, before).await?)
}

/// Queues "about to expire" warnings: each unanswered request whose answer-by time, and each
/// live grant whose end, falls within the next day — once per request or grant (a unique
/// key, so a second run or a second instance writes nothing). Requests and grants that last
/// a day or less (the counter's, minutes long) are not warned about. Returns how many rows
/// the sweep offered (repeats included).
pub async fn expiry_warnings(state: &AppState) -> Result<u64, AppError> {
    use entity::{access_grant, access_request};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let now = state.clock.now();
    let soon = now + Duration::days(1);
    let requests = access_request::Entity::find()
        .filter(access_request::Column::Status.eq("pending"))
        .filter(access_request::Column::CitizenId.is_not_null())
        .filter(access_request::Column::AnswerBy.gt(now))
        .filter(access_request::Column::AnswerBy.lte(soon))
        .all(&state.db)
        .await?;
    let mut count = 0;
    for r in requests {
        let Some(citizen) = r.citizen_id else {
            continue;
        };
        if r.answer_by - r.created_at <= Duration::days(1) {
            continue;
        }
        notify_once(
            &state.db,
            now,
            &format!("request.expiring:{}", r.id),
            citizen,
            Kind::RequestExpiring,
            json!({ "agency_id": r.agency_id, "link": format!("/shared/requests/{}", r.id) }),
        )
        .await?;
        count += 1;
    }
    let grants = access_grant::Entity::find()
        .filter(access_grant::Column::WithdrawnAt.is_null())
        .filter(access_grant::Column::ExpiresAt.gt(now))
        .filter(access_grant::Column::ExpiresAt.lte(soon))
        .all(&state.db)
        .await?;
    for g in grants {
        if g.expires_at - g.created_at <= Duration::days(1) {
            continue;
        }
        notify_once(
            &state.db,
            now,
            &format!("grant.expiring:{}", g.id),
            g.citizen_id,
            Kind::GrantExpiring,
            json!({ "agency_id": g.agency_id, "link": format!("/shared/grants/{}", g.id) }),
        )
        .await?;
        count += 1;
    }
    Ok(count)
}

/// What the settings form sends.
pub struct ContactInput<'a> {
    pub email: &'a str,
    pub phone: &'a str,
    pub lang: Lang,
    /// `kind:channel` pairs left on.
    pub enabled: Vec<String>,
}

/// Validates and saves a person's contact details and channel choices. An empty field removes
/// the address. Ownership of the address is not verified.
pub async fn save_contact(
    state: &AppState,
    account: Uuid,
    input: ContactInput<'_>,
) -> Result<(), AppError> {
    let mut problems = Vec::new();
    let email = match input.email.trim() {
        "" => None,
        raw => match Email::parse(raw) {
            Ok(e) => Some(e.as_str().to_owned()),
            Err(p) => {
                problems.push(FieldError {
                    field: "email",
                    code: p.code,
                });
                None
            }
        },
    };
    let phone = match input.phone.trim() {
        "" => None,
        raw => match PhoneNumber::parse(raw) {
            Ok(p) => Some(p.as_str().to_owned()),
            Err(p) => {
                problems.push(FieldError {
                    field: "phone",
                    code: p.code,
                });
                None
            }
        },
    };
    if !problems.is_empty() {
        let message = problems
            .iter()
            .map(|f| format!("{}: {}", f.field, f.code))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(AppError::InvalidInput {
            code: problems.first().map_or("invalid_input", |f| f.code),
            message,
            fields: problems,
        });
    }
    let disabled: Vec<String> = Kind::ALL
        .into_iter()
        .filter(|k| !k.is_security())
        .flat_map(|k| Channel::ALL.into_iter().map(move |c| preference(k, c)))
        .filter(|p| !input.enabled.contains(p))
        .collect();
    repo::save_contact(
        &state.db,
        notify_contact::Model {
            account_id: account,
            email,
            phone,
            lang: input.lang.code().to_owned(),
            disabled: serde_json::to_string(&disabled).map_err(AppError::internal)?,
            updated_at: state.clock.now(),
        },
    )
    .await?;
    Ok(())
}

pub async fn contact(
    state: &AppState,
    account: Uuid,
) -> Result<Option<notify_contact::Model>, AppError> {
    Ok(repo::contact(&state.db, account).await?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_and_a_read_joins_the_one_it_falls_in() {
        let at = DateTime::parse_from_rfc3339("2026-12-03T10:00:59.900Z")
            .unwrap()
            .with_timezone(&Utc);
        let (start, end) = window(at, std::time::Duration::from_secs(60));
        assert_eq!(start, at.timestamp() - 59);
        assert_eq!(end.to_rfc3339(), "2026-12-03T10:01:00+00:00");
        let (next, _) = window(
            at + Duration::milliseconds(200),
            std::time::Duration::from_secs(60),
        );
        assert_eq!(next, start + 60);
    }

    #[test]
    fn texts_fill_only_short_params_and_links_stay_local() {
        let params = json!({ "agency": "Sở Y tế", "n": 5, "link": "/shared/grants/x" });
        let vi = text(Lang::Vi, "grant.used", &params);
        assert!(vi.contains("Sở Y tế") && vi.contains('5'), "{vi}");
        assert!(!vi.contains("%{"), "{vi}");
        assert_eq!(link(&params), Some("/shared/grants/x"));
        assert_eq!(link(&json!({ "link": "https://evil.example/" })), None);
        assert_eq!(link(&json!({ "link": "//evil.example/" })), None);
    }
}
