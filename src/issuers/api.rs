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
            let token = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or(AppError::Unauthenticated)?;
            let (agency, credential) = service::authenticate(&state, token).await?;
            Ok(AgencyClient { agency, credential })
        })
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
