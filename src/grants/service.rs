//! The rules of consent-scoped sharing. Each change is one transaction whose first statement
//! is its write (a compare-and-set where two could race), with its access-log entry and its
//! outbox message in the same transaction.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use entity::{access_grant, access_request, account, agency, grant_document};
use sea_orm::{ConnectionTrait, DbErr, SqlErr, TransactionTrait};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::consent;
use super::model::{
    COUNTER_CREDENTIAL, GrantStatus, Item, Length, Need, NewRequest, RequestStatus, request_status,
};
use super::repo::{self, Form};
use crate::access::door::{self, DocumentId, Lookup, Opened, Purpose, Reader};
use crate::audit::writer::Claim;
use crate::audit::{self, Action, Actor, Authorization, Entry, Object};
use crate::auth::Role;
use crate::error::AppError;
use crate::issuers::api::{AgencyClient, AgencyToken};
use crate::issuers::catalogue;
use crate::purposes::{self, OverAsking};
use crate::state::AppState;
use crate::vault::model::DocumentType;
use crate::verify::payload::format_time;

const MAX_EXPLANATION_CHARS: usize = 1000;
const MAX_IDEMPOTENCY_KEY: usize = 128;
const MAX_ITEMS: usize = 20;

fn invalid(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::invalid(code, message)
}

/// A request as the agency API shows it.
pub fn request_json(row: &access_request::Model, now: DateTime<Utc>) -> Value {
    json!({
        "id": row.id,
        "status": request_status(row, now).as_str(),
        "purpose": row.purpose_code,
        "procedure": row.procedure_code,
        "documents": serde_json::from_str::<Value>(&row.items).unwrap_or(Value::Null),
        "duration_days": row.grant_days,
        "max_uses": row.max_uses,
        "created_at": format_time(row.created_at),
        "answer_by": format_time(row.answer_by),
        "decided_at": row.decided_at.map(format_time),
        "grant_id": row.grant_id,
    })
}

/// Who asks for a citizen's documents.
#[derive(Debug, Clone, Copy)]
pub enum Requester<'a> {
    /// An agency's system, through the API with one of its credentials.
    Api(&'a AgencyClient),
    /// A clerk at the agency's counter, in a counter session (`counter::service`).
    Counter {
        agency: &'a agency::Model,
        clerk: Uuid,
    },
}

impl Requester<'_> {
    fn agency(&self) -> &agency::Model {
        match self {
            Self::Api(client) => &client.agency,
            Self::Counter { agency, .. } => agency,
        }
    }

    /// The credential stored on the request (counter requests have none: see
    /// [`COUNTER_CREDENTIAL`]).
    fn credential(&self) -> Uuid {
        match self {
            Self::Api(client) => client.credential,
            Self::Counter { .. } => COUNTER_CREDENTIAL,
        }
    }
}

/// A request as asked, its shape checked, before it is checked against the agency's purposes
/// and the catalogue ([`check_request`]).
#[derive(Debug, Clone)]
pub struct Asked {
    /// The citizen's account, if one holds the national ID number asked for (a request for
    /// nobody is kept and answered like any other).
    pub citizen: Option<Uuid>,
    pub purpose_code: String,
    pub explanation: String,
    pub procedure: Option<String>,
    pub documents: Vec<Item>,
    pub length: Length,
    pub max_uses: u32,
    pub callback: Option<url::Url>,
    pub idempotency_key: Option<String>,
    /// SHA-256 of the API body (empty for a counter request).
    pub body_sha256: String,
}

/// `POST /api/v1/requests`. Returns the request and whether it was created now (false: the
/// same `Idempotency-Key` and body were sent before, and this is that request).
pub async fn create_request(
    state: &AppState,
    client: &AgencyClient,
    body: &[u8],
    idempotency_key: Option<&str>,
) -> Result<(access_request::Model, bool), AppError> {
    let body_sha256 = hex::encode(Sha256::digest(body));
    if let Some(key) = idempotency_key {
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || !key.is_ascii() {
            return Err(invalid(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 128 ASCII characters",
            ));
        }
        if let Some(done) = repo::find_by_idempotency_key(&state.db, client.credential, key).await?
        {
            return same_request(done, &body_sha256);
        }
    }
    let asked = parse_api_request(state, body, idempotency_key, body_sha256.clone()).await?;
    let row = check_request(state, Requester::Api(client), &asked).await?;
    // The request and the citizen's notification commit together. A national ID with no
    // account gets no notification and the same answer (the agency cannot tell).
    let txn = state.db.begin().await?;
    let inserted = match repo::insert_request(&txn, row.clone()).await {
        Ok(()) => match row.citizen_id {
            Some(citizen) => tell_citizen_of_request(&txn, state.clock.now(), citizen, &row).await,
            None => Ok(()),
        },
        Err(error) => Err(error),
    };
    let inserted = match inserted {
        Ok(()) => txn.commit().await,
        Err(error) => {
            txn.rollback().await.ok();
            Err(error)
        }
    };
    match inserted {
        Ok(()) => Ok((row, true)),
        // Two POSTs with one key at once: the loser answers with the winner's request.
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            let key = idempotency_key.unwrap_or_default();
            let done = repo::find_by_idempotency_key(&state.db, client.credential, key)
                .await?
                .ok_or_else(|| AppError::internal(error))?;
            same_request(done, &body_sha256)
        }
        Err(error) => Err(error.into()),
    }
}

