//! What an agency may ask for: its purposes (registered by operators, each with the document
//! types, fields and files it covers), the catalogue of procedures, and the record of refused
//! over-asking requests for the operators' oversight.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AgencyPurpose {
    Table,
    Id,
    AgencyId,
    Code,
    DescriptionVi,
    DescriptionEn,
    LegalBasis,
    RetentionDays,
    Scope,
    CreatedAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum Procedure {
    Table,
    Code,
    NationalCode,
    NameVi,
    NameEn,
    RequiredTypes,
    OptionalTypes,
    Source,
}

#[derive(DeriveIden)]
enum OverAsking {
    Table,
    Id,
    AgencyId,
    CredentialId,
    PurposeCode,
    Asked,
    Reason,
    CitizenNamed,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AgencyPurpose::Table)
                    .if_not_exists()
                    .col(uuid(AgencyPurpose::Id).primary_key())
                    .col(uuid(AgencyPurpose::AgencyId))
                    .col(string_len(AgencyPurpose::Code, 64))
                    .col(text(AgencyPurpose::DescriptionVi))
                    .col(text(AgencyPurpose::DescriptionEn))
                    .col(text(AgencyPurpose::LegalBasis))
                    .col(integer(AgencyPurpose::RetentionDays))
                    .col(text(AgencyPurpose::Scope))
                    .col(timestamp_with_time_zone(AgencyPurpose::CreatedAt))
                    .col(timestamp_with_time_zone_null(AgencyPurpose::RetiredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_agency_purpose_code")
                    .table(AgencyPurpose::Table)
                    .col(AgencyPurpose::AgencyId)
                    .col(AgencyPurpose::Code)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Procedure::Table)
                    .if_not_exists()
                    .col(string_len(Procedure::Code, 64).primary_key())
                    .col(string_len_null(Procedure::NationalCode, 32))
                    .col(text(Procedure::NameVi))
                    .col(text(Procedure::NameEn))
                    .col(text(Procedure::RequiredTypes))
                    .col(text(Procedure::OptionalTypes))
                    .col(text(Procedure::Source))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OverAsking::Table)
                    .if_not_exists()
                    .col(uuid(OverAsking::Id).primary_key())
                    .col(uuid(OverAsking::AgencyId))
                    .col(uuid(OverAsking::CredentialId))
                    .col(string_len(OverAsking::PurposeCode, 64))
                    .col(text(OverAsking::Asked))
                    .col(text(OverAsking::Reason))
                    .col(boolean(OverAsking::CitizenNamed))
                    .col(timestamp_with_time_zone(OverAsking::CreatedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OverAsking::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Procedure::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AgencyPurpose::Table).to_owned())
            .await
    }
}
