//! The door: who may read which document for what, the access-log entry written in the same
//! transaction, and the only handle that decrypts.

use std::ops::Range;

use bytes::Bytes;
use entity::{
    access_grant, account, certification_request, counter_session, document, grant_document,
    qr_scan,
};
use futures_util::{Stream, StreamExt};
use sea_orm::{DatabaseTransaction, TransactionTrait};
use uuid::Uuid;

use crate::audit::{self, Action, Actor, Authorization, Entry, Object, Outcome};
use crate::crypto::{
    self, CiphertextRange, DataKey, HEADER_LEN, StreamContext, StreamDecryptor, StreamHeader,
};
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::BlobKey;
use crate::vault::model::DocumentType;
use crate::vault::repo as vault_repo;
use crate::vault::service::{READ_PIECE, sealed_context};

/// A document's id, so it cannot be swapped with an account's or a request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(transparent)]
pub struct DocumentId(pub Uuid);

impl std::fmt::Display for DocumentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Who asks to read.
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    /// The citizen, in their own session.
    Owner(&'a account::Model),
    /// A counter clerk of an agency, on the authority the citizen gave at the desk (see
    /// [`ClerkAuthority`]).
    Clerk {
        clerk: Uuid,
        agency: Uuid,
        authority: ClerkAuthority<'a>,
    },
    /// An agency's system under a grant the citizen gave: only while the grant is live, only
    /// the documents it covers, only the forms (file, signed fields) each allows.
    Agency {
        credential: Uuid,
        agency: Uuid,
        grant: &'a access_grant::Model,
        covered: &'a grant_document::Model,
    },
}

