//! The citizen's pages of sharing: "Đã chia sẻ / Shared" (requests waiting for an answer, every
//! live and ended grant), a request to decide, a grant with its uses and the withdrawal, and
//! the consent record (printable page and signed JSON). Thin: extract → service → render.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use uuid::Uuid;

use super::consent;
use super::model::{GrantStatus, Need};
use super::service::{self, Choice};
use crate::audit::plain;
use crate::auth::CitizenSession;
use crate::auth::csrf::CsrfForm;
use crate::auth::session::step_up_redirect;
use crate::error::AppError;
use crate::forms::Empty;
use crate::i18n::Lang;
use crate::site::{Chrome, Page, render, see_other};
use crate::state::AppState;
use crate::vault::model::DocumentType;

pub struct RequestRow {
    pub id: String,
    pub agency: String,
    pub purpose: String,
    pub received: String,
    pub answer_by: String,
}

pub struct GrantRow {
    pub id: String,
    pub agency: String,
    pub purpose: String,
    pub status: &'static str,
    pub status_key: String,
    pub given: String,
    pub until: String,
}

#[derive(Template)]
#[template(path = "grants/shared.html")]
struct SharedPage {
    lang: Lang,
    chrome: Chrome,
    requests: Vec<RequestRow>,
    grants: Vec<GrantRow>,
}

fn purpose_text(lang: Lang, purpose: Option<&crate::purposes::Purpose>, code: &str) -> String {
    match (purpose, lang) {
        (Some(p), Lang::En) => p.description_en.clone(),
        (Some(p), _) => p.description_vi.clone(),
        (None, _) => code.to_owned(),
    }
}

/// `GET /shared`
pub async fn shared(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
) -> Page {
    let now = state.clock.now();
    let requests = service::inbox(&state, &citizen.account)
        .await?
        .into_iter()
        .map(|ask| RequestRow {
            id: ask.request.id.to_string(),
            agency: ask.agency.name.clone(),
            purpose: purpose_text(lang, ask.purpose.as_ref(), &ask.request.purpose_code),
            received: plain::when(lang, ask.request.created_at, now),
            answer_by: plain::when(lang, ask.request.answer_by, now),
        })
        .collect();
    let grants = service::shared(&state, &citizen.account)
        .await?
        .into_iter()
        .map(|(grant, agency)| GrantRow {
            id: grant.id.to_string(),
            agency: agency.name,
            purpose: grant.purpose_code.clone(),
            status: GrantStatus::of(&grant, now).as_str(),
            status_key: format!("grants.status_{}", GrantStatus::of(&grant, now).as_str()),
            given: plain::when(lang, grant.created_at, now),
            until: plain::when(lang, grant.expires_at, now),
        })
        .collect();
    render(
        StatusCode::OK,
        &SharedPage {
            lang,
            chrome: Chrome::new(&req, Some(&citizen.0))?,
            requests,
            grants,
        },
    )
}

pub struct Candidate {
    pub id: String,
    pub title: String,
    pub added: String,
}

pub struct ItemView {
    pub index: usize,
    pub label: String,
    pub required: bool,
    pub file: bool,
    pub required_fields: Vec<String>,
    pub optional_fields: Vec<(String, String)>,
    pub candidates: Vec<Candidate>,
}

#[derive(Template)]
#[template(path = "grants/request.html")]
struct RequestPage {
    lang: Lang,
    chrome: Chrome,
    id: String,
    pending: bool,
    status: &'static str,
    status_key: String,
    agency: String,
    agency_code: String,
    contact: crate::agencies::Contact,
    purpose: String,
    legal_basis: String,
    retention_days: u32,
    explanation: String,
    procedure: Option<String>,
    duration: String,
    max_uses: i32,
    answer_by: String,
    items: Vec<ItemView>,
    error: Option<String>,
}

fn field_label(lang: Lang, name: &str) -> String {
    lang.t(&format!("docfield.{name}")).into_owned()
}

