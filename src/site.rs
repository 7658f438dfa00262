//! The public pages every visitor sees (home, language switch, static assets) and the error page.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, Responder, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use crate::error::AppError;
use crate::i18n::{LANG_COOKIE, Lang};

/// What a page handler returns.
pub type Page = Result<HttpResponse, AppError>;

/// Renders a template as an HTML response with the given status.
pub fn render(status: actix_web::http::StatusCode, template: &impl Template) -> Page {
    let body = template.render().map_err(AppError::internal)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// Adds `Retry-After` to a page refused for too many attempts (a form shown again with 429), as
/// the JSON answers have it.
pub fn with_retry_after(page: Page, retry_after: Option<std::time::Duration>) -> Page {
    let mut response = page?;
    if let Some(wait) = retry_after {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(wait.as_secs().max(1)),
        );
    }
    Ok(response)
}

/// A 303 redirect (after a form post, or to another page). Never fails: a location that cannot
/// be a header value (control characters) is logged and replaced by the home page, so a bad
/// target is a redirect home rather than a 500.
pub fn see_other(location: &str) -> HttpResponse {
    let value = HeaderValue::from_str(location)
        .ok()
        .filter(|_| location.is_ascii() && !location.is_empty())
        .unwrap_or_else(|| {
            tracing::warn!("redirect target is not a valid header value; sent home instead");
            HeaderValue::from_static("/")
        });
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, value))
        .finish()
}

/// The place on this site to return to, from a `next` parameter or any other target that came
/// from the request; `None` when `raw` is not plainly a path here.
///
/// Browsers are lenient with a `Location`: they drop tabs and newlines anywhere, read `\` as
/// `/`, and a leading `//` names another host, so `/\t/evil.example` is `//evil.example`. We
/// therefore refuse control characters, whitespace and backslashes outright (also once
/// percent-decoded, so an encoded form cannot slip them past a later decoder), refuse anything
/// not starting with exactly one `/`, then resolve the rest the way a browser would (the WHATWG
/// parser of the `url` crate) against a placeholder origin and keep it only if it stayed there.
/// What comes back is that resolved path, query and fragment: plain ASCII, safe for a header.
pub fn safe_next(raw: &str) -> Option<String> {
    const PLACEHOLDER: &str = "http://congdanso.invalid/";
    fn suspicious(text: &str) -> bool {
        text.chars().any(|c| c.is_control() || c == '\\')
            || !text.starts_with('/')
            || text.starts_with("//")
    }
    if raw.is_empty() || raw.len() > 2048 || suspicious(raw) || raw.chars().any(char::is_whitespace)
    {
        return None;
    }
    let decoded = percent_decoded(raw)?;
    if suspicious(&decoded) {
        return None;
    }
    let base = url::Url::parse(PLACEHOLDER).ok()?;
    let resolved = base.join(raw).ok()?;
    if resolved.origin() != base.origin()
        || !resolved.username().is_empty()
        || resolved.password().is_some()
    {
        return None;
    }
    let local = &resolved[url::Position::BeforePath..];
    (local.starts_with('/') && !local.starts_with("//")).then(|| local.to_owned())
}

