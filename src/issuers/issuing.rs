//! Issuing: an agency pushes a signed document into a citizen's vault. The platform checks the
//! payload against the catalogue, the key against the agency's timeline and the signature
//! before anything is stored, and that the agency is authorised to issue the type (now and at
//! `issued_at`); the file's hash is checked as it streams in; the document, its signature
//! record, the platform's receipt and the superseding of an older document of the same type and
//! number (issued by the same agency or one it succeeds) are recorded in one transaction.

use bytes::Bytes;
use entity::{account, agency, document, document_signature, issuer_key};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::catalogue;
use super::model::KeyProblem;
use super::{repo, service};
use crate::accounts::service::data_key;
use crate::audit::{Action, Actor, Authorization, Entry, Object, Outcome};
use crate::auth::Role;
use crate::crypto::{self, DataKey, sign};
use crate::error::{AppError, FieldError};
use crate::i18n::Lang;
use crate::state::AppState;
use crate::vault::model::DocumentType;
use crate::vault::service::{self as vault, ContentRules, NewDocument};
use crate::verify::payload::{self, Kind, ParsedPayload};
use crate::verify::{Problem, Receipt, SignedReceipt};

/// How far in the future `issued_at` may be (clock skew between agency and platform).
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;
/// Sealed-field name of the signed payload (binds the ciphertext to its purpose).
pub const SEALED_PAYLOAD_FIELD: &str = "signed_payload";
/// Content type of a document that has no file: its content is the signed payload itself.
pub const PAYLOAD_CONTENT_TYPE: &str = "application/json";

/// The file argument of [`issue`] for a document without a file (names the stream type).
pub type NoFile = Option<(futures_util::stream::Empty<Result<Bytes, String>>, String)>;

/// The JSON an agency sends (alone, or as the `document` part before the file).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// The payload exactly as signed (version 1: ten members, docs/api.md).
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Base64 Ed25519 signature over the payload's canonical bytes.
    pub signature: String,
    /// Title shown in the citizen's vault (not signed); a default is made from type and number.
    #[serde(default)]
    pub title: Option<String>,
}

/// An issue request that passed every check that needs no file.
#[derive(Debug)]
pub struct Checked {
    pub parsed: ParsedPayload,
    pub doc_type: DocumentType,
    pub citizen: account::Model,
    pub key: issuer_key::Model,
    pub signature: String,
    pub title: String,
}

pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::invalid(code, message)
}

fn field_error(field: &'static str, code: &'static str, message: String) -> AppError {
    AppError::InvalidInput {
        code,
        message,
        fields: vec![FieldError { field, code }],
    }
}

/// The refusal of a type the agency holds no authority for (at `issued_at`, now, or when the
/// upload completes).
fn not_authorized(doc_type: DocumentType) -> AppError {
    invalid(
        Problem::TypeNotAuthorized.code(),
        format!(
            "this agency is not authorised to issue documents of type {:?} at issued_at and now",
            doc_type.as_str()
        ),
    )
}

/// The error an API client gets for a verification problem.
pub fn problem_error(problem: Problem) -> AppError {
    invalid(problem.code(), problem.to_string())
}

