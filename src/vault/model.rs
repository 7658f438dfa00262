//! Document types and content sniffing.

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
