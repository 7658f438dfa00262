//! The account rules: registration, TOTP enrolment, login with throttling, second factor with
//! replay protection, recovery codes, password change, staff accounts. Handlers stay thin and
//! call these; time comes from the clock in the state.

use chrono::{DateTime, NaiveDate, Utc};
use entity::{account, session as session_row};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::model::{BirthDate, Email, FieldProblem, FullName, LoginName, NationalId, PhoneNumber};
use super::throttle::{ThrottlePolicy, ThrottleState};
use super::{password, recovery, repo, totp};
use crate::audit::{Action, Entry, Object};
use crate::auth::Role;
use crate::auth::session::{self, ClientInfo, NewSession, Stage};
use crate::crypto::{self, DataKey, FieldContext, WrappedKey};
use crate::error::{AppError, FieldError};
use crate::state::AppState;

/// Account status values stored in `account.status`.
pub const STATUS_PENDING_TOTP: &str = "pending_totp";
pub const STATUS_ACTIVE: &str = "active";

/// What a registration form sends (raw text; parsed here).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RegistrationInput {
    #[serde(default)]
    pub national_id: String,
    #[serde(default)]
    pub full_name: String,
    #[serde(default)]
    pub birth_date: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: Zeroizing<String>,
    #[serde(default)]
    pub password_confirm: Zeroizing<String>,
}

/// Personal details, kept sealed under the account's data key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Profile {
    pub full_name: String,
    pub birth_date: Option<NaiveDate>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

fn field_error(problem: FieldProblem) -> FieldError {
    FieldError {
        field: problem.field,
        code: problem.code,
    }
}

fn invalid(fields: Vec<FieldError>) -> AppError {
    let message = fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.code))
        .collect::<Vec<_>>()
        .join(", ");
    AppError::InvalidInput {
        code: fields.first().map_or("invalid_input", |f| f.code),
        message,
        fields,
    }
}

fn crypto_error(error: crypto::CryptoError) -> AppError {
    AppError::internal(format!("crypto: {error}"))
}

/// The account's data key, unwrapped with the master key.
pub fn data_key(state: &AppState, account: &account::Model) -> Result<DataKey, AppError> {
    let master = state
        .keys
        .master_by_id(&account.master_key_id)
        .ok_or_else(|| {
            AppError::internal(format!(
                "account key wrapped by {}, which this instance does not hold \
                 (set MASTER_KEY_PREVIOUS during rotation)",
                account.master_key_id
            ))
        })?;
    let wrapped = WrappedKey {
        master_key_id: master.id().clone(),
        bytes: account.wrapped_data_key.clone(),
    };
    master.unwrap(&wrapped, &account.id).map_err(crypto_error)
}

fn field_context(account_id: Uuid, field: &'static str) -> FieldContext {
    FieldContext {
        owner: account_id,
        record: account_id,
        field,
    }
}

/// The TOTP secret of an account.
pub fn totp_secret(
    state: &AppState,
    account: &account::Model,
) -> Result<totp::TotpSecret, AppError> {
    let sealed = account
        .totp_secret
        .as_ref()
        .ok_or_else(|| AppError::internal("account has no TOTP secret"))?;
    let key = data_key(state, account)?;
    let bytes = crypto::open_field(&key, &field_context(account.id, "totp_secret"), sealed)
        .map_err(crypto_error)?;
    totp::TotpSecret::from_bytes(bytes.to_vec()).map_err(AppError::internal)
}

/// The personal details of an account (`None` for accounts that have none).
pub fn profile(state: &AppState, account: &account::Model) -> Result<Option<Profile>, AppError> {
    let Some(sealed) = &account.profile else {
        return Ok(None);
    };
    let key = data_key(state, account)?;
    let bytes = crypto::open_field(&key, &field_context(account.id, "profile"), sealed)
        .map_err(crypto_error)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(AppError::internal)
}

