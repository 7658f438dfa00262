//! A certification request belongs to the clerk (and that clerk's agency) who first entered the
//! citizen's code: from then on only that clerk can open the scan or certify it. Before this, the
//! request id alone was a pass for any counter staff member of any agency for 15 minutes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CertificationRequest {
    Table,
    ClaimedBy,
    ClaimedAgencyId,
    ClaimedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            ColumnDef::new(CertificationRequest::ClaimedBy)
                .uuid()
                .null()
                .to_owned(),
            ColumnDef::new(CertificationRequest::ClaimedAgencyId)
                .uuid()
                .null()
                .to_owned(),
            ColumnDef::new(CertificationRequest::ClaimedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(CertificationRequest::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            CertificationRequest::ClaimedAt,
            CertificationRequest::ClaimedAgencyId,
            CertificationRequest::ClaimedBy,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(CertificationRequest::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
