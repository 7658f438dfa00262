//! Cross-cutting HTTP behaviour applied to every request: a request id, a tracing span, a time
//! limit, metrics, response hardening headers, compression of rendered text and uniform error
//! rendering.

use std::time::{Duration, Instant};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use tracing::Instrument;

use crate::error::AppError;
use crate::i18n::Lang;
use crate::state::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the current request, echoed in the `X-Request-Id` header and every log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// Keeps a well-formed id set by a trusted proxy, otherwise makes a new one.
    fn from_incoming(req: &ServiceRequest) -> Self {
        let incoming = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                !v.is_empty()
                    && v.len() <= 64
                    && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        match incoming {
            Some(id) => Self(id.to_owned()),
            None => Self(uuid::Uuid::now_v7().to_string()),
        }
    }

    pub fn of(req: &HttpRequest) -> Option<String> {
        req.extensions().get::<RequestId>().map(|id| id.0.clone())
    }
}

/// True for machine-facing paths, whose errors stay JSON.
fn is_machine_path(path: &str) -> bool {
    path.starts_with("/api/")
        || path == "/api"
        || path.starts_with("/.well-known/")
        || matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// Request id, tracing span, time limit, metrics and the access log line.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let request_id = RequestId::from_incoming(&req);
    req.extensions_mut().insert(request_id.clone());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let timeout = state
        .as_ref()
        .map(|s| s.config.request_timeout)
        .unwrap_or(Duration::from_secs(30));
    let method = req.method().to_string();
    let span = tracing::info_span!(
        "http",
        request_id = %request_id.0,
        method = %method,
        path = %req.path(),
    );

    // The request cannot be cloned before routing (actix needs it unshared), so a request that
    // runs out of time is answered by the server core from this error: 504 `request_timeout`.
    let outcome = tokio::time::timeout(timeout, next.call(req).instrument(span.clone())).await;
    let mut response = match outcome {
        Ok(result) => result?.map_into_boxed_body(),
        Err(_elapsed) => {
            span.in_scope(|| tracing::warn!(timeout_s = timeout.as_secs(), "request timed out"));
            if let Some(state) = &state {
                state.metrics.observe_request(
                    &method,
                    "timed_out",
                    504,
                    started.elapsed().as_secs_f64(),
                );
            }
            return Err(AppError::Timeout.into());
        }
    };

    if let Some(cookie) = crate::auth::csrf::cookie_for(response.request())
        && let Err(error) = response.response_mut().add_cookie(&cookie)
    {
        tracing::warn!(%error, "could not set the CSRF cookie");
    }
    if let Ok(value) = HeaderValue::from_str(&request_id.0) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }

    let status = response.status().as_u16();
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let elapsed = started.elapsed();
    if let Some(state) = &state {
        state
            .metrics
            .observe_request(&method, &route, status, elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        tracing::info!(
            status,
            route = %route,
            latency_ms = elapsed.as_millis() as u64,
            "answered"
        )
    });
    Ok(response)
}

/// Answers `HEAD` exactly like `GET`, without the body (download managers and link checkers ask
/// with `HEAD`; actix's `web::get()` routes do not match it). The request is routed as a `GET`;
/// the answer keeps every header and the body's size, so `Content-Length` is what the `GET` would
/// send, but the body is dropped unread (a download's stream is never decrypted). Placed inside
/// `request_context`, so logs and metrics still say `HEAD`.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let head = req.method() == Method::HEAD;
    if head {
        req.head_mut().method = Method::GET;
    }
    let response = next.call(req).await?;
    if !head {
        return Ok(response.map_into_boxed_body());
    }
    Ok(response.map_body(|_, body| BoxBody::new(HeadBody(body.size()))))
}

/// The body of a `HEAD` answer: the size of the body a `GET` would get, and no bytes.
struct HeadBody(BodySize);

impl MessageBody for HeadBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        self.0
    }

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<actix_web::web::Bytes, Self::Error>>> {
        std::task::Poll::Ready(None)
    }
}

