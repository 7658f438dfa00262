//! "Ai đã xem dữ liệu của tôi" / "Who saw my data": the citizen's access log in plain language,
//! newest first, filtered by period, document or actor, paged by keyset; its export (JSON that
//! `congdanso audit verify --export` checks offline) and a printable page. Thin: extract →
//! service → render.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use chrono::{NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::model::Actor;
use super::plain;
use super::service::{self, EntryView, PageQuery};
use crate::auth::CitizenSession;
use crate::error::AppError;
use crate::i18n::Lang;
use crate::site::{Chrome, Page, render};
use crate::state::AppState;

/// Entries per page.
const PAGE_SIZE: u64 = 20;

/// The actor kinds the filter offers.
const ACTOR_KINDS: [&str; 4] = ["citizen", "staff", "agency", "operator"];

#[derive(Deserialize)]
pub struct LogQuery {
    before: Option<String>,
    from: Option<String>,
    until: Option<String>,
    document: Option<String>,
    actor: Option<String>,
    who: Option<String>,
}

/// One line of the page: the entry as a sentence.
pub struct Row {
    pub id: String,
    pub sentence: String,
    /// Vietnam time, machine-readable (`<time datetime>`).
    pub iso: String,
    pub outcome: &'static str,
    pub document_id: Option<String>,
    pub actor_id: Option<String>,
}

/// The rows of `entries` in `lang`, with every name looked up in one query per kind.
pub async fn rows(
    state: &AppState,
    lang: Lang,
    entries: &[EntryView],
) -> Result<Vec<Row>, AppError> {
    let names = plain::names(state, entries).await?;
    let now = state.clock.now();
    Ok(entries
        .iter()
        .map(|e| Row {
            id: e.id.to_string(),
            sentence: plain::sentence(lang, e, &names, now),
            iso: plain::iso(e.occurred_at),
            outcome: e.outcome.map_or("unknown", |o| o.as_str()),
            document_id: e.object.and_then(|o| o.document()).map(|id| id.to_string()),
            actor_id: e
                .actor
                .filter(|a| !matches!(a, Actor::Citizen { .. }))
                .map(|a| a.id().to_string()),
        })
        .collect())
}

#[derive(Template)]
#[template(path = "audit/access_log.html")]
struct AccessLogPage {
    lang: Lang,
    chrome: Chrome,
    rows: Vec<Row>,
    from: String,
    until: String,
    who: String,
    kinds: Vec<(&'static str, String)>,
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

/// The start of a day in Vietnam time.
fn vietnam_midnight(day: NaiveDate) -> Option<chrono::DateTime<Utc>> {
    plain::vietnam()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0)?)
        .single()
        .map(|d| d.with_timezone(&Utc))
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
    let who = non_empty(&query.who)
        .map(|v| {
            ACTOR_KINDS
                .into_iter()
                .find(|k| *k == v)
                .ok_or_else(|| AppError::field("who", "choice"))
        })
        .transpose()?;
    let page_query = PageQuery {
        actor: parse_id(&query.actor, "actor")?,
        actor_kind: who,
        document: parse_id(&query.document, "document")?,
        // Days are Vietnamese calendar days; the whole last day is included.
        from: from.and_then(vietnam_midnight),
        until: until.and_then(|d| d.succ_opt()).and_then(vietnam_midnight),
        before: non_empty(&query.before)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| AppError::field("before", "number"))
            })
            .transpose()?,
    };
    let page = service::page(&state, citizen.account.id, &page_query, PAGE_SIZE).await?;
    let rows = rows(&state, lang, &page.entries).await?;
    let mut keep: Vec<(&str, String)> = Vec::new();
    for (name, value) in [
        ("from", &query.from),
        ("until", &query.until),
        ("document", &query.document),
        ("actor", &query.actor),
        ("who", &query.who),
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
            who: who.unwrap_or_default().to_owned(),
            kinds: ACTOR_KINDS
                .iter()
                .map(|k| (*k, format!("access_log.actor_kind_{k}")))
                .collect(),
            filtered: !keep.is_empty(),
            older,
        },
    )
}

/// `GET /access-log/export.json`: the citizen's whole log with chain, inclusion proofs and
/// checkpoints, the file `congdanso audit verify --export` checks offline.
pub async fn export_json(
    state: web::Data<AppState>,
    citizen: CitizenSession,
) -> Result<HttpResponse, AppError> {
    service::settle(&state, citizen.account.id).await?;
    let export = service::export_for_citizen(&state.db, citizen.account.id).await?;
    let bytes = export.to_bytes().map_err(AppError::internal)?;
    let day = state
        .clock
        .now()
        .with_timezone(&plain::vietnam())
        .format("%Y-%m-%d");
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"access-log-{day}.json\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(bytes))
}

#[derive(Template)]
#[template(path = "audit/print.html")]
struct PrintPage {
    lang: Lang,
    chrome: Chrome,
    rows: Vec<Row>,
    printed_for: String,
    chain: String,
    checkpoint: Option<String>,
    heading: String,
}

/// `GET /access-log/print`: every entry in plain language, the chain head, the latest signed
/// checkpoint and how to verify offline, laid out for paper.
pub async fn print(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
) -> Page {
    let account = citizen.account.id;
    service::settle(&state, account).await?;
    let entries = service::all_entries(&state.db, account).await?;
    let rows = rows(&state, lang, &entries).await?;
    let (seq, hash, checkpoint) = service::heads_for_print(&state.db, account).await?;
    let name = crate::accounts::service::profile(&state, &citizen.account)?
        .map(|p| p.full_name)
        .unwrap_or_default();
    let now = state.clock.now();
    let printed_at = now
        .with_timezone(&plain::vietnam())
        .format("%H:%M %d/%m/%Y (UTC+7)")
        .to_string();
    render(
        StatusCode::OK,
        &PrintPage {
            lang,
            chrome: Chrome::new(&req, Some(&citizen.0))?,
            heading: plain::fill(
                &lang.t("access_log.print_entries"),
                &[("count", &rows.len().to_string())],
            ),
            rows,
            printed_for: plain::fill(
                &lang.t("access_log.print_for"),
                &[("name", &name), ("when", &printed_at)],
            ),
            chain: plain::fill(
                &lang.t("access_log.print_chain_text"),
                &[("seq", &seq.to_string()), ("hash", &hash)],
            ),
            checkpoint: checkpoint.map(|c| c.note),
        },
    )
}
