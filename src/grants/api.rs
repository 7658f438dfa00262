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
use crate::issuers::api::{AgencyClient, AgencyToken};
use crate::state::AppState;

/// The header carrying the signed access receipt of a file read (base64url of its JSON).
pub const RECEIPT_HEADER: &str = "Congdanso-Access-Receipt";

/// `POST /api/v1/requests` (honours `Idempotency-Key`).
#[utoipa::path(
    post,
    path = "/api/v1/requests",
    tag = "sharing",
    operation_id = "create_request",
    summary = "Ask a citizen for documents, for one of the agency's registered purposes",
    description = "The citizen decides in their inbox. A national ID number without an account \
is answered exactly like any other (the request just expires unanswered): the API never tells \
an agency who has an account.",
    security(("agency_token" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header,
         description = "1 to 128 ASCII characters. The same key with the same body answers 200 \
with the first request (also when both arrive at once); with another body 409."),
    ),
    request_body(content = crate::grants::model::NewRequest, content_type = "application/json",
        example = json!({
            "citizen_national_id": "001099000123", "purpose": "cu-tru",
            "explanation": "Xác minh nhân thân để đăng ký thường trú",
            "documents": [{"type": "cccd", "need": "required", "file": false,
                           "fields": {"full_name": "required", "date_of_birth": "optional"}}],
            "duration_days": 30, "max_uses": 1,
            "callback_url": "https://motcua.example/congdanso/webhook"
        })),
    responses(
        (status = 201, description = "Created, pending the citizen's answer.",
         body = crate::openapi::RequestView,
         headers(("Location" = String, description = "`/api/v1/requests/{id}`")),
         example = json!({"id": "0193a1b2-0000-7000-8000-0000000000a1", "status": "pending", "purpose": "cu-tru",
            "procedure": null,
            "documents": [{"type": "cccd", "need": "required", "file": false,
                           "fields": {"date_of_birth": "optional", "full_name": "required"}}],
            "duration_days": 30, "max_uses": 1, "created_at": "2026-12-02T08:00:00Z",
            "answer_by": "2026-12-16T08:00:00Z", "decided_at": null, "grant_id": null})),
        (status = 200, description = "The same `Idempotency-Key` and body were sent before: the first request.",
         body = crate::openapi::RequestView),
        (status = 409, description = "`idempotency_key_reused`: the key was used with another body.",
         body = crate::openapi::ApiError),
        (status = 422, description = "`invalid_idempotency_key`, `invalid_request` (not the JSON \
described: unknown member, wrong type), `empty_purpose`, `invalid_explanation`, \
`invalid_national_id`, `unknown_type`, `unknown_field`, `duplicate_type`, `nothing_asked`, \
`too_many_documents`, `unknown_procedure`, `duration_too_long`, `invalid_duration`, \
`invalid_max_uses`, `invalid_callback`, `over_asking` (the purpose is not registered for the \
agency, or does not cover a type, field or file asked for; recorded for the operators).",
         body = crate::openapi::ApiError,
         example = json!({"error": {"code": "over_asking", "message": "the purpose cu-tru does not cover cccd.place_of_origin"}})),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/requests",
    tag = "sharing",
    operation_id = "list_requests",
    summary = "The agency's newest 100 requests",
    security(("agency_token" = [])),
    responses(
        (status = 200, description = "Newest first.", body = crate::openapi::RequestList,
         example = json!({"requests": [{"id": "0193a1b2-0000-7000-8000-0000000000a1", "status": "pending", "purpose": "cu-tru",
            "procedure": null,
            "documents": [{"type": "cccd", "need": "required", "file": false,
                           "fields": {"date_of_birth": "optional", "full_name": "required"}}],
            "duration_days": 30, "max_uses": 1, "created_at": "2026-12-02T08:00:00Z",
            "answer_by": "2026-12-16T08:00:00Z", "decided_at": null, "grant_id": null}]})),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/requests/{id}",
    tag = "sharing",
    operation_id = "show_request",
    summary = "One request and its status",
    description = "`status` is `pending`, `approved` (with `grant_id`), `refused` or `expired`.",
    security(("agency_token" = [])),
    params(("id" = Uuid, Path, description = "The request id.")),
    responses(
        (status = 200, description = "The request.", body = crate::openapi::RequestView,
         example = json!({"id": "0193a1b2-0000-7000-8000-0000000000a1", "status": "pending", "purpose": "cu-tru",
            "procedure": null,
            "documents": [{"type": "cccd", "need": "required", "file": false,
                           "fields": {"date_of_birth": "optional", "full_name": "required"}}],
            "duration_days": 30, "max_uses": 1, "created_at": "2026-12-02T08:00:00Z",
            "answer_by": "2026-12-16T08:00:00Z", "decided_at": null, "grant_id": null})),
        (status = 404, description = "`not_found`: no such request, or another agency's (answered alike).",
         body = crate::openapi::ApiError),
    ),
)]
pub async fn show_request(
    state: web::Data<AppState>,
    client: AgencyClient,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let row = service::agency_request(&state, &client, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(service::request_json(&row, state.clock.now())))
}

