//! The rules of misuse reports. A citizen reports an entry of their own log (another
//! citizen's entry is answered like a missing one); the comment and the answer are sealed with
//! the citizen's data key (field contexts `report_comment` / `report_answer`, bound to the
//! report id), so operators read them only through the platform's keys. Filing appends
//! `report.file` (actor: the citizen) and each status move appends `report.answer` (actor: the
//! operator), in the same transaction as the change.

use chrono::{DateTime, Utc};
use entity::{account, misuse_report};
use sea_orm::TransactionTrait;
use uuid::Uuid;

use super::model::{Status, Text};
use super::repo;
use crate::audit::service::EntryView;
use crate::audit::{Action, Actor, Authorization, Entry, Object, Outcome};
use crate::crypto::{self, FieldContext};
use crate::error::AppError;
use crate::state::AppState;

/// The most reports a list shows.
pub const LIST_LIMIT: u64 = 100;

const COMMENT_FIELD: &str = "report_comment";
const ANSWER_FIELD: &str = "report_answer";

/// A report as its pages show it, comment and answer opened.
#[derive(Debug, Clone)]
pub struct ReportView {
    pub id: Uuid,
    pub account: Uuid,
    pub entry_id: Uuid,
    pub status: Status,
    pub comment: String,
    pub answer: Option<String>,
    pub answered_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
}

/// A line of the operators' inbox: no comment (that is read by opening the report).
#[derive(Debug, Clone)]
pub struct InboxItem {
    pub id: Uuid,
    pub status: Status,
    pub created_at: DateTime<Utc>,
}

fn context(owner: Uuid, report: Uuid, field: &'static str) -> FieldContext {
    FieldContext {
        owner,
        record: report,
        field,
    }
}

fn crypto_error(error: crypto::CryptoError) -> AppError {
    AppError::internal(format!("crypto: {error}"))
}

fn status_of(row: &misuse_report::Model) -> Result<Status, AppError> {
    Status::parse(&row.status).ok_or_else(|| AppError::internal("unknown report status"))
}

fn open_text(
    key: &crypto::DataKey,
    row: &misuse_report::Model,
    field: &'static str,
    sealed: &[u8],
) -> Result<String, AppError> {
    let bytes = crypto::open_field(key, &context(row.account_id, row.id, field), sealed)
        .map_err(crypto_error)?;
    String::from_utf8(bytes.to_vec()).map_err(AppError::internal)
}

fn view(key: &crypto::DataKey, row: &misuse_report::Model) -> Result<ReportView, AppError> {
    Ok(ReportView {
        id: row.id,
        account: row.account_id,
        entry_id: row.entry_id,
        status: status_of(row)?,
        comment: open_text(key, row, COMMENT_FIELD, &row.comment)?,
        answer: row
            .answer
            .as_ref()
            .map(|sealed| open_text(key, row, ANSWER_FIELD, sealed))
            .transpose()?,
        answered_by: row.answered_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
        answered_at: row.answered_at,
    })
}

/// The entry a citizen is about to report; `NotFound` unless it is one of theirs.
pub async fn reportable_entry(
    state: &AppState,
    citizen: &account::Model,
    entry: Uuid,
) -> Result<EntryView, AppError> {
    crate::audit::service::entry_of(&state.db, citizen.id, entry)
        .await?
        .ok_or(AppError::NotFound)
}

