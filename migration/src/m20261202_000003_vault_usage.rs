//! The vault at scale and under races: a per-account usage counter (bytes stored and bytes
//! reserved by uploads in flight) that quota checks update with one conditional statement, the
//! reservation and the store's multipart upload id on each upload row (so the sweep can release
//! and abort what a crashed upload left), and the index the documents list pages through.

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
    OwnerId,
    CreatedAt,
    Id,
}

#[derive(DeriveIden)]
enum Upload {
    Table,
    ReservedBytes,
    MultipartId,
}

#[derive(DeriveIden)]
enum VaultUsage {
    Table,
    AccountId,
    UsedBytes,
    ReservedBytes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(VaultUsage::Table)
                    .if_not_exists()
                    .col(uuid(VaultUsage::AccountId).primary_key())
                    .col(big_integer(VaultUsage::UsedBytes).default(0))
                    .col(big_integer(VaultUsage::ReservedBytes).default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_vault_usage_account")
                            .from(VaultUsage::Table, VaultUsage::AccountId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // What every existing vault holds already.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO vault_usage (account_id, used_bytes, reserved_bytes) \
                 SELECT owner_id, SUM(size_bytes), 0 FROM document GROUP BY owner_id",
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Upload::Table)
                    .add_column(big_integer(Upload::ReservedBytes).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Upload::Table)
                    .add_column(string_len_null(Upload::MultipartId, 1024))
                    .to_owned(),
            )
            .await?;
        // The documents list: one owner's documents, newest first by (created_at, id).
        manager
            .create_index(
                Index::create()
                    .name("idx_document_owner_created")
                    .table(Document::Table)
                    .col(Document::OwnerId)
                    .col(Document::CreatedAt)
                    .col(Document::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_document_owner_created")
                    .table(Document::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Upload::Table)
                    .drop_column(Upload::MultipartId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Upload::Table)
                    .drop_column(Upload::ReservedBytes)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(VaultUsage::Table).to_owned())
            .await
    }
}