/// `GET /api/v1/grants`: the agency's newest grants.
#[utoipa::path(
    get,
    path = "/api/v1/grants",
    tag = "sharing",
    operation_id = "list_grants",
    summary = "The agency's newest 100 grants",
    security(("agency_token" = [])),
    responses(
        (status = 200, description = "Newest first.", body = crate::openapi::GrantList,
         example = json!({"grants": [{"id": "0193a1b2-0000-7000-8000-0000000000b1",
            "request_id": "0193a1b2-0000-7000-8000-0000000000a1", "status": "active",
            "purpose": "cu-tru", "max_uses": 1, "created_at": "2026-12-02T08:05:00Z",
            "expires_at": "2027-01-01T08:05:00Z", "withdrawn_at": null,
            "documents": [{"document_id": "0193a1b2-0000-7000-8000-0000000000d1", "type": "cccd",
                           "file": false, "fields": ["date_of_birth", "full_name"],
                           "field_reads": 0, "file_reads": 0}],
            "consent_record": {"record": {"kind": "congdanso.consent_record", "version": 1},
                               "signature": "…", "platform_key_id": "sk_3f1c2b0a9d8e7f60"}}]})),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/grants/{id}",
    tag = "sharing",
    operation_id = "show_grant",
    summary = "One grant: status, what it covers, the signed consent record",
    description = "`status` is `active`, `withdrawn` or `expired`. The consent record is the \
controller's evidence: keep it (format in docs/CRYPTO.md, \"Consent records\").",
    security(("agency_token" = [])),
    params(("id" = Uuid, Path, description = "The grant id (= the consent record id)."),),
    responses(
        (status = 200, description = "The grant.", body = crate::openapi::GrantView,
         example = json!({"id": "0193a1b2-0000-7000-8000-0000000000b1",
            "request_id": "0193a1b2-0000-7000-8000-0000000000a1", "status": "active",
            "purpose": "cu-tru", "max_uses": 1, "created_at": "2026-12-02T08:05:00Z",
            "expires_at": "2027-01-01T08:05:00Z", "withdrawn_at": null,
            "documents": [{"document_id": "0193a1b2-0000-7000-8000-0000000000d1", "type": "cccd",
                           "file": false, "fields": ["date_of_birth", "full_name"],
                           "field_reads": 0, "file_reads": 0}],
            "consent_record": {"record": {"kind": "congdanso.consent_record", "version": 1},
                               "signature": "…", "platform_key_id": "sk_3f1c2b0a9d8e7f60"}})),
        (status = 404, description = "`not_found`: no such grant, or another agency's (answered alike).",
         body = crate::openapi::ApiError,
         example = json!({"error": {"code": "not_found", "message": "Not found."}})),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/grants/{id}/documents/{document}",
    tag = "sharing",
    operation_id = "read_fields",
    summary = "Read the granted signed fields of a document",
    description = "Exactly the granted fields, the platform's signed cut naming the \
issuer-signed payload they come from, and the signed access receipt. Each read (and each \
refusal) is an entry in the citizen's access log. `Cache-Control: private, no-store`.",
    security(("agency_token" = [])),
    params(
        ("id" = Uuid, Path, description = "The grant id (= the consent record id)."),
        ("document" = Uuid, Path, description = "A document the grant covers."),
    ),
    responses(
        (status = 200, description = "The granted fields.", body = crate::openapi::FieldsRead,
         example = json!({
            "document": {"id": "0193a1b2-0000-7000-8000-0000000000d1", "type": "cccd", "source": "issued"},
            "grant_id": "0193a1b2-0000-7000-8000-0000000000b1",
            "fields": {"date_of_birth": "1990-01-15", "full_name": "Nguyễn Văn Thử"},
            "cut": {"body": {"kind": "congdanso.field_cut", "version": 1}, "signature": "…",
                    "platform_key_id": "sk_3f1c2b0a9d8e7f60"},
            "receipt": {"receipt": {"kind": "congdanso.access_receipt", "version": 1, "form": "fields"},
                        "signature": "…", "platform_key_id": "sk_3f1c2b0a9d8e7f60"}
         })),
        (status = 403, description = "The grant no longer allows the read: `grant_withdrawn` (the \
citizen withdrew it; effective on the very next request), `grant_expired` (past `expires_at`) \
or `grant_exhausted` (`max_uses` reads of this form of this document were made). Checked in \
this order, after the grant exists and before the document is looked at (except \
`grant_exhausted`, checked last).",
         body = crate::openapi::ApiError,
         example = json!({"error": {"code": "grant_withdrawn", "message": "the citizen withdrew this grant"}})),
        (status = 404, description = "`not_found`: no such grant, or another agency's; \
`out_of_scope`: the document is not covered in this form, is not the citizen's, was deleted \
or does not exist (answered alike).",
         body = crate::openapi::ApiError,
         example = json!({"error": {"code": "out_of_scope", "message": "no such document under this grant"}})),
    ),
)]
pub async fn read_fields(
    state: web::Data<AppState>,
    token: AgencyToken,
    path: web::Path<(Uuid, DocumentId)>,
) -> Result<HttpResponse, AppError> {
    let (grant, document) = path.into_inner();
    let read = service::agency_read(&state, &token, grant, document, Form::Fields).await?;
    let body = service::fields_response(&state, &read).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(body))
}