/// Queues the citizen's "new request" notification in `txn` (the request's transaction).
pub async fn tell_citizen_of_request(
    txn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    citizen: Uuid,
    request: &access_request::Model,
) -> Result<(), DbErr> {
    crate::notify::service::notify(
        txn,
        now,
        citizen,
        crate::notify::model::Kind::RequestNew,
        json!({
            "agency_id": request.agency_id,
            "link": format!("/shared/requests/{}", request.id),
        }),
    )
    .await?;
    Ok(())
}

/// A counter request answered: the clerk who opened its session is told, in `txn`.
async fn tell_clerk(
    txn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    request: &access_request::Model,
) -> Result<(), AppError> {
    if request.credential_id != COUNTER_CREDENTIAL {
        return Ok(());
    }
    if let Some(session) = crate::counter::repo::find_by_request(txn, request.id).await? {
        crate::notify::service::notify(
            txn,
            now,
            session.clerk_id,
            crate::notify::model::Kind::CounterAnswered,
            json!({ "link": format!("/staff/counter/sessions/{}", session.id) }),
        )
        .await?;
    }
    Ok(())
}

/// The API body of a request, checked for shape and limits; the citizen looked up by national
/// ID number (an unknown one is no error: see [`Asked::citizen`]).
pub async fn parse_api_request(
    state: &AppState,
    body: &[u8],
    idempotency_key: Option<&str>,
    body_sha256: String,
) -> Result<Asked, AppError> {
    let asked: NewRequest = serde_json::from_slice(body)
        .map_err(|e| invalid("invalid_request", format!("request body: {e}")))?;
    let settings = &state.config.grants;
    let national_id = crate::accounts::model::NationalId::parse(&asked.citizen_national_id)
        .map_err(|_| {
            invalid(
                "invalid_national_id",
                "citizen_national_id must be a 12-digit national ID number",
            )
        })?;
    if asked.duration_days == 0 {
        return Err(invalid(
            "invalid_duration",
            "duration_days must be at least 1",
        ));
    }
    if asked.duration_days > settings.max_grant_days {
        return Err(invalid(
            "duration_too_long",
            format!("duration_days may be at most {}", settings.max_grant_days),
        ));
    }
    if asked.max_uses == 0 || asked.max_uses > settings.max_uses {
        return Err(invalid(
            "invalid_max_uses",
            format!("max_uses must be between 1 and {}", settings.max_uses),
        ));
    }
    let callback = asked
        .callback_url
        .as_deref()
        .map(|raw| crate::outbox::parse_callback(raw, &state.config.outbox))
        .transpose()?;
    let citizen = crate::accounts::repo::find_by_login(&state.db, national_id.as_str())
        .await?
        .filter(|a| a.role == Role::Citizen.as_str());
    Ok(Asked {
        citizen: citizen.map(|c| c.id),
        purpose_code: asked.purpose,
        explanation: asked.explanation,
        procedure: asked.procedure,
        documents: asked.documents,
        length: Length::Days(asked.duration_days),
        max_uses: asked.max_uses,
        callback,
        idempotency_key: idempotency_key.map(str::to_owned),
        body_sha256,
    })
}

