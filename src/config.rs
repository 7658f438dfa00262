//! Typed settings, read from the environment (and `.env` in development) and validated once at
//! start-up. A wrong value stops the program with a message naming the variable, so a bad deploy
//! fails loudly instead of half-working.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;
use zeroize::Zeroizing;

/// A configuration problem, always naming the variable at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration error in {variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

/// Where the program runs. Production refuses shortcuts that development allows (generated keys,
/// cookies over plain HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

/// Log line format: human-readable for a terminal, JSON for a log pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A secret value whose `Debug` never prints it.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

/// Where a key comes from: inline base64 in the environment, or a file holding base64.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    Inline(Secret),
    File(PathBuf),
}

/// Settings for an S3-compatible blob store, taken from the usual `AWS_*` variables so MinIO,
/// Ceph, Garage or AWS itself work without code changes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub allow_http: bool,
    pub virtual_hosted_style: bool,
}

/// Which blob store holds document content, parsed from `BLOB_STORE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobStoreConfig {
    /// `file://./data/blobs` or `file:///var/lib/congdanso/blobs`: a folder on local disk.
    Local(PathBuf),
    /// `s3://bucket` or `s3://bucket/prefix`: any S3-compatible store, configured by `AWS_*`.
    S3 { bucket: String, prefix: String },
    /// `memory://`: process memory, for tests only (content is lost on exit).
    Memory,
}

impl BlobStoreConfig {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let fail = |problem: String| ConfigError::new("BLOB_STORE_URL", problem);
        let raw = raw.trim();
        if let Some(path) = raw.strip_prefix("file://") {
            if path.is_empty() {
                return Err(fail(
                    "a file:// URL needs a folder, e.g. file://./data/blobs".into(),
                ));
            }
            return Ok(Self::Local(PathBuf::from(path)));
        }
        if raw == "memory://" || raw == "memory:" {
            return Ok(Self::Memory);
        }
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let valid_bucket = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                });
            if !valid_bucket {
                return Err(fail(format!(
                    "`{bucket}` is not a valid bucket name (3-63 lowercase letters, digits, `-`, `.`); \
                     e.g. s3://congdanso-blobs"
                )));
            }
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        Err(fail(format!(
            "unsupported `{raw}`; use file://./data/blobs, s3://bucket or memory://"
        )))
    }
}

