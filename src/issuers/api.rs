//! Machine endpoints: the trust list, the platform's public keys, and the agency API's
//! "who am I" (to check a credential). Agencies authenticate with `Authorization: Bearer cds_…`
//! through the [`AgencyClient`] extractor.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use entity::agency;
use serde_json::json;
use zeroize::Zeroizing;

use futures_util::{StreamExt, TryStreamExt};

use super::{issuing, repo, service};
use crate::error::AppError;
use crate::state::AppState;
use crate::verify::package;

/// The agency an API request acts for.
#[derive(Debug, Clone)]
pub struct AgencyClient {
    pub agency: agency::Model,
    /// The API credential the call authenticated with (named in access-log entries).
    pub credential: uuid::Uuid,
}

impl FromRequest for AgencyClient {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| AppError::internal("application state missing"))?
                .clone();
            let token = AgencyToken::of(&req)?;
            let (agency, credential) = service::authenticate(&state, token.as_str()).await?;
            Ok(AgencyClient { agency, credential })
        })
    }
}

/// The bearer token of an agency API request, not yet checked against the credentials: for a
/// handler whose own query looks the credential up with its rows (an agency's grant read,
/// `grants::repo::find_agency_read`), through the same rule as [`AgencyClient`]
/// (`service::token_hash`, `repo::live_credential_with_agency`, `service::note_use`).
pub struct AgencyToken(Zeroizing<String>);

impl AgencyToken {
    fn of(req: &HttpRequest) -> Result<Self, AppError> {
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|token| Self(Zeroizing::new(token.trim().to_owned())))
            .ok_or(AppError::Unauthenticated)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AgencyToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgencyToken(…)")
    }
}

impl FromRequest for AgencyToken {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Self::of(req).map_err(Into::into))
    }
}

/// `GET /.well-known/congdanso/trust-list.json`
pub async fn trust_list(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let body = service::trust_list(&state).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(body))
}

/// `GET /.well-known/congdanso/platform-keys.json`
pub async fn platform_keys(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let body = service::platform_keys(&state).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(body))
}

/// `GET /api/v1/agency`: the calling agency, its keys and the types it may issue.
#[utoipa::path(
    get,
    path = "/api/v1/agency",
    tag = "agency",
    operation_id = "whoami",
    summary = "Who am I: the calling agency, its keys and issuing authority",
    description = "A cheap way to test a token and to look up the agency code (the payload's \
`issuer_id`). Times are RFC 3339.",
    security(("agency_token" = [])),
    responses(
        (status = 200, description = "The agency the token acts for.", body = crate::openapi::WhoAmI,
         example = json!({
            "agency": {"id": "0193a1b2-0000-7000-8000-000000000001", "code": "CA-DANANG",
                       "name": "Công an TP Đà Nẵng", "kind": "department"},
            "keys": [{"key_id": "ik_b600306cfa76723f", "purpose": "issuing", "status": "active",
                      "valid_from": "2026-11-01T00:00:00+00:00", "valid_until": null}],
            "authorities": [{"type": "cccd", "valid_from": "2020-01-01T00:00:00+00:00", "valid_until": null}]
         })),
    ),
)]
pub async fn whoami(
    state: web::Data<AppState>,
    client: AgencyClient,
) -> Result<HttpResponse, AppError> {
    let agency = client.agency;
    let keys: Vec<_> = repo::keys_for_agency(&state.db, agency.id)
        .await?
        .iter()
        .map(|k| {
            json!({
                "key_id": k.key_id,
                "purpose": k.purpose,
                "status": k.status,
                "valid_from": k.valid_from.to_rfc3339(),
                "valid_until": k.valid_until.map(|t| t.to_rfc3339()),
            })
        })
        .collect();
    let authorities: Vec<_> = repo::authorities_for_agency(&state.db, agency.id)
        .await?
        .iter()
        .map(|a| {
            json!({
                "type": a.doc_type,
                "valid_from": a.valid_from.to_rfc3339(),
                "valid_until": a.valid_until.map(|t| t.to_rfc3339()),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "agency": { "id": agency.id.to_string(), "code": agency.code, "name": agency.name, "kind": agency.kind },
        "keys": keys,
        "authorities": authorities,
    })))
}

/// Largest JSON document part (payload, signature, title).
const MAX_DOCUMENT_JSON: usize = 256 * 1024;

fn malformed(message: impl Into<String>) -> AppError {
    AppError::invalid("request_malformed", message)
}

async fn read_limited<S, E>(mut body: S, limit: usize) -> Result<Vec<u8>, AppError>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| malformed(format!("body: {e}")))?;
        if out.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The JSON document of an issue request. A member name twice in one object is refused
/// (inside the payload `payload_duplicate_key`, elsewhere `request_malformed`), so no reader
/// keeping the first value could see another document than the one checked.
fn parse_request(bytes: &[u8]) -> Result<issuing::IssueRequest, AppError> {
    use crate::verify::Problem;
    let value = crate::verify::payload::from_slice_unique(bytes).map_err(|e| {
        let refusal = e.refusal(Problem::PackageMalformed, "document");
        if refusal.problem == Problem::PayloadDuplicateKey {
            AppError::from(refusal)
        } else {
            malformed(refusal.to_string())
        }
    })?;
    serde_json::from_value(value).map_err(|e| malformed(format!("document: {e}")))
}