/// Checks a request against the requester's registered purpose and the catalogue, and builds
/// its row (not inserted: the caller inserts it, in its own transaction if it has one).
/// Asking outside the purpose is refused `over_asking` and recorded for the operators. At a
/// counter, a procedure's optional types that the purpose does not cover are left out rather
/// than refused (its required types must be covered).
pub async fn check_request(
    state: &AppState,
    requester: Requester<'_>,
    asked: &Asked,
) -> Result<access_request::Model, AppError> {
    let now = state.clock.now();
    let settings = &state.config.grants;
    let agency = requester.agency();
    let purpose_code = asked.purpose_code.trim();
    if purpose_code.is_empty() {
        return Err(invalid(
            "empty_purpose",
            "purpose must name a registered purpose",
        ));
    }
    let explanation = asked.explanation.trim();
    if explanation.is_empty() || explanation.chars().count() > MAX_EXPLANATION_CHARS {
        return Err(invalid(
            "invalid_explanation",
            "explanation must say why, in 1 to 1000 characters",
        ));
    }
    if explanation.chars().any(char::is_control) {
        return Err(invalid(
            "invalid_explanation",
            "explanation holds control characters",
        ));
    }
    let purpose = purposes::repo::find_purpose(&state.db, agency.id, purpose_code).await?;
    let procedure = match asked.procedure.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(code) => Some(
            purposes::repo::find_procedure(&state.db, code)
                .await?
                .ok_or_else(|| {
                    invalid(
                        "unknown_procedure",
                        format!("no procedure `{code}` in the catalogue"),
                    )
                })?,
        ),
    };
    let lenient = matches!(requester, Requester::Counter { .. });
    let items = items_asked(
        &asked.documents,
        procedure.as_ref(),
        purpose.as_ref(),
        lenient,
    )?;
    let over = |reason: String| OverAsking {
        agency: agency.id,
        credential: requester.credential(),
        purpose_code: purpose_code.to_owned(),
        asked: serde_json::to_value(&items).unwrap_or(Value::Null),
        reason,
        citizen_named: asked.citizen.is_some(),
    };
    let purpose = match purpose {
        Some(p) if !p.retired => p,
        found => {
            let reason = if found.is_some() {
                format!("purpose `{purpose_code}` is retired")
            } else {
                format!("purpose `{purpose_code}` is not registered for this agency")
            };
            purposes::repo::record_over_asking(&state.db, now, &over(reason.clone())).await?;
            return Err(invalid("over_asking", reason));
        }
    };
    if let Err(reason) = within_purpose(&items, &purpose) {
        purposes::repo::record_over_asking(&state.db, now, &over(reason.clone())).await?;
        return Err(invalid("over_asking", reason));
    }
    let (grant_days, grant_minutes, answer_by) = match asked.length {
        Length::Days(n) => (
            i32::try_from(n).map_err(AppError::internal)?,
            None,
            now + Duration::days(i64::from(settings.answer_days)),
        ),
        // The citizen answers at the desk: the request lapses when its grant would.
        Length::Minutes(n) => (
            0,
            Some(i32::try_from(n).map_err(AppError::internal)?),
            now + asked.length.duration(),
        ),
    };
    Ok(access_request::Model {
        id: Uuid::now_v7(),
        agency_id: agency.id,
        credential_id: requester.credential(),
        citizen_id: asked.citizen,
        purpose_code: purpose.code.clone(),
        explanation: explanation.to_owned(),
        procedure_code: procedure.map(|p| p.code),
        items: serde_json::to_string(&items).map_err(AppError::internal)?,
        grant_days,
        grant_minutes,
        max_uses: i32::try_from(asked.max_uses).map_err(AppError::internal)?,
        callback_url: asked.callback.as_ref().map(|u| u.to_string()),
        idempotency_key: asked.idempotency_key.clone(),
        body_sha256: asked.body_sha256.clone(),
        status: RequestStatus::Pending.as_str().to_owned(),
        created_at: now,
        answer_by,
        decided_at: None,
        grant_id: None,
    })
}

fn same_request(
    done: access_request::Model,
    body_sha256: &str,
) -> Result<(access_request::Model, bool), AppError> {
    if done.body_sha256 == body_sha256 {
        Ok((done, false))
    } else {
        Err(AppError::Conflict {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was used for a different request".to_owned(),
        })
    }
}

/// The items of a request: those listed, and a procedure's document types (each as much as
/// the purpose allows: its file if allowed, its allowed fields as required for a required
/// type). Unknown types and fields are refused here; being inside the purpose is checked next.
fn items_asked(
    listed: &[Item],
    procedure: Option<&purposes::Procedure>,
    purpose: Option<&purposes::Purpose>,
    lenient_optional: bool,
) -> Result<Vec<Item>, AppError> {
    let mut items: Vec<Item> = Vec::new();
    if let Some(procedure) = procedure {
        let kinds = procedure
            .required_types
            .iter()
            .map(|t| (t, Need::Required))
            .chain(procedure.optional_types.iter().map(|t| (t, Need::Optional)));
        for (doc_type, need) in kinds {
            let scope = purpose.and_then(|p| p.scope.get(doc_type));
            if lenient_optional && need == Need::Optional && scope.is_none() {
                continue;
            }
            items.push(Item {
                doc_type: doc_type.clone(),
                need,
                file: scope.is_none_or(|s| s.file),
                fields: scope
                    .map(|s| s.fields.iter().map(|f| (f.clone(), need)).collect())
                    .unwrap_or_default(),
            });
        }
    }
    for item in listed {
        items.retain(|i| i.doc_type != item.doc_type);
        items.push(item.clone());
    }
    if items.is_empty() {
        return Err(invalid(
            "nothing_asked",
            "name a procedure or at least one document",
        ));
    }
    if items.len() > MAX_ITEMS {
        return Err(invalid(
            "too_many_documents",
            format!("at most {MAX_ITEMS} document types"),
        ));
    }
    let mut seen = BTreeSet::new();
    for item in &items {
        let doc_type = DocumentType::parse(&item.doc_type).ok_or_else(|| {
            invalid(
                "unknown_type",
                format!("unknown document type `{}`", item.doc_type),
            )
        })?;
        if !seen.insert(item.doc_type.clone()) {
            return Err(invalid(
                "duplicate_type",
                format!("`{}` is listed twice", item.doc_type),
            ));
        }
        if !item.file && item.fields.is_empty() {
            return Err(invalid(
                "nothing_asked",
                format!("`{}`: ask for the file or for some fields", item.doc_type),
            ));
        }
        let known = catalogue::fields_for(doc_type);
        for name in item.fields.keys() {
            if !known.iter().any(|f| f.name == name) {
                return Err(invalid(
                    "unknown_field",
                    format!("`{}` has no field `{name}`", item.doc_type),
                ));
            }
        }
    }
    Ok(items)
}