/// Every setting the program reads. Built once by [`Config::from_env`] and passed down; nothing
/// else reads the environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub app_env: AppEnv,
    pub bind_addr: SocketAddr,
    /// Base URL people reach the service at; used for links and to decide cookie security.
    pub public_url: Url,
    pub database_url: String,
    pub database_max_connections: u32,
    pub blob_store: BlobStoreConfig,
    pub s3: S3Settings,
    /// Folder for development keys (`./data/keys`).
    pub data_dir: PathBuf,
    pub master_key: Option<KeySource>,
    /// Master keys being rotated away from: still unwrap, never wrap.
    pub previous_master_keys: Option<KeySource>,
    pub signing_key: Option<KeySource>,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// Largest JSON or form body accepted (uploads have their own limit).
    pub max_body_bytes: usize,
    /// How long one request may take before it is answered with 504.
    pub request_timeout: Duration,
    /// How long in-flight requests get to finish on shutdown.
    pub shutdown_timeout: Duration,
    /// Worker threads for the HTTP server; 0 means one per core.
    pub http_workers: usize,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`; required in production.
    pub metrics_token: Option<Secret>,
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// A session ends this long after login, used or not.
    pub session_absolute: Duration,
    /// How long a fresh second-factor code unlocks sensitive actions.
    pub step_up: Duration,
    /// Largest document a citizen may upload, in bytes.
    pub max_upload_bytes: u64,
    /// Bytes of documents one citizen may store.
    pub storage_quota_bytes: u64,
    /// Password hashes computed at once (each holds one 19 MiB Argon2 memory area).
    pub password_hash_concurrency: usize,
    /// How long a login waits for a hashing turn before `service_busy`; zero: no waiting.
    pub password_hash_queue_timeout: Duration,
    /// Limits on agencies' access requests and the grants they become.
    pub grants: GrantSettings,
    /// The outbox deliverer (`CONGDANSO_OUTBOX_*`).
    pub outbox: OutboxSettings,
    /// How long a QR identity token shown on the citizen's phone is valid
    /// (`CONGDANSO_QR_TTL_SECONDS`, default 120, between 30 and 600).
    pub qr_ttl: Duration,
    /// How long a printed QR card is valid (`CONGDANSO_QR_CARD_DAYS`, default 365, between 1
    /// and 1825).
    pub qr_card_days: u32,
    /// Fresh phone tokens one account may get per minute from `/qr/token.json` on one instance
    /// (`CONGDANSO_QR_TOKENS_PER_MINUTE`, default 30, between 1 and 100000).
    pub qr_tokens_per_minute: u32,
    /// Notifications (`CONGDANSO_NOTIFY_*`, `CONGDANSO_SMS_*`).
    pub notify: NotifySettings,
}

/// How notifications reach people beyond their in-app inbox.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// Print email and SMS messages to the server log instead of sending them
    /// (`CONGDANSO_NOTIFY_LOG`; default on in development, off in production). Used for a
    /// channel that has no gateway configured.
    pub log_channel: bool,
    /// The SMS gateway: a signed JSON `POST` (`CONGDANSO_SMS_URL`, unset = no SMS).
    pub sms_url: Option<Url>,
    /// The gateway's HMAC-SHA256 key (`CONGDANSO_SMS_KEY`, at least 32 characters; required
    /// with the URL).
    pub sms_key: Option<Secret>,
    /// How long an agency's reads under one grant are gathered into one alert
    /// (`CONGDANSO_NOTIFY_BATCH_SECS`, 60).
    pub batch_window: Duration,
    /// The SMTP server email goes through (`CONGDANSO_SMTP_*`; unset host = no email
    /// transport: email goes to the log channel if that is on, else is not offered).
    pub smtp: Option<SmtpSettings>,
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with `STARTTLS`, which must succeed (port 587 by default).
    StartTls,
    /// TLS from the first byte (SMTPS, port 465 by default).
    Tls,
    /// No encryption: only to a relay on this machine (loopback), e.g. a local MTA or a test
    /// server (port 25 by default).
    None,
}

/// The SMTP server and the sender's address.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// `CONGDANSO_SMTP_HOST`.
    pub host: String,
    /// `CONGDANSO_SMTP_PORT` (default by TLS mode: 587, 465, 25).
    pub port: u16,
    /// `CONGDANSO_SMTP_TLS`: `starttls` (default), `tls` or `none` (loopback hosts only).
    pub tls: SmtpTls,
    /// `CONGDANSO_SMTP_USER` and `CONGDANSO_SMTP_PASSWORD` (both or neither).
    pub credentials: Option<(String, Secret)>,
    /// `CONGDANSO_SMTP_FROM`, e.g. `Công dân số <thongbao@congdanso.gov.vn>` (required).
    pub from: lettre::message::Mailbox,
    /// `CONGDANSO_SMTP_TIMEOUT_SECS` (10): one attempt gives up after this.
    pub timeout: Duration,
}

impl SmtpSettings {
    fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(host) = get("CONGDANSO_SMTP_HOST").map(|h| h.trim().to_owned()) else {
            return Ok(None);
        };
        if host.is_empty() || host.contains(['/', ' ', ':']) {
            return Err(ConfigError::new(
                "CONGDANSO_SMTP_HOST",
                "must be a host name or IP address (no scheme, no port)",
            ));
        }
        let tls = match get("CONGDANSO_SMTP_TLS").as_deref().map(str::trim) {
            None | Some("starttls") => SmtpTls::StartTls,
            Some("tls") => SmtpTls::Tls,
            Some("none") => SmtpTls::None,
            Some(_) => {
                return Err(ConfigError::new(
                    "CONGDANSO_SMTP_TLS",
                    "must be starttls, tls or none",
                ));
            }
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if tls == SmtpTls::None && !loopback {
            return Err(ConfigError::new(
                "CONGDANSO_SMTP_TLS",
                "none is allowed only for a relay on this machine (localhost, 127.0.0.1, ::1)",
            ));
        }
        let default_port = match tls {
            SmtpTls::StartTls => "587",
            SmtpTls::Tls => "465",
            SmtpTls::None => "25",
        };
        let port: u16 = parse_or(
            get("CONGDANSO_SMTP_PORT"),
            "CONGDANSO_SMTP_PORT",
            default_port,
        )?;
        if port == 0 {
            return Err(ConfigError::new("CONGDANSO_SMTP_PORT", "must not be 0"));
        }
        let credentials = match (get("CONGDANSO_SMTP_USER"), get("CONGDANSO_SMTP_PASSWORD")) {
            (None, None) => None,
            (Some(user), Some(password)) if !user.trim().is_empty() => {
                Some((user.trim().to_owned(), Secret::new(password)))
            }
            (Some(_), None) | (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "CONGDANSO_SMTP_PASSWORD",
                    "CONGDANSO_SMTP_USER and CONGDANSO_SMTP_PASSWORD go together",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "CONGDANSO_SMTP_USER",
                    "CONGDANSO_SMTP_USER and CONGDANSO_SMTP_PASSWORD go together",
                ));
            }
        };
        let from = get("CONGDANSO_SMTP_FROM")
            .ok_or_else(|| {
                ConfigError::new(
                    "CONGDANSO_SMTP_FROM",
                    "is required with CONGDANSO_SMTP_HOST",
                )
            })?
            .trim()
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| {
                ConfigError::new(
                    "CONGDANSO_SMTP_FROM",
                    format!("not an email address (`Name <address>` or `address`): {e}"),
                )
            })?;
        let timeout = seconds(
            get("CONGDANSO_SMTP_TIMEOUT_SECS"),
            "CONGDANSO_SMTP_TIMEOUT_SECS",
            10,
        )?;
        Ok(Some(Self {
            host,
            port,
            tls,
            credentials,
            from,
            timeout,
        }))
    }
}

impl NotifySettings {
    fn from_vars(
        get: &dyn Fn(&str) -> Option<String>,
        app_env: AppEnv,
    ) -> Result<Self, ConfigError> {
        let log_channel = parse_bool(
            get("CONGDANSO_NOTIFY_LOG"),
            "CONGDANSO_NOTIFY_LOG",
            app_env == AppEnv::Development,
        )?;
        let sms_url = match get("CONGDANSO_SMS_URL") {
            None => None,
            Some(raw) => {
                let url = Url::parse(raw.trim())
                    .map_err(|e| ConfigError::new("CONGDANSO_SMS_URL", e.to_string()))?;
                if !matches!(url.scheme(), "https" | "http") {
                    return Err(ConfigError::new(
                        "CONGDANSO_SMS_URL",
                        "must be an http(s) URL",
                    ));
                }
                if app_env == AppEnv::Production && url.scheme() != "https" {
                    return Err(ConfigError::new(
                        "CONGDANSO_SMS_URL",
                        "must use https in production",
                    ));
                }
                Some(url)
            }
        };
        let sms_key = get("CONGDANSO_SMS_KEY").map(Secret::new);
        match (&sms_url, &sms_key) {
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "CONGDANSO_SMS_KEY",
                    "is required with CONGDANSO_SMS_URL",
                ));
            }
            (_, Some(key)) if key.expose().len() < 32 => {
                return Err(ConfigError::new(
                    "CONGDANSO_SMS_KEY",
                    "must be at least 32 characters",
                ));
            }
            _ => {}
        }
        let batch_window = seconds(
            get("CONGDANSO_NOTIFY_BATCH_SECS"),
            "CONGDANSO_NOTIFY_BATCH_SECS",
            60,
        )?;
        let smtp = SmtpSettings::from_vars(get)?;
        Ok(Self {
            log_channel,
            sms_url,
            sms_key,
            batch_window,
            smtp,
        })
    }
}

/// Limits on consent-scoped sharing, validated once at startup.
#[derive(Debug, Clone)]
pub struct GrantSettings {
    /// Longest a grant may last (`GRANT_MAX_DAYS`, default 365).
    pub max_grant_days: u32,
    /// How long a citizen has to answer a request before it expires
    /// (`REQUEST_ANSWER_DAYS`, default 14).
    pub answer_days: u32,
    /// Most reads of each document a repeated grant may allow (`GRANT_MAX_USES`, default 100).
    pub max_uses: u32,
    /// How long a grant given at a counter session lasts, and how long the citizen has to
    /// answer its request (`CONGDANSO_COUNTER_GRANT_MINUTES`, default 60, at most a day).
    pub counter_minutes: u32,
}

fn bounded(
    value: Option<String>,
    name: &'static str,
    default: u32,
    max: u32,
) -> Result<u32, ConfigError> {
    let n: u32 = parse_or(value, name, &default.to_string())?;
    if n == 0 || n > max {
        return Err(ConfigError::new(
            name,
            format!("must be between 1 and {max}"),
        ));
    }
    Ok(n)
}

/// How the outbox deliverer runs and which callback URLs are accepted.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// Pause between two claims when nothing was due (`CONGDANSO_OUTBOX_INTERVAL_MS`, 1000).
    pub interval: Duration,
    /// Messages claimed at once (`CONGDANSO_OUTBOX_BATCH`, 20).
    pub batch: u64,
    /// Attempts before a message is dead (`CONGDANSO_OUTBOX_MAX_ATTEMPTS`, 12).
    pub max_attempts: i32,
    /// First retry delay, doubled each attempt (`CONGDANSO_OUTBOX_BACKOFF_BASE_SECS`, 10).
    pub backoff_base: Duration,
    /// Longest retry delay (`CONGDANSO_OUTBOX_BACKOFF_CAP_SECS`, 3600).
    pub backoff_cap: Duration,
    /// How long a claim holds before another instance may take the message
    /// (`CONGDANSO_OUTBOX_LEASE_SECS`, 60; more than twice the timeout).
    pub lease: Duration,
    /// Time for one webhook request (`CONGDANSO_OUTBOX_TIMEOUT_SECS`, 10).
    pub timeout: Duration,
    /// Accept `http://` callbacks to loopback addresses (`CONGDANSO_OUTBOX_ALLOW_HTTP_LOOPBACK`;
    /// tests and the demo only).
    pub allow_http_loopback: bool,
}

