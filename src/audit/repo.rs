//! Access-log queries. Every function takes a connection or a transaction the caller opened;
//! none begins one, so an entry joins the transaction of the action it records.

use chrono::{DateTime, Utc};
use entity::{
    access_log_chain, access_log_checkpoint, access_log_entry, access_log_pending, access_log_tree,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::model::GENESIS;

/// The id of the one tree-head row.
const TREE_ROW: i32 = 1;

/// Creates the citizen's chain head (seq 0) if it does not exist yet. Being a write, this is
/// also what makes a SQLite transaction take the database's write lock before it reads the
/// head, so concurrent appends queue instead of reading a head that is about to move.
pub async fn ensure_chain_head(
    db: &impl ConnectionTrait,
    account: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    access_log_chain::Entity::insert_many([access_log_chain::ActiveModel {
        account_id: Set(account),
        seq: Set(0),
        head_hash: Set(GENESIS.to_vec()),
        updated_at: Set(now),
    }])
    .on_conflict_do_nothing_on([access_log_chain::Column::AccountId])
    .exec(db)
    .await?;
    Ok(())
}

/// The citizen's chain head, locked until the transaction ends (`FOR UPDATE` on PostgreSQL;
/// SQLite has one writer at a time already).
pub async fn lock_chain_head(
    db: &impl ConnectionTrait,
    account: Uuid,
) -> Result<Option<access_log_chain::Model>, DbErr> {
    access_log_chain::Entity::find_by_id(account)
        .lock_exclusive()
        .one(db)
        .await
}

/// Moves the chain head from `old_seq` to `new_seq` only if it is still at `old_seq`.
pub async fn advance_chain(
    db: &impl ConnectionTrait,
    account: Uuid,
    old_seq: i64,
    new_seq: i64,
    head_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = access_log_chain::Entity::update_many()
        .col_expr(access_log_chain::Column::Seq, Expr::value(new_seq))
        .col_expr(
            access_log_chain::Column::HeadHash,
            Expr::value(head_hash.to_vec()),
        )
        .col_expr(access_log_chain::Column::UpdatedAt, Expr::value(now))
        .filter(access_log_chain::Column::AccountId.eq(account))
        .filter(access_log_chain::Column::Seq.eq(old_seq))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Creates the tree-head row (size 0) if it does not exist yet.
pub async fn ensure_tree_head(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    access_log_tree::Entity::insert_many([access_log_tree::ActiveModel {
        id: Set(TREE_ROW),
        size: Set(0),
    }])
    .on_conflict_do_nothing_on([access_log_tree::Column::Id])
    .exec(db)
    .await?;
    Ok(())
}

/// The tree size, locked until the transaction ends (PostgreSQL).
pub async fn lock_tree_head(db: &impl ConnectionTrait) -> Result<Option<i64>, DbErr> {
    Ok(access_log_tree::Entity::find_by_id(TREE_ROW)
        .lock_exclusive()
        .one(db)
        .await?
        .map(|t| t.size))
}

/// The tree size as committed (0 before the first entry).
pub async fn tree_size(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(access_log_tree::Entity::find_by_id(TREE_ROW)
        .one(db)
        .await?
        .map_or(0, |t| t.size))
}

/// Grows the tree from `old` to `new` leaves only if it is still `old`.
pub async fn advance_tree(db: &impl ConnectionTrait, old: i64, new: i64) -> Result<bool, DbErr> {
    let result = access_log_tree::Entity::update_many()
        .col_expr(access_log_tree::Column::Size, Expr::value(new))
        .filter(access_log_tree::Column::Id.eq(TREE_ROW))
        .filter(access_log_tree::Column::Size.eq(old))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Writes an entry waiting to be sequenced (no lock taken).
pub async fn insert_pending(
    db: &impl ConnectionTrait,
    entry: access_log_pending::Model,
) -> Result<(), DbErr> {
    access_log_pending::Entity::insert(access_log_pending::ActiveModel::from(entry))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Writes several waiting entries in one statement.
pub async fn insert_pending_many(
    db: &impl ConnectionTrait,
    entries: Vec<access_log_pending::Model>,
) -> Result<(), DbErr> {
    if entries.is_empty() {
        return Ok(());
    }
    access_log_pending::Entity::insert_many(
        entries
            .into_iter()
            .map(access_log_pending::ActiveModel::from),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The oldest `limit` entries waiting to be sequenced (ids are UUIDv7: time order).
pub async fn pending_batch(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<access_log_pending::Model>, DbErr> {
    access_log_pending::Entity::find()
        .order_by_asc(access_log_pending::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Forgets sequenced entries' waiting rows.
pub async fn delete_pending(db: &impl ConnectionTrait, ids: Vec<Uuid>) -> Result<u64, DbErr> {
    Ok(access_log_pending::Entity::delete_many()
        .filter(access_log_pending::Column::Id.is_in(ids))
        .exec(db)
        .await?
        .rows_affected)
}

/// Whether the citizen has entries waiting to be sequenced.
pub async fn has_pending(db: &impl ConnectionTrait, account: Uuid) -> Result<bool, DbErr> {
    let first: Option<Uuid> = access_log_pending::Entity::find()
        .select_only()
        .column(access_log_pending::Column::Id)
        .filter(access_log_pending::Column::AccountId.eq(account))
        .into_tuple()
        .one(db)
        .await?;
    Ok(first.is_some())
}

/// How many entries wait to be sequenced, and the oldest one's time.
pub async fn pending_summary(
    db: &impl ConnectionTrait,
) -> Result<(u64, Option<DateTime<Utc>>), DbErr> {
    let count = access_log_pending::Entity::find().count(db).await?;
    let oldest = access_log_pending::Entity::find()
        .order_by_asc(access_log_pending::Column::Id)
        .one(db)
        .await?
        .map(|p| p.occurred_at);
    Ok((count, oldest))
}

pub async fn find_entry(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<access_log_entry::Model>, DbErr> {
    access_log_entry::Entity::find_by_id(id).one(db).await
}

/// Writes sequenced entries, a few hundred rows per statement.
pub async fn insert_entries(
    db: &impl ConnectionTrait,
    entries: Vec<access_log_entry::Model>,
) -> Result<(), DbErr> {
    let mut rest = entries.into_iter().peekable();
    while rest.peek().is_some() {
        let chunk: Vec<access_log_entry::ActiveModel> = rest
            .by_ref()
            .take(200)
            .map(access_log_entry::ActiveModel::from)
            .collect();
        access_log_entry::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

pub async fn insert_entry(
    db: &impl ConnectionTrait,
    entry: access_log_entry::Model,
) -> Result<(), DbErr> {
    access_log_entry::Entity::insert(access_log_entry::ActiveModel::from(entry))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Leaf hashes with `from <= leaf_index < to`, in leaf order.
pub async fn leaf_hashes(
    db: &impl ConnectionTrait,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, Vec<u8>)>, DbErr> {
    access_log_entry::Entity::find()
        .select_only()
        .column(access_log_entry::Column::LeafIndex)
        .column(access_log_entry::Column::LeafHash)
        .filter(access_log_entry::Column::LeafIndex.gte(from))
        .filter(access_log_entry::Column::LeafIndex.lt(to))
        .order_by_asc(access_log_entry::Column::LeafIndex)
        .into_tuple()
        .all(db)
        .await
}

/// Up to `limit` entries with `leaf_index > after`, in leaf order (for a full scan).
pub async fn entries_after_leaf(
    db: &impl ConnectionTrait,
    after: i64,
    limit: u64,
) -> Result<Vec<access_log_entry::Model>, DbErr> {
    access_log_entry::Entity::find()
        .filter(access_log_entry::Column::LeafIndex.gt(after))
        .order_by_asc(access_log_entry::Column::LeafIndex)
        .limit(limit)
        .all(db)
        .await
}

/// Every entry of one citizen, oldest first.
pub async fn entries_of(
    db: &impl ConnectionTrait,
    account: Uuid,
) -> Result<Vec<access_log_entry::Model>, DbErr> {
    access_log_entry::Entity::find()
        .filter(access_log_entry::Column::AccountId.eq(account))
        .order_by_asc(access_log_entry::Column::Seq)
        .all(db)
        .await
}

pub async fn chain_head(
    db: &impl ConnectionTrait,
    account: Uuid,
) -> Result<Option<access_log_chain::Model>, DbErr> {
    access_log_chain::Entity::find_by_id(account).one(db).await
}

pub async fn chain_heads(db: &impl ConnectionTrait) -> Result<Vec<access_log_chain::Model>, DbErr> {
    access_log_chain::Entity::find().all(db).await
}

pub async fn count_entries(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    access_log_entry::Entity::find().count(db).await
}

/// Filters of the citizen's page.
#[derive(Debug, Clone, Default)]
pub struct PageFilter {
    pub actor_id: Option<String>,
    /// Only entries by this kind of actor (`citizen`, `staff`, `agency`, `operator`).
    pub actor_kind: Option<&'static str>,
    pub object_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// One row of a log page: only what the page shows (no hashes, no salt), plus whether the
/// citizen has entries still waiting to be sequenced, so the page needs no second query to
/// learn that.
#[derive(Debug, Clone, FromQueryResult)]
pub struct PageRow {
    pub id: Uuid,
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_kind: Option<String>,
    pub actor_id: Option<String>,
    pub actor_agency_id: Option<String>,
    pub action: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub purpose: Option<String>,
    pub authorization: Option<String>,
    pub outcome: Option<String>,
    /// True when `access_log_pending` holds an entry of this citizen (same on every row).
    pub pending: bool,
}

/// A newest-first page of the citizen's entries that are not erased, with `seq < before`; each
/// row also says whether entries of the citizen wait to be sequenced (one uncorrelated
/// `EXISTS`, evaluated once per query by SQLite and PostgreSQL alike).
pub async fn page(
    db: &impl ConnectionTrait,
    account: Uuid,
    filter: &PageFilter,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<PageRow>, DbErr> {
    use access_log_entry::Column as C;
    let waiting = sea_orm::sea_query::Query::select()
        .expr(Expr::val(1))
        .from(access_log_pending::Entity)
        .and_where(access_log_pending::Column::AccountId.eq(account))
        .to_owned();
    let mut query = access_log_entry::Entity::find()
        .select_only()
        .columns([
            C::Id,
            C::Seq,
            C::OccurredAt,
            C::ActorKind,
            C::ActorId,
            C::ActorAgencyId,
            C::Action,
            C::ObjectType,
            C::ObjectId,
            C::Purpose,
            C::Authorization,
            C::Outcome,
        ])
        .column_as(Expr::exists(waiting), "pending")
        .filter(C::AccountId.eq(account))
        .filter(C::Erased.eq(false));
    if let Some(before) = before {
        query = query.filter(C::Seq.lt(before));
    }
    if let Some(actor) = &filter.actor_id {
        query = query.filter(C::ActorId.eq(actor.as_str()));
    }
    if let Some(kind) = filter.actor_kind {
        query = query.filter(C::ActorKind.eq(kind));
    }
    if let Some(object) = &filter.object_id {
        query = query.filter(C::ObjectId.eq(object.as_str()));
    }
    if let Some(from) = filter.from {
        query = query.filter(C::OccurredAt.gte(from));
    }
    if let Some(until) = filter.until {
        query = query.filter(C::OccurredAt.lt(until));
    }
    query
        .order_by_desc(C::Seq)
        .limit(limit)
        .into_model::<PageRow>()
        .all(db)
        .await
}

/// Deletes the readable content and the salt of entries of `account` (all of them, or the one
/// `only`), keeping hashes, chain and leaf. Returns how many were erased now.
pub async fn erase(
    db: &impl ConnectionTrait,
    account: Uuid,
    only: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use access_log_entry::Column as C;
    let none = || Expr::value(Option::<String>::None);
    let mut update = access_log_entry::Entity::update_many()
        .col_expr(C::Salt, Expr::value(Option::<Vec<u8>>::None))
        .col_expr(C::ActorKind, none())
        .col_expr(C::ActorId, none())
        .col_expr(C::ActorAgencyId, none())
        .col_expr(C::Action, none())
        .col_expr(C::ObjectType, none())
        .col_expr(C::ObjectId, none())
        .col_expr(C::Purpose, none())
        .col_expr(C::Authorization, none())
        .col_expr(C::Outcome, none())
        .col_expr(C::Erased, Expr::value(true))
        .col_expr(C::ErasedAt, Expr::value(now))
        .filter(C::AccountId.eq(account))
        .filter(C::Erased.eq(false));
    if let Some(id) = only {
        update = update.filter(C::Id.eq(id));
    }
    Ok(update.exec(db).await?.rows_affected)
}

pub async fn latest_checkpoint(
    db: &impl ConnectionTrait,
) -> Result<Option<access_log_checkpoint::Model>, DbErr> {
    access_log_checkpoint::Entity::find()
        .order_by_desc(access_log_checkpoint::Column::TreeSize)
        .one(db)
        .await
}

/// The first checkpoint that includes leaf `leaf_index`.
pub async fn first_checkpoint_covering(
    db: &impl ConnectionTrait,
    leaf_index: i64,
) -> Result<Option<access_log_checkpoint::Model>, DbErr> {
    access_log_checkpoint::Entity::find()
        .filter(access_log_checkpoint::Column::TreeSize.gt(leaf_index))
        .order_by_asc(access_log_checkpoint::Column::TreeSize)
        .one(db)
        .await
}

/// Every checkpoint, smallest tree first.
pub async fn checkpoints(
    db: &impl ConnectionTrait,
) -> Result<Vec<access_log_checkpoint::Model>, DbErr> {
    access_log_checkpoint::Entity::find()
        .order_by_asc(access_log_checkpoint::Column::TreeSize)
        .all(db)
        .await
}

/// Stores a checkpoint; another instance may have stored the same size first (no error).
pub async fn insert_checkpoint(
    db: &impl ConnectionTrait,
    checkpoint: access_log_checkpoint::Model,
) -> Result<(), DbErr> {
    access_log_checkpoint::Entity::insert_many([access_log_checkpoint::ActiveModel::from(
        checkpoint,
    )])
    .on_conflict_do_nothing_on([access_log_checkpoint::Column::TreeSize])
    .exec(db)
    .await?;
    Ok(())
}

/// One entry of one citizen (erased or not); `None` for another citizen's entry.
pub async fn entry_of(
    db: &impl ConnectionTrait,
    account: Uuid,
    id: Uuid,
) -> Result<Option<access_log_entry::Model>, DbErr> {
    access_log_entry::Entity::find_by_id(id)
        .filter(access_log_entry::Column::AccountId.eq(account))
        .one(db)
        .await
}

/// The accounts with these ids, in one query (the staff and operators named on a page).
pub async fn accounts_by_ids(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<entity::account::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    entity::account::Entity::find()
        .filter(entity::account::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}

/// The names of the agencies with these ids, in one query.
pub async fn agency_names(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, String)>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    entity::agency::Entity::find()
        .select_only()
        .column(entity::agency::Column::Id)
        .column(entity::agency::Column::Name)
        .filter(entity::agency::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await
}
