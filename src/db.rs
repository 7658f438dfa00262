//! Opening the database and bringing its schema up to date. SQLite (embedded default) and
//! PostgreSQL (production) share one set of migrations.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// Connects with settings fit for the backend: for SQLite, WAL journalling (readers never block
/// the writer), foreign keys enforced and a busy timeout instead of instant `SQLITE_BUSY`; the
/// file's folder is created if needed.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    if let Some(folder) = sqlite_folder(url) {
        std::fs::create_dir_all(&folder)
            .map_err(|e| DbErr::Custom(format!("cannot create database folder {folder}: {e}")))?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
    Database::connect(options).await
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Names of the migrations applied so far (for tests and `congdanso migrate --status`).
pub async fn applied_migrations(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    Ok(Migrator::get_applied_migrations(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect())
}

/// The folder of a file-backed SQLite URL (`sqlite://./data/x.db?mode=rwc` → `./data`).
fn sqlite_folder(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    let parent = std::path::Path::new(path).parent()?;
    let parent = parent.to_str()?;
    (!parent.is_empty()).then(|| parent.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_folder_is_found_in_urls() {
        assert_eq!(
            sqlite_folder("sqlite://./data/congdanso.db?mode=rwc").as_deref(),
            Some("./data")
        );
        assert_eq!(sqlite_folder("sqlite::memory:"), None);
        assert_eq!(sqlite_folder("postgres://x/y"), None);
        assert_eq!(sqlite_folder("sqlite://file.db").as_deref(), None);
    }

    /// `.cargo/config.toml` builds SQLite with the query planner stability guarantee: without
    /// it every statement with a bound `LIMIT` (all of SeaORM's `.one()`) is parsed and planned
    /// again on each execution (see the note there and docs/benchmarks.md).
    #[tokio::test]
    async fn sqlite_is_built_with_the_planner_stability_guarantee() {
        use sea_orm::{ConnectionTrait, Statement};
        let db = connect("sqlite::memory:", 1).await.unwrap();
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT sqlite_compileoption_used('ENABLE_QPSG') AS used",
            ))
            .await
            .unwrap()
            .unwrap();
        let used: i32 = row.try_get("", "used").unwrap();
        assert_eq!(used, 1, "SQLite built without SQLITE_ENABLE_QPSG");
    }
}
