//! Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies").
//!
//! After a browser completes a login (password and second factor, or TOTP enrolment), it gets a
//! cookie saying "this browser has logged in to account A before", signed with HMAC-SHA256 under
//! a key derived from the master key, with an expiry. A later login to A that presents a valid cookie is
//! throttled under its own key (`device:…`), so a stranger who locks A's login name or the
//! shared address cannot lock out the citizen on their own phone; failures from that cookie
//! count against that device only. A missing, forged, expired or foreign cookie (another
//! account's) makes the request a stranger's: the name and address throttles apply.
//!
//! Value: `v1.<account id, 32 hex>.<expiry, unix seconds>.<nonce, 16 bytes base64url>.<mac>`,
//! the MAC over everything before it. The throttle key is a hash of the nonce, so each issued
//! cookie has its own counter. Rotating the master key invalidates every device cookie (they
//! become strangers again, nothing worse).

use actix_web::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::AppError;
use crate::state::AppState;

pub const DEVICE_COOKIE: &str = "cds_device";

/// How long a browser stays known after its last complete login.
pub const LIFETIME: Duration = Duration::days(180);

const VERSION: &str = "v1";
const NONCE_LEN: usize = 16;

fn mac_key(state: &AppState) -> Result<Zeroizing<[u8; 32]>, AppError> {
    crate::crypto::hkdf_sha256(
        None,
        state.keys.master.expose_secret(),
        &[b"congdanso/v1/device-cookie"],
    )
    .map_err(|e| AppError::internal(format!("device cookie key: {e}")))
}

fn mac(key: &[u8; 32], signed: &str) -> Result<Hmac<Sha256>, AppError> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(AppError::internal)?;
    mac.update(signed.as_bytes());
    Ok(mac)
}

/// A fresh signed cookie value for `account_id`, valid for [`LIFETIME`] from `now`.
pub fn issue(state: &AppState, account_id: Uuid, now: DateTime<Utc>) -> Result<String, AppError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(AppError::internal)?;
    let expires = (now + LIFETIME).timestamp();
    let signed = format!(
        "{VERSION}.{}.{expires}.{}",
        account_id.simple(),
        URL_SAFE_NO_PAD.encode(nonce)
    );
    let tag = mac(&*mac_key(state)?, &signed)?.finalize().into_bytes();
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag)))
}

/// The throttle key of a valid, unexpired cookie issued for `account_id`; `None` for anything
/// else (the caller then treats the request as a stranger's).
pub fn throttle_key(
    state: &AppState,
    value: &str,
    account_id: Uuid,
    now: DateTime<Utc>,
) -> Option<String> {
    let (signed, tag) = value.rsplit_once('.')?;
    let mut parts = signed.split('.');
    let (Some(VERSION), Some(account), Some(expires), Some(nonce), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    let key = mac_key(state).ok()?;
    mac(&key, signed).ok()?.verify_slice(&tag).ok()?;
    if Uuid::try_parse(account).ok()? != account_id {
        return None;
    }
    if DateTime::from_timestamp(expires.parse().ok()?, 0)? <= now {
        return None;
    }
    let digest = Sha256::new()
        .chain_update(b"congdanso/v1/throttle-device")
        .chain_update(nonce.as_bytes())
        .finalize();
    Some(format!("device:{}", hex::encode(&digest[..16])))
}

/// Whether `value` is a valid, unexpired device cookie issued for `account_id`: the browser
/// has completed a login to this account before (a login without one is logged as from a new
/// device).
pub fn is_known(state: &AppState, value: &str, account_id: Uuid, now: DateTime<Utc>) -> bool {
    throttle_key(state, value, account_id, now).is_some()
}

/// The cookie carrying `value`: HTTP-only, same-site, for the whole site.
pub fn cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(DEVICE_COOKIE, value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(
            LIFETIME.num_seconds(),
        ))
        .finish()
}
