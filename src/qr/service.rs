//! The rules of QR identity: issuing the citizen's short-lived token, and a staff member's
//! verification of it — format, key, signature, validity time, handle and account, then
//! single use recorded in the same transaction as the access-log entry (through the door).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use ed25519_dalek::VerifyingKey;
use entity::{account, qr_card, qr_handle, qr_scan, qr_token_use};
use sea_orm::{SqlErr, TransactionTrait};
use uuid::Uuid;

use super::repo;
use super::token::{self, Claims, HANDLE_LEN, NONCE_LEN, ParseError, Parsed};
use crate::access::{self, ClerkAuthority, Reader};
use crate::audit::{Action, Actor, Authorization, Entry, Object, Outcome};
use crate::error::AppError;
use crate::i18n::Lang;
use crate::state::AppState;

/// How far a token's times may be off the verifier's clock (two instances' clocks, the phone
/// shown a few seconds after issue).
pub const CLOCK_SKEW_SECS: i64 = 30;

/// The stored `qr_scan.token_kind` of a phone token.
pub const KIND_PHONE: &str = "phone";

/// Why a token was refused. Each has its code (stable, in the access log's tracing line and
/// the JSON answer) and its own message for the staff member (`qr.fail_<code>` in app.yml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Not a Công dân số QR token at all (no `CDS1:`, not Base45, wrong length).
    Malformed,
    /// Not signed by a platform key: a changed byte, an unknown key or version, a bad signature.
    Forged,
    /// Past its expiry (or not yet valid), beyond the clock-skew allowance.
    Expired,
    /// A printed card the citizen revoked.
    Revoked,
    /// Already verified once: a screenshot or a second scan.
    AlreadyUsed,
    /// Signed, but naming no account (or an account no longer active).
    UnknownHandle,
    /// The revocation status could not be established (status list stale or unreachable).
    StatusUnknown,
    /// A printed card, known and not revoked: it proves identity only with the citizen's
    /// one-time code, which is asked for next (not a refusal: no denied entry).
    CodeRequired,
    /// A printed card with a wrong one-time code.
    WrongCode,
    /// A printed card whose one-time code is missing, expired, already used, or void after
    /// [`MAX_CODE_FAILURES`] wrong tries.
    CodeVoid,
}

/// Tries of a one-time code (each counted before the code is compared, so guesses fired at
/// once get no more); after this many wrong ones the code is void.
pub const MAX_CODE_FAILURES: i32 = 5;

/// The stored `qr_scan.token_kind` of a printed card.
pub const KIND_CARD: &str = "card";

impl Failure {
    pub const ALL: [Failure; 10] = [
        Self::Malformed,
        Self::Forged,
        Self::Expired,
        Self::Revoked,
        Self::AlreadyUsed,
        Self::UnknownHandle,
        Self::StatusUnknown,
        Self::CodeRequired,
        Self::WrongCode,
        Self::CodeVoid,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "qr_malformed",
            Self::Forged => "qr_forged",
            Self::Expired => "qr_expired",
            Self::Revoked => "qr_revoked",
            Self::AlreadyUsed => "qr_already_used",
            Self::UnknownHandle => "qr_unknown_handle",
            Self::StatusUnknown => "qr_status_unknown",
            Self::CodeRequired => "qr_code_required",
            Self::WrongCode => "qr_code_wrong",
            Self::CodeVoid => "qr_code_void",
        }
    }

    /// The translation key of the message shown to the staff member.
    pub fn message_key(self) -> String {
        format!("qr.fail_{}", self.code())
    }
}

/// The citizen's token, ready to show.
#[derive(Debug, Clone)]
pub struct Issued {
    pub text: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

fn random<const N: usize>() -> Result<[u8; N], AppError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| AppError::internal(format!("random: {e}")))?;
    Ok(out)
}

