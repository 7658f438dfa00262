//! The signed payload, version 1: what an agency signs when it issues a document and what a
//! counter signs when it certifies a copy. Its canonical bytes (RFC 8785) are what the Ed25519
//! signature covers. Documented in docs/api.md; golden vector in tests/golden.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Problem;
use crate::crypto::sign;

/// The only payload version this build understands.
pub const PAYLOAD_VERSION: u32 = 1;

/// What a signature asserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An agency issued this document (signed with an `issuing` key).
    Issued,
    /// Counter staff saw the original and certify this scan matches it (a `certifying` key).
    CertifiedCopy,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "issued",
            Self::CertifiedCopy => "certified_copy",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "issued" => Some(Self::Issued),
            "certified_copy" => Some(Self::CertifiedCopy),
            _ => None,
        }
    }

    /// The key purpose allowed to sign this kind.
    pub fn key_purpose(self) -> &'static str {
        match self {
            Self::Issued => "issuing",
            Self::CertifiedCopy => "certifying",
        }
    }
}

/// A payload as signed. Every member is required (absent optional values are `null`) so the
/// canonical bytes are unambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedPayload {
    pub version: u32,
    pub kind: String,
    #[serde(rename = "type")]
    pub doc_type: String,
    pub fields: BTreeMap<String, String>,
    pub citizen_national_id: String,
    /// Lowercase hex SHA-256 of the attached file, or null when the document has none.
    pub file_sha256: Option<String>,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub issued_at: String,
    pub valid_until: Option<String>,
    /// The issuing agency's code (as in the trust list).
    pub issuer_id: String,
    pub key_id: String,
}

/// The time format of `issued_at` and `valid_until`.
pub const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// Formats a time as the payload writes it (UTC, whole seconds).
pub fn format_time(at: DateTime<Utc>) -> String {
    at.format(TIME_FORMAT).to_string()
}

/// Parses a payload time, accepting only the one canonical spelling.
pub fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    let parsed = NaiveDateTime::parse_from_str(value, TIME_FORMAT)
        .ok()?
        .and_utc();
    (format_time(parsed) == value).then_some(parsed)
}

/// Parses a `YYYY-MM-DD` date, accepting only the canonical spelling.
pub fn parse_date(value: &str) -> Option<NaiveDate> {
    let parsed = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
    (parsed.format("%Y-%m-%d").to_string() == value).then_some(parsed)
}

/// A payload checked for shape: known version and kind, well-formed times, ID number and hash.
/// Type-specific fields are checked by the issuing side (the catalogue), not here, so a verifier
/// built today still reads documents of types added later.
#[derive(Debug, Clone)]
pub struct ParsedPayload {
    pub payload: SignedPayload,
    pub kind: Kind,
    pub issued_at: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    /// The exact bytes the signature covers.
    pub canonical: Vec<u8>,
}

impl ParsedPayload {
    /// SHA-256 of the canonical bytes (what receipts refer to).
    pub fn digest_hex(&self) -> String {
        hex::encode(Sha256::digest(&self.canonical))
    }

    /// The document number (every catalogue type has one).
    pub fn number(&self) -> Option<&str> {
        self.payload.fields.get("number").map(String::as_str)
    }
}

/// Reads and checks a payload from JSON exactly as received.
pub fn parse(value: &Value) -> Result<ParsedPayload, Problem> {
    if value.get("version").and_then(Value::as_u64) != Some(u64::from(PAYLOAD_VERSION))
        && value.get("version").is_some_and(Value::is_u64)
    {
        return Err(Problem::PayloadVersion);
    }
    let payload: SignedPayload =
        serde_json::from_value(value.clone()).map_err(|_| Problem::PayloadMalformed)?;
    let canonical = sign::canonical_json(value).map_err(|_| Problem::PayloadMalformed)?;
    // Missing members would deserialize as null; the canonical bytes of what was received must
    // equal those of what we understood, or we would check a different text from the signed one.
    let understood = serde_json::to_value(&payload).map_err(|_| Problem::PayloadMalformed)?;
    if sign::canonical_json(&understood).ok().as_deref() != Some(canonical.as_slice()) {
        return Err(Problem::PayloadMalformed);
    }
    let kind = Kind::parse(&payload.kind).ok_or(Problem::PayloadMalformed)?;
    let issued_at = parse_time(&payload.issued_at).ok_or(Problem::PayloadMalformed)?;
    let valid_until = match &payload.valid_until {
        Some(v) => Some(parse_time(v).ok_or(Problem::PayloadMalformed)?),
        None => None,
    };
    let id = &payload.citizen_national_id;
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::PayloadMalformed);
    }
    if let Some(hash) = &payload.file_sha256
        && (hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    {
        return Err(Problem::PayloadMalformed);
    }
    Ok(ParsedPayload {
        payload,
        kind,
        issued_at,
        valid_until,
        canonical,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "version": 1, "kind": "issued", "type": "cccd",
            "fields": { "number": "001099000001" },
            "citizen_national_id": "001099000001", "file_sha256": null,
            "issued_at": "2026-11-23T08:00:00Z", "valid_until": null,
            "issuer_id": "CA-DANANG", "key_id": "ik_0011223344556677"
        })
    }

    #[test]
    fn a_complete_payload_parses() {
        let parsed = parse(&sample()).unwrap();
        assert_eq!(parsed.kind, Kind::Issued);
        assert_eq!(parsed.number(), Some("001099000001"));
        assert_eq!(
            parsed.issued_at,
            parse_time("2026-11-23T08:00:00Z").unwrap()
        );
    }

    #[test]
    fn every_deviation_is_refused() {
        let mut missing = sample();
        missing.as_object_mut().unwrap().remove("file_sha256");
        assert_eq!(parse(&missing).unwrap_err(), Problem::PayloadMalformed);
        let mut extra = sample();
        extra["extra"] = json!(1);
        assert_eq!(parse(&extra).unwrap_err(), Problem::PayloadMalformed);
        let mut version = sample();
        version["version"] = json!(2);
        assert_eq!(parse(&version).unwrap_err(), Problem::PayloadVersion);
        for (member, bad) in [
            ("kind", json!("forged")),
            ("issued_at", json!("2026-11-23T08:00:00+00:00")),
            ("issued_at", json!("2026-11-23 08:00:00Z")),
            ("valid_until", json!("2041-1-1T00:00:00Z")),
            ("citizen_national_id", json!("00109900000")),
            ("file_sha256", json!("ABCDEF")),
            ("fields", json!({ "number": 1 })),
        ] {
            let mut changed = sample();
            changed[member] = bad;
            assert_eq!(
                parse(&changed).unwrap_err(),
                Problem::PayloadMalformed,
                "{member}"
            );
        }
    }

    #[test]
    fn dates_have_one_spelling() {
        assert!(parse_date("2026-01-05").is_some());
        assert!(parse_date("2026-1-5").is_none());
        assert!(parse_date("2026-02-30").is_none());
    }
}
