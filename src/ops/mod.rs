//! Operations endpoints: liveness, readiness and Prometheus metrics.

pub mod metrics;

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::error::AppError;
use crate::state::AppState;

/// How long one dependency check may take before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct DependencyStatus {
    pub status: &'static str,
    pub backend: &'static str,
}

#[derive(Serialize, Debug)]
pub struct Readiness {
    pub status: &'static str,
    pub checks: ReadinessChecks,
}

#[derive(Serialize, Debug)]
pub struct ReadinessChecks {
    pub database: DependencyStatus,
    pub blob_store: DependencyStatus,
    pub master_keys: MasterKeyStatus,
}

/// Whether this instance holds every master key that wraps live data.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct MasterKeyStatus {
    pub status: &'static str,
    /// Ids of master keys that wrap data but are not configured here (`MASTER_KEY`,
    /// `MASTER_KEY_PREVIOUS`): the accounts they wrap cannot log in until they are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// Alive: the process answers. Never touches a dependency, so a slow database does not get
/// healthy instances killed.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Ready: the database and the blob store both answer, and this instance holds every master key
/// that wraps live data. 503 otherwise, so a load balancer stops sending traffic here (an
/// instance missing a key would fail the logins of everyone that key wraps).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let readiness = check_readiness(&state).await;
    let status = if readiness.status == "ok" {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(status).json(readiness)
}

/// Checks every dependency concurrently, each with its own time limit.
pub async fn check_readiness(state: &AppState) -> Readiness {
    let database = async {
        match tokio::time::timeout(CHECK_TIMEOUT, state.db.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                tracing::warn!(%error, "readiness: database check failed");
                false
            }
            Err(_) => {
                tracing::warn!("readiness: database check timed out");
                false
            }
        }
    };
    let blobs = async {
        match tokio::time::timeout(CHECK_TIMEOUT, state.blobs.check()).await {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                tracing::warn!(%error, "readiness: blob store check failed");
                false
            }
            Err(_) => {
                tracing::warn!("readiness: blob store check timed out");
                false
            }
        }
    };
    let master_keys = async {
        let check = crate::keys::repo::unheld_master_keys_in_use(&state.db, &state.keys);
        match tokio::time::timeout(CHECK_TIMEOUT, check).await {
            Ok(Ok(missing)) => {
                if !missing.is_empty() {
                    tracing::error!(
                        missing = %missing.join(", "),
                        "readiness: master keys that wrap live data are not configured \
                         (MASTER_KEY / MASTER_KEY_PREVIOUS)"
                    );
                }
                Some(missing)
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "readiness: master key check failed");
                None
            }
            Err(_) => {
                tracing::warn!("readiness: master key check timed out");
                None
            }
        }
    };
    let (database_ok, blobs_ok, missing_keys) = futures_util::join!(database, blobs, master_keys);
    let keys_ok = missing_keys.as_ref().is_some_and(Vec::is_empty);
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let database_backend = match state.db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => "postgres",
        sea_orm::DatabaseBackend::Sqlite => "sqlite",
        _ => "other",
    };
    Readiness {
        status: word(database_ok && blobs_ok && keys_ok),
        checks: ReadinessChecks {
            database: DependencyStatus {
                status: word(database_ok),
                backend: database_backend,
            },
            blob_store: DependencyStatus {
                status: word(blobs_ok),
                backend: state.blobs.backend().as_str(),
            },
            master_keys: MasterKeyStatus {
                status: match &missing_keys {
                    Some(missing) if missing.is_empty() => "ok",
                    Some(_) => "missing",
                    None => "unavailable",
                },
                missing: missing_keys.unwrap_or_default(),
            },
        },
    }
}

/// Prometheus text exposition. When `METRICS_TOKEN` is set, a matching bearer token is required.
pub async fn metrics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    if let Some(expected) = &state.config.metrics_token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if crate::config::Secret::new(presented) != *expected {
            return Err(AppError::Unauthenticated);
        }
    }
    let (pending, oldest) = crate::audit::repo::pending_summary(&state.db).await?;
    state
        .metrics
        .access_log_pending
        .set(i64::try_from(pending).unwrap_or(i64::MAX));
    state
        .metrics
        .access_log_oldest_pending_seconds
        .set(oldest.map_or(0, |at| (state.clock.now() - at).num_seconds().max(0)));
    let (pending, dead, oldest) = crate::outbox::repo::summary(&state.db).await?;
    let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    state.metrics.outbox_pending.set(gauge(pending));
    state.metrics.outbox_dead.set(gauge(dead));
    for (kind, status, n) in crate::outbox::repo::counts_by_kind(&state.db).await? {
        state
            .metrics
            .outbox_messages
            .get_or_create(&crate::ops::metrics::ChannelLabels {
                channel: kind,
                status,
            })
            .set(n);
    }
    state
        .metrics
        .outbox_oldest_pending_seconds
        .set(oldest.map_or(0, |at| (state.clock.now() - at).num_seconds().max(0)));
    let body = state.metrics.render().map_err(AppError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(body))
}