/// Checks everything about a request except the file: payload shape, type and fields, issuer,
/// key (purpose, owner, timeline now and at signing), signature, and the citizen.
pub async fn check_request(
    state: &AppState,
    agency: &agency::Model,
    request: &IssueRequest,
) -> Result<Checked, AppError> {
    let parsed = payload::parse(&request.payload).map_err(AppError::from)?;
    if parsed.kind != Kind::Issued {
        return Err(invalid(
            "kind_not_allowed",
            "agencies issue documents of kind \"issued\"; copies are certified at the counter",
        ));
    }
    let p = &parsed.payload;
    let doc_type = DocumentType::parse(&p.doc_type).ok_or_else(|| {
        invalid(
            "document_type_unknown",
            format!("unknown document type {:?}", p.doc_type),
        )
    })?;
    catalogue::validate(doc_type, &p.fields).map_err(|problem| {
        let message = format!("fields.{}: {}", problem.field(), problem.code());
        match problem {
            catalogue::FieldProblem::Missing(name) | catalogue::FieldProblem::Format(name) => {
                field_error(name, problem.code(), message)
            }
            catalogue::FieldProblem::Unknown(_) => invalid(problem.code(), message),
        }
    })?;
    if doc_type == DocumentType::Cccd && parsed.number() != Some(p.citizen_national_id.as_str()) {
        return Err(invalid(
            "citizen_mismatch",
            "a CCCD's number must be the citizen's national ID number",
        ));
    }
    if parsed
        .valid_until
        .is_some_and(|until| until <= parsed.issued_at)
    {
        return Err(invalid(
            "valid_until_order",
            "valid_until must be after issued_at",
        ));
    }
    let now = state.clock.now();
    if (parsed.issued_at - now).num_seconds() > MAX_CLOCK_SKEW_SECONDS {
        return Err(invalid(
            "issued_at_future",
            "issued_at is in the future; check the signing machine's clock",
        ));
    }
    if p.issuer_id != agency.code {
        return Err(problem_error(Problem::IssuerMismatch));
    }
    // The issuing authority, before anything else is looked at or read: at `issued_at` (what
    // verifiers check against the trust list) and now (an ended authority brings nothing new,
    // whatever date the payload claims).
    if !service::authorized(
        state,
        agency.id,
        doc_type.as_str(),
        &[parsed.issued_at, now],
    )
    .await?
    {
        return Err(not_authorized(doc_type));
    }
    let key = repo::find_key(&state.db, &p.key_id)
        .await?
        .ok_or_else(|| problem_error(Problem::KeyUnknown))?;
    if key.agency_id != agency.id {
        return Err(problem_error(Problem::IssuerMismatch));
    }
    if key.purpose != Kind::Issued.key_purpose() {
        return Err(problem_error(Problem::KeyPurpose));
    }
    let public = sign::parse_public_key(&key.public_key).map_err(AppError::internal)?;
    sign::verify_bytes(&public, &parsed.canonical, &request.signature)
        .map_err(|_| problem_error(Problem::SignatureInvalid))?;
    let timeline = service::timeline(&key);
    // A key whose revocation is scheduled (or past) brings in nothing new; say so precisely.
    if timeline.status == super::model::KeyStatus::Revoked {
        return Err(problem_error(Problem::Key(KeyProblem::Revoked)));
    }
    timeline
        .check_signed_at(parsed.issued_at)
        .map_err(|problem| problem_error(Problem::Key(problem)))?;
    // A key no longer usable cannot bring in anything new, whatever date it claims.
    timeline
        .check_signed_at(now)
        .map_err(|problem| problem_error(Problem::Key(problem)))?;
    if !timeline.usable_at(now) {
        return Err(problem_error(Problem::Key(
            KeyProblem::SignedAfterRetirement,
        )));
    }
    let citizen = crate::accounts::repo::find_by_login(&state.db, &p.citizen_national_id)
        .await?
        .filter(|a| a.role == Role::Citizen.as_str())
        .ok_or_else(|| {
            invalid(
                "citizen_unknown",
                "no citizen account has this national ID number",
            )
        })?;
    let title = match request.title.as_deref() {
        Some(raw) => vault::clean_title(raw)?,
        None => format!(
            "{} {}",
            Lang::Vi.t(&doc_type.label_key()),
            parsed.number().unwrap_or_default()
        ),
    };
    Ok(Checked {
        doc_type,
        citizen,
        key,
        signature: request.signature.trim().to_owned(),
        title,
        parsed,
    })
}

/// What issuing produced.
#[derive(Debug)]
pub struct Issued {
    pub document: document::Model,
    pub superseded: Vec<Uuid>,
    pub receipt: SignedReceipt,
}

