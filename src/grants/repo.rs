//! Queries of access requests, grants and their documents. Every function takes the caller's
//! connection: the service decides what runs in one transaction.

use chrono::{DateTime, Utc};
use entity::{
    access_grant, access_request, account, agency, api_credential, document, grant_document,
};
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, JoinType, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, IdenStatic, Iterable,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
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

/// What an agency read needs besides the caller: the grant; its row for `document` if it covers
/// it; and, if it does and the document still exists, the document with its owner (whose key
/// the door needs). The door still decides on these rows (see `access::door::open_claiming`).
#[derive(Debug)]
pub struct GrantRead {
    pub grant: access_grant::Model,
    pub covered: Option<grant_document::Model>,
    pub document: Option<(document::Model, account::Model)>,
}

/// An agency read's rows in one query, each read being a round trip through the pool less:
/// the live credential with `token_hash` and its agency (through `issuers::repo::live_credential_with_agency`,
/// the rule every agency call is authenticated by), then the [`GrantRead`] of `grant` and
/// `document` if that grant exists (whoever's it is: the service checks it is this agency's).
/// `None`: no live credential has this token.
pub async fn find_agency_read(
    conn: &impl ConnectionTrait,
    token_hash: &str,
    grant: Uuid,
    document: Uuid,
) -> Result<Option<(api_credential::Model, agency::Model, Option<GrantRead>)>, DbErr> {
    let mut select = crate::issuers::repo::live_credential_with_agency(token_hash);
    let query = QueryTrait::query(&mut select);
    query
        .join(
            JoinType::LeftJoin,
            access_grant::Entity,
            Expr::col((access_grant::Entity, access_grant::Column::Id)).eq(grant),
        )
        .join(
            JoinType::LeftJoin,
            grant_document::Entity,
            Condition::all()
                .add(
                    Expr::col((grant_document::Entity, grant_document::Column::GrantId))
                        .equals((access_grant::Entity, access_grant::Column::Id)),
                )
                .add(
                    Expr::col((grant_document::Entity, grant_document::Column::DocumentId))
                        .eq(document),
                ),
        )
        .join(
            JoinType::LeftJoin,
            document::Entity,
            Expr::col((document::Entity, document::Column::Id))
                .equals((grant_document::Entity, grant_document::Column::DocumentId)),
        )
        .join(
            JoinType::LeftJoin,
            account::Entity,
            Expr::col((account::Entity, account::Column::Id))
                .equals((document::Entity, document::Column::OwnerId)),
        );
    select_prefixed::<access_grant::Entity>(query, "C_");
    select_prefixed::<grant_document::Entity>(query, "D_");
    select_prefixed::<document::Entity>(query, "E_");
    select_prefixed::<account::Entity>(query, "F_");
    let statement = QueryTrait::build(&select, conn.get_database_backend());
    let Some(row) = conn.query_one_raw(statement).await? else {
        return Ok(None);
    };
    let credential = api_credential::Model::from_query_result(&row, "A_")?;
    let Some(agency) = agency::Model::from_query_result_optional(&row, "B_")? else {
        return Ok(None);
    };
    let read = match access_grant::Model::from_query_result_optional(&row, "C_")? {
        None => None,
        Some(grant) => Some(GrantRead {
            grant,
            covered: grant_document::Model::from_query_result_optional(&row, "D_")?,
            document: match (
                document::Model::from_query_result_optional(&row, "E_")?,
                account::Model::from_query_result_optional(&row, "F_")?,
            ) {
                (Some(document), Some(owner)) => Some((document, owner)),
                _ => None,
            },
        }),
    };
    Ok(Some((credential, agency, read)))
}

/// Adds every column of `E` to `select` as `{prefix}{column}`, the way SeaORM's `select_also`
/// names its second entity's columns (`B_…`), so that `E::Model::from_query_result(row, prefix)`
/// reads them back.
fn select_prefixed<E: EntityTrait>(select: &mut SelectStatement, prefix: &str) {
    for column in <E::Column as Iterable>::iter() {
        select.expr_as(
            column.select_as(column.into_expr()),
            Alias::new(format!("{prefix}{}", column.as_str())),
        );
    }
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
