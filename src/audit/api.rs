//! The access log's public endpoint.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::service;
use crate::error::AppError;
use crate::state::AppState;

/// `GET /.well-known/congdanso/log/checkpoint`: the latest signed tree head (C2SP
/// tlog-checkpoint note), for verifiers and witnesses.
pub async fn checkpoint(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let note = service::current_checkpoint_note(&state).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .body(note))
}
