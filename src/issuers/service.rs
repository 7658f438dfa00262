//! Issuer rules: registering and retiring keys, API credentials, issuing authorities and agency
//! successions, the signed trust list.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{agency, agency_succession, api_credential, issuer_key, issuing_authority};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::model::{AuthoritySpan, KeyPurpose, KeyStatus, KeyTimeline};
use super::repo;
use crate::crypto::sign;
use crate::error::AppError;
use crate::state::AppState;
use crate::verify::{PlatformKeys, TrustList};

/// Version tag of the trust list format (documented in docs/api.md).
/// v2 added each issuer's `authorities`; a v1 list (none) is refused, so a verifier never
/// accepts a document without knowing whether its issuer was authorised for its type.
pub const TRUST_LIST_FORMAT: &str = "congdanso-trust-list/v2";
/// Prefix of agency API tokens, so a leaked one is recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "cds_";

/// The timeline of a stored key.
pub fn timeline(row: &issuer_key::Model) -> KeyTimeline {
    KeyTimeline {
        valid_from: row.valid_from,
        valid_until: row.valid_until,
        status: KeyStatus::parse(&row.status).unwrap_or(KeyStatus::Revoked),
        status_changed_at: row.status_changed_at,
    }
}

/// Registers an agency's public key (base64 Ed25519). Its id is derived from the key, so the
/// same key cannot be registered twice.
pub async fn register_key(
    state: &AppState,
    agency_id: Uuid,
    public_key_b64: &str,
    purpose: &str,
    valid_from: Option<NaiveDate>,
    valid_until: Option<NaiveDate>,
) -> Result<issuer_key::Model, AppError> {
    let key = sign::parse_public_key(public_key_b64)
        .map_err(|_| AppError::field("public_key", "public_key_invalid"))?;
    let purpose =
        KeyPurpose::parse(purpose).ok_or_else(|| AppError::field("purpose", "key_purpose"))?;
    // Whole seconds, like the times in signed payloads: a key registered at 10:00:00.4 must
    // verify a document it signs with `issued_at` 10:00:00 in the same second.
    let now = chrono::SubsecRound::trunc_subsecs(state.clock.now(), 0);
    let valid_from = valid_from
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or(now);
    let valid_until = valid_until
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map(|d| d.and_utc());
    if valid_until.is_some_and(|until| until <= valid_from) {
        return Err(AppError::field("valid_until", "key_validity_order"));
    }
    let key_id = sign::key_id_for("ik", &key);
    if repo::find_key(&state.db, &key_id).await?.is_some() {
        return Err(AppError::field("public_key", "public_key_taken"));
    }
    let row = issuer_key::Model {
        id: Uuid::now_v7(),
        agency_id,
        key_id,
        public_key: B64.encode(key.as_bytes()),
        purpose: purpose.as_str().to_owned(),
        valid_from,
        valid_until,
        status: KeyStatus::Active.as_str().to_owned(),
        status_changed_at: None,
        created_at: now,
        wrapped_private_key: None,
        master_key_id: None,
    };
    repo::insert_key(&state.db, row.clone()).await?;
    Ok(row)
}

/// Retires an active key now (what it signed before stays valid).
pub async fn retire_key(state: &AppState, agency_id: Uuid, key_id: &str) -> Result<(), AppError> {
    let row = own_key(state, agency_id, key_id).await?;
    if !repo::set_key_status(&state.db, row.id, &["active"], "retired", state.clock.now()).await? {
        return Err(AppError::field("key", "key_not_active"));
    }
    Ok(())
}

/// Revokes a key from `at` (default now): signatures made from then on do not verify.
pub async fn revoke_key(
    state: &AppState,
    agency_id: Uuid,
    key_id: &str,
    at: Option<DateTime<Utc>>,
) -> Result<(), AppError> {
    let row = own_key(state, agency_id, key_id).await?;
    let mut at = at.unwrap_or_else(|| state.clock.now());
    // A retired key already refuses what it "signed" after its retirement; revoking it must not
    // lose that, so the revocation takes effect no later than the retirement.
    if row.status == KeyStatus::Retired.as_str()
        && let Some(retired) = row.status_changed_at
    {
        at = at.min(retired);
    }
    if !repo::set_key_status(&state.db, row.id, &["active", "retired"], "revoked", at).await? {
        return Err(AppError::field("key", "key_already_revoked"));
    }
    Ok(())
}

