//! The public pages every visitor sees (home, language switch, static assets) and the error page.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, Responder, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use crate::error::AppError;
use crate::i18n::{LANG_COOKIE, Lang};

const STYLESHEET: &str = include_str!("../web/static/app.css");

/// What a page handler returns.
pub type Page = Result<HttpResponse, AppError>;

/// Renders a template as an HTML response with the given status.
pub fn render(status: actix_web::http::StatusCode, template: &impl Template) -> Page {
    let body = template.render().map_err(AppError::internal)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// A 303 redirect (after a form post, or to another page).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

/// Who is signed in, for the page header.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub name: String,
    pub home: &'static str,
    pub role_key: &'static str,
}

/// What every page's frame (header, language switch, log-out button) needs.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub current_path: String,
    pub csrf_token: String,
    pub signed_in: Option<SignedIn>,
}

impl Chrome {
    /// The frame for a page, with the signed-in person if any.
    pub fn new(
        req: &HttpRequest,
        session: Option<&crate::auth::CurrentSession>,
    ) -> Result<Self, AppError> {
        let signed_in = match session {
            Some(current) => {
                let name = req
                    .app_data::<web::Data<crate::state::AppState>>()
                    .and_then(|state| {
                        crate::accounts::service::profile(state, &current.account)
                            .ok()
                            .flatten()
                    })
                    .map(|p| p.full_name)
                    .unwrap_or_else(|| crate::accounts::service::masked_login(&current.account));
                Some(SignedIn {
                    name,
                    home: current.role.home(),
                    role_key: current.role.label_key(),
                })
            }
            None => None,
        };
        Ok(Self {
            current_path: req.path().to_owned(),
            csrf_token: crate::auth::csrf::token_for(req)?,
            signed_in,
        })
    }

    /// A frame without a form token (error pages rendered by middleware).
    pub fn bare(path: &str) -> Self {
        Self {
            current_path: path.to_owned(),
            csrf_token: String::new(),
            signed_in: None,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
struct HomePage {
    lang: Lang,
    chrome: Chrome,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    lang: Lang,
    chrome: Chrome,
    status: u16,
    message: String,
    request_id: Option<&'a str>,
}

pub async fn home(
    lang: Lang,
    req: HttpRequest,
    session: crate::auth::MaybeSession,
) -> Result<impl Responder, AppError> {
    Ok(HomePage {
        lang,
        chrome: Chrome::new(&req, session.0.as_ref())?,
    })
}

#[derive(Deserialize)]
pub struct LangQuery {
    next: Option<String>,
}

/// Remembers the chosen language in a cookie and returns to the page the person was on. Only
/// local paths are followed, so the link cannot be used to send people elsewhere.
pub async fn switch_language(
    path: web::Path<String>,
    query: web::Query<LangQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let lang = Lang::from_code(&path).ok_or(AppError::NotFound)?;
    let next = query
        .next
        .as_deref()
        .filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or("/");
    let secure = req
        .app_data::<web::Data<crate::state::AppState>>()
        .is_some_and(|s| s.config.cookies_secure());
    let cookie = actix_web::cookie::Cookie::build(LANG_COOKIE, lang.code())
        .path("/")
        .max_age(actix_web::cookie::time::Duration::days(365))
        .same_site(actix_web::cookie::SameSite::Lax)
        .http_only(true)
        .secure(secure)
        .finish();
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, next.to_owned()))
        .finish())
}

/// The stylesheet, compiled into the binary so it runs from any directory.
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLESHEET)
}

/// Renders the error page; falls back to plain text if the template itself fails.
pub fn render_error_page(lang: Lang, error: &AppError, request_id: Option<&str>) -> String {
    use actix_web::ResponseError;
    let page = ErrorPage {
        lang,
        chrome: Chrome::bare("/"),
        status: error.status_code().as_u16(),
        message: error.user_message(lang),
        request_id,
    };
    page.render().unwrap_or_else(|_| error.user_message(lang))
}
