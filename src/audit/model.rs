//! What an access-log entry says, typed at the edge, and its canonical bytes.
//!
//! An entry records who (actor) did what (action) to which object of which citizen, why
//! (purpose), under what authority (the citizen's own session, a grant, a request) and how it
//! ended (outcome), at the clock's time. It never holds document content, titles or field
//! values: the object is named by its id and type only.
//!
//! Canonical bytes (all integers big-endian; `lp(s)` = u16 length ‖ UTF-8 bytes):
//!
//! ```text
//! content   = 0x01                                   format version
//!             ‖ i64 occurred_at                      microseconds since 1970-01-01T00:00:00Z
//!             ‖ lp(actor_kind) ‖ lp(actor_id) ‖ lp(actor_agency)
//!             ‖ lp(action)
//!             ‖ lp(object_type) ‖ lp(object_id)
//!             ‖ lp(purpose) ‖ lp(authorization) ‖ lp(outcome)
//! content_hash = SHA-256("congdanso/v1/access-log/content" ‖ 0x00 ‖ salt[32] ‖ content)
//! leaf data d  = "congdanso/v1/access-log/leaf" ‖ 0x00 ‖ account_id[16] ‖ u64 seq
//!                ‖ u64 leaf_index ‖ prev_hash[32] ‖ content_hash[32]
//! leaf_hash    = SHA-256(0x00 ‖ d)                   (RFC 9162 leaf)
//! prev_hash    = leaf_hash of the citizen's entry seq-1; 32 zero bytes for seq 1
//! ```
//!
//! Absent values are empty strings. The salt (32 random bytes per entry) makes the content hash
//! reveal nothing about low-entropy content; erasing an entry deletes its content and salt and
//! keeps `content_hash`, so the chain and the tree still verify.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::crypto::merkle::{Hash, leaf_hash};
use crate::vault::model::DocumentType;

const CONTENT_DOMAIN: &[u8] = b"congdanso/v1/access-log/content\0";
const LEAF_DOMAIN: &[u8] = b"congdanso/v1/access-log/leaf\0";
/// Format version byte of the content encoding.
pub const CONTENT_VERSION: u8 = 1;
/// The longest purpose accepted (characters).
pub const MAX_PURPOSE_CHARS: usize = 500;
/// The previous hash of a citizen's first entry.
pub const GENESIS: Hash = [0u8; 32];

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The citizen, in their own session.
    Citizen { account: Uuid },
    /// A counter clerk (or other staff member) of an agency.
    Staff { account: Uuid, agency: Uuid },
    /// An agency's system, through one of its API credentials.
    Agency { credential: Uuid, agency: Uuid },
    /// A platform operator (e.g. answering a misuse report); belongs to no agency.
    Operator { account: Uuid },
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Citizen { .. } => "citizen",
            Self::Staff { .. } => "staff",
            Self::Agency { .. } => "agency",
            Self::Operator { .. } => "operator",
        }
    }

    /// The acting account or credential.
    pub fn id(&self) -> Uuid {
        match self {
            Self::Citizen { account }
            | Self::Staff { account, .. }
            | Self::Operator { account } => *account,
            Self::Agency { credential, .. } => *credential,
        }
    }

    pub fn agency(&self) -> Option<Uuid> {
        match self {
            Self::Citizen { .. } | Self::Operator { .. } => None,
            Self::Staff { agency, .. } | Self::Agency { agency, .. } => Some(*agency),
        }
    }

    /// Back from stored strings.
    pub fn parse(kind: &str, id: &str, agency: &str) -> Option<Self> {
        let id = Uuid::parse_str(id).ok()?;
        let agency_id = || Uuid::parse_str(agency).ok();
        match kind {
            "citizen" if agency.is_empty() => Some(Self::Citizen { account: id }),
            "operator" if agency.is_empty() => Some(Self::Operator { account: id }),
            "staff" => Some(Self::Staff {
                account: id,
                agency: agency_id()?,
            }),
            "agency" => Some(Self::Agency {
                credential: id,
                agency: agency_id()?,
            }),
            _ => None,
        }
    }
}