async fn own_key(
    state: &AppState,
    agency_id: Uuid,
    key_id: &str,
) -> Result<issuer_key::Model, AppError> {
    repo::find_key(&state.db, key_id)
        .await?
        .filter(|k| k.agency_id == agency_id)
        .ok_or(AppError::NotFound)
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a named API credential for an agency; the token is returned once and stored hashed.
pub async fn create_credential(
    state: &AppState,
    agency_id: Uuid,
    name: &str,
) -> Result<(api_credential::Model, Zeroizing<String>), AppError> {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if !(2..=100).contains(&name.chars().count()) {
        return Err(AppError::field("name", "credential_name_length"));
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(AppError::internal)?;
    let token = Zeroizing::new(format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes.as_ref())
    ));
    let id = Uuid::now_v7();
    let webhook_key =
        crate::outbox::webhook::generate_key(&state.keys, id).map_err(AppError::internal)?;
    let row = api_credential::Model {
        id,
        agency_id,
        name,
        token_hash: hash_token(&token),
        created_at: state.clock.now(),
        last_used_at: None,
        revoked_at: None,
        webhook_key_wrapped: Some(webhook_key.wrapped),
        webhook_key_master_id: Some(webhook_key.master_key_id),
    };
    repo::insert_credential(&state.db, row.clone()).await?;
    Ok((row, token))
}

/// The webhook signing secret of a credential (`whsec_…`), unwrapped; for showing once after
/// creation. `None` for a credential made before webhooks (rotate to get one).
pub fn webhook_secret(
    state: &AppState,
    row: &api_credential::Model,
) -> Result<Option<Zeroizing<String>>, AppError> {
    match (&row.webhook_key_wrapped, &row.webhook_key_master_id) {
        (Some(wrapped), Some(master)) => {
            crate::outbox::webhook::open_key(&state.keys, row.id, wrapped, master)
                .map(Some)
                .map_err(AppError::internal)
        }
        _ => Ok(None),
    }
}

/// Gives a live credential of `agency_id` a new webhook key (also the way a credential made
/// before webhooks gets one); returns the credential and the secret, shown once. The old key
/// stops at once: messages still pending are signed with the new key. Another agency's
/// credential, a revoked one or none at all: `NotFound`.
pub async fn rotate_webhook_key(
    state: &AppState,
    agency_id: Uuid,
    id: Uuid,
) -> Result<(api_credential::Model, Zeroizing<String>), AppError> {
    let key = crate::outbox::webhook::generate_key(&state.keys, id).map_err(AppError::internal)?;
    if !repo::set_webhook_key(&state.db, agency_id, id, key.wrapped, &key.master_key_id).await? {
        return Err(AppError::NotFound);
    }
    let row = repo::find_credential(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((row, key.secret))
}

pub async fn revoke_credential(
    state: &AppState,
    agency_id: Uuid,
    id: Uuid,
) -> Result<(), AppError> {
    if repo::revoke_credential(&state.db, agency_id, id, state.clock.now()).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// The agency behind a bearer token and the credential's id, or `Unauthenticated`. Records the
/// last use (see [`note_use`]).
pub async fn authenticate(
    state: &AppState,
    token: &str,
) -> Result<(agency::Model, Uuid), AppError> {
    let (credential, agency) =
        repo::find_live_credential_with_agency(&state.db, &token_hash(token)?)
            .await?
            .ok_or(AppError::Unauthenticated)?;
    note_use(state, &credential).await?;
    Ok((agency, credential.id))
}

/// The stored hash an agency's token is looked up by; a token that cannot be one of ours is
/// refused before any query.
pub fn token_hash(token: &str) -> Result<String, AppError> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
        return Err(AppError::Unauthenticated);
    }
    Ok(hash_token(token))
}

/// Records that an authenticated credential was used, at most once a minute (shown to the
/// agency's admins).
pub async fn note_use(
    state: &AppState,
    credential: &api_credential::Model,
) -> Result<(), AppError> {
    let now = state.clock.now();
    if credential
        .last_used_at
        .is_none_or(|last| (now - last).num_seconds() >= 60)
    {
        repo::touch_credential(&state.db, credential.id, now).await?;
    }
    Ok(())
}

