//! The access log's rules: append an entry inside the caller's transaction, publish signed
//! checkpoints of the tree, list a citizen's entries, erase content, export a citizen's log
//! with proofs, and verify the whole log on the server.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use entity::{access_log_checkpoint, access_log_entry, access_log_pending};
use sea_orm::ConnectionTrait;
use tokio::sync::watch;
use uuid::Uuid;

use super::export::{self, ChainHead, Export, ExportEntry};
use super::model::{Content, Entry, GENESIS, entry_leaf_hash, to_hash, truncate_to_micros};
use super::repo;
use crate::crypto::merkle::{self, CompactTree, Hash};
use crate::crypto::note::Checkpoint;
use crate::error::AppError;
use crate::keys::PlatformSigningKey;
use crate::state::AppState;

/// How often the background task publishes a checkpoint (when the tree grew).
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(60);
/// How often the background task sequences waiting entries.
pub const INTEGRATE_INTERVAL: Duration = Duration::from_secs(1);
/// Rows read per query when scanning the whole log.
const SCAN_BATCH: u64 = 1000;

/// Where an appended entry sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef {
    pub id: Uuid,
    pub account: Uuid,
    pub seq: i64,
    pub leaf_index: i64,
    pub leaf_hash: Hash,
}

fn damaged(what: impl std::fmt::Display) -> AppError {
    AppError::internal(format!(
        "access log damaged ({what}); run `congdanso audit verify`"
    ))
}

fn lost_race() -> AppError {
    AppError::Conflict {
        code: "access_log_conflict",
        message: "the access log moved under this transaction; retry".to_owned(),
    }
}

/// Writes `entry` inside the caller's transaction `conn` (commit it with the action the entry
/// records): its content and salted hash are fixed now, its place in the citizen's chain and
/// in the tree is given by [`integrate`] within about a second. Takes no lock, so reads of one
/// citizen, and of all citizens, do not queue on a head row through every commit. Returns the
/// entry's id.
pub async fn append(
    conn: &impl ConnectionTrait,
    at: DateTime<Utc>,
    entry: &Entry,
) -> Result<Uuid, AppError> {
    let row = pending_row(at, entry)?;
    let id = row.id;
    repo::insert_pending(conn, row).await?;
    Ok(id)
}

/// Commits `entry` on its own, for a read that changes nothing: returns once it is committed
/// (grouped with other reads' entries of this instance into one transaction, see
/// [`super::writer`]). Returns the entry's id.
pub async fn record(state: &AppState, at: DateTime<Utc>, entry: &Entry) -> Result<Uuid, AppError> {
    let row = pending_row(at, entry)?;
    let id = row.id;
    state.log_writer.write(&state.db, row).await?;
    Ok(id)
}

/// Commits `entry` on its own together with `claim` (see [`super::writer::Claim`]): the entry
/// is written only if the claim was taken, in the same transaction.
pub async fn record_claiming(
    state: &AppState,
    at: DateTime<Utc>,
    entry: &Entry,
    claim: super::writer::Claim,
) -> Result<super::writer::Written, AppError> {
    let row = pending_row(at, entry)?;
    state.log_writer.write_claiming(&state.db, row, claim).await
}

/// The waiting row of an entry: content encoded, a fresh salt, the salted hash.
fn pending_row(at: DateTime<Utc>, entry: &Entry) -> Result<access_log_pending::Model, AppError> {
    let at = truncate_to_micros(at);
    let content = Content::new(entry, at);
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).map_err(AppError::internal)?;
    let content_hash = content
        .hash(&salt)
        .ok_or_else(|| AppError::internal("entry too large to encode"))?;
    Ok(access_log_pending::Model {
        id: Uuid::now_v7(),
        account_id: entry.account,
        occurred_at: at,
        salt: salt.to_vec(),
        content_hash: content_hash.to_vec(),
        actor_kind: content.actor_kind,
        actor_id: content.actor_id,
        actor_agency_id: content.actor_agency,
        action: content.action,
        object_type: content.object_type,
        object_id: content.object_id,
        purpose: content.purpose,
        authorization: content.authorization,
        outcome: content.outcome,
    })
}

/// Pending entries sequenced per transaction at most (keeps each one short).
const INTEGRATE_BATCH: u64 = 250;