impl OutboxSettings {
    fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let interval_ms: u64 = parse_or(
            get("CONGDANSO_OUTBOX_INTERVAL_MS"),
            "CONGDANSO_OUTBOX_INTERVAL_MS",
            "1000",
        )?;
        if !(10..=600_000).contains(&interval_ms) {
            return Err(ConfigError::new(
                "CONGDANSO_OUTBOX_INTERVAL_MS",
                "must be between 10 and 600000 milliseconds",
            ));
        }
        let batch: u64 = parse_or(
            get("CONGDANSO_OUTBOX_BATCH"),
            "CONGDANSO_OUTBOX_BATCH",
            "20",
        )?;
        if !(1..=1000).contains(&batch) {
            return Err(ConfigError::new(
                "CONGDANSO_OUTBOX_BATCH",
                "must be between 1 and 1000",
            ));
        }
        let max_attempts: i32 = parse_or(
            get("CONGDANSO_OUTBOX_MAX_ATTEMPTS"),
            "CONGDANSO_OUTBOX_MAX_ATTEMPTS",
            "12",
        )?;
        if !(1..=100).contains(&max_attempts) {
            return Err(ConfigError::new(
                "CONGDANSO_OUTBOX_MAX_ATTEMPTS",
                "must be between 1 and 100",
            ));
        }
        let backoff_base = seconds(
            get("CONGDANSO_OUTBOX_BACKOFF_BASE_SECS"),
            "CONGDANSO_OUTBOX_BACKOFF_BASE_SECS",
            10,
        )?;
        let backoff_cap = seconds(
            get("CONGDANSO_OUTBOX_BACKOFF_CAP_SECS"),
            "CONGDANSO_OUTBOX_BACKOFF_CAP_SECS",
            3600,
        )?;
        if backoff_base.is_zero() || backoff_cap < backoff_base {
            return Err(ConfigError::new(
                "CONGDANSO_OUTBOX_BACKOFF_CAP_SECS",
                "the base delay must be positive and the cap at least the base",
            ));
        }
        let lease = seconds(
            get("CONGDANSO_OUTBOX_LEASE_SECS"),
            "CONGDANSO_OUTBOX_LEASE_SECS",
            60,
        )?;
        let timeout = seconds(
            get("CONGDANSO_OUTBOX_TIMEOUT_SECS"),
            "CONGDANSO_OUTBOX_TIMEOUT_SECS",
            10,
        )?;
        if timeout.is_zero() || lease < timeout * 2 {
            return Err(ConfigError::new(
                "CONGDANSO_OUTBOX_LEASE_SECS",
                "must be more than twice CONGDANSO_OUTBOX_TIMEOUT_SECS (a positive number), \
                 so a lease never runs out during a delivery",
            ));
        }
        let allow_http_loopback = parse_bool(
            get("CONGDANSO_OUTBOX_ALLOW_HTTP_LOOPBACK"),
            "CONGDANSO_OUTBOX_ALLOW_HTTP_LOOPBACK",
            false,
        )?;
        Ok(Self {
            interval: Duration::from_millis(interval_ms),
            batch,
            max_attempts,
            backoff_base,
            backoff_cap,
            lease,
            timeout,
            allow_http_loopback,
        })
    }
}

