//! Issuing authority: which agency may issue which catalogue document type, from when until
//! when (published in the signed trust list, so offline verifiers enforce it too), and which
//! agency an operator registered as another's successor (the only other agency whose documents
//! it may supersede).
//!
//! Upgrading an existing deployment: for every agency and type it has already issued, one
//! authority is recorded spanning exactly the issue and acceptance times of those documents,
//! so what is in vaults keeps verifying while nothing new is accepted until an operator
//! registers the authority (docs/SECURITY.md asks operators to review these rows).

use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Agency {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum IssuingAuthority {
    Table,
    Id,
    AgencyId,
    DocType,
    ValidFrom,
    ValidUntil,
    CreatedAt,
    RegisteredBy,
}

#[derive(DeriveIden)]
enum AgencySuccession {
    Table,
    Id,
    PredecessorId,
    SuccessorId,
    CreatedAt,
    RegisteredBy,
}

type Span = (
    uuid::Uuid,
    String,
    chrono::DateTime<chrono::Utc>,
    chrono::DateTime<chrono::Utc>,
);

/// What existing issued documents need covered: per agency and type, the earliest and latest
/// of their issue and acceptance times.
async fn existing_spans(manager: &SchemaManager<'_>) -> Result<Vec<Span>, DbErr> {
    let db = manager.get_connection();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT agency_id, doc_type, issued_at, accepted_at FROM document_signature \
             WHERE kind = 'issued'",
        ))
        .await?;
    let mut spans: Vec<Span> = Vec::new();
    for row in rows {
        let agency: uuid::Uuid = row.try_get("", "agency_id")?;
        let doc_type: String = row.try_get("", "doc_type")?;
        let issued: chrono::DateTime<chrono::Utc> = row.try_get("", "issued_at")?;
        let accepted: chrono::DateTime<chrono::Utc> = row.try_get("", "accepted_at")?;
        let (from, until) = (Ord::min(issued, accepted), Ord::max(issued, accepted));
        match spans
            .iter_mut()
            .find(|(a, t, _, _)| *a == agency && *t == doc_type)
        {
            Some(span) => {
                span.2 = Ord::min(span.2, from);
                span.3 = Ord::max(span.3, until);
            }
            None => spans.push((agency, doc_type, from, until)),
        }
    }
    Ok(spans)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IssuingAuthority::Table)
                    .if_not_exists()
                    .col(uuid(IssuingAuthority::Id).primary_key())
                    .col(uuid(IssuingAuthority::AgencyId))
                    .col(string_len(IssuingAuthority::DocType, 32))
                    .col(timestamp_with_time_zone(IssuingAuthority::ValidFrom))
                    .col(timestamp_with_time_zone_null(IssuingAuthority::ValidUntil))
                    .col(timestamp_with_time_zone(IssuingAuthority::CreatedAt))
                    .col(uuid_null(IssuingAuthority::RegisteredBy))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_issuing_authority_agency")
                            .from(IssuingAuthority::Table, IssuingAuthority::AgencyId)
                            .to(Agency::Table, Agency::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_issuing_authority_agency_type")
                    .table(IssuingAuthority::Table)
                    .col(IssuingAuthority::AgencyId)
                    .col(IssuingAuthority::DocType)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AgencySuccession::Table)
                    .if_not_exists()
                    .col(uuid(AgencySuccession::Id).primary_key())
                    .col(uuid(AgencySuccession::PredecessorId))
                    .col(uuid(AgencySuccession::SuccessorId))
                    .col(timestamp_with_time_zone(AgencySuccession::CreatedAt))
                    .col(uuid_null(AgencySuccession::RegisteredBy))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_agency_succession_predecessor")
                            .from(AgencySuccession::Table, AgencySuccession::PredecessorId)
                            .to(Agency::Table, Agency::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_agency_succession_successor")
                            .from(AgencySuccession::Table, AgencySuccession::SuccessorId)
                            .to(Agency::Table, Agency::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_agency_succession_pair")
                    .table(AgencySuccession::Table)
                    .col(AgencySuccession::PredecessorId)
                    .col(AgencySuccession::SuccessorId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (agency, doc_type, from, until) in existing_spans(manager).await? {
            let insert = Query::insert()
                .into_table(IssuingAuthority::Table)
                .columns([
                    IssuingAuthority::Id,
                    IssuingAuthority::AgencyId,
                    IssuingAuthority::DocType,
                    IssuingAuthority::ValidFrom,
                    IssuingAuthority::ValidUntil,
                    IssuingAuthority::CreatedAt,
                ])
                .values_panic([
                    uuid::Uuid::now_v7().into(),
                    agency.into(),
                    doc_type.into(),
                    from.into(),
                    until.into(),
                    until.into(),
                ])
                .to_owned();
            manager.exec_stmt(insert).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AgencySuccession::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(IssuingAuthority::Table).to_owned())
            .await
    }
}