/// The sequencer, inside the caller's transaction: gives up to [`INTEGRATE_BATCH`] waiting
/// entries, oldest first, the next `seq` of their citizen's chain and the next leaf index of
/// the tree, and moves them to `access_log_entry`. Returns how many.
///
/// Concurrency: the tree-head row is made sure of and locked first (`FOR UPDATE` on
/// PostgreSQL; on SQLite the first write holds the database's single write lock), then each
/// citizen's chain head; a second sequencer (another instance) waits for the first and then
/// sees its work done. Both heads move by compare-and-set: if either moved anyway, this fails
/// with `access_log_conflict` and nothing is sequenced, never a fork or a reused index.
pub async fn integrate_in(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<u64, AppError> {
    let now = truncate_to_micros(now);
    repo::ensure_tree_head(conn).await?;
    let start = repo::lock_tree_head(conn)
        .await?
        .ok_or_else(|| AppError::internal("tree head vanished"))?;
    let batch = repo::pending_batch(conn, INTEGRATE_BATCH).await?;
    if batch.is_empty() {
        return Ok(0);
    }
    // Per citizen in this batch: (seq at the start, seq now, head hash now).
    let mut heads: HashMap<Uuid, (i64, i64, Hash)> = HashMap::new();
    let mut size = start;
    let mut rows = Vec::with_capacity(batch.len());
    for pending in &batch {
        let account = pending.account_id;
        let (_, seq, prev_hash) = match heads.entry(account) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                repo::ensure_chain_head(conn, account, now).await?;
                let head = repo::lock_chain_head(conn, account)
                    .await?
                    .ok_or_else(|| AppError::internal("chain head vanished"))?;
                let hash = to_hash(&head.head_hash).ok_or_else(|| damaged("chain head hash"))?;
                slot.insert((head.seq, head.seq, hash))
            }
        };
        let content_hash = to_hash(&pending.content_hash).ok_or_else(|| damaged("content hash"))?;
        let next = *seq + 1;
        let seq_u64 = u64::try_from(next).map_err(|_| damaged("chain head seq"))?;
        let leaf_u64 = u64::try_from(size).map_err(|_| damaged("tree size"))?;
        let leaf_hash = entry_leaf_hash(account, seq_u64, leaf_u64, prev_hash, &content_hash);
        rows.push(access_log_entry::Model {
            id: pending.id,
            account_id: account,
            seq: next,
            leaf_index: size,
            prev_hash: prev_hash.to_vec(),
            content_hash: content_hash.to_vec(),
            leaf_hash: leaf_hash.to_vec(),
            salt: Some(pending.salt.clone()),
            occurred_at: pending.occurred_at,
            actor_kind: Some(pending.actor_kind.clone()),
            actor_id: Some(pending.actor_id.clone()),
            actor_agency_id: Some(pending.actor_agency_id.clone()),
            action: Some(pending.action.clone()),
            object_type: Some(pending.object_type.clone()),
            object_id: Some(pending.object_id.clone()),
            purpose: Some(pending.purpose.clone()),
            authorization: Some(pending.authorization.clone()),
            outcome: Some(pending.outcome.clone()),
            erased: false,
            erased_at: None,
        });
        *seq = next;
        *prev_hash = leaf_hash;
        size += 1;
    }
    repo::insert_entries(conn, rows).await?;
    let moved = batch.len() as u64;
    let removed = repo::delete_pending(conn, batch.into_iter().map(|p| p.id).collect()).await?;
    if removed != moved {
        return Err(lost_race());
    }
    for (account, (old, new, hash)) in heads {
        if !repo::advance_chain(conn, account, old, new, &hash, now).await? {
            return Err(lost_race());
        }
    }
    if !repo::advance_tree(conn, start, size).await? {
        return Err(lost_race());
    }
    Ok(moved)
}

