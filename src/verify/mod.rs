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
    let accepted_at = match (evidence.receipt, platform) {
        (None, Some(_)) => return Err(Problem::ReceiptMissing),
        (Some(receipt), Some(platform)) => {
            let accepted = receipt.check(platform, &parsed.digest_hex())?;
            // The signature existed by `accepted`; a revocation before that catches backdating.
            if let Err(problem @ KeyProblem::Revoked) = timeline.check_signed_at(accepted) {
                return Err(Problem::Key(problem));
            }
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
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub valid: bool,
    /// `ok` or the [`Problem`] code.
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

#[derive(Debug, Clone, Serialize)]
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
