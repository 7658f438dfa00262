//! The OpenAPI 3.1 description of the agency API (`/api/v1`), built from the handlers'
//! `#[utoipa::path]` annotations and the schemas below, and served at
//! `GET /api/v1/openapi.json`. The route table it must agree with is
//! [`crate::routes::API_ROUTES`]; `tests/api/openapi.rs` checks both ways, sends a real request
//! to every documented operation and checks real answers against the documented schemas.
//!
//! The handlers build most answers with `serde_json::json!`; the response schemas here mirror
//! those shapes for the document only (they are never serialised by a handler), so the bytes
//! the server sends do not depend on this module. Request bodies use the real types the
//! handlers parse (`grants::model::NewRequest`, `issuers::issuing::IssueRequest`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use actix_web::HttpResponse;
use actix_web::http::header;
use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};
use uuid::Uuid;

/// The name of the bearer-token security scheme in the document.
pub const AGENCY_TOKEN: &str = "agency_token";

/// The document's root: info, servers, tags, paths and components.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Công dân số agency API",
        description = "The JSON API agencies use to issue signed documents into citizens' vaults, \
ask citizens for documents under a registered purpose, and read what a citizen granted, each \
read answered with a platform-signed receipt. Anyone may check a verification package. \
Every error is `{\"error\": {\"code\", \"message\", \"fields\"?}}` with a stable snake_case \
`code`: program against `code`, not `message`. The prose reference is docs/api.md.",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later"),
    ),
    servers((url = "/", description = "This server")),
    paths(
        crate::issuers::api::whoami,
        crate::issuers::api::issue,
        crate::issuers::api::verify,
        crate::grants::api::create_request,
        crate::grants::api::list_requests,
        crate::grants::api::show_request,
        crate::grants::api::list_grants,
        crate::grants::api::show_grant,
        crate::grants::api::read_fields,
        crate::grants::api::read_file,
        document,
    ),
    components(schemas(
        ApiError,
        ApiErrorDetail,
        ApiFieldError,
        crate::grants::model::NewRequest,
        crate::grants::model::Item,
        crate::grants::model::Need,
        crate::issuers::issuing::IssueRequest,
        crate::verify::Report,
        crate::verify::ReportIssuer,
        crate::verify::trust::SignedReceipt,
        crate::verify::trust::Receipt,
    )),
    modifiers(&Common),
    tags(
        (name = "agency", description = "The calling agency: check a token, see keys and issuing authority"),
        (name = "issuing", description = "Issue signed documents into a citizen's vault"),
        (name = "verification", description = "Check a verification package (public)"),
        (name = "sharing", description = "Ask a citizen for documents; grants and reads under them"),
        (name = "meta", description = "This document"),
    ),
)]
pub struct ApiDoc;

/// Adds what every operation shares: the version, the bearer scheme, `401` on every secured
/// operation and the server-side failures on all of them (as shared response components).
struct Common;

impl Modify for Common {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.info.version = env!("CARGO_PKG_VERSION").to_owned();
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            AGENCY_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cds_ followed by 43 URL-safe base64 characters")
                    .description(Some(
                        "An agency API credential, created by an operator or the agency's admin \
                         and shown once: `Authorization: Bearer cds_…`.",
                    ))
                    .build(),
            ),
        );
        let shared = [
            (
                "401",
                "Unauthenticated",
                "`unauthenticated`: the `Authorization: Bearer cds_…` header is missing, \
                 malformed, unknown or revoked. Carries `WWW-Authenticate: Bearer \
                 realm=\"congdanso\"`. Checked before anything else in the request.",
                "unauthenticated",
                "a valid bearer token is required: send `Authorization: Bearer <token>`",
            ),
            (
                "500",
                "InternalError",
                "`internal_error`, or `document_corrupted` (a stored document failed its \
                 integrity check; nothing of it is served). The cause is logged, never shown.",
                "internal_error",
                "internal error",
            ),
            (
                "503",
                "Unavailable",
                "`service_unavailable` (a dependency is down) or `service_busy` (at capacity, \
                 with `Retry-After`): retry later.",
                "service_unavailable",
                "a dependency is unavailable; retry later",
            ),
            (
                "504",
                "Timeout",
                "`request_timeout`: the request took longer than `REQUEST_TIMEOUT_SECS` \
                 (default 30 s, uploading included).",
                "request_timeout",
                "The request took too long.",
            ),
        ];
        for (_, name, description, code, message) in &shared {
            components.responses.insert(
                (*name).to_owned(),
                RefOr::T(error_response(description, code, message)),
            );
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let secured = is_secured(operation);
                for (status, name, ..) in &shared {
                    if *status == "401" && !secured {
                        continue;
                    }
                    operation
                        .responses
                        .responses
                        .entry((*status).to_owned())
                        .or_insert_with(|| {
                            RefOr::Ref(Ref::new(format!("#/components/responses/{name}")))
                        });
                }
            }
        }
    }
}

