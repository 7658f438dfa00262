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
//!   granted scan as a true copy (a step of the session), the list on the staff home page.

pub mod pages;
pub mod repo;
pub mod service;

use actix_web::web;

/// The clerk's counter pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/staff/counter/sessions").route(web::post().to(pages::open)))
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