/// Sequences every waiting entry, a batch per transaction (the background task every
/// [`INTEGRATE_INTERVAL`]; before a checkpoint, an export, a citizen's page; tests on demand).
/// Returns how many entries were sequenced.
pub async fn integrate(
    db: &sea_orm::DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<u64, AppError> {
    use sea_orm::TransactionTrait;
    let mut total = 0;
    loop {
        let txn = db.begin().await?;
        let moved = integrate_in(&txn, now).await?;
        txn.commit().await?;
        total += moved;
        if moved < INTEGRATE_BATCH {
            return Ok(total);
        }
    }
}

/// [`integrate`] for this instance. On SQLite it first takes the group commit's flush lock, so
/// the reads' flushes wait for the sequencer on an async lock rather than in SQLite's busy
/// handler (which sleeps in steps of up to 100 ms); on PostgreSQL the two never block each
/// other (the reads' inserts take no lock).
pub async fn sequence(state: &AppState) -> Result<u64, AppError> {
    use sea_orm::TransactionTrait;
    if state.db.get_database_backend() != sea_orm::DbBackend::Sqlite {
        return integrate(&state.db, state.clock.now()).await;
    }
    // One batch per hold of the gate, so a read waits for one batch at most, not for all.
    let mut total = 0;
    loop {
        let _gate = state.log_writer.exclusive().await;
        let txn = state.db.begin().await?;
        let moved = integrate_in(&txn, state.clock.now()).await?;
        txn.commit().await?;
        total += moved;
        if moved < INTEGRATE_BATCH {
            return Ok(total);
        }
    }
}

/// Sequences the citizen's waiting entries (and whatever waits before them) if there are any:
/// one indexed query when there are none.
pub async fn settle(state: &AppState, account: Uuid) -> Result<(), AppError> {
    if repo::has_pending(&state.db, account).await? {
        sequence(state).await?;
    }
    Ok(())
}

/// Where a sequenced entry sits (`None` while it waits).
pub async fn entry_ref(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<EntryRef>, AppError> {
    let Some(row) = repo::find_entry(conn, id).await? else {
        return Ok(None);
    };
    Ok(Some(EntryRef {
        id: row.id,
        account: row.account_id,
        seq: row.seq,
        leaf_index: row.leaf_index,
        leaf_hash: to_hash(&row.leaf_hash).ok_or_else(|| damaged("leaf hash length"))?,
    }))
}

/// The stored content of an entry row, `None` once erased.
pub fn stored_content(row: &access_log_entry::Model) -> Option<Content> {
    Some(Content {
        occurred_at_us: row.occurred_at.timestamp_micros(),
        actor_kind: row.actor_kind.clone()?,
        actor_id: row.actor_id.clone()?,
        actor_agency: row.actor_agency_id.clone()?,
        action: row.action.clone()?,
        object_type: row.object_type.clone()?,
        object_id: row.object_id.clone()?,
        purpose: row.purpose.clone()?,
        authorization: row.authorization.clone()?,
        outcome: row.outcome.clone()?,
    })
}

// ------------------------------------------------------------------ checkpoints

/// The log's origin (first line of its checkpoints, and the key name signing them): the public
/// host of the deployment followed by `/access-log`.
pub fn origin(public_url: &url::Url) -> String {
    let host = public_url.host_str().unwrap_or("localhost");
    let port = public_url
        .port()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let path = public_url.path().trim_matches('/');
    let path = if path.is_empty() {
        String::new()
    } else {
        format!("/{path}")
    };
    format!("{host}{port}{path}/access-log")
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '+')
        .collect()
}

/// All leaf hashes of the first `size` leaves, checked to be contiguous.
async fn leaves_upto(conn: &impl ConnectionTrait, size: i64) -> Result<Vec<Hash>, AppError> {
    let mut leaves = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut from = 0i64;
    while from < size {
        let to = (from + SCAN_BATCH as i64).min(size);
        let batch = repo::leaf_hashes(conn, from, to).await?;
        for (index, hash) in batch {
            if index != leaves.len() as i64 {
                return Err(damaged(format!("leaf {} missing", leaves.len())));
            }
            leaves.push(to_hash(&hash).ok_or_else(|| damaged("leaf hash length"))?);
        }
        if leaves.len() as i64 != to {
            return Err(damaged(format!("leaf {} missing", leaves.len())));
        }
        from = to;
    }
    Ok(leaves)
}

/// Signs and stores a checkpoint of the tree as committed now, if it grew since the latest
/// checkpoint; returns the new checkpoint. Refuses (and stores nothing) if the leaves no longer
/// give the latest checkpoint's root. Safe on several instances at once.
pub async fn publish_checkpoint_with(
    conn: &impl ConnectionTrait,
    origin: &str,
    key: &PlatformSigningKey,
    now: DateTime<Utc>,
) -> Result<Option<access_log_checkpoint::Model>, AppError> {
    let size = repo::tree_size(conn).await?;
    let latest = repo::latest_checkpoint(conn).await?;
    if size == 0 || latest.as_ref().is_some_and(|l| l.tree_size >= size) {
        return Ok(None);
    }
    let leaves = leaves_upto(conn, size).await?;
    if let Some(latest) = &latest {
        let at = usize::try_from(latest.tree_size).map_err(|_| damaged("checkpoint size"))?;
        let old_root = leaves.get(..at).map(merkle::root);
        if old_root.as_ref().map(|r| r.as_slice()) != Some(latest.root_hash.as_slice()) {
            return Err(damaged(format!(
                "the leaves no longer give checkpoint {}",
                latest.tree_size
            )));
        }
    }
    let checkpoint = Checkpoint {
        origin: origin.to_owned(),
        size: u64::try_from(size).map_err(|_| damaged("tree size"))?,
        root: merkle::root(&leaves),
        extensions: Vec::new(),
    };
    let note = checkpoint
        .sign(key.signing_key())
        .map_err(AppError::internal)?;
    let row = access_log_checkpoint::Model {
        tree_size: size,
        origin: origin.to_owned(),
        root_hash: checkpoint.root.to_vec(),
        note,
        key_id: key.id().to_owned(),
        published_at: truncate_to_micros(now),
    };
    repo::insert_checkpoint(conn, row.clone()).await?;
    Ok(Some(row))
}

/// [`publish_checkpoint_with`] for this deployment (the background task, and tests on demand).
pub async fn publish_checkpoint(
    state: &AppState,
) -> Result<Option<access_log_checkpoint::Model>, AppError> {
    sequence(state).await?;
    publish_checkpoint_with(
        &state.db,
        &origin(&state.config.public_url),
        &state.keys.signing,
        state.clock.now(),
    )
    .await
}

/// The note served at `/.well-known/congdanso/log/checkpoint`: the latest checkpoint, or the
/// signed empty tree before the first entry.
pub async fn current_checkpoint_note(state: &AppState) -> Result<String, AppError> {
    if let Some(latest) = repo::latest_checkpoint(&state.db).await? {
        return Ok(latest.note);
    }
    Checkpoint {
        origin: origin(&state.config.public_url),
        size: 0,
        root: merkle::empty_root(),
        extensions: Vec::new(),
    }
    .sign(state.keys.signing.signing_key())
    .map_err(AppError::internal)
}

/// Sequences waiting entries every [`INTEGRATE_INTERVAL`] and publishes a checkpoint every
/// [`PUBLISH_INTERVAL`] when the tree grew, until shutdown.
pub async fn run_publisher(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut since_publish = PUBLISH_INTERVAL;
    loop {
        if since_publish >= PUBLISH_INTERVAL {
            since_publish = Duration::ZERO;
            match publish_checkpoint(&state).await {
                Ok(Some(c)) => {
                    tracing::debug!(size = c.tree_size, "access-log checkpoint published")
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "access-log checkpoint not published"),
            }
        } else if let Err(error) = sequence(&state).await {
            tracing::warn!(%error, "access-log entries not sequenced yet");
        }
        tokio::select! {
            _ = tokio::time::sleep(INTEGRATE_INTERVAL) => since_publish += INTEGRATE_INTERVAL,
            _ = shutdown.changed() => return,
        }
    }
}

// ------------------------------------------------------------------ the citizen's view

/// One entry as the citizen's page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryView {
    pub id: Uuid,
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: Option<super::model::Actor>,
    pub action: Option<super::model::Action>,
    pub object: Option<super::model::Object>,
    pub purpose: Option<String>,
    pub authorization: Option<super::model::Authorization>,
    pub outcome: Option<super::model::Outcome>,
}