/// What was done. Codes are stable: they are hashed into the log and shown in exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A document's file content was opened (downloaded or shown inline; also a Range read).
    DocumentOpen,
    /// A document's details (title, type, signature) were shown.
    DocumentView,
    /// A signed document's fields were read.
    DocumentFields,
    /// A verification package was produced.
    DocumentPackage,
    /// A copy was certified against the original at a counter.
    DocumentCertify,
    /// The citizen uploaded a document.
    DocumentUpload,
    /// An agency issued a signed document into the vault.
    DocumentIssue,
    /// The citizen renamed a document.
    DocumentRename,
    /// The citizen deleted a document.
    DocumentDelete,
    /// The list of documents (titles) was read.
    DocumentsList,
    /// The citizen created a certification code for a document.
    CertificationCodeCreate,
    /// A clerk entered the citizen's certification code.
    CertificationCodeUse,
    /// The citizen's profile (name, birth date, contact) was read.
    ProfileRead,
    /// A login from a browser this account had not used before.
    LoginNewDevice,
    /// The password was changed.
    PasswordChange,
    /// The second factor (authenticator app) was changed.
    SecondFactorChange,
    /// New recovery codes were made (the old ones stop working).
    RecoveryCodesRegenerate,
    /// Sessions were ended (one, or all other browsers).
    SessionsEnd,
    /// The account was deleted.
    AccountDelete,
    /// The citizen reported an entry as misuse.
    ReportFile,
    /// An operator changed a misuse report's status or answered it.
    ReportAnswer,
    /// The citizen approved an agency's access request: a grant and its consent record.
    GrantApprove,
    /// The citizen refused an agency's access request.
    RequestRefuse,
    /// The citizen withdrew a grant.
    GrantWithdraw,
    /// A staff member verified the citizen's QR identity token (name, birth date and masked
    /// national ID number shown on success; refused attempts name the reason in the outcome).
    QrVerify,
    /// A printed QR card was revoked: by the citizen from their account, or by a staff member
    /// who checked the person's identity document at the counter.
    QrCardRevoke,
    /// A staff member had a printed card's one-time code sent to the citizen's phone by SMS.
    QrCardCodeSms,
}

impl Action {
    pub const ALL: [Action; 27] = [
        Self::DocumentOpen,
        Self::DocumentView,
        Self::DocumentFields,
        Self::DocumentPackage,
        Self::DocumentCertify,
        Self::DocumentUpload,
        Self::DocumentIssue,
        Self::DocumentRename,
        Self::DocumentDelete,
        Self::DocumentsList,
        Self::CertificationCodeCreate,
        Self::CertificationCodeUse,
        Self::ProfileRead,
        Self::LoginNewDevice,
        Self::PasswordChange,
        Self::SecondFactorChange,
        Self::RecoveryCodesRegenerate,
        Self::SessionsEnd,
        Self::AccountDelete,
        Self::ReportFile,
        Self::ReportAnswer,
        Self::GrantApprove,
        Self::RequestRefuse,
        Self::GrantWithdraw,
        Self::QrVerify,
        Self::QrCardRevoke,
        Self::QrCardCodeSms,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DocumentOpen => "document.open",
            Self::DocumentView => "document.view",
            Self::DocumentFields => "document.fields",
            Self::DocumentPackage => "document.package",
            Self::DocumentCertify => "document.certify",
            Self::DocumentUpload => "document.upload",
            Self::DocumentIssue => "document.issue",
            Self::DocumentRename => "document.rename",
            Self::DocumentDelete => "document.delete",
            Self::DocumentsList => "documents.list",
            Self::CertificationCodeCreate => "certification.code_create",
            Self::CertificationCodeUse => "certification.code_use",
            Self::ProfileRead => "profile.read",
            Self::LoginNewDevice => "account.login_new_device",
            Self::PasswordChange => "account.password_change",
            Self::SecondFactorChange => "account.second_factor_change",
            Self::RecoveryCodesRegenerate => "account.recovery_codes",
            Self::SessionsEnd => "account.sessions_end",
            Self::AccountDelete => "account.delete",
            Self::ReportFile => "report.file",
            Self::ReportAnswer => "report.answer",
            Self::GrantApprove => "grant.approve",
            Self::RequestRefuse => "request.refuse",
            Self::GrantWithdraw => "grant.withdraw",
            Self::QrVerify => "qr.verify",
            Self::QrCardRevoke => "qr.card_revoke",
            Self::QrCardCodeSms => "qr.card_code_sms",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == value)
    }

    /// Whether the action read the citizen's data (rather than changed it or the account).
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Self::DocumentOpen
                | Self::DocumentView
                | Self::DocumentFields
                | Self::DocumentPackage
                | Self::DocumentsList
                | Self::ProfileRead
                | Self::QrVerify
        )
    }
}

