//! Group commit for the entries of reads that change nothing. Each such read must have its
//! entry committed before its data is handed out; committing each entry alone makes every read
//! one write transaction (on SQLite, 32 of them at once fight over the one write lock and sleep
//! in its busy handler; on PostgreSQL each waits for its own WAL flush). Instead the reads of
//! this instance queue their rows and one of them — whoever holds the flush lock — writes all
//! queued rows in one transaction; everyone returns once the transaction holding their row has
//! committed, or with its error. No background task: a flush runs in a caller's own task.
//!
//! A read that spends something (an agency's use of a grant) queues its row with a [`Claim`]:
//! the batch's transaction takes the use (a compare-and-set) and writes the row only if the
//! use was taken, so the use and its entry commit together or not at all, and the read is
//! answered only after that commit — as if it had its own transaction, without paying for one.

use std::sync::Mutex;

use entity::access_log_pending;
use sea_orm::{DatabaseConnection, TransactionTrait};

use uuid::Uuid;

use super::repo;
use crate::error::AppError;
use crate::grants::repo::{self as grants_repo, Form};

/// Something a read spends, taken in the same transaction as its entry.
#[derive(Debug, Clone, Copy)]
pub enum Claim {
    /// One use of `form` of a document under a grant, if fewer than `max_uses` were taken.
    /// When taken, the citizen's grant-use alert joins the batch of this grant's current
    /// window (`crate::notify::service::grant_used`) in the same transaction.
    GrantUse {
        grant: Uuid,
        document: Uuid,
        form: Form,
        max_uses: i32,
        citizen: Uuid,
        agency: Uuid,
        at: chrono::DateTime<chrono::Utc>,
        window: std::time::Duration,
    },
}

/// What became of a queued row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Committed (with its claim, if it had one).
    Committed,
    /// Its claim could not be taken (nothing left): neither the claim nor the row was written.
    ClaimRefused,
}

struct Item {
    row: access_log_pending::Model,
    claim: Option<Claim>,
}

#[derive(Default)]
struct Queue {
    /// Rows waiting, with their tickets, in ticket order.
    rows: Vec<(u64, Item)>,
    next_ticket: u64,
    /// Every ticket up to this one has been written (or failed).
    flushed_through: Option<u64>,
    /// Tickets whose flush failed, with the error.
    failed: Vec<(u64, String)>,
    /// Tickets whose claim was refused.
    refused: Vec<u64>,
}

/// The grant-use alert of one grant and window, for the uses one batch took.
struct GrantAlert {
    at: chrono::DateTime<chrono::Utc>,
    window: std::time::Duration,
    citizen: Uuid,
    agency: Uuid,
    uses: i32,
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
        self.write_item(db, Item { row, claim: None }).await?;
        Ok(())
    }

    /// Queues `row` with `claim` and returns once the batch holding them committed: whether
    /// the claim was taken (and the row written) or refused (and nothing written).
    pub async fn write_claiming(
        &self,
        db: &DatabaseConnection,
        row: access_log_pending::Model,
        claim: Claim,
    ) -> Result<Written, AppError> {
        self.write_item(
            db,
            Item {
                row,
                claim: Some(claim),
            },
        )
        .await
    }

    async fn write_item(&self, db: &DatabaseConnection, item: Item) -> Result<Written, AppError> {
        let ticket = {
            let mut queue = self.lock();
            let ticket = queue.next_ticket;
            queue.next_ticket += 1;
            queue.rows.push((ticket, item));
            ticket
        };
        loop {
            let _flushing = self.flush.lock().await;
            if let Some(outcome) = self.outcome(ticket) {
                return outcome;
            }
            let batch: Vec<(u64, Item)> = {
                let mut queue = self.lock();
                let take = queue.rows.len().min(MAX_BATCH);
                queue.rows.drain(..take).collect()
            };
            let Some(last) = batch.last().map(|(t, _)| *t) else {
                continue;
            };
            let tickets: Vec<u64> = batch.iter().map(|(t, _)| *t).collect();
            let result = Self::commit(db, batch).await;
            let mut queue = self.lock();
            match result {
                Ok(refused) => queue.refused.extend(refused),
                Err(error) => {
                    let text = error.to_string();
                    queue
                        .failed
                        .extend(tickets.into_iter().map(|t| (t, text.clone())));
                }
            }
            queue.flushed_through = Some(last);
        }
    }

    /// Holds off every flush of this instance while the guard lives (the SQLite sequencer).
    pub async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.flush.lock().await
    }

    /// `Some` once `ticket`'s batch was written: its result.
    fn outcome(&self, ticket: u64) -> Option<Result<Written, AppError>> {
        let mut queue = self.lock();
        if queue.flushed_through.is_none_or(|done| done < ticket) {
            return None;
        }
        if let Some(at) = queue.failed.iter().position(|(t, _)| *t == ticket) {
            let (_, error) = queue.failed.swap_remove(at);
            return Some(Err(AppError::internal(format!(
                "access-log entry not written: {error}"
            ))));
        }
        if let Some(at) = queue.refused.iter().position(|t| *t == ticket) {
            queue.refused.swap_remove(at);
            return Some(Ok(Written::ClaimRefused));
        }
        Some(Ok(Written::Committed))
    }

    /// Writes one batch in one transaction: each claim in ticket order (a claim the batch's
    /// earlier claims used up is refused like any other), then one grant-use alert per grant and
    /// window for the uses taken (counting them), then the rows whose claims were taken.
    /// Returns the tickets whose claim was refused.
    async fn commit(
        db: &DatabaseConnection,
        batch: Vec<(u64, Item)>,
    ) -> Result<Vec<u64>, AppError> {
        // On SQLite the transaction's first statement must be a write (see
        // `access::begin_logged`): a claim's UPDATE or the INSERT is.
        let txn = db.begin().await?;
        let mut refused = Vec::new();
        let mut rows = Vec::with_capacity(batch.len());
        // (grant, window start) → the alert's details and the uses taken in this batch.
        let mut alerts: Vec<((Uuid, i64), GrantAlert)> = Vec::new();
        for (ticket, item) in batch {
            let taken = match item.claim {
                None => true,
                Some(Claim::GrantUse {
                    grant,
                    document,
                    form,
                    max_uses,
                    citizen,
                    agency,
                    at,
                    window,
                }) => {
                    let taken =
                        grants_repo::take_use(&txn, grant, document, form, max_uses).await?;
                    if taken {
                        let key = (grant, crate::notify::service::window(at, window).0);
                        match alerts.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, alert)) => alert.uses += 1,
                            None => alerts.push((
                                key,
                                GrantAlert {
                                    at,
                                    window,
                                    citizen,
                                    agency,
                                    uses: 1,
                                },
                            )),
                        }
                    }
                    taken
                }
            };
            if taken {
                rows.push(item.row);
            } else {
                refused.push(ticket);
            }
        }
        for ((grant, _), alert) in alerts {
            crate::notify::service::grant_used(
                &txn,
                alert.at,
                alert.window,
                alert.citizen,
                grant,
                alert.agency,
                alert.uses,
            )
            .await?;
        }
        if !rows.is_empty() {
            repo::insert_pending_many(&txn, rows).await?;
        }
        txn.commit().await?;
        Ok(refused)
    }
}
