//! Database migrations, one file per change, named by date. One set serves SQLite and PostgreSQL:
//! use only portable column types (text, integers, booleans, binary, timestamps with time zone).

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_platform_keys;
mod m20261123_000002_accounts;
mod m20261123_000003_vault;
mod m20261123_000004_issuers;
mod m20261123_000005_signed_documents;
mod m20261202_000001_issuing_authority;
mod m20261202_000003_vault_usage;
mod m20261202_000004_access_log;
mod m20261202_000006_certification_claim;
mod m20261202_000010_access_log_pending;
mod m20261202_000012_misuse_report;
mod m20261202_000013_purposes;
mod m20261202_000015_outbox;
mod m20261202_000016_grants;
mod m20261203_000031_agency_contact;
mod m20261203_000050_counter_session;
mod m20261203_000060_qr_identity;
mod m20261203_000065_qr_card;
mod m20261203_000070_notifications;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_platform_keys::Migration),
            Box::new(m20261123_000002_accounts::Migration),
            Box::new(m20261123_000003_vault::Migration),
            Box::new(m20261123_000004_issuers::Migration),
            Box::new(m20261123_000005_signed_documents::Migration),
            Box::new(m20261202_000001_issuing_authority::Migration),
            Box::new(m20261202_000003_vault_usage::Migration),
            Box::new(m20261202_000004_access_log::Migration),
            Box::new(m20261202_000006_certification_claim::Migration),
            Box::new(m20261202_000010_access_log_pending::Migration),
            Box::new(m20261202_000012_misuse_report::Migration),
            Box::new(m20261202_000013_purposes::Migration),
            Box::new(m20261202_000015_outbox::Migration),
            Box::new(m20261202_000016_grants::Migration),
            Box::new(m20261203_000031_agency_contact::Migration),
            Box::new(m20261203_000050_counter_session::Migration),
            Box::new(m20261203_000060_qr_identity::Migration),
            Box::new(m20261203_000065_qr_card::Migration),
            Box::new(m20261203_000070_notifications::Migration),
        ]
    }
}