fn issued_json(issued: &issuing::Issued) -> serde_json::Value {
    json!({
        "document": {
            "id": issued.document.id.to_string(),
            "type": issued.document.doc_type,
            "source": issued.document.source,
            "content_type": issued.document.content_type,
            "size": issued.document.size_bytes,
            "sha256": issued.document.sha256,
        },
        "superseded": issued.superseded.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "receipt": issued.receipt,
    })
}

/// `POST /api/v1/documents`: issue a signed document into a citizen's vault. Either a JSON body
/// `{payload, signature, title?}` (no file), or `multipart/form-data` with that JSON as part
/// `document` followed by part `file`. Everything is checked before the file is read.
#[utoipa::path(
    post,
    path = "/api/v1/documents",
    tag = "issuing",
    operation_id = "issue_document",
    summary = "Issue a signed document into a citizen's vault",
    description = "Either `application/json` `{payload, signature, title?}` (no file; \
`file_sha256` must be null), or `multipart/form-data` with that JSON as part `document` \
followed by part `file`. Everything that needs no file is checked before a byte of the file \
is read. The payload (version 1), its RFC 8785 canonical bytes and the Ed25519 signature are \
specified in docs/api.md; the refusals are checked in the order of the table there.",
    security(("agency_token" = [])),
    request_body(
        description = "The signed payload, its signature and an optional title; with a file, as multipart.",
        content(
            (crate::issuers::issuing::IssueRequest = "application/json", example = json!({
                "payload": {
                    "version": 1, "kind": "issued", "type": "cccd",
                    "fields": {"number": "001099000001", "full_name": "Nguyễn Văn Thử",
                               "date_of_birth": "1990-01-15", "sex": "Nam", "nationality": "Việt Nam",
                               "place_of_origin": "Hải Châu, Đà Nẵng",
                               "place_of_residence": "12 Bạch Đằng, Hải Châu, Đà Nẵng",
                               "issue_date": "2026-11-23", "expiry": "2041-01-15"},
                    "citizen_national_id": "001099000001", "file_sha256": null,
                    "issued_at": "2026-11-23T08:00:00Z", "valid_until": "2041-01-15T00:00:00Z",
                    "issuer_id": "CA-DANANG", "key_id": "ik_b600306cfa76723f"
                },
                "signature": "aRvcWiPwdIvzsU/cIbNgW0X0Lc7mxLVOYbaCX9KID9YXU7f9DyUOplhApGKoManoDCN3H8/U7pjL3FX0fa3UBw=="
            })),
            (crate::openapi::IssueMultipart = "multipart/form-data"),
        ),
    ),
    responses(
        (status = 201, description = "Accepted: stored encrypted in the citizen's vault, with the platform's signed receipt.",
         body = crate::openapi::Issued,
         example = json!({
            "document": {"id": "0193a1b2-0000-7000-8000-0000000000d1", "type": "cccd", "source": "issued",
                         "content_type": "application/json", "size": 523,
                         "sha256": "02ccb92f32ed953089d9a637a600b7c51e6aa2772e1d5a52b5dfd9d741535c81"},
            "superseded": [],
            "receipt": {"receipt": {"version": 1, "kind": "receipt",
                                    "document_id": "0193a1b2-0000-7000-8000-0000000000d1",
                                    "payload_sha256": "02ccb92f32ed953089d9a637a600b7c51e6aa2772e1d5a52b5dfd9d741535c81",
                                    "accepted_at": "2026-11-23T08:00:01Z"},
                        "signature": "…", "platform_key_id": "sk_3f1c2b0a9d8e7f60"}
         })),
        (status = 413, description = "`payload_too_large`: the JSON document (body or `document` part) is over 256 KiB.",
         body = crate::openapi::ApiError),
        (status = 415, description = "`unsupported_media_type`: neither `application/json` nor `multipart/form-data`.",
         body = crate::openapi::ApiError),
        (status = 422, description = "A refusal, the first found in the documented order: \
`request_malformed`, `part_order`, `payload_duplicate_key`, `payload_version`, \
`payload_malformed`, `kind_not_allowed`, `document_type_unknown`, `field_missing`, \
`field_format`, `field_unknown`, `citizen_mismatch`, `valid_until_order`, `issued_at_future`, \
`issuer_mismatch`, `type_not_authorized`, `key_unknown`, `key_purpose`, `signature_invalid`, \
`key_not_yet_valid`, `key_expired`, `key_retired`, `key_revoked`, `citizen_unknown`, \
`title_required`, `title_length`, `file_missing`, `file_unexpected`, `file_required`, \
`file_type`, `file_too_large`, `upload_interrupted`, `file_hash_mismatch`. `fields` names the \
input where there is one.",
         body = crate::openapi::ApiError,
         example = json!({"error": {"code": "payload_malformed",
            "message": "payload.issued_at: expected a UTC time written YYYY-MM-DDTHH:MM:SSZ, e.g. 2026-11-23T08:00:00Z (no offset such as +00:00, no fractions of a second)",
            "fields": [{"field": "payload.issued_at", "code": "payload_malformed"}]}})),
    ),
)]
pub async fn issue(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: AgencyClient,
    body: web::Payload,
) -> Result<HttpResponse, AppError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let issued = if content_type.starts_with("application/json") {
        let request = parse_request(&read_limited(body, MAX_DOCUMENT_JSON).await?)?;
        let checked = issuing::check_request(&state, &client.agency, &request).await?;
        issuing::issue(&state, checked, client.credential, issuing::NoFile::None).await?
    } else if content_type.starts_with("multipart/form-data") {
        let mut parts = actix_multipart::Multipart::new(req.headers(), body);
        let mut first = parts
            .next()
            .await
            .ok_or_else(|| malformed("part \"document\" is missing"))?
            .map_err(|e| malformed(format!("multipart: {e}")))?;
        if first.name() != Some("document") {
            return Err(AppError::invalid(
                "part_order",
                "the first part must be \"document\" (the signed JSON), then \"file\"",
            ));
        }
        let request = parse_request(&read_limited(&mut first, MAX_DOCUMENT_JSON).await?)?;
        drop(first);
        let checked = issuing::check_request(&state, &client.agency, &request).await?;
        match parts.next().await {
            None => {
                issuing::issue(&state, checked, client.credential, issuing::NoFile::None).await?
            }
            Some(part) => {
                let mut file = part.map_err(|e| malformed(format!("multipart: {e}")))?;
                if file.name() != Some("file") {
                    return Err(AppError::invalid(
                        "part_order",
                        "the second part must be \"file\"",
                    ));
                }
                let name = file
                    .content_disposition()
                    .and_then(|cd| cd.get_filename())
                    .unwrap_or("")
                    .to_owned();
                let stream = (&mut file).map_err(|e| e.to_string());
                issuing::issue(&state, checked, client.credential, Some((stream, name))).await?
            }
        }
    } else {
        return Err(AppError::UnsupportedMediaType);
    };
    Ok(HttpResponse::Created().json(issued_json(&issued)))
}