/// What lets a clerk read.
#[derive(Debug, Clone, Copy)]
pub enum ClerkAuthority<'a> {
    /// The certification request whose code the citizen read out: only the clerk and agency
    /// that entered the code, only while it is open, only its one document.
    Certification(&'a certification_request::Model),
    /// A counter session and the grant the citizen gave on its request: only the clerk and
    /// agency that opened the session, only while it is not ended and the grant is live, only
    /// the documents the grant covers (the details, and the file if the grant gives it).
    Counter {
        session: &'a counter_session::Model,
        grant: &'a access_grant::Model,
        covered: &'a grant_document::Model,
    },
    /// The citizen's QR identity token this clerk verified at this agency (`qr::service`):
    /// only that clerk and agency, only for [`SCAN_VALID_MINUTES`] after the scan, only the
    /// citizen's identity (no document).
    Scan(&'a qr_scan::Model),
}

/// How long a verified QR scan lets its clerk read the citizen's identity and open a counter
/// session from it.
pub const SCAN_VALID_MINUTES: i64 = 30;

impl<'a> Reader<'a> {
    /// A clerk on a certification request.
    pub fn certification_clerk(
        clerk: Uuid,
        agency: Uuid,
        request: &'a certification_request::Model,
    ) -> Self {
        Self::Clerk {
            clerk,
            agency,
            authority: ClerkAuthority::Certification(request),
        }
    }
}

impl Reader<'_> {
    pub fn actor(&self) -> Actor {
        match self {
            Self::Owner(account) => Actor::Citizen {
                account: account.id,
            },
            Self::Clerk { clerk, agency, .. } => Actor::Staff {
                account: *clerk,
                agency: *agency,
            },
            Self::Agency {
                credential, agency, ..
            } => Actor::Agency {
                credential: *credential,
                agency: *agency,
            },
        }
    }

    pub fn authorization(&self) -> Authorization {
        match self {
            Self::Owner(_) => Authorization::Owner,
            Self::Clerk {
                authority: ClerkAuthority::Certification(request),
                ..
            } => Authorization::Request(request.id),
            Self::Clerk {
                authority: ClerkAuthority::Counter { grant, .. },
                ..
            } => Authorization::Grant(grant.id),
            Self::Clerk {
                authority: ClerkAuthority::Scan(scan),
                ..
            } => Authorization::Scan(scan.id),
            Self::Agency { grant, .. } => Authorization::Grant(grant.id),
        }
    }

    /// For a clerk: the request is open now and held by this clerk at this agency.
    fn request_is_theirs(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        match self {
            Self::Owner(_) => true,
            Self::Agency { agency, grant, .. } => {
                grant.agency_id == *agency && grant.withdrawn_at.is_none() && grant.expires_at > now
            }
            Self::Clerk {
                clerk,
                agency,
                authority: ClerkAuthority::Certification(request),
            } => {
                request.completed_at.is_none()
                    && request.expires_at > now
                    && request.claimed_by == Some(*clerk)
                    && request.claimed_agency_id == Some(*agency)
            }
            Self::Clerk {
                clerk,
                agency,
                authority: ClerkAuthority::Counter { session, grant, .. },
            } => {
                session.ended_at.is_none()
                    && session.clerk_id == *clerk
                    && session.agency_id == *agency
                    && grant.agency_id == *agency
                    && grant.citizen_id == session.citizen_id
                    && grant.withdrawn_at.is_none()
                    && grant.expires_at > now
            }
            Self::Clerk {
                clerk,
                agency,
                authority: ClerkAuthority::Scan(scan),
            } => {
                scan.staff_id == *clerk
                    && scan.agency_id == *agency
                    && scan.verified_at <= now
                    && now - scan.verified_at < chrono::Duration::minutes(SCAN_VALID_MINUTES)
            }
        }
    }

    /// The citizen whose data a clerk's authority reaches (`None` for other readers).
    fn clerk_citizen(&self) -> Option<Uuid> {
        match self {
            Self::Clerk {
                authority: ClerkAuthority::Certification(request),
                ..
            } => Some(request.owner_id),
            Self::Clerk {
                authority: ClerkAuthority::Counter { session, .. },
                ..
            } => Some(session.citizen_id),
            Self::Clerk {
                authority: ClerkAuthority::Scan(scan),
                ..
            } => Some(scan.citizen_id),
            Self::Owner(_) | Self::Agency { .. } => None,
        }
    }

    /// The rule: the owner may do anything the vault offers with their own documents; a clerk
    /// may view, open and certify the one document of a certification request they hold, and
    /// view (and open and certify, if the file is granted) the documents a counter session's
    /// grant covers.
    fn may(
        &self,
        row: &document::Model,
        purpose: Purpose,
        now: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        match self {
            Self::Owner(account) => row.owner_id == account.id,
            Self::Clerk {
                authority: ClerkAuthority::Certification(request),
                ..
            } => {
                matches!(purpose, Purpose::View | Purpose::Open | Purpose::Certify)
                    && request.document_id == row.id
                    && request.owner_id == row.owner_id
                    && self.request_is_theirs(now)
            }
            Self::Clerk {
                authority:
                    ClerkAuthority::Counter {
                        session,
                        grant,
                        covered,
                    },
                ..
            } => {
                // Certifying a copy is a step of the counter session: the clerk compares the
                // granted scan with the original the citizen brought, so it needs the file.
                let form_granted = match purpose {
                    Purpose::View => true,
                    Purpose::Open | Purpose::Certify => covered.file,
                    _ => false,
                };
                form_granted
                    && covered.grant_id == grant.id
                    && covered.document_id == row.id
                    && grant.citizen_id == row.owner_id
                    && session.citizen_id == row.owner_id
                    && self.request_is_theirs(now)
            }
            // A scan identifies the citizen; it opens none of their documents.
            Self::Clerk {
                authority: ClerkAuthority::Scan(_),
                ..
            } => false,
            Self::Agency { grant, covered, .. } => {
                let form_granted = match purpose {
                    Purpose::Open => covered.file,
                    Purpose::Fields => covered.fields != "[]",
                    _ => false,
                };
                form_granted
                    && covered.grant_id == grant.id
                    && covered.document_id == row.id
                    && grant.citizen_id == row.owner_id
                    && self.request_is_theirs(now)
            }
        }
    }
}