/// Whether every item is inside what the purpose was registered for.
fn within_purpose(items: &[Item], purpose: &purposes::Purpose) -> Result<(), String> {
    for item in items {
        let Some(scope) = purpose.scope.get(&item.doc_type) else {
            return Err(format!(
                "purpose `{}` does not cover `{}`",
                purpose.code, item.doc_type
            ));
        };
        if item.file && !scope.file {
            return Err(format!(
                "purpose `{}` does not cover the file of `{}`",
                purpose.code, item.doc_type
            ));
        }
        if let Some(name) = item.fields.keys().find(|f| !scope.fields.contains(*f)) {
            return Err(format!(
                "purpose `{}` does not cover field `{name}` of `{}`",
                purpose.code, item.doc_type
            ));
        }
    }
    Ok(())
}

/// A request the agency may see: its own, else missing.
pub async fn agency_request(
    state: &AppState,
    client: &AgencyClient,
    id: Uuid,
) -> Result<access_request::Model, AppError> {
    repo::find_request(&state.db, id)
        .await?
        .filter(|r| r.agency_id == client.agency.id)
        .ok_or(AppError::NotFound)
}

/// A grant the agency may see: its own, else missing.
pub async fn agency_grant(
    state: &AppState,
    client: &AgencyClient,
    id: Uuid,
) -> Result<(access_grant::Model, Vec<grant_document::Model>), AppError> {
    let grant = repo::find_grant(&state.db, id)
        .await?
        .filter(|g| g.agency_id == client.agency.id)
        .ok_or(AppError::NotFound)?;
    let documents = repo::grant_documents(&state.db, grant.id).await?;
    Ok((grant, documents))
}

/// A grant as the agency API and the citizen's JSON show it.
pub fn grant_json(
    state: &AppState,
    grant: &access_grant::Model,
    documents: &[grant_document::Model],
) -> Result<Value, AppError> {
    let now = state.clock.now();
    let docs: Vec<Value> = documents
        .iter()
        .map(|d| {
            json!({
                "document_id": d.document_id,
                "type": d.doc_type,
                "file": d.file,
                "fields": serde_json::from_str::<Value>(&d.fields).unwrap_or(Value::Null),
                "field_reads": d.field_reads,
                "file_reads": d.file_reads,
            })
        })
        .collect();
    Ok(json!({
        "id": grant.id,
        "request_id": grant.request_id,
        "status": GrantStatus::of(grant, now).as_str(),
        "purpose": grant.purpose_code,
        "max_uses": grant.max_uses,
        "created_at": format_time(grant.created_at),
        "expires_at": format_time(grant.expires_at),
        "withdrawn_at": grant.withdrawn_at.map(format_time),
        "documents": docs,
        "consent_record": consent::signed(state, grant)?,
    }))
}

// ------------------------------------------------------------------ citizen

/// A pending request as the citizen's inbox shows it, with what is needed to decide.
#[derive(Debug)]
pub struct Ask {
    pub request: access_request::Model,
    pub agency: agency::Model,
    pub purpose: Option<purposes::Purpose>,
    pub procedure: Option<purposes::Procedure>,
    pub items: Vec<Item>,
}

pub async fn pending_count(state: &AppState, citizen: &account::Model) -> Result<u64, AppError> {
    Ok(repo::count_pending_for_citizen(&state.db, citizen.id, state.clock.now()).await?)
}

pub async fn inbox(state: &AppState, citizen: &account::Model) -> Result<Vec<Ask>, AppError> {
    let rows = repo::pending_for_citizen(&state.db, citizen.id, state.clock.now()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(ask(state, row).await?);
    }
    Ok(out)
}

