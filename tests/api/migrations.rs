//! One set of migrations serves both databases: up, down and up again, on each.

use congdanso::db;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{fresh_postgres_database, postgres_url, skip};

async fn up_down_up(url: &str, connections: u32) {
    let conn = db::connect(url, connections).await.unwrap();
    db::migrate(&conn).await.unwrap();
    let applied = db::applied_migrations(&conn).await.unwrap();
    assert_eq!(applied.len(), Migrator::migrations().len());
    // Running again is a no-op.
    db::migrate(&conn).await.unwrap();

    let keys = congdanso::keys::Keyring::generate().unwrap();
    congdanso::keys::repo::register(&conn, &keys, crate::helpers::test_epoch())
        .await
        .unwrap();
    // Registering again (another instance starting) does not duplicate or fail.
    congdanso::keys::repo::register(&conn, &keys, crate::helpers::test_epoch())
        .await
        .unwrap();
    let rows = congdanso::keys::repo::all(&conn).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .any(|r| r.kind == "signing" && r.public_key.is_some())
    );
    assert!(
        rows.iter()
            .any(|r| r.kind == "master" && r.public_key.is_none())
    );

    Migrator::down(&conn, None).await.unwrap();
    assert!(db::applied_migrations(&conn).await.unwrap().is_empty());
    Migrator::up(&conn, None).await.unwrap();
    assert_eq!(
        db::applied_migrations(&conn).await.unwrap().len(),
        Migrator::migrations().len()
    );
}

#[actix_web::test]
async fn migrations_apply_and_roll_back_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}/nested/folder/m.db?mode=rwc",
        dir.path().display()
    );
    // One connection: with two, a `DROP COLUMN` of the first down step once failed under a
    // loaded CI run with "no such column" (a pooled SQLite connection seeing the schema of an
    // older snapshot, suspected). The product never migrates down; startup migrates up.
    up_down_up(&url, 1).await;
}

#[actix_web::test]
async fn sqlite_runs_with_wal_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/p.db?mode=rwc", dir.path().display());
    let conn = db::connect(&url, 1).await.unwrap();
    let backend = conn.get_database_backend();
    let mode = conn
        .query_one_raw(Statement::from_string(backend, "PRAGMA journal_mode"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mode.try_get_by_index::<String>(0).unwrap(), "wal");
    let fk = conn
        .query_one_raw(Statement::from_string(backend, "PRAGMA foreign_keys"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fk.try_get_by_index::<i32>(0).unwrap(), 1);
}

#[actix_web::test]
async fn migrations_apply_and_roll_back_on_postgres() {
    let Some(admin) = postgres_url() else {
        skip(
            "migrations_apply_and_roll_back_on_postgres",
            "TEST_DATABASE_URL is not set",
        );
        return;
    };
    let url = fresh_postgres_database(&admin).await;
    up_down_up(&url, 2).await;
}

#[actix_web::test]
async fn start_up_records_the_platform_keys_at_the_clocks_time() {
    use congdanso::clock::Clock;
    let t = crate::helpers::spawn_app().await;
    let rows = congdanso::keys::repo::all(&t.state.db).await.unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert!(ids.contains(&t.state.keys.master.id().as_str()));
    assert!(ids.contains(&t.state.keys.signing.id()));
    assert!(rows.iter().all(|r| r.first_seen_at == t.clock.now()));
}
