//! The rules of the one-stop counter. A clerk who has identified a citizen at the desk (today
//! by the certification code the citizen read out; later by a scanned QR token) opens a session
//! for one procedure of the catalogue. That sends the citizen an access request through the
//! grants mechanism — asked by the clerk's agency, for its registered counter purpose
//! ([`COUNTER_PURPOSE`]), lasting minutes (`CONGDANSO_COUNTER_GRANT_MINUTES`) — which the
//! citizen approves in their inbox with the step-up. The clerk then reads the granted documents
//! through the door as `Reader::Clerk` on the session and its grant, each read an entry naming
//! the clerk. Ending the session withdraws the grant; so does the grant's own expiry.
//!
//! Only the clerk and agency that opened a session ever see it: to anyone else it is missing.

use chrono::{DateTime, Utc};
use entity::{access_grant, access_request, agency, counter_session, grant_document};
use sea_orm::{SqlErr, TransactionTrait};
use uuid::Uuid;

use super::repo;
use crate::access::{self, ClerkAuthority, DocumentId, Opened, Purpose, Reader};
use crate::audit::{self, Action, Actor, Authorization, Entry, Object, Outcome};
use crate::auth::StaffSession;
use crate::error::AppError;
use crate::grants::model::{GrantStatus, Length, RequestStatus, request_status};
use crate::grants::repo::{self as grants_repo, Form};
use crate::grants::service::{self as grants, Asked, Requester};
use crate::purposes;
use crate::state::AppState;

/// The purpose code an agency registers for its counter work: every request a counter session
/// sends is made for it, so the citizen is asked under terms an operator registered (types,
/// fields, legal basis, retention), never under one the clerk picks on the spot.
pub const COUNTER_PURPOSE: &str = "mot-cua";

/// Reads of each granted document's file a counter grant allows. Viewing the details on the
/// session page is logged each time but not counted (the page shows them while the citizen is
/// at the desk).
pub const COUNTER_MAX_USES: u32 = 10;

/// How the clerk identified the citizen before opening a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The certification request whose code the citizen read out, claimed by this clerk at this
    /// agency (`counter::certify::claim`).
    CertificationRequest(Uuid),
    /// The citizen's QR identity token this clerk verified at this agency (`qr_scan`), recent
    /// enough (`access::door::SCAN_VALID_MINUTES`).
    Scan(Uuid),
}

impl Origin {
    /// The stored `origin_kind`.
    pub fn kind(self) -> &'static str {
        match self {
            Self::CertificationRequest(_) => "certification_request",
            Self::Scan(_) => "scan",
        }
    }

    pub fn id(self) -> Uuid {
        match self {
            Self::CertificationRequest(id) | Self::Scan(id) => id,
        }
    }
}

/// The clerk and the agency they serve at the counter.
#[derive(Debug, Clone)]
pub struct Desk {
    pub clerk: Uuid,
    pub agency: agency::Model,
}

impl Desk {
    pub async fn of(state: &AppState, staff: &StaffSession) -> Result<Self, AppError> {
        let id = staff
            .account
            .agency_id
            .ok_or_else(|| AppError::internal("staff account without agency"))?;
        Ok(Self {
            clerk: staff.account.id,
            agency: crate::agencies::service::get(state, id).await?,
        })
    }

    fn actor(&self) -> Actor {
        Actor::Staff {
            account: self.clerk,
            agency: self.agency.id,
        }
    }
}

/// The citizen an origin identifies, if it is this clerk's at this agency and still valid;
/// otherwise missing (404), like any origin that is not theirs.
pub async fn origin_citizen(
    state: &AppState,
    staff: &StaffSession,
    origin: Origin,
) -> Result<Uuid, AppError> {
    let desk = Desk::of(state, staff).await?;
    citizen_of(state, &desk, origin).await
}

