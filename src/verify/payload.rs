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

/// The ten members of a version 1 payload: name, the name an API error's `fields` uses, and
/// the expected form (said in every refusal that concerns the member).
const MEMBERS: [(&str, &str, &str); 10] = [
    (
        "version",
        "payload.version",
        "the integer 1 (a JSON number, not a string, not 1.0)",
    ),
    (
        "kind",
        "payload.kind",
        "the string \"issued\" or \"certified_copy\"",
    ),
    (
        "type",
        "payload.type",
        "a string (the catalogue type, e.g. \"cccd\")",
    ),
    (
        "fields",
        "payload.fields",
        "an object whose values are all strings",
    ),
    (
        "citizen_national_id",
        "payload.citizen_national_id",
        "a string of exactly 12 ASCII digits",
    ),
    (
        "file_sha256",
        "payload.file_sha256",
        "null or 64 lowercase hex digits (the SHA-256 of the file)",
    ),
    (
        "issued_at",
        "payload.issued_at",
        "a UTC time written YYYY-MM-DDTHH:MM:SSZ, e.g. 2026-11-23T08:00:00Z \
         (no offset such as +00:00, no fractions of a second)",
    ),
    (
        "valid_until",
        "payload.valid_until",
        "null or a UTC time written YYYY-MM-DDTHH:MM:SSZ, e.g. 2041-01-15T00:00:00Z \
         (no offset such as +00:00, no fractions of a second)",
    ),
    (
        "issuer_id",
        "payload.issuer_id",
        "a string (the issuing agency's code)",
    ),
    (
        "key_id",
        "payload.key_id",
        "a string (the signing key's id)",
    ),
];

/// A refusal with its detail: the [`Problem`], the member it concerns and, for people, the
/// member's path and the form that was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub problem: Problem,
    /// The member as an API error's `fields` names it (`payload.issued_at`), when there is one.
    pub field: Option<&'static str>,
    /// `payload.issued_at: expected …`; `None` says no more than the problem itself.
    pub detail: Option<String>,
}

impl Refusal {
    /// A refusal naming a payload member (`member` is a top-level name, `path` the full path).
    fn at(problem: Problem, member: &str, detail: String) -> Self {
        Self {
            problem,
            field: member_field(member),
            detail: Some(detail),
        }
    }

    /// The refusal of a member that is not of its expected form.
    fn wrong(member: &'static str) -> Self {
        Self::at(
            Problem::PayloadMalformed,
            member,
            format!("payload.{member}: expected {}", expected(member)),
        )
    }

    fn missing(member: &'static str) -> Self {
        Self::at(
            Problem::PayloadMalformed,
            member,
            format!(
                "payload.{member} is missing (an absent value is written as null): expected {}",
                expected(member)
            ),
        )
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.detail {
            Some(detail) => f.write_str(detail),
            None => write!(f, "{}", self.problem),
        }
    }
}

impl std::error::Error for Refusal {}

impl From<Problem> for Refusal {
    fn from(problem: Problem) -> Self {
        Self {
            problem,
            field: None,
            detail: None,
        }
    }
}

impl From<Refusal> for Problem {
    fn from(refusal: Refusal) -> Self {
        refusal.problem
    }
}

impl From<Refusal> for crate::error::AppError {
    fn from(refusal: Refusal) -> Self {
        let code = refusal.problem.code();
        Self::InvalidInput {
            code,
            message: refusal.to_string(),
            fields: refusal
                .field
                .map(|field| crate::error::FieldError { field, code })
                .into_iter()
                .collect(),
        }
    }
}

fn member_field(member: &str) -> Option<&'static str> {
    MEMBERS
        .iter()
        .find(|(name, _, _)| *name == member)
        .map(|(_, field, _)| *field)
}

fn expected(member: &str) -> &'static str {
    MEMBERS
        .iter()
        .find(|(name, _, _)| *name == member)
        .map_or("", |(_, _, form)| *form)
}

/// One step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

/// A path as people read it: `payload.fields.number`, `issuers[0].keys`, `payload["a b"]`.
pub fn format_path(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            PathSegment::Index(i) => out.push_str(&format!("[{i}]")),
            PathSegment::Key(key) => {
                let plain = !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if plain {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                } else {
                    out.push('[');
                    out.push_str(&serde_json::to_string(key).unwrap_or_default());
                    out.push(']');
                }
            }
        }
    }
    out
}

