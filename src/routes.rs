//! Every route of the application, wired in one place. Who may call a handler is decided by the
//! extractor it asks for, not by where it is mounted.

use actix_web::http::Method;
use actix_web::{Route, web};

use crate::accounts::pages as account;
use crate::agencies::pages as agency;
use crate::error::AppError;
use crate::grants::api as grants_api;
use crate::issuers::{api as issuers_api, pages as issuers};
use crate::reports::pages as reports;
use crate::vault::pages as vault;
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
        .service(
            web::resource("/static/app.{hash:[0-9a-f]{16}}.css")
                .route(web::get().to(site::stylesheet_versioned)),
        )
        .service(
            web::resource("/static/icon.{hash:[0-9a-f]{16}}.svg")
                .route(web::get().to(site::icon_versioned)),
        )
        .service(web::resource("/favicon.ico").route(web::get().to(site::favicon)))
        .service(
            web::resource("/static/counter.{hash:[0-9a-f]{16}}.js")
                .route(web::get().to(site::counter_script_versioned)),
        )
        .service(
            web::resource("/static/qr.{hash:[0-9a-f]{16}}.js")
                .route(web::get().to(site::qr_script_versioned)),
        )
        // Verifiers: trust list and platform keys
        .service(
            web::resource("/.well-known/congdanso/trust-list.json")
                .route(web::get().to(issuers_api::trust_list)),
        )
        .service(
            web::resource("/.well-known/congdanso/platform-keys.json")
                .route(web::get().to(issuers_api::platform_keys)),
        )
        // Access log: the signed tree head
        .service(
            web::resource("/.well-known/congdanso/log/checkpoint")
                .route(web::get().to(crate::audit::api::checkpoint)),
        )
        // Agency API
        .service(
            web::scope(API_V1)
                .configure(configure_api)
                .default_service(web::to(not_found)),
        )
        // Pages
        .service(web::resource("/").route(web::get().to(site::home)))
        .configure(crate::grants::configure)
        .configure(crate::counter::configure)
        .configure(crate::qr::configure)
        .configure(crate::notify::configure)
        .service(web::resource("/lang/{code}").route(web::get().to(site::switch_language)))
        // Citizens: registration, TOTP enrolment, login
        .service(
            web::resource("/register")
                .route(web::get().to(account::register_form))
                .route(web::post().to(account::register)),
        )
        .service(
            web::resource("/enroll")
                .route(web::get().to(account::enroll_form))
                .route(web::post().to(account::enroll)),
        )
        .service(
            web::resource("/login")
                .route(web::get().to(account::login_form))
                .route(web::post().to(account::login)),
        )
        .service(
            web::resource("/login/verify")
                .route(web::get().to(account::verify_form))
                .route(web::post().to(account::verify)),
        )
        .service(web::resource("/logout").route(web::post().to(account::logout)))
        .service(
            web::resource("/step-up")
                .route(web::get().to(account::step_up_form))
                .route(web::post().to(account::step_up)),
        )
        // The citizen's vault
        .service(
            web::resource("/documents")
                .route(web::get().to(vault::list))
                .route(web::post().to(vault::upload)),
        )
        .service(web::resource("/documents/{id}").route(web::get().to(vault::detail)))
        .service(web::resource("/documents/{id}/download").route(web::get().to(vault::download)))
        .service(web::resource("/documents/{id}/package").route(web::get().to(vault::package)))
        .service(web::resource("/documents/{id}/rename").route(web::post().to(vault::rename)))
        .service(
            web::resource("/documents/{id}/delete")
                .route(web::get().to(vault::delete_form))
                .route(web::post().to(vault::delete)),
        )
        .service(
            web::resource("/account/delete")
                .route(web::get().to(vault::delete_account_form))
                .route(web::post().to(vault::delete_account)),
        )
        // The citizen's access log: who saw my data
        .service(web::resource("/access-log").route(web::get().to(crate::audit::pages::access_log)))
        .service(
            web::resource("/access-log/export.json")
                .route(web::get().to(crate::audit::pages::export_json)),
        )
        .service(
            web::resource("/access-log/print").route(web::get().to(crate::audit::pages::print)),
        )
        // Misuse reports: the citizen's form and list, the operators' inbox
        .service(
            web::resource("/access-log/entries/{id}/report")
                .route(web::get().to(reports::report_form))
                .route(web::post().to(reports::file_report)),
        )
        .service(web::resource("/access-log/reports").route(web::get().to(reports::mine)))
        .service(web::resource("/admin/reports").route(web::get().to(reports::inbox)))
        .service(web::resource("/admin/reports/{id}").route(web::get().to(reports::open)))
        .service(
            web::resource("/admin/reports/{id}/investigate")
                .route(web::post().to(reports::investigate)),
        )
        .service(web::resource("/admin/reports/{id}/answer").route(web::post().to(reports::answer)))
        // Everyone's account page
        .service(web::resource("/account").route(web::get().to(account::account)))
        .service(web::resource("/account/password").route(web::post().to(account::change_password)))
        .service(
            web::resource("/account/recovery-codes")
                .route(web::get().to(account::recovery_codes_form))
                .route(web::post().to(account::new_recovery_codes)),
        )
        .service(
            web::resource("/account/authenticator")
                .route(web::get().to(account::authenticator_form))
                .route(web::post().to(account::change_authenticator)),
        )
        .service(
            web::resource("/account/sessions/end-all")
                .route(web::post().to(account::end_all_sessions)),
        )
        .service(
            web::resource("/account/sessions/{id}/end").route(web::post().to(account::end_session)),
        )
        // Staff side
        .service(
            web::resource("/staff/login")
                .route(web::get().to(account::staff_login_form))
                .route(web::post().to(account::staff_login)),
        )
        .service(web::resource("/agency").route(web::get().to(agency::agency_home)))
        .service(web::resource("/agency/staff").route(web::post().to(agency::create_staff)))
        .service(web::resource("/admin").route(web::get().to(agency::admin_home)))
        .service(web::resource("/admin/agencies").route(web::post().to(agency::create_agency)))
        .service(
            web::resource("/admin/agencies/{id}").route(web::get().to(agency::operator_agency)),
        )
        .service(
            web::resource("/admin/agencies/{id}/admins")
                .route(web::post().to(agency::create_agency_admin)),
        )
        .service(
            web::resource("/admin/agencies/{id}/contact")
                .route(web::post().to(agency::update_contact)),
        )
        // What the agency may ask citizens for (operators)
        .service(
            web::resource("/admin/agencies/{id}/purposes")
                .route(web::get().to(crate::purposes::pages::purposes))
                .route(web::post().to(crate::purposes::pages::register)),
        )
        .service(
            web::resource("/admin/agencies/{id}/purposes/{purpose}/retire")
                .route(web::post().to(crate::purposes::pages::retire)),
        )
        // Issuer keys (operators) and API credentials (operators, agency admins)
        .service(
            web::resource("/admin/agencies/{id}/keys")
                .route(web::get().to(issuers::keys))
                .route(web::post().to(issuers::register_key)),
        )
        .service(
            web::resource("/admin/agencies/{id}/keys/{key_id}/retire")
                .route(web::post().to(issuers::retire_key)),
        )
        .service(
            web::resource("/admin/agencies/{id}/keys/{key_id}/revoke")
                .route(web::post().to(issuers::revoke_key)),
        )
        .service(
            web::resource("/admin/agencies/{id}/credentials")
                .route(web::get().to(issuers::operator_credentials))
                .route(web::post().to(issuers::operator_create_credential)),
        )
        .service(
            web::resource("/admin/agencies/{id}/credentials/{credential}/revoke")
                .route(web::post().to(issuers::operator_revoke_credential)),
        )
        .service(
            web::resource("/admin/agencies/{id}/credentials/{credential}/rotate-webhook-key")
                .route(web::post().to(issuers::operator_rotate_webhook_key)),
        )
        // Issuing authority and agency successions (operators)
        .service(
            web::resource("/admin/agencies/{id}/authorities")
                .route(web::get().to(issuers::authorities))
                .route(web::post().to(issuers::register_authority)),
        )
        .service(
            web::resource("/admin/agencies/{id}/authorities/{authority}/end")
                .route(web::post().to(issuers::end_authority)),
        )
        .service(
            web::resource("/admin/agencies/{id}/successors")
                .route(web::post().to(issuers::register_successor)),
        )
        .service(
            web::resource("/admin/agencies/{id}/successors/{succession}/remove")
                .route(web::post().to(issuers::remove_successor)),
        )
        .service(
            web::resource("/agency/credentials")
                .route(web::get().to(issuers::admin_credentials))
                .route(web::post().to(issuers::admin_create_credential)),
        )
        .service(
            web::resource("/agency/credentials/{credential}/revoke")
                .route(web::post().to(issuers::admin_revoke_credential)),
        )
        .service(
            web::resource("/agency/credentials/{credential}/rotate-webhook-key")
                .route(web::post().to(issuers::admin_rotate_webhook_key)),
        );
}

