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
    /// When the form was refused for too many attempts: how long until the next may be tried
    /// (sent as `Retry-After` by [`crate::site::with_retry_after`]).
    retry_after: Option<std::time::Duration>,
}

/// The translation key of a field problem code.
pub fn problem_key(code: &str) -> String {
    format!("field_error.{code}")
}

/// "Try again in …": seconds under two minutes (a 30 s lock is not "1 minute"), else minutes.
pub fn rate_limited_message(lang: Lang, retry_after: std::time::Duration) -> String {
    let seconds = retry_after.as_secs().max(1);
    if seconds < 120 {
        lang.t("field_error.rate_limited_seconds")
            .replace("%{seconds}", &seconds.to_string())
    } else {
        lang.t("field_error.rate_limited")
            .replace("%{minutes}", &seconds.div_ceil(60).to_string())
    }
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
                self.banner = Some(rate_limited_message(lang, *retry_after));
                self.retry_after = Some(*retry_after);
                Ok(self)
            }
            _ => Err(error),
        }
    }

    /// How long until another attempt may be made, when the form was refused for too many.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn waits_are_told_in_seconds_under_two_minutes() {
        for (secs, vi, en) in [
            (30, "30 giây", "30 seconds"),
            (90, "90 giây", "90 seconds"),
            (120, "2 phút", "2 minutes"),
            (900, "15 phút", "15 minutes"),
        ] {
            let d = Duration::from_secs(secs);
            assert!(rate_limited_message(Lang::Vi, d).contains(vi), "{secs}");
            assert!(rate_limited_message(Lang::En, d).contains(en), "{secs}");
        }
    }

    #[test]
    fn a_rate_limited_form_remembers_the_wait() {
        let form = FormState::new()
            .from_error(
                Lang::En,
                AppError::RateLimited {
                    retry_after: Duration::from_secs(30),
                },
            )
            .unwrap();
        assert_eq!(form.retry_after(), Some(Duration::from_secs(30)));
        assert!(form.banner.unwrap().contains("30 seconds"));
    }
}
