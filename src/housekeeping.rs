//! Periodic clean-up: finished sessions, stale throttle counters, expired certification codes,
//! and orphan blobs of uploads that never completed (the vault sweep). Safe to run on several instances at once (deletes are
//! idempotent). Also run by `congdanso maintenance sweep`.

use std::time::Duration;

use tokio::sync::watch;

use crate::state::AppState;

/// How often the clean-up runs.
pub const INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Ended or expired sessions are kept this long (the account page no longer shows them).
const SESSION_RETENTION_DAYS: i64 = 7;
/// Throttle counters untouched this long are forgotten.
const THROTTLE_RETENTION_HOURS: i64 = 24;

/// Uploads older than this with no document are orphans.
pub const UPLOAD_GRACE_HOURS: i64 = 1;

/// What one pass removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    pub sessions: u64,
    pub throttles: u64,
    pub orphan_blobs: u64,
    /// Certification codes expired for more than a day.
    pub certification_codes: u64,
    /// Access requests past their answer-by time, marked expired.
    pub expired_requests: u64,
    /// Used QR tokens long expired (a replay is refused as expired anyway).
    pub qr_token_uses: u64,
    /// Inbox messages older than 90 days, deleted.
    pub notifications: u64,
    /// "About to expire" warnings queued (each request and grant is warned once).
    pub expiry_warnings: u64,
}

/// One pass.
pub async fn run_once(state: &AppState) -> Result<Report, crate::error::AppError> {
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
    let orphan_blobs =
        crate::vault::service::sweep(state, chrono::Duration::hours(UPLOAD_GRACE_HOURS)).await?;
    let certification_codes = crate::vault::repo::delete_stale_certification_requests(
        &state.db,
        now - chrono::Duration::days(1),
    )
    .await?;
    // Reads already treat unanswered requests past their time as expired; this only marks them.
    let expired_requests = crate::grants::service::tidy(state).await?;
    let qr_token_uses = crate::qr::service::sweep(state).await?;
    let notifications = crate::notify::service::prune(state).await?;
    let expiry_warnings = crate::notify::service::expiry_warnings(state).await?;
    Ok(Report {
        notifications,
        expiry_warnings,
        sessions,
        throttles,
        orphan_blobs,
        certification_codes,
        expired_requests,
        qr_token_uses,
    })
}

/// Runs [`run_once`] every [`INTERVAL`] until shutdown.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        match run_once(&state).await {
            Ok(report) => tracing::debug!(?report, "housekeeping done"),
            Err(error) => tracing::warn!(%error, "housekeeping failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => {}
            _ = shutdown.changed() => return,
        }
    }
}
