//! The one error type of the application.
//!
//! Policy: services and repositories return `AppError` (or a module error converted into it);
//! handlers just use `?`. Each variant has a stable snake_case `code` that clients may rely on,
//! an HTTP status, and a user-facing message looked up by language; the underlying cause of an
//! internal error is logged, never shown. Under `/api/` the response is JSON
//! `{"error":{"code","message"}}`; anywhere else the `error_pages` middleware turns it into a
//! readable page in the user's language.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::i18n::Lang;

/// An input problem tied to one form field or JSON property, so pages can show it next to the
/// field and APIs can name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    /// Stable code for the problem, e.g. `national_id_length`.
    pub code: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Missing record, or a record the caller may not see: both answer alike.
    #[error("not found")]
    NotFound,
    #[error("invalid input: {message}")]
    InvalidInput {
        code: &'static str,
        message: String,
        fields: Vec<FieldError>,
    },
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("authentication required")]
    Unauthenticated,
    #[error("forbidden")]
    Forbidden,
    /// A form arrived without the token proving it came from our own page.
    #[error("CSRF token missing or wrong")]
    CsrfRejected,
    #[error("conflict: {message}")]
    Conflict { code: &'static str, message: String },
    /// A grant that no longer allows the read (`grant_withdrawn`, `grant_expired`,
    /// `grant_exhausted`): the agency is told why, since the grant is its own.
    #[error("refused: {message}")]
    Refused { code: &'static str, message: String },
    /// A document outside a grant, answered exactly like a missing one.
    #[error("out of scope")]
    OutOfScope,
    #[error("too many attempts, retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    #[error("request timed out")]
    Timeout,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// At capacity (password hashing is bounded): retry after a short wait.
    #[error("service busy, retry after {retry_after:?}")]
    ServiceBusy { retry_after: Duration },
    /// A dependency (database, blob store) is down; retrying later may work.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A stored document failed authentication (tampered or damaged); nothing of it is served.
    #[error("document corrupted")]
    DocumentCorrupted,
    /// A bug or an unexpected failure; the cause goes to the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// A plain validation error without field detail.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// A validation error tied to one field (message `"{field}: {code}"`), so a page shows it
    /// next to that field and an API names it.
    pub fn field(field: &'static str, code: &'static str) -> Self {
        Self::InvalidInput {
            code,
            message: format!("{field}: {code}"),
            fields: vec![FieldError { field, code }],
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::InvalidInput { code, .. }
            | Self::Conflict { code, .. }
            | Self::Refused { code, .. } => code,
            Self::OutOfScope => "out_of_scope",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::CsrfRejected => "csrf_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Timeout => "request_timeout",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::ServiceBusy { .. } => "service_busy",
            Self::Unavailable(_) => "service_unavailable",
            Self::DocumentCorrupted => "document_corrupted",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The translation key of the message people see.
    fn message_key(&self) -> &'static str {
        match self {
            Self::NotFound => "error.not_found",
            Self::InvalidInput { .. } => "error.invalid_input",
            Self::PayloadTooLarge => "error.payload_too_large",
            Self::UnsupportedMediaType => "error.unsupported_media_type",
            Self::Unauthenticated => "error.unauthenticated",
            Self::Forbidden => "error.forbidden",
            Self::CsrfRejected => "error.csrf_failed",
            Self::Conflict { .. } => "error.conflict",
            Self::Refused { .. } => "error.forbidden",
            Self::OutOfScope => "error.not_found",
            Self::RateLimited { .. } => "error.rate_limited",
            Self::Timeout => "error.request_timeout",
            Self::MethodNotAllowed => "error.method_not_allowed",
            Self::ServiceBusy { .. } => "error.service_busy",
            Self::Unavailable(_) => "error.service_unavailable",
            Self::DocumentCorrupted => "error.document_corrupted",
            Self::Internal(_) => "error.internal_error",
        }
    }

    /// What a person is told, in their language. Validation and conflict messages are written
    /// for people already; everything else uses a generic text that leaks nothing.
    pub fn user_message(&self, lang: Lang) -> String {
        lang.t(self.message_key()).into_owned()
    }

    /// What an API client is told (English, stable enough for logs and support tickets).
    pub fn api_message(&self) -> String {
        match self {
            Self::InvalidInput { message, .. }
            | Self::Conflict { message, .. }
            | Self::Refused { message, .. } => message.clone(),
            Self::OutOfScope => "no such document under this grant".to_owned(),
            Self::RateLimited { retry_after } => {
                format!(
                    "too many attempts; retry after {} s",
                    retry_after.as_secs().max(1)
                )
            }
            Self::Unavailable(_) => "a dependency is unavailable; retry later".to_owned(),
            // API clients authenticate with a token, not by logging in on a page.
            Self::Unauthenticated => {
                "a valid bearer token is required: send `Authorization: Bearer <token>`".to_owned()
            }
            Self::Internal(_) => "internal error".to_owned(),
            other => Lang::En.t(other.message_key()).into_owned(),
        }
    }

    pub fn fields(&self) -> &[FieldError] {
        match self {
            Self::InvalidInput { fields, .. } => fields,
            _ => &[],
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::ServiceBusy { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    fields: &'a [FieldError],
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::InvalidInput { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::CsrfRejected | Self::Refused { .. } => StatusCode::FORBIDDEN,
            Self::OutOfScope => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) | Self::ServiceBusy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) | Self::DocumentCorrupted => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON form. Page routes get it re-rendered as HTML by the `error_pages` middleware.
    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => tracing::error!(code = self.code(), %cause, "internal error"),
            Self::Unavailable(cause) => {
                tracing::warn!(code = self.code(), %cause, "dependency unavailable")
            }
            _ => tracing::debug!(code = self.code(), "request refused"),
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, Self::Unauthenticated) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"congdanso\""));
        }
        if let Some(retry) = self.retry_after() {
            response.insert_header((
                header::RETRY_AFTER,
                HeaderValue::from(retry.as_secs().max(1)),
            ));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.api_message(),
                fields: self.fields(),
            },
        })
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(error: sea_orm::DbErr) -> Self {
        use sea_orm::DbErr;
        match error {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::Unavailable(error.to_string()),
            DbErr::RecordNotFound(_) => Self::NotFound,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<crate::storage::StorageError> for AppError {
    fn from(error: crate::storage::StorageError) -> Self {
        use crate::storage::StorageError;
        match error {
            StorageError::NotFound => Self::NotFound,
            StorageError::Backend(cause) => Self::Unavailable(cause),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// Maps actix's own extractor errors (bad JSON, oversized body, bad path) onto `AppError`, so
/// every refusal has the same shape and a stable code.
pub fn json_config(limit: usize) -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| {
            use actix_web::error::JsonPayloadError;
            let app = match &err {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => AppError::PayloadTooLarge,
                JsonPayloadError::ContentType => AppError::UnsupportedMediaType,
                other => AppError::invalid("malformed_json", other.to_string()),
            };
            app.into()
        })
}

/// Form bodies: size limit and clear errors.
pub fn form_config(limit: usize) -> actix_web::web::FormConfig {
    actix_web::web::FormConfig::default()
        .limit(limit)
        .error_handler(|err, _req| {
            use actix_web::error::UrlencodedError;
            let app = match &err {
                UrlencodedError::Overflow { .. } => AppError::PayloadTooLarge,
                UrlencodedError::ContentType => AppError::UnsupportedMediaType,
                other => AppError::invalid("malformed_form", other.to_string()),
            };
            app.into()
        })
}

/// Raw bodies (`Bytes`, `String`): size limit.
pub fn payload_config(limit: usize) -> actix_web::web::PayloadConfig {
    actix_web::web::PayloadConfig::new(limit)
}

/// Path and query parameters that do not parse answer 404 / 422 instead of actix's plain text.
pub fn path_config() -> actix_web::web::PathConfig {
    actix_web::web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into())
}

pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default()
        .error_handler(|err, _| AppError::invalid("malformed_query", err.to_string()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<AppError> {
        vec![
            AppError::NotFound,
            AppError::invalid("national_id_length", "x"),
            AppError::PayloadTooLarge,
            AppError::UnsupportedMediaType,
            AppError::Unauthenticated,
            AppError::Forbidden,
            AppError::CsrfRejected,
            AppError::Conflict {
                code: "duplicate",
                message: "x".into(),
            },
            AppError::RateLimited {
                retry_after: Duration::from_secs(3),
            },
            AppError::Timeout,
            AppError::MethodNotAllowed,
            AppError::Unavailable("db".into()),
            AppError::ServiceBusy {
                retry_after: Duration::from_secs(1),
            },
            AppError::DocumentCorrupted,
            AppError::Internal("secret cause".into()),
        ]
    }

    #[test]
    fn every_error_has_a_message_in_both_languages() {
        for error in samples() {
            for lang in Lang::ALL {
                let message = error.user_message(lang);
                assert!(!message.starts_with("error."), "{message}");
            }
        }
    }

    #[test]
    fn internal_causes_never_reach_the_client() {
        let error = AppError::Internal("secret cause".into());
        assert!(!error.api_message().contains("secret"));
        assert!(!error.user_message(Lang::En).contains("secret"));
        assert_eq!(error.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn rate_limited_sets_retry_after() {
        let response = AppError::RateLimited {
            retry_after: Duration::from_secs(42),
        }
        .error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "42");
    }

    #[test]
    fn service_busy_is_503_with_retry_after() {
        let error = AppError::ServiceBusy {
            retry_after: Duration::from_secs(2),
        };
        assert_eq!(error.code(), "service_busy");
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "2");
    }
}