/// Why bytes are not a JSON document with unique member names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at all (serde_json's message).
    Syntax(String),
    /// A member name appears twice in one object; the path ends at that member.
    Duplicate(Vec<PathSegment>),
}

impl JsonError {
    /// The refusal for a document holding a payload at `payload` (a request or a manifest): a
    /// duplicate inside the payload is `payload_duplicate_key`; anything else is `outside`.
    pub fn refusal(&self, outside: Problem, what: &str) -> Refusal {
        match self {
            Self::Duplicate(path) => {
                let shown = format_path(path);
                match path.as_slice() {
                    [PathSegment::Key(root), rest @ ..] if root == "payload" => {
                        let field = match rest.first() {
                            Some(PathSegment::Key(member)) => member_field(member),
                            _ => None,
                        };
                        Refusal {
                            problem: Problem::PayloadDuplicateKey,
                            field: field.or(Some("payload")),
                            detail: Some(format!(
                                "{shown}: the member appears twice; a signed payload names each \
                                 member once (RFC 8785)"
                            )),
                        }
                    }
                    _ => Refusal {
                        problem: outside,
                        field: None,
                        detail: Some(format!("{what}: {shown} appears twice")),
                    },
                }
            }
            Self::Syntax(message) => Refusal {
                problem: outside,
                field: None,
                detail: Some(format!("{what}: not JSON ({message})")),
            },
        }
    }
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Syntax(message) => write!(f, "not JSON ({message})"),
            Self::Duplicate(path) => write!(f, "{} appears twice", format_path(path)),
        }
    }
}

/// Parses JSON, refusing a member name that appears twice in one object at any depth (RFC
/// 8785 §3.1; serde_json alone would keep the last value, and a verifier keeping the first
/// would see another document). Depth is bounded by serde_json's recursion limit.
pub fn from_slice_unique(bytes: &[u8]) -> Result<Value, JsonError> {
    let duplicate = std::cell::RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde::de::DeserializeSeed::deserialize(
        Unique {
            duplicate: &duplicate,
        },
        &mut deserializer,
    )
    .and_then(|value| deserializer.end().map(|()| value));
    match (parsed, duplicate.into_inner()) {
        (Ok(value), _) => Ok(value),
        (Err(_), Some(mut path)) => {
            path.reverse();
            Err(JsonError::Duplicate(path))
        }
        (Err(e), None) => Err(JsonError::Syntax(e.to_string())),
    }
}

/// Builds a [`Value`] like serde_json does, noting the path of the first duplicate member (in
/// reverse: each level adds its own step as the error passes up).
#[derive(Clone, Copy)]
struct Unique<'a> {
    duplicate: &'a std::cell::RefCell<Option<Vec<PathSegment>>>,
}

