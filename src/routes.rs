//! Every route of the application, wired in one place. Who may call a handler is decided by the
//! extractor it asks for, not by where it is mounted.

use actix_web::web;

use crate::error::AppError;
use crate::{ops, site};

/// Mounts every scope: public pages, the agency API, operations endpoints, static assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg
        // Operations
        .service(web::resource("/healthz").route(web::get().to(ops::healthz)))
        .service(web::resource("/readyz").route(web::get().to(ops::readyz)))
        .service(web::resource("/metrics").route(web::get().to(ops::metrics)))
        // Static assets (compiled into the binary)
        .service(web::resource("/static/app.css").route(web::get().to(site::stylesheet)))
        // Agency API
        .service(web::scope("/api/v1").default_service(web::to(not_found)))
        // Pages
        .service(web::resource("/").route(web::get().to(site::home)))
        .service(web::resource("/lang/{code}").route(web::get().to(site::switch_language)));
}

/// The answer for any path no route claims.
pub async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::NotFound)
}