/// The account's public handle, made on first use (random, unrelated to any identifier).
pub async fn handle_of(
    state: &AppState,
    account: &account::Model,
) -> Result<[u8; HANDLE_LEN], AppError> {
    let row = match repo::handle_of(&state.db, account.id).await? {
        Some(row) => row,
        None => {
            let fresh = qr_handle::Model {
                account_id: account.id,
                handle: hex::encode(random::<HANDLE_LEN>()?),
                created_at: state.clock.now(),
            };
            repo::insert_handle_if_none(&state.db, fresh).await?;
            repo::handle_of(&state.db, account.id)
                .await?
                .ok_or_else(|| AppError::internal("QR handle not stored"))?
        }
    };
    let mut out = [0u8; HANDLE_LEN];
    hex::decode_to_slice(&row.handle, &mut out).map_err(AppError::internal)?;
    Ok(out)
}

/// A fresh token for the citizen's phone, valid `CONGDANSO_QR_TTL_SECONDS`.
pub async fn issue(state: &AppState, account: &account::Model) -> Result<Issued, AppError> {
    let handle = handle_of(state, account).await?;
    let now = state.clock.now();
    let ttl = i64::try_from(state.config.qr_ttl.as_secs()).map_err(AppError::internal)?;
    let signing = &state.keys.signing;
    let claims = Claims {
        version: token::VERSION_PHONE,
        key_id: token::key_id_bytes(signing.id())
            .ok_or_else(|| AppError::internal("platform key id is not sk_<16 hex>"))?,
        handle,
        issued_at: now.timestamp(),
        expires_at: now.timestamp() + ttl,
        nonce: random::<NONCE_LEN>()?,
    };
    Ok(Issued {
        text: token::issue(signing.signing_key(), &claims),
        issued_at: at(claims.issued_at)?,
        expires_at: at(claims.expires_at)?,
    })
}

/// A printed card, issued.
#[derive(Debug, Clone)]
pub struct IssuedCard {
    pub card: qr_card::Model,
    pub text: String,
}

/// Issues a printed card for the citizen, valid `CONGDANSO_QR_CARD_DAYS`: a fresh random card
/// id and the next status index, in one transaction with the card row (the counter row is
/// held until commit, so two cards issued at once never share an index).
pub async fn issue_card(
    state: &AppState,
    account: &account::Model,
) -> Result<IssuedCard, AppError> {
    let handle = handle_of(state, account).await?;
    let now = state.clock.now();
    let issued_at = now.timestamp();
    let expires_at = issued_at + i64::from(state.config.qr_card_days) * 24 * 60 * 60;
    let card_id = random::<{ token::CARD_ID_LEN }>()?;
    let txn = state.db.begin().await?;
    let index = repo::allocate_status_index(&txn).await?;
    let status_index =
        u32::try_from(index).map_err(|_| AppError::internal("QR card status indexes exhausted"))?;
    let card = qr_card::Model {
        id: hex::encode(card_id),
        account_id: account.id,
        status_index: index,
        issued_at: at(issued_at)?,
        expires_at: at(expires_at)?,
        revoked_at: None,
        revoked_by: None,
        code_hash: None,
        code_expires_at: None,
        code_failures: 0,
    };
    repo::insert_card(&txn, card.clone()).await?;
    txn.commit().await?;
    let signing = &state.keys.signing;
    let claims = Claims {
        version: token::VERSION_CARD,
        key_id: token::key_id_bytes(signing.id())
            .ok_or_else(|| AppError::internal("platform key id is not sk_<16 hex>"))?,
        handle,
        issued_at,
        expires_at,
        nonce: Claims::card_nonce(&card_id, status_index),
    };
    Ok(IssuedCard {
        card,
        text: token::issue(signing.signing_key(), &claims),
    })
}

/// The token text of a card already issued (the card page shows it again; Ed25519 is
/// deterministic, so the same card gives the same text).
pub async fn card_text(
    state: &AppState,
    account: &account::Model,
    card: &qr_card::Model,
) -> Result<String, AppError> {
    let handle = handle_of(state, account).await?;
    let mut card_id = [0u8; token::CARD_ID_LEN];
    hex::decode_to_slice(&card.id, &mut card_id).map_err(AppError::internal)?;
    let status_index = u32::try_from(card.status_index).map_err(AppError::internal)?;
    let signing = &state.keys.signing;
    let claims = Claims {
        version: token::VERSION_CARD,
        key_id: token::key_id_bytes(signing.id())
            .ok_or_else(|| AppError::internal("platform key id is not sk_<16 hex>"))?,
        handle,
        issued_at: card.issued_at.timestamp(),
        expires_at: card.expires_at.timestamp(),
        nonce: Claims::card_nonce(&card_id, status_index),
    };
    Ok(token::issue(signing.signing_key(), &claims))
}

