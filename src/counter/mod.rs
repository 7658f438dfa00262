//! The one-stop counter (quầy một cửa): a clerk's session with a citizen for one procedure of
//! the catalogue. Opening it sends the citizen an access request for the procedure's documents
//! (the grants mechanism, the clerk's agency as requester, for its counter purpose, lasting
//! minutes); the citizen approves on their phone with the step-up; the clerk's page follows by
//! polling and shows the granted documents with their verification badges, read through the
//! door as `Reader::Clerk` on the session and its grant. Ending the session withdraws the grant.
//!
//! - `service`: [`service::Origin`] (how the clerk identified the citizen), `open_session`,
//!   the derived [`service::Status`], reads, `end`;
//! - `repo`: the `counter_session` rows;
//! - `pages`: the open form, the session page, its status for polling, the file, certifying a
//!   granted scan as a true copy (a step of the session), and the staff home page (`/staff`:
//!   scan, certify, the clerk's open sessions);
//! - `certify`: certified copies from the citizen's certification code — the code, the claim
//!   by the first desk that enters it, the review through the door, the agency's counter key
//!   and `sign_copy`, which the session's certify step shares;
//! - `certify_pages`: the citizen's "get a code" button, the clerk's `/staff/certify` code →
//!   review → confirm pages, the operator's counter-key button.

pub mod certify;
pub mod certify_pages;
pub mod pages;
pub mod repo;
pub mod service;

use actix_web::web;

/// The clerk's counter pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/staff").route(web::get().to(pages::staff_home)))
        // Certified copies from the citizen's code (the counter's first way to identify them).
        .service(
            web::resource("/documents/{id}/certification")
                .route(web::post().to(certify_pages::request_code)),
        )
        .service(
            web::resource("/staff/certify")
                .route(web::get().to(certify_pages::enter_code_form))
                .route(web::post().to(certify_pages::enter_code)),
        )
        .service(
            web::resource("/staff/certify/{request}")
                .route(web::get().to(certify_pages::review))
                .route(web::post().to(certify_pages::certify)),
        )
        .service(
            web::resource("/staff/certify/{request}/file")
                .route(web::get().to(certify_pages::file)),
        )
        .service(
            web::resource("/admin/agencies/{id}/keys/counter")
                .route(web::post().to(certify_pages::create_counter_key)),
        )
        .service(web::resource("/staff/counter/sessions").route(web::post().to(pages::open)))
        .service(web::resource("/staff/counter/sessions/{id}").route(web::get().to(pages::session)))
        .service(
            web::resource("/staff/counter/sessions/{id}/status")
                .route(web::get().to(pages::status)),
        )
        .service(
            web::resource("/staff/counter/sessions/{id}/end").route(web::post().to(pages::end)),
        )
        .service(
            web::resource("/staff/counter/sessions/{id}/documents/{document}/file")
                .route(web::get().to(pages::file)),
        )
        .service(
            web::resource("/staff/counter/sessions/{id}/documents/{document}/certify")
                .route(web::get().to(pages::certify_form))
                .route(web::post().to(pages::certify)),
        );
}
