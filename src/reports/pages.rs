//! Misuse-report pages: the citizen's form on an entry and their list of reports with answers;
//! the operators' inbox under `/admin/reports`. Thin: extract → service → render. Opening a
//! report (the citizen's comment) and moving it need a fresh second-factor step-up.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::model::Status;
use super::service;
use crate::audit::pages::{Row, rows};
use crate::audit::plain;
use crate::auth::csrf::CsrfForm;
use crate::auth::session::step_up_redirect;
use crate::auth::{CitizenSession, OperatorSession};
use crate::error::AppError;
use crate::forms::{Empty, FormState};
use crate::i18n::Lang;
use crate::site::{Chrome, Page, render, see_other};
use crate::state::AppState;

// ------------------------------------------------------------------ citizen

#[derive(Template)]
#[template(path = "reports/new.html")]
struct NewReportPage {
    lang: Lang,
    chrome: Chrome,
    entry: Row,
    form: FormState,
}

#[derive(Deserialize)]
pub struct CommentInput {
    #[serde(default)]
    comment: String,
}

async fn new_report_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    citizen: &CitizenSession,
    entry: Uuid,
    form: FormState,
) -> Page {
    let view = service::reportable_entry(state, &citizen.account, entry).await?;
    let entry = rows(state, lang, std::slice::from_ref(&view))
        .await?
        .pop()
        .ok_or(AppError::NotFound)?;
    let status = form.status();
    render(
        status,
        &NewReportPage {
            lang,
            chrome: Chrome::new(req, Some(&citizen.0))?,
            entry,
            form,
        },
    )
}

/// `GET /access-log/entries/{id}/report`
pub async fn report_form(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    path: web::Path<Uuid>,
) -> Page {
    new_report_page(
        &req,
        lang,
        &state,
        &citizen,
        path.into_inner(),
        FormState::new(),
    )
    .await
}

/// `POST /access-log/entries/{id}/report`
pub async fn file_report(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    path: web::Path<Uuid>,
    CsrfForm(input): CsrfForm<CommentInput>,
) -> Page {
    let entry = path.into_inner();
    match service::file(&state, &citizen.account, entry, &input.comment).await {
        Ok(_) => Ok(see_other("/access-log/reports")),
        Err(error) => {
            let form = FormState::new()
                .with_value("comment", &input.comment)
                .from_error(lang, error)?;
            new_report_page(&req, lang, &state, &citizen, entry, form).await
        }
    }
}

/// A report as a list shows it.
pub struct ReportRow {
    pub id: String,
    pub status: &'static str,
    pub status_key: String,
    pub filed: String,
    pub filed_iso: String,
    pub comment: String,
    pub answer: Option<String>,
    pub answered: Option<String>,
}

fn report_row(
    lang: Lang,
    now: chrono::DateTime<chrono::Utc>,
    r: &service::ReportView,
) -> ReportRow {
    ReportRow {
        id: r.id.to_string(),
        status: r.status.as_str(),
        status_key: r.status.label_key(),
        filed: plain::when(lang, r.created_at, now),
        filed_iso: plain::iso(r.created_at),
        comment: r.comment.clone(),
        answer: r.answer.clone(),
        answered: r.answered_at.map(|at| plain::when(lang, at, now)),
    }
}

#[derive(Template)]
#[template(path = "reports/mine.html")]
struct MyReportsPage {
    lang: Lang,
    chrome: Chrome,
    reports: Vec<ReportRow>,
}

/// `GET /access-log/reports`: the citizen's reports, their status and the answers.
pub async fn mine(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
) -> Page {
    let now = state.clock.now();
    let reports = service::mine(&state, &citizen.account)
        .await?
        .iter()
        .map(|r| report_row(lang, now, r))
        .collect();
    render(
        StatusCode::OK,
        &MyReportsPage {
            lang,
            chrome: Chrome::new(&req, Some(&citizen.0))?,
            reports,
        },
    )
}

// ------------------------------------------------------------------ operators

#[derive(Deserialize)]
pub struct InboxQuery {
    status: Option<String>,
}