async fn citizen_of(state: &AppState, desk: &Desk, origin: Origin) -> Result<Uuid, AppError> {
    let now = state.clock.now();
    match origin {
        Origin::CertificationRequest(id) => {
            let request = crate::vault::repo::find_certification_request_by_id(&state.db, id)
                .await?
                .ok_or(AppError::NotFound)?;
            let theirs = request.claimed_by == Some(desk.clerk)
                && request.claimed_agency_id == Some(desk.agency.id)
                && request.expires_at > now;
            if theirs {
                Ok(request.owner_id)
            } else {
                Err(AppError::NotFound)
            }
        }
        Origin::Scan(id) => {
            let scan = crate::qr::service::scan_of(state, desk.clerk, desk.agency.id, id).await?;
            Ok(scan.citizen_id)
        }
    }
}

/// Opens a counter session for `procedure` with `citizen`, whom `origin` identified to this
/// clerk: the access request and the session are written in one transaction. A second "open"
/// for the same origin (a double click, two tabs) answers with the first session.
pub async fn open_session(
    state: &AppState,
    clerk: &StaffSession,
    citizen: Uuid,
    procedure: &str,
    origin: Origin,
) -> Result<counter_session::Model, AppError> {
    let desk = Desk::of(state, clerk).await?;
    if citizen_of(state, &desk, origin).await? != citizen {
        return Err(AppError::NotFound);
    }
    if let Some(existing) = repo::find_by_origin(&state.db, origin.kind(), origin.id()).await? {
        return theirs(&desk, existing);
    }
    let procedure = purposes::repo::find_procedure(&state.db, procedure.trim())
        .await?
        .ok_or_else(|| AppError::field("procedure", "unknown_procedure"))?;
    match purposes::repo::find_purpose(&state.db, desk.agency.id, COUNTER_PURPOSE).await? {
        Some(p) if !p.retired => {}
        _ => {
            return Err(AppError::invalid(
                "counter_purpose_missing",
                format!(
                    "agency {} has no registered purpose `{COUNTER_PURPOSE}` for counter work",
                    desk.agency.code
                ),
            ));
        }
    }
    let clerk_name = crate::accounts::service::profile(state, &clerk.account)?
        .map(|p| p.full_name)
        .unwrap_or_else(|| clerk.account.login.clone());
    let asked = Asked {
        citizen: Some(citizen),
        purpose_code: COUNTER_PURPOSE.to_owned(),
        explanation: format!(
            "{} — {}, cán bộ {} / {} — counter of {}, clerk {}",
            procedure.name_vi,
            desk.agency.name,
            clerk_name,
            procedure.name_en,
            desk.agency.name,
            clerk_name
        ),
        procedure: Some(procedure.code.clone()),
        documents: Vec::new(),
        length: Length::Minutes(state.config.grants.counter_minutes),
        max_uses: COUNTER_MAX_USES,
        callback: None,
        idempotency_key: None,
        body_sha256: String::new(),
    };
    let requester = Requester::Counter {
        agency: &desk.agency,
        clerk: desk.clerk,
    };
    let request = match grants::check_request(state, requester, &asked).await {
        Ok(request) => request,
        // The counter purpose does not cover a document type this procedure requires.
        Err(AppError::InvalidInput {
            code: "over_asking",
            ..
        }) => {
            return Err(AppError::invalid(
                "counter_purpose_narrow",
                "the counter purpose does not cover this procedure's documents",
            ));
        }
        Err(error) => return Err(error),
    };
    let session = counter_session::Model {
        id: Uuid::now_v7(),
        agency_id: desk.agency.id,
        clerk_id: desk.clerk,
        citizen_id: citizen,
        procedure_code: procedure.code,
        origin_kind: origin.kind().to_owned(),
        origin_id: origin.id(),
        request_id: request.id,
        created_at: state.clock.now(),
        ended_at: None,
    };
    let txn = state.db.begin().await?;
    // The session first: the transaction's first statement is its write, and the unique
    // origin decides between two opens at once.
    match repo::insert(&txn, session.clone()).await {
        Ok(()) => {}
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            txn.rollback().await?;
            let existing = repo::find_by_origin(&state.db, origin.kind(), origin.id())
                .await?
                .ok_or_else(|| AppError::internal(error))?;
            return theirs(&desk, existing);
        }
        Err(error) => return Err(error.into()),
    }
    grants_repo::insert_request(&txn, request.clone()).await?;
    crate::grants::service::tell_citizen_of_request(&txn, state.clock.now(), citizen, &request)
        .await?;
    txn.commit().await?;
    tracing::info!(session = %session.id, agency = %desk.agency.code, "counter session opened");
    Ok(session)
}

