//! The access log (who saw a citizen's data, when and why), tamper-evident: per citizen a hash
//! chain (`seq`, `prev_hash`), globally one append-only Merkle tree (`leaf_index`,
//! `leaf_hash`), with the heads of both kept in their own rows so appends serialise on them, and
//! the signed checkpoints of the tree. No foreign key to `account`: a log entry outlives the
//! account (its readable content is erased instead, never the row). Byte formats:
//! `docs/CRYPTO.md` "Access log".

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AccessLogEntry {
    Table,
    Id,
    AccountId,
    Seq,
    LeafIndex,
    PrevHash,
    ContentHash,
    LeafHash,
    Salt,
    OccurredAt,
    ActorKind,
    ActorId,
    ActorAgencyId,
    Action,
    ObjectType,
    ObjectId,
    Purpose,
    Authorization,
    Outcome,
    Erased,
    ErasedAt,
}

#[derive(DeriveIden)]
enum AccessLogChain {
    Table,
    AccountId,
    Seq,
    HeadHash,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AccessLogTree {
    Table,
    Id,
    Size,
}

#[derive(DeriveIden)]
enum AccessLogCheckpoint {
    Table,
    TreeSize,
    Origin,
    RootHash,
    Note,
    KeyId,
    PublishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AccessLogEntry::Table)
                    .if_not_exists()
                    .col(uuid(AccessLogEntry::Id).primary_key())
                    .col(uuid(AccessLogEntry::AccountId))
                    .col(big_integer(AccessLogEntry::Seq))
                    .col(big_integer(AccessLogEntry::LeafIndex))
                    .col(blob(AccessLogEntry::PrevHash))
                    .col(blob(AccessLogEntry::ContentHash))
                    .col(blob(AccessLogEntry::LeafHash))
                    .col(blob_null(AccessLogEntry::Salt))
                    .col(timestamp_with_time_zone(AccessLogEntry::OccurredAt))
                    .col(string_len_null(AccessLogEntry::ActorKind, 16))
                    .col(string_len_null(AccessLogEntry::ActorId, 64))
                    .col(string_len_null(AccessLogEntry::ActorAgencyId, 64))
                    .col(string_len_null(AccessLogEntry::Action, 48))
                    .col(string_len_null(AccessLogEntry::ObjectType, 48))
                    .col(string_len_null(AccessLogEntry::ObjectId, 64))
                    .col(text_null(AccessLogEntry::Purpose))
                    .col(string_len_null(AccessLogEntry::Authorization, 96))
                    .col(string_len_null(AccessLogEntry::Outcome, 16))
                    .col(boolean(AccessLogEntry::Erased).default(false))
                    .col(timestamp_with_time_zone_null(AccessLogEntry::ErasedAt))
                    .to_owned(),
            )
            .await?;
        // One chain per citizen, one tree for all: both unique.
        manager
            .create_index(
                Index::create()
                    .name("idx_access_log_entry_account_seq")
                    .table(AccessLogEntry::Table)
                    .col(AccessLogEntry::AccountId)
                    .col(AccessLogEntry::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_access_log_entry_leaf")
                    .table(AccessLogEntry::Table)
                    .col(AccessLogEntry::LeafIndex)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The citizen's newest-first pages, filtered by actor, by document or by period.
        for (name, column) in [
            (
                "idx_access_log_entry_account_actor",
                AccessLogEntry::ActorId,
            ),
            (
                "idx_access_log_entry_account_object",
                AccessLogEntry::ObjectId,
            ),
            (
                "idx_access_log_entry_account_time",
                AccessLogEntry::OccurredAt,
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AccessLogEntry::Table)
                        .col(AccessLogEntry::AccountId)
                        .col(column)
                        .col(AccessLogEntry::Seq)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AccessLogChain::Table)
                    .if_not_exists()
                    .col(uuid(AccessLogChain::AccountId).primary_key())
                    .col(big_integer(AccessLogChain::Seq))
                    .col(blob(AccessLogChain::HeadHash))
                    .col(timestamp_with_time_zone(AccessLogChain::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccessLogTree::Table)
                    .if_not_exists()
                    .col(integer(AccessLogTree::Id).primary_key())
                    .col(big_integer(AccessLogTree::Size))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccessLogCheckpoint::Table)
                    .if_not_exists()
                    .col(big_integer(AccessLogCheckpoint::TreeSize).primary_key())
                    .col(text(AccessLogCheckpoint::Origin))
                    .col(blob(AccessLogCheckpoint::RootHash))
                    .col(text(AccessLogCheckpoint::Note))
                    .col(string_len(AccessLogCheckpoint::KeyId, 64))
                    .col(timestamp_with_time_zone(AccessLogCheckpoint::PublishedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AccessLogCheckpoint::Table.into_iden(),
            AccessLogTree::Table.into_iden(),
            AccessLogChain::Table.into_iden(),
            AccessLogEntry::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