/// What the reader is about to do with the document (each is its own kind of entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// See its details: title, type, signature and signed fields.
    View,
    /// Read its file (download, inline display, a byte range).
    Open,
    /// Read some of its signed fields (an agency under a field-limited grant).
    Fields,
    /// Build its verification package (signed data and file).
    Package,
    /// Change its title.
    Rename,
    /// Delete it.
    Delete,
    /// Make a certification code for it.
    CertificationCode,
    /// Certify it as a true copy.
    Certify,
}

impl Purpose {
    pub fn action(self) -> Action {
        match self {
            Self::View => Action::DocumentView,
            Self::Open => Action::DocumentOpen,
            Self::Fields => Action::DocumentFields,
            Self::Package => Action::DocumentPackage,
            Self::Rename => Action::DocumentRename,
            Self::Delete => Action::DocumentDelete,
            Self::CertificationCode => Action::CertificationCodeCreate,
            Self::Certify => Action::DocumentCertify,
        }
    }
}

fn crypto_error(error: crypto::CryptoError) -> AppError {
    AppError::internal(format!("crypto: {error}"))
}

/// How the log names a document: its id and type, never its title.
pub fn document_object(row: &document::Model) -> Result<Object, AppError> {
    Ok(Object::Document {
        id: row.id,
        doc_type: DocumentType::parse(&row.doc_type)
            .ok_or_else(|| AppError::internal(format!("unknown type {:?}", row.doc_type)))?,
    })
}

/// Begins the transaction of a change to a citizen's data that commits an access-log entry.
/// Its first statement must be a write (the change itself, or the entry): on SQLite a
/// transaction that reads first and writes later fails with `SQLITE_BUSY_SNAPSHOT` if another
/// writer committed in between, instead of waiting. Reads that change nothing need no
/// transaction: their entry is one insert, committed before the data is handed out.
pub async fn begin_logged(state: &AppState) -> Result<DatabaseTransaction, AppError> {
    Ok(state.db.begin().await?)
}

/// Appends `entry` in `txn` and commits both: the action and its entry, or neither.
pub async fn commit_logged(
    state: &AppState,
    txn: DatabaseTransaction,
    entry: &Entry,
) -> Result<(), AppError> {
    audit::append(&txn, state.clock.now(), entry).await?;
    txn.commit().await?;
    Ok(())
}

/// Records a refused attempt on an existing object in its owner's chain, in its own
/// transaction (the refused action itself writes nothing). Failing to record it is logged
/// and does not change the answer, which is a refusal anyway.
pub async fn record_refusal(
    state: &AppState,
    citizen: Uuid,
    actor: Actor,
    action: Action,
    object: Object,
    authorization: Authorization,
) {
    let entry = Entry {
        account: citizen,
        actor,
        action,
        object,
        purpose: None,
        authorization,
        outcome: Outcome::Denied,
    };
    if let Err(error) = audit::service::record(state, state.clock.now(), &entry).await {
        tracing::error!(%error, action = action.as_str(), "could not record a refused attempt");
    }
}

/// A change let through the door: its entry is written (the transaction's first statement)
/// but not committed. Do the change in [`Visit::txn`], then [`Visit::finish`] commits both.
/// Dropped without finishing, everything rolls back.
pub struct Visit {
    txn: DatabaseTransaction,
    opened: Opened,
}

impl std::fmt::Debug for Visit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Visit")
            .field("document", &self.opened.row.id)
            .finish_non_exhaustive()
    }
}

impl Visit {
    /// The transaction the entry commits in.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub fn document(&self) -> &Opened {
        &self.opened
    }

    /// Commits the entry with the change; the handle is returned only if that succeeded.
    pub async fn finish(self) -> Result<Opened, AppError> {
        self.txn.commit().await?;
        Ok(self.opened)
    }
}

/// The rows a reader's decision is made on: the door looks them up itself, or takes them from
/// a query that already fetched them with the reader's own rows (an agency read gets grant,
/// covered document, document and owner — and its credential — in one query:
/// `grants::repo::find_agency_read`).
pub enum Lookup {
    Fetch,
    /// The document `id` names and its owner, or `None` if there is no such document.
    Found(Box<Option<(document::Model, account::Model)>>),
}

