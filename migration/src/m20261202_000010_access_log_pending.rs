//! Access-log entries written but not yet sequenced. A read or change appends its entry here,
//! in its own transaction, without taking any lock; the sequencer (`audit::service::integrate`)
//! then gives each entry its place in the citizen's chain and in the global tree, in batches,
//! and moves it to `access_log_entry`. So a citizen's reads no longer queue on one chain-head
//! row through every commit, and all citizens' reads no longer queue on the one tree head.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AccessLogPending {
    Table,
    Id,
    AccountId,
    OccurredAt,
    Salt,
    ContentHash,
    ActorKind,
    ActorId,
    ActorAgencyId,
    Action,
    ObjectType,
    ObjectId,
    Purpose,
    Authorization,
    Outcome,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AccessLogPending::Table)
                    .if_not_exists()
                    .col(uuid(AccessLogPending::Id).primary_key())
                    .col(uuid(AccessLogPending::AccountId))
                    .col(timestamp_with_time_zone(AccessLogPending::OccurredAt))
                    .col(blob(AccessLogPending::Salt))
                    .col(blob(AccessLogPending::ContentHash))
                    .col(string_len(AccessLogPending::ActorKind, 16))
                    .col(string_len(AccessLogPending::ActorId, 64))
                    .col(string_len(AccessLogPending::ActorAgencyId, 64))
                    .col(string_len(AccessLogPending::Action, 48))
                    .col(string_len(AccessLogPending::ObjectType, 48))
                    .col(string_len(AccessLogPending::ObjectId, 64))
                    .col(text(AccessLogPending::Purpose))
                    .col(string_len(AccessLogPending::Authorization, 96))
                    .col(string_len(AccessLogPending::Outcome, 16))
                    .to_owned(),
            )
            .await?;
        // "Has this citizen entries waiting?" (the citizen's page sequences them first).
        manager
            .create_index(
                Index::create()
                    .name("idx_access_log_pending_account")
                    .table(AccessLogPending::Table)
                    .col(AccessLogPending::AccountId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AccessLogPending::Table).to_owned())
            .await
    }
}