/// Filters of the citizen's page (already parsed at the edge).
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    /// Only entries by this actor (account or credential id).
    pub actor: Option<Uuid>,
    /// Only entries by this kind of actor ([`super::model::Actor::kind`]).
    pub actor_kind: Option<&'static str>,
    /// Only entries about this document.
    pub document: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Keyset cursor: entries older than this seq.
    pub before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub entries: Vec<EntryView>,
    /// The cursor of the next (older) page, if there is one.
    pub next_before: Option<i64>,
}

/// An entry row as the citizen's pages show it (codes typed; `None` where erased).
pub fn entry_view(r: &access_log_entry::Model) -> EntryView {
    view_of(
        r.id,
        r.seq,
        r.occurred_at,
        [
            &r.actor_kind,
            &r.actor_id,
            &r.actor_agency_id,
            &r.object_type,
            &r.object_id,
        ],
        [&r.action, &r.purpose, &r.authorization, &r.outcome],
    )
}

/// [`entry_view`] of a page row.
fn page_entry_view(r: &repo::PageRow) -> EntryView {
    view_of(
        r.id,
        r.seq,
        r.occurred_at,
        [
            &r.actor_kind,
            &r.actor_id,
            &r.actor_agency_id,
            &r.object_type,
            &r.object_id,
        ],
        [&r.action, &r.purpose, &r.authorization, &r.outcome],
    )
}

