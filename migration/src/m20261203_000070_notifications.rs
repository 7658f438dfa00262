//! Notifications (issue 14): the citizen's in-app inbox, their contact details and channel
//! choices, and two outbox columns for messages that gather several events into one.
//!
//! - `notification`: one row per message in a person's inbox (kept 90 days). The text is not
//!   stored: `kind` and `params` (counts, a link, never document content) are rendered in the
//!   reader's language when shown. The id is the outbox message's id, so a fan-out that runs
//!   twice writes the row once.
//! - `notify_contact`: the email address and phone number a person gave for notifications, the
//!   language messages are written in, and the (kind, channel) pairs they turned off.
//! - `outbox_message.batch_key` (unique when set) and `batch_count`: an event that joins an open
//!   batch (an agency's reads of one grant within a minute) increments the count of the row
//!   already queued; an "about to expire" warning uses the key to exist once.
//!
//! Rows go with the account (ON DELETE CASCADE).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Notification {
    Table,
    Id,
    AccountId,
    Kind,
    Params,
    CreatedAt,
    ReadAt,
}

#[derive(DeriveIden)]
enum NotifyContact {
    Table,
    AccountId,
    Email,
    Phone,
    Lang,
    Disabled,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OutboxMessage {
    Table,
    BatchKey,
    BatchCount,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Notification::Table)
                    .if_not_exists()
                    .col(uuid(Notification::Id).primary_key())
                    .col(uuid(Notification::AccountId))
                    .col(string_len(Notification::Kind, 40))
                    .col(text(Notification::Params))
                    .col(timestamp_with_time_zone(Notification::CreatedAt))
                    .col(timestamp_with_time_zone_null(Notification::ReadAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notification_account")
                            .from(Notification::Table, Notification::AccountId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notification_account")
                    .table(Notification::Table)
                    .col(Notification::AccountId)
                    .col(Notification::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notification_created")
                    .table(Notification::Table)
                    .col(Notification::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotifyContact::Table)
                    .if_not_exists()
                    .col(uuid(NotifyContact::AccountId).primary_key())
                    .col(string_len_null(NotifyContact::Email, 254))
                    .col(string_len_null(NotifyContact::Phone, 16))
                    .col(string_len(NotifyContact::Lang, 8))
                    .col(text(NotifyContact::Disabled))
                    .col(timestamp_with_time_zone(NotifyContact::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notify_contact_account")
                            .from(NotifyContact::Table, NotifyContact::AccountId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // SQLite takes one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(OutboxMessage::Table)
                    .add_column(string_len_null(OutboxMessage::BatchKey, 128))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OutboxMessage::Table)
                    .add_column(integer_null(OutboxMessage::BatchCount))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_message_batch_key")
                    .table(OutboxMessage::Table)
                    .col(OutboxMessage::BatchKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_outbox_message_batch_key")
                    .table(OutboxMessage::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OutboxMessage::Table)
                    .drop_column(OutboxMessage::BatchCount)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OutboxMessage::Table)
                    .drop_column(OutboxMessage::BatchKey)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(NotifyContact::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Notification::Table).to_owned())
            .await
    }
}