/// The prefix of the agency API.
pub const API_V1: &str = "/api/v1";

/// One route of the agency API: method, path template (relative to [`API_V1`], in the same
/// `{name}` syntax as OpenAPI) and the handler. The OpenAPI document (`crate::openapi`) must
/// describe exactly these; `tests/api/openapi.rs` compares the two both ways.
pub struct ApiRoute {
    pub method: Method,
    pub path: &'static str,
    /// Attaches the handler to a route of `method`.
    pub to: fn(Route) -> Route,
}

/// Every route under `/api/v1`, in matching order. A path listed twice is one resource with
/// one route per method.
pub const API_ROUTES: &[ApiRoute] = &[
    ApiRoute {
        method: Method::GET,
        path: "/agency",
        to: |r| r.to(issuers_api::whoami),
    },
    ApiRoute {
        method: Method::POST,
        path: "/documents",
        to: |r| r.to(issuers_api::issue),
    },
    ApiRoute {
        method: Method::POST,
        path: "/verify",
        to: |r| r.to(issuers_api::verify),
    },
    ApiRoute {
        method: Method::POST,
        path: "/requests",
        to: |r| r.to(grants_api::create_request),
    },
    ApiRoute {
        method: Method::GET,
        path: "/requests",
        to: |r| r.to(grants_api::list_requests),
    },
    ApiRoute {
        method: Method::GET,
        path: "/requests/{id}",
        to: |r| r.to(grants_api::show_request),
    },
    ApiRoute {
        method: Method::GET,
        path: "/grants",
        to: |r| r.to(grants_api::list_grants),
    },
    ApiRoute {
        method: Method::GET,
        path: "/grants/{id}",
        to: |r| r.to(grants_api::show_grant),
    },
    ApiRoute {
        method: Method::GET,
        path: "/grants/{id}/documents/{document}",
        to: |r| r.to(grants_api::read_fields),
    },
    ApiRoute {
        method: Method::GET,
        path: "/grants/{id}/documents/{document}/file",
        to: |r| r.to(grants_api::read_file),
    },
    ApiRoute {
        method: Method::GET,
        path: "/openapi.json",
        to: |r| r.to(crate::openapi::document),
    },
];

/// Registers [`API_ROUTES`] inside the `/api/v1` scope: one resource per path (in the order a
/// path first appears), with a route for each of its methods.
pub fn configure_api(cfg: &mut web::ServiceConfig) {
    let mut done: Vec<&str> = Vec::new();
    for first in API_ROUTES {
        if done.contains(&first.path) {
            continue;
        }
        done.push(first.path);
        let resource = API_ROUTES
            .iter()
            .filter(|r| r.path == first.path)
            .fold(web::resource(first.path), |resource, r| {
                resource.route((r.to)(web::method(r.method.clone())))
            });
        cfg.service(resource);
    }
}

/// The answer for any path no route claims.
pub async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::NotFound)
}
