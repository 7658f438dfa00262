//! Certifying a copy (chứng thực bản sao): counter staff who have seen the original certify a
//! citizen's self-uploaded scan. The signature is made with the agency's counter key — an
//! ordinary `certifying` key in the trust list, except that the platform holds its private key,
//! wrapped by the master key, so staff can sign from the browser. Such a key can only certify
//! copies; it can never issue documents (the verifier checks the key's purpose against the
//! payload's kind). The trade-off is written down in docs/SECURITY.md.
//!
//! The citizen starts it: their document page gives a short code, valid for minutes and used
//! once, which they read to the clerk. Only with that code can the clerk see the scan.

use chrono::Duration;
use entity::{account, agency, certification_request, document_signature, issuer_key};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::access::{self, DocumentId, Opened, Purpose, Reader};
use crate::audit::{Action, Actor, Authorization, Entry, Outcome};
use crate::crypto::{DataKey, KeyId, sign};
use crate::error::AppError;
use crate::issuers::issuing::make_receipt;
use crate::issuers::{repo, service};
use crate::state::AppState;
use crate::vault::repo as vault_repo;
use crate::verify::payload::{self, Kind, PAYLOAD_VERSION};

/// How long a certification code stays valid.
pub const CODE_MINUTES: i64 = 15;
/// Code alphabet: no 0/O, 1/I/L, so it can be read out loud and typed without mistakes.
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 8;

fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

/// Normalises what a clerk typed: upper case, spaces and dashes dropped.
pub fn normalise_code(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// Creates a platform-held counter key for an agency: a fresh Ed25519 key registered as a
/// `certifying` key, its private half wrapped by the current master key and bound to the row.
pub async fn create_counter_key(
    state: &AppState,
    agency_id: Uuid,
) -> Result<issuer_key::Model, AppError> {
    let seed = crate::keys::random_key().map_err(AppError::internal)?;
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        signing.verifying_key().as_bytes(),
    );
    let row = service::register_key(state, agency_id, &public, "certifying", None, None).await?;
    let wrapped = state
        .keys
        .master
        .wrap(&DataKey::from_bytes(*seed), &row.id)
        .map_err(|e| AppError::internal(format!("wrap counter key: {e}")))?;
    repo::set_wrapped_private_key(
        &state.db,
        row.id,
        wrapped.bytes,
        wrapped.master_key_id.as_str(),
    )
    .await?;
    Ok(row)
}

/// The agency's usable platform-held counter key, unwrapped.
async fn counter_key(
    state: &AppState,
    agency_id: Uuid,
) -> Result<(issuer_key::Model, ed25519_dalek::SigningKey), AppError> {
    let now = state.clock.now();
    let row = repo::keys_for_agency(&state.db, agency_id)
        .await?
        .into_iter()
        .rev()
        .find(|k| {
            k.purpose == Kind::CertifiedCopy.key_purpose()
                && k.wrapped_private_key.is_some()
                && service::timeline(k).usable_at(now)
        })
        .ok_or_else(|| {
            AppError::invalid(
                "counter_key_missing",
                "this agency has no active counter key; ask the operator to create one",
            )
        })?;
    let master_id = row.master_key_id.clone().unwrap_or_default();
    let master = state
        .keys
        .master_by_id(&master_id)
        .ok_or_else(|| AppError::internal(format!("counter key wrapped by unknown {master_id}")))?;
    let wrapped = crate::crypto::WrappedKey {
        master_key_id: KeyId::new(master_id.clone()).map_err(AppError::internal)?,
        bytes: row.wrapped_private_key.clone().unwrap_or_default(),
    };
    let seed = master
        .unwrap(&wrapped, &row.id)
        .map_err(|e| AppError::internal(format!("unwrap counter key: {e}")))?;
    let key = ed25519_dalek::SigningKey::from_bytes(seed.expose_secret());
    if sign::key_id_for("ik", &key.verifying_key()) != row.key_id {
        return Err(AppError::internal("counter key does not match its id"));
    }
    Ok((row, key))
}