fn key_json(row: &issuer_key::Model) -> Value {
    json!({
        "key_id": row.key_id,
        "public_key": row.public_key,
        "purpose": row.purpose,
        "valid_from": row.valid_from.to_rfc3339(),
        "valid_until": row.valid_until.map(|t| t.to_rfc3339()),
        "status": row.status,
        "status_changed_at": row.status_changed_at.map(|t| t.to_rfc3339()),
    })
}

fn authority_json(row: &issuing_authority::Model) -> Value {
    json!({
        "type": row.doc_type,
        "valid_from": row.valid_from.to_rfc3339(),
        "valid_until": row.valid_until.map(|t| t.to_rfc3339()),
    })
}

/// The trust list: every agency with keys, each key with its validity and status, each
/// document type it may issue with the span of that authority, and the
/// list's own issue time, signed by the platform key. Verifiers cache it and work offline.
pub async fn trust_list(state: &AppState) -> Result<Value, AppError> {
    let list = trust_list_body(state).await?;
    let signature =
        sign::sign_json(state.keys.signing.signing_key(), &list).map_err(AppError::internal)?;
    Ok(json!({
        "trust_list": list,
        "signature": signature,
        "platform_key_id": state.keys.signing.id(),
    }))
}

/// The trust list as the server itself uses it (no signature needed: it comes from our own
/// database).
pub async fn current_trust_list(state: &AppState) -> Result<TrustList, AppError> {
    TrustList::from_body(&trust_list_body(state).await?).map_err(AppError::internal)
}

/// The platform keys as the server itself uses them (to check receipts).
pub async fn current_platform_keys(state: &AppState) -> Result<PlatformKeys, AppError> {
    PlatformKeys::from_json(&platform_keys(state).await?).map_err(AppError::internal)
}

/// The unsigned body of the trust list.
pub async fn trust_list_body(state: &AppState) -> Result<Value, AppError> {
    let agencies = crate::agencies::repo::list(&state.db).await?;
    let keys = repo::all_keys(&state.db).await?;
    let authorities = repo::all_authorities(&state.db).await?;
    let issuers: Vec<Value> = agencies
        .iter()
        .filter_map(|a| {
            let own: Vec<Value> = keys
                .iter()
                .filter(|k| k.agency_id == a.id)
                .map(key_json)
                .collect();
            let authorities: Vec<Value> = authorities
                .iter()
                .filter(|r| r.agency_id == a.id)
                .map(authority_json)
                .collect();
            (!own.is_empty()).then(|| {
                json!({
                    "agency_id": a.id.to_string(),
                    "code": a.code,
                    "name": a.name,
                    "keys": own,
                    "authorities": authorities,
                })
            })
        })
        .collect();
    Ok(json!({
        "format": TRUST_LIST_FORMAT,
        "issued_at": state.clock.now().to_rfc3339(),
        "issuers": issuers,
    }))
}

/// Every platform signing key this deployment has used, for verifiers.
pub async fn platform_keys(state: &AppState) -> Result<Value, AppError> {
    let rows = crate::keys::repo::all(&state.db).await?;
    let keys: Vec<Value> = rows
        .iter()
        .filter(|r| r.kind == "signing")
        .map(|r| {
            json!({
                "key_id": r.id,
                "public_key": r.public_key,
                "first_seen_at": r.first_seen_at.to_rfc3339(),
                "retired_at": r.retired_at.map(|t| t.to_rfc3339()),
                "current": r.id == state.keys.signing.id(),
            })
        })
        .collect();
    Ok(json!({ "algorithm": "Ed25519", "keys": keys }))
}

// ------------------------------------------------------------------ issuing authority

/// The span of a stored authority.
pub fn span(row: &issuing_authority::Model) -> AuthoritySpan {
    AuthoritySpan {
        valid_from: row.valid_from,
        valid_until: row.valid_until,
    }
}