async fn ask(state: &AppState, request: access_request::Model) -> Result<Ask, AppError> {
    let agency = crate::agencies::repo::find_by_id(&state.db, request.agency_id)
        .await?
        .ok_or_else(|| AppError::internal("request of a missing agency"))?;
    let purpose =
        purposes::repo::find_purpose(&state.db, request.agency_id, &request.purpose_code).await?;
    let procedure = match request.procedure_code.as_deref() {
        Some(code) => purposes::repo::find_procedure(&state.db, code).await?,
        None => None,
    };
    let items: Vec<Item> = serde_json::from_str(&request.items).map_err(AppError::internal)?;
    Ok(Ask {
        request,
        agency,
        purpose,
        procedure,
        items,
    })
}

/// One of the citizen's own requests, pending or not; another's is missing.
pub async fn citizen_request(
    state: &AppState,
    citizen: &account::Model,
    id: Uuid,
) -> Result<Ask, AppError> {
    let request = repo::find_request(&state.db, id)
        .await?
        .filter(|r| r.citizen_id == Some(citizen.id))
        .ok_or(AppError::NotFound)?;
    ask(state, request).await
}

/// The citizen's choice on a request: per item (by index), the documents picked and the
/// optional fields switched on. Nothing is picked unless the citizen picked it.
#[derive(Debug, Default, Clone)]
pub struct Choice {
    pub documents: BTreeMap<usize, BTreeSet<Uuid>>,
    pub optional_fields: BTreeMap<usize, BTreeSet<String>>,
}

fn closed() -> AppError {
    AppError::Conflict {
        code: "request_closed",
        message: "this request has already been answered or has expired".to_owned(),
    }
}

/// Approves (part of) a request: one grant over the documents picked, with its consent
/// record, the request marked approved (a compare-and-set: a second answer at once loses),
/// the entry in the citizen's log and the agency's webhook, in one transaction.
pub async fn approve(
    state: &AppState,
    citizen: &account::Model,
    id: Uuid,
    choice: &Choice,
) -> Result<access_grant::Model, AppError> {
    let now = state.clock.now();
    let ask = citizen_request(state, citizen, id).await?;
    if request_status(&ask.request, now) != RequestStatus::Pending {
        return Err(closed());
    }
    let purpose = ask
        .purpose
        .clone()
        .ok_or_else(|| AppError::internal("request of a missing purpose"))?;
    // A purpose retired since the request was made can take no new consent; grants already
    // given under it run until they end (their consent record holds the terms agreed).
    if purpose.retired {
        return Err(AppError::Conflict {
            code: "purpose_retired",
            message: "the agency may no longer ask for this purpose".to_owned(),
        });
    }
    let grant_id = Uuid::now_v7();
    let mut documents = Vec::new();
    let mut data_items = Vec::new();
    for (index, picked) in &choice.documents {
        let item = ask
            .items
            .get(*index)
            .ok_or_else(|| invalid("invalid_choice", "no such item"))?;
        let optional_on = choice.optional_fields.get(index);
        let fields: Vec<String> = item
            .fields
            .iter()
            .filter(|(name, need)| {
                **need == Need::Required || optional_on.is_some_and(|on| on.contains(*name))
            })
            .map(|(name, _)| name.clone())
            .collect();
        let declined: Vec<&String> = item
            .fields
            .iter()
            .filter(|(name, need)| **need == Need::Optional && !fields.contains(name))
            .map(|(name, _)| name)
            .collect();
        for document in picked {
            let row = crate::vault::repo::find(&state.db, *document)
                .await?
                .filter(|d| d.owner_id == citizen.id && d.doc_type == item.doc_type)
                .ok_or_else(|| {
                    invalid(
                        "invalid_choice",
                        "pick one of your own documents of the type asked for",
                    )
                })?;
            // A document the citizen uploaded has no signed fields: only its file can be shared.
            let fields = if row.source == "self" {
                Vec::new()
            } else {
                fields.clone()
            };
            if !item.file && fields.is_empty() {
                return Err(invalid(
                    "invalid_choice",
                    "this document has no signed details to share",
                ));
            }
            documents.push(
                repo::grant_document_row(grant_id, row.id, &row.doc_type, item.file, &fields)
                    .map_err(AppError::internal)?,
            );
            data_items.push(json!({
                "document_id": row.id,
                "type": row.doc_type,
                "need": item.need,
                "file": item.file,
                "fields": fields,
                "optional_fields_declined": declined,
            }));
        }
    }
    if documents.is_empty() {
        return Err(invalid(
            "nothing_chosen",
            "pick at least one document to share, or refuse",
        ));
    }
    let expires_at = now + Length::of(&ask.request).duration();
    let record = json!({
        "kind": consent::CONSENT_KIND,
        "version": 1,
        "schema": "ISO/IEC TS 27560:2023",
        "record_id": grant_id,
        "request_id": ask.request.id,
        "subject": { "account": citizen.id, "national_id": citizen.login },
        "controller": {
            "agency_id": ask.agency.id,
            "code": ask.agency.code,
            "name": ask.agency.name,
            "contact": controller_contact(state, &ask.agency),
        },
        "purpose": {
            "code": purpose.code,
            "description_vi": purpose.description_vi,
            "description_en": purpose.description_en,
            "explanation": ask.request.explanation,
            "procedure": ask.request.procedure_code,
        },
        "legal_basis": purpose.legal_basis,
        "data": data_items,
        "recipients": [{ "agency_id": ask.agency.id, "name": ask.agency.name }],
        "retention_days_after_use": purpose.retention_days,
        "valid_from": format_time(now),
        "valid_until": format_time(expires_at),
        "max_uses_per_document": ask.request.max_uses,
        "jurisdiction": "VN",
        "law": "Luật Bảo vệ dữ liệu cá nhân 91/2025/QH15, Nghị định 356/2025/NĐ-CP",
        "withdrawal": {
            "method": "web",
            "url": state.config.public_url.join(&format!("/shared/grants/{grant_id}")).map(|u| u.to_string()).unwrap_or_default(),
        },
    });
    let grant = access_grant::Model {
        id: grant_id,
        request_id: ask.request.id,
        agency_id: ask.agency.id,
        credential_id: ask.request.credential_id,
        citizen_id: citizen.id,
        purpose_code: purpose.code.clone(),
        max_uses: ask.request.max_uses,
        created_at: now,
        expires_at,
        withdrawn_at: None,
        consent_record: record.to_string(),
    };
    let txn = state.db.begin().await?;
    if !repo::decide_request(&txn, ask.request.id, "approved", Some(grant_id), now).await? {
        return Err(closed());
    }
    repo::insert_grant(&txn, grant.clone(), documents).await?;
    let entry = Entry::by_owner(
        citizen.id,
        Action::GrantApprove,
        Object::Grant { id: grant_id },
    );
    audit::append(&txn, now, &entry).await?;
    notify(
        &txn,
        now,
        &ask.request,
        "request.approved",
        json!({
            "request_id": ask.request.id,
            "grant_id": grant_id,
            "consent_record": consent::signed(state, &grant)?,
        }),
    )
    .await?;
    tell_clerk(&txn, now, &ask.request).await?;
    txn.commit().await?;
    Ok(grant)
}

