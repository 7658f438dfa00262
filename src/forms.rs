//! What a page needs to show a form again after a refusal: each field's message (linked to the
//! field with `aria-describedby`, summarised at the top) and the values typed so far (never
//! passwords or codes).

use std::collections::HashMap;

use crate::error::{AppError, FieldError};
use crate::i18n::Lang;

/// The body of a form whose only field is the CSRF token (buttons like "log out").
#[derive(Debug, serde::Deserialize)]
pub struct Empty {}

/// One problem to show next to a field.
#[derive(Debug, Clone)]
pub struct FieldMessage {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct FormState {
    errors: Vec<FieldMessage>,
    values: HashMap<String, String>,
    /// A problem with the form as a whole (wrong password, too many attempts).
    pub banner: Option<String>,
}

/// The translation key of a field problem code.
pub fn problem_key(code: &str) -> String {
    format!("field_error.{code}")
}

impl FormState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps a typed value to show again.
    pub fn with_value(mut self, field: &str, value: &str) -> Self {
        self.values.insert(field.to_owned(), value.to_owned());
        self
    }

    /// Turns a refusal into messages: field problems next to their fields, anything else as a
    /// banner. Errors that are not the person's doing are passed back up.
    pub fn from_error(mut self, lang: Lang, error: AppError) -> Result<Self, AppError> {
        match &error {
            AppError::InvalidInput { fields, .. } if !fields.is_empty() => {
                for FieldError { field, code } in fields {
                    self.errors.push(FieldMessage {
                        field: (*field).to_owned(),
                        message: lang.t(&problem_key(code)).into_owned(),
                    });
                }
                Ok(self)
            }
            AppError::InvalidInput { code, .. } => {
                self.banner = Some(lang.t(&problem_key(code)).into_owned());
                Ok(self)
            }
            AppError::RateLimited { retry_after } => {
                let minutes = retry_after.as_secs().div_ceil(60).max(1);
                self.banner = Some(
                    lang.t("field_error.rate_limited")
                        .replace("%{minutes}", &minutes.to_string()),
                );
                Ok(self)
            }
            _ => Err(error),
        }
    }

    /// 200 for a fresh form, 422 for one shown again with problems.
    pub fn status(&self) -> actix_web::http::StatusCode {
        if self.has_errors() {
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
        } else {
            actix_web::http::StatusCode::OK
        }
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.banner.is_some()
    }

    pub fn errors(&self) -> &[FieldMessage] {
        &self.errors
    }

    pub fn has(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }

    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    pub fn value(&self, field: &str) -> &str {
        self.values.get(field).map_or("", String::as_str)
    }

    /// The ids a field's `aria-describedby` should name.
    pub fn described_by(&self, field: &str, has_hint: bool) -> String {
        let mut ids = Vec::new();
        if has_hint {
            ids.push(format!("f-{field}-hint"));
        }
        if self.has(field) {
            ids.push(format!("f-{field}-error"));
        }
        ids.join(" ")
    }
}