impl Unique<'_> {
    fn on_error(self, segment: PathSegment) {
        if let Some(path) = self.duplicate.borrow_mut().as_mut() {
            path.push(segment);
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Unique<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Unique<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            match seq.next_element_seed(self) {
                Ok(Some(value)) => out.push(value),
                Ok(None) => return Ok(Value::Array(out)),
                Err(e) => {
                    self.on_error(PathSegment::Index(out.len()));
                    return Err(e);
                }
            }
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(vec![PathSegment::Key(key)]);
                return Err(serde::de::Error::custom("duplicate member name"));
            }
            match map.next_value_seed(self) {
                Ok(value) => {
                    out.insert(key, value);
                }
                Err(e) => {
                    self.on_error(PathSegment::Key(key));
                    return Err(e);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// Reads and checks a payload from JSON exactly as received. Each refusal names the member
/// and the form expected there.
pub fn parse(value: &Value) -> Result<ParsedPayload, Refusal> {
    let object = value.as_object().ok_or_else(|| Refusal {
        problem: Problem::PayloadMalformed,
        field: Some("payload"),
        detail: Some("payload: expected a JSON object with the ten members of version 1".into()),
    })?;
    // The version first: a later version is reported as such, whatever its members.
    match object.get("version") {
        None => return Err(Refusal::missing("version")),
        Some(v) if v.is_u64() => {
            if v.as_u64() != Some(u64::from(PAYLOAD_VERSION)) {
                return Err(Refusal::at(
                    Problem::PayloadVersion,
                    "version",
                    format!("payload.version: {v} is not a version this verifier knows (only 1)"),
                ));
            }
        }
        Some(_) => return Err(Refusal::wrong("version")),
    }
    if let Some(name) = object
        .keys()
        .find(|k| !MEMBERS.iter().any(|(m, _, _)| m == k))
    {
        let names: Vec<&str> = MEMBERS.iter().map(|(m, _, _)| *m).collect();
        return Err(Refusal {
            problem: Problem::PayloadMalformed,
            field: Some("payload"),
            detail: Some(format!(
                "{}: unknown member; a version 1 payload has exactly these: {}",
                format_path(&[
                    PathSegment::Key("payload".into()),
                    PathSegment::Key(name.clone())
                ]),
                names.join(", ")
            )),
        });
    }
    if let Some((name, _, _)) = MEMBERS.iter().find(|(m, _, _)| !object.contains_key(*m)) {
        return Err(Refusal::missing(name));
    }
    let string = |member: &'static str| {
        object
            .get(member)
            .and_then(Value::as_str)
            .ok_or_else(|| Refusal::wrong(member))
    };
    let kind = Kind::parse(string("kind")?).ok_or_else(|| Refusal::wrong("kind"))?;
    string("type")?;
    let fields = object
        .get("fields")
        .and_then(Value::as_object)
        .ok_or_else(|| Refusal::wrong("fields"))?;
    if let Some(name) = fields.iter().find(|(_, v)| !v.is_string()).map(|(k, _)| k) {
        let path = format_path(&[
            PathSegment::Key("payload".into()),
            PathSegment::Key("fields".into()),
            PathSegment::Key(name.clone()),
        ]);
        return Err(Refusal::at(
            Problem::PayloadMalformed,
            "fields",
            format!("{path}: expected a string (every value in fields is a string)"),
        ));
    }
    let id = string("citizen_national_id")?;
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::wrong("citizen_national_id"));
    }
    match object.get("file_sha256") {
        Some(Value::Null) => {}
        Some(Value::String(hash))
            if hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
        }
        _ => return Err(Refusal::wrong("file_sha256")),
    }
    let issued_at = parse_time(string("issued_at")?).ok_or_else(|| Refusal::wrong("issued_at"))?;
    let valid_until = match object.get("valid_until") {
        Some(Value::Null) => None,
        Some(Value::String(v)) => Some(parse_time(v).ok_or_else(|| Refusal::wrong("valid_until"))?),
        _ => return Err(Refusal::wrong("valid_until")),
    };
    string("issuer_id")?;
    string("key_id")?;
    let payload: SignedPayload =
        serde_json::from_value(value.clone()).map_err(|_| Problem::PayloadMalformed)?;
    let canonical = sign::canonical_json(value).map_err(|_| Problem::PayloadMalformed)?;
    // The canonical bytes of what was received must equal those of what we understood, or we
    // would check a different text from the signed one (a safety net behind the checks above).
    let understood = serde_json::to_value(&payload).map_err(|_| Problem::PayloadMalformed)?;
    if sign::canonical_json(&understood).ok().as_deref() != Some(canonical.as_slice()) {
        return Err(Problem::PayloadMalformed.into());
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
#[allow(clippy::unwrap_used, clippy::panic)]
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
        let problem = |v: &Value| parse(v).unwrap_err().problem;
        let mut missing = sample();
        missing.as_object_mut().unwrap().remove("file_sha256");
        assert_eq!(problem(&missing), Problem::PayloadMalformed);
        let mut extra = sample();
        extra["extra"] = json!(1);
        assert_eq!(problem(&extra), Problem::PayloadMalformed);
        let mut version = sample();
        version["version"] = json!(2);
        assert_eq!(problem(&version), Problem::PayloadVersion);
        for (member, bad) in [
            ("kind", json!("forged")),
            ("issued_at", json!("2026-11-23T08:00:00+00:00")),
            ("issued_at", json!("2026-11-23 08:00:00Z")),
            ("valid_until", json!("2041-1-1T00:00:00Z")),
            ("citizen_national_id", json!("00109900000")),
            ("file_sha256", json!("ABCDEF")),
            ("fields", json!({ "number": 1 })),
            ("version", json!("1")),
            ("version", json!(1.0)),
            ("type", json!(null)),
            ("key_id", json!(7)),
        ] {
            let mut changed = sample();
            changed[member] = bad;
            assert_eq!(problem(&changed), Problem::PayloadMalformed, "{member}");
        }
        assert_eq!(problem(&json!([1])), Problem::PayloadMalformed);
    }

    /// Each refusal names the member and the form expected there, for people (`detail`) and
    /// for programs (`field`).
    #[test]
    fn refusals_name_the_member_and_the_expected_form() {
        let mut missing = sample();
        missing.as_object_mut().unwrap().remove("valid_until");
        let refusal = parse(&missing).unwrap_err();
        assert_eq!(refusal.field, Some("payload.valid_until"));
        let text = refusal.to_string();
        assert!(text.starts_with("payload.valid_until is missing"), "{text}");
        assert!(text.contains("null"), "{text}");

        let mut offset = sample();
        offset["issued_at"] = json!("2026-11-23T08:00:00+00:00");
        let refusal = parse(&offset).unwrap_err();
        assert_eq!(refusal.field, Some("payload.issued_at"));
        let text = refusal.to_string();
        assert!(text.starts_with("payload.issued_at: expected"), "{text}");
        assert!(text.contains("YYYY-MM-DDTHH:MM:SSZ"), "{text}");

        let mut string = sample();
        string["version"] = json!("1");
        let refusal = parse(&string).unwrap_err();
        assert_eq!(refusal.problem, Problem::PayloadMalformed);
        assert_eq!(refusal.field, Some("payload.version"));
        assert!(refusal.to_string().contains("the integer 1"), "{refusal}");

        let mut nested = sample();
        nested["fields"] = json!({ "number": 1 });
        let refusal = parse(&nested).unwrap_err();
        assert_eq!(refusal.field, Some("payload.fields"));
        assert!(
            refusal
                .to_string()
                .starts_with("payload.fields.number: expected a string"),
            "{refusal}"
        );

        let mut extra = sample();
        extra["a b"] = json!(1);
        let text = parse(&extra).unwrap_err().to_string();
        assert!(
            text.starts_with("payload[\"a b\"]: unknown member"),
            "{text}"
        );
    }

    #[test]
    fn duplicate_members_are_refused_at_every_depth_with_their_path() {
        let duplicate = |text: &str| match from_slice_unique(text.as_bytes()) {
            Err(JsonError::Duplicate(path)) => format_path(&path),
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(duplicate(r#"{"a": 1, "a": 2}"#), "a");
        assert_eq!(
            duplicate(r#"{"payload": {"fields": {"number": "1", "number": "2"}}}"#),
            "payload.fields.number"
        );
        // The same name spelt with an escape is the same name.
        assert_eq!(duplicate(r#"{"x": [0, {"k": 1, "\u006b": 2}]}"#), "x[1].k");
        assert_eq!(
            duplicate(r#"{"payload": {"version": 1, "version": 1}}"#),
            "payload.version"
        );
        // Same names in different objects are fine, and the value is what serde_json gives.
        let text = r#"{"a": {"k": 1}, "b": {"k": [1.5, -2, null, true, "s"]}}"#;
        assert_eq!(
            from_slice_unique(text.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        assert!(matches!(
            from_slice_unique(b"{\"a\": 1} x"),
            Err(JsonError::Syntax(_))
        ));
        // Deep nesting stops at serde_json's recursion limit instead of the stack.
        let deep = "[".repeat(100_000);
        assert!(matches!(
            from_slice_unique(deep.as_bytes()),
            Err(JsonError::Syntax(_))
        ));

        let inside = from_slice_unique(br#"{"payload": {"fields": {"n": "1", "n": "1"}}}"#)
            .unwrap_err()
            .refusal(Problem::PackageMalformed, "manifest");
        assert_eq!(inside.problem, Problem::PayloadDuplicateKey);
        assert_eq!(inside.field, Some("payload.fields"));
        assert!(
            inside.to_string().starts_with("payload.fields.n: "),
            "{inside}"
        );
        let outside = from_slice_unique(br#"{"signature": "a", "signature": "b"}"#)
            .unwrap_err()
            .refusal(Problem::PackageMalformed, "manifest");
        assert_eq!(outside.problem, Problem::PackageMalformed);
        assert_eq!(outside.to_string(), "manifest: signature appears twice");
    }

    #[test]
    fn dates_have_one_spelling() {
        assert!(parse_date("2026-01-05").is_some());
        assert!(parse_date("2026-1-5").is_none());
        assert!(parse_date("2026-02-30").is_none());
    }
}
