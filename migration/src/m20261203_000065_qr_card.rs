//! Printed QR cards (`src/qr`): a long-lived signed token for people without a smartphone.
//! Each card has a random id (in the token), a status index (its bit in the published status
//! list; unique, allocated from the one-row counter `qr_card_counter` so two cards issued at
//! once on two instances never share one), its validity, and its revocation (when, by whom).
//! The card's current one-time code is kept only as SHA-256(card id || code) with its expiry
//! and a count of wrong tries. Rows go with the citizen's account (ON DELETE CASCADE); the counter never goes back, so an
//! index is never given to a second card.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum QrCard {
    Table,
    Id,
    AccountId,
    StatusIndex,
    IssuedAt,
    ExpiresAt,
    RevokedAt,
    RevokedBy,
    CodeHash,
    CodeExpiresAt,
    CodeFailures,
}

#[derive(DeriveIden)]
enum QrCardCounter {
    Table,
    Id,
    NextIndex,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(QrCard::Table)
                    .if_not_exists()
                    .col(string_len(QrCard::Id, 24).primary_key())
                    .col(uuid(QrCard::AccountId))
                    .col(big_integer(QrCard::StatusIndex).unique_key())
                    .col(timestamp_with_time_zone(QrCard::IssuedAt))
                    .col(timestamp_with_time_zone(QrCard::ExpiresAt))
                    .col(timestamp_with_time_zone_null(QrCard::RevokedAt))
                    .col(uuid_null(QrCard::RevokedBy))
                    .col(string_len_null(QrCard::CodeHash, 64))
                    .col(timestamp_with_time_zone_null(QrCard::CodeExpiresAt))
                    .col(integer(QrCard::CodeFailures).default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_qr_card_account")
                            .from(QrCard::Table, QrCard::AccountId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_qr_card_account")
                    .table(QrCard::Table)
                    .col(QrCard::AccountId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(QrCardCounter::Table)
                    .if_not_exists()
                    .col(integer(QrCardCounter::Id).primary_key())
                    .col(big_integer(QrCardCounter::NextIndex))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(QrCardCounter::Table)
                    .columns([QrCardCounter::Id, QrCardCounter::NextIndex])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [QrCardCounter::Table.into_iden(), QrCard::Table.into_iden()] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