/// The controller's contact in a consent record: the agency's own, as operators registered it;
/// only when it has none, the platform that relays requests to it, and the record says so
/// (`of`), so nobody mistakes the platform for the controller.
fn controller_contact(state: &AppState, agency: &agency::Model) -> Value {
    let contact = crate::agencies::Contact::of(agency);
    if contact.is_empty() {
        json!({
            "of": "platform",
            "url": state.config.public_url.to_string(),
            "note": "the agency has registered no contact details; the platform relays to it",
        })
    } else {
        json!({
            "of": "agency",
            "email": contact.email,
            "phone": contact.phone,
            "address": contact.address,
        })
    }
}

/// Refuses a request (compare-and-set like approval), logged and told to the agency.
pub async fn refuse(state: &AppState, citizen: &account::Model, id: Uuid) -> Result<(), AppError> {
    let now = state.clock.now();
    let ask = citizen_request(state, citizen, id).await?;
    let txn = state.db.begin().await?;
    if !repo::decide_request(&txn, ask.request.id, "refused", None, now).await? {
        return Err(closed());
    }
    let entry = Entry::by_owner(citizen.id, Action::RequestRefuse, Object::Request { id });
    audit::append(&txn, now, &entry).await?;
    notify(
        &txn,
        now,
        &ask.request,
        "request.refused",
        json!({ "request_id": id }),
    )
    .await?;
    tell_clerk(&txn, now, &ask.request).await?;
    txn.commit().await?;
    Ok(())
}

/// The agency's webhook for a status change, if it gave a callback: an outbox row in `txn`.
async fn notify(
    txn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    request: &access_request::Model,
    event: &str,
    body: Value,
) -> Result<(), AppError> {
    let Some(raw) = request.callback_url.as_deref() else {
        return Ok(());
    };
    let url = url::Url::parse(raw).map_err(AppError::internal)?;
    crate::outbox::enqueue(
        txn,
        now,
        crate::outbox::Message::Webhook {
            credential: request.credential_id,
            url,
            event: event.to_owned(),
            body,
        },
    )
    .await?;
    Ok(())
}