/// A new account row with a fresh data key, TOTP secret and sealed profile.
fn new_account(
    state: &AppState,
    role: Role,
    login: String,
    agency_id: Option<Uuid>,
    password_hash: String,
    profile: &Profile,
) -> Result<account::Model, AppError> {
    let now = state.clock.now();
    let id = Uuid::now_v7();
    let key = DataKey::generate().map_err(crypto_error)?;
    let wrapped = state.keys.master.wrap(&key, &id).map_err(crypto_error)?;
    let secret = totp::TotpSecret::generate().map_err(AppError::internal)?;
    let sealed_secret =
        crypto::seal_field(&key, &field_context(id, "totp_secret"), secret.as_bytes())
            .map_err(crypto_error)?;
    let profile_json = Zeroizing::new(serde_json::to_vec(profile).map_err(AppError::internal)?);
    let sealed_profile = crypto::seal_field(&key, &field_context(id, "profile"), &profile_json)
        .map_err(crypto_error)?;
    Ok(account::Model {
        id,
        role: role.as_str().to_owned(),
        login,
        agency_id,
        status: STATUS_PENDING_TOTP.to_owned(),
        password_hash,
        password_changed_at: now,
        totp_secret: Some(sealed_secret),
        totp_last_step: None,
        wrapped_data_key: wrapped.bytes,
        master_key_id: wrapped.master_key_id.as_str().to_owned(),
        profile: Some(sealed_profile),
        created_at: now,
        updated_at: now,
    })
}

/// Registers a citizen. Every field problem is reported at once; a national ID number that
/// already has an account is refused with `national_id_taken`.
/// No address throttle: for seeding and tools; the sign-up form uses [`register_from`].
pub async fn register(
    state: &AppState,
    input: RegistrationInput,
) -> Result<account::Model, AppError> {
    register_from(state, input, None).await
}

/// [`register`] on behalf of a client address: every attempt from that address counts
/// against it (`register:` key, checked and counted atomically before anything else), so the
/// form cannot be used to test at speed which numbers have accounts.
pub async fn register_from(
    state: &AppState,
    input: RegistrationInput,
    client_ip: Option<&str>,
) -> Result<account::Model, AppError> {
    if let Some(ip) = client_ip {
        Reserved::attempt(state, vec![registration_key(ip)])
            .await?
            .failed();
    }
    let today = state.clock.now().date_naive();
    let mut problems: Vec<FieldError> = Vec::new();
    let national_id = NationalId::parse(&input.national_id)
        .map_err(|p| problems.push(field_error(p)))
        .ok();
    let full_name = FullName::parse(&input.full_name)
        .map_err(|p| problems.push(field_error(p)))
        .ok();
    let birth_date = BirthDate::parse(&input.birth_date, today)
        .map_err(|p| problems.push(field_error(p)))
        .ok();
    // The number's century and year digits must agree with the date of birth.
    if let (Some(id), Some(date)) = (&national_id, &birth_date)
        && let Err(p) = id.matches_birth_date(date.date())
    {
        problems.push(field_error(p));
    }
    let phone = PhoneNumber::parse(&input.phone)
        .map_err(|p| problems.push(field_error(p)))
        .ok();
    let email = if input.email.trim().is_empty() {
        None
    } else {
        Email::parse(&input.email)
            .map_err(|p| problems.push(field_error(p)))
            .ok()
    };
    let mut personal: Vec<String> = Vec::new();
    if let Some(id) = &national_id {
        personal.push(id.as_str().to_owned());
    }
    if let Some(p) = &phone {
        personal.push(p.as_str().to_owned());
    }
    let personal_refs: Vec<&str> = personal.iter().map(String::as_str).collect();
    if let Err(p) = password::check_policy(&input.password, &personal_refs) {
        problems.push(field_error(p));
    } else if *input.password != *input.password_confirm {
        problems.push(FieldError {
            field: "password_confirm",
            code: "password_mismatch",
        });
    }
    if let Some(id) = &national_id
        && repo::login_exists(&state.db, id.as_str()).await?
    {
        problems.push(FieldError {
            field: "national_id",
            code: "national_id_taken",
        });
    }
    let (Some(national_id), Some(full_name), Some(birth_date), Some(phone), true) = (
        national_id,
        full_name,
        birth_date,
        phone,
        problems.is_empty(),
    ) else {
        return Err(invalid(problems));
    };

    let hash = hash_new_password(state, input.password.clone()).await?;
    let profile = Profile {
        full_name: full_name.as_str().to_owned(),
        birth_date: Some(birth_date.date()),
        phone: Some(phone.as_str().to_owned()),
        email: email.map(|e| e.as_str().to_owned()),
    };
    let row = new_account(
        state,
        Role::Citizen,
        national_id.as_str().to_owned(),
        None,
        hash,
        &profile,
    )?;
    if let Err(error) = repo::insert(&state.db, row.clone()).await {
        // Lost a race with another registration of the same number.
        if repo::login_exists(&state.db, national_id.as_str()).await? {
            return Err(invalid(vec![FieldError {
                field: "national_id",
                code: "national_id_taken",
            }]));
        }
        return Err(error.into());
    }
    Ok(row)
}

