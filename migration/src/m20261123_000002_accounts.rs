//! Accounts, agencies, sessions, recovery codes and throttling counters. Sessions and throttles
//! live here (not in memory) so several instances share them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Agency {
    Table,
    Id,
    Code,
    Name,
    Kind,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
    Role,
    Login,
    AgencyId,
    Status,
    PasswordHash,
    PasswordChangedAt,
    TotpSecret,
    TotpLastStep,
    WrappedDataKey,
    MasterKeyId,
    Profile,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RecoveryCode {
    Table,
    Id,
    AccountId,
    CodeHash,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Session {
    Table,
    Id,
    TokenHash,
    AccountId,
    Stage,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    StepUpUntil,
    IpAddress,
    UserAgent,
    EndedAt,
}

#[derive(DeriveIden)]
enum Throttle {
    Table,
    Key,
    Failures,
    WindowStartedAt,
    LockedUntil,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Agency::Table)
                    .if_not_exists()
                    .col(uuid(Agency::Id).primary_key())
                    .col(string_len_uniq(Agency::Code, 32))
                    .col(string_len(Agency::Name, 200))
                    .col(string_len(Agency::Kind, 32))
                    .col(timestamp_with_time_zone(Agency::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Account::Table)
                    .if_not_exists()
                    .col(uuid(Account::Id).primary_key())
                    .col(string_len(Account::Role, 16))
                    .col(string_len_uniq(Account::Login, 64))
                    .col(uuid_null(Account::AgencyId))
                    .col(string_len(Account::Status, 16))
                    .col(text(Account::PasswordHash))
                    .col(timestamp_with_time_zone(Account::PasswordChangedAt))
                    .col(blob_null(Account::TotpSecret))
                    .col(big_integer_null(Account::TotpLastStep))
                    .col(blob(Account::WrappedDataKey))
                    .col(string_len(Account::MasterKeyId, 64))
                    .col(blob_null(Account::Profile))
                    .col(timestamp_with_time_zone(Account::CreatedAt))
                    .col(timestamp_with_time_zone(Account::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_account_agency")
                            .from(Account::Table, Account::AgencyId)
                            .to(Agency::Table, Agency::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_account_agency")
                    .table(Account::Table)
                    .col(Account::AgencyId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_account_master_key")
                    .table(Account::Table)
                    .col(Account::MasterKeyId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RecoveryCode::Table)
                    .if_not_exists()
                    .col(uuid(RecoveryCode::Id).primary_key())
                    .col(uuid(RecoveryCode::AccountId))
                    .col(string_len(RecoveryCode::CodeHash, 64))
                    .col(timestamp_with_time_zone(RecoveryCode::CreatedAt))
                    .col(timestamp_with_time_zone_null(RecoveryCode::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_recovery_code_account")
                            .from(RecoveryCode::Table, RecoveryCode::AccountId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_recovery_code_account")
                    .table(RecoveryCode::Table)
                    .col(RecoveryCode::AccountId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Session::Table)
                    .if_not_exists()
                    .col(uuid(Session::Id).primary_key())
                    .col(string_len_uniq(Session::TokenHash, 64))
                    .col(uuid(Session::AccountId))
                    .col(string_len(Session::Stage, 16))
                    .col(timestamp_with_time_zone(Session::CreatedAt))
                    .col(timestamp_with_time_zone(Session::LastSeenAt))
                    .col(timestamp_with_time_zone(Session::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Session::StepUpUntil))
                    .col(string_len_null(Session::IpAddress, 64))
                    .col(string_len_null(Session::UserAgent, 256))
                    .col(timestamp_with_time_zone_null(Session::EndedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_session_account")
                            .from(Session::Table, Session::AccountId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_session_account")
                    .table(Session::Table)
                    .col(Session::AccountId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Throttle::Table)
                    .if_not_exists()
                    .col(string_len(Throttle::Key, 96).primary_key())
                    .col(integer(Throttle::Failures))
                    .col(timestamp_with_time_zone(Throttle::WindowStartedAt))
                    .col(timestamp_with_time_zone_null(Throttle::LockedUntil))
                    .col(timestamp_with_time_zone(Throttle::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Throttle::Table.into_iden(),
            Session::Table.into_iden(),
            RecoveryCode::Table.into_iden(),
            Account::Table.into_iden(),
            Agency::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
