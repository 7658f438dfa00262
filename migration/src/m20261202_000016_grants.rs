//! Consent-scoped sharing: an agency's access request to a citizen, the grant the citizen's
//! approval creates (with its signed consent record), and the documents each grant covers with
//! how often each has been read. Rows go with the citizen's account (ON DELETE CASCADE): the
//! agency keeps its own copy of the signed consent record as the controller's evidence.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AccessRequest {
    Table,
    Id,
    AgencyId,
    CredentialId,
    CitizenId,
    PurposeCode,
    Explanation,
    ProcedureCode,
    Items,
    GrantDays,
    MaxUses,
    CallbackUrl,
    IdempotencyKey,
    BodySha256,
    Status,
    CreatedAt,
    AnswerBy,
    DecidedAt,
    GrantId,
}

#[derive(DeriveIden)]
enum AccessGrant {
    Table,
    Id,
    RequestId,
    AgencyId,
    CredentialId,
    CitizenId,
    PurposeCode,
    MaxUses,
    CreatedAt,
    ExpiresAt,
    WithdrawnAt,
    ConsentRecord,
}

#[derive(DeriveIden)]
enum GrantDocument {
    Table,
    GrantId,
    DocumentId,
    DocType,
    File,
    Fields,
    FieldReads,
    FileReads,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AccessRequest::Table)
                    .if_not_exists()
                    .col(uuid(AccessRequest::Id).primary_key())
                    .col(uuid(AccessRequest::AgencyId))
                    .col(uuid(AccessRequest::CredentialId))
                    .col(uuid_null(AccessRequest::CitizenId))
                    .col(string_len(AccessRequest::PurposeCode, 64))
                    .col(text(AccessRequest::Explanation))
                    .col(string_len_null(AccessRequest::ProcedureCode, 64))
                    .col(text(AccessRequest::Items))
                    .col(integer(AccessRequest::GrantDays))
                    .col(integer(AccessRequest::MaxUses))
                    .col(text_null(AccessRequest::CallbackUrl))
                    .col(string_len_null(AccessRequest::IdempotencyKey, 128))
                    .col(string_len(AccessRequest::BodySha256, 64))
                    .col(string_len(AccessRequest::Status, 16))
                    .col(timestamp_with_time_zone(AccessRequest::CreatedAt))
                    .col(timestamp_with_time_zone(AccessRequest::AnswerBy))
                    .col(timestamp_with_time_zone_null(AccessRequest::DecidedAt))
                    .col(uuid_null(AccessRequest::GrantId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_access_request_citizen")
                            .from(AccessRequest::Table, AccessRequest::CitizenId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One request per credential and idempotency key: a retried POST finds the first.
        manager
            .create_index(
                Index::create()
                    .name("ux_access_request_idempotency")
                    .table(AccessRequest::Table)
                    .col(AccessRequest::CredentialId)
                    .col(AccessRequest::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The citizen's inbox.
        manager
            .create_index(
                Index::create()
                    .name("ix_access_request_citizen")
                    .table(AccessRequest::Table)
                    .col(AccessRequest::CitizenId)
                    .col(AccessRequest::Status)
                    .col(AccessRequest::CreatedAt)
                    .to_owned(),
            )
            .await?;
        // The agency's list.
        manager
            .create_index(
                Index::create()
                    .name("ix_access_request_agency")
                    .table(AccessRequest::Table)
                    .col(AccessRequest::AgencyId)
                    .col(AccessRequest::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccessGrant::Table)
                    .if_not_exists()
                    .col(uuid(AccessGrant::Id).primary_key())
                    .col(uuid(AccessGrant::RequestId).unique_key())
                    .col(uuid(AccessGrant::AgencyId))
                    .col(uuid(AccessGrant::CredentialId))
                    .col(uuid(AccessGrant::CitizenId))
                    .col(string_len(AccessGrant::PurposeCode, 64))
                    .col(integer(AccessGrant::MaxUses))
                    .col(timestamp_with_time_zone(AccessGrant::CreatedAt))
                    .col(timestamp_with_time_zone(AccessGrant::ExpiresAt))
                    .col(timestamp_with_time_zone_null(AccessGrant::WithdrawnAt))
                    .col(text(AccessGrant::ConsentRecord))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_access_grant_citizen")
                            .from(AccessGrant::Table, AccessGrant::CitizenId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("ix_access_grant_citizen", AccessGrant::CitizenId),
            ("ix_access_grant_agency", AccessGrant::AgencyId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AccessGrant::Table)
                        .col(column)
                        .col(AccessGrant::CreatedAt)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(GrantDocument::Table)
                    .if_not_exists()
                    .col(uuid(GrantDocument::GrantId))
                    .col(uuid(GrantDocument::DocumentId))
                    .col(string_len(GrantDocument::DocType, 32))
                    .col(boolean(GrantDocument::File))
                    .col(text(GrantDocument::Fields))
                    .col(integer(GrantDocument::FieldReads))
                    .col(integer(GrantDocument::FileReads))
                    .primary_key(
                        Index::create()
                            .col(GrantDocument::GrantId)
                            .col(GrantDocument::DocumentId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_grant_document_grant")
                            .from(GrantDocument::Table, GrantDocument::GrantId)
                            .to(AccessGrant::Table, AccessGrant::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(GrantDocument::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AccessGrant::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AccessRequest::Table).to_owned())
            .await
    }
}