/// Creates a staff or operator account with a random initial password (returned once, for the
/// creator to hand over). The account must enrol TOTP at first login.
pub async fn create_staff_account(
    state: &AppState,
    role: Role,
    login: &str,
    full_name: &str,
    agency_id: Option<Uuid>,
) -> Result<(account::Model, Zeroizing<String>), AppError> {
    let mut problems = Vec::new();
    let login = LoginName::parse(login)
        .map_err(|p| problems.push(field_error(p)))
        .ok();
    let full_name = FullName::parse(full_name)
        .map_err(|p| problems.push(field_error(p)))
        .ok();
    if let Some(login) = &login
        && repo::login_exists(&state.db, login.as_str()).await?
    {
        problems.push(FieldError {
            field: "login",
            code: "login_taken",
        });
    }
    let (Some(login), Some(full_name), true) = (login, full_name, problems.is_empty()) else {
        return Err(invalid(problems));
    };
    let initial = initial_password()?;
    let hash = hash_new_password(state, initial.clone()).await?;
    let profile = Profile {
        full_name: full_name.as_str().to_owned(),
        birth_date: None,
        phone: None,
        email: None,
    };
    let row = new_account(
        state,
        role,
        login.as_str().to_owned(),
        agency_id,
        hash,
        &profile,
    )?;
    repo::insert(&state.db, row.clone()).await?;
    Ok((row, initial))
}

/// 16 characters from an unambiguous alphabet, grouped for reading aloud.
fn initial_password() -> Result<Zeroizing<String>, AppError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = Zeroizing::new([0u8; 16]);
    getrandom::fill(bytes.as_mut()).map_err(AppError::internal)?;
    let mut out = Zeroizing::new(String::with_capacity(19));
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
    }
    Ok(out)
}

/// Throttling: per login name (known or not, hashed so the key reveals nothing) and per client
/// address, with a more lenient policy for addresses (many people share one behind NAT). A
/// browser with a valid device cookie for the account is throttled under its own key instead
/// (see [`super::device`]).
pub fn login_key(login: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"congdanso/v1/throttle-login")
        .chain_update(normalize_login(login).as_bytes())
        .finalize();
    format!("login:{}", hex::encode(&digest[..16]))
}

/// Login names are matched case-insensitively: staff names are stored lowercase
/// (`LoginName`), national ID numbers are digits, so lowercasing the input is the match.
pub fn normalize_login(login: &str) -> String {
    login.trim().to_ascii_lowercase()
}

pub fn ip_key(ip: Option<&str>) -> Option<String> {
    ip.map(|ip| format!("ip:{ip}"))
}

pub fn second_factor_key(account_id: Uuid) -> String {
    format!("2fa:{account_id}")
}

/// Registration attempts per client address (every attempt counts, success or not).
pub fn registration_key(ip: &str) -> String {
    format!("register:{ip}")
}

/// Registration attempts one address gets per window before the lockouts start: enough for a
/// family or a ward office helping people sign up, far too few to probe which national ID
/// numbers have accounts.
pub const REGISTRATION_FREE_ATTEMPTS: u32 = 20;

fn policy_for(key: &str) -> ThrottlePolicy {
    if key.starts_with("ip:") {
        ThrottlePolicy {
            free_failures: 20,
            ..ThrottlePolicy::default()
        }
    } else if key.starts_with("register:") {
        ThrottlePolicy {
            free_failures: REGISTRATION_FREE_ATTEMPTS,
            base_lockout: chrono::Duration::minutes(1),
            ..ThrottlePolicy::default()
        }
    } else {
        ThrottlePolicy::default()
    }
}

fn lockout_kind(key: &str) -> &'static str {
    match key.split_once(':').map(|(kind, _)| kind) {
        Some("ip") => "ip",
        Some("register") => "registration",
        Some("device") => "device",
        _ => "account",
    }
}

fn throttle_state(row: Option<&entity::throttle::Model>, now: DateTime<Utc>) -> ThrottleState {
    match row {
        Some(row) => ThrottleState {
            failures: u32::try_from(row.failures).unwrap_or(0),
            window_started_at: row.window_started_at,
            locked_until: row.locked_until,
        },
        None => ThrottleState {
            failures: 0,
            window_started_at: now,
            locked_until: None,
        },
    }
}

fn throttle_row(key: &str, state: ThrottleState, now: DateTime<Utc>) -> entity::throttle::Model {
    entity::throttle::Model {
        key: key.to_owned(),
        failures: i32::try_from(state.failures).unwrap_or(i32::MAX),
        window_started_at: state.window_started_at,
        locked_until: state.locked_until,
        updated_at: now,
    }
}

