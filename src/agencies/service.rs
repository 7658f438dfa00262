//! Agency rules.

use entity::agency;
use uuid::Uuid;

use crate::accounts::model::{AgencyCode, FieldProblem};
use crate::error::{AppError, FieldError};
use crate::state::AppState;

use super::repo;

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
