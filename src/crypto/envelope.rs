//! Envelope encryption: per-citizen [`DataKey`]s wrapped under a [`MasterKey`].
//!
//! Wrapped format (61 bytes): `version(1) = 0x01 || nonce(12) || ciphertext(32) || tag(16)`.
//! AAD: `"congdanso/v1/data-key" || version(1) || len(key id)(1) || key id || owner uuid(16)`.

use core::fmt;

use uuid::Uuid;
use zeroize::Zeroizing;

use super::{
    CryptoError, KEY_LEN, NONCE_LEN, Result, TAG_LEN, aes256gcm, open_with_nonce, push_lp8,
    random_fill, seal_random_nonce,
};

/// Domain-separation label for wrapped data keys.
const WRAP_LABEL: &[u8] = b"congdanso/v1/data-key";
/// Current wrapped-key format version.
const WRAP_VERSION: u8 = 1;
/// Length of a version-1 wrapped key.
pub const WRAPPED_KEY_LEN: usize = 1 + NONCE_LEN + KEY_LEN + TAG_LEN;
/// Maximum length of a [`KeyId`].
pub const MAX_KEY_ID_LEN: usize = 64;

/// Identifier of a master key, e.g. `mk_0123456789abcdef`.
///
/// 1..=64 ASCII characters from `[A-Za-z0-9_-]`. It is not secret; it is
/// stored next to every wrapped key and authenticated as AAD.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// Validate and build a key id.
    ///
    /// # Errors
    /// [`CryptoError::InvalidContext`] if empty, longer than 64 bytes, or
    /// containing characters outside `[A-Za-z0-9_-]`.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= MAX_KEY_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(id))
        } else {
            Err(CryptoError::InvalidContext)
        }
    }

    /// A fresh random id of the form `mk_<16 lowercase hex>`.
    ///
    /// # Errors
    /// [`CryptoError::RandomnessUnavailable`] if the OS RNG fails.
    pub fn generate() -> Result<Self> {
        let mut raw = [0u8; 8];
        random_fill(&mut raw)?;
        let mut s = String::with_capacity(3 + 16);
        s.push_str("mk_");
        for b in raw {
            s.push(hex_digit(b >> 4));
            s.push(hex_digit(b & 0x0f));
        }
        Ok(Self(s))
    }

    /// The id as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn hex_digit(n: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(n & 0x0f)])
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyId").field(&self.0).finish()
    }
}

/// A server-side key-encryption key. The key bytes are zeroized on drop and
/// never printed.
pub struct MasterKey {
    id: KeyId,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl MasterKey {
    /// Build a master key from its id and raw bytes (e.g. loaded from a KMS
    /// or secret store). The caller should zeroize its own copy of `key`.
    #[must_use]
    pub fn from_bytes(id: KeyId, key: [u8; KEY_LEN]) -> Self {
        Self {
            id,
            key: Zeroizing::new(key),
        }
    }

    /// Generate a random master key with a random `mk_<16 hex>` id.
    ///
    /// # Errors
    /// [`CryptoError::RandomnessUnavailable`] if the OS RNG fails.
    pub fn generate() -> Result<Self> {
        let id = KeyId::generate()?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        random_fill(key.as_mut_slice())?;
        Ok(Self { id, key })
    }

    /// The key identifier.
    #[must_use]
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// Raw key bytes, for exporting to a secret store. Handle with care.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    /// Wrap `data_key` for citizen `owner` (AES-256-GCM, fresh random nonce).
    ///
    /// # Errors
    /// [`CryptoError::RandomnessUnavailable`] if the OS RNG fails.
    pub fn wrap(&self, data_key: &DataKey, owner: &Uuid) -> Result<WrappedKey> {
        let cipher = aes256gcm(&self.key)?;
        let aad = wrap_aad(&self.id, owner)?;
        let mut bytes = Vec::with_capacity(WRAPPED_KEY_LEN);
        bytes.push(WRAP_VERSION);
        seal_random_nonce(&cipher, &aad, data_key.expose_secret(), &mut bytes)?;
        Ok(WrappedKey {
            master_key_id: self.id.clone(),
            bytes,
        })
    }

    /// Unwrap a data key previously wrapped for `owner` under this master key.
    ///
    /// # Errors
    /// * [`CryptoError::WrongKey`] if `wrapped.master_key_id` is not this key's id;
    /// * [`CryptoError::UnsupportedFormat`] for an unknown version byte;
    /// * [`CryptoError::Truncated`] if too short;
    /// * [`CryptoError::Tampered`] if authentication fails (modified bytes,
    ///   different owner, or a different key with the same id).
    pub fn unwrap(&self, wrapped: &WrappedKey, owner: &Uuid) -> Result<DataKey> {
        if wrapped.master_key_id != self.id {
            return Err(CryptoError::WrongKey);
        }
        let (&version, sealed) = wrapped.bytes.split_first().ok_or(CryptoError::Truncated)?;
        if version != WRAP_VERSION {
            return Err(CryptoError::UnsupportedFormat);
        }
        if wrapped.bytes.len() < WRAPPED_KEY_LEN {
            return Err(CryptoError::Truncated);
        }
        if wrapped.bytes.len() > WRAPPED_KEY_LEN {
            return Err(CryptoError::Tampered);
        }
        let cipher = aes256gcm(&self.key)?;
        let aad = wrap_aad(&self.id, owner)?;
        let plain = open_with_nonce(&cipher, &aad, sealed)?;
        let bytes: &[u8; KEY_LEN] = plain
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Tampered)?;
        Ok(DataKey {
            key: Zeroizing::new(*bytes),
        })
    }