/// Compare-and-set rounds before giving up. Each round that fails means another request's
/// write landed, and once a key locks nobody writes it, so a handful of rounds always suffices
/// in practice; giving up refuses the attempt (fails closed).
const CAS_ROUNDS: usize = 64;

/// Counts one attempt against `key` before anything is verified, atomically (compare-and-set
/// on the row's state, in the database, so it holds across instances). Refused with
/// `rate_limited` while the key is locked; a refused attempt counts nowhere.
async fn count_attempt(state: &AppState, key: &str) -> Result<(), AppError> {
    let policy = policy_for(key);
    for _ in 0..CAS_ROUNDS {
        let now = state.clock.now();
        let row = repo::find_throttle(&state.db, key).await?;
        let before = throttle_state(row.as_ref(), now);
        if let Err(retry) = before.check(now) {
            state.metrics.record_login("blocked");
            return Err(AppError::RateLimited {
                retry_after: retry.to_std(),
            });
        }
        let after = before.record_failure(now, &policy);
        if repo::compare_and_set_throttle(&state.db, row.as_ref(), throttle_row(key, after, now))
            .await?
        {
            if after.locked_until.is_some() && after.locked_until != before.locked_until {
                state.metrics.record_lockout(lockout_kind(key));
            }
            return Ok(());
        }
    }
    Err(AppError::RateLimited {
        retry_after: std::time::Duration::from_secs(1),
    })
}

/// Takes back one count from `key` (an attempt counted in advance that succeeded, or that was
/// never verified). Best effort: losing every round leaves one count too many, never too few.
async fn refund_attempt(state: &AppState, key: &str) -> Result<(), AppError> {
    let policy = policy_for(key);
    for _ in 0..CAS_ROUNDS {
        let now = state.clock.now();
        let Some(row) = repo::find_throttle(&state.db, key).await? else {
            return Ok(());
        };
        let after = throttle_state(Some(&row), now).refund(&policy);
        if repo::compare_and_set_throttle(&state.db, Some(&row), throttle_row(key, after, now))
            .await?
        {
            return Ok(());
        }
    }
    Ok(())
}

/// Attempts counted in advance against a list of keys, to settle once the outcome is known.
/// The first key is the subject's (login name, device, account's second factor); a success
/// clears it. The others (the client address) get their count back on success. A failure
/// settles by leaving every count in place.
#[must_use]
pub struct Reserved {
    keys: Vec<String>,
}

impl Reserved {
    /// Counts one attempt against each key in turn; if one is locked, the counts already made
    /// are taken back and the attempt is refused with `rate_limited`.
    pub async fn attempt(state: &AppState, keys: Vec<String>) -> Result<Self, AppError> {
        for (i, key) in keys.iter().enumerate() {
            if let Err(error) = count_attempt(state, key).await {
                for done in &keys[..i] {
                    refund_attempt(state, done).await?;
                }
                return Err(error);
            }
        }
        Ok(Self { keys })
    }

    /// The attempt succeeded.
    pub async fn succeeded(self, state: &AppState) -> Result<(), AppError> {
        let mut keys = self.keys.iter();
        if let Some(subject) = keys.next() {
            repo::clear_throttle(&state.db, subject).await?;
        }
        for other in keys {
            refund_attempt(state, other).await?;
        }
        Ok(())
    }

    /// The attempt was never judged (the service was busy): every count is taken back.
    pub async fn not_judged(self, state: &AppState) -> Result<(), AppError> {
        for key in &self.keys {
            refund_attempt(state, key).await?;
        }
        Ok(())
    }

    /// The attempt failed: its counts stay.
    pub fn failed(self) {}
}

impl From<password::PoolError> for AppError {
    fn from(error: password::PoolError) -> Self {
        match error {
            password::PoolError::Busy { retry_after } => AppError::ServiceBusy { retry_after },
            other => AppError::internal(other),
        }
    }
}

/// Hashes a new password through the bounded pool.
async fn hash_new_password(
    state: &AppState,
    password: Zeroizing<String>,
) -> Result<String, AppError> {
    Ok(state.passwords.hash(password).await?)
}

