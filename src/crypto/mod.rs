//! Cryptography for the "Công dân số" personal data vault.
//!
//! Three layers, all AES-256-GCM based (see `CRYPTO.md` for byte layouts):
//!
//! * [`envelope`]: a per-citizen [`DataKey`] wrapped under a server
//!   [`MasterKey`] (envelope encryption, supports master-key rotation).
//! * [`field`]: small sensitive values (TOTP secrets, titles, file names)
//!   sealed under the citizen's [`DataKey`], bound to owner/record/field.
//! * [`stream`]: document content as a STREAM (BE32) of AES-256-GCM chunks
//!   under a per-document key derived with HKDF-SHA256, with bounded-memory
//!   incremental encryption/decryption and random access for HTTP Range.
//!
//! This module does no I/O, no logging and contains no `unsafe`.

pub mod envelope;
pub mod field;
pub mod merkle;
pub mod note;
pub mod sign;
pub mod stream;

pub use envelope::{DataKey, KeyId, MasterKey, WrappedKey};
pub use field::{FieldContext, open_field, seal_field};
pub use stream::{
    CiphertextRange, DEFAULT_CHUNK_SIZE, HEADER_LEN, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, StreamContext,
    StreamDecryptor, StreamEncryptor, StreamHeader, StreamLayout, decrypt_document,
    encrypt_document, header_len,
};

use aes_gcm::aead::Buffer;
use zeroize::Zeroizing;

/// Length in bytes of every symmetric key handled here (AES-256).
pub const KEY_LEN: usize = 32;
/// Length in bytes of an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length in bytes of an AES-GCM authentication tag.
pub const TAG_LEN: usize = 16;

/// Result alias for this module.
pub type Result<T> = core::result::Result<T, CryptoError>;

/// Every error this module can return.
///
/// Messages never contain key material, plaintext or ciphertext bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Authentication failed: the ciphertext (or its header/AAD) was
    /// modified, chunks were reordered/duplicated, or it is being opened with
    /// the wrong key or in the wrong context (owner, record, field, document).
    #[error("authentication failed: data was tampered with or does not belong to this context")]
    Tampered,
    /// Unknown magic, format version or algorithm identifier.
    #[error("unsupported or unrecognised ciphertext format")]
    UnsupportedFormat,
    /// The key does not match: different master key id, or the stream's key
    /// check value does not match the key derived for this owner/document.
    #[error("wrong key for this ciphertext")]
    WrongKey,
    /// The input ended early (too short, or the final STREAM chunk is missing).
    #[error("ciphertext is truncated")]
    Truncated,
    /// Data follows the chunk flagged as final.
    #[error("unexpected data after the final chunk")]
    TrailingData,
    /// Chunk size outside `MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE`.
    #[error("invalid chunk size")]
    InvalidChunkSize,
    /// Malformed key identifier or context label.
    #[error("invalid key identifier or context")]
    InvalidContext,
    /// Requested plaintext range is empty or out of bounds.
    #[error("invalid byte range")]
    InvalidRange,
    /// Length arithmetic overflowed, or the stream would exceed 2^32 chunks.
    #[error("message too large")]
    TooLarge,
    /// The operating system random number generator failed.
    #[error("random number generator unavailable")]
    RandomnessUnavailable,
}

/// Fill `buf` with OS randomness.
pub(crate) fn random_fill(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_| CryptoError::RandomnessUnavailable)
}

/// Derive a 256-bit subkey with HKDF-SHA256.
pub(crate) fn hkdf_sha256(
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[&[u8]],
) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(salt, ikm);
    let mut okm = Zeroizing::new([0u8; KEY_LEN]);
    hk.expand_multi_info(info, okm.as_mut_slice())
        .map_err(|_| CryptoError::TooLarge)?;
    Ok(okm)
}

/// Build an AES-256-GCM instance from raw key bytes without copying the key
/// into an un-zeroized temporary. The cipher zeroizes its key schedule on
/// drop (`aes-gcm` feature `zeroize`).
pub(crate) fn aes256gcm(key: &[u8; KEY_LEN]) -> Result<aes_gcm::Aes256Gcm> {
    use aes_gcm::KeyInit;
    aes_gcm::Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::InvalidContext)
}

