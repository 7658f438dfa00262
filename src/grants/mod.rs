//! Consent-scoped sharing: an agency asks (`POST /api/v1/requests`) for some of a citizen's
//! documents for one registered purpose; the citizen decides in their inbox (approve all or
//! some, pick documents, switch off optional fields, or refuse; approval needs the TOTP
//! step-up); an approval is a grant with a platform-signed consent record (ISO/IEC TS 27560
//! fields); the agency reads through the one door as `Reader::Agency`, each read checked and
//! logged; withdrawal ends it on the next request and tells the agency through the outbox.

pub mod agency_pages;
pub mod api;
pub mod consent;
pub mod model;
pub mod pages;
pub mod repo;
pub mod service;

use actix_web::web;

/// The citizen's pages of the feature.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/shared").route(web::get().to(pages::shared)))
        .service(web::resource("/shared/requests/{id}").route(web::get().to(pages::request)))
        .service(
            web::resource("/shared/requests/{id}/approve").route(web::post().to(pages::approve)),
        )
        .service(web::resource("/shared/requests/{id}/refuse").route(web::post().to(pages::refuse)))
        .service(web::resource("/shared/grants/{id}").route(web::get().to(pages::grant)))
        .service(
            web::resource("/shared/grants/{id}/withdraw").route(web::post().to(pages::withdraw)),
        )
        .service(
            web::resource("/shared/grants/{id}/consent.json")
                .route(web::get().to(pages::consent_json)),
        )
        .service(
            web::resource("/agency/sharing").route(web::get().to(agency_pages::agency_sharing)),
        )
        .service(
            web::resource("/admin/over-asking").route(web::get().to(agency_pages::over_asking)),
        );
}
