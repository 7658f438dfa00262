//! "Ai đã xem dữ liệu của tôi" / "Who saw my data": the citizen's access log, newest first,
//! filtered by period, document or actor, paged by keyset. Thin: extract → service → render.

use actix_web::{HttpRequest, http::StatusCode, web};
use askama::Template;
use chrono::{NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::model::{Actor, Authorization, Object};
use super::service::{self, PageQuery};
use crate::auth::CitizenSession;
use crate::error::AppError;
use crate::i18n::Lang;
use crate::site::{Chrome, Page, render};
use crate::state::AppState;

/// Entries per page.
const PAGE_SIZE: u64 = 20;

#[derive(Deserialize)]
pub struct LogQuery {
    before: Option<String>,
    from: Option<String>,
    until: Option<String>,
    document: Option<String>,
    actor: Option<String>,
}

/// One line of the page.
pub struct Row {
    pub when: String,
    pub who_key: &'static str,
    pub agency: Option<String>,
    pub actor_id: Option<String>,
    pub what_key: String,
    pub object_key: String,
    pub document_id: Option<String>,
    pub purpose: Option<String>,
    pub authority_key: &'static str,
    pub outcome_key: String,
    pub outcome: String,
}

#[derive(Template)]
#[template(path = "audit/access_log.html")]
struct AccessLogPage {
    lang: Lang,
    chrome: Chrome,
    rows: Vec<Row>,
    from: String,
    until: String,
    filtered: bool,
    older: Option<String>,
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn parse_date(value: &Option<String>, field: &'static str) -> Result<Option<NaiveDate>, AppError> {
    non_empty(value)
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| AppError::field(field, "date"))
        })
        .transpose()
}

fn parse_id(value: &Option<String>, field: &'static str) -> Result<Option<Uuid>, AppError> {
    non_empty(value)
        .map(|v| Uuid::parse_str(v).map_err(|_| AppError::field(field, "id")))
        .transpose()
}

/// `GET /access-log`
pub async fn access_log(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    query: web::Query<LogQuery>,
) -> Page {
    let from = parse_date(&query.from, "from")?;
    let until = parse_date(&query.until, "until")?;
    let page_query = PageQuery {
        actor: parse_id(&query.actor, "actor")?,
        document: parse_id(&query.document, "document")?,
        from: from
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| Utc.from_utc_datetime(&d)),
        // The whole last day is included.
        until: until
            .and_then(|d| d.succ_opt())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| Utc.from_utc_datetime(&d)),
        before: non_empty(&query.before)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| AppError::field("before", "number"))
            })
            .transpose()?,
    };
    service::settle(&state, citizen.account.id).await?;
    let page = service::page(&state.db, citizen.account.id, &page_query, PAGE_SIZE).await?;
    let names = service::agency_names(&state.db, &page.entries).await?;
    let rows = page
        .entries
        .iter()
        .map(|e| Row {
            when: e.occurred_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            who_key: match e.actor {
                Some(Actor::Citizen { .. }) => "access_log.actor_citizen",
                Some(Actor::Staff { .. }) => "access_log.actor_staff",
                Some(Actor::Agency { .. }) => "access_log.actor_agency",
                None => "access_log.unknown",
            },
            agency: e
                .actor
                .and_then(|a| a.agency())
                .and_then(|id| names.get(&id).cloned()),
            actor_id: e.actor.map(|a| a.id().to_string()),
            what_key: e.action.map_or("access_log.unknown".to_owned(), |a| {
                format!("access_log.action_{}", a.as_str().replace('.', "_"))
            }),
            object_key: match e.object {
                Some(Object::Document { doc_type, .. }) => doc_type.label_key(),
                Some(other) => format!("access_log.object_{}", other.type_code()),
                None => "access_log.unknown".to_owned(),
            },
            document_id: e.object.and_then(|o| o.id()).map(|id| id.to_string()),
            purpose: e.purpose.clone(),
            authority_key: match e.authorization {
                Some(Authorization::Owner) => "access_log.auth_owner",
                Some(Authorization::Grant(_)) => "access_log.auth_grant",
                Some(Authorization::Request(_)) => "access_log.auth_request",
                Some(Authorization::IssuingAuthority) => "access_log.auth_issuing_authority",
                None => "access_log.unknown",
            },
            outcome_key: e.outcome.map_or("access_log.unknown".to_owned(), |o| {
                format!("access_log.outcome_{}", o.as_str())
            }),
            outcome: e.outcome.map_or("unknown", |o| o.as_str()).to_owned(),
        })
        .collect();
    let mut keep: Vec<(&str, String)> = Vec::new();
    for (name, value) in [
        ("from", &query.from),
        ("until", &query.until),
        ("document", &query.document),
        ("actor", &query.actor),
    ] {
        if let Some(v) = non_empty(value) {
            keep.push((name, v.to_owned()));
        }
    }
    let older = page.next_before.map(|before| {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        pairs.append_pair("before", &before.to_string());
        for (name, value) in &keep {
            pairs.append_pair(name, value);
        }
        format!("/access-log?{}", pairs.finish())
    });
    render(
        StatusCode::OK,
        &AccessLogPage {
            lang,
            chrome: Chrome::new(&req, Some(&citizen.0))?,
            rows,
            from: non_empty(&query.from).unwrap_or_default().to_owned(),
            until: non_empty(&query.until).unwrap_or_default().to_owned(),
            filtered: !keep.is_empty(),
            older,
        },
    )
}