/// A citizen asks to have a self-uploaded document certified: returns the code to read out.
/// The code is made in the same transaction as its access-log entry.
pub async fn request(
    state: &AppState,
    owner: &account::Model,
    document_id: Uuid,
) -> Result<Zeroizing<String>, AppError> {
    let visit = access::enter(
        state,
        &Reader::Owner(owner),
        DocumentId(document_id),
        Purpose::CertificationCode,
    )
    .await?;
    if visit.document().row.source != "self" {
        return Err(AppError::invalid(
            "already_signed",
            "this document is already issued or certified",
        ));
    }
    let mut random = Zeroizing::new([0u8; CODE_LEN]);
    getrandom::fill(random.as_mut()).map_err(AppError::internal)?;
    let code = Zeroizing::new(
        random
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect::<String>(),
    );
    let now = state.clock.now();
    vault_repo::insert_certification_request(
        visit.txn(),
        certification_request::Model {
            id: Uuid::now_v7(),
            document_id,
            owner_id: owner.id,
            code_hash: code_hash(&code),
            created_at: now,
            expires_at: now + Duration::minutes(CODE_MINUTES),
            completed_at: None,
            claimed_by: None,
            claimed_agency_id: None,
            claimed_at: None,
        },
    )
    .await?;
    visit.finish().await?;
    Ok(code)
}

fn code_error() -> AppError {
    AppError::field("code", "certification_code")
}

/// Who is working on a certification request: the clerk and the agency they serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Desk {
    pub clerk: Uuid,
    pub agency: Uuid,
}

impl Desk {
    pub fn of(clerk: &account::Model, agency: &agency::Model) -> Self {
        Self {
            clerk: clerk.id,
            agency: agency.id,
        }
    }

    fn actor(self) -> Actor {
        Actor::Staff {
            account: self.clerk,
            agency: self.agency,
        }
    }

    /// The reader this desk is for a request (the door decides whether it holds it).
    pub fn reader(self, request: &certification_request::Model) -> Reader<'_> {
        Reader::certification_clerk(self.clerk, self.agency, request)
    }
}

/// The clerk enters the citizen's code: the open request becomes theirs, and the citizen's log
/// says so. A code another clerk entered first, or one that expired or was used, answers like
/// a wrong code (the attempt is an entry in the citizen's log); an unknown code reaches nothing.
pub async fn claim(
    state: &AppState,
    desk: Desk,
    code: &str,
) -> Result<certification_request::Model, AppError> {
    let code = normalise_code(code);
    if code.len() != CODE_LEN {
        return Err(code_error());
    }
    let request = vault_repo::find_certification_request(&state.db, &code_hash(&code))
        .await?
        .ok_or_else(code_error)?;
    let document = vault_repo::find(&state.db, request.document_id)
        .await?
        .ok_or_else(code_error)?;
    let object = access::door::document_object(&document)?;
    let now = state.clock.now();
    let refuse = async |why: &str| {
        tracing::warn!(request = %request.id, why, "certification code refused");
        access::record_refusal(
            state,
            request.owner_id,
            desk.actor(),
            Action::CertificationCodeUse,
            object,
            Authorization::Request(request.id),
        )
        .await;
        code_error()
    };
    if request.completed_at.is_some() || request.expires_at <= now {
        return Err(refuse("expired or used").await);
    }
    let txn = access::begin_logged(state).await?;
    if !vault_repo::claim_certification_request(&txn, request.id, desk.clerk, desk.agency, now)
        .await?
    {
        txn.rollback().await?;
        return Err(refuse("entered by a second clerk").await);
    }
    let entry = Entry {
        account: request.owner_id,
        actor: desk.actor(),
        action: Action::CertificationCodeUse,
        object,
        purpose: None,
        authorization: Authorization::Request(request.id),
        outcome: Outcome::Allowed,
    };
    access::door::commit_logged(state, txn, &entry).await?;
    Ok(request)
}