/// The decision and the entry, before any transaction.
async fn decide(
    state: &AppState,
    reader: &Reader<'_>,
    id: DocumentId,
    purpose: Purpose,
    lookup: Lookup,
) -> Result<(Opened, Entry), AppError> {
    let now = state.clock.now();
    // Another reader needs the owner's key: the owner's row comes with the document's.
    let (row, owner) = match (lookup, reader) {
        (Lookup::Found(found), _) => match *found {
            Some((row, owner)) if row.id == id.0 && row.owner_id == owner.id => {
                (Some(row), Some(owner))
            }
            Some(_) => return Err(AppError::internal("looked-up rows do not match")),
            None => (None, None),
        },
        (Lookup::Fetch, Reader::Owner(_)) => (vault_repo::find(&state.db, id.0).await?, None),
        (Lookup::Fetch, Reader::Clerk { .. } | Reader::Agency { .. }) => {
            match vault_repo::find_with_owner(&state.db, id.0).await? {
                Some((row, owner)) => (Some(row), Some(owner)),
                None => (None, None),
            }
        }
    };
    let Some(row) = row else {
        return Err(AppError::NotFound);
    };
    let object = document_object(&row)?;
    if !reader.may(&row, purpose, now) {
        record_refusal(
            state,
            row.owner_id,
            reader.actor(),
            purpose.action(),
            object,
            reader.authorization(),
        )
        .await;
        return Err(AppError::NotFound);
    }
    let key = match (reader, &owner) {
        (Reader::Owner(owner), _) => crate::accounts::service::data_key(state, owner)?,
        (_, Some(owner)) => crate::accounts::service::data_key(state, owner)?,
        (_, None) => return Err(AppError::NotFound),
    };
    let entry = Entry {
        account: row.owner_id,
        actor: reader.actor(),
        action: purpose.action(),
        object,
        purpose: None,
        authorization: reader.authorization(),
        outcome: Outcome::Allowed,
    };
    Ok((Opened { row, key }, entry))
}

/// THE door, for a change: decides whether `reader` may use document `id` for `purpose` (a
/// refusal is answered exactly like a missing document, and recorded in the owner's log),
/// loads the owner's key, and opens the transaction with the entry written first (see
/// [`Visit`]). The change must check in that transaction that the row is still as read (the
/// vault's updates and deletes filter on id and owner; certifying is a compare-and-set).
pub async fn enter(
    state: &AppState,
    reader: &Reader<'_>,
    id: DocumentId,
    purpose: Purpose,
) -> Result<Visit, AppError> {
    let (opened, entry) = decide(state, reader, id, purpose, Lookup::Fetch).await?;
    let txn = state.db.begin().await?;
    audit::append(&txn, state.clock.now(), &entry).await?;
    Ok(Visit { txn, opened })
}

/// THE door, for a read that changes nothing: the decision, then the entry committed (one
/// insert, no lock) before the decrypting handle is returned; no entry, no handle.
pub async fn open(
    state: &AppState,
    reader: &Reader<'_>,
    id: DocumentId,
    purpose: Purpose,
) -> Result<Opened, AppError> {
    let (opened, entry) = decide(state, reader, id, purpose, Lookup::Fetch).await?;
    audit::service::record(state, state.clock.now(), &entry).await?;
    Ok(opened)
}

/// THE door, for a read that spends something (an agency's use of a grant): the decision,
/// then `claim` taken and the entry written in one commit (shared with other reads' entries,
/// see [`audit::writer`]) before the handle is returned. `None`: the claim was refused
/// (nothing left to spend), nothing written, nothing opened.
pub async fn open_claiming(
    state: &AppState,
    reader: &Reader<'_>,
    id: DocumentId,
    purpose: Purpose,
    lookup: Lookup,
    claim: audit::writer::Claim,
) -> Result<Option<Opened>, AppError> {
    let (opened, entry) = decide(state, reader, id, purpose, lookup).await?;
    match audit::service::record_claiming(state, state.clock.now(), &entry, claim).await? {
        audit::writer::Written::Committed => Ok(Some(opened)),
        audit::writer::Written::ClaimRefused => Ok(None),
    }
}