/// What was acted on: named, never described.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Document {
        id: Uuid,
        doc_type: DocumentType,
    },
    Profile,
    /// The citizen's list of documents.
    Vault,
    /// The account itself (its login, factors, sessions).
    Account,
    /// A misuse report.
    Report {
        id: Uuid,
    },
    /// An agency's access request.
    Request {
        id: Uuid,
    },
    /// A consent grant.
    Grant {
        id: Uuid,
    },
}

impl Object {
    pub fn type_code(&self) -> &'static str {
        match self {
            Self::Document { doc_type, .. } => doc_type.as_str(),
            Self::Profile => "profile",
            Self::Vault => "vault",
            Self::Account => "account",
            Self::Report { .. } => "report",
            Self::Request { .. } => "request",
            Self::Grant { .. } => "grant",
        }
    }

    pub fn id(&self) -> Option<Uuid> {
        match self {
            Self::Document { id, .. }
            | Self::Report { id }
            | Self::Request { id }
            | Self::Grant { id } => Some(*id),
            Self::Profile | Self::Vault | Self::Account => None,
        }
    }

    /// The document named, if any.
    pub fn document(&self) -> Option<Uuid> {
        match self {
            Self::Document { id, .. } => Some(*id),
            _ => None,
        }
    }

    pub fn parse(type_code: &str, id: &str) -> Option<Self> {
        match (type_code, id.is_empty()) {
            ("profile", true) => return Some(Self::Profile),
            ("vault", true) => return Some(Self::Vault),
            ("account", true) => return Some(Self::Account),
            ("report", false) => {
                return Some(Self::Report {
                    id: Uuid::parse_str(id).ok()?,
                });
            }
            ("request", false) => {
                return Some(Self::Request {
                    id: Uuid::parse_str(id).ok()?,
                });
            }
            ("grant", false) => {
                return Some(Self::Grant {
                    id: Uuid::parse_str(id).ok()?,
                });
            }
            _ => {}
        }
        Some(Self::Document {
            id: Uuid::parse_str(id).ok()?,
            doc_type: DocumentType::parse(type_code)?,
        })
    }
}

/// The authority the action relied on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization {
    /// The citizen acting in their own session.
    Owner,
    /// A consent grant.
    Grant(Uuid),
    /// A request the citizen answered (e.g. a certification code shown at the counter).
    Request(Uuid),
    /// The issuing authority an operator registered for the agency (documents it issues).
    IssuingAuthority,
    /// A QR identity token the citizen showed, verified and recorded as this scan (`qr_scan`).
    Scan(Uuid),
    /// A QR identity token presented but refused (forged, expired, used, …): no scan recorded.
    QrToken,
    /// A staff member checked the person's identity document face to face (a lost printed card
    /// revoked at the counter).
    InPerson,
}

impl Authorization {
    pub fn code(&self) -> String {
        match self {
            Self::Owner => "owner".to_owned(),
            Self::IssuingAuthority => "issuing_authority".to_owned(),
            Self::QrToken => "qr_token".to_owned(),
            Self::InPerson => "in_person".to_owned(),
            Self::Scan(id) => format!("scan:{id}"),
            Self::Grant(id) => format!("grant:{id}"),
            Self::Request(id) => format!("request:{id}"),
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "owner" => return Some(Self::Owner),
            "issuing_authority" => return Some(Self::IssuingAuthority),
            "qr_token" => return Some(Self::QrToken),
            "in_person" => return Some(Self::InPerson),
            _ => {}
        }
        let (kind, id) = value.split_once(':')?;
        let id = Uuid::parse_str(id).ok()?;
        match kind {
            "grant" => Some(Self::Grant(id)),
            "request" => Some(Self::Request(id)),
            "scan" => Some(Self::Scan(id)),
            _ => None,
        }
    }
}

