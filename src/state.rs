//! The state every handler can reach, shared as `web::Data<AppState>`. Everything an instance
//! knows lives in the database or the blob store; this holds only handles to them, so several
//! instances behind a load balancer behave as one.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::accounts::password::HashPool;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::keys::Keyring;
use crate::ops::metrics::Metrics;
use crate::storage::BlobStore;

#[derive(Clone, Debug)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: DatabaseConnection,
    pub blobs: BlobStore,
    pub keys: Arc<Keyring>,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    /// Bounded, memory-flat password hashing (see `accounts::password::HashPool`).
    pub passwords: Arc<HashPool>,
    /// Group commit of the access-log entries of reads (see `audit::writer`).
    pub log_writer: Arc<crate::audit::writer::GroupCommit>,
    /// Names shown on access-log pages, kept a minute (see `audit::plain::NameCache`).
    pub names: Arc<crate::audit::plain::NameCache>,
    /// Fresh QR tokens per account and minute on this instance (see `qr::throttle`).
    pub qr_tokens: Arc<crate::qr::throttle::TokenThrottle>,
}