fn is_secured(operation: &Operation) -> bool {
    operation.security.as_ref().is_some_and(|all| {
        serde_json::to_value(all)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .is_some_and(|all| all.iter().any(|r| r.get(AGENCY_TOKEN).is_some()))
    })
}

fn error_response(description: &str, code: &str, message: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ApiError")))
                .example(Some(
                    serde_json::json!({ "error": { "code": code, "message": message } }),
                ))
                .build(),
        )
        .build()
}

/// The document as JSON, built once.
pub static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"openapi: {e}\"}}"))
});

/// `GET /api/v1/openapi.json`: this document. Public and cacheable.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API (`Cache-Control: public, max-age=3600`).",
         content_type = "application/json", body = Object),
    ),
)]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(DOCUMENT.as_str())
}

// ------------------------------------------------------------------ errors

/// Every refusal under `/api/`: what `crate::error::AppError` renders.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"error": {"code": "field_missing",
    "message": "fields.place_of_origin: field_missing",
    "fields": [{"field": "place_of_origin", "code": "field_missing"}]}}))]
pub struct ApiError {
    pub error: ApiErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ApiErrorDetail {
    /// The stable snake_case code: program against this.
    #[schema(example = "not_found")]
    pub code: String,
    /// English, for logs and support tickets; may change.
    #[schema(example = "not found")]
    pub message: String,
    /// Present only when the problem concerns named inputs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub fields: Vec<ApiFieldError>,
}

#[derive(Serialize, ToSchema)]
pub struct ApiFieldError {
    /// The input: a catalogue field (`place_of_origin`), `title`, `file`, `payload.<member>`.
    #[schema(example = "place_of_origin")]
    pub field: String,
    #[schema(example = "field_missing")]
    pub code: String,
}

// ------------------------------------------------------------------ agency

/// `GET /api/v1/agency`.
#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    pub agency: AgencySummary,
    /// All the agency's keys, whatever their status.
    pub keys: Vec<AgencyKey>,
    /// The catalogue types the agency may issue, and when.
    pub authorities: Vec<AgencyAuthority>,
}

#[derive(Serialize, ToSchema)]
pub struct AgencySummary {
    pub id: Uuid,
    #[schema(example = "CA-DANANG")]
    pub code: String,
    #[schema(example = "Công an TP Đà Nẵng")]
    pub name: String,
    #[schema(example = "department")]
    pub kind: String,
}

