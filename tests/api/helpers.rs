//! Test harness: every test gets its own application with a fresh database, a fresh blob store
//! and a fixed clock.
//!
//! Backends come from the environment, so the same suite runs on the embedded defaults and on the
//! production stack:
//! - `TEST_DATABASE_URL` (a PostgreSQL URL whose role may `CREATE DATABASE`): each test gets its
//!   own database on that server; unset → a SQLite file in a temporary folder.
//! - `TEST_S3_ENDPOINT`, `TEST_S3_BUCKET`, `TEST_S3_ACCESS_KEY_ID`, `TEST_S3_SECRET_ACCESS_KEY`
//!   (and optionally `TEST_S3_REGION`): each test gets its own prefix in that bucket; unset → a
//!   local folder.
//! - `REQUIRE_ALL_BACKENDS=1` (set by CI) turns a skipped backend test into a failure.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use congdanso::clock::FixedClock;
use congdanso::config::Config;
use congdanso::keys::Keyring;
use congdanso::startup::build_state_with_keys;
use congdanso::state::AppState;
use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

pub struct TestApp {
    pub state: AppState,
    pub clock: FixedClock,
    /// Holds the temporary folder (database file, blobs, keys) until the test ends.
    pub _dir: TempDir,
}

/// The instant every test clock starts at.
pub fn test_epoch() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
        .expect("valid timestamp")
        .with_timezone(&Utc)
}

/// A PostgreSQL server for tests, if configured.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// S3 settings for tests, if configured: (endpoint, bucket, access key, secret, region).
pub struct S3Test {
    pub endpoint: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
}

pub fn s3_settings() -> Option<S3Test> {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Some(S3Test {
        endpoint: get("TEST_S3_ENDPOINT")?,
        bucket: get("TEST_S3_BUCKET")?,
        access_key_id: get("TEST_S3_ACCESS_KEY_ID")?,
        secret_access_key: get("TEST_S3_SECRET_ACCESS_KEY")?,
        region: get("TEST_S3_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
    })
}

/// Says why a backend test did not run; fails instead when CI demands every backend.
pub fn skip(test: &str, why: &str) {
    let required = std::env::var("REQUIRE_ALL_BACKENDS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{test}: backend required by REQUIRE_ALL_BACKENDS=1 but not configured: {why}"
    );
    eprintln!("SKIPPED {test}: {why}");
}

/// A fresh, empty PostgreSQL database on the test server; returns its URL.
pub async fn fresh_postgres_database(admin_url: &str) -> String {
    let name = format!("cds_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let mut url = url::Url::parse(admin_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Variables for a test configuration on the configured backends.
pub async fn test_vars(dir: &std::path::Path) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = HashMap::new();
    let database_url = match postgres_url() {
        Some(admin) => fresh_postgres_database(&admin).await,
        None => format!("sqlite://{}/test.db?mode=rwc", dir.display()),
    };
    vars.insert("DATABASE_URL".into(), database_url);
    match s3_settings() {
        Some(s3) => {
            vars.insert(
                "BLOB_STORE_URL".into(),
                format!("s3://{}/test-{}", s3.bucket, uuid::Uuid::new_v4().simple()),
            );
            vars.insert("AWS_ENDPOINT_URL".into(), s3.endpoint);
            vars.insert("AWS_ALLOW_HTTP".into(), "true".into());
            vars.insert("AWS_ACCESS_KEY_ID".into(), s3.access_key_id);
            vars.insert("AWS_SECRET_ACCESS_KEY".into(), s3.secret_access_key);
            vars.insert("AWS_REGION".into(), s3.region);
        }
        None => {
            vars.insert(
                "BLOB_STORE_URL".into(),
                format!("file://{}/blobs", dir.display()),
            );
        }
    }
    vars.insert("DATA_DIR".into(), dir.display().to_string());
    vars.insert("DATABASE_MAX_CONNECTIONS".into(), "4".into());
    vars
}

/// A fresh application on the configured backends, with `extra` settings applied on top.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut vars = test_vars(dir.path()).await;
    for (name, value) in extra {
        vars.insert((*name).to_owned(), (*value).to_owned());
    }
    let config = Config::from_vars(&vars).expect("valid test configuration");
    let clock = FixedClock::new(test_epoch());
    let keys = Keyring::generate().expect("random keys");
    let state = build_state_with_keys(config, Arc::new(clock.clone()), keys)
        .await
        .expect("application state");
    TestApp {
        state,
        clock,
        _dir: dir,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}
