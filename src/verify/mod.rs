//! Verifying signed documents without a database: the payload format ([`payload`]), what the
//! verifier trusts ([`trust`]), the downloadable package ([`package`]) and [`check`], the one
//! rule used by the document page, by `POST /api/v1/verify` and by `congdanso verify` offline.
//! (Acceptance through the API, `issuers::issuing::check_request`, applies the same payload
//! parser and key timeline, plus the rules that depend on the caller and the time of arrival.)

pub mod offline;
pub mod package;
pub mod payload;
pub mod trust;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::crypto::sign;
use crate::issuers::model::KeyProblem;
pub use payload::{Kind, ParsedPayload, SignedPayload};
pub use trust::{PlatformKeys, Receipt, SignedReceipt, TrustList};

/// Why a document does not verify. Each has a stable code (API, CLI, docs/api.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("the signed payload is not a well-formed version 1 payload")]
    PayloadMalformed,
    #[error("the signed payload has a version this verifier does not know")]
    PayloadVersion,
    #[error("the signature does not match the payload and key")]
    SignatureInvalid,
    #[error("the signing key is not in the trust list")]
    KeyUnknown,
    #[error("{0}")]
    Key(KeyProblem),
    #[error("the key may not sign this kind of document")]
    KeyPurpose,
    #[error("the key belongs to another issuer than the one named in the payload")]
    IssuerMismatch,
    #[error("the issuer was not authorised to issue this type of document at that time")]
    TypeNotAuthorized,
    #[error("the payload names a file but none was given")]
    FileMissing,
    #[error("a file was given but the payload names none")]
    FileUnexpected,
    #[error("the file's SHA-256 differs from the signed one")]
    FileHashMismatch,
    #[error("the platform receipt is not valid for this payload")]
    ReceiptInvalid,
    #[error("the platform's receipt is missing, so the signing time cannot be bounded")]
    ReceiptMissing,
    #[error("the trust list is malformed")]
    TrustListMalformed,
    #[error("the trust list's signature does not match the platform keys")]
    TrustListSignatureInvalid,
    #[error("the package is not a valid congdanso package")]
    PackageMalformed,
    #[error("a member of the signed payload appears twice")]
    PayloadDuplicateKey,
    #[error("more than the end-of-archive marker and its record padding follows the last entry")]
    PackageTrailingData,
}

impl Problem {
    pub fn code(self) -> &'static str {
        match self {
            Self::PayloadMalformed => "payload_malformed",
            Self::PayloadVersion => "payload_version",
            Self::SignatureInvalid => "signature_invalid",
            Self::KeyUnknown => "key_unknown",
            Self::Key(problem) => problem.code(),
            Self::KeyPurpose => "key_purpose",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::TypeNotAuthorized => "type_not_authorized",
            Self::FileMissing => "file_missing",
            Self::FileUnexpected => "file_unexpected",
            Self::FileHashMismatch => "file_hash_mismatch",
            Self::ReceiptInvalid => "receipt_invalid",
            Self::ReceiptMissing => "receipt_missing",
            Self::TrustListMalformed => "trust_list_malformed",
            Self::TrustListSignatureInvalid => "trust_list_signature_invalid",
            Self::PackageMalformed => "package_malformed",
            Self::PayloadDuplicateKey => "payload_duplicate_key",
            Self::PackageTrailingData => "package_trailing_data",
        }
    }
}

/// What is presented for verification.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// The payload exactly as signed (JSON).
    pub payload: &'a Value,
    /// Base64 Ed25519 signature over the payload's canonical bytes.
    pub signature: &'a str,
    pub receipt: Option<&'a SignedReceipt>,
    /// SHA-256 (hex) of the file actually presented with the payload, if any.
    pub file_sha256: Option<&'a str>,
}

/// A document that verified.
#[derive(Debug, Clone)]
pub struct Verified {
    pub parsed: ParsedPayload,
    pub agency_id: String,
    pub issuer_code: String,
    pub issuer_name: String,
    /// When the platform accepted it (from a valid receipt).
    pub accepted_at: Option<DateTime<Utc>>,
}

