//! The agency admin's view of its agency's sharing: requests (status, dates) and grants
//! (status, reads used, expiry), newest first. Citizens are not named: the agency's own systems
//! hold who they asked. Also the operators' oversight of refused over-asking requests.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;

use super::model::{GrantStatus, request_status};
use super::repo;
use crate::audit::plain;
use crate::auth::{AgencyAdminSession, OperatorSession};
use crate::error::AppError;
use crate::i18n::Lang;
use crate::site::{Chrome, Page, render};
use crate::state::AppState;

pub struct RequestLine {
    pub id: String,
    pub purpose: String,
    pub status_key: String,
    pub created: String,
    pub answer_by: String,
}

pub struct GrantLine {
    pub id: String,
    pub purpose: String,
    pub status_key: String,
    pub expires: String,
    pub reads: i64,
    pub documents: usize,
}

#[derive(Template)]
#[template(path = "grants/agency.html")]
struct AgencySharingPage {
    lang: Lang,
    chrome: Chrome,
    requests: Vec<RequestLine>,
    grants: Vec<GrantLine>,
}

/// `GET /agency/sharing`
pub async fn agency_sharing(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    admin: AgencyAdminSession,
) -> Page {
    let agency = admin.account.agency_id.ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    let requests = repo::requests_of_agency(&state.db, agency)
        .await?
        .iter()
        .map(|r| RequestLine {
            id: r.id.to_string(),
            purpose: r.purpose_code.clone(),
            status_key: format!("grants.request_status_{}", request_status(r, now).as_str()),
            created: plain::when(lang, r.created_at, now),
            answer_by: plain::when(lang, r.answer_by, now),
        })
        .collect();
    let mut grants = Vec::new();
    for g in repo::grants_of_agency(&state.db, agency).await? {
        let documents = repo::grant_documents(&state.db, g.id).await?;
        grants.push(GrantLine {
            id: g.id.to_string(),
            purpose: g.purpose_code.clone(),
            status_key: format!("grants.status_{}", GrantStatus::of(&g, now).as_str()),
            expires: plain::when(lang, g.expires_at, now),
            reads: documents
                .iter()
                .map(|d| i64::from(d.field_reads) + i64::from(d.file_reads))
                .sum(),
            documents: documents.len(),
        });
    }
    render(
        StatusCode::OK,
        &AgencySharingPage {
            lang,
            chrome: Chrome::new(&req, Some(&admin.0))?,
            requests,
            grants,
        },
    )
}

pub struct OverAskingLine {
    pub agency: String,
    pub purpose: String,
    pub reason: String,
    pub asked: String,
    pub citizen_named: bool,
    pub at: String,
}

#[derive(Template)]
#[template(path = "grants/over_asking.html")]
struct OverAskingPage {
    lang: Lang,
    chrome: Chrome,
    lines: Vec<OverAskingLine>,
}

/// `GET /admin/over-asking`: refused requests that asked more than a purpose covers.
pub async fn over_asking(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    operator: OperatorSession,
) -> Page {
    let now = state.clock.now();
    let rows = crate::purposes::repo::recent_over_asking(&state.db, 200).await?;
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        let agency = crate::agencies::repo::find_by_id(&state.db, row.agency_id)
            .await?
            .map(|a| format!("{} ({})", a.name, a.code))
            .unwrap_or_else(|| row.agency_id.to_string());
        lines.push(OverAskingLine {
            agency,
            purpose: row.purpose_code,
            reason: row.reason,
            asked: row.asked,
            citizen_named: row.citizen_named,
            at: plain::when(lang, row.created_at, now),
        });
    }
    render(
        StatusCode::OK,
        &OverAskingPage {
            lang,
            chrome: Chrome::new(&req, Some(&operator.0))?,
            lines,
        },
    )
}