/// The typed view of an entry's stored columns: `[actor kind, actor id, actor agency, object
/// type, object id]` and `[action, purpose, authorization, outcome]`.
fn view_of(
    id: Uuid,
    seq: i64,
    occurred_at: DateTime<Utc>,
    [actor_kind, actor_id, actor_agency, object_type, object_id]: [&Option<String>; 5],
    [action, purpose, authorization, outcome]: [&Option<String>; 4],
) -> EntryView {
    use super::model::{Action, Actor, Authorization, Object, Outcome};
    fn text(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or_default()
    }
    EntryView {
        id,
        seq,
        occurred_at,
        actor: Actor::parse(text(actor_kind), text(actor_id), text(actor_agency)),
        action: action.as_deref().and_then(Action::parse),
        object: Object::parse(text(object_type), text(object_id)),
        purpose: purpose.clone().filter(|p| !p.is_empty()),
        authorization: authorization.as_deref().and_then(Authorization::parse),
        outcome: outcome.as_deref().and_then(Outcome::parse),
    }
}

/// One entry of the citizen's log, `None` if it is not theirs (or does not exist).
pub async fn entry_of(
    conn: &impl ConnectionTrait,
    account: Uuid,
    id: Uuid,
) -> Result<Option<EntryView>, AppError> {
    Ok(repo::entry_of(conn, account, id)
        .await?
        .as_ref()
        .map(entry_view))
}

/// Every entry of the citizen that is not erased, newest first (the printable page).
pub async fn all_entries(
    conn: &impl ConnectionTrait,
    account: Uuid,
) -> Result<Vec<EntryView>, AppError> {
    let mut rows = repo::entries_of(conn, account).await?;
    rows.retain(|r| !r.erased);
    rows.reverse();
    Ok(rows.iter().map(entry_view).collect())
}

/// The citizen's chain head (seq, hash) and the latest checkpoint note, for the printable page.
pub async fn heads_for_print(
    conn: &impl ConnectionTrait,
    account: Uuid,
) -> Result<(i64, String, Option<access_log_checkpoint::Model>), AppError> {
    let head = repo::chain_head(conn, account).await?;
    let latest = repo::latest_checkpoint(conn).await?;
    Ok((
        head.as_ref().map_or(0, |h| h.seq),
        hex::encode(head.map_or(GENESIS.to_vec(), |h| h.head_hash)),
        latest,
    ))
}

/// The largest page.
pub const MAX_PAGE: u64 = 100;

/// The citizen's entries, newest first, `limit` (≤ [`MAX_PAGE`]) at a time; erased entries
/// are not shown. Entries of the citizen still waiting to be sequenced are sequenced first
/// (so the page is complete); the page query itself says whether any wait, so a citizen with
/// nothing waiting costs one query.
pub async fn page(
    state: &AppState,
    account: Uuid,
    query: &PageQuery,
    limit: u64,
) -> Result<Page, AppError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let filter = repo::PageFilter {
        actor_id: query.actor.map(|a| a.to_string()),
        actor_kind: query.actor_kind,
        object_id: query.document.map(|d| d.to_string()),
        from: query.from,
        until: query.until,
    };
    let mut rows = repo::page(&state.db, account, &filter, query.before, limit + 1).await?;
    let waiting = match rows.first() {
        Some(row) => row.pending,
        // No row to carry the flag (a filter matched nothing, or nothing is sequenced yet).
        None => repo::has_pending(&state.db, account).await?,
    };
    if waiting {
        sequence(state).await?;
        rows = repo::page(&state.db, account, &filter, query.before, limit + 1).await?;
    }
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_before = if more {
        rows.last().map(|r| r.seq)
    } else {
        None
    };
    Ok(Page {
        entries: rows.iter().map(page_entry_view).collect(),
        next_before,
    })
}

/// Erases the readable content of one entry of `account` (or, with `only = None`, of all its
/// entries, e.g. when the account is deleted): content and salt are deleted, the salted hash,
/// the chain link and the leaf stay, so every proof still verifies. Returns how many entries
/// were erased now.
pub async fn erase(
    conn: &impl ConnectionTrait,
    account: Uuid,
    only: Option<Uuid>,
    at: DateTime<Utc>,
) -> Result<u64, AppError> {
    // Waiting entries are sequenced first, so nothing readable waits past the erasure.
    while integrate_in(conn, at).await? == INTEGRATE_BATCH {}
    Ok(repo::erase(conn, account, only, truncate_to_micros(at)).await?)
}

// ------------------------------------------------------------------ export

