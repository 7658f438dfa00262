//! QR identity: the citizen shows a short-lived QR code on their phone; a staff member at an
//! agency's counter scans it and sees who is in front of them — name, birth date, masked
//! national ID number — without typing anything, and can open a counter session from it.
//!
//! - `token`: the signed binary token and its `CDS1:` Base45 text (no I/O; docs/CRYPTO.md);
//! - `render`: the QR code as SVG / PNG, and reading one from a photo (`rqrr`);
//! - `service`: issuing, verifying (single use across instances, through the door), the scan
//!   rows that are a counter session's origin;
//! - `repo`: the `qr_handle`, `qr_token_use` and `qr_scan` rows;
//! - `pages`: the citizen's code (home page, `/qr/token.json`), the printable card (`/qr/card`),
//!   the staff scan page (with the card's code by SMS) and the in-person revocation of a lost
//!   card (`/staff/cards/revoke`);
//! - `throttle`: fresh tokens per account and minute (`/qr/token.json`).

pub mod pages;
pub mod render;
pub mod repo;
pub mod service;
pub mod status;
pub mod throttle;
pub mod token;

use actix_web::web;

/// The citizen's and the staff member's QR routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/qr").route(web::get().to(pages::refresh)))
        .service(web::resource("/qr/token.json").route(web::get().to(pages::token_json)))
        .service(
            web::resource("/qr/card")
                .route(web::get().to(pages::card_page))
                .route(web::post().to(pages::card_issue)),
        )
        .service(
            web::resource("/.well-known/congdanso/qr/status")
                .route(web::get().to(pages::status_list)),
        )
        .service(web::resource("/qr/card/code").route(web::post().to(pages::card_code)))
        .service(web::resource("/qr/card/revoke").route(web::post().to(pages::card_revoke)))
        .service(
            web::resource("/staff/scan")
                .route(web::get().to(pages::scan_form))
                .route(web::post().to(pages::scan)),
        )
        .service(web::resource("/staff/scan/card").route(web::post().to(pages::scan_card)))
        .service(web::resource("/staff/scan/card/sms").route(web::post().to(pages::scan_card_sms)))
        .service(
            web::resource("/staff/cards/revoke")
                .route(web::get().to(pages::revoke_form))
                .route(web::post().to(pages::revoke_in_person)),
        )
        .service(web::resource("/staff/scan/photo").route(web::post().to(pages::scan_photo)));
}