/// `POST /api/v1/verify`: checks a verification package (the body, `application/x-tar`)
/// against the current trust list. Public: anyone shown a package may check it. Answers 200
/// with a report whether or not the document verifies; 422 `package_malformed` when the body
/// is not a package.
#[utoipa::path(
    post,
    path = "/api/v1/verify",
    tag = "verification",
    operation_id = "verify_package",
    summary = "Check a verification package against the current trust list",
    description = "Public: no credential. The body is the package (`….congdanso.tar`). Answers \
200 (`Cache-Control: no-store`) with a report whether or not the document verifies; a failing \
report carries only `valid`, `code` (the problem code), `message`, `document_expired` and \
`trust_list_issued_at`.",
    request_body(content = crate::openapi::Binary, content_type = "application/x-tar",
                 description = "The verification package (a tar archive)."),
    responses(
        (status = 200, description = "The report.", body = crate::verify::Report,
         examples(
            ("valid" = (summary = "A document that verifies", value = json!({
                "valid": true, "code": "ok", "message": "issued by Công an TP Đà Nẵng",
                "kind": "issued", "type": "cccd",
                "issuer": {"code": "CA-DANANG", "name": "Công an TP Đà Nẵng"},
                "key_id": "ik_b600306cfa76723f", "citizen_national_id": "001099000001",
                "fields": {"full_name": "Nguyễn Văn Thử", "number": "001099000001"},
                "issued_at": "2026-11-23T08:00:00Z", "valid_until": "2041-01-15T00:00:00Z",
                "document_expired": false, "accepted_at": "2026-11-23T08:00:01Z",
                "trust_list_issued_at": "2026-11-23T09:12:44.081532+00:00"}))),
            ("invalid" = (summary = "A document that does not", value = json!({
                "valid": false, "code": "file_hash_mismatch",
                "message": "the file's SHA-256 differs from the signed one",
                "document_expired": false,
                "trust_list_issued_at": "2026-11-23T09:12:44.081532+00:00"}))),
         )),
        (status = 422, description = "`package_malformed` (not a package, or an entry over its limit: \
the file over `MAX_UPLOAD_BYTES`), `package_trailing_data` \
(more than the record padding follows it) or `payload_duplicate_key` (the manifest's payload \
names a member twice).",
         body = crate::openapi::ApiError,
         example = json!({"error": {"code": "package_malformed", "message": "not a tar archive"}})),
    ),
)]
pub async fn verify(
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, AppError> {
    // Reading stops at the end of the archive plus its record padding: a longer body is
    // refused (`package_trailing_data`) without reading the rest.
    let read = package::read(body, state.config.max_upload_bytes).await?;
    let trust = service::current_trust_list(&state).await?;
    let platform = service::current_platform_keys(&state).await?;
    let report = read.report(&trust, &platform, state.clock.now());
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(report))
}