/// Gives every error the same shape: JSON on machine paths, a readable page in the user's
/// language everywhere else. Also covers actix's own bare 404/405 answers.
pub async fn error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let response = next.call(req).await?.map_into_boxed_body();
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(response);
    }
    let machine = is_machine_path(response.request().path());
    let app_error = response
        .response()
        .error()
        .and_then(|e| e.as_error::<AppError>())
        .map(clone_for_render);
    let had_app_error = app_error.is_some();
    let error = match app_error {
        Some(error) => error,
        // Another framework error, or a bare status with no body (unknown route, wrong method).
        None if response.response().error().is_some() || is_empty_body(&response) => {
            from_status(status)
        }
        // A handler answered this error status with a body of its own on purpose.
        None => return Ok(response),
    };
    if machine {
        if had_app_error {
            return Ok(response);
        }
        let (request, _) = response.into_parts();
        return Ok(ServiceResponse::new(request, error.error_response()));
    }
    let (request, original) = response.into_parts();
    if matches!(error, AppError::Unauthenticated) {
        return Ok(ServiceResponse::new(
            request.clone(),
            redirect_to_login(&request),
        ));
    }
    let lang = Lang::of_request(&request);
    let request_id = RequestId::of(&request);
    let html = crate::site::render_error_page(lang, &error, request_id.as_deref());
    let mut page = HttpResponse::build(original.status());
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            page.append_header((name.clone(), value.clone()));
        }
    }
    let page = page.content_type("text/html; charset=utf-8").body(html);
    Ok(ServiceResponse::new(request, page))
}

/// People who are not logged in are sent to the right login page, and back afterwards.
fn redirect_to_login(request: &HttpRequest) -> HttpResponse {
    let path = request.path();
    let staff_side = ["/staff", "/agency", "/admin"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    let login = if staff_side { "/staff/login" } else { "/login" };
    let location = if request.method() == actix_web::http::Method::GET && path != "/" {
        let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
        format!("{login}?next={next}")
    } else {
        login.to_owned()
    };
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

fn is_empty_body(response: &ServiceResponse<BoxBody>) -> bool {
    matches!(
        response.response().body().size(),
        actix_web::body::BodySize::None | actix_web::body::BodySize::Sized(0)
    )
}

/// AppError is not Clone (it may carry causes); rebuild what a page needs.
fn clone_for_render(error: &AppError) -> AppError {
    match error {
        AppError::InvalidInput {
            code,
            message,
            fields,
        } => AppError::InvalidInput {
            code,
            message: message.clone(),
            fields: fields.clone(),
        },
        AppError::Conflict { code, message } => AppError::Conflict {
            code,
            message: message.clone(),
        },
        AppError::RateLimited { retry_after } => AppError::RateLimited {
            retry_after: *retry_after,
        },
        AppError::ServiceBusy { retry_after } => AppError::ServiceBusy {
            retry_after: *retry_after,
        },
        AppError::Refused { code, message } => AppError::Refused {
            code,
            message: message.clone(),
        },
        AppError::OutOfScope => AppError::OutOfScope,
        AppError::NotFound => AppError::NotFound,
        AppError::PayloadTooLarge => AppError::PayloadTooLarge,
        AppError::UnsupportedMediaType => AppError::UnsupportedMediaType,
        AppError::Unauthenticated => AppError::Unauthenticated,
        AppError::Forbidden => AppError::Forbidden,
        AppError::CsrfRejected => AppError::CsrfRejected,
        AppError::Timeout => AppError::Timeout,
        AppError::MethodNotAllowed => AppError::MethodNotAllowed,
        AppError::DocumentCorrupted => AppError::DocumentCorrupted,
        // Causes stay in the log, which already has them.
        AppError::Unavailable(_) => AppError::Unavailable(String::new()),
        AppError::Internal(_) => AppError::Internal(String::new()),
    }
}

fn from_status(status: StatusCode) -> AppError {
    match status {
        StatusCode::NOT_FOUND => AppError::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => AppError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::UnsupportedMediaType,
        StatusCode::UNAUTHORIZED => AppError::Unauthenticated,
        StatusCode::FORBIDDEN => AppError::Forbidden,
        StatusCode::TOO_MANY_REQUESTS => AppError::RateLimited {
            retry_after: Duration::from_secs(1),
        },
        StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => AppError::Timeout,
        StatusCode::SERVICE_UNAVAILABLE => AppError::Unavailable(String::new()),
        s if s.is_client_error() => AppError::invalid("bad_request", "the request is not valid"),
        _ => AppError::Internal(String::new()),
    }
}

/// Bodies smaller than this are sent as they are: gzip would save less than a packet.
const COMPRESS_MIN_BYTES: usize = 1024;

/// Types the server renders as text, worth compressing. Everything else — a citizen's document,
/// a package, an image, anything already compressed — is sent exactly as stored.
fn is_compressible_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "text/html"
            | "text/css"
            | "text/plain"
            | "text/javascript"
            | "application/javascript"
            | "application/json"
            | "application/problem+json"
            | "image/svg+xml"
    )
}

