//! The platform keys this deployment has used: which master key wrapped data keys and which
//! Ed25519 key signed, since when, and when each was retired. Key material never goes here.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PlatformKey {
    Table,
    Id,
    Kind,
    PublicKey,
    FirstSeenAt,
    RetiredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PlatformKey::Table)
                    .if_not_exists()
                    .col(string_len(PlatformKey::Id, 64).primary_key())
                    .col(string_len(PlatformKey::Kind, 16))
                    .col(text_null(PlatformKey::PublicKey))
                    .col(timestamp_with_time_zone(PlatformKey::FirstSeenAt))
                    .col(timestamp_with_time_zone_null(PlatformKey::RetiredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_platform_key_kind")
                    .table(PlatformKey::Table)
                    .col(PlatformKey::Kind)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PlatformKey::Table).to_owned())
            .await
    }
}