/// Reads variables by name; lets tests pass a map instead of mutating the process environment.
pub trait VarSource {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl VarSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl VarSource for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl VarSource for HashMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| (*v).to_owned())
    }
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/congdanso.db?mode=rwc";
pub const DEFAULT_BLOB_STORE_URL: &str = "file://./data/blobs";

impl Config {
    /// Reads `.env` (if present, without overriding real variables) and then the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is an error worth stopping for.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(ConfigError::new(".env", e.to_string())),
        }
        Self::from_vars(&ProcessEnv)
    }

    /// Parses and validates every setting from `vars`.
    pub fn from_vars(vars: &dyn VarSource) -> Result<Self, ConfigError> {
        let get = |name: &str| vars.var(name).filter(|v| !v.trim().is_empty());

        let app_env = match get("APP_ENV")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("development") | Some("dev") => AppEnv::Development,
            Some("production") | Some("prod") => AppEnv::Production,
            Some(other) => {
                return Err(ConfigError::new(
                    "APP_ENV",
                    format!("expected `development` or `production`, got `{other}`"),
                ));
            }
        };

        let bind_addr: SocketAddr = parse_or(get("BIND_ADDR"), "BIND_ADDR", "127.0.0.1:8080")?;

        let public_url = match get("PUBLIC_URL") {
            Some(raw) => parse_http_url("PUBLIC_URL", &raw)?,
            None => parse_http_url("PUBLIC_URL", &format!("http://{bind_addr}"))?,
        };

        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "must start with `sqlite:` or `postgres://` (e.g. sqlite://./data/congdanso.db?mode=rwc)",
            ));
        }
        let database_max_connections: u32 = parse_or(
            get("DATABASE_MAX_CONNECTIONS"),
            "DATABASE_MAX_CONNECTIONS",
            "10",
        )?;
        if database_max_connections == 0 {
            return Err(ConfigError::new(
                "DATABASE_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }

        let blob_store = BlobStoreConfig::parse(
            &get("BLOB_STORE_URL").unwrap_or_else(|| DEFAULT_BLOB_STORE_URL.to_owned()),
        )?;

        let s3 = S3Settings {
            endpoint: get("AWS_ENDPOINT_URL").or_else(|| get("AWS_ENDPOINT")),
            region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
            access_key_id: get("AWS_ACCESS_KEY_ID"),
            secret_access_key: get("AWS_SECRET_ACCESS_KEY").map(Secret::new),
            allow_http: parse_bool(get("AWS_ALLOW_HTTP"), "AWS_ALLOW_HTTP", false)?,
            virtual_hosted_style: parse_bool(
                get("AWS_VIRTUAL_HOSTED_STYLE_REQUEST"),
                "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
                false,
            )?,
        };
        if let Some(endpoint) = &s3.endpoint {
            let url = parse_http_url("AWS_ENDPOINT_URL", endpoint)?;
            if url.scheme() == "http" && !s3.allow_http {
                return Err(ConfigError::new(
                    "AWS_ALLOW_HTTP",
                    "the S3 endpoint is plain http; set AWS_ALLOW_HTTP=true to allow it",
                ));
            }
        }

        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "./data".to_owned()));

        let master_key = key_source(&get, "MASTER_KEY", "MASTER_KEY_FILE")?;
        let signing_key = key_source(&get, "SIGNING_KEY", "SIGNING_KEY_FILE")?;
        let previous_master_keys =
            key_source(&get, "MASTER_KEY_PREVIOUS", "MASTER_KEY_PREVIOUS_FILE")?;
        if app_env == AppEnv::Production {
            if master_key.is_none() {
                return Err(ConfigError::new(
                    "MASTER_KEY",
                    "required when APP_ENV=production (or set MASTER_KEY_FILE); \
                     generate one with `congdanso keys generate`",
                ));
            }
            if signing_key.is_none() {
                return Err(ConfigError::new(
                    "SIGNING_KEY",
                    "required when APP_ENV=production (or set SIGNING_KEY_FILE); \
                     generate one with `congdanso keys generate`",
                ));
            }
            if public_url.scheme() != "https" {
                return Err(ConfigError::new(
                    "PUBLIC_URL",
                    "must be https:// when APP_ENV=production (cookies are Secure)",
                ));
            }
        }

        let log_format = match get("LOG_FORMAT")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("pretty") | Some("text") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("expected `pretty` or `json`, got `{other}`"),
                ));
            }
        };
        let log_filter = get("RUST_LOG").unwrap_or_else(|| "info".to_owned());

        let max_body_bytes: usize = parse_or(get("MAX_BODY_BYTES"), "MAX_BODY_BYTES", "262144")?;
        if max_body_bytes < 1024 {
            return Err(ConfigError::new(
                "MAX_BODY_BYTES",
                "must be at least 1024 bytes",
            ));
        }
        let request_timeout = seconds(get("REQUEST_TIMEOUT_SECS"), "REQUEST_TIMEOUT_SECS", 30)?;
        let shutdown_timeout = seconds(get("SHUTDOWN_TIMEOUT_SECS"), "SHUTDOWN_TIMEOUT_SECS", 30)?;
        let http_workers: usize = parse_or(get("HTTP_WORKERS"), "HTTP_WORKERS", "0")?;
        let metrics_token = get("METRICS_TOKEN").map(Secret::new);
        if metrics_token
            .as_ref()
            .is_some_and(|t| t.expose().len() < 16)
        {
            return Err(ConfigError::new(
                "METRICS_TOKEN",
                "must be at least 16 characters",
            ));
        }
        // Metrics name routes, error rates and timings: not for the public in production.
        if app_env == AppEnv::Production && metrics_token.is_none() {
            return Err(ConfigError::new(
                "METRICS_TOKEN",
                "required when APP_ENV=production, so /metrics is not public; \
                 set at least 16 random characters (e.g. `openssl rand -hex 32`) \
                 and give the same token to the scraper as a bearer token",
            ));
        }

        let session_idle = minutes(get("SESSION_IDLE_MINUTES"), "SESSION_IDLE_MINUTES", 30)?;
        let session_absolute = minutes(
            get("SESSION_ABSOLUTE_MINUTES"),
            "SESSION_ABSOLUTE_MINUTES",
            12 * 60,
        )?;
        if session_absolute < session_idle {
            return Err(ConfigError::new(
                "SESSION_ABSOLUTE_MINUTES",
                "must not be shorter than SESSION_IDLE_MINUTES",
            ));
        }
        let step_up = minutes(get("STEP_UP_MINUTES"), "STEP_UP_MINUTES", 5)?;
        let grants = GrantSettings {
            max_grant_days: bounded(get("GRANT_MAX_DAYS"), "GRANT_MAX_DAYS", 365, 3650)?,
            answer_days: bounded(get("REQUEST_ANSWER_DAYS"), "REQUEST_ANSWER_DAYS", 14, 90)?,
            max_uses: bounded(get("GRANT_MAX_USES"), "GRANT_MAX_USES", 100, 10_000)?,
            counter_minutes: bounded(
                get("CONGDANSO_COUNTER_GRANT_MINUTES"),
                "CONGDANSO_COUNTER_GRANT_MINUTES",
                60,
                24 * 60,
            )?,
        };
        let qr_ttl_secs: u64 = parse_or(
            get("CONGDANSO_QR_TTL_SECONDS"),
            "CONGDANSO_QR_TTL_SECONDS",
            "120",
        )?;
        if !(30..=600).contains(&qr_ttl_secs) {
            return Err(ConfigError::new(
                "CONGDANSO_QR_TTL_SECONDS",
                "must be between 30 and 600 seconds",
            ));
        }
        let qr_tokens_per_minute = bounded(
            get("CONGDANSO_QR_TOKENS_PER_MINUTE"),
            "CONGDANSO_QR_TOKENS_PER_MINUTE",
            30,
            100_000,
        )?;
        let qr_card_days = bounded(
            get("CONGDANSO_QR_CARD_DAYS"),
            "CONGDANSO_QR_CARD_DAYS",
            365,
            5 * 365,
        )?;
        let max_upload_bytes: u64 =
            parse_or(get("MAX_UPLOAD_BYTES"), "MAX_UPLOAD_BYTES", "200000000")?;
        let storage_quota_bytes: u64 = parse_or(
            get("STORAGE_QUOTA_BYTES"),
            "STORAGE_QUOTA_BYTES",
            "1073741824",
        )?;
        if max_upload_bytes == 0 || storage_quota_bytes == 0 {
            return Err(ConfigError::new(
                "MAX_UPLOAD_BYTES",
                "upload limit and STORAGE_QUOTA_BYTES must be positive",
            ));
        }

        let default_hash_concurrency = std::thread::available_parallelism()
            .map_or(2, |n| n.get().saturating_mul(2))
            .to_string();
        let password_hash_concurrency: usize = parse_or(
            get("PASSWORD_HASH_CONCURRENCY"),
            "PASSWORD_HASH_CONCURRENCY",
            &default_hash_concurrency,
        )?;
        if !(1..=256).contains(&password_hash_concurrency) {
            return Err(ConfigError::new(
                "PASSWORD_HASH_CONCURRENCY",
                "must be between 1 and 256 (each hash holds 19 MiB)",
            ));
        }
        let queue_ms: u64 = parse_or(
            get("PASSWORD_HASH_QUEUE_TIMEOUT_MS"),
            "PASSWORD_HASH_QUEUE_TIMEOUT_MS",
            "1000",
        )?;
        if queue_ms > 30_000 {
            return Err(ConfigError::new(
                "PASSWORD_HASH_QUEUE_TIMEOUT_MS",
                "must be between 0 and 30000 milliseconds",
            ));
        }
        let password_hash_queue_timeout = Duration::from_millis(queue_ms);
        let outbox = OutboxSettings::from_vars(&get)?;
        let notify = NotifySettings::from_vars(&get, app_env)?;

        Ok(Self {
            app_env,
            bind_addr,
            public_url,
            database_url,
            database_max_connections,
            blob_store,
            s3,
            data_dir,
            master_key,
            previous_master_keys,
            signing_key,
            log_format,
            log_filter,
            max_body_bytes,
            request_timeout,
            shutdown_timeout,
            http_workers,
            metrics_token,
            session_idle,
            session_absolute,
            step_up,
            max_upload_bytes,
            storage_quota_bytes,
            password_hash_concurrency,
            password_hash_queue_timeout,
            grants,
            outbox,
            qr_ttl: Duration::from_secs(qr_ttl_secs),
            qr_card_days,
            qr_tokens_per_minute,
            notify,
        })
    }

    /// Cookies get the `Secure` flag unless the service is reached over plain http (local dev).
    pub fn cookies_secure(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The database URL with any password replaced, fit for a log line.
    pub fn database_url_for_logs(&self) -> String {
        redact_url(&self.database_url)
    }
}