/// `text` with `%XX` escapes decoded once; `None` when the result is not UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Who is signed in, for the page header.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub name: String,
    pub home: &'static str,
    pub role_key: &'static str,
    /// Unread notifications.
    pub unread: u64,
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
                    unread: req
                        .extensions()
                        .get::<crate::notify::service::Unread>()
                        .map_or(0, |u| u.0),
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
    /// For a citizen: agencies' requests waiting for their answer.
    requests_waiting: Option<String>,
    /// For a citizen: their QR identity, fresh for this page.
    qr: Option<crate::qr::pages::Shown>,
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
    state: web::Data<crate::state::AppState>,
    session: crate::auth::MaybeSession,
) -> Result<impl Responder, AppError> {
    let (requests_waiting, qr) = match session.0.as_ref() {
        Some(current) if current.role == crate::auth::Role::Citizen => {
            let n = crate::grants::service::pending_count(&state, &current.account).await?;
            let qr = crate::qr::pages::Shown::fresh(&state, lang, &current.account).await?;
            (
                Some(
                    lang.t("home.requests_waiting")
                        .replace("%{n}", &n.to_string()),
                ),
                Some(qr),
            )
        }
        _ => (None, None),
    };
    let no_store = qr.is_some();
    let page = HomePage {
        lang,
        chrome: Chrome::new(&req, session.0.as_ref())?,
        requests_waiting,
        qr,
    };
    let mut response = render(actix_web::http::StatusCode::OK, &page)?;
    if no_store {
        // The page carries a single-use token: never kept by a cache or the back button.
        response.headers_mut().insert(
            actix_web::http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
    }
    Ok(response)
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
        .and_then(safe_next)
        .unwrap_or_else(|| "/".to_owned());
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
    let mut response = see_other(&next);
    response.add_cookie(&cookie).map_err(AppError::internal)?;
    Ok(response)
}

// Static assets: compiled into the binary (it runs from any directory), named by a hash of their
// bytes so pages can let browsers keep them for a year, and validated by that hash (ETag).

/// A file compiled into the binary, with the hash that names it.
pub struct Asset {
    bytes: &'static [u8],
    content_type: &'static str,
    hash: String,
    href: String,
}

impl Asset {
    fn new(bytes: &'static [u8], content_type: &'static str, stem: &str, ext: &str) -> Self {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(bytes);
        let hash = hex::encode(&digest[..8]);
        let href = format!("/static/{stem}.{hash}.{ext}");
        Self {
            bytes,
            content_type,
            hash,
            href,
        }
    }

    /// The content-hashed URL pages link to.
    pub fn href(&self) -> &str {
        &self.href
    }

    /// 200 with the bytes, or 304 when `If-None-Match` names this version.
    fn serve(&self, req: &HttpRequest, cache_control: &'static str) -> HttpResponse {
        let etag = header::EntityTag::new_strong(self.hash.clone());
        let fresh = match req.get_header::<header::IfNoneMatch>() {
            Some(header::IfNoneMatch::Any) => true,
            Some(header::IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(&etag)),
            None => false,
        };
        let mut response = if fresh {
            HttpResponse::NotModified()
        } else {
            HttpResponse::Ok()
        };
        response
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache_control));
        if fresh {
            return response.finish();
        }
        response
            .content_type(self.content_type)
            .body(web::Bytes::from_static(self.bytes))
    }

    /// The hashed URL of this version is cached for good; another hash (a page from an older or
    /// newer release, during a rolling deploy) gets today's bytes for a short while only.
    fn serve_versioned(&self, req: &HttpRequest, hash: &str) -> HttpResponse {
        if hash == self.hash {
            self.serve(req, CACHE_IMMUTABLE)
        } else {
            self.serve(req, CACHE_REVALIDATE)
        }
    }
}

/// For content-hashed URLs: the bytes behind them never change.
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For fixed URLs whose bytes change with a release: kept briefly, then revalidated by ETag.
pub const CACHE_REVALIDATE: &str = "public, max-age=300";
/// `/favicon.ico`: a fixed URL browsers fetch on their own; a week, then revalidated.
pub const CACHE_FAVICON: &str = "public, max-age=604800";

pub static STYLESHEET: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../web/static/app.css"),
        "text/css; charset=utf-8",
        "app",
        "css",
    )
});

pub static ICON: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../web/static/favicon.svg"),
        "image/svg+xml",
        "icon",
        "svg",
    )
});

static FAVICON_ICO: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../web/static/favicon.ico"),
        "image/x-icon",
        "favicon",
        "ico",
    )
});

/// The counter session page's polling script (progressive enhancement: the page works without).
static COUNTER_SCRIPT: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../web/static/counter.js"),
        "text/javascript; charset=utf-8",
        "counter",
        "js",
    )
});