async fn request_page(
    req: &HttpRequest,
    lang: Lang,
    state: &AppState,
    citizen: &CitizenSession,
    id: Uuid,
    error: Option<AppError>,
) -> Page {
    let now = state.clock.now();
    let ask = service::citizen_request(state, &citizen.account, id).await?;
    let status = super::model::request_status(&ask.request, now);
    let pending = status == super::model::RequestStatus::Pending;
    let types: Vec<String> = ask.items.iter().map(|i| i.doc_type.clone()).collect();
    let documents = if pending {
        crate::access::door::of_types(state, &citizen.account, &types).await?
    } else {
        Vec::new()
    };
    let items = ask
        .items
        .iter()
        .enumerate()
        .map(|(index, item)| ItemView {
            index,
            label: DocumentType::parse(&item.doc_type)
                .map(|t| lang.t(&t.label_key()).into_owned())
                .unwrap_or_else(|| item.doc_type.clone()),
            required: item.need == Need::Required,
            file: item.file,
            required_fields: item
                .fields
                .iter()
                .filter(|(_, n)| **n == Need::Required)
                .map(|(f, _)| field_label(lang, f))
                .collect(),
            optional_fields: item
                .fields
                .iter()
                .filter(|(_, n)| **n == Need::Optional)
                .map(|(f, _)| (f.clone(), field_label(lang, f)))
                .collect(),
            candidates: documents
                .iter()
                .filter(|(row, _)| row.doc_type == item.doc_type)
                .filter(|(row, _)| item.file || row.source != "self")
                .map(|(row, title)| Candidate {
                    id: row.id.to_string(),
                    title: title.clone(),
                    added: plain::when(lang, row.created_at, now),
                })
                .collect(),
        })
        .collect();
    let (legal_basis, retention_days) = ask
        .purpose
        .as_ref()
        .map(|p| (p.legal_basis.clone(), p.retention_days))
        .unwrap_or_default();
    let page_status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        page_status,
        &RequestPage {
            lang,
            chrome: Chrome::new(req, Some(&citizen.0))?,
            id: ask.request.id.to_string(),
            pending,
            status: status.as_str(),
            status_key: format!("grants.request_status_{}", status.as_str()),
            agency: ask.agency.name.clone(),
            agency_code: ask.agency.code.clone(),
            contact: crate::agencies::Contact::of(&ask.agency),
            purpose: purpose_text(lang, ask.purpose.as_ref(), &ask.request.purpose_code),
            legal_basis,
            retention_days,
            explanation: ask.request.explanation.clone(),
            procedure: ask.procedure.as_ref().map(|p| match lang {
                Lang::En => p.name_en.clone(),
                _ => p.name_vi.clone(),
            }),
            duration: match super::model::Length::of(&ask.request) {
                super::model::Length::Days(n) => {
                    lang.t("grants.days").replace("%{n}", &n.to_string())
                }
                super::model::Length::Minutes(n) => {
                    lang.t("grants.minutes").replace("%{n}", &n.to_string())
                }
            },
            max_uses: ask.request.max_uses,
            answer_by: plain::when(lang, ask.request.answer_by, now),
            items,
            error: error.map(|e| lang.t(&crate::forms::problem_key(e.code())).into_owned()),
        },
    )
}

/// `GET /shared/requests/{id}`
pub async fn request(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    path: web::Path<Uuid>,
) -> Page {
    request_page(&req, lang, &state, &citizen, path.into_inner(), None).await
}

/// The approval form: `doc_{item}_{document}=on` for each document picked, and
/// `opt_{item}_{field}=on` for each optional field switched on.
fn choice_from(form: &BTreeMap<String, String>) -> Result<Choice, AppError> {
    let mut choice = Choice::default();
    let bad = || AppError::invalid("invalid_choice", "the form does not match the request");
    for (name, value) in form {
        if value != "on" {
            continue;
        }
        if let Some(rest) = name.strip_prefix("doc_") {
            let (index, document) = rest.split_once('_').ok_or_else(bad)?;
            let index: usize = index.parse().map_err(|_| bad())?;
            let document = Uuid::parse_str(document).map_err(|_| bad())?;
            choice
                .documents
                .entry(index)
                .or_insert_with(BTreeSet::new)
                .insert(document);
        } else if let Some(rest) = name.strip_prefix("opt_") {
            let (index, field) = rest.split_once('_').ok_or_else(bad)?;
            let index: usize = index.parse().map_err(|_| bad())?;
            choice
                .optional_fields
                .entry(index)
                .or_insert_with(BTreeSet::new)
                .insert(field.to_owned());
        }
    }
    Ok(choice)
}