/// Replaces the password of a URL with `***` (leaves non-URLs such as sqlite paths as they are).
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

fn parse_or<T>(value: Option<String>, name: &'static str, default: &str) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    let raw = value.unwrap_or_else(|| default.to_owned());
    raw.trim()
        .parse()
        .map_err(|e| ConfigError::new(name, format!("cannot parse `{raw}`: {e}")))
}

fn parse_bool(
    value: Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match value
        .as_deref()
        .map(str::trim)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => Ok(default),
        Some("1") | Some("true") | Some("yes") | Some("on") => Ok(true),
        Some("0") | Some("false") | Some("no") | Some("off") => Ok(false),
        Some(other) => Err(ConfigError::new(
            name,
            format!("expected true or false, got `{other}`"),
        )),
    }
}

fn seconds(
    value: Option<String>,
    name: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    let secs: u64 = parse_or(value, name, &default.to_string())?;
    if secs == 0 || secs > 86_400 {
        return Err(ConfigError::new(
            name,
            "must be between 1 and 86400 seconds",
        ));
    }
    Ok(Duration::from_secs(secs))
}

fn minutes(
    value: Option<String>,
    name: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    let minutes: u64 = parse_or(value, name, &default.to_string())?;
    if minutes == 0 || minutes > 7 * 24 * 60 {
        return Err(ConfigError::new(
            name,
            "must be between 1 and 10080 minutes",
        ));
    }
    Ok(Duration::from_secs(minutes * 60))
}

