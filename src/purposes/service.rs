//! Registering purposes and importing the procedure catalogue, each checked against the
//! document catalogue first.

use std::collections::BTreeMap;

use sea_orm::TransactionTrait;
use uuid::Uuid;

use super::{DocScope, Procedure, repo};
use crate::error::{AppError, FieldError};
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

/// What is wrong with a purpose: each problem tied to the form field it belongs to (a
/// document type's own box group is named by the type), with a sentence for the CLI.
#[derive(Default)]
struct Problems {
    fields: Vec<FieldError>,
    sentences: Vec<String>,
}

impl Problems {
    fn add(&mut self, field: &'static str, code: &'static str, sentence: impl Into<String>) {
        self.fields.push(FieldError { field, code });
        self.sentences.push(sentence.into());
    }

    fn into_result(self) -> Result<(), AppError> {
        match self.fields.first() {
            None => Ok(()),
            Some(first) => Err(AppError::InvalidInput {
                code: first.code,
                message: self.sentences.join("; "),
                fields: self.fields,
            }),
        }
    }
}

fn check_scope(scope: &BTreeMap<String, DocScope>, problems: &mut Problems) {
    if scope.is_empty() {
        problems.add(
            "scope",
            "empty_scope",
            "a purpose covers at least one document type",
        );
    }
    for (doc_type, covered) in scope {
        let Some(kind) = DocumentType::parse(doc_type) else {
            problems.add(
                "scope",
                "unknown_type",
                format!("unknown document type `{doc_type}`"),
            );
            continue;
        };
        let known = catalogue::fields_for(kind);
        if let Some(name) = covered
            .fields
            .iter()
            .find(|f| !known.iter().any(|k| k.name == f.as_str()))
        {
            problems.add(
                kind.as_str(),
                "unknown_field",
                format!("`{doc_type}` has no field `{name}`"),
            );
        } else if !covered.file && covered.fields.is_empty() {
            problems.add(
                kind.as_str(),
                "empty_scope",
                format!("`{doc_type}`: cover the file or some fields"),
            );
        }
    }
}

/// Longest description or legal basis, in characters.
const MAX_TEXT_CHARS: usize = 1000;
/// Longest retention after use, in days (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3650;

/// Registers (or replaces, by code) a purpose of `agency`. Replacing one that was retired puts
/// it back in use. Every problem is reported at once, each with its field.
pub async fn register(state: &AppState, agency: Uuid, input: &NewPurpose) -> Result<(), AppError> {
    let mut problems = Problems::default();
    let code = input.code.trim();
    if !valid_code(code) {
        problems.add(
            "code",
            "invalid_purpose_code",
            "a purpose code is 2 to 40 of a-z, 0-9, - and _",
        );
    }
    for (text, name) in [
        (&input.description_vi, "description_vi"),
        (&input.description_en, "description_en"),
        (&input.legal_basis, "legal_basis"),
    ] {
        let text = text.trim();
        if text.is_empty()
            || text.chars().count() > MAX_TEXT_CHARS
            || text.chars().any(char::is_control)
        {
            problems.add(
                name,
                "purpose_text",
                format!("{name} must be plain text of 1 to {MAX_TEXT_CHARS} characters"),
            );
        }
    }
    if input.retention_days > MAX_RETENTION_DAYS {
        problems.add(
            "retention_days",
            "purpose_retention",
            format!("retention_days at most {MAX_RETENTION_DAYS}"),
        );
    }
    check_scope(&input.scope, &mut problems);
    problems.into_result()?;
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

/// The agency's purposes, retired ones included (the operator's list).
pub async fn list(state: &AppState, agency: Uuid) -> Result<Vec<super::Purpose>, AppError> {
    Ok(repo::purposes_of(&state.db, agency).await?)
}

/// Retires purpose `id` of `agency`: no new request may name it and no pending request under it
/// can be approved; grants already given under it run until they end. Retiring twice is a
/// no-op; another agency's purpose is missing.
pub async fn retire(state: &AppState, agency: Uuid, id: Uuid) -> Result<(), AppError> {
    if repo::retire_purpose(&state.db, agency, id, state.clock.now()).await? {
        return Ok(());
    }
    match repo::find_purpose_by_id(&state.db, agency, id).await? {
        Some(_) => Ok(()),
        None => Err(AppError::NotFound),
    }
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
