//! The document vault: one row per document (content encrypted in the blob store; title and
//! file name sealed here) and one row per upload in flight, so a crash mid-upload leaves a
//! record the sweep uses to remove the orphan blob.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Document {
    Table,
    Id,
    OwnerId,
    DocType,
    Source,
    ContentType,
    SizeBytes,
    BlobKey,
    BlobBytes,
    Sha256,
    Title,
    FileName,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Upload {
    Table,
    Id,
    OwnerId,
    BlobKey,
    StartedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Document::Table)
                    .if_not_exists()
                    .col(uuid(Document::Id).primary_key())
                    .col(uuid(Document::OwnerId))
                    .col(string_len(Document::DocType, 32))
                    .col(string_len(Document::Source, 16))
                    .col(string_len(Document::ContentType, 64))
                    .col(big_integer(Document::SizeBytes))
                    .col(string_len(Document::BlobKey, 200))
                    .col(big_integer(Document::BlobBytes))
                    .col(string_len(Document::Sha256, 64))
                    .col(blob(Document::Title))
                    .col(blob(Document::FileName))
                    .col(timestamp_with_time_zone(Document::CreatedAt))
                    .col(timestamp_with_time_zone(Document::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_document_owner")
                            .from(Document::Table, Document::OwnerId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_document_owner")
                    .table(Document::Table)
                    .col(Document::OwnerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Upload::Table)
                    .if_not_exists()
                    .col(uuid(Upload::Id).primary_key())
                    .col(uuid(Upload::OwnerId))
                    .col(string_len(Upload::BlobKey, 200))
                    .col(timestamp_with_time_zone(Upload::StartedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Upload::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Document::Table).to_owned())
            .await
    }
}