/// The platform's signed receipt for a payload accepted now.
pub fn make_receipt(
    state: &AppState,
    document_id: Uuid,
    parsed: &ParsedPayload,
) -> Result<SignedReceipt, AppError> {
    let receipt = Receipt {
        version: 1,
        kind: "receipt".to_owned(),
        document_id: document_id.to_string(),
        payload_sha256: parsed.digest_hex(),
        accepted_at: payload::format_time(state.clock.now()),
    };
    let body = serde_json::to_value(&receipt).map_err(AppError::internal)?;
    let signature =
        sign::sign_json(state.keys.signing.signing_key(), &body).map_err(AppError::internal)?;
    Ok(SignedReceipt {
        receipt,
        signature,
        platform_key_id: state.keys.signing.id().to_owned(),
    })
}

/// Seals a canonical payload for storage under the owner's data key.
pub fn seal_payload(
    key: &DataKey,
    owner: Uuid,
    document: Uuid,
    canonical: &[u8],
) -> Result<Vec<u8>, AppError> {
    crypto::seal_field(
        key,
        &vault::sealed_context(owner, document, SEALED_PAYLOAD_FIELD),
        canonical,
    )
    .map_err(|e| AppError::internal(format!("crypto: {e}")))
}

/// Opens a stored payload (JSON value, exactly as signed).
pub(crate) fn open_payload(
    key: &DataKey,
    row: &document_signature::Model,
) -> Result<Value, AppError> {
    let bytes = crypto::open_field(
        key,
        &vault::sealed_context(row.owner_id, row.document_id, SEALED_PAYLOAD_FIELD),
        &row.payload,
    )
    .map_err(|e| AppError::internal(format!("crypto: {e}")))?;
    serde_json::from_slice(&bytes).map_err(AppError::internal)
}

/// Issues a checked request: stores the file (or, without one, the payload itself) in the
/// citizen's vault, checks the file's hash, and records the document as `issued`, superseding
/// current documents of the same type and number.
pub async fn issue<S, E>(
    state: &AppState,
    checked: Checked,
    credential: Uuid,
    file: Option<(S, String)>,
) -> Result<Issued, AppError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let owner = &checked.citizen;
    let key = data_key(state, owner)?;
    let signed_hash = checked.parsed.payload.file_sha256.clone();
    let limit = state.config.max_upload_bytes;
    let (written, file_name) = match (file, &signed_hash) {
        (None, Some(_)) => return Err(problem_error(Problem::FileMissing)),
        (Some(_), None) => return Err(problem_error(Problem::FileUnexpected)),
        (Some((body, name)), Some(_)) => {
            let rules = ContentRules {
                limit,
                quota: None,
                expected_size: None,
                content_type: None,
            };
            (
                vault::write_content(state, owner, &key, rules, body).await?,
                Some(name),
            )
        }
        (None, None) => {
            let rules = ContentRules {
                limit,
                quota: None,
                expected_size: None,
                content_type: Some(PAYLOAD_CONTENT_TYPE),
            };
            let body = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(
                Bytes::from(checked.parsed.canonical.clone()),
            )]);
            (
                vault::write_content(state, owner, &key, rules, body).await?,
                None,
            )
        }
    };
    if let Some(signed) = &signed_hash
        && !bool::from(signed.as_bytes().ct_eq(written.sha256.as_bytes()))
    {
        vault::discard(state, owner, written).await;
        return Err(problem_error(Problem::FileHashMismatch));
    }
    let outcome = record(state, &checked, credential, &key, &written, file_name).await;
    match outcome {
        Ok(issued) => {
            state.metrics.record_document("issued");
            Ok(issued)
        }
        Err(error) => {
            vault::discard(state, owner, written).await;
            Err(error)
        }
    }
}