/// Checks a login name and password. Unknown logins take as long as known ones and get the same
/// answer, `invalid_credentials`, so the form reveals nothing about which accounts exist.
///
/// The attempt is counted before the hash is computed (see [`Reserved`]). `device` is the
/// browser's device cookie, if any: valid for this account, it replaces the login-name and
/// address keys with its own. A hash made with older parameters is re-made and stored after a
/// successful check.
pub async fn check_password_login(
    state: &AppState,
    login: &str,
    password: Zeroizing<String>,
    staff_side: bool,
    client_ip: Option<&str>,
    device: Option<&str>,
) -> Result<account::Model, AppError> {
    let login = normalize_login(login);
    let now = state.clock.now();
    let account = repo::find_by_login(&state.db, &login).await?;
    let account = account.filter(|a| {
        Role::parse(&a.role).is_some_and(|r| r.is_staff_side() == staff_side)
            && a.status != "disabled"
    });
    let device_key = account
        .as_ref()
        .zip(device)
        .and_then(|(a, cookie)| super::device::throttle_key(state, cookie, a.id, now));
    let keys = match device_key {
        Some(key) => vec![key],
        None => std::iter::once(login_key(&login))
            .chain(ip_key(client_ip))
            .collect(),
    };
    let reserved = Reserved::attempt(state, keys).await?;

    let verified = match &account {
        Some(account) => {
            state
                .passwords
                .verify(password.clone(), account.password_hash.clone())
                .await
        }
        None => state
            .passwords
            .verify_dummy(password.clone())
            .await
            .map(|()| false),
    };
    let ok = match verified {
        Ok(ok) => ok,
        Err(error) => {
            reserved.not_judged(state).await?;
            return Err(error.into());
        }
    };
    match (ok, account) {
        (true, Some(account)) => {
            reserved.succeeded(state).await?;
            state.metrics.record_login("password_ok");
            upgrade_hash_if_outdated(state, &account, password).await;
            Ok(account)
        }
        _ => {
            reserved.failed();
            state.metrics.record_login("password_failed");
            Err(AppError::invalid(
                "invalid_credentials",
                "the login or password is not correct",
            ))
        }
    }
}

/// After a successful check against a hash with outdated parameters: re-hash the password now
/// held and store it (only over the hash just verified). Never fails the login: when the pool
/// is busy or the write fails, the next login tries again.
async fn upgrade_hash_if_outdated(
    state: &AppState,
    account: &account::Model,
    password: Zeroizing<String>,
) {
    if !password::needs_rehash(&account.password_hash) {
        return;
    }
    let outcome = match state.passwords.hash(password).await {
        Ok(hash) => repo::upgrade_password_hash(
            &state.db,
            account.id,
            &account.password_hash,
            hash,
            state.clock.now(),
        )
        .await
        .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match outcome {
        Ok(_) => {
            tracing::info!(account = %account.id, "password hash upgraded to current parameters")
        }
        Err(cause) => {
            tracing::warn!(account = %account.id, %cause, "password hash upgrade postponed")
        }
    }
}

/// The client address a second-factor attempt at login is throttled under: none for a browser
/// holding a valid device cookie for the account (a stranger who locked the shared address must
/// not lock the citizen's own phone out at this step either), else the request's. The
/// account's own second-factor key applies in both cases.
pub fn second_factor_address<'a>(
    state: &AppState,
    account_id: Uuid,
    client_ip: Option<&'a str>,
    device: Option<&str>,
) -> Option<&'a str> {
    let known = device.and_then(|cookie| {
        super::device::throttle_key(state, cookie, account_id, state.clock.now())
    });
    if known.is_some() { None } else { client_ip }
}

/// Which second factor was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Totp,
    RecoveryCode,
}

/// Which second factors a check accepts: logging in takes a recovery code too; sensitive
/// actions (step-up, password change) take only a TOTP code, so no recovery code is spent there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    TotpOrRecoveryCode,
    TotpOnly,
}