/// Files a report about `entry` (one of the citizen's own entries) with `comment`; returns its id.
pub async fn file(
    state: &AppState,
    citizen: &account::Model,
    entry: Uuid,
    comment: &str,
) -> Result<Uuid, AppError> {
    reportable_entry(state, citizen, entry).await?;
    let comment = Text::parse(comment, "comment")?;
    let key = crate::accounts::service::data_key(state, citizen)?;
    let id = Uuid::now_v7();
    let sealed = crypto::seal_field(
        &key,
        &context(citizen.id, id, COMMENT_FIELD),
        comment.as_str().as_bytes(),
    )
    .map_err(crypto_error)?;
    let now = crate::audit::model::truncate_to_micros(state.clock.now());
    let txn = state.db.begin().await?;
    repo::insert(
        &txn,
        misuse_report::Model {
            id,
            account_id: citizen.id,
            entry_id: entry,
            comment: sealed,
            status: Status::New.as_str().to_owned(),
            answer: None,
            answered_by: None,
            created_at: now,
            updated_at: now,
            answered_at: None,
        },
    )
    .await?;
    crate::audit::append(
        &txn,
        now,
        &Entry::by_owner(citizen.id, Action::ReportFile, Object::Report { id }),
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

/// The citizen's reports with their answers, newest first.
pub async fn mine(state: &AppState, citizen: &account::Model) -> Result<Vec<ReportView>, AppError> {
    let rows = repo::list_for_account(&state.db, citizen.id, LIST_LIMIT).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let key = crate::accounts::service::data_key(state, citizen)?;
    rows.iter().map(|row| view(&key, row)).collect()
}

/// The inbox: reports with `status`, oldest first.
pub async fn inbox(state: &AppState, status: Status) -> Result<Vec<InboxItem>, AppError> {
    repo::list_by_status(&state.db, status.as_str(), LIST_LIMIT)
        .await?
        .iter()
        .map(|row| {
            Ok(InboxItem {
                id: row.id,
                status: status_of(row)?,
                created_at: row.created_at,
            })
        })
        .collect()
}

/// One report for an operator: comment and answer opened with the citizen's key, and the
/// entry it refers to.
pub async fn open_for_operator(
    state: &AppState,
    id: Uuid,
) -> Result<(ReportView, Option<EntryView>), AppError> {
    let row = repo::find(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let citizen = crate::accounts::repo::find_by_id(&state.db, row.account_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let key = crate::accounts::service::data_key(state, &citizen)?;
    let report = view(&key, &row)?;
    let entry = crate::audit::service::entry_of(&state.db, row.account_id, row.entry_id).await?;
    Ok((report, entry))
}

/// Moves a report to `to` (with the answer when `to` is answered), appending `report.answer`
/// by the operator in the same transaction. Refused with `report_status` if the report is not
/// in a status it may move from (answered is final; nothing goes back).
async fn move_to(
    state: &AppState,
    operator: &account::Model,
    id: Uuid,
    to: Status,
    answer: Option<&Text>,
) -> Result<(), AppError> {
    let row = repo::find(&state.db, id).await?.ok_or(AppError::NotFound)?;
    if !status_of(&row)?.can_move_to(to) {
        return Err(status_refused());
    }
    let sealed = match answer {
        Some(text) => {
            let citizen = crate::accounts::repo::find_by_id(&state.db, row.account_id)
                .await?
                .ok_or(AppError::NotFound)?;
            let key = crate::accounts::service::data_key(state, &citizen)?;
            Some(
                crypto::seal_field(
                    &key,
                    &context(row.account_id, id, ANSWER_FIELD),
                    text.as_str().as_bytes(),
                )
                .map_err(crypto_error)?,
            )
        }
        None => None,
    };
    let from: Vec<&str> = to.allowed_from().iter().map(|s| s.as_str()).collect();
    let now = crate::audit::model::truncate_to_micros(state.clock.now());
    let txn = state.db.begin().await?;
    let moved = repo::move_status(
        &txn,
        repo::Move {
            id,
            from: &from,
            to: to.as_str(),
            answered_by: sealed.as_ref().map(|_| operator.id),
            answer: sealed,
            now,
        },
    )
    .await?;
    if !moved {
        txn.rollback().await?;
        return Err(status_refused());
    }
    crate::audit::append(
        &txn,
        now,
        &Entry {
            account: row.account_id,
            actor: Actor::Operator {
                account: operator.id,
            },
            action: Action::ReportAnswer,
            object: Object::Report { id },
            purpose: None,
            authorization: Authorization::Request(id),
            outcome: Outcome::Allowed,
        },
    )
    .await?;
    if to == Status::Answered {
        crate::notify::service::notify(
            &txn,
            now,
            row.account_id,
            crate::notify::model::Kind::ReportAnswered,
            serde_json::json!({ "link": "/access-log/reports" }),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

fn status_refused() -> AppError {
    AppError::invalid(
        "report_status",
        "the report is not in a status it may move from",
    )
}

/// new → investigating.
pub async fn investigate(
    state: &AppState,
    operator: &account::Model,
    id: Uuid,
) -> Result<(), AppError> {
    move_to(state, operator, id, Status::Investigating, None).await
}

/// new or investigating → answered, with the answer the citizen will see.
pub async fn answer(
    state: &AppState,
    operator: &account::Model,
    id: Uuid,
    answer: &str,
) -> Result<(), AppError> {
    let text = Text::parse(answer, "answer")?;
    move_to(state, operator, id, Status::Answered, Some(&text)).await
}