pub struct InboxRow {
    pub id: String,
    pub filed: String,
    pub filed_iso: String,
}

#[derive(Template)]
#[template(path = "reports/inbox.html")]
struct InboxPage {
    lang: Lang,
    chrome: Chrome,
    status: &'static str,
    statuses: Vec<(&'static str, String)>,
    items: Vec<InboxRow>,
}

/// `GET /admin/reports?status=new|investigating|answered`
pub async fn inbox(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    query: web::Query<InboxQuery>,
) -> Page {
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        Some(value) => Status::parse(value).ok_or_else(|| AppError::field("status", "choice"))?,
        None => Status::New,
    };
    let now = state.clock.now();
    let items = service::inbox(&state, status)
        .await?
        .iter()
        .map(|i| InboxRow {
            id: i.id.to_string(),
            filed: plain::when(lang, i.created_at, now),
            filed_iso: plain::iso(i.created_at),
        })
        .collect();
    render(
        StatusCode::OK,
        &InboxPage {
            lang,
            chrome: Chrome::new(&req, Some(&operator.0))?,
            status: status.as_str(),
            statuses: Status::ALL
                .iter()
                .map(|s| (s.as_str(), s.label_key()))
                .collect(),
            items,
        },
    )
}

#[derive(Template)]
#[template(path = "reports/operator.html")]
struct OperatorReportPage {
    lang: Lang,
    chrome: Chrome,
    report: ReportRow,
    entry: Option<Row>,
    can_investigate: bool,
    can_answer: bool,
    form: FormState,
}

fn report_path(id: Uuid) -> String {
    format!("/admin/reports/{id}")
}

async fn operator_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    operator: &OperatorSession,
    id: Uuid,
    form: FormState,
) -> Page {
    let (report, entry) = service::open_for_operator(state, id).await?;
    let entry = match entry {
        Some(view) => rows(state, lang, std::slice::from_ref(&view)).await?.pop(),
        None => None,
    };
    let status = form.status();
    render(
        status,
        &OperatorReportPage {
            lang,
            chrome: Chrome::new(req, Some(&operator.0))?,
            can_investigate: report.status.can_move_to(Status::Investigating),
            can_answer: report.status.can_move_to(Status::Answered),
            report: report_row(lang, state.clock.now(), &report),
            entry,
            form,
        },
    )
}

/// `GET /admin/reports/{id}`: the comment, the entry it refers to, the actions.
pub async fn open(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
) -> Page {
    let id = path.into_inner();
    if let Some(step_up) = step_up_redirect(&state, &operator.session, &report_path(id)) {
        return Ok(step_up);
    }
    operator_page(&req, lang, &state, &operator, id, FormState::new()).await
}

/// `POST /admin/reports/{id}/investigate`
pub async fn investigate(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    let id = path.into_inner();
    if let Some(step_up) = step_up_redirect(&state, &operator.session, &report_path(id)) {
        return Ok(step_up);
    }
    match service::investigate(&state, &operator.account, id).await {
        Ok(()) => Ok(see_other(&report_path(id))),
        Err(error) => {
            let form = FormState::new().from_error(lang, error)?;
            operator_page(&req, lang, &state, &operator, id, form).await
        }
    }
}

#[derive(Deserialize)]
pub struct AnswerInput {
    #[serde(default)]
    answer: String,
}

/// `POST /admin/reports/{id}/answer`
pub async fn answer(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
    path: web::Path<Uuid>,
    CsrfForm(input): CsrfForm<AnswerInput>,
) -> Page {
    let id = path.into_inner();
    if let Some(step_up) = step_up_redirect(&state, &operator.session, &report_path(id)) {
        return Ok(step_up);
    }
    match service::answer(&state, &operator.account, id, &input.answer).await {
        Ok(()) => Ok(see_other(&report_path(id))),
        Err(error) => {
            let form = FormState::new()
                .with_value("answer", &input.answer)
                .from_error(lang, error)?;
            operator_page(&req, lang, &state, &operator, id, form).await
        }
    }
}