/// Checks a signed document against a trust list. With `platform` (the normal case: the server,
/// the document page, the API and the CLI) the platform's receipt is required, because it is
/// what bounds the signing time: without it a stolen key could back-date `issued_at` to before
/// its revocation. `None` checks the agency's signature alone (used where no receipt exists
/// yet, and by tests).
pub fn check(
    evidence: &Evidence<'_>,
    trust: &TrustList,
    platform: Option<&PlatformKeys>,
) -> Result<Verified, Problem> {
    let parsed = payload::parse(evidence.payload)?;
    let (issuer, key) = trust
        .find_key(&parsed.payload.key_id)
        .ok_or(Problem::KeyUnknown)?;
    if issuer.code != parsed.payload.issuer_id {
        return Err(Problem::IssuerMismatch);
    }
    if key.purpose != parsed.kind.key_purpose() {
        return Err(Problem::KeyPurpose);
    }
    let public = key.verifying_key()?;
    sign::verify_bytes(&public, &parsed.canonical, evidence.signature)
        .map_err(|_| Problem::SignatureInvalid)?;
    let timeline = key.timeline()?;
    timeline
        .check_signed_at(parsed.issued_at)
        .map_err(Problem::Key)?;
    // An issued document counts only if its issuer was authorised for its type when it was
    // issued (certified copies are of any type: the certifying key is what counts for them).
    let authorised_at = |at| {
        if parsed.kind != Kind::Issued || issuer.authorized(&parsed.payload.doc_type, at)? {
            Ok(())
        } else {
            Err(Problem::TypeNotAuthorized)
        }
    };
    authorised_at(parsed.issued_at)?;
    let accepted_at = match (evidence.receipt, platform) {
        (None, Some(_)) => return Err(Problem::ReceiptMissing),
        (Some(receipt), Some(platform)) => {
            let accepted = receipt.check(platform, &parsed.digest_hex())?;
            // The signature existed by `accepted`; a revocation before that catches backdating.
            if let Err(problem @ KeyProblem::Revoked) = timeline.check_signed_at(accepted) {
                return Err(Problem::Key(problem));
            }
            // Likewise an authority that had ended when the platform accepted the document
            // (the platform refuses that; this catches an `issued_at` back-dated into it).
            authorised_at(accepted)?;
            Some(accepted)
        }
        _ => None,
    };
    match (&parsed.payload.file_sha256, evidence.file_sha256) {
        (None, None) => {}
        (Some(_), None) => return Err(Problem::FileMissing),
        (None, Some(_)) => return Err(Problem::FileUnexpected),
        (Some(signed), Some(actual)) => {
            if !bool::from(subtle::ConstantTimeEq::ct_eq(
                signed.as_bytes(),
                actual.as_bytes(),
            )) {
                return Err(Problem::FileHashMismatch);
            }
        }
    }
    Ok(Verified {
        parsed,
        agency_id: issuer.agency_id.clone(),
        issuer_code: issuer.code.clone(),
        issuer_name: issuer.name.clone(),
        accepted_at,
    })
}

/// The answer of `POST /api/v1/verify` and `congdanso verify --json`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub valid: bool,
    /// `ok`, or the code of the problem found.
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub doc_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<ReportIssuer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citizen_national_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<std::collections::BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// The document's own validity has ended (the signature is still genuine).
    pub document_expired: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_list_issued_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportIssuer {
    pub code: String,
    pub name: String,
}

