//! Cross-site request forgery protection for every state-changing form. A random secret lives in
//! a `SameSite=Strict`, `HttpOnly` cookie (named `__Host-cds_csrf` when cookies are `Secure`, so
//! a sibling subdomain cannot plant one; `cds_csrf` on plain-http development). The token a form
//! carries is not that secret but an HMAC of it keyed by the visitor's session cookie, so a
//! cookie-and-token pair taken from one session is worthless in another, and the server keeps no
//! state for it (several instances just work). A page that shows a form calls [`token_for`],
//! which reuses the cookie or issues a new one; the handler that receives the form asks for
//! [`CsrfForm`] instead of `web::Form`, so a missing or wrong token — or a body that is not a
//! form at all — is refused before the handler runs. The secret is renewed at login.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::hmac::{Hmac, Mac};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::session::SESSION_COOKIE;
use crate::error::AppError;
use crate::state::AppState;

/// The cookie's name on plain-http development.
pub const CSRF_COOKIE: &str = "cds_csrf";
/// The cookie's name when cookies are `Secure`: the `__Host-` prefix makes browsers refuse it
/// unless it is `Secure`, for `/` and without `Domain`, so no subdomain can set it for us.
pub const CSRF_COOKIE_SECURE: &str = "__Host-cds_csrf";
pub const CSRF_FIELD: &str = "csrf_token";

/// A fresh secret issued during this request, so the response can set the cookie.
#[derive(Clone)]
struct IssuedToken(String);

/// A session started during this request: forms on the page answered with it are bound to it.
#[derive(Clone)]
struct BoundSession(String);

fn random_token() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(AppError::internal)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn valid_shape(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn secure(req: &HttpRequest) -> bool {
    req.app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.config.cookies_secure())
}

/// The cookie name in use: `__Host-` only where the browser will accept it (over https).
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        CSRF_COOKIE_SECURE
    } else {
        CSRF_COOKIE
    }
}

/// The token a form carries: HMAC-SHA256 of the cookie's secret, keyed by the session cookie's
/// value (empty before login). Public so the test client can fill forms the way a page does.
pub fn form_token(cookie_secret: &str, session_token: Option<&str>) -> String {
    // HMAC takes a key of any length; the session token is 256 random bits.
    let mut mac = match Hmac::<Sha256>::new_from_slice(session_token.unwrap_or("").as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(b"congdanso/v1/csrf\0");
    mac.update(cookie_secret.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The visitor's cookie secret, if well formed.
fn cookie_secret(req: &HttpRequest) -> Option<String> {
    req.cookie(cookie_name(secure(req)))
        .map(|c| c.value().to_owned())
        .filter(|v| valid_shape(v))
}

/// The session a form on this page belongs to: one started during this request, else the
/// request's own session cookie.
fn session_token(req: &HttpRequest) -> Option<String> {
    if let Some(bound) = req.extensions().get::<BoundSession>() {
        return Some(bound.0.clone());
    }
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned())
}

/// The token to put in a form on this page, from the visitor's current secret or a new one
/// (remembered for this request; [`cookie_for`] turns it into the `Set-Cookie`).
pub fn token_for(req: &HttpRequest) -> Result<String, AppError> {
    let issued = req.extensions().get::<IssuedToken>().map(|t| t.0.clone());
    let secret = match issued.or_else(|| cookie_secret(req)) {
        Some(secret) => secret,
        None => renew_secret(req)?,
    };
    Ok(form_token(&secret, session_token(req).as_deref()))
}

fn renew_secret(req: &HttpRequest) -> Result<String, AppError> {
    let secret = random_token()?;
    req.extensions_mut().insert(IssuedToken(secret.clone()));
    Ok(secret)
}

/// Issues a new secret for this request (at login, so a token planted before login is useless);
/// returns the form token for it.
pub fn renew(req: &HttpRequest) -> Result<String, AppError> {
    let secret = renew_secret(req)?;
    Ok(form_token(&secret, session_token(req).as_deref()))
}

/// Like [`renew`], for a response that starts the session `session_token` and shows a page:
/// the forms on that page are bound to the new session, not to the one the request came with.
pub fn renew_for_session(req: &HttpRequest, session_token: &str) -> Result<String, AppError> {
    req.extensions_mut()
        .insert(BoundSession(session_token.to_owned()));
    renew(req)
}

/// The `Set-Cookie` for a secret issued during this request, if any.
pub fn cookie_for(req: &HttpRequest) -> Option<Cookie<'static>> {
    let issued = req.extensions().get::<IssuedToken>().cloned()?;
    let secure = secure(req);
    Some(
        Cookie::build(cookie_name(secure), issued.0)
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Strict)
            .finish(),
    )
}

/// True when `submitted` is the token for the visitor's cookie secret and session.
pub fn verify(req: &HttpRequest, submitted: &str) -> bool {
    match cookie_secret(req) {
        Some(secret) if valid_shape(submitted) => {
            let expected = form_token(&secret, session_token(req).as_deref());
            expected.as_bytes().ct_eq(submitted.as_bytes()).into()
        }
        _ => false,
    }
}

/// True when the body is an urlencoded form (the only kind [`CsrfForm`] reads).
fn is_form(req: &HttpRequest) -> bool {
    req.mime_type().ok().flatten().is_some_and(|mime| {
        mime.type_() == "application" && mime.subtype() == "x-www-form-urlencoded"
    })
}

#[derive(Deserialize)]
struct WithToken<T> {
    #[serde(default)]
    csrf_token: String,
    #[serde(flatten)]
    inner: T,
}

/// A form body whose CSRF token has been checked.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        // A body that is not a form carries no token: refused as a forged request, like a form
        // without one (not as an unsupported media type, which would invite a retry).
        if !is_form(&req) {
            tracing::warn!("form refused: not a form body, so no CSRF token");
            return Box::pin(async { Err(AppError::CsrfRejected.into()) });
        }
        let form = web::Form::<WithToken<T>>::from_request(&req, payload);
        Box::pin(async move {
            let form = form.await?.into_inner();
            if !verify(&req, &form.csrf_token) {
                tracing::warn!("form refused: missing or wrong CSRF token");
                return Err(AppError::CsrfRejected.into());
            }
            Ok(CsrfForm(form.inner))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_token_is_bound_to_the_session_and_the_secret() {
        let secret = random_token().unwrap();
        let other_secret = random_token().unwrap();
        let a = form_token(&secret, Some("session-a"));
        assert!(valid_shape(&a), "{a}");
        assert_eq!(a, form_token(&secret, Some("session-a")));
        assert_ne!(a, form_token(&secret, Some("session-b")));
        assert_ne!(a, form_token(&secret, None));
        assert_ne!(a, form_token(&other_secret, Some("session-a")));
        assert_ne!(a, secret, "the form never shows the cookie's secret");
    }

    #[test]
    fn the_cookie_is_host_locked_when_secure() {
        assert_eq!(cookie_name(true), "__Host-cds_csrf");
        assert_eq!(cookie_name(false), "cds_csrf");
    }
}