/// How long a card's one-time code is valid.
pub const CODE_MINUTES: i64 = 10;

/// The citizen's card in use: the newest one neither revoked nor expired.
pub async fn current_card(
    state: &AppState,
    account: &account::Model,
) -> Result<Option<qr_card::Model>, AppError> {
    let now = state.clock.now();
    Ok(repo::cards_of(&state.db, account.id)
        .await?
        .into_iter()
        .find(|c| c.revoked_at.is_none() && c.expires_at > now))
}

/// SHA-256(card id bytes || the code's six ASCII digits), hex: what is stored of a code.
pub fn code_hash(card_id_hex: &str, code: &str) -> Result<String, AppError> {
    use sha2::{Digest, Sha256};
    let card_id = hex::decode(card_id_hex).map_err(AppError::internal)?;
    let mut hasher = Sha256::new();
    hasher.update(&card_id);
    hasher.update(code.as_bytes());
    Ok(hex::encode(hasher.finalize()))
}

/// A uniformly random six-digit code (rejection sampling over a u32).
fn fresh_code() -> Result<String, AppError> {
    loop {
        let n = u32::from_be_bytes(random::<4>()?);
        if n < 4_294_000_000 {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

/// A fresh six-digit one-time code for the citizen's current card, valid [`CODE_MINUTES`]: its
/// hash replaces any earlier code. The code itself is returned once and stored nowhere.
pub async fn new_code(
    state: &AppState,
    account: &account::Model,
) -> Result<(qr_card::Model, String), AppError> {
    let card = current_card(state, account)
        .await?
        .ok_or(AppError::NotFound)?;
    let code = fresh_code()?;
    let expires = state.clock.now() + chrono::Duration::minutes(CODE_MINUTES);
    if !repo::set_code(&state.db, &card.id, &code_hash(&card.id, &code)?, expires).await? {
        return Err(AppError::NotFound);
    }
    Ok((card, code))
}

/// Revokes `card` in one transaction with its `qr.card_revoke` entry and the citizen's security
/// alert. False if it was revoked already (a second revocation at once changes nothing).
async fn revoke_logged(
    state: &AppState,
    card: &qr_card::Model,
    actor: Actor,
    authorization: Authorization,
) -> Result<bool, AppError> {
    let now = state.clock.now();
    let by = actor.id();
    let txn = access::door::begin_logged(state).await?;
    if !repo::revoke_card(&txn, &card.id, by, now).await? {
        txn.rollback().await?;
        return Ok(false);
    }
    crate::notify::service::notify(
        &txn,
        now,
        card.account_id,
        crate::notify::model::Kind::QrCardRevoked,
        serde_json::json!({ "link": "/access-log" }),
    )
    .await?;
    let entry = card_revoke_entry(card.account_id, actor, authorization, Outcome::Allowed);
    access::door::commit_logged(state, txn, &entry).await?;
    Ok(true)
}

/// The `qr.card_revoke` entry in the holder's log.
fn card_revoke_entry(
    account: Uuid,
    actor: Actor,
    authorization: Authorization,
    outcome: Outcome,
) -> Entry {
    Entry {
        account,
        actor,
        action: Action::QrCardRevoke,
        object: Object::Account,
        purpose: None,
        authorization,
        outcome,
    }
}

/// The citizen reports their current card lost: revoked at once (the staff scan refuses it;
/// the status list sets its bit), with its entry in their log.
pub async fn revoke_own_card(state: &AppState, account: &account::Model) -> Result<(), AppError> {
    let card = current_card(state, account)
        .await?
        .ok_or(AppError::NotFound)?;
    let actor = Actor::Citizen {
        account: account.id,
    };
    revoke_logged(state, &card, actor, Authorization::Owner).await?;
    tracing::info!(account = %account.id, status_index = card.status_index, "QR card revoked by its holder");
    Ok(())
}

/// A staff member revokes the printed card of the person in front of them, after checking
/// their identity document (the person lost the card, or has no account access). Answers the
/// card revoked, or `None` — the same for a number with no account as for an account with no
/// card in use, so the page is no better than the counter's own check at telling who has an
/// account. An attempt on an existing citizen is an entry in their log either way (`failed`
/// when there was no card), and a revocation alerts them on every channel they have.
pub async fn revoke_in_person(
    state: &AppState,
    staff: Uuid,
    agency: Uuid,
    national_id: &crate::accounts::model::NationalId,
) -> Result<Option<qr_card::Model>, AppError> {
    let citizen = crate::accounts::repo::find_by_login(&state.db, national_id.as_str())
        .await?
        .filter(|a| a.role == "citizen");
    let Some(citizen) = citizen else {
        tracing::info!(%staff, %agency, "in-person card revocation: no citizen with this number");
        return Ok(None);
    };
    let actor = Actor::Staff {
        account: staff,
        agency,
    };
    let Some(card) = current_card(state, &citizen).await? else {
        let entry = card_revoke_entry(citizen.id, actor, Authorization::InPerson, Outcome::Failed);
        crate::audit::service::record(state, state.clock.now(), &entry).await?;
        return Ok(None);
    };
    if !revoke_logged(state, &card, actor, Authorization::InPerson).await? {
        return Ok(None);
    }
    tracing::info!(%staff, %agency, status_index = card.status_index, "QR card revoked in person");
    Ok(Some(card))
}

/// Least time between two codes sent by SMS for one card (each SMS costs, and a person can be
/// pestered).
pub const SMS_CODE_INTERVAL_SECS: i64 = 60;

/// What asking for a card's code by SMS came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsCode {
    /// Queued for the phone ending in these digits (the last three).
    Sent { phone_tail: String },
    /// The citizen has no phone number in their notification settings.
    NoPhone,
    /// This instance has no SMS gateway.
    Unavailable,
    /// A code was sent less than [`SMS_CODE_INTERVAL_SECS`] ago.
    TooSoon,
    /// The card does not pass the checks before the code (forged, revoked, unknown, …).
    Refused(Failure),
}

/// A refusal, and the citizen the token names if it names one (their log gets the entry).
type Refusal = (Failure, Option<Uuid>);

/// The checks every token passes first: format, key, signature, validity, and a handle naming
/// an active citizen. Returns the claims and the citizen.
async fn check_token(
    state: &AppState,
    token_text: &str,
) -> Result<Result<(Claims, Uuid), Refusal>, AppError> {
    let parsed = match token::parse(token_text) {
        Ok(parsed) => parsed,
        Err(error) => return Ok(Err((parse_failure(error), None))),
    };
    let claims = parsed.claims;
    let holder = repo::find_by_handle(&state.db, &hex::encode(claims.handle)).await?;
    let citizen = holder.as_ref().map(|h| h.account_id);
    let Some(key) = public_key(state, &claims.key_id).await? else {
        return Ok(Err((Failure::Forged, citizen)));
    };
    if let Err(failure) = check_signed(&parsed, &key, state.clock.now()) {
        return Ok(Err((failure, citizen)));
    }
    let Some(holder) = holder else {
        return Ok(Err((Failure::UnknownHandle, None)));
    };
    let account = crate::accounts::repo::find_by_id(&state.db, holder.account_id).await?;
    if !account.is_some_and(|a| a.role == "citizen" && a.status == "active") {
        return Ok(Err((Failure::UnknownHandle, citizen)));
    }
    Ok(Ok((claims, holder.account_id)))
}

/// A card token's row: the same id, status index and holder (else unknown), not revoked.
async fn card_of(
    state: &AppState,
    claims: &Claims,
    holder: Uuid,
) -> Result<Result<qr_card::Model, Failure>, AppError> {
    let card = repo::find_card(&state.db, &hex::encode(claims.card_id()))
        .await?
        .filter(|c| c.account_id == holder && c.status_index == i64::from(claims.status_index()));
    Ok(match card {
        None => Err(Failure::UnknownHandle),
        Some(card) if card.revoked_at.is_some() => Err(Failure::Revoked),
        Some(card) => Ok(card),
    })
}

/// The card's checks that come before its code: [`check_token`], a card token, [`card_of`].
/// Returns the holder and the card.
async fn check_card(
    state: &AppState,
    token_text: &str,
) -> Result<Result<(Uuid, qr_card::Model), Refusal>, AppError> {
    let (claims, holder) = match check_token(state, token_text).await? {
        Ok(checked) => checked,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if claims.version != token::VERSION_CARD {
        return Ok(Err((Failure::Malformed, Some(holder))));
    }
    Ok(card_of(state, &claims, holder)
        .await?
        .map(|card| (holder, card))
        .map_err(|failure| (failure, Some(holder))))
}

/// A staff member, holding the citizen's printed card, has a fresh one-time code sent to the
/// phone in the citizen's notification settings (for people without a smartphone or without
/// their login at hand). The code replaces any earlier one; at most one per
/// [`SMS_CODE_INTERVAL_SECS`] per card, decided by compare-and-set in the transaction that queues
/// the SMS and writes the `qr.card_code_sms` entry. The SMS row is not sent after the code
/// expires and its text is cleared once sent (`notify::channels`); the staff member sees only
/// the phone's last three digits, never the code.
pub async fn send_code_by_sms(
    state: &AppState,
    staff: Uuid,
    agency: Uuid,
    token_text: &str,
) -> Result<SmsCode, AppError> {
    let actor = Actor::Staff {
        account: staff,
        agency,
    };
    let (holder, card) = match check_card(state, token_text).await? {
        Ok(found) => found,
        Err((failure, citizen)) => {
            if let Some(citizen) = citizen {
                access::record_refusal(
                    state,
                    citizen,
                    actor,
                    Action::QrCardCodeSms,
                    Object::Account,
                    Authorization::QrToken,
                )
                .await;
            }
            return Ok(SmsCode::Refused(failure));
        }
    };
    if !crate::notify::service::channel_available(state, crate::notify::model::Channel::Sms) {
        return Ok(SmsCode::Unavailable);
    }
    let contact = crate::notify::repo::contact(&state.db, holder).await?;
    let Some((phone, lang)) = contact.and_then(|c| {
        let lang = Lang::from_code(&c.lang).unwrap_or_default();
        c.phone.map(|p| (p, lang))
    }) else {
        return Ok(SmsCode::NoPhone);
    };
    let now = state.clock.now();
    let expires = now + chrono::Duration::minutes(CODE_MINUTES);
    let code = fresh_code()?;
    let text = lang
        .t("qr.card_code_sms_text")
        .replace("%{code}", &code)
        .replace("%{minutes}", &CODE_MINUTES.to_string());
    let txn = access::door::begin_logged(state).await?;
    // The interval first (the transaction's first statement is this write): of several asks at
    // once, one sets the code; the others see it set.
    let recent = expires - chrono::Duration::seconds(SMS_CODE_INTERVAL_SECS);
    if !repo::set_code_unless_recent(
        &txn,
        &card.id,
        &code_hash(&card.id, &code)?,
        expires,
        recent,
    )
    .await?
    {
        txn.rollback().await?;
        return Ok(SmsCode::TooSoon);
    }
    crate::outbox::enqueue(
        &txn,
        now,
        crate::outbox::Message::Sms {
            to: phone.clone(),
            text,
            one_time_until: Some(expires),
        },
    )
    .await?;
    let entry = Entry {
        account: holder,
        actor,
        action: Action::QrCardCodeSms,
        object: Object::Account,
        purpose: None,
        authorization: Authorization::QrToken,
        outcome: Outcome::Allowed,
    };
    access::door::commit_logged(state, txn, &entry).await?;
    Ok(SmsCode::Sent {
        phone_tail: crate::notify::channels::phone_tail(&phone),
    })
}

fn at(unix: i64) -> Result<DateTime<Utc>, AppError> {
    Utc.timestamp_opt(unix, 0)
        .single()
        .ok_or_else(|| AppError::internal("time out of range"))
}

/// The platform public key a token names: the running key, or an earlier one recorded in
/// `platform_key` (a token signed just before a rotation).
async fn public_key(
    state: &AppState,
    key_id: &[u8; token::KEY_ID_LEN],
) -> Result<Option<VerifyingKey>, AppError> {
    let id = token::key_id_string(key_id);
    if id == state.keys.signing.id() {
        return Ok(Some(state.keys.signing.verifying_key()));
    }
    let recorded = crate::keys::repo::all(&state.db).await?;
    let Some(row) = recorded
        .into_iter()
        .find(|k| k.kind == "signing" && k.id == id)
    else {
        return Ok(None);
    };
    let Some(public) = row.public_key else {
        return Ok(None);
    };
    let bytes: [u8; 32] = B64
        .decode(public)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| AppError::internal("stored platform key is not 32 bytes"))?;
    Ok(VerifyingKey::from_bytes(&bytes).ok())
}

/// What a staff member sees on a verified token.
#[derive(Debug, Clone)]
pub struct Verified {
    pub scan: qr_scan::Model,
    pub full_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    /// The national ID number with all but its first four and last two digits hidden.
    pub masked_national_id: String,
}

/// `0010******45`: the first four and the last two characters kept, the rest hidden.
pub fn mask_national_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < 4 || i >= chars.len() - 2 {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// The token checked without the database: format, key (given), signature, validity time.
/// Shared by the server and the offline CLI.
pub fn check_offline(
    text: &str,
    key_for: impl Fn(&[u8; token::KEY_ID_LEN]) -> Option<VerifyingKey>,
    now: DateTime<Utc>,
) -> Result<Parsed, Failure> {
    let parsed = token::parse(text).map_err(parse_failure)?;
    let key = key_for(&parsed.claims.key_id).ok_or(Failure::Forged)?;
    check_signed(&parsed, &key, now)?;
    Ok(parsed)
}

fn parse_failure(error: ParseError) -> Failure {
    match error {
        ParseError::Prefix | ParseError::Encoding | ParseError::Length => Failure::Malformed,
        ParseError::Version => Failure::Forged,
    }
}

/// Signature, then the validity window with [`CLOCK_SKEW_SECS`] either side.
pub fn check_signed(
    parsed: &Parsed,
    key: &VerifyingKey,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    if !parsed.signed_by(key) {
        return Err(Failure::Forged);
    }
    let now = now.timestamp();
    let claims = &parsed.claims;
    if claims.expires_at.saturating_add(CLOCK_SKEW_SECS) < now
        || claims.issued_at.saturating_sub(CLOCK_SKEW_SECS) > now
        || claims.expires_at < claims.issued_at
    {
        return Err(Failure::Expired);
    }
    Ok(())
}

/// Verifies a token a staff member scanned or pasted. Every outcome is recorded: a success as
/// the `qr_scan` row and a `qr.verify` entry in the citizen's chain (with the single-use record,
/// one transaction); a refusal as a `qr.verify` entry marked denied in the chain of the citizen
/// the token names, when it names one, and in the application log with the staff member and
/// the reason either way.
pub async fn verify(
    state: &AppState,
    staff: Uuid,
    agency: Uuid,
    token_text: &str,
) -> Result<Result<Verified, Failure>, AppError> {
    verify_with_code(state, staff, agency, token_text, None).await
}

/// [`verify`], with the one-time code the citizen said for a printed card (`None`: a phone
/// token, or a card whose code is to be asked for — [`Failure::CodeRequired`]).
pub async fn verify_with_code(
    state: &AppState,
    staff: Uuid,
    agency: Uuid,
    token_text: &str,
    code: Option<&str>,
) -> Result<Result<Verified, Failure>, AppError> {
    let actor = Actor::Staff {
        account: staff,
        agency,
    };
    let (outcome, citizen) = decide(state, staff, agency, token_text, code).await?;
    if let Err(failure) = &outcome
        && *failure != Failure::CodeRequired
    {
        tracing::warn!(
            %staff,
            %agency,
            code = failure.code(),
            citizen_known = citizen.is_some(),
            "QR token refused"
        );
        if let Some(citizen) = citizen {
            access::record_refusal(
                state,
                citizen,
                actor,
                Action::QrVerify,
                Object::Profile,
                Authorization::QrToken,
            )
            .await;
        }
    }
    Ok(outcome)
}

/// The decision, and the citizen the token names if it names one.
async fn decide(
    state: &AppState,
    staff: Uuid,
    agency: Uuid,
    token_text: &str,
    code: Option<&str>,
) -> Result<(Result<Verified, Failure>, Option<Uuid>), AppError> {
    let now = state.clock.now();
    let (claims, holder) = match check_token(state, token_text).await? {
        Ok(checked) => checked,
        Err((failure, citizen)) => return Ok((Err(failure), citizen)),
    };
    let citizen = Some(holder);
    if claims.version == token::VERSION_CARD {
        return decide_card(state, staff, agency, &claims, holder, code).await;
    }
    let scan = qr_scan::Model {
        id: Uuid::now_v7(),
        staff_id: staff,
        agency_id: agency,
        citizen_id: holder,
        token_kind: KIND_PHONE.to_owned(),
        verified_at: now,
    };
    let txn = state.db.begin().await?;
    // The use first: the transaction's first statement is its write, and the primary key on
    // the nonce decides between two verifications of one token, on any instance.
    let used = qr_token_use::Model {
        nonce: hex::encode(claims.nonce),
        account_id: holder,
        expires_at: at(claims.expires_at)?,
        used_at: now,
    };
    match repo::insert_use(&txn, used).await {
        Ok(()) => {}
        Err(error) if is_unique_violation(&error) => {
            txn.rollback().await?;
            return Ok((Err(Failure::AlreadyUsed), citizen));
        }
        Err(error) => return Err(error.into()),
    }
    repo::insert_scan(&txn, scan.clone()).await?;
    let reader = Reader::Clerk {
        clerk: staff,
        agency,
        authority: ClerkAuthority::Scan(&scan),
    };
    let identity = match access::door::identify_scan(state, txn, &reader).await {
        Ok(identity) => identity,
        // Another instance committed the same nonce between our insert and our commit
        // (PostgreSQL reports it at the insert; this is the belt to those braces).
        Err(AppError::Internal(cause)) if cause.to_lowercase().contains("unique") => {
            return Ok((Err(Failure::AlreadyUsed), citizen));
        }
        Err(error) => return Err(error),
    };
    Ok((
        Ok(Verified {
            scan,
            full_name: identity.full_name,
            birth_date: identity.birth_date,
            masked_national_id: mask_national_id(&identity.national_id),
        }),
        citizen,
    ))
}

/// A printed card of an active citizen, signature and validity checked: the card must be known
/// (same id, status index and holder) and not revoked; then, with no code, the code is asked
/// for; with one, it is compared in constant time with the stored hash and used once by
/// compare-and-set in the transaction that writes the scan and the `qr.verify` entry.
async fn decide_card(
    state: &AppState,
    staff: Uuid,
    agency: Uuid,
    claims: &Claims,
    holder: Uuid,
    code: Option<&str>,
) -> Result<(Result<Verified, Failure>, Option<Uuid>), AppError> {
    use subtle::ConstantTimeEq;
    let now = state.clock.now();
    let card = match card_of(state, claims, holder).await? {
        Ok(card) => card,
        Err(failure) => return Ok((Err(failure), Some(holder))),
    };
    let Some(code) = code else {
        return Ok((Err(Failure::CodeRequired), Some(holder)));
    };
    let live = card.code_failures < MAX_CODE_FAILURES
        && card.code_expires_at.is_some_and(|until| now <= until);
    let Some(stored) = card.code_hash.clone().filter(|_| live) else {
        return Ok((Err(Failure::CodeVoid), Some(holder)));
    };
    if !repo::take_code_try(&state.db, &card.id, &stored, MAX_CODE_FAILURES).await? {
        return Ok((Err(Failure::CodeVoid), Some(holder)));
    }
    let given = code_hash(&card.id, code.trim())?;
    if !bool::from(given.as_bytes().ct_eq(stored.as_bytes())) {
        repo::void_spent_code(&state.db, &card.id, &stored, MAX_CODE_FAILURES).await?;
        return Ok((Err(Failure::WrongCode), Some(holder)));
    }
    let scan = qr_scan::Model {
        id: Uuid::now_v7(),
        staff_id: staff,
        agency_id: agency,
        citizen_id: holder,
        token_kind: KIND_CARD.to_owned(),
        verified_at: now,
    };
    let txn = state.db.begin().await?;
    // The use first: clearing the hash only if it is still this one decides between two
    // submissions of one code, on any instance.
    if !repo::use_code(&txn, &card.id, &stored, MAX_CODE_FAILURES).await? {
        txn.rollback().await?;
        return Ok((Err(Failure::CodeVoid), Some(holder)));
    }
    repo::insert_scan(&txn, scan.clone()).await?;
    let reader = Reader::Clerk {
        clerk: staff,
        agency,
        authority: ClerkAuthority::Scan(&scan),
    };
    let identity = access::door::identify_scan(state, txn, &reader).await?;
    Ok((
        Ok(Verified {
            scan,
            full_name: identity.full_name,
            birth_date: identity.birth_date,
            masked_national_id: mask_national_id(&identity.national_id),
        }),
        Some(holder),
    ))
}

fn is_unique_violation(error: &sea_orm::DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// A verification row of this clerk at this agency, still fresh enough to open a counter
/// session from (else missing, like any scan that is not theirs).
pub async fn scan_of(
    state: &AppState,
    staff: Uuid,
    agency: Uuid,
    id: Uuid,
) -> Result<qr_scan::Model, AppError> {
    let scan = repo::find_scan(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    let theirs = scan.staff_id == staff
        && scan.agency_id == agency
        && scan.verified_at <= now
        && now - scan.verified_at < chrono::Duration::minutes(access::door::SCAN_VALID_MINUTES);
    if theirs {
        Ok(scan)
    } else {
        Err(AppError::NotFound)
    }
}

/// Housekeeping: forgets used nonces of tokens long expired.
pub async fn sweep(state: &AppState) -> Result<u64, AppError> {
    let before = state.clock.now() - chrono::Duration::seconds(CLOCK_SKEW_SECS * 2);
    Ok(repo::delete_uses_expired_before(&state.db, before).await?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_has_its_own_message_in_both_languages() {
        use crate::i18n::Lang;
        for lang in [Lang::Vi, Lang::En] {
            let mut seen = std::collections::HashSet::new();
            for failure in Failure::ALL {
                let key = failure.message_key();
                let text = lang.t(&key).into_owned();
                assert!(
                    !text.contains("qr.fail_") && !text.is_empty(),
                    "{key} in {lang:?}"
                );
                assert!(seen.insert(text), "{key} repeats another message");
            }
        }
    }

    #[test]
    fn national_ids_are_masked() {
        assert_eq!(mask_national_id("001099000045"), "0010******45");
        assert_eq!(mask_national_id("1234"), "****");
    }

    #[test]
    fn validity_window_allows_thirty_seconds_either_side() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
        let id = crate::keys::signing_key_id(&key.verifying_key());
        let claims = Claims {
            version: token::VERSION_PHONE,
            key_id: token::key_id_bytes(&id).unwrap(),
            handle: [1; HANDLE_LEN],
            issued_at: 1_000_000,
            expires_at: 1_000_120,
            nonce: [2; NONCE_LEN],
        };
        let text = token::issue(&key, &claims);
        let public = key.verifying_key();
        let check = |t: i64| check_offline(&text, |_| Some(public), at(t).unwrap()).map(|_| ());
        assert_eq!(check(1_000_000), Ok(()));
        assert_eq!(check(1_000_150), Ok(()));
        assert_eq!(check(1_000_151), Err(Failure::Expired));
        assert_eq!(check(999_970), Ok(()));
        assert_eq!(check(999_969), Err(Failure::Expired));
        let other = ed25519_dalek::SigningKey::from_bytes(&[4u8; 32]).verifying_key();
        assert_eq!(
            check_offline(&text, |_| Some(other), at(1_000_000).unwrap()).map(|_| ()),
            Err(Failure::Forged)
        );
        assert_eq!(
            check_offline(&text, |_| None, at(1_000_000).unwrap()).map(|_| ()),
            Err(Failure::Forged)
        );
        assert_eq!(
            check_offline("CDS1:", |_| None, at(1_000_000).unwrap()).map(|_| ()),
            Err(Failure::Malformed)
        );
    }
}
