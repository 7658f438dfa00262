//! What a verifier trusts: the platform's public keys (the anchor, fetched once or pinned), the
//! trust list they sign (every issuer key with its timeline, and the document types each issuer
//! may issue, with when), and the platform's acceptance
//! receipts. Parsed from the JSON the server publishes; no database.

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Problem;
use crate::crypto::sign;
use crate::issuers::model::{AuthoritySpan, KeyStatus, KeyTimeline};

/// `/.well-known/congdanso/platform-keys.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct PlatformKeys {
    pub keys: Vec<PlatformKey>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PlatformKey {
    pub key_id: String,
    pub public_key: String,
}

impl PlatformKeys {
    pub fn from_json(value: &Value) -> Result<Self, Problem> {
        serde_json::from_value(value.clone()).map_err(|_| Problem::TrustListMalformed)
    }

    /// The key with this id, checked to really be the key the id names.
    pub fn key(&self, key_id: &str) -> Option<VerifyingKey> {
        self.keys
            .iter()
            .filter(|k| k.key_id == key_id)
            .filter_map(|k| sign::parse_public_key(&k.public_key).ok())
            .find(|k| crate::keys::signing_key_id(k) == key_id)
    }
}

/// One issuer key as the trust list describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustedKey {
    pub key_id: String,
    pub public_key: String,
    pub purpose: String,
    pub valid_from: String,
    pub valid_until: Option<String>,
    pub status: String,
    pub status_changed_at: Option<String>,
}

/// A document type an issuer may issue, and when (trust list v2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustedAuthority {
    #[serde(rename = "type")]
    pub doc_type: String,
    pub valid_from: String,
    pub valid_until: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustedIssuer {
    pub agency_id: String,
    pub code: String,
    pub name: String,
    pub keys: Vec<TrustedKey>,
    /// Required: a list without it cannot say whether a document's type was authorised.
    pub authorities: Vec<TrustedAuthority>,
}

/// The body of the trust list (what the platform signs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustList {
    pub format: String,
    pub issued_at: String,
    pub issuers: Vec<TrustedIssuer>,
}

fn time(value: &str) -> Result<DateTime<Utc>, Problem> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| Problem::TrustListMalformed)
}

impl TrustedKey {
    pub fn timeline(&self) -> Result<KeyTimeline, Problem> {
        Ok(KeyTimeline {
            valid_from: time(&self.valid_from)?,
            valid_until: self.valid_until.as_deref().map(time).transpose()?,
            status: KeyStatus::parse(&self.status).ok_or(Problem::TrustListMalformed)?,
            status_changed_at: self.status_changed_at.as_deref().map(time).transpose()?,
        })
    }

    /// The public key, checked to be the one the id names.
    pub fn verifying_key(&self) -> Result<VerifyingKey, Problem> {
        let key = sign::parse_public_key(&self.public_key).map_err(|_| Problem::KeyUnknown)?;
        if sign::key_id_for("ik", &key) != self.key_id {
            return Err(Problem::KeyUnknown);
        }
        Ok(key)
    }
}

impl TrustedAuthority {
    pub fn span(&self) -> Result<AuthoritySpan, Problem> {
        Ok(AuthoritySpan {
            valid_from: time(&self.valid_from)?,
            valid_until: self.valid_until.as_deref().map(time).transpose()?,
        })
    }
}

impl TrustedIssuer {
    /// Whether this issuer was authorised to issue `doc_type` at `at`.
    pub fn authorized(&self, doc_type: &str, at: DateTime<Utc>) -> Result<bool, Problem> {
        let spans = self
            .authorities
            .iter()
            .filter(|a| a.doc_type == doc_type)
            .map(TrustedAuthority::span)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::issuers::model::authorized_at(&spans, at))
    }
}

impl TrustList {
    /// Parses a trust list body the caller already trusts (the server's own, from its database).
    pub fn from_body(body: &Value) -> Result<Self, Problem> {
        serde_json::from_value(body.clone()).map_err(|_| Problem::TrustListMalformed)
    }

    /// Parses the published document `{trust_list, signature, platform_key_id}` and checks its
    /// signature against the platform keys.
    pub fn from_signed(document: &Value, platform: &PlatformKeys) -> Result<Self, Problem> {
        let body = document
            .get("trust_list")
            .ok_or(Problem::TrustListMalformed)?;
        let signature = document
            .get("signature")
            .and_then(Value::as_str)
            .ok_or(Problem::TrustListMalformed)?;
        let key_id = document
            .get("platform_key_id")
            .and_then(Value::as_str)
            .ok_or(Problem::TrustListMalformed)?;
        let key = platform
            .key(key_id)
            .ok_or(Problem::TrustListSignatureInvalid)?;
        sign::verify_json(&key, body, signature).map_err(|_| Problem::TrustListSignatureInvalid)?;
        let list = Self::from_body(body)?;
        if list.format != crate::issuers::service::TRUST_LIST_FORMAT {
            return Err(Problem::TrustListMalformed);
        }
        Ok(list)
    }

    pub fn issued_at(&self) -> Option<DateTime<Utc>> {
        time(&self.issued_at).ok()
    }

    /// The issuer holding `key_id`, and the key.
    pub fn find_key(&self, key_id: &str) -> Option<(&TrustedIssuer, &TrustedKey)> {
        self.issuers.iter().find_map(|issuer| {
            issuer
                .keys
                .iter()
                .find(|k| k.key_id == key_id)
                .map(|k| (issuer, k))
        })
    }
}

/// The platform's record that it accepted a signed payload at a time: bounds when the signature
/// existed, so a key revoked from time T cannot pass off a backdated signature accepted after T.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub version: u32,
    pub kind: String,
    pub document_id: String,
    /// SHA-256 (hex) of the canonical payload bytes.
    pub payload_sha256: String,
    pub accepted_at: String,
}

/// A receipt with the platform's signature over its canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedReceipt {
    pub receipt: Receipt,
    pub signature: String,
    pub platform_key_id: String,
}

impl SignedReceipt {
    /// Checks the platform signature and that the receipt is about this payload; returns the
    /// acceptance time.
    pub fn check(
        &self,
        platform: &PlatformKeys,
        payload_sha256: &str,
    ) -> Result<DateTime<Utc>, Problem> {
        let key = platform
            .key(&self.platform_key_id)
            .ok_or(Problem::ReceiptInvalid)?;
        let body = serde_json::to_value(&self.receipt).map_err(|_| Problem::ReceiptInvalid)?;
        sign::verify_json(&key, &body, &self.signature).map_err(|_| Problem::ReceiptInvalid)?;
        if self.receipt.version != 1
            || self.receipt.kind != "receipt"
            || self.receipt.payload_sha256 != payload_sha256
        {
            return Err(Problem::ReceiptInvalid);
        }
        super::payload::parse_time(&self.receipt.accepted_at).ok_or(Problem::ReceiptInvalid)
    }
}