/// True when the client takes gzip (and prefers it to identity).
fn accepts_gzip(req: &ServiceRequest) -> bool {
    use actix_web::http::header::{AcceptEncoding, Encoding};
    req.get_header::<AcceptEncoding>()
        .and_then(|accept| accept.negotiate([Encoding::identity(), Encoding::gzip()].iter()))
        .is_some_and(|chosen| chosen == Encoding::gzip())
}

/// Gzips rendered text (HTML pages, JSON, CSS, SVG) for clients that accept it, in one piece
/// and with its `Content-Length`. Downloads and packages (they carry `Content-Disposition`),
/// binary or already-compressed types, partial content, streamed and tiny bodies are never
/// touched: their bytes and `Content-Length` reach the client as the handler made them.
pub async fn compress(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let gzip = accepts_gzip(&req);
    let response = next.call(req).await?.map_into_boxed_body();
    let headers = response.headers();
    let status = response.status();
    let eligible = !matches!(
        status,
        StatusCode::NO_CONTENT | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
    ) && !status.is_informational()
        && !headers.contains_key(header::CONTENT_ENCODING)
        && !headers.contains_key(header::CONTENT_DISPOSITION)
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_compressible_type);
    if !eligible {
        return Ok(response);
    }
    Ok(response.map_body(|head, body| {
        // Caches must keep the two encodings apart.
        head.headers
            .append(header::VARY, HeaderValue::from_static("accept-encoding"));
        if !gzip {
            return body;
        }
        let bytes = match body.try_into_bytes() {
            Ok(bytes) if bytes.len() >= COMPRESS_MIN_BYTES => bytes,
            Ok(bytes) => return BoxBody::new(bytes),
            Err(body) => return body,
        };
        match gzip_bytes(&bytes) {
            Ok(compressed) => {
                head.headers
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                // The compressed bytes are another representation: a strong validator weakens.
                if let Some(weak) = head
                    .headers
                    .get(header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .filter(|tag| tag.starts_with('"'))
                    .and_then(|tag| HeaderValue::from_str(&format!("W/{tag}")).ok())
                {
                    head.headers.insert(header::ETAG, weak);
                }
                BoxBody::new(compressed)
            }
            Err(error) => {
                tracing::warn!(%error, "could not compress a response; sending it as is");
                BoxBody::new(bytes)
            }
        }
    }))
}

fn gzip_bytes(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::default(),
    );
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// The Content-Security-Policy: no inline script or style, nothing from elsewhere, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Hardening headers on every response (a handler may set its own `Cache-Control`).
pub fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((
            "permissions-policy",
            "camera=(self), microphone=(), geolocation=()",
        ))
        .add(("cross-origin-opener-policy", "same-origin"))
        .add(("cross-origin-resource-policy", "same-origin"))
        .add((header::CACHE_CONTROL, "no-store"));
    if https {
        headers.add((
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ))
    } else {
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_paths_are_recognised() {
        assert!(is_machine_path("/api/v1/documents"));
        assert!(is_machine_path("/readyz"));
        assert!(is_machine_path("/.well-known/congdanso/trust-list.json"));
        assert!(!is_machine_path("/"));
        assert!(!is_machine_path("/apiary"));
        assert!(!is_machine_path("/documents"));
    }
}