/// A certification request by id, whatever its state (the door decides who may use it).
pub async fn find_request(
    state: &AppState,
    id: Uuid,
) -> Result<certification_request::Model, AppError> {
    vault_repo::find_certification_request_by_id(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// What the clerk's review page shows: the document and whose it is, each read through the
/// door (two entries in the citizen's log: the document viewed, the profile read).
#[derive(Debug)]
pub struct Review {
    pub request: certification_request::Model,
    pub document: Opened,
    pub citizen: access::door::Identity,
}

pub async fn review(state: &AppState, desk: Desk, request_id: Uuid) -> Result<Review, AppError> {
    let request = find_request(state, request_id).await?;
    let reader = desk.reader(&request);
    let document = access::open(
        state,
        &reader,
        DocumentId(request.document_id),
        Purpose::View,
    )
    .await?;
    let citizen = access::profile(state, &reader).await?;
    Ok(Review {
        request,
        document,
        citizen,
    })
}

/// The scan itself, for the clerk holding the request.
pub async fn open_file(state: &AppState, desk: Desk, request_id: Uuid) -> Result<Opened, AppError> {
    let request = find_request(state, request_id).await?;
    access::open(
        state,
        &desk.reader(&request),
        DocumentId(request.document_id),
        Purpose::Open,
    )
    .await
}

/// Certifies the document of an open request with the clerk's agency counter key: the used
/// request, the signature record and the access-log entry commit together.
pub async fn certify(
    state: &AppState,
    clerk: &account::Model,
    agency: &agency::Model,
    request_id: Uuid,
) -> Result<Uuid, AppError> {
    let request = find_request(state, request_id).await?;
    let desk = Desk::of(clerk, agency);
    let visit = access::enter(
        state,
        &desk.reader(&request),
        DocumentId(request.document_id),
        Purpose::Certify,
    )
    .await?;
    // The request is used once: of two confirmations at once, one certifies.
    if !vault_repo::complete_certification_request(visit.txn(), request.id, state.clock.now())
        .await?
    {
        return Err(AppError::NotFound);
    }
    sign_copy(state, visit, clerk, agency).await
}

/// Signs the self-uploaded document a clerk's visit opened for [`Purpose::Certify`] (on a
/// certification request, or as a step of a counter session) as a certified copy with the
/// agency's counter key, and commits the visit: the document marked certified (a
/// compare-and-set: two certifications at once sign once, the other is `already_signed`), the
/// signature record and the `document.certify` entry naming the clerk, together.
pub async fn sign_copy(
    state: &AppState,
    visit: access::Visit,
    clerk: &account::Model,
    agency: &agency::Model,
) -> Result<Uuid, AppError> {
    let already_signed = || {
        AppError::invalid(
            "already_signed",
            "this document is already issued or certified",
        )
    };
    let doc = visit.document();
    if doc.row.source != "self" {
        return Err(already_signed());
    }
    let owner = crate::accounts::repo::find_by_id(visit.txn(), doc.row.owner_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let certifier = crate::accounts::service::profile(state, clerk)?
        .map(|p| p.full_name)
        .unwrap_or_else(|| clerk.login.clone());
    let (key_row, key) = counter_key(state, agency.id).await?;
    let now = state.clock.now();
    let body = json!({
        "version": PAYLOAD_VERSION,
        "kind": Kind::CertifiedCopy.as_str(),
        "type": doc.row.doc_type,
        "fields": { "title": doc.title()?, "certifier": certifier },
        "citizen_national_id": owner.login,
        "file_sha256": doc.row.sha256,
        "issued_at": payload::format_time(now),
        "valid_until": null,
        "issuer_id": agency.code,
        "key_id": key_row.key_id,
    });
    let parsed = payload::parse(&body).map_err(AppError::internal)?;
    let signature = sign::sign_json(&key, &body).map_err(AppError::internal)?;
    drop(key);
    let receipt = make_receipt(state, doc.row.id, &parsed)?;
    let document_id = doc.row.id;
    let record = document_signature::Model {
        document_id,
        owner_id: owner.id,
        kind: Kind::CertifiedCopy.as_str().to_owned(),
        doc_type: doc.row.doc_type.clone(),
        agency_id: agency.id,
        key_id: key_row.key_id.clone(),
        payload: doc.seal_payload(&parsed.canonical)?,
        signature,
        issued_at: parsed.issued_at,
        valid_until: None,
        accepted_at: now,
        receipt: serde_json::to_string(&receipt).map_err(AppError::internal)?,
        superseded_by: None,
        superseded_at: None,
    };
    if !vault_repo::record_certified_copy(visit.txn(), record, now).await? {
        return Err(already_signed());
    }
    crate::notify::service::notify(
        visit.txn(),
        now,
        owner.id,
        crate::notify::model::Kind::CopyCertified,
        json!({ "agency_id": agency.id, "link": format!("/documents/{document_id}") }),
    )
    .await?;
    visit.finish().await?;
    state.metrics.record_document("certified");
    tracing::info!(document = %document_id, clerk = %clerk.id, agency = %agency.code, "copy certified");
    Ok(document_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_forgiving_to_type() {
        assert_eq!(normalise_code(" abcd-efgh "), "ABCDEFGH");
        assert!(!ALPHABET.contains(&b'0') && !ALPHABET.contains(&b'O'));
        assert!(!ALPHABET.contains(&b'1') && !ALPHABET.contains(&b'I'));
    }
}