/// The citizen's grants, newest first, with the agency of each.
pub async fn shared(
    state: &AppState,
    citizen: &account::Model,
) -> Result<Vec<(access_grant::Model, agency::Model)>, AppError> {
    let grants = repo::grants_of_citizen(&state.db, citizen.id).await?;
    let mut out = Vec::with_capacity(grants.len());
    for grant in grants {
        let agency = crate::agencies::repo::find_by_id(&state.db, grant.agency_id)
            .await?
            .ok_or_else(|| AppError::internal("grant of a missing agency"))?;
        out.push((grant, agency));
    }
    Ok(out)
}

/// One of the citizen's grants with its documents; another's is missing.
pub async fn citizen_grant(
    state: &AppState,
    citizen: &account::Model,
    id: Uuid,
) -> Result<
    (
        access_grant::Model,
        Vec<grant_document::Model>,
        agency::Model,
    ),
    AppError,
> {
    let grant = repo::find_grant(&state.db, id)
        .await?
        .filter(|g| g.citizen_id == citizen.id)
        .ok_or(AppError::NotFound)?;
    let documents = repo::grant_documents(&state.db, grant.id).await?;
    let agency = crate::agencies::repo::find_by_id(&state.db, grant.agency_id)
        .await?
        .ok_or_else(|| AppError::internal("grant of a missing agency"))?;
    Ok((grant, documents, agency))
}