impl Report {
    pub fn new(
        outcome: &Result<Verified, Problem>,
        trust: Option<&TrustList>,
        now: DateTime<Utc>,
    ) -> Self {
        let trust_list_issued_at = trust.map(|t| t.issued_at.clone());
        match outcome {
            Ok(v) => Self {
                valid: true,
                code: "ok",
                message: match v.parsed.kind {
                    Kind::Issued => format!("issued by {}", v.issuer_name),
                    Kind::CertifiedCopy => format!("copy certified by {}", v.issuer_name),
                },
                kind: Some(v.parsed.kind.as_str()),
                doc_type: Some(v.parsed.payload.doc_type.clone()),
                issuer: Some(ReportIssuer {
                    code: v.issuer_code.clone(),
                    name: v.issuer_name.clone(),
                }),
                key_id: Some(v.parsed.payload.key_id.clone()),
                citizen_national_id: Some(v.parsed.payload.citizen_national_id.clone()),
                fields: Some(v.parsed.payload.fields.clone()),
                issued_at: Some(v.parsed.payload.issued_at.clone()),
                valid_until: v.parsed.payload.valid_until.clone(),
                document_expired: v.parsed.valid_until.is_some_and(|until| until < now),
                accepted_at: v.accepted_at.map(payload::format_time),
                file_sha256: v.parsed.payload.file_sha256.clone(),
                trust_list_issued_at,
            },
            Err(problem) => Self {
                valid: false,
                code: problem.code(),
                message: problem.to_string(),
                kind: None,
                doc_type: None,
                issuer: None,
                key_id: None,
                citizen_national_id: None,
                fields: None,
                issued_at: None,
                valid_until: None,
                document_expired: false,
                accepted_at: None,
                file_sha256: None,
                trust_list_issued_at,
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use ed25519_dalek::SigningKey;
    use serde_json::json;

    use super::trust::{PlatformKey, TrustedAuthority, TrustedIssuer, TrustedKey};
    use super::*;

    const ISSUED_AT: &str = "2026-11-23T08:00:00Z";

    struct World {
        payload: Value,
        signature: String,
        receipt: SignedReceipt,
        platform: PlatformKeys,
        agency_key: SigningKey,
    }

    /// A CCCD signed by an agency key, with the platform's receipt accepting it at `accepted`.
    fn world(accepted: &str) -> World {
        let agency_key = SigningKey::from_bytes(&[7; 32]);
        let platform_key = SigningKey::from_bytes(&[8; 32]);
        let platform_id = crate::keys::signing_key_id(&platform_key.verifying_key());
        let payload = json!({
            "version": 1, "kind": "issued", "type": "cccd",
            "fields": { "number": "001099000001", "full_name": "Nguyễn Văn Thử" },
            "citizen_national_id": "001099000001", "file_sha256": null,
            "issued_at": ISSUED_AT, "valid_until": null,
            "issuer_id": "UBND-HAICHAU",
            "key_id": sign::key_id_for("ik", &agency_key.verifying_key()),
        });
        let signature = sign::sign_json(&agency_key, &payload).unwrap();
        let receipt = Receipt {
            version: 1,
            kind: "receipt".into(),
            document_id: "0193a000-0000-7000-8000-000000000000".into(),
            payload_sha256: payload::parse(&payload).unwrap().digest_hex(),
            accepted_at: accepted.into(),
        };
        let receipt = SignedReceipt {
            signature: sign::sign_json(&platform_key, &serde_json::to_value(&receipt).unwrap())
                .unwrap(),
            receipt,
            platform_key_id: platform_id.clone(),
        };
        let platform = PlatformKeys {
            keys: vec![PlatformKey {
                key_id: platform_id,
                public_key: base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    platform_key.verifying_key().as_bytes(),
                ),
            }],
        };
        World {
            payload,
            signature,
            receipt,
            platform,
            agency_key,
        }
    }

    fn trust(world: &World, authorities: &[(&str, &str, Option<&str>)]) -> TrustList {
        let key = world.agency_key.verifying_key();
        TrustList {
            format: crate::issuers::service::TRUST_LIST_FORMAT.into(),
            issued_at: "2026-11-23T09:00:00+00:00".into(),
            issuers: vec![TrustedIssuer {
                agency_id: "a".into(),
                code: "UBND-HAICHAU".into(),
                name: "UBND quận Hải Châu".into(),
                keys: vec![TrustedKey {
                    key_id: sign::key_id_for("ik", &key),
                    public_key: base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        key.as_bytes(),
                    ),
                    purpose: "issuing".into(),
                    valid_from: "2026-01-01T00:00:00+00:00".into(),
                    valid_until: None,
                    status: "active".into(),
                    status_changed_at: None,
                }],
                authorities: authorities
                    .iter()
                    .map(|(doc_type, from, until)| TrustedAuthority {
                        doc_type: (*doc_type).into(),
                        valid_from: (*from).into(),
                        valid_until: until.map(Into::into),
                    })
                    .collect(),
            }],
        }
    }

    fn outcome(world: &World, trust: &TrustList) -> Result<Verified, Problem> {
        let evidence = Evidence {
            payload: &world.payload,
            signature: &world.signature,
            receipt: Some(&world.receipt),
            file_sha256: None,
        };
        check(&evidence, trust, Some(&world.platform))
    }

    #[test]
    fn an_issuer_must_have_been_authorised_for_the_type_when_it_issued() {
        let w = world("2026-11-23T08:00:01Z");
        let from = "2026-01-01T00:00:00+00:00";
        // Authorised for CCCDs: valid.
        assert!(outcome(&w, &trust(&w, &[("cccd", from, None)])).is_ok());
        // Authorised for birth certificates only, or for nothing: refused.
        for list in [
            trust(&w, &[("birth_certificate", from, None)]),
            trust(&w, &[]),
        ] {
            assert_eq!(outcome(&w, &list).unwrap_err(), Problem::TypeNotAuthorized);
        }
        // An authority that ended before, or began after, the issue time: refused.
        for span in [
            ("cccd", from, Some("2026-11-23T07:59:59+00:00")),
            ("cccd", "2026-11-23T08:00:01+00:00", None),
        ] {
            assert_eq!(
                outcome(&w, &trust(&w, &[span])).unwrap_err(),
                Problem::TypeNotAuthorized
            );
        }
        assert_eq!(Problem::TypeNotAuthorized.code(), "type_not_authorized");
    }

    #[test]
    fn an_issue_time_back_dated_into_an_ended_authority_is_caught_by_the_receipt() {
        // The authority ended at 08:30; the document claims 08:00 but was accepted at 09:00.
        let w = world("2026-11-23T09:00:00Z");
        let list = trust(
            &w,
            &[(
                "cccd",
                "2026-01-01T00:00:00+00:00",
                Some("2026-11-23T08:30:00+00:00"),
            )],
        );
        assert_eq!(outcome(&w, &list).unwrap_err(), Problem::TypeNotAuthorized);
        // Accepted in time, it verifies.
        let w = world("2026-11-23T08:00:05Z");
        let list = trust(
            &w,
            &[(
                "cccd",
                "2026-01-01T00:00:00+00:00",
                Some("2026-11-23T08:30:00+00:00"),
            )],
        );
        assert!(outcome(&w, &list).is_ok());
    }

    #[test]
    fn a_version_1_trust_list_without_authorities_is_refused() {
        let body = json!({
            "format": "congdanso-trust-list/v1",
            "issued_at": "2026-11-23T09:00:00+00:00",
            "issuers": [{ "agency_id": "a", "code": "X", "name": "X", "keys": [] }],
        });
        assert_eq!(
            TrustList::from_body(&body).unwrap_err(),
            Problem::TrustListMalformed
        );
    }
}
