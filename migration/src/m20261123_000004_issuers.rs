//! Issuing agencies' public keys (the platform never holds their private keys) and agency API
//! credentials (stored as hashes).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Agency {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum IssuerKey {
    Table,
    Id,
    AgencyId,
    KeyId,
    PublicKey,
    Purpose,
    ValidFrom,
    ValidUntil,
    Status,
    StatusChangedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiCredential {
    Table,
    Id,
    AgencyId,
    Name,
    TokenHash,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IssuerKey::Table)
                    .if_not_exists()
                    .col(uuid(IssuerKey::Id).primary_key())
                    .col(uuid(IssuerKey::AgencyId))
                    .col(string_len_uniq(IssuerKey::KeyId, 64))
                    .col(string_len(IssuerKey::PublicKey, 64))
                    .col(string_len(IssuerKey::Purpose, 16))
                    .col(timestamp_with_time_zone(IssuerKey::ValidFrom))
                    .col(timestamp_with_time_zone_null(IssuerKey::ValidUntil))
                    .col(string_len(IssuerKey::Status, 16))
                    .col(timestamp_with_time_zone_null(IssuerKey::StatusChangedAt))
                    .col(timestamp_with_time_zone(IssuerKey::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_issuer_key_agency")
                            .from(IssuerKey::Table, IssuerKey::AgencyId)
                            .to(Agency::Table, Agency::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_issuer_key_agency")
                    .table(IssuerKey::Table)
                    .col(IssuerKey::AgencyId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiCredential::Table)
                    .if_not_exists()
                    .col(uuid(ApiCredential::Id).primary_key())
                    .col(uuid(ApiCredential::AgencyId))
                    .col(string_len(ApiCredential::Name, 100))
                    .col(string_len_uniq(ApiCredential::TokenHash, 64))
                    .col(timestamp_with_time_zone(ApiCredential::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiCredential::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiCredential::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_credential_agency")
                            .from(ApiCredential::Table, ApiCredential::AgencyId)
                            .to(Agency::Table, Agency::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_credential_agency")
                    .table(ApiCredential::Table)
                    .col(ApiCredential::AgencyId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiCredential::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(IssuerKey::Table).to_owned())
            .await
    }
}
