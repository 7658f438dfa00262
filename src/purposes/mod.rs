//! PLACEHOLDER until wave/purposes merges (replaced wholesale by that branch).
pub mod repo {
    use chrono::{DateTime, Utc};
    use sea_orm::{ConnectionTrait, DbErr};
    use uuid::Uuid;

    pub use super::{OverAsking, Procedure, Purpose};

    pub async fn find_purpose(
        _conn: &impl ConnectionTrait,
        _agency: Uuid,
        _code: &str,
    ) -> Result<Option<Purpose>, DbErr> {
        Ok(None)
    }

    pub async fn find_procedure(
        _conn: &impl ConnectionTrait,
        _code: &str,
    ) -> Result<Option<Procedure>, DbErr> {
        Ok(None)
    }

    pub async fn record_over_asking(
        _conn: &impl ConnectionTrait,
        _at: DateTime<Utc>,
        _row: &OverAsking,
    ) -> Result<(), DbErr> {
        Ok(())
    }
}

use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct DocScope {
    pub file: bool,
    pub fields: BTreeSet<String>,
}

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

#[derive(Debug, Clone)]
pub struct Procedure {
    pub code: String,
    pub national_code: Option<String>,
    pub name_vi: String,
    pub name_en: String,
    pub required_types: Vec<String>,
    pub optional_types: Vec<String>,
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct OverAsking {
    pub agency: Uuid,
    pub credential: Uuid,
    pub purpose_code: String,
    pub asked: serde_json::Value,
    pub reason: String,
    pub citizen_named: bool,
}
