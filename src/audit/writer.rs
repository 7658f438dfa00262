//! Group commit for the entries of reads that change nothing. Each such read must have its
//! entry committed before its data is handed out; committing each entry alone makes every read
//! one write transaction (on SQLite, 32 of them at once fight over the one write lock and sleep
//! in its busy handler; on PostgreSQL each waits for its own WAL flush). Instead the reads of
//! this instance queue their rows and one of them — whoever holds the flush lock — writes all
//! queued rows in one transaction; everyone returns once the transaction holding their row has
//! committed, or with its error. No background task: a flush runs in a caller's own task.

use std::sync::Mutex;

use entity::access_log_pending;
use sea_orm::{DatabaseConnection, TransactionTrait};

use super::repo;
use crate::error::AppError;

#[derive(Default)]
struct Queue {
    /// Rows waiting, with their tickets, in ticket order.
    rows: Vec<(u64, access_log_pending::Model)>,
    next_ticket: u64,
    /// Every ticket up to this one has been written (or failed).
    flushed_through: Option<u64>,
    /// Tickets whose flush failed, with the error.
    failed: Vec<(u64, String)>,
}

/// One per instance (in `AppState`).
#[derive(Default)]
pub struct GroupCommit {
    queue: Mutex<Queue>,
    flush: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit")
    }
}

/// Rows written per transaction at most.
const MAX_BATCH: usize = 512;

impl GroupCommit {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue half-changed (each critical
        // section is a push or a drain), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `row` and returns once it is committed.
    pub async fn write(
        &self,
        db: &DatabaseConnection,
        row: access_log_pending::Model,
    ) -> Result<(), AppError> {
        let ticket = {
            let mut queue = self.lock();
            let ticket = queue.next_ticket;
            queue.next_ticket += 1;
            queue.rows.push((ticket, row));
            ticket
        };
        loop {
            let _flushing = self.flush.lock().await;
            if let Some(outcome) = self.outcome(ticket) {
                return outcome;
            }
            let batch: Vec<(u64, access_log_pending::Model)> = {
                let mut queue = self.lock();
                let take = queue.rows.len().min(MAX_BATCH);
                queue.rows.drain(..take).collect()
            };
            let Some(last) = batch.last().map(|(t, _)| *t) else {
                continue;
            };
            let tickets: Vec<u64> = batch.iter().map(|(t, _)| *t).collect();
            let result = Self::commit(db, batch.into_iter().map(|(_, r)| r).collect()).await;
            let mut queue = self.lock();
            if let Err(error) = result {
                let text = error.to_string();
                queue
                    .failed
                    .extend(tickets.into_iter().map(|t| (t, text.clone())));
            }
            queue.flushed_through = Some(last);
        }
    }

    /// Holds off every flush of this instance while the guard lives (the SQLite sequencer).
    pub async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.flush.lock().await
    }

    /// `Some` once `ticket`'s batch was written: its result.
    fn outcome(&self, ticket: u64) -> Option<Result<(), AppError>> {
        let mut queue = self.lock();
        if queue.flushed_through.is_none_or(|done| done < ticket) {
            return None;
        }
        match queue.failed.iter().position(|(t, _)| *t == ticket) {
            Some(at) => {
                let (_, error) = queue.failed.swap_remove(at);
                Some(Err(AppError::internal(format!(
                    "access-log entry not written: {error}"
                ))))
            }
            None => Some(Ok(())),
        }
    }

    async fn commit(
        db: &DatabaseConnection,
        rows: Vec<access_log_pending::Model>,
    ) -> Result<(), AppError> {
        let txn = db.begin().await?;
        repo::insert_pending_many(&txn, rows).await?;
        txn.commit().await?;
        Ok(())
    }
}
