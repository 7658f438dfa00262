//! The agency API of sharing: requests, grants, and reads under a grant. Thin: extract →
//! service → JSON.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde_json::json;
use uuid::Uuid;

use super::repo::{self, Form};
use super::service;
use crate::access::door::DocumentId;
use crate::error::AppError;
use crate::issuers::api::AgencyClient;
use crate::state::AppState;

/// The header carrying the signed access receipt of a file read (base64url of its JSON).
pub const RECEIPT_HEADER: &str = "Congdanso-Access-Receipt";

/// `POST /api/v1/requests` (honours `Idempotency-Key`).
pub async fn create_request(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: AgencyClient,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let key = req
        .headers()
        .get("Idempotency-Key")
        .map(|v| {
            v.to_str().map_err(|_| {
                AppError::invalid("invalid_idempotency_key", "Idempotency-Key must be ASCII")
            })
        })
        .transpose()?;
    let (row, created) = service::create_request(&state, &client, &body, key).await?;
    let body = service::request_json(&row, state.clock.now());
    Ok(if created {
        HttpResponse::Created()
            .insert_header((header::LOCATION, format!("/api/v1/requests/{}", row.id)))
            .json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// `GET /api/v1/requests`: the agency's newest requests.
pub async fn list_requests(
    state: web::Data<AppState>,
    client: AgencyClient,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let rows = repo::requests_of_agency(&state.db, client.agency.id).await?;
    let items: Vec<_> = rows.iter().map(|r| service::request_json(r, now)).collect();
    Ok(HttpResponse::Ok().json(json!({ "requests": items })))
}

/// `GET /api/v1/requests/{id}`
pub async fn show_request(
    state: web::Data<AppState>,
    client: AgencyClient,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let row = service::agency_request(&state, &client, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(service::request_json(&row, state.clock.now())))
}

/// `GET /api/v1/grants`: the agency's newest grants.
pub async fn list_grants(
    state: web::Data<AppState>,
    client: AgencyClient,
) -> Result<HttpResponse, AppError> {
    let grants = repo::grants_of_agency(&state.db, client.agency.id).await?;
    let mut items = Vec::with_capacity(grants.len());
    for grant in &grants {
        let documents = repo::grant_documents(&state.db, grant.id).await?;
        items.push(service::grant_json(&state, grant, &documents)?);
    }
    Ok(HttpResponse::Ok().json(json!({ "grants": items })))
}

/// `GET /api/v1/grants/{id}`: status, what it covers, the signed consent record.
pub async fn show_grant(
    state: web::Data<AppState>,
    client: AgencyClient,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let (grant, documents) = service::agency_grant(&state, &client, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(service::grant_json(&state, &grant, &documents)?))
}

/// `GET /api/v1/grants/{id}/documents/{document}`: the granted signed fields, with the signed
/// access receipt.
pub async fn read_fields(
    state: web::Data<AppState>,
    client: AgencyClient,
    path: web::Path<(Uuid, DocumentId)>,
) -> Result<HttpResponse, AppError> {
    let (grant, document) = path.into_inner();
    let read = service::agency_read(&state, &client, grant, document, Form::Fields).await?;
    let body = service::fields_response(&state, &read).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(body))
}

/// `GET /api/v1/grants/{id}/documents/{document}/file`: the file, with the signed access
/// receipt in a header.
pub async fn read_file(
    state: web::Data<AppState>,
    client: AgencyClient,
    path: web::Path<(Uuid, DocumentId)>,
) -> Result<HttpResponse, AppError> {
    let (grant, document) = path.into_inner();
    let read = service::agency_read(&state, &client, grant, document, Form::File).await?;
    let receipt = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&read.receipt).map_err(AppError::internal)?);
    let content_type = read.opened.row.content_type.clone();
    let len = read.opened.size();
    let body = read.opened.stream(state.get_ref().clone(), 0..len).await?;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header((RECEIPT_HEADER, receipt))
        .no_chunking(len)
        .streaming(body))
}