async fn record(
    state: &AppState,
    checked: &Checked,
    credential: Uuid,
    key: &DataKey,
    written: &vault::Written,
    file_name: Option<String>,
) -> Result<Issued, AppError> {
    let owner = &checked.citizen;
    let number = checked.parsed.number().unwrap_or_default().to_owned();
    let file_name = file_name
        .map(|n| vault::clean_file_name(&n))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            let extension = if written.content_type == PAYLOAD_CONTENT_TYPE {
                "json"
            } else {
                crate::vault::model::extension(&written.content_type)
            };
            format!("{}-{}.{extension}", checked.doc_type.as_str(), number)
        });
    let new = NewDocument {
        doc_type: checked.doc_type,
        title: checked.title.clone(),
        file_name,
    };
    let row = vault::document_row(state, owner, key, written, &new, "issued")?;
    let receipt = make_receipt(state, row.id, &checked.parsed)?;
    // Verifiers check the authority at the receipt's time too: one that ended while the file
    // streamed in must not leave a document that would never verify.
    let accepted = payload::parse_time(&receipt.receipt.accepted_at)
        .ok_or_else(|| AppError::internal("receipt time"))?;
    if !service::authorized(
        state,
        checked.key.agency_id,
        checked.doc_type.as_str(),
        &[accepted],
    )
    .await?
    {
        return Err(not_authorized(checked.doc_type));
    }
    let now = state.clock.now();
    let signature_row = document_signature::Model {
        document_id: row.id,
        owner_id: owner.id,
        kind: Kind::Issued.as_str().to_owned(),
        doc_type: checked.doc_type.as_str().to_owned(),
        agency_id: checked.key.agency_id,
        key_id: checked.key.key_id.clone(),
        payload: seal_payload(key, owner.id, row.id, &checked.parsed.canonical)?,
        signature: checked.signature.clone(),
        issued_at: checked.parsed.issued_at,
        valid_until: checked.parsed.valid_until,
        accepted_at: now,
        receipt: serde_json::to_string(&receipt).map_err(AppError::internal)?,
        superseded_by: None,
        superseded_at: None,
    };
    // Current documents of the same type and number are superseded (kept, marked), but only
    // those this agency issued or that an agency it succeeds issued: another agency's document
    // stays current beside the new one (both show, each with its own issuer), so no agency
    // can make a genuine document look replaced.
    let replaceable = service::may_supersede(state, checked.key.agency_id).await?;
    let mut superseded = Vec::new();
    for current in
        crate::vault::repo::current_signed(&state.db, owner.id, &signature_row.doc_type).await?
    {
        if current.kind != Kind::Issued.as_str() || !replaceable.contains(&current.agency_id) {
            continue;
        }
        let old = open_payload(key, &current)?;
        if old.pointer("/fields/number").and_then(Value::as_str) == Some(number.as_str()) {
            superseded.push(current.document_id);
        }
    }
    // The document, its signature record, what it supersedes and the citizen's access-log
    // entry commit together.
    let entry = Entry {
        account: owner.id,
        actor: Actor::Agency {
            credential,
            agency: checked.key.agency_id,
        },
        action: Action::DocumentIssue,
        object: Object::Document {
            id: row.id,
            doc_type: checked.doc_type,
        },
        purpose: None,
        authorization: Authorization::IssuingAuthority,
        outcome: Outcome::Allowed,
    };
    let txn = crate::access::begin_logged(state).await?;
    crate::vault::repo::complete_signed_upload(&txn, row.clone(), signature_row, &superseded, now)
        .await?;
    crate::notify::service::notify(
        &txn,
        now,
        owner.id,
        crate::notify::model::Kind::DocumentIssued,
        serde_json::json!({
            "agency_id": checked.key.agency_id,
            "link": format!("/documents/{}", row.id),
        }),
    )
    .await?;
    crate::access::door::commit_logged(state, txn, &entry).await?;
    Ok(Issued {
        document: row,
        superseded,
        receipt,
    })
}
