//! QR identity (`src/qr`): each citizen's random public handle (what a QR token names — never
//! the national ID number), the nonces of tokens already used (primary key: a second use of the
//! same token fails the insert, on every instance, in the transaction that writes the
//! verification's access-log entry), and the successful verifications (the staff member, their
//! agency, the citizen, the time: the origin of a counter session opened from a scan).
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
enum QrHandle {
    Table,
    AccountId,
    Handle,
    CreatedAt,
}

#[derive(DeriveIden)]
enum QrTokenUse {
    Table,
    Nonce,
    AccountId,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum QrScan {
    Table,
    Id,
    StaffId,
    AgencyId,
    CitizenId,
    TokenKind,
    VerifiedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(QrHandle::Table)
                    .if_not_exists()
                    .col(uuid(QrHandle::AccountId).primary_key())
                    .col(string_len(QrHandle::Handle, 32).unique_key())
                    .col(timestamp_with_time_zone(QrHandle::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_qr_handle_account")
                            .from(QrHandle::Table, QrHandle::AccountId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(QrTokenUse::Table)
                    .if_not_exists()
                    .col(string_len(QrTokenUse::Nonce, 32).primary_key())
                    .col(uuid(QrTokenUse::AccountId))
                    .col(timestamp_with_time_zone(QrTokenUse::ExpiresAt))
                    .col(timestamp_with_time_zone(QrTokenUse::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_qr_token_use_account")
                            .from(QrTokenUse::Table, QrTokenUse::AccountId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(QrScan::Table)
                    .if_not_exists()
                    .col(uuid(QrScan::Id).primary_key())
                    .col(uuid(QrScan::StaffId))
                    .col(uuid(QrScan::AgencyId))
                    .col(uuid(QrScan::CitizenId))
                    .col(string_len(QrScan::TokenKind, 16))
                    .col(timestamp_with_time_zone(QrScan::VerifiedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_qr_scan_citizen")
                            .from(QrScan::Table, QrScan::CitizenId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            QrScan::Table.into_iden(),
            QrTokenUse::Table.into_iden(),
            QrHandle::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