    /// Key rotation helper: unwrap with `self` (the old master key) and wrap
    /// again under `new_master`.
    ///
    /// # Errors
    /// Any error of [`MasterKey::unwrap`] or [`MasterKey::wrap`].
    pub fn rewrap(
        &self,
        wrapped: &WrappedKey,
        owner: &Uuid,
        new_master: &MasterKey,
    ) -> Result<WrappedKey> {
        let dk = self.unwrap(wrapped, owner)?;
        new_master.wrap(&dk, owner)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn wrap_aad(id: &KeyId, owner: &Uuid) -> Result<Vec<u8>> {
    let mut aad = Vec::with_capacity(WRAP_LABEL.len() + 2 + id.0.len() + 16);
    aad.extend_from_slice(WRAP_LABEL);
    aad.push(WRAP_VERSION);
    push_lp8(&mut aad, id.0.as_bytes())?;
    aad.extend_from_slice(owner.as_bytes());
    Ok(aad)
}

/// A citizen's random 256-bit data key. Never used directly as an AES key:
/// field and document keys are derived from it with HKDF-SHA256.
/// Zeroized on drop, never printed.
pub struct DataKey {
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl DataKey {
    /// Generate a fresh random data key.
    ///
    /// # Errors
    /// [`CryptoError::RandomnessUnavailable`] if the OS RNG fails.
    pub fn generate() -> Result<Self> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        random_fill(key.as_mut_slice())?;
        Ok(Self { key })
    }

    /// Build a data key from raw bytes (tests, migrations). The caller should
    /// zeroize its own copy.
    #[must_use]
    pub fn from_bytes(key: [u8; KEY_LEN]) -> Self {
        Self {
            key: Zeroizing::new(key),
        }
    }

    /// Raw key bytes; crate-internal so application code cannot leak them.
    #[must_use]
    pub(crate) fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.key
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// A [`DataKey`] encrypted under the master key `master_key_id`.
/// Both fields are non-secret and meant to be stored together.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Id of the master key that wrapped this key.
    pub master_key_id: KeyId,
    /// `version(1) || nonce(12) || ciphertext(32) || tag(16)`.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey")
            .field("master_key_id", &self.master_key_id)
            .field("len", &self.bytes.len())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn owner() -> Uuid {
        Uuid::new_v4()
    }

    #[test]
    fn key_id_validation_and_generation() {
        assert!(KeyId::new("mk_0123456789abcdef").is_ok());
        assert_eq!(KeyId::new(""), Err(CryptoError::InvalidContext));
        assert_eq!(KeyId::new("mk bad"), Err(CryptoError::InvalidContext));
        assert_eq!(KeyId::new("x".repeat(65)), Err(CryptoError::InvalidContext));
        let id = KeyId::generate().unwrap();
        assert_eq!(id.as_str().len(), 19);
        assert!(id.as_str().starts_with("mk_"));
        assert!(id.as_str()[3..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(id, KeyId::generate().unwrap());
    }

    #[test]
    fn debug_hides_keys() {
        let mk = MasterKey::from_bytes(KeyId::new("mk_test").unwrap(), [0xAB; 32]);
        let dk = DataKey::from_bytes([0xCD; 32]);
        let s = format!("{mk:?} {dk:?}");
        assert!(s.contains("mk_test"));
        assert!(s.contains("redacted"));
        assert!(!s.to_lowercase().contains("ab, ab") && !s.contains("171"));
        assert!(!s.contains("205") && !s.to_lowercase().contains("cdcd"));
    }

    #[test]
    fn wrap_unwrap_round_trip() {
        let mk = MasterKey::generate().unwrap();
        let dk = DataKey::generate().unwrap();
        let o = owner();
        let w = mk.wrap(&dk, &o).unwrap();
        assert_eq!(w.bytes.len(), WRAPPED_KEY_LEN);
        assert_eq!(w.bytes[0], WRAP_VERSION);
        assert_eq!(&w.master_key_id, mk.id());
        assert!(!w.bytes.windows(32).any(|win| win == dk.expose_secret()));
        let back = mk.unwrap(&w, &o).unwrap();
        assert_eq!(back.expose_secret(), dk.expose_secret());
        // fresh nonce each time
        let w2 = mk.wrap(&dk, &o).unwrap();
        assert_ne!(w.bytes, w2.bytes);
    }

    #[test]
    fn wrapped_key_moved_to_other_owner_fails() {
        let mk = MasterKey::generate().unwrap();
        let dk = DataKey::generate().unwrap();
        let w = mk.wrap(&dk, &owner()).unwrap();
        assert_eq!(mk.unwrap(&w, &owner()).unwrap_err(), CryptoError::Tampered);
    }

    #[test]
    fn wrong_master_key_id_is_wrong_key() {
        let mk = MasterKey::generate().unwrap();
        let other = MasterKey::generate().unwrap();
        let o = owner();
        let w = mk.wrap(&DataKey::generate().unwrap(), &o).unwrap();
        assert_eq!(other.unwrap(&w, &o).unwrap_err(), CryptoError::WrongKey);
    }

    #[test]
    fn same_id_different_key_bytes_fails() {
        let id = KeyId::new("mk_same").unwrap();
        let a = MasterKey::from_bytes(id.clone(), [1; 32]);
        let b = MasterKey::from_bytes(id, [2; 32]);
        let o = owner();
        let w = a.wrap(&DataKey::generate().unwrap(), &o).unwrap();
        assert_eq!(b.unwrap(&w, &o).unwrap_err(), CryptoError::Tampered);
    }

    #[test]
    fn relabelled_key_id_fails() {
        // Copy bytes under a different master key id with the same key bytes:
        // the id is in the AAD, so it must not open.
        let a = MasterKey::from_bytes(KeyId::new("mk_a").unwrap(), [1; 32]);
        let b = MasterKey::from_bytes(KeyId::new("mk_b").unwrap(), [1; 32]);
        let o = owner();
        let mut w = a.wrap(&DataKey::generate().unwrap(), &o).unwrap();
        w.master_key_id = b.id().clone();
        assert_eq!(b.unwrap(&w, &o).unwrap_err(), CryptoError::Tampered);
    }

    #[test]
    fn every_byte_flip_is_detected() {
        let mk = MasterKey::generate().unwrap();
        let o = owner();
        let w = mk.wrap(&DataKey::generate().unwrap(), &o).unwrap();
        for i in 0..w.bytes.len() {
            let mut t = w.clone();
            t.bytes[i] ^= 0x01;
            let err = mk.unwrap(&t, &o).unwrap_err();
            if i == 0 {
                assert_eq!(err, CryptoError::UnsupportedFormat);
            } else {
                assert_eq!(err, CryptoError::Tampered, "byte {i}");
            }
        }
    }

    #[test]
    fn bad_lengths() {
        let mk = MasterKey::generate().unwrap();
        let o = owner();
        let w = mk.wrap(&DataKey::generate().unwrap(), &o).unwrap();
        let mut t = w.clone();
        t.bytes.clear();
        assert_eq!(mk.unwrap(&t, &o).unwrap_err(), CryptoError::Truncated);
        let mut t = w.clone();
        t.bytes.pop();
        assert_eq!(mk.unwrap(&t, &o).unwrap_err(), CryptoError::Truncated);
        let mut t = w;
        t.bytes.push(0);
        assert_eq!(mk.unwrap(&t, &o).unwrap_err(), CryptoError::Tampered);
    }

    #[test]
    fn rewrap_rotates_master_key() {
        let old = MasterKey::generate().unwrap();
        let new = MasterKey::generate().unwrap();
        let o = owner();
        let dk = DataKey::generate().unwrap();
        let w_old = old.wrap(&dk, &o).unwrap();
        let w_new = old.rewrap(&w_old, &o, &new).unwrap();
        assert_eq!(&w_new.master_key_id, new.id());
        assert_eq!(
            new.unwrap(&w_new, &o).unwrap().expose_secret(),
            dk.expose_secret()
        );
        assert_eq!(old.unwrap(&w_new, &o).unwrap_err(), CryptoError::WrongKey);
    }
}