fn theirs(
    desk: &Desk,
    session: counter_session::Model,
) -> Result<counter_session::Model, AppError> {
    if session.clerk_id == desk.clerk && session.agency_id == desk.agency.id {
        Ok(session)
    } else {
        Err(AppError::NotFound)
    }
}

/// Where a session stands, derived from its row, its request, its grant and the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The request is in the citizen's inbox.
    Waiting,
    /// The citizen approved: the clerk may read what the grant covers.
    Active,
    /// The citizen refused.
    Refused,
    /// The citizen withdrew the grant.
    Withdrawn,
    /// Unanswered in time, or the grant ran out.
    Expired,
    /// The clerk ended it.
    Ended,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Active => "active",
            Self::Refused => "refused",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
            Self::Ended => "ended",
        }
    }

    /// Whether the session may still change on its own (the page keeps polling).
    pub fn is_live(self) -> bool {
        matches!(self, Self::Waiting | Self::Active)
    }

    fn of(
        session: &counter_session::Model,
        request: &access_request::Model,
        grant: Option<&access_grant::Model>,
        now: DateTime<Utc>,
    ) -> Self {
        if session.ended_at.is_some() {
            return Self::Ended;
        }
        match (request_status(request, now), grant) {
            (RequestStatus::Pending, _) => Self::Waiting,
            (RequestStatus::Refused, _) => Self::Refused,
            (RequestStatus::Approved, Some(grant)) => match GrantStatus::of(grant, now) {
                GrantStatus::Active => Self::Active,
                GrantStatus::Withdrawn => Self::Withdrawn,
                GrantStatus::Expired => Self::Expired,
            },
            (RequestStatus::Approved, None) | (RequestStatus::Expired, _) => Self::Expired,
        }
    }
}

/// A session as its clerk sees it, before any of the citizen's data is read.
#[derive(Debug, Clone)]
pub struct Session {
    pub row: counter_session::Model,
    pub request: access_request::Model,
    pub grant: Option<access_grant::Model>,
    pub procedure: Option<purposes::Procedure>,
    pub status: Status,
}

impl Session {
    /// Until when the session can be used: the grant's expiry once given, else the time the
    /// citizen has to answer.
    pub fn until(&self) -> DateTime<Utc> {
        self.grant
            .as_ref()
            .map_or(self.request.answer_by, |g| g.expires_at)
    }
}

async fn load(state: &AppState, row: counter_session::Model) -> Result<Session, AppError> {
    let request = grants_repo::find_request(&state.db, row.request_id)
        .await?
        .ok_or_else(|| AppError::internal("counter session of a missing request"))?;
    let grant = match request.grant_id {
        Some(id) => grants_repo::find_grant(&state.db, id).await?,
        None => None,
    };
    let procedure = purposes::repo::find_procedure(&state.db, &row.procedure_code).await?;
    let status = Status::of(&row, &request, grant.as_ref(), state.clock.now());
    Ok(Session {
        row,
        request,
        grant,
        procedure,
        status,
    })
}

/// One of this clerk's sessions at this agency; anyone else's is missing.
pub async fn session(
    state: &AppState,
    staff: &StaffSession,
    id: Uuid,
) -> Result<Session, AppError> {
    let desk = Desk::of(state, staff).await?;
    let row = repo::find(&state.db, id).await?.ok_or(AppError::NotFound)?;
    load(state, theirs(&desk, row)?).await
}

