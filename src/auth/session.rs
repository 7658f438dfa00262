//! Session rules: start, load (with idle and absolute timeouts), promote after the second factor
//! (with a new token, so a token seen before login is worthless after), step-up, end.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::session;
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::repo;
use crate::error::AppError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "cds_session";
/// `last_seen_at` is written at most this often, to spare the database a write per request.
const TOUCH_EVERY_SECS: i64 = 60;

/// How far a session has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Password accepted; a TOTP or recovery code is still needed.
    SecondFactor,
    /// Password accepted, but the account has not set up TOTP yet.
    Enrolment,
    /// Fully logged in.
    Full,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::SecondFactor => "second_factor",
            Stage::Enrolment => "enrolment",
            Stage::Full => "full",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "second_factor" => Some(Stage::SecondFactor),
            "enrolment" => Some(Stage::Enrolment),
            "full" => Some(Stage::Full),
            _ => None,
        }
    }
}

/// Where a request came from, recorded on the session so the citizen can recognise it.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The TCP peer address (proxy headers are not trusted) and a shortened user agent.
    pub fn of(req: &HttpRequest) -> Self {
        Self {
            ip: req.peer_addr().map(|a| a.ip().to_string()),
            user_agent: req
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| ua.chars().take(250).collect()),
        }
    }
}

/// A session just created: the token goes into the cookie and nowhere else.
pub struct NewSession {
    pub id: Uuid,
    pub token: String,
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(AppError::internal)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Starts a session for an account at the given stage.
pub async fn start(
    state: &AppState,
    account_id: Uuid,
    stage: Stage,
    client: &ClientInfo,
) -> Result<NewSession, AppError> {
    start_on(&state.db, state, account_id, stage, client).await
}

/// [`start`] on `conn` (the caller's transaction, when the session is part of a larger action).
pub async fn start_on(
    conn: &impl ConnectionTrait,
    state: &AppState,
    account_id: Uuid,
    stage: Stage,
    client: &ClientInfo,
) -> Result<NewSession, AppError> {
    let now = state.clock.now();
    let token = new_token()?;
    let id = Uuid::now_v7();
    let absolute =
        chrono::Duration::from_std(state.config.session_absolute).map_err(AppError::internal)?;
    repo::insert(
        conn,
        session::Model {
            id,
            token_hash: hash_token(&token),
            account_id,
            stage: stage.as_str().to_owned(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + absolute,
            step_up_until: None,
            ip_address: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            ended_at: None,
        },
    )
    .await?;
    Ok(NewSession { id, token })
}

/// Ends `current` and starts a new session at `stage` for the same account, with a new token.
pub async fn promote(
    state: &AppState,
    current: &session::Model,
    stage: Stage,
    client: &ClientInfo,
) -> Result<NewSession, AppError> {
    promote_on(&state.db, state, current, stage, client).await
}

/// [`promote`] on `conn` (the caller's transaction). Refused with `Unauthenticated` when
/// `current` has ended meanwhile (another request promoted or ended it first), so one pending
/// session becomes at most one new session.
pub async fn promote_on(
    conn: &impl ConnectionTrait,
    state: &AppState,
    current: &session::Model,
    stage: Stage,
    client: &ClientInfo,
) -> Result<NewSession, AppError> {
    if !repo::end(conn, current.id, state.clock.now()).await? {
        return Err(AppError::Unauthenticated);
    }
    start_on(conn, state, current.account_id, stage, client).await
}

/// The live session behind a cookie token, or `None` when there is none or it has timed out
/// (a timed-out session is ended on the spot).
pub async fn load(state: &AppState, token: &str) -> Result<Option<session::Model>, AppError> {
    if token.is_empty() || token.len() > 64 {
        return Ok(None);
    }
    let Some(row) = repo::find_live_by_token_hash(&state.db, &hash_token(token)).await? else {
        return Ok(None);
    };
    if !still_live(state, &row).await? {
        return Ok(None);
    }
    Ok(Some(row))
}

/// The live session behind a cookie token with its account, read in one query (the extractors
/// use this: one round trip per request instead of two). Same timeouts as [`load`].
pub async fn load_with_account(
    state: &AppState,
    token: &str,
    with_unread: bool,
) -> Result<Option<(session::Model, entity::account::Model, Option<u64>)>, AppError> {
    if token.is_empty() || token.len() > 64 {
        return Ok(None);
    }
    let Some((row, account, unread)) =
        repo::find_live_with_account(&state.db, &hash_token(token), with_unread).await?
    else {
        return Ok(None);
    };
    if !still_live(state, &row).await? {
        return Ok(None);
    }
    Ok(Some((row, account, unread)))
}

/// Applies the idle and absolute timeouts (ending a timed-out session on the spot) and notes
/// activity at most every [`TOUCH_EVERY_SECS`].
async fn still_live(state: &AppState, row: &session::Model) -> Result<bool, AppError> {
    let now = state.clock.now();
    let idle = chrono::Duration::from_std(state.config.session_idle).map_err(AppError::internal)?;
    if now >= row.expires_at || now >= row.last_seen_at + idle {
        repo::end(&state.db, row.id, now).await?;
        return Ok(false);
    }
    if (now - row.last_seen_at).num_seconds() >= TOUCH_EVERY_SECS {
        repo::touch(&state.db, row.id, now).await?;
    }
    Ok(true)
}

/// True while a recent second-factor code unlocks sensitive actions.
pub fn stepped_up(row: &session::Model, now: DateTime<Utc>) -> bool {
    row.step_up_until.is_some_and(|until| now < until)
}

/// `None` when a fresh second-factor code was given in the last minutes; otherwise the redirect
/// to the step-up page, which sends the person back to `back_to` afterwards.
pub fn step_up_redirect(
    state: &AppState,
    row: &session::Model,
    back_to: &str,
) -> Option<actix_web::HttpResponse> {
    if stepped_up(row, state.clock.now()) {
        return None;
    }
    let next: String = url::form_urlencoded::byte_serialize(back_to.as_bytes()).collect();
    Some(crate::site::see_other(&format!("/step-up?next={next}")))
}

/// Records a fresh second-factor check on the session.
pub async fn grant_step_up(state: &AppState, row: &session::Model) -> Result<(), AppError> {
    let until = state.clock.now()
        + chrono::Duration::from_std(state.config.step_up).map_err(AppError::internal)?;
    repo::set_step_up(&state.db, row.id, until).await?;
    Ok(())
}

/// The session cookie: HttpOnly, SameSite=Lax, Secure unless the service runs on plain http.
pub fn cookie(token: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_owned())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .finish()
}

/// A cookie that makes the browser forget the session.
pub fn removal_cookie(secure: bool) -> Cookie<'static> {
    let mut cookie = cookie("", secure);
    cookie.make_removal();
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_their_hash_is_stored() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), a);
    }

    #[test]
    fn session_cookie_is_locked_down() {
        let c = cookie("tok", true);
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.same_site(), Some(SameSite::Lax));
        assert_eq!(c.path(), Some("/"));
    }
}