/// How the action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Allowed, Self::Denied, Self::Failed]
            .into_iter()
            .find(|o| o.as_str() == value)
    }
}

/// Why: the purpose stated by the agency or the clerk, one line of at most
/// [`MAX_PURPOSE_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purpose(String);

impl Purpose {
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        (!value.is_empty()
            && value.chars().count() <= MAX_PURPOSE_CHARS
            && !value.chars().any(char::is_control))
        .then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An entry to append, for one citizen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The citizen whose data was touched (the chain it joins).
    pub account: Uuid,
    pub actor: Actor,
    pub action: Action,
    pub object: Object,
    pub purpose: Option<Purpose>,
    pub authorization: Authorization,
    pub outcome: Outcome,
}

impl Entry {
    /// Something the citizen did to their own data or account, in their own session.
    pub fn by_owner(account: Uuid, action: Action, object: Object) -> Self {
        Self {
            account,
            actor: Actor::Citizen { account },
            action,
            object,
            purpose: None,
            authorization: Authorization::Owner,
            outcome: Outcome::Allowed,
        }
    }
}

/// The readable content of an entry exactly as stored and hashed: the typed [`Entry`] turned
/// into its stable codes, with the time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// Microseconds since the Unix epoch.
    pub occurred_at_us: i64,
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_agency: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub purpose: String,
    pub authorization: String,
    pub outcome: String,
}

/// Times are kept to the microsecond (what PostgreSQL stores).
pub fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

impl Content {
    pub fn new(entry: &Entry, at: DateTime<Utc>) -> Self {
        Self {
            occurred_at_us: at.timestamp_micros(),
            actor_kind: entry.actor.kind().to_owned(),
            actor_id: entry.actor.id().to_string(),
            actor_agency: entry
                .actor
                .agency()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            action: entry.action.as_str().to_owned(),
            object_type: entry.object.type_code().to_owned(),
            object_id: entry.object.id().map(|a| a.to_string()).unwrap_or_default(),
            purpose: entry
                .purpose
                .as_ref()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            authorization: entry.authorization.code(),
            outcome: entry.outcome.as_str().to_owned(),
        }
    }

