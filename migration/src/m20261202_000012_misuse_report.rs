//! Misuse reports: a citizen reports one entry of their access log ("Báo cáo sử dụng sai"); an
//! operator moves it from new to investigating to answered. The comment and the answer are
//! sealed with the citizen's data key. Rows go with the account (ON DELETE CASCADE).
//!
//! Also the index behind the access-log page's new "who" filter (by actor kind), so a citizen
//! with 10,000 entries filtered to a kind that rarely occurs is not a scan of all of them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AccessLogEntry {
    Table,
    AccountId,
    ActorKind,
    Seq,
}

#[derive(DeriveIden)]
enum MisuseReport {
    Table,
    Id,
    AccountId,
    EntryId,
    Comment,
    Status,
    Answer,
    AnsweredBy,
    CreatedAt,
    UpdatedAt,
    AnsweredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MisuseReport::Table)
                    .if_not_exists()
                    .col(uuid(MisuseReport::Id).primary_key())
                    .col(uuid(MisuseReport::AccountId))
                    .col(uuid(MisuseReport::EntryId))
                    .col(blob(MisuseReport::Comment))
                    .col(string_len(MisuseReport::Status, 16))
                    .col(blob_null(MisuseReport::Answer))
                    .col(uuid_null(MisuseReport::AnsweredBy))
                    .col(timestamp_with_time_zone(MisuseReport::CreatedAt))
                    .col(timestamp_with_time_zone(MisuseReport::UpdatedAt))
                    .col(timestamp_with_time_zone_null(MisuseReport::AnsweredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_misuse_report_account")
                            .from(MisuseReport::Table, MisuseReport::AccountId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_misuse_report_answered_by")
                            .from(MisuseReport::Table, MisuseReport::AnsweredBy)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // The citizen's list, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_misuse_report_account")
                    .table(MisuseReport::Table)
                    .col(MisuseReport::AccountId)
                    .col(MisuseReport::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_access_log_entry_account_actor_kind")
                    .table(AccessLogEntry::Table)
                    .col(AccessLogEntry::AccountId)
                    .col(AccessLogEntry::ActorKind)
                    .col(AccessLogEntry::Seq)
                    .to_owned(),
            )
            .await?;
        // The operators' inbox, by status, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_misuse_report_status")
                    .table(MisuseReport::Table)
                    .col(MisuseReport::Status)
                    .col(MisuseReport::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_access_log_entry_account_actor_kind")
                    .table(AccessLogEntry::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(MisuseReport::Table).to_owned())
            .await
    }
}