/// Withdraws a grant: the very next read is refused. Logged, and the agency told through the
/// outbox, in the same transaction. Withdrawing twice is answered like the first time.
pub async fn withdraw(
    state: &AppState,
    citizen: &account::Model,
    id: Uuid,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let (grant, _, _) = citizen_grant(state, citizen, id).await?;
    let txn = state.db.begin().await?;
    if !repo::withdraw(&txn, grant.id, citizen.id, now).await? {
        return Ok(());
    }
    let entry = Entry::by_owner(citizen.id, Action::GrantWithdraw, Object::Grant { id });
    audit::append(&txn, now, &entry).await?;
    let request = repo::find_request(&txn, grant.request_id)
        .await?
        .ok_or_else(|| AppError::internal("grant of a missing request"))?;
    let withdrawn = access_grant::Model {
        withdrawn_at: Some(now),
        ..grant
    };
    notify(
        &txn,
        now,
        &request,
        "grant.withdrawn",
        json!({
            "grant_id": id,
            "withdrawn_at": format_time(now),
            "consent_record": consent::signed(state, &withdrawn)?,
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

// ------------------------------------------------------------------ agency reads

/// A read let through: the decrypting handle, the grant, what it covers, the signed receipt.
pub struct AgencyRead {
    pub opened: Opened,
    pub grant: access_grant::Model,
    pub covered: grant_document::Model,
    pub receipt: Value,
}

/// An agency reads a document under a grant. Checked in this order, each refusal its own
/// code and its own denied entry in the citizen's log: the grant is this agency's (else
/// missing), not withdrawn, not expired, the document in scope and still present (else
/// `out_of_scope`, like a missing one), a use left (`grant_exhausted`). Then the door: the
/// use taken (compare-and-set) and the entry written in one commit before any byte (the
/// commit is shared with other reads', see `audit::writer`).
pub async fn agency_read(
    state: &AppState,
    token: &AgencyToken,
    grant_id: Uuid,
    document: DocumentId,
    form: Form,
) -> Result<AgencyRead, AppError> {
    let Some((credential, agency, read)) = repo::find_agency_read(
        &state.db,
        &crate::issuers::service::token_hash(token.as_str())?,
        grant_id,
        document.0,
    )
    .await?
    else {
        return Err(AppError::Unauthenticated);
    };
    crate::issuers::service::note_use(state, &credential).await?;
    let client = &AgencyClient {
        agency,
        credential: credential.id,
    };
    let now = state.clock.now();
    let purpose = match form {
        Form::Fields => Purpose::Fields,
        Form::File => Purpose::Open,
    };
    let actor = Actor::Agency {
        credential: client.credential,
        agency: client.agency.id,
    };
    let refuse = |grant: &access_grant::Model, error: AppError| {
        let citizen = grant.citizen_id;
        let authorization = Authorization::Grant(grant.id);
        async move {
            door::record_refusal(
                state,
                citizen,
                actor,
                purpose.action(),
                Object::Grant { id: grant_id },
                authorization,
            )
            .await;
            Err(error)
        }
    };
    let Some(repo::GrantRead {
        grant,
        covered,
        document: found,
    }) = read
    else {
        return Err(AppError::NotFound);
    };
    if grant.agency_id != client.agency.id {
        return refuse(&grant, AppError::NotFound).await;
    }
    match GrantStatus::of(&grant, now) {
        GrantStatus::Withdrawn => {
            return refuse(
                &grant,
                AppError::Refused {
                    code: "grant_withdrawn",
                    message: "the citizen withdrew this grant".to_owned(),
                },
            )
            .await;
        }
        GrantStatus::Expired => {
            return refuse(
                &grant,
                AppError::Refused {
                    code: "grant_expired",
                    message: "this grant has expired".to_owned(),
                },
            )
            .await;
        }
        GrantStatus::Active => {}
    }
    let in_scope = covered.as_ref().is_some_and(|c| match form {
        Form::File => c.file,
        Form::Fields => c.fields != "[]",
    });
    let Some(covered) = covered.filter(|_| in_scope) else {
        return refuse(&grant, AppError::OutOfScope).await;
    };
    let used = match form {
        Form::Fields => covered.field_reads,
        Form::File => covered.file_reads,
    };
    let exhausted = || AppError::Refused {
        code: "grant_exhausted",
        message: "this grant's reads of this document are used up".to_owned(),
    };
    if used >= grant.max_uses {
        return refuse(&grant, exhausted()).await;
    }
    let reader = Reader::Agency {
        credential: client.credential,
        agency: client.agency.id,
        grant: &grant,
        covered: &covered,
    };
    let claim = Claim::GrantUse {
        grant: grant.id,
        document: document.0,
        form,
        max_uses: grant.max_uses,
        citizen: grant.citizen_id,
        agency: grant.agency_id,
        at: now,
        window: state.config.notify.batch_window,
    };
    let opened = match door::open_claiming(
        state,
        &reader,
        document,
        purpose,
        Lookup::Found(Box::new(found)),
        claim,
    )
    .await
    {
        Ok(Some(opened)) => opened,
        // Parallel reads took the last use between the check above and the commit.
        Ok(None) => return refuse(&grant, exhausted()).await,
        // Deleted by the citizen since: gone, like any document outside the grant.
        Err(AppError::NotFound) => return Err(AppError::OutOfScope),
        Err(error) => return Err(error),
    };
    let receipt = consent::receipt(
        state,
        json!({
            "kind": "congdanso.access_receipt",
            "version": 1,
            "grant_id": grant.id,
            "consent_record_id": grant.id,
            "agency_id": client.agency.id,
            "credential_id": client.credential,
            "document_id": document.0,
            "type": opened.row.doc_type,
            "form": match form { Form::Fields => "fields", Form::File => "file" },
            "read_at": format_time(now),
        }),
    )?;
    Ok(AgencyRead {
        opened,
        grant,
        covered,
        receipt,
    })
}

/// The JSON answer of a fields read: the document's kind, exactly the granted fields, the
/// platform-signed cut naming the issuer-signed payload it was cut from (its SHA-256, the
/// issuer's key and signature), and the signed access receipt.
pub async fn fields_response(state: &AppState, read: &AgencyRead) -> Result<Value, AppError> {
    let allowed: Vec<String> =
        serde_json::from_str(&read.covered.fields).map_err(AppError::internal)?;
    let Some(record) = crate::vault::repo::find_signature(&state.db, read.opened.row.id).await?
    else {
        // A document nobody signed has no fields to give (only its file may be granted).
        return Err(AppError::OutOfScope);
    };
    let payload = read.opened.payload(&record)?;
    let signed_fields = payload.get("fields").and_then(Value::as_object);
    let fields: BTreeMap<String, Value> = allowed
        .into_iter()
        .filter_map(|name| {
            let value = signed_fields?.get(&name)?.clone();
            Some((name, value))
        })
        .collect();
    let canonical = crate::crypto::sign::canonical_json(&payload).map_err(AppError::internal)?;
    let cut = consent::signed_value(
        state,
        json!({
            "kind": "congdanso.field_cut",
            "version": 1,
            "grant_id": read.grant.id,
            "document_id": read.opened.row.id,
            "type": read.opened.row.doc_type,
            "fields": fields,
            "source": {
                "kind": record.kind,
                "issuer_agency_id": record.agency_id,
                "key_id": record.key_id,
                "payload_sha256": hex::encode(Sha256::digest(&canonical)),
                "signature": record.signature,
                "issued_at": format_time(record.issued_at),
                "accepted_at": format_time(record.accepted_at),
            },
            "cut_at": format_time(state.clock.now()),
        }),
    )?;
    Ok(json!({
        "document": {
            "id": read.opened.row.id,
            "type": read.opened.row.doc_type,
            "source": read.opened.row.source,
        },
        "grant_id": read.grant.id,
        "fields": fields,
        "cut": cut,
        "receipt": read.receipt,
    }))
}

/// Marks unanswered requests expired (reads already treat them so); for the housekeeping job.
pub async fn tidy(state: &AppState) -> Result<u64, AppError> {
    Ok(repo::expire_unanswered(&state.db, state.clock.now()).await?)
}