/// Checks a TOTP code (current step ±1, never a step already used) or, when `accept` allows,
/// a single-use recovery code. Throttled per account and per address.
pub async fn verify_second_factor(
    state: &AppState,
    account: &account::Model,
    code: &str,
    accept: Accept,
    client_ip: Option<&str>,
) -> Result<SecondFactor, AppError> {
    let keys = std::iter::once(second_factor_key(account.id))
        .chain(ip_key(client_ip))
        .collect();
    let reserved = Reserved::attempt(state, keys).await?;
    let now = state.clock.now();

    let secret = totp_secret(state, account)?;
    match totp::verify(&secret, code, now, account.totp_last_step) {
        Ok(step) => {
            if repo::advance_totp_step(&state.db, account.id, step, now).await? {
                reserved.succeeded(state).await?;
                state.metrics.record_login("second_factor_ok");
                return Ok(SecondFactor::Totp);
            }
            // Another request used this step first.
            return refuse_code(state, reserved, "code_replayed");
        }
        Err(totp::TotpRejection::Replayed) => {
            return refuse_code(state, reserved, "code_replayed");
        }
        Err(_) => {}
    }

    if let Some(normalized) = recovery::normalize(code) {
        // Shaped like a recovery code: say so when it cannot be used here, or was used already,
        // rather than "wrong or expired" (which is about app codes).
        if accept == Accept::TotpOnly {
            return refuse_code(state, reserved, "recovery_code_not_accepted");
        }
        for stored in repo::unused_recovery_codes(&state.db, account.id).await? {
            if recovery::matches(&normalized, &stored.code_hash)
                && repo::use_recovery_code(&state.db, stored.id, now).await?
            {
                reserved.succeeded(state).await?;
                state.metrics.record_login("recovery_code_ok");
                return Ok(SecondFactor::RecoveryCode);
            }
        }
        if repo::recovery_code_was_used(&state.db, account.id, &recovery::hash(&normalized)).await?
        {
            return refuse_code(state, reserved, "recovery_code_used");
        }
    }
    refuse_code(state, reserved, "code_invalid")
}

fn refuse_code<T>(state: &AppState, reserved: Reserved, code: &'static str) -> Result<T, AppError> {
    reserved.failed();
    state.metrics.record_login("second_factor_failed");
    Err(invalid(vec![FieldError {
        field: "code",
        code,
    }]))
}

/// Confirms TOTP enrolment with a first valid code; the account becomes active and gets its
/// recovery codes, which are returned once and stored only hashed.
///
/// Nothing is written to the access log here: enrolment completes the account's creation (or
/// a staff account's first login), so this first authenticator, first set of recovery codes and
/// first known browser are the account's start, not a change to it (changing the app later is [`change_authenticator`]).
pub async fn confirm_enrolment(
    state: &AppState,
    account: &account::Model,
    code: &str,
    client_ip: Option<&str>,
) -> Result<Vec<String>, AppError> {
    let keys = std::iter::once(second_factor_key(account.id))
        .chain(ip_key(client_ip))
        .collect();
    let reserved = Reserved::attempt(state, keys).await?;
    let now = state.clock.now();
    let secret = totp_secret(state, account)?;
    match totp::verify(&secret, code, now, account.totp_last_step) {
        Ok(step) => {
            repo::activate_totp(&state.db, account.id, step, now).await?;
            reserved.succeeded(state).await?;
            let (shown, hashes) = fresh_recovery_codes()?;
            repo::replace_recovery_codes(&state.db, account.id, hashes, now).await?;
            Ok(shown)
        }
        Err(totp::TotpRejection::Replayed) => refuse_code(state, reserved, "code_replayed"),
        Err(_) => refuse_code(state, reserved, "code_invalid"),
    }
}

/// A new set of recovery codes: the formatted codes to show once, and the hashes to store.
fn fresh_recovery_codes() -> Result<(Vec<String>, Vec<String>), AppError> {
    let codes = recovery::generate().map_err(AppError::internal)?;
    let shown = codes.iter().map(|c| c.formatted()).collect();
    let hashes = codes.iter().map(|c| c.hash()).collect();
    Ok((shown, hashes))
}

/// A security alert to the account's owner (always sent on every channel they have), queued in
/// the event's transaction. Links to their access log, where the event is listed.
async fn security_alert(
    txn: &impl sea_orm::ConnectionTrait,
    now: chrono::DateTime<chrono::Utc>,
    account: Uuid,
    kind: crate::notify::model::Kind,
) -> Result<(), AppError> {
    crate::notify::service::notify(
        txn,
        now,
        account,
        kind,
        serde_json::json!({ "link": "/access-log" }),
    )
    .await?;
    Ok(())
}

/// The access-log entry of an event on the account itself, by its owner in their own session.
/// Staff and operator accounts log their own account events the same way, into their own
/// chain: the actor kind is `citizen` (the account acting for itself) for them too.
fn account_event(account_id: Uuid, action: Action) -> Entry {
    Entry::by_owner(account_id, action, Object::Account)
}

/// Replaces the account's recovery codes (the old ones stop working) and logs
/// `RecoveryCodesRegenerate`, in one transaction; returns the new codes for showing once.
pub async fn new_recovery_codes(
    state: &AppState,
    account_id: Uuid,
) -> Result<Vec<String>, AppError> {
    let (shown, hashes) = fresh_recovery_codes()?;
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    repo::replace_recovery_codes(&txn, account_id, hashes, now).await?;
    crate::audit::append(
        &txn,
        now,
        &account_event(account_id, Action::RecoveryCodesRegenerate),
    )
    .await?;
    txn.commit().await?;
    Ok(shown)
}

