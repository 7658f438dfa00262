//! The consent record of a grant: the fields of ISO/IEC TS 27560 that apply (record id,
//! subject, controller, purpose, legal basis, data items and which were optional, recipients,
//! retention, jurisdiction, withdrawal method, events), signed by the platform key over its
//! RFC 8785 canonical bytes like the issuing receipt. The base record is stored with the grant;
//! its events (given, withdrawn, expired) are added from the grant's state each time it is
//! handed out, and the whole is signed then. Byte format in docs/CRYPTO.md.

use chrono::{DateTime, Utc};
use entity::access_grant;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::crypto::sign;
use crate::error::AppError;
use crate::state::AppState;
use crate::verify::payload::format_time;

/// The format tag of a signed consent record.
pub const CONSENT_KIND: &str = "congdanso.consent_record";

/// A signed consent record as handed to the citizen and the agency.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedConsent {
    pub record: Value,
    /// Ed25519 over the canonical bytes of `record`, base64.
    pub signature: String,
    pub platform_key_id: String,
}

/// The record with the events the grant has had by `now`.
pub fn with_events(grant: &access_grant::Model, now: DateTime<Utc>) -> Result<Value, AppError> {
    let mut record: Value =
        serde_json::from_str(&grant.consent_record).map_err(AppError::internal)?;
    let mut events = vec![json!({ "event": "given", "at": format_time(grant.created_at) })];
    if let Some(at) = grant.withdrawn_at {
        events.push(json!({ "event": "withdrawn", "at": format_time(at) }));
    } else if grant.expires_at <= now {
        events.push(json!({ "event": "expired", "at": format_time(grant.expires_at) }));
    }
    record["events"] = Value::Array(events);
    Ok(record)
}

/// Signs the grant's record as of now.
pub fn signed(state: &AppState, grant: &access_grant::Model) -> Result<SignedConsent, AppError> {
    let record = with_events(grant, state.clock.now())?;
    let signature =
        sign::sign_json(state.keys.signing.signing_key(), &record).map_err(AppError::internal)?;
    Ok(SignedConsent {
        record,
        signature,
        platform_key_id: state.keys.signing.id().to_owned(),
    })
}

/// Signs an access receipt: what the agency read, under which consent, when.
pub fn receipt(state: &AppState, body: Value) -> Result<Value, AppError> {
    let signature =
        sign::sign_json(state.keys.signing.signing_key(), &body).map_err(AppError::internal)?;
    Ok(json!({
        "receipt": body,
        "signature": signature,
        "platform_key_id": state.keys.signing.id(),
    }))
}

/// Signs a platform statement (the field cut): `{"body", "signature", "platform_key_id"}`.
pub fn signed_value(state: &AppState, body: Value) -> Result<Value, AppError> {
    let signature =
        sign::sign_json(state.keys.signing.signing_key(), &body).map_err(AppError::internal)?;
    Ok(json!({
        "body": body,
        "signature": signature,
        "platform_key_id": state.keys.signing.id(),
    }))
}
