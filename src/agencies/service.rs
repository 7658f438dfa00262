//! Agency rules.

use entity::agency;
use uuid::Uuid;

use crate::accounts::model::{AgencyCode, FieldProblem};
use crate::error::{AppError, FieldError};
use crate::state::AppState;

use super::{Contact, repo};

/// Kinds of agency, stored in `agency.kind`.
pub const AGENCY_KINDS: [&str; 5] = [
    "department",
    "district",
    "commune",
    "public_service",
    "other",
];

fn field(problem: FieldProblem) -> FieldError {
    FieldError {
        field: problem.field,
        code: problem.code,
    }
}

/// Registers an agency. Codes are unique; names are 2..=200 characters.
pub async fn create_agency(
    state: &AppState,
    code: &str,
    name: &str,
    kind: &str,
) -> Result<agency::Model, AppError> {
    let mut problems = Vec::new();
    let code = AgencyCode::parse(code)
        .map_err(|p| problems.push(field(p)))
        .ok();
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if !(2..=200).contains(&name.chars().count()) {
        problems.push(FieldError {
            field: "name",
            code: "agency_name_length",
        });
    }
    if !AGENCY_KINDS.contains(&kind) {
        problems.push(FieldError {
            field: "kind",
            code: "agency_kind",
        });
    }
    if let Some(code) = &code
        && repo::find_by_code(&state.db, code.as_str())
            .await?
            .is_some()
    {
        problems.push(FieldError {
            field: "code",
            code: "agency_code_taken",
        });
    }
    let (Some(code), true) = (code, problems.is_empty()) else {
        return Err(AppError::InvalidInput {
            code: problems.first().map_or("invalid_input", |p| p.code),
            message: "the agency is not valid".into(),
            fields: problems,
        });
    };
    let row = agency::Model {
        id: Uuid::now_v7(),
        code: code.as_str().to_owned(),
        name,
        kind: kind.to_owned(),
        created_at: state.clock.now(),
        contact_email: None,
        contact_phone: None,
        contact_address: None,
    };
    repo::insert(&state.db, row.clone()).await?;
    Ok(row)
}

/// The agency with this id, or `NotFound`.
pub async fn get(state: &AppState, id: Uuid) -> Result<agency::Model, AppError> {
    super::repo::find_by_id(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

fn tidy(raw: &str) -> Option<String> {
    let joined = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    (!joined.is_empty()).then_some(joined)
}

/// A plausible address: one `@`, something on each side, a dot in the domain, no spaces. The
/// platform never writes to it, so this only catches typing mistakes.
fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Digits with the usual separators (`+84 236 3822 123`, `(0236) 382-2123`), 6 to 15 digits.
fn plausible_phone(phone: &str) -> bool {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    phone.len() <= 32
        && (6..=15).contains(&digits)
        && phone
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '.' | '(' | ')'))
}

/// Checks and stores an agency's contact (operators only; the page asks for a step-up).
pub async fn update_contact(
    state: &AppState,
    id: Uuid,
    email: &str,
    phone: &str,
    address: &str,
) -> Result<Contact, AppError> {
    get(state, id).await?;
    let contact = Contact {
        email: tidy(email),
        phone: tidy(phone),
        address: tidy(address),
    };
    let mut problems = Vec::new();
    if contact
        .email
        .as_deref()
        .is_some_and(|e| !plausible_email(e))
    {
        problems.push(FieldError {
            field: "contact_email",
            code: "contact_email_format",
        });
    }
    if contact
        .phone
        .as_deref()
        .is_some_and(|p| !plausible_phone(p))
    {
        problems.push(FieldError {
            field: "contact_phone",
            code: "contact_phone_format",
        });
    }
    if contact
        .address
        .as_deref()
        .is_some_and(|a| a.chars().count() > 300 || a.chars().any(char::is_control))
    {
        problems.push(FieldError {
            field: "contact_address",
            code: "contact_address_length",
        });
    }
    if let Some(first) = problems.first() {
        return Err(AppError::InvalidInput {
            code: first.code,
            message: "the contact is not valid".into(),
            fields: problems,
        });
    }
    repo::update_contact(&state.db, id, &contact).await?;
    Ok(contact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_catch_typing_mistakes_only() {
        for ok in ["motcua@haichau.danang.gov.vn", "a@b.vn"] {
            assert!(plausible_email(ok), "{ok}");
        }
        for bad in [
            "motcua", "a@b", "a b@c.vn", "@c.vn", "a@.vn", "a@b.vn.", "a@b@c.vn",
        ] {
            assert!(!plausible_email(bad), "{bad}");
        }
        for ok in [
            "0236 3822 123",
            "+84 236 382-2123",
            "(0236) 382.2123",
            "1022",
        ] {
            assert_eq!(plausible_phone(ok), ok != "1022", "{ok}");
        }
        assert!(!plausible_phone("0236 CALL ME"));
        assert_eq!(tidy("  12  Lê   Lợi \n"), Some("12 Lê Lợi".to_owned()));
        assert_eq!(tidy("   "), None);
    }
}
