//! Key purposes, statuses and the validity timeline that decides whether a signature made at a
//! given time counts. Pure, so the offline verifier uses exactly the same rule.

use chrono::{DateTime, Utc};

/// What an agency key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// Documents the agency issues.
    Issuing,
    /// Copies its counter staff certify against the original.
    Certifying,
}

impl KeyPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issuing => "issuing",
            Self::Certifying => "certifying",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "issuing" => Some(Self::Issuing),
            "certifying" => Some(Self::Certifying),
            _ => None,
        }
    }
}

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    /// Replaced; what it signed while active still verifies.
    Retired,
    /// Compromised; what it "signed" from the revocation time on does not verify.
    Revoked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "retired" => Some(Self::Retired),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// The dates that bound a key's signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTimeline {
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub status: KeyStatus,
    /// When the key was retired or revoked.
    pub status_changed_at: Option<DateTime<Utc>>,
}

/// Why a signature made at some time does not count (stable codes for APIs and the verifier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    #[error("the key was not yet valid when this was signed")]
    NotYetValid,
    #[error("the key had expired when this was signed")]
    Expired,
    #[error("the key had been retired when this was signed")]
    SignedAfterRetirement,
    #[error("the key had been revoked when this was signed")]
    Revoked,
}

impl KeyProblem {
    pub fn code(self) -> &'static str {
        match self {
            Self::NotYetValid => "key_not_yet_valid",
            Self::Expired => "key_expired",
            Self::SignedAfterRetirement => "key_retired",
            Self::Revoked => "key_revoked",
        }
    }
}

impl KeyTimeline {
    /// Whether a signature made at `signed_at` counts under this key.
    pub fn check_signed_at(&self, signed_at: DateTime<Utc>) -> Result<(), KeyProblem> {
        if signed_at < self.valid_from {
            return Err(KeyProblem::NotYetValid);
        }
        if self.valid_until.is_some_and(|until| signed_at > until) {
            return Err(KeyProblem::Expired);
        }
        match (self.status, self.status_changed_at) {
            (KeyStatus::Revoked, Some(at)) if signed_at >= at => Err(KeyProblem::Revoked),
            (KeyStatus::Revoked, None) => Err(KeyProblem::Revoked),
            (KeyStatus::Retired, Some(at)) if signed_at > at => {
                Err(KeyProblem::SignedAfterRetirement)
            }
            _ => Ok(()),
        }
    }

    /// Whether the key may sign something new at `now`.
    pub fn usable_at(&self, now: DateTime<Utc>) -> bool {
        self.status == KeyStatus::Active && self.check_signed_at(now).is_ok()
    }
}

/// One span during which an agency may issue one document type. Pure, so the issuing API and
/// the offline verifier apply exactly the same rule ([`authorized_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthoritySpan {
    pub valid_from: DateTime<Utc>,
    /// Open-ended when `None`.
    pub valid_until: Option<DateTime<Utc>>,
}

impl AuthoritySpan {
    /// Whether the span covers `at` (both ends included, like key validity).
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        at >= self.valid_from && self.valid_until.is_none_or(|until| at <= until)
    }
}

/// Whether any of an agency's spans for a type covers `at`. An agency may hold several spans
/// for one type (authority ended, then granted again).
pub fn authorized_at(spans: &[AuthoritySpan], at: DateTime<Utc>) -> bool {
    spans.iter().any(|span| span.covers(at))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn authority_covers_its_span_only() {
        let spans = [
            AuthoritySpan {
                valid_from: at("2026-01-01T00:00:00Z"),
                valid_until: Some(at("2026-06-30T23:59:59Z")),
            },
            AuthoritySpan {
                valid_from: at("2027-01-01T00:00:00Z"),
                valid_until: None,
            },
        ];
        assert!(!authorized_at(&spans, at("2025-12-31T23:59:59Z")));
        assert!(authorized_at(&spans, at("2026-01-01T00:00:00Z")));
        assert!(authorized_at(&spans, at("2026-06-30T23:59:59Z")));
        assert!(!authorized_at(&spans, at("2026-07-01T00:00:00Z")));
        assert!(authorized_at(&spans, at("2030-01-01T00:00:00Z")));
        assert!(!authorized_at(&[], at("2026-03-01T00:00:00Z")));
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn timeline(status: KeyStatus, changed: Option<&str>) -> KeyTimeline {
        KeyTimeline {
            valid_from: at("2026-01-01T00:00:00Z"),
            valid_until: Some(at("2028-01-01T00:00:00Z")),
            status,
            status_changed_at: changed.map(at),
        }
    }

    #[test]
    fn validity_window_bounds_signatures() {
        let key = timeline(KeyStatus::Active, None);
        assert_eq!(
            key.check_signed_at(at("2025-12-31T23:59:59Z")),
            Err(KeyProblem::NotYetValid)
        );
        assert!(key.check_signed_at(at("2026-06-01T00:00:00Z")).is_ok());
        assert_eq!(
            key.check_signed_at(at("2028-01-01T00:00:01Z")),
            Err(KeyProblem::Expired)
        );
    }

    #[test]
    fn a_retired_key_still_verifies_what_it_signed_while_active() {
        let key = timeline(KeyStatus::Retired, Some("2027-01-01T00:00:00Z"));
        assert!(key.check_signed_at(at("2026-12-31T00:00:00Z")).is_ok());
        assert_eq!(
            key.check_signed_at(at("2027-01-02T00:00:00Z")),
            Err(KeyProblem::SignedAfterRetirement)
        );
        assert!(!key.usable_at(at("2026-12-31T00:00:00Z")));
    }

    #[test]
    fn a_revoked_key_invalidates_signatures_from_the_revocation_time() {
        let key = timeline(KeyStatus::Revoked, Some("2027-01-01T00:00:00Z"));
        assert!(key.check_signed_at(at("2026-12-31T23:59:59Z")).is_ok());
        assert_eq!(
            key.check_signed_at(at("2027-01-01T00:00:00Z")),
            Err(KeyProblem::Revoked)
        );
    }

    #[test]
    fn names_round_trip() {
        for p in [KeyPurpose::Issuing, KeyPurpose::Certifying] {
            assert_eq!(KeyPurpose::parse(p.as_str()), Some(p));
        }
        for s in [KeyStatus::Active, KeyStatus::Retired, KeyStatus::Revoked] {
            assert_eq!(KeyStatus::parse(s.as_str()), Some(s));
        }
    }
}
