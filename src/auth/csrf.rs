//! Cross-site request forgery protection for every state-changing form: a random token in a
//! `SameSite=Strict`, `HttpOnly` cookie must match the `csrf_token` field of the form (double
//! submit, compared in constant time). A page that shows a form calls [`token_for`], which
//! reuses the cookie or issues a new one; the handler that receives the form asks for
//! [`CsrfForm`] instead of `web::Form`, so a missing or wrong token is refused before the
//! handler runs. The token is renewed at login.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::error::AppError;
use crate::state::AppState;

pub const CSRF_COOKIE: &str = "cds_csrf";
pub const CSRF_FIELD: &str = "csrf_token";

/// A fresh token issued during this request, so the response can set the cookie.
#[derive(Clone)]
struct IssuedToken(String);

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

/// The token to put in a form on this page: the visitor's current one, or a new one (remembered
/// for this request; [`cookie_for`] turns it into the `Set-Cookie`).
pub fn token_for(req: &HttpRequest) -> Result<String, AppError> {
    if let Some(issued) = req.extensions().get::<IssuedToken>() {
        return Ok(issued.0.clone());
    }
    if let Some(cookie) = req.cookie(CSRF_COOKIE)
        && valid_shape(cookie.value())
    {
        return Ok(cookie.value().to_owned());
    }
    renew(req)
}

/// Issues a new token for this request (at login, so a token planted before login is useless).
pub fn renew(req: &HttpRequest) -> Result<String, AppError> {
    let token = random_token()?;
    req.extensions_mut().insert(IssuedToken(token.clone()));
    Ok(token)
}

/// The `Set-Cookie` for a token issued during this request, if any.
pub fn cookie_for(req: &HttpRequest) -> Option<Cookie<'static>> {
    let issued = req.extensions().get::<IssuedToken>().cloned()?;
    let secure = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.config.cookies_secure());
    Some(
        Cookie::build(CSRF_COOKIE, issued.0)
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Strict)
            .finish(),
    )
}

/// True when `submitted` equals the visitor's cookie.
pub fn verify(req: &HttpRequest, submitted: &str) -> bool {
    match req.cookie(CSRF_COOKIE) {
        Some(cookie) if valid_shape(cookie.value()) && valid_shape(submitted) => {
            cookie.value().as_bytes().ct_eq(submitted.as_bytes()).into()
        }
        _ => false,
    }
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