/// The QR pages' script (progressive enhancement): the citizen's code refreshed before it
/// expires, the staff scan page's camera where the browser has `BarcodeDetector`.
static QR_SCRIPT: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../web/static/qr.js"),
        "text/javascript; charset=utf-8",
        "qr",
        "js",
    )
});

/// The QR script's content-hashed URL (for templates).
pub fn qr_script_href() -> &'static str {
    QR_SCRIPT.href()
}

/// `/static/qr.{hash}.js`
pub async fn qr_script_versioned(req: HttpRequest, hash: web::Path<String>) -> HttpResponse {
    QR_SCRIPT.serve_versioned(&req, &hash)
}

/// The counter script's content-hashed URL (for templates).
pub fn counter_script_href() -> &'static str {
    COUNTER_SCRIPT.href()
}

/// `/static/counter.{hash}.js`
pub async fn counter_script_versioned(req: HttpRequest, hash: web::Path<String>) -> HttpResponse {
    COUNTER_SCRIPT.serve_versioned(&req, &hash)
}

/// The stylesheet's content-hashed URL (for templates).
pub fn stylesheet_href() -> &'static str {
    STYLESHEET.href()
}

/// The icon's content-hashed URL (for templates).
pub fn icon_href() -> &'static str {
    ICON.href()
}

/// `/static/app.css`: the stylesheet under its old fixed URL.
pub async fn stylesheet(req: HttpRequest) -> HttpResponse {
    STYLESHEET.serve(&req, CACHE_REVALIDATE)
}

/// `/static/app.{hash}.css`
pub async fn stylesheet_versioned(req: HttpRequest, hash: web::Path<String>) -> HttpResponse {
    STYLESHEET.serve_versioned(&req, &hash)
}

/// `/static/icon.{hash}.svg`
pub async fn icon_versioned(req: HttpRequest, hash: web::Path<String>) -> HttpResponse {
    ICON.serve_versioned(&req, &hash)
}

/// `/favicon.ico`, asked for by browsers and crawlers that do not read the page's icon link.
pub async fn favicon(req: HttpRequest) -> HttpResponse {
    FAVICON_ICO.serve(&req, CACHE_FAVICON)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_next_keeps_local_paths() {
        for (raw, expected) in [
            ("/", "/"),
            ("/account", "/account"),
            ("/documents?page=2#top", "/documents?page=2#top"),
            ("/documents/a/../b", "/documents/b"),
            ("/tài-liệu", "/t%C3%A0i-li%E1%BB%87u"),
            ("/a%20b", "/a%20b"),
        ] {
            assert_eq!(safe_next(raw).as_deref(), Some(expected), "{raw:?}");
        }
    }

    #[test]
    fn safe_next_refuses_every_way_out_of_the_site() {
        for raw in [
            "",
            "account",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "\\\\evil.example",
            "/\t/evil.example/phish",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "\t//evil.example",
            " //evil.example",
            "/ /evil.example",
            "/\u{7f}",
            "/\u{0}",
            "/\u{a0}/evil.example",
            "/\u{2028}/evil.example",
            "/%09/evil.example",
            "/%0a/evil.example",
            "/%0d%0a/evil.example",
            "/%0D%0ASet-Cookie:x=y",
            "/%7f",
            "/%5c/evil.example",
            "/%5C%5Cevil.example",
            "/%2f/evil.example",
            "/%2F%2Fevil.example",
            "/%ff",
            "http://evil.example",
            "https:evil.example",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(raw), None, "{raw:?}");
        }
        // `/@evil.example` is a path on this site (no host can follow a single slash).
        let at = "/@evil.example";
        assert_eq!(safe_next(at).as_deref(), Some(at));
    }

    #[test]
    fn see_other_never_fails() {
        for location in ["/a\nb", "/\u{7f}", "/é", ""] {
            let response = see_other(location);
            assert_eq!(response.status(), actix_web::http::StatusCode::SEE_OTHER);
            assert_eq!(response.headers().get(header::LOCATION).unwrap(), "/");
        }
        assert_eq!(
            see_other("/account")
                .headers()
                .get(header::LOCATION)
                .unwrap(),
            "/account"
        );
    }
}
