//! Sealing small sensitive values (TOTP secrets, document titles, file names)
//! under a citizen's [`DataKey`].
//!
//! Sealed format: `version(1) = 0x01 || nonce(12) || ciphertext(n) || tag(16)`.
//! Key: `HKDF-SHA256(salt = none, ikm = DataKey, info = "congdanso/v1/field-key")`.
//! AAD: `"congdanso/v1/field" || version(1) || owner(16) || record(16) || len(field)(1) || field`.

use uuid::Uuid;
use zeroize::Zeroizing;

use super::{
    CryptoError, NONCE_LEN, Result, TAG_LEN, aes256gcm, hkdf_sha256, open_with_nonce, push_lp8,
    seal_random_nonce,
};
use crate::crypto::envelope::DataKey;

const FIELD_KEY_INFO: &[u8] = b"congdanso/v1/field-key";
const FIELD_AAD_LABEL: &[u8] = b"congdanso/v1/field";
const FIELD_VERSION: u8 = 1;
/// Overhead of a sealed field over its plaintext: version + nonce + tag = 29 bytes.
pub const FIELD_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// Where a sealed value lives. All three parts are authenticated, so a
/// ciphertext copied onto another owner, record or field fails to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldContext {
    /// The citizen owning the value.
    pub owner: Uuid,
    /// The record (row) holding the value.
    pub record: Uuid,
    /// Column / attribute name, e.g. `"totp_secret"`; 1..=255 bytes.
    pub field: &'static str,
}

impl FieldContext {
    fn aad(&self) -> Result<Vec<u8>> {
        if self.field.is_empty() {
            return Err(CryptoError::InvalidContext);
        }
        let mut aad = Vec::with_capacity(FIELD_AAD_LABEL.len() + 1 + 32 + 1 + self.field.len());
        aad.extend_from_slice(FIELD_AAD_LABEL);
        aad.push(FIELD_VERSION);
        aad.extend_from_slice(self.owner.as_bytes());
        aad.extend_from_slice(self.record.as_bytes());
        push_lp8(&mut aad, self.field.as_bytes())?;
        Ok(aad)
    }
}

fn field_cipher(key: &DataKey) -> Result<aes_gcm::Aes256Gcm> {
    let k = hkdf_sha256(None, key.expose_secret(), &[FIELD_KEY_INFO])?;
    aes256gcm(&k)
}

/// Encrypt `plaintext` for `context` with a fresh random nonce.
///
/// # Errors
/// [`CryptoError::InvalidContext`] for an empty or >255-byte field name,
/// [`CryptoError::RandomnessUnavailable`] if the OS RNG fails.
pub fn seal_field(key: &DataKey, context: &FieldContext, plaintext: &[u8]) -> Result<Vec<u8>> {
    let aad = context.aad()?;
    let cipher = field_cipher(key)?;
    let mut out = Vec::with_capacity(FIELD_OVERHEAD + plaintext.len());
    out.push(FIELD_VERSION);
    seal_random_nonce(&cipher, &aad, plaintext, &mut out)?;
    Ok(out)
}