/// AES-256-GCM one-shot seal with a fresh random nonce, appending
/// `nonce || ciphertext || tag` to `out` (which already holds any prefix).
pub(crate) fn seal_random_nonce(
    cipher: &aes_gcm::Aes256Gcm,
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    use aes_gcm::AeadInOut;
    let mut nonce = [0u8; NONCE_LEN];
    random_fill(&mut nonce)?;
    out.reserve(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    let start = out.len();
    out.extend_from_slice(plaintext);
    let mut tail = TailBuffer::new(out, start);
    cipher
        .encrypt_in_place(&nonce.into(), aad, &mut tail)
        .map_err(|_| CryptoError::TooLarge)
}

/// AES-256-GCM one-shot open of `nonce || ciphertext || tag`.
pub(crate) fn open_with_nonce(
    cipher: &aes_gcm::Aes256Gcm,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    use aes_gcm::AeadInOut;
    let (nonce, body) = sealed
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(CryptoError::Truncated)?;
    if body.len() < TAG_LEN {
        return Err(CryptoError::Truncated);
    }
    let mut buf = Zeroizing::new(body.to_vec());
    cipher
        .decrypt_in_place(&(*nonce).into(), aad, &mut TailBuffer::new(&mut buf, 0))
        .map_err(|_| CryptoError::Tampered)?;
    Ok(buf)
}

/// Append a length-prefixed (u8) byte string to an AAD buffer.
pub(crate) fn push_lp8(aad: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
    let len = u8::try_from(bytes.len()).map_err(|_| CryptoError::InvalidContext)?;
    aad.push(len);
    aad.extend_from_slice(bytes);
    Ok(())
}

/// An [`aes_gcm::aead::Buffer`] view of `vec[start..]`, so AEAD operations can
/// work in place at the end of an output vector that already holds earlier
/// chunks (avoids an extra copy per chunk).
pub(crate) struct TailBuffer<'a> {
    vec: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> TailBuffer<'a> {
    pub(crate) fn new(vec: &'a mut Vec<u8>, start: usize) -> Self {
        let start = start.min(vec.len());
        Self { vec, start }
    }
}

impl AsRef<[u8]> for TailBuffer<'_> {
    fn as_ref(&self) -> &[u8] {
        self.vec.get(self.start..).unwrap_or_default()
    }
}

impl AsMut<[u8]> for TailBuffer<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        self.vec.get_mut(self.start..).unwrap_or_default()
    }
}

impl Buffer for TailBuffer<'_> {
    fn extend_from_slice(&mut self, other: &[u8]) -> aes_gcm::aead::Result<()> {
        self.vec.extend_from_slice(other);
        Ok(())
    }

    fn truncate(&mut self, len: usize) {
        self.vec.truncate(self.start.saturating_add(len));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn tail_buffer_views_only_the_tail() {
        let mut v = b"head".to_vec();
        v.extend_from_slice(b"tail");
        let mut t = TailBuffer::new(&mut v, 4);
        assert_eq!(t.as_ref(), b"tail");
        t.extend_from_slice(b"!!").unwrap();
        t.truncate(3);
        assert_eq!(t.as_ref(), b"tai");
        assert_eq!(v, b"headtai");
    }

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let key = [7u8; KEY_LEN];
        let c = aes256gcm(&key).unwrap();
        let mut out = vec![0xAA];
        seal_random_nonce(&c, b"aad", b"hello", &mut out).unwrap();
        assert_eq!(out.len(), 1 + NONCE_LEN + 5 + TAG_LEN);
        assert_eq!(&*open_with_nonce(&c, b"aad", &out[1..]).unwrap(), b"hello");
        assert_eq!(
            open_with_nonce(&c, b"aaD", &out[1..]),
            Err(CryptoError::Tampered)
        );
        assert_eq!(
            open_with_nonce(&c, b"aad", &out[1..NONCE_LEN + TAG_LEN]),
            Err(CryptoError::Truncated)
        );
    }

    #[test]
    fn error_messages_are_generic() {
        // No variant carries data, so no secret can leak through Display.
        let s = CryptoError::Tampered.to_string();
        assert!(s.contains("authentication failed"));
    }
}
