//! Extractors that decide who may call a handler. A handler that asks for `CitizenSession` is
//! never reached by anyone else: no session → `Unauthenticated` (pages redirect to the login
//! page), a session of another role → `NotFound` (answered exactly like a missing page).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use entity::{account, session};

use super::Role;
use super::session::{SESSION_COOKIE, Stage, load_with_account};
use crate::error::AppError;
use crate::state::AppState;

/// A fully logged-in session with its account.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub session: session::Model,
    pub account: account::Model,
    pub role: Role,
}

/// A logged-in session at any stage, cached per request.
#[derive(Debug, Clone)]
struct LoadedSession(Option<(session::Model, account::Model, Role, Stage)>);

async fn load_for_request(req: &HttpRequest) -> Result<LoadedSession, AppError> {
    if let Some(loaded) = req.extensions().get::<LoadedSession>() {
        return Ok(loaded.clone());
    }
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::internal("application state missing"))?
        .clone();
    let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    let mut loaded = LoadedSession(None);
    // The header's unread count, read with the session (not for file bodies, the API or the
    // JSON a script polls, which show no header).
    let with_unread = renders_page_frame(req.path());
    if let Some(token) = token
        && let Some((row, account, unread)) = load_with_account(&state, &token, with_unread).await?
        && account.status != "disabled"
        && let (Some(role), Some(stage)) = (Role::parse(&account.role), Stage::parse(&row.stage))
    {
        if stage == Stage::Full
            && let Some(unread) = unread
        {
            req.extensions_mut()
                .insert(crate::notify::service::Unread(unread));
        }
        loaded = LoadedSession(Some((row, account, role, stage)));
    }
    req.extensions_mut().insert(loaded.clone());
    Ok(loaded)
}

async fn require_full(req: HttpRequest, allowed: &[Role]) -> Result<CurrentSession, AppError> {
    match load_for_request(&req).await?.0 {
        Some((session, account, role, Stage::Full)) => {
            if allowed.contains(&role) {
                Ok(CurrentSession {
                    session,
                    account,
                    role,
                })
            } else {
                Err(AppError::NotFound)
            }
        }
        _ => Err(AppError::Unauthenticated),
    }
}

type BoxedFuture<T> = Pin<Box<dyn Future<Output = Result<T, actix_web::Error>>>>;

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, [$($role:expr),+]) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub CurrentSession);

        impl FromRequest for $name {
            type Error = actix_web::Error;
            type Future = BoxedFuture<Self>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move {
                    Ok($name(require_full(req, &[$($role),+]).await?))
                })
            }
        }

        impl std::ops::Deref for $name {
            type Target = CurrentSession;
            fn deref(&self) -> &CurrentSession {
                &self.0
            }
        }
    };
}

role_extractor!(
    /// Any fully logged-in account.
    AnySession,
    [Role::Citizen, Role::CounterStaff, Role::AgencyAdmin, Role::Operator]
);
role_extractor!(
    /// A citizen.
    CitizenSession,
    [Role::Citizen]
);
role_extractor!(
    /// Counter staff or an agency admin (admins can work the counter too).
    StaffSession,
    [Role::CounterStaff, Role::AgencyAdmin]
);
role_extractor!(
    /// An agency admin: manages the staff of their own agency.
    AgencyAdminSession,
    [Role::AgencyAdmin]
);
role_extractor!(
    /// A platform operator: manages agencies and their admins.
    OperatorSession,
    [Role::Operator]
);

/// A session whose password step passed but whose second factor (or TOTP enrolment) is pending.
#[derive(Debug, Clone)]
pub struct PendingSession {
    pub session: session::Model,
    pub account: account::Model,
    pub role: Role,
    pub stage: Stage,
}

impl FromRequest for PendingSession {
    type Error = actix_web::Error;
    type Future = BoxedFuture<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match load_for_request(&req).await?.0 {
                Some((session, account, role, stage)) if stage != Stage::Full => {
                    Ok(PendingSession {
                        session,
                        account,
                        role,
                        stage,
                    })
                }
                _ => Err(AppError::Unauthenticated.into()),
            }
        })
    }
}

/// The fully logged-in session if there is one; never fails (for pages anyone may see).
#[derive(Debug, Clone)]
pub struct MaybeSession(pub Option<CurrentSession>);

impl FromRequest for MaybeSession {
    type Error = actix_web::Error;
    type Future = BoxedFuture<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let current = match load_for_request(&req).await?.0 {
                Some((session, account, role, Stage::Full)) => Some(CurrentSession {
                    session,
                    account,
                    role,
                }),
                _ => None,
            };
            Ok(MaybeSession(current))
        })
    }
}

/// Whether a request's answer can be a page with the site's header (which shows the unread
/// count): not the agency API, not a file body (download, package, a scan shown inline) and
/// not the JSON or status a page's script polls. A miss only leaves the count at 0 in a
/// header nobody sees; a false positive only costs one indexed count.
fn renders_page_frame(path: &str) -> bool {
    const NO_FRAME_SUFFIXES: [&str; 5] = ["/download", "/file", "/package", "/status", ".json"];
    !path.starts_with("/api/")
        && !path.starts_with("/static/")
        && !path.starts_with("/.well-known/")
        && !NO_FRAME_SUFFIXES.iter().any(|s| path.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::renders_page_frame;

    #[test]
    fn only_pages_load_the_unread_count() {
        for page in [
            "/",
            "/documents",
            "/documents/0190/",
            "/access-log",
            "/staff/scan",
        ] {
            assert!(renders_page_frame(page), "{page}");
        }
        for body in [
            "/documents/0190/download",
            "/documents/0190/package",
            "/staff/certify/0190/file",
            "/staff/counter/sessions/0190/status",
            "/qr/token.json",
            "/access-log/export.json",
            "/api/v1/grants",
        ] {
            assert!(!renders_page_frame(body), "{body}");
        }
    }
}
