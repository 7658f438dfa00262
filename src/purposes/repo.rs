//! Queries of purposes, procedures and over-asking records; each takes the caller's connection.

use chrono::{DateTime, Utc};
use entity::{agency_purpose, over_asking, procedure};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{OverAsking, Procedure, Purpose};

fn purpose_of(row: agency_purpose::Model) -> Result<Purpose, DbErr> {
    Ok(Purpose {
        id: row.id,
        agency: row.agency_id,
        code: row.code,
        description_vi: row.description_vi,
        description_en: row.description_en,
        legal_basis: row.legal_basis,
        retention_days: u32::try_from(row.retention_days).unwrap_or(0),
        scope: serde_json::from_str(&row.scope).map_err(|e| DbErr::Custom(e.to_string()))?,
        retired: row.retired_at.is_some(),
    })
}

pub async fn find_purpose(
    conn: &impl ConnectionTrait,
    agency: Uuid,
    code: &str,
) -> Result<Option<Purpose>, DbErr> {
    agency_purpose::Entity::find()
        .filter(agency_purpose::Column::AgencyId.eq(agency))
        .filter(agency_purpose::Column::Code.eq(code))
        .one(conn)
        .await?
        .map(purpose_of)
        .transpose()
}

pub async fn purposes_of(conn: &impl ConnectionTrait, agency: Uuid) -> Result<Vec<Purpose>, DbErr> {
    agency_purpose::Entity::find()
        .filter(agency_purpose::Column::AgencyId.eq(agency))
        .order_by_asc(agency_purpose::Column::Code)
        .all(conn)
        .await?
        .into_iter()
        .map(purpose_of)
        .collect()
}

pub async fn find_purpose_by_id(
    conn: &impl ConnectionTrait,
    agency: Uuid,
    id: Uuid,
) -> Result<Option<Purpose>, DbErr> {
    agency_purpose::Entity::find_by_id(id)
        .filter(agency_purpose::Column::AgencyId.eq(agency))
        .one(conn)
        .await?
        .map(purpose_of)
        .transpose()
}

/// Marks a purpose of `agency` retired at `at` unless it already is (compare-and-set).
pub async fn retire_purpose(
    conn: &impl ConnectionTrait,
    agency: Uuid,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = agency_purpose::Entity::update_many()
        .col_expr(agency_purpose::Column::RetiredAt, Expr::value(at))
        .filter(agency_purpose::Column::Id.eq(id))
        .filter(agency_purpose::Column::AgencyId.eq(agency))
        .filter(agency_purpose::Column::RetiredAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Inserts or replaces (by agency and code) a purpose.
pub async fn upsert_purpose(
    conn: &impl ConnectionTrait,
    row: agency_purpose::Model,
) -> Result<(), DbErr> {
    let active: agency_purpose::ActiveModel = row.into();
    agency_purpose::Entity::insert(active)
        .on_conflict(
            OnConflict::columns([
                agency_purpose::Column::AgencyId,
                agency_purpose::Column::Code,
            ])
            .update_columns([
                agency_purpose::Column::DescriptionVi,
                agency_purpose::Column::DescriptionEn,
                agency_purpose::Column::LegalBasis,
                agency_purpose::Column::RetentionDays,
                agency_purpose::Column::Scope,
                agency_purpose::Column::RetiredAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

fn procedure_of(row: procedure::Model) -> Result<Procedure, DbErr> {
    let list = |raw: &str| -> Result<Vec<String>, DbErr> {
        serde_json::from_str(raw).map_err(|e| DbErr::Custom(e.to_string()))
    };
    Ok(Procedure {
        required_types: list(&row.required_types)?,
        optional_types: list(&row.optional_types)?,
        code: row.code,
        national_code: row.national_code,
        name_vi: row.name_vi,
        name_en: row.name_en,
        source: row.source,
    })
}

pub async fn find_procedure(
    conn: &impl ConnectionTrait,
    code: &str,
) -> Result<Option<Procedure>, DbErr> {
    procedure::Entity::find_by_id(code)
        .one(conn)
        .await?
        .map(procedure_of)
        .transpose()
}

pub async fn all_procedures(conn: &impl ConnectionTrait) -> Result<Vec<Procedure>, DbErr> {
    procedure::Entity::find()
        .order_by_asc(procedure::Column::Code)
        .all(conn)
        .await?
        .into_iter()
        .map(procedure_of)
        .collect()
}

/// Inserts or replaces (by code) a procedure.
pub async fn upsert_procedure(conn: &impl ConnectionTrait, p: &Procedure) -> Result<(), DbErr> {
    let json = |v: &Vec<String>| serde_json::to_string(v).map_err(|e| DbErr::Custom(e.to_string()));
    let row = procedure::ActiveModel {
        code: sea_orm::ActiveValue::Set(p.code.clone()),
        national_code: sea_orm::ActiveValue::Set(p.national_code.clone()),
        name_vi: sea_orm::ActiveValue::Set(p.name_vi.clone()),
        name_en: sea_orm::ActiveValue::Set(p.name_en.clone()),
        required_types: sea_orm::ActiveValue::Set(json(&p.required_types)?),
        optional_types: sea_orm::ActiveValue::Set(json(&p.optional_types)?),
        source: sea_orm::ActiveValue::Set(p.source.clone()),
    };
    procedure::Entity::insert(row)
        .on_conflict(
            OnConflict::column(procedure::Column::Code)
                .update_columns([
                    procedure::Column::NationalCode,
                    procedure::Column::NameVi,
                    procedure::Column::NameEn,
                    procedure::Column::RequiredTypes,
                    procedure::Column::OptionalTypes,
                    procedure::Column::Source,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn record_over_asking(
    conn: &impl ConnectionTrait,
    at: DateTime<Utc>,
    row: &OverAsking,
) -> Result<(), DbErr> {
    let active = over_asking::ActiveModel {
        id: sea_orm::ActiveValue::Set(Uuid::now_v7()),
        agency_id: sea_orm::ActiveValue::Set(row.agency),
        credential_id: sea_orm::ActiveValue::Set(row.credential),
        purpose_code: sea_orm::ActiveValue::Set(row.purpose_code.clone()),
        asked: sea_orm::ActiveValue::Set(row.asked.to_string()),
        reason: sea_orm::ActiveValue::Set(row.reason.clone()),
        citizen_named: sea_orm::ActiveValue::Set(row.citizen_named),
        created_at: sea_orm::ActiveValue::Set(at),
    };
    over_asking::Entity::insert(active)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The newest over-asking records (the operators' oversight view).
pub async fn recent_over_asking(
    conn: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<over_asking::Model>, DbErr> {
    over_asking::Entity::find()
        .order_by_desc(over_asking::Column::CreatedAt)
        .limit(limit)
        .all(conn)
        .await
}
