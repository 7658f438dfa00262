//! Queries of access requests, grants and their documents. Every function takes the caller's
//! connection: the service decides what runs in one transaction.

use chrono::{DateTime, Utc};
use entity::{access_grant, access_request, grant_document};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

/// Most rows a list shows.
pub const LIST_LIMIT: u64 = 100;

pub async fn find_request(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<access_request::Model>, DbErr> {
    access_request::Entity::find_by_id(id).one(conn).await
}

pub async fn find_by_idempotency_key(
    conn: &impl ConnectionTrait,
    credential: Uuid,
    key: &str,
) -> Result<Option<access_request::Model>, DbErr> {
    access_request::Entity::find()
        .filter(access_request::Column::CredentialId.eq(credential))
        .filter(access_request::Column::IdempotencyKey.eq(key))
        .one(conn)
        .await
}

pub async fn insert_request(
    conn: &impl ConnectionTrait,
    row: access_request::Model,
) -> Result<(), DbErr> {
    let active: access_request::ActiveModel = row.into();
    access_request::Entity::insert(active)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn requests_of_agency(
    conn: &impl ConnectionTrait,
    agency: Uuid,
) -> Result<Vec<access_request::Model>, DbErr> {
    access_request::Entity::find()
        .filter(access_request::Column::AgencyId.eq(agency))
        .order_by_desc(access_request::Column::CreatedAt)
        .limit(LIST_LIMIT)
        .all(conn)
        .await
}

/// The citizen's unanswered requests that can still be answered, oldest first.
pub async fn pending_for_citizen(
    conn: &impl ConnectionTrait,
    citizen: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<access_request::Model>, DbErr> {
    access_request::Entity::find()
        .filter(access_request::Column::CitizenId.eq(citizen))
        .filter(access_request::Column::Status.eq("pending"))
        .filter(access_request::Column::AnswerBy.gt(now))
        .order_by_asc(access_request::Column::CreatedAt)
        .limit(LIST_LIMIT)
        .all(conn)
        .await
}

pub async fn count_pending_for_citizen(
    conn: &impl ConnectionTrait,
    citizen: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    access_request::Entity::find()
        .filter(access_request::Column::CitizenId.eq(citizen))
        .filter(access_request::Column::Status.eq("pending"))
        .filter(access_request::Column::AnswerBy.gt(now))
        .count(conn)
        .await
}

/// Moves a pending, unexpired request to `status`; false if it was answered (or expired)
/// meanwhile, so two answers at once cannot both win.
pub async fn decide_request(
    conn: &impl ConnectionTrait,
    id: Uuid,
    status: &str,
    grant: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = access_request::Entity::update_many()
        .col_expr(access_request::Column::Status, Expr::value(status))
        .col_expr(access_request::Column::DecidedAt, Expr::value(now))
        .col_expr(access_request::Column::GrantId, Expr::value(grant))
        .filter(access_request::Column::Id.eq(id))
        .filter(access_request::Column::Status.eq("pending"))
        .filter(access_request::Column::AnswerBy.gt(now))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Marks requests past their answer-by time expired (tidy-up: reads already treat them so).
pub async fn expire_unanswered(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let result = access_request::Entity::update_many()
        .col_expr(access_request::Column::Status, Expr::value("expired"))
        .filter(access_request::Column::Status.eq("pending"))
        .filter(access_request::Column::AnswerBy.lte(now))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

pub async fn insert_grant(
    conn: &impl ConnectionTrait,
    grant: access_grant::Model,
    documents: Vec<grant_document::Model>,
) -> Result<(), DbErr> {
    let active: access_grant::ActiveModel = grant.into();
    access_grant::Entity::insert(active)
        .exec_without_returning(conn)
        .await?;
    if !documents.is_empty() {
        let rows: Vec<grant_document::ActiveModel> =
            documents.into_iter().map(Into::into).collect();
        grant_document::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

pub async fn find_grant(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<access_grant::Model>, DbErr> {
    access_grant::Entity::find_by_id(id).one(conn).await
}

pub async fn grant_documents(
    conn: &impl ConnectionTrait,
    grant: Uuid,
) -> Result<Vec<grant_document::Model>, DbErr> {
    grant_document::Entity::find()
        .filter(grant_document::Column::GrantId.eq(grant))
        .all(conn)
        .await
}

pub async fn grant_document(
    conn: &impl ConnectionTrait,
    grant: Uuid,
    document: Uuid,
) -> Result<Option<grant_document::Model>, DbErr> {
    grant_document::Entity::find_by_id((grant, document))
        .one(conn)
        .await
}

/// A grant and, if it covers `document`, that document's row, in one query (every agency read
/// asks for both).
pub async fn find_grant_covering(
    conn: &impl ConnectionTrait,
    grant: Uuid,
    document: Uuid,
) -> Result<Option<(access_grant::Model, Option<grant_document::Model>)>, DbErr> {
    let covering: sea_orm::RelationDef = access_grant::Entity::belongs_to(grant_document::Entity)
        .from(access_grant::Column::Id)
        .to(grant_document::Column::GrantId)
        .on_condition(move |_, covered| {
            Expr::col((covered, grant_document::Column::DocumentId))
                .eq(document)
                .into()
        })
        .into();
    access_grant::Entity::find_by_id(grant)
        .join(sea_orm::JoinType::LeftJoin, covering)
        .select_also(grant_document::Entity)
        .one(conn)
        .await
}

pub async fn grants_of_citizen(
    conn: &impl ConnectionTrait,
    citizen: Uuid,
) -> Result<Vec<access_grant::Model>, DbErr> {
    access_grant::Entity::find()
        .filter(access_grant::Column::CitizenId.eq(citizen))
        .order_by_desc(access_grant::Column::CreatedAt)
        .limit(LIST_LIMIT)
        .all(conn)
        .await
}

pub async fn grants_of_agency(
    conn: &impl ConnectionTrait,
    agency: Uuid,
) -> Result<Vec<access_grant::Model>, DbErr> {
    access_grant::Entity::find()
        .filter(access_grant::Column::AgencyId.eq(agency))
        .order_by_desc(access_grant::Column::CreatedAt)
        .limit(LIST_LIMIT)
        .all(conn)
        .await
}

/// Withdraws a live grant of `citizen`; false if it was already withdrawn.
pub async fn withdraw(
    conn: &impl ConnectionTrait,
    grant: Uuid,
    citizen: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = access_grant::Entity::update_many()
        .col_expr(access_grant::Column::WithdrawnAt, Expr::value(now))
        .filter(access_grant::Column::Id.eq(grant))
        .filter(access_grant::Column::CitizenId.eq(citizen))
        .filter(access_grant::Column::WithdrawnAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// What a read uses up: a read of the signed fields, or of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Fields,
    File,
}

/// Takes one use of `form` of a granted document if one is left (a compare-and-set, so
/// parallel reads cannot take more than `max_uses` between them); false if none is left.
pub async fn take_use(
    conn: &impl ConnectionTrait,
    grant: Uuid,
    document: Uuid,
    form: Form,
    max_uses: i32,
) -> Result<bool, DbErr> {
    let column = match form {
        Form::Fields => grant_document::Column::FieldReads,
        Form::File => grant_document::Column::FileReads,
    };
    let result = grant_document::Entity::update_many()
        .col_expr(column, Expr::col(column).add(1))
        .filter(grant_document::Column::GrantId.eq(grant))
        .filter(grant_document::Column::DocumentId.eq(document))
        .filter(column.lt(max_uses))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Builds the row of a new grant's document.
pub fn grant_document_row(
    grant: Uuid,
    document: Uuid,
    doc_type: &str,
    file: bool,
    fields: &[String],
) -> Result<grant_document::Model, serde_json::Error> {
    Ok(grant_document::Model {
        grant_id: grant,
        document_id: document,
        doc_type: doc_type.to_owned(),
        file,
        fields: serde_json::to_string(fields)?,
        field_reads: 0,
        file_reads: 0,
    })
}