/// `POST /shared/requests/{id}/approve` (needs the step-up)
pub async fn approve(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    path: web::Path<Uuid>,
    CsrfForm(form): CsrfForm<BTreeMap<String, String>>,
) -> Page {
    let id = path.into_inner();
    let back = format!("/shared/requests/{id}");
    if let Some(step_up) = step_up_redirect(&state, &citizen.session, &back) {
        return Ok(step_up);
    }
    let result = match choice_from(&form) {
        Ok(choice) => service::approve(&state, &citizen.account, id, &choice).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(grant) => Ok(see_other(&format!("/shared/grants/{}", grant.id))),
        Err(error @ (AppError::InvalidInput { .. } | AppError::Conflict { .. })) => {
            request_page(&req, lang, &state, &citizen, id, Some(error)).await
        }
        Err(error) => Err(error),
    }
}

/// `POST /shared/requests/{id}/refuse`
pub async fn refuse(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    path: web::Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    let id = path.into_inner();
    match service::refuse(&state, &citizen.account, id).await {
        Ok(()) => Ok(see_other("/shared")),
        Err(error @ AppError::Conflict { .. }) => {
            request_page(&req, lang, &state, &citizen, id, Some(error)).await
        }
        Err(error) => Err(error),
    }
}

pub struct CoveredRow {
    pub label: String,
    pub file: bool,
    pub fields: Vec<String>,
    pub field_reads: i32,
    pub file_reads: i32,
}

#[derive(Template)]
#[template(path = "grants/grant.html")]
struct GrantPage {
    lang: Lang,
    chrome: Chrome,
    id: String,
    agency: String,
    purpose: String,
    status: &'static str,
    status_key: String,
    given: String,
    until: String,
    withdrawn: Option<String>,
    max_uses: i32,
    covered: Vec<CoveredRow>,
    record: String,
}

/// `GET /shared/grants/{id}`: what it covers, how often each was read, the consent record
/// (printable), and the withdrawal.
pub async fn grant(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    citizen: CitizenSession,
    path: web::Path<Uuid>,
) -> Page {
    let now = state.clock.now();
    let (grant, documents, agency) =
        service::citizen_grant(&state, &citizen.account, path.into_inner()).await?;
    let signed = consent::signed(&state, &grant)?;
    let covered = documents
        .iter()
        .map(|d| CoveredRow {
            label: DocumentType::parse(&d.doc_type)
                .map(|t| lang.t(&t.label_key()).into_owned())
                .unwrap_or_else(|| d.doc_type.clone()),
            file: d.file,
            fields: serde_json::from_str::<Vec<String>>(&d.fields)
                .unwrap_or_default()
                .iter()
                .map(|f| field_label(lang, f))
                .collect(),
            field_reads: d.field_reads,
            file_reads: d.file_reads,
        })
        .collect();
    render(
        StatusCode::OK,
        &GrantPage {
            lang,
            chrome: Chrome::new(&req, Some(&citizen.0))?,
            id: grant.id.to_string(),
            agency: agency.name,
            purpose: grant.purpose_code.clone(),
            status: GrantStatus::of(&grant, now).as_str(),
            status_key: format!("grants.status_{}", GrantStatus::of(&grant, now).as_str()),
            given: plain::when(lang, grant.created_at, now),
            until: plain::when(lang, grant.expires_at, now),
            withdrawn: grant.withdrawn_at.map(|at| plain::when(lang, at, now)),
            max_uses: grant.max_uses,
            covered,
            record: serde_json::to_string_pretty(&signed).map_err(AppError::internal)?,
        },
    )
}

/// `POST /shared/grants/{id}/withdraw`
pub async fn withdraw(
    state: web::Data<AppState>,
    citizen: CitizenSession,
    path: web::Path<Uuid>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Page {
    let id = path.into_inner();
    service::withdraw(&state, &citizen.account, id).await?;
    Ok(see_other(&format!("/shared/grants/{id}")))
}

/// `GET /shared/grants/{id}/consent.json`: the signed consent record, for `congdanso verify`.
pub async fn consent_json(
    state: web::Data<AppState>,
    citizen: CitizenSession,
    path: web::Path<Uuid>,
) -> Page {
    let (grant, _, _) = service::citizen_grant(&state, &citizen.account, path.into_inner()).await?;
    let signed = consent::signed(&state, &grant)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"consent-{}.json\"", grant.id),
        ))
        .json(signed))
}