#[derive(Serialize, ToSchema)]
pub struct AgencyKey {
    #[schema(example = "ik_b600306cfa76723f")]
    pub key_id: String,
    /// `issuing` or `counter`.
    #[schema(example = "issuing")]
    pub purpose: String,
    /// `active`, `retired` or `revoked`.
    #[schema(example = "active")]
    pub status: String,
    /// RFC 3339.
    #[schema(format = DateTime, example = "2026-11-01T00:00:00+00:00")]
    pub valid_from: String,
    #[schema(format = DateTime, required = true)]
    pub valid_until: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AgencyAuthority {
    #[serde(rename = "type")]
    #[schema(example = "cccd")]
    pub doc_type: String,
    #[schema(format = DateTime, example = "2020-01-01T00:00:00+00:00")]
    pub valid_from: String,
    #[schema(format = DateTime, required = true)]
    pub valid_until: Option<String>,
}

// ------------------------------------------------------------------ issuing

/// `multipart/form-data` form of `POST /api/v1/documents`: part `document` first, then `file`.
#[derive(Serialize, ToSchema)]
pub struct IssueMultipart {
    /// The same JSON as the `application/json` form (at most 256 KiB).
    #[schema(content_media_type = "application/json")]
    pub document: String,
    /// The file: PDF, JPEG, PNG, WebP or HEIC (judged by its first bytes), at most
    /// `MAX_UPLOAD_BYTES`; its SHA-256 must be the payload's `file_sha256`.
    #[schema(value_type = String, content_media_type = "application/octet-stream", required = false)]
    pub file: Vec<u8>,
}

/// `201` of `POST /api/v1/documents`.
#[derive(Serialize, ToSchema)]
pub struct Issued {
    pub document: IssuedDocument,
    /// Older documents of the same type and number that this one superseded.
    pub superseded: Vec<Uuid>,
    /// The platform's signed receipt: keep it.
    pub receipt: crate::verify::trust::SignedReceipt,
}

#[derive(Serialize, ToSchema)]
pub struct IssuedDocument {
    pub id: Uuid,
    #[serde(rename = "type")]
    #[schema(example = "cccd")]
    pub doc_type: String,
    #[schema(example = "issued")]
    pub source: String,
    #[schema(example = "application/pdf")]
    pub content_type: String,
    #[schema(example = 48213)]
    pub size: i64,
    /// SHA-256 (hex) of the stored content.
    pub sha256: String,
}

// ------------------------------------------------------------------ sharing

/// A request as the agency sees it.
#[derive(Serialize, ToSchema)]
pub struct RequestView {
    pub id: Uuid,
    /// `pending`, `approved`, `refused` or `expired`.
    #[schema(example = "pending")]
    pub status: String,
    #[schema(example = "cu-tru")]
    pub purpose: String,
    #[schema(required = true)]
    pub procedure: Option<String>,
    /// What was asked, normalised (every member present).
    pub documents: Vec<crate::grants::model::Item>,
    #[schema(example = 30)]
    pub duration_days: i32,
    #[schema(example = 1)]
    pub max_uses: i32,
    #[schema(format = DateTime, example = "2026-12-02T08:00:00Z")]
    pub created_at: String,
    /// Unanswered by then, the request expires.
    #[schema(format = DateTime, example = "2026-12-16T08:00:00Z")]
    pub answer_by: String,
    #[schema(format = DateTime, required = true)]
    pub decided_at: Option<String>,
    /// Set once approved.
    #[schema(required = true)]
    pub grant_id: Option<Uuid>,
}

/// `GET /api/v1/requests`: the agency's newest 100.
#[derive(Serialize, ToSchema)]
pub struct RequestList {
    pub requests: Vec<RequestView>,
}

/// A grant as the agency sees it.
#[derive(Serialize, ToSchema)]
pub struct GrantView {
    pub id: Uuid,
    pub request_id: Uuid,
    /// `active`, `withdrawn` or `expired`.
    #[schema(example = "active")]
    pub status: String,
    #[schema(example = "cu-tru")]
    pub purpose: String,
    #[schema(example = 1)]
    pub max_uses: i32,
    #[schema(format = DateTime, example = "2026-12-02T08:05:00Z")]
    pub created_at: String,
    #[schema(format = DateTime, example = "2027-01-01T08:05:00Z")]
    pub expires_at: String,
    #[schema(format = DateTime, required = true)]
    pub withdrawn_at: Option<String>,
    pub documents: Vec<GrantDocument>,
    pub consent_record: SignedConsent,
}

/// One document a grant covers, and how often it was read.
#[derive(Serialize, ToSchema)]
pub struct GrantDocument {
    pub document_id: Uuid,
    #[serde(rename = "type")]
    #[schema(example = "cccd")]
    pub doc_type: String,
    /// Whether the file may be read.
    pub file: bool,
    /// The signed fields that may be read.
    #[schema(example = json!(["date_of_birth", "full_name"]))]
    pub fields: Vec<String>,
    pub field_reads: i32,
    pub file_reads: i32,
}

/// The consent record (ISO/IEC TS 27560 fields, format in docs/CRYPTO.md), signed by the
/// platform key over the RFC 8785 bytes of `record`.
#[derive(Serialize, ToSchema)]
pub struct SignedConsent {
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
    /// Ed25519, base64.
    pub signature: String,
    #[schema(example = "sk_3f1c2b0a9d8e7f60")]
    pub platform_key_id: String,
}

/// `GET /api/v1/grants`: the agency's newest 100.
#[derive(Serialize, ToSchema)]
pub struct GrantList {
    pub grants: Vec<GrantView>,
}

/// `GET /api/v1/grants/{id}/documents/{document}`: exactly the granted signed fields.
#[derive(Serialize, ToSchema)]
pub struct FieldsRead {
    pub document: FieldsReadDocument,
    pub grant_id: Uuid,
    #[schema(example = json!({"full_name": "Nguyễn Văn Thử", "date_of_birth": "1990-01-15"}))]
    pub fields: BTreeMap<String, String>,
    /// The platform's signed statement of these fields (`kind: congdanso.field_cut`), naming
    /// the issuer-signed payload they were cut from.
    pub cut: SignedStatement,
    /// The signed access receipt of this read (`kind: congdanso.access_receipt`).
    pub receipt: SignedAccessReceipt,
}

#[derive(Serialize, ToSchema)]
pub struct FieldsReadDocument {
    pub id: Uuid,
    #[serde(rename = "type")]
    #[schema(example = "cccd")]
    pub doc_type: String,
    #[schema(example = "issued")]
    pub source: String,
}

/// A platform statement: Ed25519 by `platform_key_id` over the RFC 8785 bytes of `body`.
#[derive(Serialize, ToSchema)]
pub struct SignedStatement {
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    pub signature: String,
    pub platform_key_id: String,
}

/// An access receipt: Ed25519 by `platform_key_id` over the RFC 8785 bytes of `receipt`.
/// Also sent, as base64url JSON, in the `Congdanso-Access-Receipt` header of a file read.
#[derive(Serialize, ToSchema)]
pub struct SignedAccessReceipt {
    #[schema(value_type = Object)]
    pub receipt: serde_json::Value,
    pub signature: String,
    pub platform_key_id: String,
}

/// A file in the body (its own content type).
#[derive(Serialize, ToSchema)]
#[schema(value_type = String, content_media_type = "application/octet-stream")]
pub struct Binary(pub Vec<u8>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_json() {
        let value: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
        assert_eq!(value["openapi"], "3.1.0");
        assert_eq!(value["info"]["version"], env!("CARGO_PKG_VERSION"));
    }
}