fn hex_list(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

/// The citizen's whole log with everything needed to verify it offline against the latest
/// published checkpoint (publish one first to cover the newest entries).
pub async fn export_for_citizen(
    conn: &impl ConnectionTrait,
    account: Uuid,
) -> Result<Export, AppError> {
    let rows = repo::entries_of(conn, account).await?;
    let head = repo::chain_head(conn, account).await?;
    let latest = repo::latest_checkpoint(conn).await?;
    let first = match (rows.first(), &latest) {
        (Some(first_row), Some(_)) => {
            repo::first_checkpoint_covering(conn, first_row.leaf_index).await?
        }
        _ => None,
    }
    .or_else(|| latest.clone());
    let latest_size = latest.as_ref().map_or(0, |l| l.tree_size);
    let leaves = leaves_upto(conn, latest_size).await?;
    if let Some(latest) = &latest
        && merkle::root(&leaves).as_slice() != latest.root_hash.as_slice()
    {
        return Err(damaged("the leaves do not give the latest checkpoint"));
    }
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        let inclusion = if row.leaf_index < latest_size {
            let index = u64::try_from(row.leaf_index).map_err(|_| damaged("leaf index"))?;
            Some(hex_list(
                &merkle::inclusion_proof(&leaves, index).map_err(damaged)?,
            ))
        } else {
            None
        };
        entries.push(ExportEntry {
            seq: u64::try_from(row.seq).map_err(|_| damaged("seq"))?,
            leaf_index: u64::try_from(row.leaf_index).map_err(|_| damaged("leaf index"))?,
            erased: row.erased,
            content: if row.erased {
                None
            } else {
                stored_content(row)
            },
            salt: row.salt.as_ref().map(hex::encode),
            content_hash: hex::encode(&row.content_hash),
            prev_hash: hex::encode(&row.prev_hash),
            leaf_hash: hex::encode(&row.leaf_hash),
            inclusion,
        });
    }
    let mut checkpoints = Vec::new();
    let mut consistency = Vec::new();
    if let (Some(first), Some(latest)) = (&first, &latest) {
        checkpoints.push(first.note.clone());
        if first.tree_size < latest.tree_size {
            checkpoints.push(latest.note.clone());
            let old = u64::try_from(first.tree_size).map_err(|_| damaged("checkpoint size"))?;
            consistency = hex_list(&merkle::consistency_proof(&leaves, old).map_err(damaged)?);
        }
    }
    Ok(Export {
        format: export::FORMAT.to_owned(),
        origin: latest
            .as_ref()
            .map(|l| l.origin.clone())
            .unwrap_or_default(),
        account: account.to_string(),
        chain_head: ChainHead {
            seq: head
                .as_ref()
                .map_or(0, |h| u64::try_from(h.seq).unwrap_or(0)),
            hash: hex::encode(
                head.as_ref()
                    .map_or(GENESIS.to_vec(), |h| h.head_hash.clone()),
            ),
        },
        entries,
        checkpoints,
        consistency,
    })
}

// ------------------------------------------------------------------ server-side verification

/// One thing wrong with the stored log, naming the entry when there is one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub entry: Option<Uuid>,
    pub account: Option<Uuid>,
    pub seq: Option<i64>,
    pub leaf_index: Option<i64>,
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(entry) = self.entry {
            write!(f, "entry {entry}")?;
            let mut parts = Vec::new();
            if let Some(account) = self.account {
                parts.push(format!("citizen {account}"));
            }
            if let Some(seq) = self.seq {
                parts.push(format!("seq {seq}"));
            }
            if let Some(leaf) = self.leaf_index {
                parts.push(format!("leaf {leaf}"));
            }
            write!(f, " ({}): ", parts.join(", "))?;
        } else if let Some(account) = self.account {
            write!(f, "chain of citizen {account}: ")?;
        }
        f.write_str(&self.what)
    }
}

/// What `audit verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub entries: u64,
    pub chains: usize,
    pub tree_size: i64,
    pub checkpoints: usize,
    /// Entries written but not yet sequenced (normally none or a second's worth; many, or an
    /// old one, means the sequencer is not running).
    pub pending: u64,
    pub oldest_pending: Option<DateTime<Utc>>,
    /// In log order; the first is the first bad entry.
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// At most this many problems are collected (the first is what matters).
const MAX_PROBLEMS: usize = 100;

fn entry_problem(row: &access_log_entry::Model, what: impl Into<String>) -> Problem {
    Problem {
        entry: Some(row.id),
        account: Some(row.account_id),
        seq: Some(row.seq),
        leaf_index: Some(row.leaf_index),
        what: what.into(),
    }
}