/// Decrypt a value produced by [`seal_field`] for the same key and context.
///
/// # Errors
/// [`CryptoError::UnsupportedFormat`] (unknown version),
/// [`CryptoError::Truncated`] (shorter than 29 bytes),
/// [`CryptoError::Tampered`] (modified, wrong key, or wrong context).
pub fn open_field(
    key: &DataKey,
    context: &FieldContext,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let (&version, rest) = sealed.split_first().ok_or(CryptoError::Truncated)?;
    if version != FIELD_VERSION {
        return Err(CryptoError::UnsupportedFormat);
    }
    if sealed.len() < FIELD_OVERHEAD {
        return Err(CryptoError::Truncated);
    }
    let aad = context.aad()?;
    let cipher = field_cipher(key)?;
    open_with_nonce(&cipher, &aad, rest)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn ctx() -> FieldContext {
        FieldContext {
            owner: Uuid::new_v4(),
            record: Uuid::now_v7(),
            field: "totp_secret",
        }
    }

    #[test]
    fn round_trip_various_lengths() {
        let k = DataKey::generate().unwrap();
        let c = ctx();
        for len in [0usize, 1, 15, 16, 17, 255, 4096] {
            let pt: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let s = seal_field(&k, &c, &pt).unwrap();
            assert_eq!(s.len(), FIELD_OVERHEAD + len);
            assert_eq!(s[0], FIELD_VERSION);
            assert_eq!(open_field(&k, &c, &s).unwrap().as_slice(), pt.as_slice());
        }
    }

    #[test]
    fn nonces_are_fresh() {
        let k = DataKey::generate().unwrap();
        let c = ctx();
        let a = seal_field(&k, &c, b"same").unwrap();
        let b = seal_field(&k, &c, b"same").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn plaintext_not_visible() {
        let k = DataKey::generate().unwrap();
        let s = seal_field(&k, &ctx(), b"JBSWY3DPEHPK3PXP").unwrap();
        assert!(!s.windows(16).any(|w| w == b"JBSWY3DPEHPK3PXP"));
    }

    #[test]
    fn moved_to_other_record_field_or_owner_fails() {
        let k = DataKey::generate().unwrap();
        let c = ctx();
        let s = seal_field(&k, &c, b"secret").unwrap();
        let other_record = FieldContext {
            record: Uuid::now_v7(),
            ..c
        };
        let other_field = FieldContext {
            field: "title",
            ..c
        };
        let other_owner = FieldContext {
            owner: Uuid::new_v4(),
            ..c
        };
        for bad in [other_record, other_field, other_owner] {
            assert_eq!(open_field(&k, &bad, &s).unwrap_err(), CryptoError::Tampered);
        }
        assert!(open_field(&k, &c, &s).is_ok());
    }

    #[test]
    fn wrong_data_key_fails() {
        let c = ctx();
        let s = seal_field(&DataKey::generate().unwrap(), &c, b"secret").unwrap();
        assert_eq!(
            open_field(&DataKey::generate().unwrap(), &c, &s).unwrap_err(),
            CryptoError::Tampered
        );
    }

    #[test]
    fn every_byte_flip_is_detected() {
        let k = DataKey::generate().unwrap();
        let c = ctx();
        let s = seal_field(&k, &c, b"a title").unwrap();
        for i in 0..s.len() {
            let mut t = s.clone();
            t[i] ^= 0x80;
            let e = open_field(&k, &c, &t).unwrap_err();
            let want = if i == 0 {
                CryptoError::UnsupportedFormat
            } else {
                CryptoError::Tampered
            };
            assert_eq!(e, want, "byte {i}");
        }
    }

    #[test]
    fn truncation_and_extension_detected() {
        let k = DataKey::generate().unwrap();
        let c = ctx();
        let s = seal_field(&k, &c, b"file.pdf").unwrap();
        for cut in 0..s.len() {
            let e = open_field(&k, &c, &s[..cut]).unwrap_err();
            assert!(
                matches!(e, CryptoError::Truncated | CryptoError::Tampered),
                "cut {cut}: {e:?}"
            );
        }
        let mut longer = s.clone();
        longer.push(0);
        assert_eq!(
            open_field(&k, &c, &longer).unwrap_err(),
            CryptoError::Tampered
        );
    }

    #[test]
    fn field_name_limits() {
        let k = DataKey::generate().unwrap();
        let empty = FieldContext { field: "", ..ctx() };
        assert_eq!(
            seal_field(&k, &empty, b"x").unwrap_err(),
            CryptoError::InvalidContext
        );
        let long: &'static str = Box::leak("f".repeat(256).into_boxed_str());
        let long_ctx = FieldContext {
            field: long,
            ..ctx()
        };
        assert_eq!(
            seal_field(&k, &long_ctx, b"x").unwrap_err(),
            CryptoError::InvalidContext
        );
    }

    #[test]
    fn field_key_differs_from_raw_data_key() {
        // The DataKey is never used directly as the AES key.
        let k = DataKey::from_bytes([9; 32]);
        let c = ctx();
        let s = seal_field(&k, &c, b"x").unwrap();
        let raw = aes256gcm(k.expose_secret()).unwrap();
        let aad = c.aad().unwrap();
        assert!(open_with_nonce(&raw, &aad, &s[1..]).is_err());
    }
}
