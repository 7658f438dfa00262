//! Document types, document sources, content sniffing and list positions (the opaque cursor
//! of the documents list).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The catalogue of document types a citizen can file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentType {
    Cccd,
    Passport,
    DrivingLicence,
    BirthCertificate,
    HealthInsurance,
    HouseholdRegistration,
    Other,
}

impl DocumentType {
    pub const ALL: [DocumentType; 7] = [
        Self::Cccd,
        Self::Passport,
        Self::DrivingLicence,
        Self::BirthCertificate,
        Self::HealthInsurance,
        Self::HouseholdRegistration,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cccd => "cccd",
            Self::Passport => "passport",
            Self::DrivingLicence => "driving_licence",
            Self::BirthCertificate => "birth_certificate",
            Self::HealthInsurance => "health_insurance",
            Self::HouseholdRegistration => "household_registration",
            Self::Other => "other",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == value)
    }

    /// Translation key of the type's name.
    pub fn label_key(self) -> String {
        format!("doc_type.{}", self.as_str())
    }
}

/// Where a document came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentSource {
    /// Uploaded by the citizen.
    SelfUploaded,
    /// Signed and sent by an agency.
    Issued,
    /// A scan certified against the original at a counter.
    Certified,
}

impl DocumentSource {
    pub const ALL: [DocumentSource; 3] = [Self::SelfUploaded, Self::Issued, Self::Certified];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SelfUploaded => "self",
            Self::Issued => "issued",
            Self::Certified => "certified",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Translation key of the source's name.
    pub fn label_key(self) -> String {
        format!("doc_source.{}", self.as_str())
    }
}

/// A position in an owner's documents list, newest first by `(created_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Position {
    /// The opaque cursor put in "older"/"newer" links: URL-safe base64 of the creation time in
    /// nanoseconds and the id. It names a place only; the list reads nothing but the owner's
    /// rows whatever cursor it is given.
    pub fn cursor(&self) -> String {
        let nanos = self.created_at.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let mut raw = Vec::with_capacity(24);
        raw.extend_from_slice(&nanos.to_be_bytes());
        raw.extend_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads a cursor back; `None` for anything that is not one.
    pub fn from_cursor(cursor: &str) -> Option<Self> {
        if cursor.len() > 64 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let (nanos, id) = raw.split_at_checked(8)?;
        let nanos = i64::from_be_bytes(nanos.try_into().ok()?);
        let id = Uuid::from_slice(id).ok()?;
        Some(Self {
            created_at: DateTime::from_timestamp_nanos(nanos),
            id,
        })
    }
}

/// How many leading bytes [`sniff`] needs.
pub const SNIFF_LEN: usize = 16;

/// The content type of a file judged by its first bytes (never by its name): PDF, JPEG, PNG,
/// WebP or HEIC/HEIF. `None` for anything else.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"%PDF-") {
        return Some("application/pdf");
    }
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        return Some("image/png");
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        let brand = &head[8..12];
        if [
            b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1",
        ]
        .iter()
        .any(|b| brand == *b)
        {
            return Some("image/heic");
        }
    }
    None
}

/// File-name extension for a content type (downloads get a sensible name).
pub fn extension(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => "pdf",
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/heic" => "heic",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip() {
        for t in DocumentType::ALL {
            assert_eq!(DocumentType::parse(t.as_str()), Some(t));
        }
        assert_eq!(DocumentType::parse("CCCD"), None);
    }

    #[test]
    fn sources_round_trip() {
        for s in DocumentSource::ALL {
            assert_eq!(DocumentSource::parse(s.as_str()), Some(s));
        }
        assert_eq!(DocumentSource::parse("Self"), None);
    }

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let at = Position {
            created_at: DateTime::from_timestamp_nanos(1_795_000_000_123_456_789),
            id: Uuid::now_v7(),
        };
        assert_eq!(Position::from_cursor(&at.cursor()), Some(at));
        for junk in ["", "x", "!!!!", "AAAA", &"A".repeat(200), &at.cursor()[1..]] {
            assert_eq!(Position::from_cursor(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn content_is_judged_by_its_bytes() {
        assert_eq!(sniff(b"%PDF-1.7\n%..."), Some("application/pdf"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Some("image/jpeg"));
        assert_eq!(
            sniff(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0]),
            Some("image/png")
        );
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0"), Some("image/heic"));
        assert_eq!(sniff(b"<html><body>"), None);
        assert_eq!(
            sniff(b"\0\0\0\x18ftypisom\0\0\0\0"),
            None,
            "mp4 is not an image"
        );
        assert_eq!(sniff(b"%PD"), None);
        assert_eq!(sniff(b""), None);
    }
}
