//! The webhook channel: the per-credential signing key (sealed by the platform master key,
//! shown once) and the signed `POST` to the agency's callback URL.
//!
//! Signature: `Congdanso-Webhook-Signature: v1=<hex HMAC-SHA256(key, id "." timestamp "." body)>`
//! where the key is the secret exactly as shown to the agency (`whsec_…`, its UTF-8 bytes).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::crypto::envelope::{DataKey, KeyId, WrappedKey};
use crate::keys::Keyring;

pub const SECRET_PREFIX: &str = "whsec_";
pub const HEADER_ID: &str = "Congdanso-Webhook-Id";
pub const HEADER_TIMESTAMP: &str = "Congdanso-Webhook-Timestamp";
pub const HEADER_SIGNATURE: &str = "Congdanso-Webhook-Signature";

/// A fresh webhook key: the secret to show once, and its wrapped form to store.
pub struct NewKey {
    pub secret: Zeroizing<String>,
    pub wrapped: Vec<u8>,
    pub master_key_id: String,
}

fn secret_of(bytes: &[u8; 32]) -> Zeroizing<String> {
    Zeroizing::new(format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Generates a key for `credential` and wraps it with the current master key, bound to the
/// credential's id (a wrapped key copied to another credential does not open).
pub fn generate_key(keys: &Keyring, credential: Uuid) -> Result<NewKey, String> {
    let bytes = crate::keys::random_key().map_err(|e| e.to_string())?;
    let wrapped = keys
        .master
        .wrap(&DataKey::from_bytes(*bytes), &credential)
        .map_err(|e| format!("wrap webhook key: {e}"))?;
    Ok(NewKey {
        secret: secret_of(&bytes),
        wrapped: wrapped.bytes,
        master_key_id: wrapped.master_key_id.as_str().to_owned(),
    })
}

/// The secret behind a stored wrapped key.
pub fn open_key(
    keys: &Keyring,
    credential: Uuid,
    wrapped: &[u8],
    master_key_id: &str,
) -> Result<Zeroizing<String>, String> {
    let master = keys
        .master_by_id(master_key_id)
        .ok_or_else(|| format!("webhook key wrapped by unknown master key {master_key_id}"))?;
    let wrapped = WrappedKey {
        master_key_id: KeyId::new(master_key_id).map_err(|e| e.to_string())?,
        bytes: wrapped.to_vec(),
    };
    let key = master
        .unwrap(&wrapped, &credential)
        .map_err(|e| format!("unwrap webhook key: {e}"))?;
    Ok(secret_of(key.expose_secret()))
}

fn mac(secret: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable_hmac());
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[allow(clippy::panic)]
fn unreachable_hmac() -> Hmac<Sha256> {
    panic!("HMAC-SHA256 accepts keys of every length")
}

/// The value of the signature header: `v1=<hex>`.
pub fn signature(secret: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    format!(
        "v1={}",
        hex::encode(mac(secret, id, timestamp, body).finalize().into_bytes())
    )
}

/// Whether a signature header is valid for this message (constant-time on the MAC).
pub fn verify(secret: &[u8], id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let expected = signature(secret, id, timestamp, body);
    header
        .split([',', ' '])
        .filter(|part| part.starts_with("v1="))
        .any(|part| bool::from(part.as_bytes().ct_eq(expected.as_bytes())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn signature_verifies_only_with_its_key_and_message() {
        let header = signature(b"whsec_a", "id1", "1700000000", b"{}");
        assert!(header.starts_with("v1=") && header.len() == 3 + 64);
        assert!(verify(b"whsec_a", "id1", "1700000000", b"{}", &header));
        assert!(!verify(b"whsec_b", "id1", "1700000000", b"{}", &header));
        assert!(!verify(b"whsec_a", "id2", "1700000000", b"{}", &header));
        assert!(!verify(b"whsec_a", "id1", "1700000001", b"{}", &header));
        assert!(!verify(b"whsec_a", "id1", "1700000000", b"{ }", &header));
    }

    #[test]
    fn wrapped_key_opens_only_for_its_credential() {
        let keys = Keyring::generate().unwrap();
        let credential = Uuid::now_v7();
        let new = generate_key(&keys, credential).unwrap();
        assert!(new.secret.starts_with(SECRET_PREFIX));
        let opened = open_key(&keys, credential, &new.wrapped, &new.master_key_id).unwrap();
        assert_eq!(*opened, *new.secret);
        assert!(open_key(&keys, Uuid::now_v7(), &new.wrapped, &new.master_key_id).is_err());
    }
}
