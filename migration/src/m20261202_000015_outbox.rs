//! The durable outbox: messages (webhooks now; in-app, email and SMS later) written in the same
//! transaction as the change they report, delivered afterwards by a background task that claims
//! due rows with a lease, so several instances never send one message at the same time.
//!
//! Also the per-credential webhook signing key, wrapped by the platform master key.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OutboxMessage {
    Table,
    Id,
    Kind,
    Destination,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedBy,
    ClaimedUntil,
    LastError,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum ApiCredential {
    Table,
    WebhookKeyWrapped,
    WebhookKeyMasterId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OutboxMessage::Table)
                    .if_not_exists()
                    .col(uuid(OutboxMessage::Id).primary_key())
                    .col(string_len(OutboxMessage::Kind, 32))
                    .col(text(OutboxMessage::Destination))
                    .col(text(OutboxMessage::Payload))
                    .col(string_len(OutboxMessage::Status, 16))
                    .col(integer(OutboxMessage::Attempts))
                    .col(timestamp_with_time_zone(OutboxMessage::NextAttemptAt))
                    .col(string_len_null(OutboxMessage::ClaimedBy, 64))
                    .col(timestamp_with_time_zone_null(OutboxMessage::ClaimedUntil))
                    .col(text_null(OutboxMessage::LastError))
                    .col(timestamp_with_time_zone(OutboxMessage::CreatedAt))
                    .col(timestamp_with_time_zone_null(OutboxMessage::DeliveredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_message_due")
                    .table(OutboxMessage::Table)
                    .col(OutboxMessage::Status)
                    .col(OutboxMessage::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // SQLite takes one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(ApiCredential::Table)
                    .add_column(blob_null(ApiCredential::WebhookKeyWrapped))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiCredential::Table)
                    .add_column(string_len_null(ApiCredential::WebhookKeyMasterId, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiCredential::Table)
                    .drop_column(ApiCredential::WebhookKeyMasterId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiCredential::Table)
                    .drop_column(ApiCredential::WebhookKeyWrapped)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(OutboxMessage::Table).to_owned())
            .await
    }
}