    /// The canonical bytes (see the module header). `None` if a field is longer than 65535
    /// bytes (never for content made by [`Content::new`]).
    pub fn encode(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(128);
        out.push(CONTENT_VERSION);
        out.extend_from_slice(&self.occurred_at_us.to_be_bytes());
        for field in [
            &self.actor_kind,
            &self.actor_id,
            &self.actor_agency,
            &self.action,
            &self.object_type,
            &self.object_id,
            &self.purpose,
            &self.authorization,
            &self.outcome,
        ] {
            let len = u16::try_from(field.len()).ok()?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        Some(out)
    }

    /// The salted hash the leaf commits to.
    pub fn hash(&self, salt: &[u8; 32]) -> Option<Hash> {
        let bytes = self.encode()?;
        let mut h = Sha256::new();
        h.update(CONTENT_DOMAIN);
        h.update(salt);
        h.update(&bytes);
        Some(h.finalize().into())
    }

    /// Whether every code is one this version knows.
    pub fn is_well_formed(&self) -> bool {
        Actor::parse(&self.actor_kind, &self.actor_id, &self.actor_agency).is_some()
            && Action::parse(&self.action).is_some()
            && Object::parse(&self.object_type, &self.object_id).is_some()
            && (self.purpose.is_empty() || Purpose::parse(&self.purpose).is_some())
            && Authorization::parse(&self.authorization).is_some()
            && Outcome::parse(&self.outcome).is_some()
    }
}

/// The leaf data `d` of one entry.
pub fn leaf_data(
    account: Uuid,
    seq: u64,
    leaf_index: u64,
    prev_hash: &Hash,
    content_hash: &Hash,
) -> Vec<u8> {
    let mut d = Vec::with_capacity(LEAF_DOMAIN.len() + 16 + 16 + 64);
    d.extend_from_slice(LEAF_DOMAIN);
    d.extend_from_slice(account.as_bytes());
    d.extend_from_slice(&seq.to_be_bytes());
    d.extend_from_slice(&leaf_index.to_be_bytes());
    d.extend_from_slice(prev_hash);
    d.extend_from_slice(content_hash);
    d
}

/// The RFC 9162 leaf hash of one entry.
pub fn entry_leaf_hash(
    account: Uuid,
    seq: u64,
    leaf_index: u64,
    prev_hash: &Hash,
    content_hash: &Hash,
) -> Hash {
    leaf_hash(&leaf_data(
        account,
        seq,
        leaf_index,
        prev_hash,
        content_hash,
    ))
}

/// A 32-byte value from stored bytes.
pub fn to_hash(bytes: &[u8]) -> Option<Hash> {
    bytes.try_into().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(action));
        }
        let id = Uuid::now_v7();
        let agency = Uuid::now_v7();
        for actor in [
            Actor::Citizen { account: id },
            Actor::Staff {
                account: id,
                agency,
            },
            Actor::Agency {
                credential: id,
                agency,
            },
            Actor::Operator { account: id },
        ] {
            let agency_text = actor.agency().map(|a| a.to_string()).unwrap_or_default();
            assert_eq!(
                Actor::parse(actor.kind(), &actor.id().to_string(), &agency_text),
                Some(actor)
            );
        }
        for auth in [
            Authorization::Owner,
            Authorization::IssuingAuthority,
            Authorization::Grant(id),
            Authorization::Request(id),
            Authorization::Scan(id),
            Authorization::QrToken,
            Authorization::InPerson,
        ] {
            assert_eq!(Authorization::parse(&auth.code()), Some(auth));
        }
        assert_eq!(Authorization::parse("grant:nope"), None);
        // An operator belongs to no agency; a staff member always to one.
        assert_eq!(
            Actor::parse("operator", &id.to_string(), &agency.to_string()),
            None
        );
        assert_eq!(Actor::parse("staff", &id.to_string(), ""), None);
        assert_eq!(Actor::Operator { account: id }.kind(), "operator");
        assert_eq!(Object::parse("profile", ""), Some(Object::Profile));
        assert_eq!(Object::parse("vault", ""), Some(Object::Vault));
        assert_eq!(Object::parse("account", ""), Some(Object::Account));
        assert_eq!(
            Object::parse("report", &id.to_string()),
            Some(Object::Report { id })
        );
        assert_eq!(Object::parse("report", ""), None);
        assert_eq!(Object::parse("cccd", "x"), None);
        assert!(Purpose::parse("Đăng ký thường trú").is_some());
        assert!(Purpose::parse("two\nlines").is_none());
        assert!(Purpose::parse(&"x".repeat(MAX_PURPOSE_CHARS + 1)).is_none());
    }

    #[test]
    fn every_field_changes_the_hash() {
        let entry = Entry {
            account: Uuid::nil(),
            actor: Actor::Citizen {
                account: Uuid::nil(),
            },
            action: Action::DocumentOpen,
            object: Object::Profile,
            purpose: None,
            authorization: Authorization::Owner,
            outcome: Outcome::Allowed,
        };
        let at = DateTime::from_timestamp_micros(1_700_000_000_000_001).unwrap();
        let content = Content::new(&entry, at);
        let salt = [5u8; 32];
        let base = content.hash(&salt).unwrap();
        assert_ne!(content.hash(&[6u8; 32]).unwrap(), base);
        // Moving a byte from one field to the next changes the encoding (length prefixes).
        let mut shifted = content.clone();
        shifted.actor_kind.push('x');
        shifted.actor_id.remove(0);
        assert_ne!(shifted.hash(&salt).unwrap(), base);
        let mut later = content.clone();
        later.occurred_at_us += 1;
        assert_ne!(later.hash(&salt).unwrap(), base);
    }
}
