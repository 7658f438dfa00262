//! Periodic clean-up that keeps the database small: finished sessions and stale throttle
//! counters. Safe to run on several instances at once (deletes are idempotent).

use std::time::Duration;

use tokio::sync::watch;

use crate::state::AppState;

/// How often the clean-up runs.
pub const INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Ended or expired sessions are kept this long (the account page no longer shows them).
const SESSION_RETENTION_DAYS: i64 = 7;
/// Throttle counters untouched this long are forgotten.
const THROTTLE_RETENTION_HOURS: i64 = 24;

/// One pass; returns (sessions, throttles) deleted.
pub async fn run_once(state: &AppState) -> Result<(u64, u64), sea_orm::DbErr> {
    let now = state.clock.now();
    let sessions = crate::auth::repo::delete_finished_before(
        &state.db,
        now - chrono::Duration::days(SESSION_RETENTION_DAYS),
    )
    .await?;
    let throttles = crate::accounts::repo::delete_stale_throttles(
        &state.db,
        now - chrono::Duration::hours(THROTTLE_RETENTION_HOURS),
    )
    .await?;
    Ok((sessions, throttles))
}

/// Runs [`run_once`] every [`INTERVAL`] until shutdown.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        match run_once(&state).await {
            Ok((sessions, throttles)) => {
                tracing::debug!(sessions, throttles, "housekeeping done")
            }
            Err(error) => tracing::warn!(%error, "housekeeping failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => {}
            _ = shutdown.changed() => return,
        }
    }
}
