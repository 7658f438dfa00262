//! The inbox (`/notifications`) and the notification settings (`/settings/notifications`).
//! Thin: extract → service → render. Plain forms: no JavaScript needed.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use uuid::Uuid;

use super::model::{Channel, Kind, preference};
use super::service;
use crate::audit::plain;
use crate::auth::csrf::CsrfForm;
use crate::auth::{AnySession, CitizenSession, OperatorSession};
use crate::forms::{Empty, FormState};
use crate::i18n::Lang;
use crate::site::{Chrome, Page, render, see_other};
use crate::state::AppState;

pub struct Row {
    pub id: String,
    pub text: String,
    pub link: Option<String>,
    pub when: String,
    pub iso: String,
    pub unread: bool,
}

#[derive(Template)]
#[template(path = "notify/inbox.html")]
struct InboxPage {
    lang: Lang,
    chrome: Chrome,
    rows: Vec<Row>,
    unread: usize,
}

/// `GET /notifications`
pub async fn inbox(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    session: AnySession,
) -> Page {
    let now = state.clock.now();
    let rows: Vec<Row> = service::inbox(&state, session.account.id, lang)
        .await?
        .into_iter()
        .map(|item| Row {
            id: item.id.to_string(),
            text: item.text,
            link: item.link,
            when: plain::when(lang, item.created_at, now),
            iso: plain::iso(item.created_at),
            unread: item.unread,
        })
        .collect();
    let unread = rows.iter().filter(|r| r.unread).count();
    render(
        StatusCode::OK,
        &InboxPage {
            lang,
            chrome: Chrome::new(&req, Some(&session.0))?,
            rows,
            unread,
        },
    )
}

/// `POST /notifications/{id}/read`
pub async fn read_one(
    state: web::Data<AppState>,
    session: AnySession,
    path: web::Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    service::mark_read(&state, session.account.id, Some(path.into_inner())).await?;
    Ok(see_other("/notifications"))
}

/// `POST /notifications/read`: all read.
pub async fn read_all(
    state: web::Data<AppState>,
    session: AnySession,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    service::mark_read(&state, session.account.id, None).await?;
    Ok(see_other("/notifications"))
}

pub struct PrefRow {
    pub label: String,
    pub security: bool,
    pub channels: Vec<PrefBox>,
}

pub struct PrefBox {
    pub name: String,
    pub id: String,
    pub label: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "notify/settings.html")]
struct SettingsPage {
    lang: Lang,
    chrome: Chrome,
    form: FormState,
    prefs: Vec<PrefRow>,
    saved: bool,
    sms_available: bool,
    email_available: bool,
}

fn pref_rows(lang: Lang, enabled: &dyn Fn(Kind, Channel) -> bool) -> Vec<PrefRow> {
    Kind::for_citizens()
        .map(|kind| PrefRow {
            label: lang.t(&format!("notify.pref.{}", kind.code())).into_owned(),
            security: kind.is_security(),
            channels: Channel::ALL
                .into_iter()
                .map(|c| {
                    let name = format!("pref.{}", preference(kind, c));
                    PrefBox {
                        id: name.replace(['.', ':'], "-"),
                        name,
                        label: lang.t(&format!("notify.channel.{}", c.code())).into_owned(),
                        checked: kind.is_security() || enabled(kind, c),
                    }
                })
                .collect(),
        })
        .collect()
}

async fn settings_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    citizen: &CitizenSession,
    form: FormState,
    enabled: &dyn Fn(Kind, Channel) -> bool,
    saved: bool,
) -> Page {
    let status = form.status();
    render(
        status,
        &SettingsPage {
            lang,
            chrome: Chrome::new(req, Some(&citizen.0))?,
            form,
            prefs: pref_rows(lang, enabled),
            saved,
            sms_available: service::channel_available(state, Channel::Sms),
            email_available: service::channel_available(state, Channel::Email),
        },
    )
}

#[derive(serde::Deserialize)]
pub struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /settings/notifications`
pub async fn settings_form(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    query: web::Query<SavedQuery>,
) -> Page {
    let contact = service::contact(&state, citizen.account.id).await?;
    let mut form = FormState::new();
    if let Some(c) = &contact {
        form = form
            .with_value("email", c.email.as_deref().unwrap_or(""))
            .with_value("phone", c.phone.as_deref().unwrap_or(""));
    }
    let enabled = |kind: Kind, channel: Channel| {
        contact
            .as_ref()
            .is_none_or(|c| service::wanted(c, kind, channel))
    };
    settings_page(
        &req,
        lang,
        &state,
        &citizen,
        form,
        &enabled,
        query.saved.is_some(),
    )
    .await
}

/// `POST /settings/notifications`
pub async fn save_settings(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    CsrfForm(input): CsrfForm<HashMap<String, String>>,
) -> Page {
    let email = input.get("email").map_or("", String::as_str);
    let phone = input.get("phone").map_or("", String::as_str);
    let enabled: Vec<String> = input
        .keys()
        .filter_map(|k| k.strip_prefix("pref."))
        .map(str::to_owned)
        .collect();
    let result = service::save_contact(
        &state,
        citizen.account.id,
        service::ContactInput {
            email,
            phone,
            lang,
            enabled: enabled.clone(),
        },
    )
    .await;
    match result {
        Ok(()) => Ok(see_other("/settings/notifications?saved=1")),
        Err(error) => {
            let form = FormState::new()
                .with_value("email", email)
                .with_value("phone", phone)
                .from_error(lang, error)?;
            let on = |kind: Kind, channel: Channel| enabled.contains(&preference(kind, channel));
            settings_page(&req, lang, &state, &citizen, form, &on, false).await
        }
    }
}

pub struct HealthRow {
    pub channel: String,
    pub pending: i64,
    pub delivered: i64,
    pub dead: i64,
}

#[derive(Template)]
#[template(path = "notify/health.html")]
struct HealthPage {
    lang: Lang,
    chrome: Chrome,
    rows: Vec<HealthRow>,
    oldest_seconds: i64,
}

/// `GET /admin/notifications`: delivery health of the outbox, by channel (the numbers of
/// `/metrics`, for operators).
pub async fn health(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
) -> Page {
    let mut rows: Vec<HealthRow> = Vec::new();
    for (kind, status, n) in crate::outbox::repo::counts_by_kind(&state.db).await? {
        let at = match rows.iter().position(|r| r.channel == kind) {
            Some(at) => at,
            None => {
                rows.push(HealthRow {
                    channel: kind,
                    pending: 0,
                    delivered: 0,
                    dead: 0,
                });
                rows.len() - 1
            }
        };
        let row = &mut rows[at];
        match status.as_str() {
            crate::outbox::repo::PENDING => row.pending += n,
            crate::outbox::repo::DELIVERED => row.delivered += n,
            _ => row.dead += n,
        }
    }
    rows.sort_by(|a, b| a.channel.cmp(&b.channel));
    let (_, _, oldest) = crate::outbox::repo::summary(&state.db).await?;
    let oldest_seconds = oldest.map_or(0, |at| (state.clock.now() - at).num_seconds().max(0));
    render(
        StatusCode::OK,
        &HealthPage {
            lang,
            chrome: Chrome::new(&req, Some(&operator.0))?,
            rows,
            oldest_seconds,
        },
    )
}
