//! The one-stop counter: a clerk's session with a citizen for one procedure of the catalogue.
//! Opening it sends the citizen an access request (`access_request`, asked by the clerk's
//! agency); the grant the citizen gives is what the clerk reads under. A request made at the
//! counter lasts minutes, not days: `access_request.grant_minutes`, when set, is the grant's
//! length (and `grant_days` is 0).
//!
//! One session per origin (`origin_kind`, `origin_id`: the certification request whose code
//! the citizen read out; later the recorded QR scan), so two clicks on "open" make one session.
//! Rows go with the citizen's account (ON DELETE CASCADE).

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
    GrantMinutes,
}

#[derive(DeriveIden)]
enum CounterSession {
    Table,
    Id,
    AgencyId,
    ClerkId,
    CitizenId,
    ProcedureCode,
    OriginKind,
    OriginId,
    RequestId,
    CreatedAt,
    EndedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AccessRequest::Table)
                    .add_column(
                        ColumnDef::new(AccessRequest::GrantMinutes)
                            .integer()
                            .null()
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CounterSession::Table)
                    .if_not_exists()
                    .col(uuid(CounterSession::Id).primary_key())
                    .col(uuid(CounterSession::AgencyId))
                    .col(uuid(CounterSession::ClerkId))
                    .col(uuid(CounterSession::CitizenId))
                    .col(string_len(CounterSession::ProcedureCode, 64))
                    .col(string_len(CounterSession::OriginKind, 32))
                    .col(uuid(CounterSession::OriginId))
                    .col(uuid(CounterSession::RequestId).unique_key())
                    .col(timestamp_with_time_zone(CounterSession::CreatedAt))
                    .col(timestamp_with_time_zone_null(CounterSession::EndedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_counter_session_citizen")
                            .from(CounterSession::Table, CounterSession::CitizenId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_counter_session_origin")
                    .table(CounterSession::Table)
                    .col(CounterSession::OriginKind)
                    .col(CounterSession::OriginId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The clerk's open sessions on the staff home page.
        manager
            .create_index(
                Index::create()
                    .name("ix_counter_session_clerk")
                    .table(CounterSession::Table)
                    .col(CounterSession::ClerkId)
                    .col(CounterSession::EndedAt)
                    .col(CounterSession::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CounterSession::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AccessRequest::Table)
                    .drop_column(AccessRequest::GrantMinutes)
                    .to_owned(),
            )
            .await
    }
}
