//! Registering purposes and importing the procedure catalogue, each checked against the
//! document catalogue first.

use std::collections::BTreeMap;

use sea_orm::TransactionTrait;
use uuid::Uuid;

use super::{DocScope, Procedure, repo};
use crate::error::AppError;
use crate::issuers::catalogue;
use crate::state::AppState;
use crate::vault::model::DocumentType;

/// What an operator registers.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewPurpose {
    pub code: String,
    pub description_vi: String,
    pub description_en: String,
    pub legal_basis: String,
    pub retention_days: u32,
    pub scope: BTreeMap<String, DocScope>,
}

fn valid_code(code: &str) -> bool {
    (2..=40).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn check_scope(scope: &BTreeMap<String, DocScope>) -> Result<(), AppError> {
    if scope.is_empty() {
        return Err(AppError::invalid(
            "empty_scope",
            "a purpose covers at least one document type",
        ));
    }
    for (doc_type, covered) in scope {
        let kind = DocumentType::parse(doc_type).ok_or_else(|| {
            AppError::invalid(
                "unknown_type",
                format!("unknown document type `{doc_type}`"),
            )
        })?;
        let known = catalogue::fields_for(kind);
        if let Some(name) = covered
            .fields
            .iter()
            .find(|f| !known.iter().any(|k| k.name == f.as_str()))
        {
            return Err(AppError::invalid(
                "unknown_field",
                format!("`{doc_type}` has no field `{name}`"),
            ));
        }
        if !covered.file && covered.fields.is_empty() {
            return Err(AppError::invalid(
                "empty_scope",
                format!("`{doc_type}`: cover the file or some fields"),
            ));
        }
    }
    Ok(())
}

/// Registers (or replaces) a purpose of `agency`.
pub async fn register(state: &AppState, agency: Uuid, input: &NewPurpose) -> Result<(), AppError> {
    let code = input.code.trim();
    if !valid_code(code) {
        return Err(AppError::invalid(
            "invalid_purpose_code",
            "a purpose code is 2 to 40 of a-z, 0-9, - and _",
        ));
    }
    for (text, name) in [
        (&input.description_vi, "description_vi"),
        (&input.description_en, "description_en"),
        (&input.legal_basis, "legal_basis"),
    ] {
        if text.trim().is_empty() || text.chars().any(char::is_control) {
            return Err(AppError::invalid(
                "invalid_purpose",
                format!("{name} must be plain text"),
            ));
        }
    }
    if input.retention_days > 3650 {
        return Err(AppError::invalid(
            "invalid_purpose",
            "retention_days at most 3650",
        ));
    }
    check_scope(&input.scope)?;
    let row = entity::agency_purpose::Model {
        id: Uuid::now_v7(),
        agency_id: agency,
        code: code.to_owned(),
        description_vi: input.description_vi.trim().to_owned(),
        description_en: input.description_en.trim().to_owned(),
        legal_basis: input.legal_basis.trim().to_owned(),
        retention_days: i32::try_from(input.retention_days).map_err(AppError::internal)?,
        scope: serde_json::to_string(&input.scope).map_err(AppError::internal)?,
        created_at: state.clock.now(),
        retired_at: None,
    };
    repo::upsert_purpose(&state.db, row).await?;
    Ok(())
}

/// Imports procedures (JSON array), all or nothing: every row is checked first, then all are
/// upserted by code in one transaction. Returns how many.
pub async fn import_procedures(state: &AppState, json: &[u8]) -> Result<usize, AppError> {
    let rows: Vec<Procedure> = serde_json::from_slice(json)
        .map_err(|e| AppError::invalid("invalid_catalogue", format!("catalogue file: {e}")))?;
    for (i, p) in rows.iter().enumerate() {
        let row = i + 1;
        if !valid_code(&p.code) || p.name_vi.trim().is_empty() || p.name_en.trim().is_empty() {
            return Err(AppError::invalid(
                "invalid_catalogue",
                format!(
                    "row {row} ({}): code must be a-z0-9-_ and both names given",
                    p.code
                ),
            ));
        }
        if p.source.trim().is_empty() {
            return Err(AppError::invalid(
                "invalid_catalogue",
                format!("row {row} ({}): cite a source", p.code),
            ));
        }
        if let Some(t) = p
            .required_types
            .iter()
            .chain(&p.optional_types)
            .find(|t| DocumentType::parse(t).is_none())
        {
            return Err(AppError::invalid(
                "invalid_catalogue",
                format!("row {row} ({}): unknown document type `{t}`", p.code),
            ));
        }
    }
    let txn = state.db.begin().await?;
    for p in &rows {
        repo::upsert_procedure(&txn, p).await?;
    }
    txn.commit().await?;
    Ok(rows.len())
}