/// The clerk's sessions that are still waiting or active, newest first (staff home page).
pub async fn open_sessions(
    state: &AppState,
    staff: &StaffSession,
) -> Result<Vec<Session>, AppError> {
    let desk = Desk::of(state, staff).await?;
    let rows = repo::not_ended_of_clerk(&state.db, desk.clerk, desk.agency.id).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let session = load(state, row).await?;
        if session.status.is_live() {
            out.push(session);
        }
    }
    Ok(out)
}

/// A granted document as the clerk's page shows it, read through the door.
#[derive(Debug)]
pub struct Shown {
    pub document: Opened,
    pub covered: grant_document::Model,
    /// The signature and its check now (`None` for a self-uploaded document), with only the
    /// fields the grant gives.
    pub signature: Option<crate::issuers::verification::SignatureStatus>,
}

/// What an active session shows: the citizen (a `profile.read` entry) and each granted
/// document (a `document.view` entry each, naming the clerk and the grant). Refused, like a
/// missing session, once it is ended, withdrawn or expired.
pub async fn documents(
    state: &AppState,
    staff: &StaffSession,
    session: &Session,
) -> Result<(access::door::Identity, Vec<Shown>), AppError> {
    let desk = Desk::of(state, staff).await?;
    let grant = session.grant.as_ref().ok_or(AppError::NotFound)?;
    let covered = grants_repo::grant_documents(&state.db, grant.id).await?;
    let first = covered.first().ok_or(AppError::NotFound)?;
    let citizen = access::profile(state, &reader(&desk, session, grant, first)).await?;
    let mut shown = Vec::with_capacity(covered.len());
    for item in covered {
        let document = match access::open(
            state,
            &reader(&desk, session, grant, &item),
            DocumentId(item.document_id),
            Purpose::View,
        )
        .await
        {
            Ok(document) => document,
            // Deleted by the citizen since (or the session ended meanwhile, which the door
            // recorded as a refusal): not shown.
            Err(AppError::NotFound) => continue,
            Err(error) => return Err(error),
        };
        let allowed: Vec<String> =
            serde_json::from_str(&item.fields).map_err(AppError::internal)?;
        let signature = crate::issuers::verification::status(state, &document)
            .await?
            .map(|mut s| {
                s.fields.retain(|(name, _)| allowed.contains(name));
                s
            });
        shown.push(Shown {
            document,
            covered: item,
            signature,
        });
    }
    Ok((citizen, shown))
}

fn reader<'a>(
    desk: &Desk,
    session: &'a Session,
    grant: &'a access_grant::Model,
    covered: &'a grant_document::Model,
) -> Reader<'a> {
    Reader::Clerk {
        clerk: desk.clerk,
        agency: desk.agency.id,
        authority: ClerkAuthority::Counter {
            session: &session.row,
            grant,
            covered,
        },
    }
}

/// The file of a granted document, if the grant gives it: one use taken (compare-and-set) and
/// the `document.open` entry written in one transaction before any byte.
pub async fn open_file(
    state: &AppState,
    staff: &StaffSession,
    session_id: Uuid,
    document: Uuid,
) -> Result<Opened, AppError> {
    let desk = Desk::of(state, staff).await?;
    let session = session(state, staff, session_id).await?;
    let grant = session.grant.as_ref().ok_or(AppError::NotFound)?;
    let covered = grants_repo::grant_document(&state.db, grant.id, document)
        .await?
        .ok_or(AppError::NotFound)?;
    let visit = access::enter(
        state,
        &reader(&desk, &session, grant, &covered),
        DocumentId(document),
        Purpose::Open,
    )
    .await?;
    if !grants_repo::take_use(visit.txn(), grant.id, document, Form::File, grant.max_uses).await? {
        drop(visit);
        return Err(AppError::Refused {
            code: "grant_exhausted",
            message: "this grant's reads of this document are used up".to_owned(),
        });
    }
    crate::notify::service::grant_used(
        visit.txn(),
        state.clock.now(),
        state.config.notify.batch_window,
        grant.citizen_id,
        grant.id,
        grant.agency_id,
        1,
    )
    .await?;
    visit.finish().await
}

