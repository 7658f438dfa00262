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

use super::{repo, service};
use crate::error::AppError;
use crate::state::AppState;

/// The agency an API request acts for.
#[derive(Debug, Clone)]
pub struct AgencyClient(pub agency::Model);

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
            Ok(AgencyClient(service::authenticate(&state, token).await?))
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

/// `GET /api/v1/agency`: the calling agency and its keys.
pub async fn whoami(
    state: web::Data<AppState>,
    client: AgencyClient,
) -> Result<HttpResponse, AppError> {
    let agency = client.0;
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
    Ok(HttpResponse::Ok().json(json!({
        "agency": { "id": agency.id.to_string(), "code": agency.code, "name": agency.name, "kind": agency.kind },
        "keys": keys,
    })))
}