/// Registers an agency's authority to issue a catalogue type, from `valid_from` (start of the
/// day; default now) until `valid_until` (end of the day; default open-ended).
pub async fn register_authority(
    state: &AppState,
    agency_id: Uuid,
    doc_type: &str,
    valid_from: Option<NaiveDate>,
    valid_until: Option<NaiveDate>,
    registered_by: Option<Uuid>,
) -> Result<issuing_authority::Model, AppError> {
    let doc_type = crate::vault::model::DocumentType::parse(doc_type.trim())
        .ok_or_else(|| AppError::field("doc_type", "authority_type"))?;
    // Whole seconds, like keys and payload times.
    let now = chrono::SubsecRound::trunc_subsecs(state.clock.now(), 0);
    let valid_from = valid_from
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or(now);
    let valid_until = valid_until
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map(|d| d.and_utc());
    if valid_until.is_some_and(|until| until <= valid_from) {
        return Err(AppError::field("valid_until", "authority_validity_order"));
    }
    let row = issuing_authority::Model {
        id: Uuid::now_v7(),
        agency_id,
        doc_type: doc_type.as_str().to_owned(),
        valid_from,
        valid_until,
        created_at: now,
        registered_by,
    };
    repo::insert_authority(&state.db, row.clone()).await?;
    Ok(row)
}

/// Removes an authority from now on: what the agency issued under it before stays valid (the
/// trust list keeps the span). One that has not begun yet is deleted outright.
pub async fn end_authority(state: &AppState, agency_id: Uuid, id: Uuid) -> Result<(), AppError> {
    let row = repo::find_authority(&state.db, agency_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = chrono::SubsecRound::trunc_subsecs(state.clock.now(), 0);
    let done = if row.valid_from > now {
        repo::delete_future_authority(&state.db, row.id, now).await?
    } else {
        repo::end_authority(&state.db, row.id, now).await?
    };
    if !done {
        return Err(AppError::field("authority", "authority_already_ended"));
    }
    Ok(())
}

/// Whether an agency may issue `doc_type` at every one of `times`.
pub async fn authorized(
    state: &AppState,
    agency_id: Uuid,
    doc_type: &str,
    times: &[DateTime<Utc>],
) -> Result<bool, AppError> {
    let spans: Vec<AuthoritySpan> = repo::authorities_for(&state.db, agency_id, doc_type)
        .await?
        .iter()
        .map(span)
        .collect();
    Ok(times
        .iter()
        .all(|&at| super::model::authorized_at(&spans, at)))
}

/// Every agency `agency_id` succeeds, directly or through a chain of successions.
fn predecessors_in(
    successions: &[agency_succession::Model],
    agency_id: Uuid,
) -> std::collections::HashSet<Uuid> {
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![agency_id];
    while let Some(at) = todo.pop() {
        for row in successions.iter().filter(|r| r.successor_id == at) {
            if seen.insert(row.predecessor_id) {
                todo.push(row.predecessor_id);
            }
        }
    }
    seen
}

/// The agencies whose documents `agency_id` may supersede: itself and every agency it succeeds,
/// directly or through a chain of successions.
pub async fn may_supersede(
    state: &AppState,
    agency_id: Uuid,
) -> Result<std::collections::HashSet<Uuid>, AppError> {
    let successions = repo::all_successions(&state.db).await?;
    let mut out = predecessors_in(&successions, agency_id);
    out.insert(agency_id);
    Ok(out)
}

/// Registers the agency with code `successor_code` as `predecessor_id`'s successor.
pub async fn register_successor(
    state: &AppState,
    predecessor_id: Uuid,
    successor_code: &str,
    registered_by: Option<Uuid>,
) -> Result<agency_succession::Model, AppError> {
    let successor = crate::agencies::repo::find_by_code(&state.db, successor_code.trim())
        .await?
        .ok_or_else(|| AppError::field("successor", "successor_unknown"))?;
    if successor.id == predecessor_id {
        return Err(AppError::field("successor", "successor_self"));
    }
    let successions = repo::all_successions(&state.db).await?;
    if successions
        .iter()
        .any(|r| r.predecessor_id == predecessor_id && r.successor_id == successor.id)
    {
        return Err(AppError::field("successor", "successor_taken"));
    }
    // A loop would let each agency replace the other's documents: refused.
    if predecessors_in(&successions, predecessor_id).contains(&successor.id) {
        return Err(AppError::field("successor", "successor_cycle"));
    }
    let row = agency_succession::Model {
        id: Uuid::now_v7(),
        predecessor_id,
        successor_id: successor.id,
        created_at: state.clock.now(),
        registered_by,
    };
    repo::insert_succession(&state.db, row.clone()).await?;
    Ok(row)
}

pub async fn remove_successor(
    state: &AppState,
    predecessor_id: Uuid,
    id: Uuid,
) -> Result<(), AppError> {
    if repo::delete_succession(&state.db, predecessor_id, id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}