fn parse_http_url(name: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| ConfigError::new(name, format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::new(name, "must be an http:// or https:// URL"));
    }
    Ok(url)
}

fn key_source(
    get: &dyn Fn(&str) -> Option<String>,
    inline: &'static str,
    file: &'static str,
) -> Result<Option<KeySource>, ConfigError> {
    match (get(inline), get(file)) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            inline,
            format!("set either {inline} or {file}, not both"),
        )),
        (Some(value), None) => Ok(Some(KeySource::Inline(Secret::new(value)))),
        (None, Some(path)) => Ok(Some(KeySource::File(PathBuf::from(path)))),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn qr_card_days_default_to_a_year_and_are_bounded() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(config.qr_card_days, 365);
        let config = Config::from_vars(&vars(&[("CONGDANSO_QR_CARD_DAYS", "730")])).unwrap();
        assert_eq!(config.qr_card_days, 730);
        for bad in ["0", "1826", "-1", "year"] {
            let err = Config::from_vars(&vars(&[("CONGDANSO_QR_CARD_DAYS", bad)])).unwrap_err();
            assert_eq!(err.variable, "CONGDANSO_QR_CARD_DAYS", "{bad}");
        }
    }

    #[test]
    fn qr_ttl_defaults_to_two_minutes_and_is_bounded() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(config.qr_ttl, Duration::from_secs(120));
        let config = Config::from_vars(&vars(&[("CONGDANSO_QR_TTL_SECONDS", "300")])).unwrap();
        assert_eq!(config.qr_ttl, Duration::from_secs(300));
        for bad in ["0", "29", "601", "two"] {
            let err = Config::from_vars(&vars(&[("CONGDANSO_QR_TTL_SECONDS", bad)])).unwrap_err();
            assert_eq!(err.variable, "CONGDANSO_QR_TTL_SECONDS", "{bad}");
        }
    }

    #[test]
    fn smtp_needs_a_sender_encryption_off_loopback_and_both_halves_of_a_login() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert!(
            config.notify.smtp.is_none(),
            "no email transport by default"
        );
        let base = [
            ("CONGDANSO_SMTP_HOST", "smtp.example.gov.vn"),
            (
                "CONGDANSO_SMTP_FROM",
                "Công dân số <thongbao@example.gov.vn>",
            ),
        ];
        let smtp = Config::from_vars(&vars(&base))
            .unwrap()
            .notify
            .smtp
            .unwrap();
        assert_eq!(smtp.tls, SmtpTls::StartTls);
        assert_eq!(smtp.port, 587);
        assert_eq!(smtp.from.email.to_string(), "thongbao@example.gov.vn");
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            Config::from_vars(&vars(&all))
        };
        let tls = with(&[("CONGDANSO_SMTP_TLS", "tls")])
            .unwrap()
            .notify
            .smtp
            .unwrap();
        assert_eq!((tls.tls, tls.port), (SmtpTls::Tls, 465));
        for (extra, variable) in [
            (&[("CONGDANSO_SMTP_TLS", "none")][..], "CONGDANSO_SMTP_TLS"),
            (&[("CONGDANSO_SMTP_TLS", "maybe")][..], "CONGDANSO_SMTP_TLS"),
            (
                &[("CONGDANSO_SMTP_USER", "cds")][..],
                "CONGDANSO_SMTP_PASSWORD",
            ),
            (
                &[("CONGDANSO_SMTP_PASSWORD", "x")][..],
                "CONGDANSO_SMTP_USER",
            ),
            (&[("CONGDANSO_SMTP_PORT", "0")][..], "CONGDANSO_SMTP_PORT"),
            (
                &[("CONGDANSO_SMTP_FROM", "not an address")][..],
                "CONGDANSO_SMTP_FROM",
            ),
        ] {
            let err = with(extra).unwrap_err();
            assert_eq!(err.variable, variable, "{extra:?}");
        }
        let err = Config::from_vars(&vars(&[("CONGDANSO_SMTP_HOST", "smtp.example.gov.vn")]))
            .unwrap_err();
        assert_eq!(err.variable, "CONGDANSO_SMTP_FROM");
        // Plain text only to a relay on this machine.
        let local = Config::from_vars(&vars(&[
            ("CONGDANSO_SMTP_HOST", "127.0.0.1"),
            ("CONGDANSO_SMTP_TLS", "none"),
            ("CONGDANSO_SMTP_FROM", "thongbao@example.gov.vn"),
        ]))
        .unwrap()
        .notify
        .smtp
        .unwrap();
        assert_eq!((local.tls, local.port), (SmtpTls::None, 25));
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(config.app_env, AppEnv::Development);
        assert_eq!(config.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(
            config.blob_store,
            BlobStoreConfig::Local(PathBuf::from("./data/blobs"))
        );
        assert!(!config.cookies_secure());
        assert!(config.password_hash_concurrency >= 2);
        assert_eq!(
            config.password_hash_queue_timeout,
            Duration::from_millis(1000)
        );
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let cases: &[(&str, &str, &str)] = &[
            ("BIND_ADDR", "localhost", "BIND_ADDR"),
            ("APP_ENV", "staging", "APP_ENV"),
            ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
            ("BLOB_STORE_URL", "ftp://x", "BLOB_STORE_URL"),
            ("BLOB_STORE_URL", "s3://", "BLOB_STORE_URL"),
            ("LOG_FORMAT", "xml", "LOG_FORMAT"),
            ("MAX_BODY_BYTES", "-1", "MAX_BODY_BYTES"),
            ("REQUEST_TIMEOUT_SECS", "0", "REQUEST_TIMEOUT_SECS"),
            ("AWS_ALLOW_HTTP", "maybe", "AWS_ALLOW_HTTP"),
            ("PUBLIC_URL", "ftp://example.org", "PUBLIC_URL"),
            (
                "PASSWORD_HASH_CONCURRENCY",
                "0",
                "PASSWORD_HASH_CONCURRENCY",
            ),
            (
                "PASSWORD_HASH_CONCURRENCY",
                "many",
                "PASSWORD_HASH_CONCURRENCY",
            ),
            (
                "PASSWORD_HASH_CONCURRENCY",
                "1000",
                "PASSWORD_HASH_CONCURRENCY",
            ),
            (
                "PASSWORD_HASH_QUEUE_TIMEOUT_MS",
                "-5",
                "PASSWORD_HASH_QUEUE_TIMEOUT_MS",
            ),
            (
                "PASSWORD_HASH_QUEUE_TIMEOUT_MS",
                "60000",
                "PASSWORD_HASH_QUEUE_TIMEOUT_MS",
            ),
        ];
        for (name, value, expected) in cases {
            let err = Config::from_vars(&vars(&[(name, value)])).unwrap_err();
            assert_eq!(err.variable, *expected, "{name}={value}");
            assert!(err.to_string().contains(expected));
        }
    }

    #[test]
    fn blob_store_urls_parse_into_backends() {
        assert_eq!(
            BlobStoreConfig::parse("s3://congdanso-blobs/prod/eu").unwrap(),
            BlobStoreConfig::S3 {
                bucket: "congdanso-blobs".into(),
                prefix: "prod/eu".into()
            }
        );
        assert_eq!(
            BlobStoreConfig::parse("memory://").unwrap(),
            BlobStoreConfig::Memory
        );
        assert_eq!(
            BlobStoreConfig::parse("file:///var/lib/cds").unwrap(),
            BlobStoreConfig::Local(PathBuf::from("/var/lib/cds"))
        );
        assert!(BlobStoreConfig::parse("s3://UPPER").is_err());
        assert!(BlobStoreConfig::parse("file://").is_err());
    }

    #[test]
    fn production_requires_keys_and_https() {
        let err = Config::from_vars(&vars(&[("APP_ENV", "production")])).unwrap_err();
        assert_eq!(err.variable, "MASTER_KEY");
        let err = Config::from_vars(&vars(&[("APP_ENV", "production"), ("MASTER_KEY", "x")]))
            .unwrap_err();
        assert_eq!(err.variable, "SIGNING_KEY");
        let err = Config::from_vars(&vars(&[
            ("APP_ENV", "production"),
            ("MASTER_KEY", "x"),
            ("SIGNING_KEY", "y"),
        ]))
        .unwrap_err();
        assert_eq!(err.variable, "PUBLIC_URL");
        let err = Config::from_vars(&vars(&[
            ("APP_ENV", "production"),
            ("MASTER_KEY", "x"),
            ("SIGNING_KEY", "y"),
            ("PUBLIC_URL", "https://congdanso.example"),
        ]))
        .unwrap_err();
        assert_eq!(err.variable, "METRICS_TOKEN", "/metrics must not be public");
        let ok = Config::from_vars(&vars(&[
            ("APP_ENV", "production"),
            ("MASTER_KEY", "x"),
            ("SIGNING_KEY", "y"),
            ("PUBLIC_URL", "https://congdanso.example"),
            ("METRICS_TOKEN", "a-long-enough-metrics-token"),
        ]))
        .unwrap();
        assert!(ok.cookies_secure());
        // Development stays easy: no token, public metrics.
        assert!(
            Config::from_vars(&vars(&[]))
                .unwrap()
                .metrics_token
                .is_none()
        );
    }

    #[test]
    fn key_given_twice_is_refused() {
        let err = Config::from_vars(&vars(&[("MASTER_KEY", "a"), ("MASTER_KEY_FILE", "/k")]))
            .unwrap_err();
        assert_eq!(err.variable, "MASTER_KEY");
    }

    #[test]
    fn plain_http_s3_endpoint_needs_explicit_consent() {
        let err =
            Config::from_vars(&vars(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")])).unwrap_err();
        assert_eq!(err.variable, "AWS_ALLOW_HTTP");
        let ok = Config::from_vars(&vars(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("AWS_ALLOW_HTTP", "true"),
        ]))
        .unwrap();
        assert!(ok.s3.allow_http);
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let config = Config::from_vars(&vars(&[
            ("MASTER_KEY", "super-secret-master"),
            ("AWS_SECRET_ACCESS_KEY", "super-secret-s3"),
        ]))
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("super-secret"), "{debug}");
    }

    #[test]
    fn database_password_is_redacted_for_logs() {
        assert_eq!(
            redact_url("postgres://user:hunter2@db/congdanso"),
            "postgres://user:***@db/congdanso"
        );
        assert_eq!(redact_url(DEFAULT_DATABASE_URL), DEFAULT_DATABASE_URL);
    }
}