/// Checks one entry row on its own: content against its salted hash, and the leaf hash.
fn check_row(row: &access_log_entry::Model, prev: &Hash) -> Result<Hash, String> {
    let content_hash = to_hash(&row.content_hash).ok_or("content_hash is not 32 bytes")?;
    let prev_hash = to_hash(&row.prev_hash).ok_or("prev_hash is not 32 bytes")?;
    let leaf_hash = to_hash(&row.leaf_hash).ok_or("leaf_hash is not 32 bytes")?;
    if &prev_hash != prev {
        return Err(if prev == &GENESIS && row.seq == 1 {
            "the first entry of the chain does not start from zero".to_owned()
        } else {
            "prev_hash is not the leaf hash of the citizen's previous entry (an entry was deleted, inserted or reordered)".to_owned()
        });
    }
    if row.erased {
        if row.salt.is_some() || stored_content(row).is_some() {
            return Err("marked erased but still holds content".to_owned());
        }
    } else {
        let salt = row
            .salt
            .as_deref()
            .and_then(to_hash)
            .ok_or("salt is missing or not 32 bytes")?;
        let content = stored_content(row).ok_or("content is missing but not marked erased")?;
        if !content.is_well_formed() {
            return Err("content holds an unknown code".to_owned());
        }
        if content.hash(&salt) != Some(content_hash) {
            return Err("content does not match its salted hash (edited)".to_owned());
        }
    }
    let seq = u64::try_from(row.seq).map_err(|_| "seq is negative")?;
    let leaf_index = u64::try_from(row.leaf_index).map_err(|_| "leaf index is negative")?;
    if entry_leaf_hash(row.account_id, seq, leaf_index, &prev_hash, &content_hash) != leaf_hash {
        return Err("leaf hash does not match the entry (edited or reordered)".to_owned());
    }
    Ok(leaf_hash)
}