/// A granted document the clerk may certify as a step of the session: self-uploaded, its
/// file granted. Read through the door for [`Purpose::View`] (an entry naming the clerk).
pub async fn certifiable(
    state: &AppState,
    staff: &StaffSession,
    session_id: Uuid,
    document: Uuid,
) -> Result<(Session, Opened), AppError> {
    let desk = Desk::of(state, staff).await?;
    let session = session(state, staff, session_id).await?;
    let grant = session.grant.as_ref().ok_or(AppError::NotFound)?;
    let covered = grants_repo::grant_document(&state.db, grant.id, document)
        .await?
        .ok_or(AppError::NotFound)?;
    if !covered.file {
        return Err(AppError::NotFound);
    }
    let opened = access::open(
        state,
        &reader(&desk, &session, grant, &covered),
        DocumentId(document),
        Purpose::View,
    )
    .await?;
    if opened.row.source != "self" {
        return Err(AppError::invalid(
            "already_signed",
            "this document is already issued or certified",
        ));
    }
    Ok((session, opened))
}

/// Certifies a granted, self-uploaded document as a true copy, a step of the session: the
/// clerk has compared the granted scan with the original the citizen brought. Through the
/// door as `Reader::Clerk` on the session and grant for [`Purpose::Certify`] (the file must be
/// granted), signed with the agency's counter key like a certification by code
/// (`counter::certify::sign_copy`): the document marked certified, the signature and the
/// `document.certify` entry naming the clerk under the grant commit together.
pub async fn certify(
    state: &AppState,
    staff: &StaffSession,
    session_id: Uuid,
    document: Uuid,
) -> Result<Uuid, AppError> {
    let desk = Desk::of(state, staff).await?;
    let session = session(state, staff, session_id).await?;
    let grant = session.grant.as_ref().ok_or(AppError::NotFound)?;
    let covered = grants_repo::grant_document(&state.db, grant.id, document)
        .await?
        .ok_or(AppError::NotFound)?;
    let visit = access::enter(
        state,
        &reader(&desk, &session, grant, &covered),
        DocumentId(document),
        Purpose::Certify,
    )
    .await?;
    crate::counter::certify::sign_copy(state, visit, &staff.account, &desk.agency).await
}

/// Ends a session: the session marked ended (compare-and-set: of two ends at once one acts, the
/// other finds it done), its grant withdrawn — the very next read is refused — with a
/// `grant.withdraw` entry naming the clerk, or its unanswered request closed, in one
/// transaction. Ending an ended session is answered like the first time.
pub async fn end(state: &AppState, staff: &StaffSession, id: Uuid) -> Result<(), AppError> {
    let desk = Desk::of(state, staff).await?;
    let now = state.clock.now();
    let row = repo::find(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let row = theirs(&desk, row)?;
    let txn = state.db.begin().await?;
    if !repo::end(&txn, row.id, now).await? {
        return Ok(());
    }
    // An unanswered request can no longer be approved.
    let closed = grants_repo::decide_request(&txn, row.request_id, "expired", None, now).await?;
    if !closed {
        let request = grants_repo::find_request(&txn, row.request_id)
            .await?
            .ok_or_else(|| AppError::internal("counter session of a missing request"))?;
        if let Some(grant) = request.grant_id
            && grants_repo::withdraw(&txn, grant, row.citizen_id, now).await?
        {
            let entry = Entry {
                account: row.citizen_id,
                actor: desk.actor(),
                action: Action::GrantWithdraw,
                object: Object::Grant { id: grant },
                purpose: None,
                authorization: Authorization::Grant(grant),
                outcome: Outcome::Allowed,
            };
            audit::append(&txn, now, &entry).await?;
        }
    }
    txn.commit().await?;
    Ok(())
}