/// Completes a login whose second factor was just accepted: the pending session is promoted to
/// a full one (new token), and when the browser holds no valid device cookie for the account
/// (`known_device` false) `LoginNewDevice` is logged, in the same transaction: if the entry
/// cannot be written, nobody is logged in. A repeat login from a known browser writes nothing.
pub async fn complete_login(
    state: &AppState,
    pending: &session_row::Model,
    client: &ClientInfo,
    known_device: bool,
) -> Result<NewSession, AppError> {
    let txn = state.db.begin().await?;
    let new = session::promote_on(&txn, state, pending, Stage::Full, client).await?;
    if !known_device {
        crate::audit::append(
            &txn,
            state.clock.now(),
            &account_event(pending.account_id, Action::LoginNewDevice),
        )
        .await?;
        security_alert(
            &txn,
            state.clock.now(),
            pending.account_id,
            crate::notify::model::Kind::LoginNewBrowser,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(new)
}

/// Writes the `SessionsEnd` entry for sessions already ended. Ending a session takes access
/// away, so it never waits for the log: the sessions end first (their own statement), and an
/// entry that cannot be written is reported in the server log instead of keeping a session
/// alive the citizen wanted gone (on a shared computer, say). The one exception to "the action
/// and its entry commit together", written down in docs/SECURITY.md.
async fn log_sessions_ended(
    state: &AppState,
    account_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) {
    if let Err(error) =
        crate::audit::service::record(state, now, &account_event(account_id, Action::SessionsEnd))
            .await
    {
        tracing::error!(%error, account = %account_id, "sessions ended but their access-log entry could not be written");
    }
}

/// Logs out: ends the session behind the cookie. A full session's logout is logged as
/// `SessionsEnd`; a half-finished login (password given, second factor not yet) is ended
/// without an entry, since nobody proved to be the account's owner. A session that had ended
/// already writes nothing.
pub async fn log_out(state: &AppState, current: &session_row::Model) -> Result<(), AppError> {
    let now = state.clock.now();
    let ended = crate::auth::repo::end(&state.db, current.id, now).await?;
    if ended && Stage::parse(&current.stage) == Some(Stage::Full) {
        log_sessions_ended(state, current.account_id, now).await;
    }
    Ok(())
}

/// Ends one live session of the account (from the account page's list) and logs
/// `SessionsEnd`. `NotFound` when it is not the account's or has ended.
pub async fn end_session(
    state: &AppState,
    account_id: Uuid,
    session_id: Uuid,
) -> Result<(), AppError> {
    let now = state.clock.now();
    if !crate::auth::repo::end_for_account(&state.db, account_id, session_id, now).await? {
        return Err(AppError::NotFound);
    }
    log_sessions_ended(state, account_id, now).await;
    Ok(())
}

/// Ends every live session of the account, the current one included ("log out everywhere"),
/// and logs `SessionsEnd` once.
pub async fn end_all_sessions(state: &AppState, account_id: Uuid) -> Result<(), AppError> {
    let now = state.clock.now();
    if crate::auth::repo::end_all_for_account(&state.db, account_id, now).await? > 0 {
        log_sessions_ended(state, account_id, now).await;
    }
    Ok(())
}

/// Changes the password after a fresh TOTP code; every other session of the account ends.
/// The new hash, the ended sessions and the `PasswordChange` entry commit together: if the
/// entry cannot be written, the old password stays and no session ends.
pub async fn change_password(
    state: &AppState,
    account: &account::Model,
    current_session: Uuid,
    code: &str,
    new_password: Zeroizing<String>,
    confirm: Zeroizing<String>,
    client_ip: Option<&str>,
) -> Result<(), AppError> {
    let profile = profile(state, account)?;
    let mut personal: Vec<String> = vec![account.login.clone()];
    if let Some(phone) = profile.as_ref().and_then(|p| p.phone.clone()) {
        personal.push(phone);
    }
    let personal_refs: Vec<&str> = personal.iter().map(String::as_str).collect();
    let mut problems = Vec::new();
    if let Err(p) = password::check_policy(&new_password, &personal_refs) {
        problems.push(field_error(p));
    } else if *new_password != *confirm {
        problems.push(FieldError {
            field: "password_confirm",
            code: "password_mismatch",
        });
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    verify_second_factor(state, account, code, Accept::TotpOnly, client_ip).await?;
    let hash = hash_new_password(state, new_password).await?;
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    repo::set_password(&txn, account.id, hash, now).await?;
    for other in crate::auth::repo::live_for_account(&txn, account.id, now).await? {
        if other.id != current_session {
            crate::auth::repo::end(&txn, other.id, now).await?;
        }
    }
    crate::audit::append(
        &txn,
        now,
        &account_event(account.id, Action::PasswordChange),
    )
    .await?;
    security_alert(
        &txn,
        now,
        account.id,
        crate::notify::model::Kind::PasswordChanged,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Where a new authenticator secret offered to one session is sealed: bound to the account and
/// that session, so the offer (a hidden form field) opens nowhere else and cannot be chosen by
/// the browser.
fn offer_context(account_id: Uuid, session_id: Uuid) -> FieldContext {
    FieldContext {
        owner: account_id,
        record: session_id,
        field: "totp_secret_offer",
    }
}

/// A new authenticator secret for the "change authenticator app" page, and its offer: the
/// secret sealed under the account's data key for this session (URL-safe base64), which the
/// form sends back with the first code. Nothing is stored until that code is confirmed.
pub fn offer_authenticator(
    state: &AppState,
    account: &account::Model,
    session_id: Uuid,
) -> Result<(totp::TotpSecret, String), AppError> {
    use base64::Engine;
    let secret = totp::TotpSecret::generate().map_err(AppError::internal)?;
    let key = data_key(state, account)?;
    let sealed = crypto::seal_field(
        &key,
        &offer_context(account.id, session_id),
        secret.as_bytes(),
    )
    .map_err(crypto_error)?;
    Ok((
        secret,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed),
    ))
}

/// The secret inside an offer made by [`offer_authenticator`] to this account and session;
/// `NotFound` for anything else (edited, another session's, not an offer).
pub fn open_authenticator_offer(
    state: &AppState,
    account: &account::Model,
    session_id: Uuid,
    offer: &str,
) -> Result<totp::TotpSecret, AppError> {
    use base64::Engine;
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(offer.trim())
        .map_err(|_| AppError::NotFound)?;
    let key = data_key(state, account)?;
    let bytes = crypto::open_field(&key, &offer_context(account.id, session_id), &sealed)
        .map_err(|_| AppError::NotFound)?;
    totp::TotpSecret::from_bytes(bytes.to_vec()).map_err(|_| AppError::NotFound)
}

/// Changes the authenticator app: the first code of the offered secret must be valid (and its
/// step newer than any code accepted before); then the new secret replaces the old one and
/// `SecondFactorChange` is logged, in one transaction. Codes of the old app stop working at
/// once. Throttled like every second-factor check. The caller asks for a fresh step-up first
/// (a code of the old app), so a stolen session alone cannot swap the authenticator.
pub async fn change_authenticator(
    state: &AppState,
    account: &account::Model,
    session_id: Uuid,
    offer: &str,
    code: &str,
    client_ip: Option<&str>,
) -> Result<(), AppError> {
    let secret = open_authenticator_offer(state, account, session_id, offer)?;
    let keys = std::iter::once(second_factor_key(account.id))
        .chain(ip_key(client_ip))
        .collect();
    let reserved = Reserved::attempt(state, keys).await?;
    let now = state.clock.now();
    let step = match totp::verify(&secret, code, now, account.totp_last_step) {
        Ok(step) => step,
        Err(totp::TotpRejection::Replayed) => {
            return refuse_code(state, reserved, "code_replayed");
        }
        Err(_) => return refuse_code(state, reserved, "code_invalid"),
    };
    let key = data_key(state, account)?;
    let sealed = crypto::seal_field(
        &key,
        &field_context(account.id, "totp_secret"),
        secret.as_bytes(),
    )
    .map_err(crypto_error)?;
    let txn = state.db.begin().await?;
    if !repo::replace_totp(&txn, account.id, sealed, step, now).await? {
        txn.rollback().await?;
        return refuse_code(state, reserved, "code_replayed");
    }
    crate::audit::append(
        &txn,
        now,
        &account_event(account.id, Action::SecondFactorChange),
    )
    .await?;
    security_alert(
        &txn,
        now,
        account.id,
        crate::notify::model::Kind::SecondFactorChanged,
    )
    .await?;
    txn.commit().await?;
    reserved.succeeded(state).await?;
    Ok(())
}

/// A masked national ID for display and for the authenticator label (never the full number).
pub fn masked_login(account: &account::Model) -> String {
    match NationalId::parse_stored(&account.login) {
        Ok(id) => id.masked(),
        Err(_) => account.login.clone(),
    }
}
