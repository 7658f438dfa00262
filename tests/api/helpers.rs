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

impl TestApp {
    /// A second instance on the same database, with the same keys and clock (another process
    /// behind the load balancer).
    pub async fn second_instance(&self) -> AppState {
        build_state_with_keys(
            (*self.state.config).clone(),
            Arc::new(self.clock.clone()),
            Keyring {
                master: congdanso::keys::master_key_from_bytes(
                    *self.state.keys.master.expose_secret(),
                )
                .expect("master key"),
                previous: vec![],
                signing: congdanso::keys::PlatformSigningKey::from_bytes(
                    *self.state.keys.signing.signing_key().as_bytes(),
                ),
            },
        )
        .await
        .expect("second instance")
    }
}

/// An app on a file-backed SQLite database in `dir` with a pool of 8 connections, for tests
/// that fire many requests at once (they must really run side by side).
pub async fn concurrent_sqlite_app(dir: &tempfile::TempDir) -> TestApp {
    concurrent_sqlite_app_with(dir, &[]).await
}

/// [`concurrent_sqlite_app`] with more settings.
pub async fn concurrent_sqlite_app_with(
    dir: &tempfile::TempDir,
    extra: &[(&str, &str)],
) -> TestApp {
    let url = format!("sqlite://{}/app.db?mode=rwc", dir.path().display());
    let mut vars = vec![
        ("DATABASE_URL", url.as_str()),
        ("DATABASE_MAX_CONNECTIONS", "8"),
    ];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

/// The same on a fresh PostgreSQL database; `None` without `TEST_DATABASE_URL` (the test
/// `test` is then skipped, or fails under `REQUIRE_ALL_BACKENDS=1`).
pub async fn concurrent_postgres_app(test: &str) -> Option<TestApp> {
    concurrent_postgres_app_with(test, &[]).await
}

/// [`concurrent_postgres_app`] with more settings.
pub async fn concurrent_postgres_app_with(test: &str, extra: &[(&str, &str)]) -> Option<TestApp> {
    let Some(admin) = postgres_url() else {
        skip(test, "TEST_DATABASE_URL not set");
        return None;
    };
    let url = fresh_postgres_database(&admin).await;
    let mut vars = vec![
        ("DATABASE_URL", url.as_str()),
        ("DATABASE_MAX_CONNECTIONS", "8"),
    ];
    vars.extend_from_slice(extra);
    Some(spawn_app_with(&vars).await)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A tiny browser for `actix_web::test`: keeps cookies, fills the CSRF token into forms.
pub struct Client<S> {
    service: S,
    pub cookies: HashMap<String, String>,
    pub peer: std::net::SocketAddr,
    pub lang: Option<&'static str>,
}

/// What came back.
pub struct Reply {
    pub status: actix_web::http::StatusCode,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl<S, B> Client<S>
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    pub fn new(service: S) -> Self {
        Self {
            service,
            cookies: HashMap::new(),
            peer: "203.0.113.7:40000".parse().expect("address"),
            lang: None,
        }
    }

    async fn send(&mut self, mut request: actix_web::test::TestRequest) -> Reply {
        request = request.peer_addr(self.peer);
        for (name, value) in &self.cookies {
            request = request.cookie(actix_web::cookie::Cookie::new(name.clone(), value.clone()));
        }
        if let Some(lang) = self.lang {
            request = request.insert_header(("accept-language", lang));
        }
        let response = actix_web::test::call_service(&self.service, request.to_request()).await;
        for cookie in response.response().cookies() {
            let expired = cookie
                .max_age()
                .is_some_and(|age| age.is_zero() || age.is_negative())
                || cookie.value().is_empty();
            if expired {
                self.cookies.remove(cookie.name());
            } else {
                self.cookies
                    .insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
        let status = response.status();
        let headers = response.headers().clone();
        let body = actix_web::test::read_body(response).await;
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// The CSRF token a page shown now would put in its forms (bound to the session cookie).
    pub fn form_token(&self) -> String {
        let secret = self
            .cookies
            .get(congdanso::auth::csrf::CSRF_COOKIE)
            .or_else(|| self.cookies.get(congdanso::auth::csrf::CSRF_COOKIE_SECURE));
        match secret {
            Some(secret) => congdanso::auth::csrf::form_token(
                secret,
                self.cookies.get("cds_session").map(String::as_str),
            ),
            None => String::new(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(actix_web::test::TestRequest::get().uri(path))
            .await
    }

    /// A `HEAD` request (link checkers, download managers).
    pub async fn head(&mut self, path: &str) -> Reply {
        self.send(
            actix_web::test::TestRequest::default()
                .method(actix_web::http::Method::HEAD)
                .uri(path),
        )
        .await
    }

    /// Posts a form with the CSRF token from the cookie (as the page's hidden field would).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let token = self.form_token();
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts exactly these fields (no CSRF token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(
            actix_web::test::TestRequest::post()
                .uri(path)
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload(body),
        )
        .await
    }
}

impl<S, B> Client<S>
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    /// Posts `multipart/form-data` like a browser: the CSRF token first, then `fields`, then
    /// the file part (if any).
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
    ) -> Reply {
        self.post_multipart_as(path, fields, "file", file).await
    }

    /// [`Self::post_multipart`] with the file part under another name (`photo` on the scan
    /// page).
    pub async fn post_multipart_as(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file_field: &str,
        file: Option<(&str, &[u8])>,
    ) -> Reply {
        let token = self.form_token();
        let boundary = "----cdsTestBoundary7MA4YWxkTrZu0gW";
        let mut body: Vec<u8> = Vec::new();
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        for (name, value) in all {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        if let Some((file_name, bytes)) = file {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        self.send(
            actix_web::test::TestRequest::post()
                .uri(path)
                .insert_header((
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                ))
                .set_payload(body),
        )
        .await
    }

    /// A GET with extra headers (e.g. `Range`), returning the raw body bytes too.
    pub async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> (Reply, Vec<u8>) {
        let mut request = actix_web::test::TestRequest::get().uri(path);
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        request = request.peer_addr(self.peer);
        for (name, value) in &self.cookies {
            request = request.cookie(actix_web::cookie::Cookie::new(name.clone(), value.clone()));
        }
        let response = actix_web::test::call_service(&self.service, request.to_request()).await;
        let status = response.status();
        let headers = response.headers().clone();
        // A body that fails part-way (a damaged document detected mid-stream) reads as an error
        // marker, never as the bytes sent so far.
        let body = match actix_web::body::to_bytes(response.into_body()).await {
            Ok(bytes) => bytes.to_vec(),
            Err(_) => b"<<body stream failed>>".to_vec(),
        };
        (
            Reply {
                status,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            },
            body,
        )
    }
}

impl TestApp {
    /// The test clock's time plus some hours (for "everything older than" queries).
    pub fn clock_now_plus_hours(&self, hours: i64) -> DateTime<Utc> {
        use congdanso::clock::Clock;
        self.clock.now() + chrono::Duration::hours(hours)
    }
}

/// `now()` on the fixed clock without importing the trait at every call site.
pub trait NowUtc {
    fn now_utc(&self) -> DateTime<Utc>;
}

impl NowUtc for FixedClock {
    fn now_utc(&self) -> DateTime<Utc> {
        use congdanso::clock::Clock;
        self.now()
    }
}
