//! Building and running the application: state from configuration, the actix `App` with its
//! middleware, the HTTP server, and background tasks that stop with it.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::error;
use crate::keys::Keyring;
use crate::middleware::{compress, error_pages, head_as_get, request_context, security_headers};
use crate::ops::metrics::Metrics;
use crate::routes;
use crate::state::AppState;
use crate::storage::BlobStore;

/// A start-up failure, said plainly for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("keys: {0}")]
    Keys(#[from] crate::keys::KeyError),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("blob store: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// Opens every dependency named by the configuration and brings the database up to date.
pub async fn build_state(config: Config, clock: SharedClock) -> Result<AppState, StartupError> {
    let keys = Keyring::load(&config)?;
    build_state_with_keys(config, clock, keys).await
}

/// Like [`build_state`], with keys supplied by the caller (tests, tools).
pub async fn build_state_with_keys(
    config: Config,
    clock: SharedClock,
    keys: Keyring,
) -> Result<AppState, StartupError> {
    tracing::info!(database = %config.database_url_for_logs(), "opening database");
    let db = crate::db::connect(&config.database_url, config.database_max_connections).await?;
    crate::db::migrate(&db).await?;
    // A retired master key wraps nothing live any more: an instance started with it would
    // answer /readyz and then fail every login. Refuse, naming the key and the variable.
    if let Some((id, retired_at)) = crate::keys::repo::retired_current_master(&db, &keys).await? {
        return Err(crate::keys::KeyError::Invalid {
            variable: "MASTER_KEY",
            problem: format!(
                "{id} was retired at {} (key rotation moved every data key to a newer master \
                 key); set MASTER_KEY (or MASTER_KEY_FILE) to the current master key",
                retired_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        }
        .into());
    }
    crate::keys::repo::register(&db, &keys, clock.now()).await?;
    let blobs = BlobStore::open(&config.blob_store, &config.s3)?;
    tracing::info!(backend = blobs.backend().as_str(), "blob store ready");
    let passwords = Arc::new(crate::accounts::password::HashPool::new(
        config.password_hash_concurrency,
        config.password_hash_queue_timeout,
    ));
    Ok(AppState {
        config: Arc::new(config),
        db,
        blobs,
        keys: Arc::new(keys),
        clock,
        metrics: Arc::new(Metrics::new()),
        passwords,
        log_writer: Arc::default(),
        names: Arc::default(),
        qr_tokens: Arc::default(),
    })
}

/// The application with every route and middleware, ready for a server or `actix_web::test`.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let limit = state.config.max_body_bytes;
    let https = state.config.cookies_secure();
    App::new()
        .app_data(web::Data::new(state))
        .app_data(error::json_config(limit))
        .app_data(error::form_config(limit))
        .app_data(error::payload_config(limit))
        .app_data(error::path_config())
        .app_data(error::query_config())
        .configure(routes::configure)
        .default_service(web::to(routes::not_found))
        // Last added runs first: request context wraps everything, including error pages.
        .wrap(from_fn(error_pages))
        .wrap(security_headers(https))
        .wrap(from_fn(compress))
        .wrap(from_fn(head_as_get))
        .wrap(from_fn(request_context))
}

/// Tasks that run beside the server and stop when it stops.
pub struct BackgroundTasks {
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Default for BackgroundTasks {
    fn default() -> Self {
        Self::new()
    }
}

impl BackgroundTasks {
    pub fn new() -> Self {
        let (shutdown, _) = watch::channel(false);
        Self {
            shutdown,
            tasks: JoinSet::new(),
        }
    }

    /// Starts a task; it receives a signal that turns `true` when the server stops and should
    /// finish its current unit of work and return.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, task: F)
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let future = task(self.shutdown.subscribe());
        self.tasks.spawn(async move {
            future.await;
            tracing::info!(task = name, "background task stopped");
        });
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Signals every task to stop and waits for them.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// A bound, not yet running server with its background tasks.
pub struct Application {
    server: Server,
    local_addr: std::net::SocketAddr,
    tasks: BackgroundTasks,
}

impl Application {
    /// Builds the state, binds the listener (port 0 picks a free port) and prepares the server.
    /// The server stops gracefully on SIGINT / SIGTERM: in-flight requests get
    /// `SHUTDOWN_TIMEOUT_SECS` to finish.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let clock: SharedClock = Arc::new(SystemClock);
        let state = build_state(config, clock).await?;
        Self::from_state(state)
    }

    pub fn from_state(state: AppState) -> Result<Self, StartupError> {
        let config = state.config.clone();
        let listener =
            TcpListener::bind(config.bind_addr).map_err(|source| StartupError::Bind {
                addr: config.bind_addr.to_string(),
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: config.bind_addr.to_string(),
            source,
        })?;
        let mut tasks = BackgroundTasks::new();
        let housekeeping_state = state.clone();
        tasks.spawn("housekeeping", move |shutdown| {
            crate::housekeeping::run(housekeeping_state, shutdown)
        });
        let publisher_state = state.clone();
        tasks.spawn("access-log checkpoints", move |shutdown| {
            crate::audit::service::run_publisher(publisher_state, shutdown)
        });
        let outbox_state = state.clone();
        tasks.spawn("outbox deliverer", move |shutdown| {
            crate::outbox::run(outbox_state, shutdown)
        });
        let app_state = state.clone();
        // Without TCP_NODELAY a response written in two pieces waits for the client's delayed
        // ACK (40 ms on Linux) before its second piece leaves.
        let mut server = HttpServer::new(move || app(app_state.clone()))
            .tcp_nodelay(true)
            .shutdown_timeout(config.shutdown_timeout.as_secs())
            .client_request_timeout(std::time::Duration::from_secs(10))
            .client_disconnect_timeout(std::time::Duration::from_secs(5))
            .listen(listener)
            .map_err(|source| StartupError::Bind {
                addr: config.bind_addr.to_string(),
                source,
            })?;
        if config.http_workers > 0 {
            server = server.workers(config.http_workers);
        }
        Ok(Self {
            server: server.run(),
            local_addr,
            tasks,
        })
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local_addr
    }

    /// A handle that can stop the server (tests; signals are handled by actix itself).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until a shutdown signal, then stops background tasks.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tracing::info!(addr = %self.local_addr, "listening");
        let result = self.server.await;
        tracing::info!("server stopped; stopping background tasks");
        self.tasks.stop().await;
        tracing::info!("shutdown complete");
        result
    }
}
