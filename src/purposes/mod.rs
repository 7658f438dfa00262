//! What an agency may ask citizens for: its purposes (registered by operators: description,
//! legal basis, retention after use, and per document type the fields and whether the file
//! may be asked for), the procedure catalogue, and the record of refused over-asking.

pub mod pages;
pub mod repo;
pub mod service;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a purpose covers of one document type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocScope {
    #[serde(default)]
    pub file: bool,
    #[serde(default)]
    pub fields: BTreeSet<String>,
}

/// A registered purpose.
#[derive(Debug, Clone)]
pub struct Purpose {
    pub id: Uuid,
    pub agency: Uuid,
    pub code: String,
    pub description_vi: String,
    pub description_en: String,
    pub legal_basis: String,
    pub retention_days: u32,
    pub scope: BTreeMap<String, DocScope>,
    pub retired: bool,
}

/// A procedure of the catalogue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Procedure {
    pub code: String,
    #[serde(default)]
    pub national_code: Option<String>,
    pub name_vi: String,
    pub name_en: String,
    pub required_types: Vec<String>,
    #[serde(default)]
    pub optional_types: Vec<String>,
    pub source: String,
}

/// A refused over-asking request, as recorded.
#[derive(Debug, Clone)]
pub struct OverAsking {
    pub agency: Uuid,
    pub credential: Uuid,
    pub purpose_code: String,
    pub asked: serde_json::Value,
    pub reason: String,
    pub citizen_named: bool,
}