/// Verifies the whole stored log: every chain (seq contiguous from 1, each link to the previous
/// leaf, content to its salted hash, heads to their last entry), the tree (leaf indexes
/// contiguous, the head row to the entry count) and every stored checkpoint (signed by a
/// platform signing key this deployment has used, root equal to the tree at its size).
/// Run it in one read transaction so appends during the scan do not look like damage.
pub async fn verify_all(conn: &impl ConnectionTrait) -> Result<Report, AppError> {
    let mut report = Report::default();
    let push = |report: &mut Report, problem: Problem| {
        if report.problems.len() < MAX_PROBLEMS {
            report.problems.push(problem);
        }
    };
    let keys: Vec<VerifyingKey> = crate::keys::repo::all(conn)
        .await?
        .iter()
        .filter(|k| k.kind == "signing")
        .filter_map(|k| k.public_key.as_deref())
        .filter_map(|k| B64.decode(k).ok())
        .filter_map(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
        .filter_map(|k| VerifyingKey::from_bytes(&k).ok())
        .collect();
    let heads: HashMap<Uuid, (i64, Vec<u8>)> = repo::chain_heads(conn)
        .await?
        .into_iter()
        .map(|h| (h.account_id, (h.seq, h.head_hash)))
        .collect();
    report.chains = heads.len();
    let tree_size = repo::tree_size(conn).await?;
    report.tree_size = tree_size;
    (report.pending, report.oldest_pending) = repo::pending_summary(conn).await?;
    let checkpoints = repo::checkpoints(conn).await?;
    report.checkpoints = checkpoints.len();
    let mut pending_checkpoints = checkpoints.iter().peekable();
    let check_checkpoint = |report: &mut Report,
                            cp: &access_log_checkpoint::Model,
                            root: Option<Hash>| {
        let signed = keys
            .iter()
            .find_map(|k| Checkpoint::open(&cp.note, &cp.origin, k).ok());
        let what = match (signed, root) {
                (None, _) => Some("its note is not signed by a platform signing key".to_owned()),
                (Some(c), _)
                    if i64::try_from(c.size).ok() != Some(cp.tree_size)
                        || c.root.as_slice() != cp.root_hash.as_slice() =>
                {
                    Some("its note does not say the stored size and root".to_owned())
                }
                (Some(_), None) => Some(format!(
                    "the tree has fewer than {} leaves (entries deleted)",
                    cp.tree_size
                )),
                (Some(c), Some(root)) if c.root != root => Some(
                    "the entries no longer give its root (an entry was edited, deleted, inserted or reordered)"
                        .to_owned(),
                ),
                _ => None,
            };
        if let Some(what) = what {
            push(
                report,
                Problem {
                    entry: None,
                    account: None,
                    seq: None,
                    leaf_index: None,
                    what: format!("checkpoint of size {}: {what}", cp.tree_size),
                },
            );
        }
    };

    let mut chains: HashMap<Uuid, (i64, Hash)> = HashMap::new();
    let mut tree = CompactTree::new();
    let mut after = -1i64;
    let mut expected_leaf = 0i64;
    loop {
        let rows = repo::entries_after_leaf(conn, after, SCAN_BATCH).await?;
        let Some(last) = rows.last() else { break };
        after = last.leaf_index;
        for row in &rows {
            report.entries += 1;
            if row.leaf_index != expected_leaf {
                push(
                    &mut report,
                    entry_problem(
                        row,
                        format!(
                            "leaf index {} expected: leaves {}..{} are missing (entries deleted)",
                            expected_leaf,
                            expected_leaf,
                            row.leaf_index - 1
                        ),
                    ),
                );
            }
            expected_leaf = row.leaf_index + 1;
            if row.leaf_index >= tree_size {
                push(
                    &mut report,
                    entry_problem(
                        row,
                        format!("beyond the tree head (size {tree_size}): inserted"),
                    ),
                );
            }
            let (last_seq, prev) = chains.get(&row.account_id).copied().unwrap_or((0, GENESIS));
            if row.seq != last_seq + 1 {
                push(
                    &mut report,
                    entry_problem(
                        row,
                        format!(
                            "seq {} expected after {last_seq} (entries deleted, inserted or reordered)",
                            last_seq + 1
                        ),
                    ),
                );
            }
            if let Some((head_seq, _)) = heads.get(&row.account_id)
                && row.seq > *head_seq
            {
                push(
                    &mut report,
                    entry_problem(
                        row,
                        format!("beyond the citizen's chain head (seq {head_seq}): inserted"),
                    ),
                );
            } else if !heads.contains_key(&row.account_id) {
                push(
                    &mut report,
                    entry_problem(row, "the citizen has no chain head"),
                );
            }
            match check_row(row, &prev) {
                Ok(_) => {}
                Err(what) => push(&mut report, entry_problem(row, what)),
            }
            // Chain and tree go on with the stored hash, so one bad entry is reported once.
            let stored = to_hash(&row.leaf_hash).unwrap_or([0; 32]);
            chains.insert(row.account_id, (row.seq, stored));
            tree.push(stored);
            while let Some(cp) =
                pending_checkpoints.next_if(|cp| cp.tree_size <= tree.size() as i64)
            {
                let root = (cp.tree_size == tree.size() as i64).then(|| tree.root());
                check_checkpoint(&mut report, cp, root);
            }
        }
    }
    for cp in pending_checkpoints {
        let root = (cp.tree_size == 0).then(merkle::empty_root);
        check_checkpoint(&mut report, cp, root);
    }
    if tree.size() as i64 != tree_size {
        push(
            &mut report,
            Problem {
                entry: None,
                account: None,
                seq: None,
                leaf_index: Some(tree.size() as i64),
                what: format!(
                    "the tree head says {tree_size} leaves, the log holds {} (entries deleted)",
                    tree.size()
                ),
            },
        );
    }
    let mut accounts: Vec<&Uuid> = heads.keys().collect();
    accounts.sort();
    for account in accounts {
        let Some((head_seq, head_hash)) = heads.get(account) else {
            continue;
        };
        let (seq, hash) = chains.get(account).copied().unwrap_or((0, GENESIS));
        if *head_seq != seq || head_hash.as_slice() != hash.as_slice() {
            push(
                &mut report,
                Problem {
                    entry: None,
                    account: Some(*account),
                    seq: Some(*head_seq),
                    leaf_index: None,
                    what: format!(
                        "the chain head is at seq {head_seq}, the last entry at seq {seq} (entries deleted at the end)"
                    ),
                },
            );
        }
    }
    Ok(report)
}

/// Offline verification of an export file (re-exported for the CLI).
pub fn verify_export(
    bytes: &[u8],
    keys: &[VerifyingKey],
) -> Result<export::Verified, export::ExportProblem> {
    export::verify(bytes, keys)
}

/// [`verify_all`] in one read-only snapshot of the database (repeatable read on PostgreSQL; a
/// SQLite read transaction is a snapshot already), for `congdanso audit verify`.
pub async fn verify_database(db: &sea_orm::DatabaseConnection) -> Result<Report, AppError> {
    use sea_orm::{AccessMode, DbBackend, IsolationLevel, TransactionTrait};
    let txn = match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        _ => db.begin().await?,
    };
    let report = verify_all(&txn).await;
    txn.rollback().await?;
    report
}
