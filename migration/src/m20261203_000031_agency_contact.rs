//! How a citizen reaches an agency about the data it asked for: an email address, a phone
//! number and a postal address, each optional, edited by operators. The consent record names
//! them as the controller's contact (before this it could only name the platform).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Agency {
    Table,
    ContactEmail,
    ContactPhone,
    ContactAddress,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            ColumnDef::new(Agency::ContactEmail)
                .string_len(254)
                .null()
                .to_owned(),
            ColumnDef::new(Agency::ContactPhone)
                .string_len(32)
                .null()
                .to_owned(),
            ColumnDef::new(Agency::ContactAddress)
                .text()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Agency::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Agency::ContactAddress,
            Agency::ContactPhone,
            Agency::ContactEmail,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Agency::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