/// Documents on one page of the list.
pub const PAGE_SIZE: u64 = 25;

/// One page of the owner's documents, newest first, with only this page's titles opened.
#[derive(Debug)]
pub struct DocumentPage {
    pub rows: Vec<(document::Model, String)>,
    /// Where the page of older documents starts, if there is one.
    pub older: Option<vault_repo::Position>,
    /// Where the page of newer documents starts, if there is one.
    pub newer: Option<vault_repo::Position>,
}

/// A page of the owner's documents (see [`vault_repo::page_for_owner`]): only the owner's rows
/// are ever read, whatever position the query names. One entry per page read.
pub async fn list(
    state: &AppState,
    owner: &account::Model,
    query: &vault_repo::PageQuery,
) -> Result<DocumentPage, AppError> {
    let (rows, more) = vault_repo::page_for_owner(&state.db, owner.id, query, PAGE_SIZE).await?;
    let position = |row: &document::Model| vault_repo::Position {
        created_at: row.created_at,
        id: row.id,
    };
    let (older, newer) = match query.from {
        None => (more.then(|| rows.last().map(position)).flatten(), None),
        Some(vault_repo::Direction::Older(_)) => (
            more.then(|| rows.last().map(position)).flatten(),
            rows.first().map(position),
        ),
        Some(vault_repo::Direction::Newer(_)) => (
            rows.last().map(position),
            more.then(|| rows.first().map(position)).flatten(),
        ),
    };
    let key = crate::accounts::service::data_key(state, owner)?;
    let rows = rows
        .into_iter()
        .map(|row| {
            let title = open_text(&key, owner.id, row.id, "title", &row.title)?;
            Ok((row, title))
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let entry = Entry::by_owner(owner.id, Action::DocumentsList, Object::Vault);
    audit::service::record(state, state.clock.now(), &entry).await?;
    Ok(DocumentPage { rows, older, newer })
}

/// The owner's documents of these types with their titles, for choosing what to share with an
/// agency; one `documents.list` entry.
pub async fn of_types(
    state: &AppState,
    owner: &account::Model,
    types: &[String],
) -> Result<Vec<(document::Model, String)>, AppError> {
    let rows = vault_repo::of_types(&state.db, owner.id, types, 200).await?;
    let key = crate::accounts::service::data_key(state, owner)?;
    let rows = rows
        .into_iter()
        .map(|row| {
            let title = open_text(&key, owner.id, row.id, "title", &row.title)?;
            Ok((row, title))
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let entry = Entry::by_owner(owner.id, Action::DocumentsList, Object::Vault);
    audit::service::record(state, state.clock.now(), &entry).await?;
    Ok(rows)
}

/// Who a citizen is, as a reader other than themself may see it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub full_name: Option<String>,
    pub national_id: String,
}

/// The citizen's name and national ID number as a clerk on an open request they hold (the
/// review page) or in a live counter session of theirs may see them, recorded as
/// `profile.read`; refused like a missing request otherwise. The owner reading their own name in the page frame is not an entry: every page
/// would become a write, and it tells the citizen nothing they did not do themselves.
pub async fn profile(state: &AppState, reader: &Reader<'_>) -> Result<Identity, AppError> {
    let citizen = match reader {
        Reader::Owner(account) => {
            return Ok(Identity {
                full_name: crate::accounts::service::profile(state, account)?.map(|p| p.full_name),
                national_id: account.login.clone(),
            });
        }
        Reader::Clerk { .. } => reader.clerk_citizen().ok_or(AppError::NotFound)?,
        // An agency sees only what its grant covers: signed fields, never the profile.
        Reader::Agency { .. } => return Err(AppError::NotFound),
    };
    let now = state.clock.now();
    if !reader.request_is_theirs(now) {
        record_refusal(
            state,
            citizen,
            reader.actor(),
            Action::ProfileRead,
            Object::Profile,
            reader.authorization(),
        )
        .await;
        return Err(AppError::NotFound);
    }
    let owner = crate::accounts::repo::find_by_id(&state.db, citizen)
        .await?
        .ok_or(AppError::NotFound)?;
    let identity = Identity {
        full_name: crate::accounts::service::profile(state, &owner)?.map(|p| p.full_name),
        national_id: owner.login.clone(),
    };
    let entry = Entry {
        account: owner.id,
        actor: reader.actor(),
        action: Action::ProfileRead,
        object: Object::Profile,
        purpose: None,
        authorization: reader.authorization(),
        outcome: Outcome::Allowed,
    };
    audit::service::record(state, state.clock.now(), &entry).await?;
    Ok(identity)
}

/// Who a citizen is, as a clerk sees it on a verified QR token: name, birth date, national
/// ID number (the page shows it masked).
#[derive(Debug, Clone)]
pub struct ScannedIdentity {
    pub full_name: Option<String>,
    pub birth_date: Option<chrono::NaiveDate>,
    pub national_id: String,
}

/// A clerk's verification of a citizen's QR identity token (`qr::service::verify`). `txn`
/// already holds the caller's writes — the token's single-use record and the `qr_scan` row
/// the reader names (`ClerkAuthority::Scan`). The door checks the scan is this clerk's at this
/// agency and fresh, appends the `qr.verify` entry in the same transaction, commits all three,
/// and only then reads the citizen's name and birth date. A commit that fails (a second use
/// of the token on another instance) shows nothing; refused like a missing citizen otherwise.
pub async fn identify_scan(
    state: &AppState,
    txn: DatabaseTransaction,
    reader: &Reader<'_>,
) -> Result<ScannedIdentity, AppError> {
    let Reader::Clerk {
        authority: ClerkAuthority::Scan(scan),
        ..
    } = reader
    else {
        return Err(AppError::NotFound);
    };
    let now = state.clock.now();
    if !reader.request_is_theirs(now) {
        return Err(AppError::NotFound);
    }
    let owner = crate::accounts::repo::find_by_id(&txn, scan.citizen_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let entry = Entry {
        account: owner.id,
        actor: reader.actor(),
        action: Action::QrVerify,
        object: Object::Profile,
        purpose: None,
        authorization: reader.authorization(),
        outcome: Outcome::Allowed,
    };
    audit::append(&txn, now, &entry).await?;
    txn.commit().await?;
    let profile = crate::accounts::service::profile(state, &owner)?;
    Ok(ScannedIdentity {
        full_name: profile.as_ref().map(|p| p.full_name.clone()),
        birth_date: profile.and_then(|p| p.birth_date),
        national_id: owner.login,
    })
}

fn open_text(
    key: &DataKey,
    owner: Uuid,
    document: Uuid,
    field: &'static str,
    sealed: &[u8],
) -> Result<String, AppError> {
    let bytes = crypto::open_field(key, &sealed_context(owner, document, field), sealed)
        .map_err(crypto_error)?;
    String::from_utf8(bytes.to_vec()).map_err(AppError::internal)
}

/// A document let through the door, with what is needed to decrypt it. The key never leaves:
/// the handle decrypts (and, for the owner's changes, seals) itself.
pub struct Opened {
    pub row: document::Model,
    key: DataKey,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("id", &self.row.id)
            .finish_non_exhaustive()
    }
}

impl Opened {
    pub fn title(&self) -> Result<String, AppError> {
        open_text(
            &self.key,
            self.row.owner_id,
            self.row.id,
            "title",
            &self.row.title,
        )
    }

    pub fn file_name(&self) -> Result<String, AppError> {
        open_text(
            &self.key,
            self.row.owner_id,
            self.row.id,
            "file_name",
            &self.row.file_name,
        )
    }

    pub fn size(&self) -> u64 {
        u64::try_from(self.row.size_bytes).unwrap_or(0)
    }

    /// A new title sealed for this document (renaming).
    pub fn seal_title(&self, title: &str) -> Result<Vec<u8>, AppError> {
        crypto::seal_field(
            &self.key,
            &sealed_context(self.row.owner_id, self.row.id, "title"),
            title.as_bytes(),
        )
        .map_err(crypto_error)
    }

    /// The signed payload of this document's signature record, exactly as signed.
    pub fn payload(
        &self,
        record: &entity::document_signature::Model,
    ) -> Result<serde_json::Value, AppError> {
        if record.document_id != self.row.id {
            return Err(AppError::internal("signature record of another document"));
        }
        crate::issuers::issuing::open_payload(&self.key, record)
    }

    /// A canonical payload sealed for this document's signature record (certifying).
    pub fn seal_payload(&self, canonical: &[u8]) -> Result<Vec<u8>, AppError> {
        crate::issuers::issuing::seal_payload(&self.key, self.row.owner_id, self.row.id, canonical)
    }

    /// The decryptor for this document, after checking the stored header belongs to it.
    async fn decryptor(&self, state: &AppState) -> Result<StreamDecryptor, AppError> {
        let key = BlobKey::parse(self.row.blob_key.clone()).map_err(AppError::internal)?;
        let header = state
            .blobs
            .get_range(&key, 0..HEADER_LEN as u64)
            .await
            .map_err(|e| corrupted(state, self, format!("header unreadable: {e}")))?;
        self.decryptor_from(state, &header)
    }

    fn decryptor_from(&self, state: &AppState, header: &[u8]) -> Result<StreamDecryptor, AppError> {
        StreamHeader::parse(header).map_err(|e| corrupted(state, self, format!("header: {e}")))?;
        let ctx = StreamContext {
            owner: self.row.owner_id,
            document: self.row.id,
        };
        StreamDecryptor::new(&self.key, &ctx, header)
            .map_err(|e| corrupted(state, self, e.to_string()))
    }

    /// The blob's length as the row records it (no stat per read: a blob shorter than recorded
    /// fails the range read, one of another length fails authentication, since the chunk
    /// positions and the final-chunk flag are bound into each tag).
    fn blob_len(&self) -> Result<u64, AppError> {
        u64::try_from(self.row.blob_bytes).map_err(AppError::internal)
    }

    /// Where the chunks holding plaintext bytes `range` lie in the blob, after checking that
    /// the blob's length fits the document's size.
    fn ciphertext_range(
        &self,
        state: &AppState,
        decryptor: &StreamDecryptor,
        range: Range<u64>,
    ) -> Result<CiphertextRange, AppError> {
        let layout = decryptor.layout();
        let plaintext_len = layout
            .plaintext_len(self.blob_len()?)
            .map_err(|e| corrupted(state, self, e.to_string()))?;
        if plaintext_len != self.size() {
            return Err(corrupted(
                state,
                self,
                format!("blob holds {plaintext_len} bytes, expected {}", self.size()),
            ));
        }
        layout
            .ciphertext_range_for(range.start, range.end, plaintext_len)
            .map_err(|e| corrupted(state, self, e.to_string()))
    }

    /// Reads blob bytes `range`, which must all be there.
    async fn fetch(&self, state: &AppState, range: Range<u64>) -> Result<Bytes, AppError> {
        let key = BlobKey::parse(self.row.blob_key.clone()).map_err(AppError::internal)?;
        let blob_len = self.blob_len()?;
        let wanted = range.end - range.start;
        let bytes = match state.blobs.get_range(&key, range).await {
            Ok(bytes) => bytes,
            // Only when a read fails is the blob's length asked for: shorter than the row says
            // (or gone) is damage, anything else an unavailable store.
            Err(error) => {
                return Err(match state.blobs.size(&key).await {
                    Ok(Some(actual)) if actual == blob_len => error.into(),
                    Ok(actual) => corrupted(
                        state,
                        self,
                        format!("blob holds {actual:?} bytes, expected {blob_len}"),
                    ),
                    Err(_) => error.into(),
                });
            }
        };
        if bytes.len() as u64 != wanted {
            return Err(corrupted(
                state,
                self,
                format!("read {} bytes, expected {wanted}", bytes.len()),
            ));
        }
        Ok(bytes)
    }

    fn decrypt(
        &self,
        state: &AppState,
        decryptor: &StreamDecryptor,
        wanted: &CiphertextRange,
        ciphertext: &[u8],
    ) -> Result<Bytes, AppError> {
        let plain = decryptor
            .decrypt_range(wanted, ciphertext)
            .map_err(|e| corrupted(state, self, e.to_string()))?;
        Ok(Bytes::from(plain))
    }

    /// Decrypts plaintext bytes `range` (at most a few MiB; the caller splits larger ranges).
    async fn read(
        &self,
        state: &AppState,
        decryptor: &StreamDecryptor,
        range: Range<u64>,
    ) -> Result<Bytes, AppError> {
        let wanted = self.ciphertext_range(state, decryptor, range)?;
        let ciphertext = self
            .fetch(state, wanted.offset..wanted.offset + wanted.len)
            .await?;
        self.decrypt(state, decryptor, &wanted, &ciphertext)
    }

    /// Header and first piece from one read of the whole blob, for a document no larger than
    /// one piece read from its start (most downloads): one file open or one S3 request, not two.
    async fn read_small(
        &self,
        state: &AppState,
        range: Range<u64>,
    ) -> Result<(StreamDecryptor, Bytes), AppError> {
        let blob = self.fetch(state, 0..self.blob_len()?).await?;
        if blob.len() < HEADER_LEN {
            return Err(corrupted(
                state,
                self,
                format!("blob of {} bytes", blob.len()),
            ));
        }
        let decryptor = self.decryptor_from(state, &blob[..HEADER_LEN])?;
        let wanted = self.ciphertext_range(state, &decryptor, range)?;
        let chunks = usize::try_from(wanted.offset)
            .ok()
            .zip(usize::try_from(wanted.offset + wanted.len).ok())
            .and_then(|(start, end)| blob.get(start..end))
            .ok_or_else(|| corrupted(state, self, "chunks beyond the blob".to_owned()))?;
        let first = self.decrypt(state, &decryptor, &wanted, chunks)?;
        Ok((decryptor, first))
    }

    /// Streams plaintext `range` in pieces of [`READ_PIECE`], decrypting only the chunks needed.
    /// The first piece is read before returning, so a corrupt document fails cleanly before any
    /// response is sent; a later failure ends the stream with an error (the connection is cut,
    /// never garbage sent).
    pub async fn stream(
        self,
        state: AppState,
        range: Range<u64>,
    ) -> Result<impl Stream<Item = Result<Bytes, AppError>> + use<>, AppError> {
        let first_end = range.end.min(range.start + READ_PIECE);
        let (decryptor, first) =
            if range.start == 0 && !range.is_empty() && self.blob_len()? <= READ_PIECE {
                self.read_small(&state, range.start..first_end).await?
            } else {
                let decryptor = self.decryptor(&state).await?;
                let first = if range.is_empty() {
                    Bytes::new()
                } else {
                    self.read(&state, &decryptor, range.start..first_end)
                        .await?
                };
                (decryptor, first)
            };
        let rest = futures_util::stream::try_unfold(
            (self, state, decryptor, first_end, range.end),
            |(doc, state, decryptor, at, end)| async move {
                if at >= end {
                    return Ok(None);
                }
                let next = end.min(at + READ_PIECE);
                let bytes = doc.read(&state, &decryptor, at..next).await?;
                Ok(Some((bytes, (doc, state, decryptor, next, end))))
            },
        );
        Ok(futures_util::stream::once(async move { Ok(first) }).chain(rest))
    }
}

fn corrupted(state: &AppState, doc: &Opened, detail: String) -> AppError {
    tracing::error!(document = %doc.row.id, %detail, "document failed authentication or is damaged");
    state.metrics.documents_corrupted.inc();
    AppError::DocumentCorrupted
}
