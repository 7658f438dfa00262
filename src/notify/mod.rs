//! Notifications (issue 14): events told to people through their in-app inbox, email and SMS,
//! delivered through the one outbox (`crate::outbox`, kinds `notify`, `email`, `sms`).
//! See docs/ARCHITECTURE.md "Notifications".

pub mod channels;
pub mod model;
pub mod pages;
pub mod repo;
pub mod service;

use actix_web::web;

/// The inbox and the notification settings.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/notifications").route(web::get().to(pages::inbox)))
        .service(web::resource("/notifications/read").route(web::post().to(pages::read_all)))
        .service(web::resource("/notifications/{id}/read").route(web::post().to(pages::read_one)))
        .service(web::resource("/admin/notifications").route(web::get().to(pages::health)))
        .service(
            web::resource("/settings/notifications")
                .route(web::get().to(pages::settings_form))
                .route(web::post().to(pages::save_settings)),
        );
}