/// `GET /api/v1/grants/{id}/documents/{document}/file`: the file, with the signed access
/// receipt in a header.
#[utoipa::path(
    get,
    path = "/api/v1/grants/{id}/documents/{document}/file",
    tag = "sharing",
    operation_id = "read_file",
    summary = "Read the granted file of a document",
    description = "The file in its own content type, with the signed access receipt as \
base64url JSON in the `Congdanso-Access-Receipt` header. Each read (and each refusal) is an \
entry in the citizen's access log. `Cache-Control: private, no-store`.",
    security(("agency_token" = [])),
    params(
        ("id" = Uuid, Path, description = "The grant id (= the consent record id)."),
        ("document" = Uuid, Path, description = "A document the grant covers."),
    ),
    responses(
        (status = 200, description = "The file.",
         content(
            (crate::openapi::Binary = "application/pdf"),
            (crate::openapi::Binary = "image/jpeg"),
            (crate::openapi::Binary = "image/png"),
            (crate::openapi::Binary = "image/webp"),
            (crate::openapi::Binary = "image/heic"),
            (crate::openapi::Binary = "application/octet-stream"),
         ),
         headers(
            ("Congdanso-Access-Receipt" = String,
             description = "The signed access receipt `{receipt, signature, platform_key_id}`, base64url (no padding) of its JSON."),
            ("Content-Length" = u64, description = "The file's size."),
         )),
        (status = 403, description = "The grant no longer allows the read: `grant_withdrawn` (the \
citizen withdrew it; effective on the very next request), `grant_expired` (past `expires_at`) \
or `grant_exhausted` (`max_uses` reads of this form of this document were made). Checked in \
this order, after the grant exists and before the document is looked at (except \
`grant_exhausted`, checked last).",
         body = crate::openapi::ApiError,
         example = json!({"error": {"code": "grant_withdrawn", "message": "the citizen withdrew this grant"}})),
        (status = 404, description = "`not_found`: no such grant, or another agency's; \
`out_of_scope`: the document is not covered in this form, is not the citizen's, was deleted \
or does not exist (answered alike).",
         body = crate::openapi::ApiError,
         example = json!({"error": {"code": "out_of_scope", "message": "no such document under this grant"}})),
    ),
)]
pub async fn read_file(
    state: web::Data<AppState>,
    token: AgencyToken,
    path: web::Path<(Uuid, DocumentId)>,
) -> Result<HttpResponse, AppError> {
    let (grant, document) = path.into_inner();
    let read = service::agency_read(&state, &token, grant, document, Form::File).await?;
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
