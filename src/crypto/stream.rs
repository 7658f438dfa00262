//! Document content encryption: STREAM (Hoang–Reyhanitabar–Rogaway–Vizár,
//! `BE32` flavour) over AES-256-GCM, using the reviewed `RustCrypto`
//! [`aead_stream::StreamBE32`] primitive for the per-chunk nonce layout
//! `nonce = prefix(7) || counter(u32 BE) || last_flag(1)`.
//!
//! Blob layout: `header(49) || chunk_0 || ... || chunk_{n-1}` where every
//! chunk is `ciphertext || tag(16)`; all chunks except the last carry exactly
//! `chunk_size` plaintext bytes; the last carries `1..=chunk_size` bytes
//! (`0` only for an empty document, which is a single empty final chunk).
//!
//! Header (all integers big-endian):
//!
//! | offset | len | field                                             |
//! |-------:|----:|---------------------------------------------------|
//! | 0      | 4   | magic `"CDS1"`                                    |
//! | 4      | 1   | format version = `0x01`                           |
//! | 5      | 1   | algorithm id = `0x01` (AES-256-GCM, STREAM-BE32, HKDF-SHA256) |
//! | 6      | 4   | chunk size (plaintext bytes per chunk, u32)       |
//! | 10     | 16  | key salt (random, HKDF salt)                      |
//! | 26     | 7   | STREAM nonce prefix (random)                      |
//! | 33     | 16  | key check value (HKDF output, identifies the key) |
//!
//! Per-chunk AAD: `header(49) || owner uuid(16) || document uuid(16)`.
//!
//! Document key: `HKDF-SHA256(salt = key salt, ikm = DataKey,
//! info = "congdanso/v1/document" || version || alg || owner || document || "/key")`;
//! key check value: same with suffix `"/key-check"`, truncated to 16 bytes.

use core::fmt;

use aead_stream::{NewStream, StreamBE32, StreamPrimitive};
use aes_gcm::Aes256Gcm;
use subtle::ConstantTimeEq;
use uuid::Uuid;
use zeroize::{Zeroize, Zeroizing};

use super::{CryptoError, KEY_LEN, Result, TAG_LEN, TailBuffer, aes256gcm, random_fill};
use crate::crypto::envelope::DataKey;

/// Magic bytes at the start of every encrypted document.
pub const MAGIC: [u8; 4] = *b"CDS1";
/// Current stream format version.
pub const FORMAT_VERSION: u8 = 1;
/// Algorithm id 1: AES-256-GCM + STREAM-BE32 + HKDF-SHA256 per-document key.
pub const ALG_AES256GCM_STREAM_BE32: u8 = 1;
/// Default plaintext bytes per chunk (64 KiB).
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// Smallest accepted chunk size (used by tests; production should use the default).
pub const MIN_CHUNK_SIZE: u32 = 16;
/// Largest accepted chunk size (16 MiB); bounds decryptor memory for hostile headers.
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// Length of the random key salt in the header.
pub const SALT_LEN: usize = 16;
/// Length of the STREAM nonce prefix.
pub const NONCE_PREFIX_LEN: usize = 7;
/// Length of the key check value.
pub const KEY_CHECK_LEN: usize = 16;
/// Length of the stream header.
pub const HEADER_LEN: usize = 4 + 1 + 1 + 4 + SALT_LEN + NONCE_PREFIX_LEN + KEY_CHECK_LEN;

const DOC_LABEL: &[u8] = b"congdanso/v1/document";
const KEY_SUFFIX: &[u8] = b"/key";
const CHECK_SUFFIX: &[u8] = b"/key-check";
const TAG_U64: u64 = TAG_LEN as u64;
const HEADER_U64: u64 = HEADER_LEN as u64;
/// Largest number of chunks (counter values `0..=u32::MAX`).
const MAX_CHUNKS: u64 = 1 << 32;

type Stream = StreamBE32<Aes256Gcm>;

/// Length of the stream header in bytes (49).
#[must_use]
pub const fn header_len() -> usize {
    HEADER_LEN
}

/// Who and what a document blob belongs to. Both ids are bound into the key
/// derivation and the AAD of every chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamContext {
    /// The citizen owning the document.
    pub owner: Uuid,
    /// The document id.
    pub document: Uuid,
}

/// Parsed, validated stream header. Nothing in it is secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHeader {
    chunk_size: u32,
    salt: [u8; SALT_LEN],
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    key_check: [u8; KEY_CHECK_LEN],
}

impl StreamHeader {
    /// Parse exactly [`HEADER_LEN`] bytes (the start of an encrypted blob).
    ///
    /// # Errors
    /// [`CryptoError::Truncated`] if shorter, [`CryptoError::UnsupportedFormat`]
    /// if longer or for unknown magic/version/algorithm,
    /// [`CryptoError::InvalidChunkSize`] for an out-of-range chunk size.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let magic_avail = bytes.len().min(MAGIC.len());
        if bytes.get(..magic_avail) != MAGIC.get(..magic_avail) {
            return Err(CryptoError::UnsupportedFormat);
        }
        let h: &[u8; HEADER_LEN] = match bytes.len() {
            n if n < HEADER_LEN => return Err(CryptoError::Truncated),
            n if n > HEADER_LEN => return Err(CryptoError::UnsupportedFormat),
            _ => bytes.try_into().map_err(|_| CryptoError::Truncated)?,
        };
        let (_magic, rest) = h.split_at(4);
        let (va, rest) = rest
            .split_first_chunk::<2>()
            .ok_or(CryptoError::Truncated)?;
        let [version, alg] = *va;
        if version != FORMAT_VERSION || alg != ALG_AES256GCM_STREAM_BE32 {
            return Err(CryptoError::UnsupportedFormat);
        }
        let (cs, rest) = rest
            .split_first_chunk::<4>()
            .ok_or(CryptoError::Truncated)?;
        let (salt, rest) = rest
            .split_first_chunk::<SALT_LEN>()
            .ok_or(CryptoError::Truncated)?;
        let (prefix, rest) = rest
            .split_first_chunk::<NONCE_PREFIX_LEN>()
            .ok_or(CryptoError::Truncated)?;
        let key_check: &[u8; KEY_CHECK_LEN] =
            rest.try_into().map_err(|_| CryptoError::Truncated)?;
        let chunk_size = u32::from_be_bytes(*cs);
        StreamLayout::new(chunk_size)?;
        Ok(Self {
            chunk_size,
            salt: *salt,
            nonce_prefix: *prefix,
            key_check: *key_check,
        })
    }

    /// Serialize to the 49-byte wire form.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let parts: [&[u8]; 7] = [
            &MAGIC,
            &[FORMAT_VERSION],
            &[ALG_AES256GCM_STREAM_BE32],
            &self.chunk_size.to_be_bytes(),
            &self.salt,
            &self.nonce_prefix,
            &self.key_check,
        ];
        let mut pos = 0;
        for p in parts {
            if let Some(dst) = out.get_mut(pos..pos + p.len()) {
                dst.copy_from_slice(p);
            }
            pos += p.len();
        }
        out
    }

    /// Plaintext bytes per chunk.
    #[must_use]
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Length arithmetic for this stream.
    #[must_use]
    pub fn layout(&self) -> StreamLayout {
        StreamLayout {
            chunk_size: self.chunk_size,
        }
    }
}

/// Length arithmetic for a given chunk size (no keys involved), for sizing
/// uploads and serving HTTP Range requests.
///
/// All ciphertext lengths/offsets are for the *whole blob* including the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLayout {
    chunk_size: u32,
}

/// Ciphertext needed to serve a plaintext range: fetch
/// `blob[offset .. offset + len]` and pass it to [`StreamDecryptor::decrypt_range`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CiphertextRange {
    /// Chunk size of the stream this range was computed for.
    pub chunk_size: u32,
    /// Index of the first chunk covering the range.
    pub first_chunk: u32,
    /// Index of the last chunk covering the range (inclusive).
    pub last_chunk: u32,
    /// Index of the final chunk of the whole stream (decrypted with the last flag).
    pub final_chunk: u32,
    /// Absolute byte offset in the blob (header included) of `first_chunk`.
    pub offset: u64,
    /// Number of ciphertext bytes to fetch.
    pub len: u64,
    /// Plaintext bytes to skip at the start of the first decrypted chunk.
    pub skip: u64,
    /// Number of plaintext bytes the range yields (`end - start`).
    pub plaintext_len: u64,
}

impl StreamLayout {
    /// Layout for `chunk_size` plaintext bytes per chunk.
    ///
    /// # Errors
    /// [`CryptoError::InvalidChunkSize`] outside `MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE`.
    pub fn new(chunk_size: u32) -> Result<Self> {
        if (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            Ok(Self { chunk_size })
        } else {
            Err(CryptoError::InvalidChunkSize)
        }
    }

    /// Plaintext bytes per chunk.
    #[must_use]
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Header length (49).
    #[must_use]
    pub fn header_len(&self) -> u64 {
        HEADER_U64
    }

    fn full_chunk_ct(self) -> u64 {
        u64::from(self.chunk_size) + TAG_U64
    }

    /// Number of chunks for a plaintext of `plaintext_len` bytes (at least 1).
    ///
    /// # Errors
    /// [`CryptoError::TooLarge`] beyond 2^32 chunks.
    pub fn chunk_count(&self, plaintext_len: u64) -> Result<u64> {
        let n = plaintext_len.div_ceil(u64::from(self.chunk_size)).max(1);
        if n > MAX_CHUNKS {
            return Err(CryptoError::TooLarge);
        }
        Ok(n)
    }

    /// Total blob length (header + chunks + tags) for `plaintext_len` bytes.
    ///
    /// # Errors
    /// [`CryptoError::TooLarge`] on overflow or beyond 2^32 chunks.
    pub fn ciphertext_len(&self, plaintext_len: u64) -> Result<u64> {
        let n = self.chunk_count(plaintext_len)?;
        n.checked_mul(TAG_U64)
            .and_then(|t| t.checked_add(plaintext_len))
            .and_then(|t| t.checked_add(HEADER_U64))
            .ok_or(CryptoError::TooLarge)
    }

    /// Plaintext length of a blob of `ciphertext_len` bytes (header included).
    ///
    /// # Errors
    /// [`CryptoError::Truncated`] if no valid stream has that length,
    /// [`CryptoError::TooLarge`] beyond 2^32 chunks.
    pub fn plaintext_len(&self, ciphertext_len: u64) -> Result<u64> {
        let body = ciphertext_len
            .checked_sub(HEADER_U64)
            .filter(|b| *b >= TAG_U64)
            .ok_or(CryptoError::Truncated)?;
        let full = self.full_chunk_ct();
        let n = body.div_ceil(full);
        if n > MAX_CHUNKS {
            return Err(CryptoError::TooLarge);
        }
        let last_ct = body - (n - 1) * full;
        // The last chunk must hold a tag, and only a lone chunk may be empty.
        if last_ct < TAG_U64 || (n > 1 && last_ct == TAG_U64) {
            return Err(CryptoError::Truncated);
        }
        Ok(body - n * TAG_U64)
    }

    /// Absolute blob offset of chunk `index`.
    #[must_use]
    pub fn chunk_offset(&self, index: u32) -> u64 {
        HEADER_U64 + u64::from(index) * self.full_chunk_ct()
    }

    /// Map the plaintext range `plain_start..plain_end_exclusive` of a
    /// document of `plaintext_len` bytes to the ciphertext to fetch.
    ///
    /// # Errors
    /// [`CryptoError::InvalidRange`] if the range is empty or exceeds the
    /// document, [`CryptoError::TooLarge`] beyond 2^32 chunks.
    pub fn ciphertext_range_for(
        &self,
        plain_start: u64,
        plain_end_exclusive: u64,
        plaintext_len: u64,
    ) -> Result<CiphertextRange> {
        if plain_start >= plain_end_exclusive || plain_end_exclusive > plaintext_len {
            return Err(CryptoError::InvalidRange);
        }
        let c = u64::from(self.chunk_size);
        let full = self.full_chunk_ct();
        let n = self.chunk_count(plaintext_len)?;
        let first = plain_start / c;
        let last = (plain_end_exclusive - 1) / c;
        let final_idx = n - 1;
        let last_ct = if last == final_idx {
            plaintext_len - last * c + TAG_U64
        } else {
            full
        };
        let to_u32 = |v: u64| u32::try_from(v).map_err(|_| CryptoError::TooLarge);
        Ok(CiphertextRange {
            chunk_size: self.chunk_size,
            first_chunk: to_u32(first)?,
            last_chunk: to_u32(last)?,
            final_chunk: to_u32(final_idx)?,
            offset: HEADER_U64 + first * full,
            len: (last - first) * full + last_ct,
            skip: plain_start - first * c,
            plaintext_len: plain_end_exclusive - plain_start,
        })
    }
}

impl CiphertextRange {
    /// Whether the range includes the stream's final chunk.
    #[must_use]
    pub fn includes_final_chunk(&self) -> bool {
        self.last_chunk == self.final_chunk
    }
}

/// Derived per-document key and key check value.
struct DocKeys {
    key: Zeroizing<[u8; KEY_LEN]>,
    check: [u8; KEY_CHECK_LEN],
}

fn derive_doc_keys(key: &DataKey, ctx: &StreamContext, salt: &[u8; SALT_LEN]) -> Result<DocKeys> {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), key.expose_secret());
    let info = |suffix: &'static [u8]| -> [&[u8]; 6] {
        [
            DOC_LABEL,
            &[FORMAT_VERSION],
            &[ALG_AES256GCM_STREAM_BE32],
            ctx.owner.as_bytes(),
            ctx.document.as_bytes(),
            suffix,
        ]
    };
    let mut doc_key = Zeroizing::new([0u8; KEY_LEN]);
    hk.expand_multi_info(&info(KEY_SUFFIX), doc_key.as_mut_slice())
        .map_err(|_| CryptoError::TooLarge)?;
    let mut check = [0u8; KEY_CHECK_LEN];
    hk.expand_multi_info(&info(CHECK_SUFFIX), &mut check)
        .map_err(|_| CryptoError::TooLarge)?;
    Ok(DocKeys {
        key: doc_key,
        check,
    })
}

fn chunk_aad(header: &[u8; HEADER_LEN], ctx: &StreamContext) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HEADER_LEN + 32);
    aad.extend_from_slice(header);
    aad.extend_from_slice(ctx.owner.as_bytes());
    aad.extend_from_slice(ctx.document.as_bytes());
    aad
}

fn build_stream(keys: &DocKeys, prefix: [u8; NONCE_PREFIX_LEN]) -> Result<Stream> {
    let cipher = aes256gcm(&keys.key)?;
    Ok(Stream::from_aead(cipher, &prefix.into()))
}

fn to_usize(v: u32) -> Result<usize> {
    usize::try_from(v).map_err(|_| CryptoError::TooLarge)
}

/// Incremental STREAM encryptor with bounded memory (one chunk of pending
/// plaintext, zeroized on drop).
pub struct StreamEncryptor {
    stream: Stream,
    aad: Vec<u8>,
    chunk_size: usize,
    next_index: u64,
    pending: Zeroizing<Vec<u8>>,
    poisoned: bool,
}

impl fmt::Debug for StreamEncryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamEncryptor")
            .field("chunk_size", &self.chunk_size)
            .field("next_index", &self.next_index)
            .finish_non_exhaustive()
    }
}

impl StreamEncryptor {
    /// Start encrypting a document. Returns the encryptor and the 49-byte
    /// header, which must be written first and is authenticated with every chunk.
    ///
    /// # Errors
    /// [`CryptoError::InvalidChunkSize`], [`CryptoError::RandomnessUnavailable`].
    pub fn new(key: &DataKey, ctx: &StreamContext, chunk_size: u32) -> Result<(Self, Vec<u8>)> {
        StreamLayout::new(chunk_size)?;
        let mut rnd = [0u8; SALT_LEN + NONCE_PREFIX_LEN];
        random_fill(&mut rnd)?;
        let (salt, prefix) = rnd
            .split_first_chunk::<SALT_LEN>()
            .ok_or(CryptoError::RandomnessUnavailable)?;
        let prefix: [u8; NONCE_PREFIX_LEN] = prefix
            .try_into()
            .map_err(|_| CryptoError::RandomnessUnavailable)?;
        let keys = derive_doc_keys(key, ctx, salt)?;
        let header = StreamHeader {
            chunk_size,
            salt: *salt,
            nonce_prefix: prefix,
            key_check: keys.check,
        };
        let header_bytes = header.to_bytes();
        let chunk = to_usize(chunk_size)?;
        let enc = Self {
            stream: build_stream(&keys, prefix)?,
            aad: chunk_aad(&header_bytes, ctx),
            chunk_size: chunk,
            next_index: 0,
            pending: Zeroizing::new(Vec::with_capacity(chunk)),
            poisoned: false,
        };
        Ok((enc, header_bytes.to_vec()))
    }

    /// Feed plaintext; returns the encrypted chunks completed so far (possibly
    /// empty). A full chunk is only emitted once at least one more byte has
    /// arrived, so that the final chunk can always be flagged as last.
    ///
    /// # Errors
    /// [`CryptoError::TooLarge`] once 2^32 chunks would be exceeded.
    pub fn push(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.push_into(input, &mut out)?;
        Ok(out)
    }

    /// Like [`push`](Self::push) but appends to `out` (lets callers reuse a buffer).
    ///
    /// # Errors
    /// [`CryptoError::TooLarge`] once 2^32 chunks would be exceeded.
    pub fn push_into(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.poisoned {
            return Err(CryptoError::TooLarge);
        }
        let c = self.chunk_size;
        let chunks_hint = (self.pending.len() + input.len()) / c;
        out.reserve(chunks_hint * (c + TAG_LEN));
        loop {
            if self.pending.len() == c {
                if input.is_empty() {
                    break;
                }
                let r = self.seal_chunk(&self.pending, false, out);
                self.pending.clear();
                self.check(r)?;
            }
            if self.pending.is_empty() && input.len() > c {
                let (chunk, rest) = input.split_at(c);
                let r = self.seal_chunk(chunk, false, out);
                self.check(r)?;
                input = rest;
                continue;
            }
            let take = (c - self.pending.len()).min(input.len());
            let (head, rest) = input.split_at(take);
            self.pending.extend_from_slice(head);
            input = rest;
            if input.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// Emit the final chunk (flagged last; empty only for an empty document).
    ///
    /// # Errors
    /// [`CryptoError::TooLarge`] if the encryptor previously failed.
    pub fn finish(self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.finish_into(&mut out)?;
        Ok(out)
    }

    /// Like [`finish`](Self::finish) but appends to `out`.
    ///
    /// # Errors
    /// [`CryptoError::TooLarge`] if the encryptor previously failed.
    pub fn finish_into(self, out: &mut Vec<u8>) -> Result<()> {
        if self.poisoned {
            return Err(CryptoError::TooLarge);
        }
        self.seal_chunk(&self.pending, true, out)
    }

    fn check(&mut self, r: Result<()>) -> Result<()> {
        if r.is_err() {
            self.poisoned = true;
        } else {
            self.next_index += 1;
        }
        r
    }

    fn seal_chunk(&self, plaintext: &[u8], last: bool, out: &mut Vec<u8>) -> Result<()> {
        // A non-final chunk may not use the last counter value: the final
        // chunk needs a counter too.
        let index = u32::try_from(self.next_index).map_err(|_| CryptoError::TooLarge)?;
        if !last && index == u32::MAX {
            return Err(CryptoError::TooLarge);
        }
        out.reserve(plaintext.len() + TAG_LEN);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let r =
            self.stream
                .encrypt_in_place(index, last, &self.aad, &mut TailBuffer::new(out, start));
        if r.is_err() {
            if let Some(tail) = out.get_mut(start..) {
                tail.zeroize();
            }
            out.truncate(start);
            return Err(CryptoError::TooLarge);
        }
        Ok(())
    }
}

/// Incremental STREAM decryptor with bounded memory (at most one chunk of
/// buffered ciphertext), plus stateless random-access chunk decryption.
pub struct StreamDecryptor {
    stream: Stream,
    aad: Vec<u8>,
    layout: StreamLayout,
    full_ct: usize,
    next_index: u64,
    pending: Vec<u8>,
    poisoned: Option<CryptoError>,
}

impl fmt::Debug for StreamDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamDecryptor")
            .field("layout", &self.layout)
            .field("next_index", &self.next_index)
            .finish_non_exhaustive()
    }
}

impl StreamDecryptor {
    /// Parse and validate `header` (exactly [`HEADER_LEN`] bytes) and derive
    /// the document key for `ctx`.
    ///
    /// # Errors
    /// Header errors from [`StreamHeader::parse`]; [`CryptoError::WrongKey`]
    /// if the key check value does not match (wrong data key, or the blob
    /// belongs to another owner/document).
    pub fn new(key: &DataKey, ctx: &StreamContext, header: &[u8]) -> Result<Self> {
        let h = StreamHeader::parse(header)?;
        let keys = derive_doc_keys(key, ctx, &h.salt)?;
        if !bool::from(keys.check.ct_eq(&h.key_check)) {
            return Err(CryptoError::WrongKey);
        }
        let layout = h.layout();
        let full_ct = to_usize(h.chunk_size)?
            .checked_add(TAG_LEN)
            .ok_or(CryptoError::TooLarge)?;
        Ok(Self {
            stream: build_stream(&keys, h.nonce_prefix)?,
            aad: chunk_aad(&h.to_bytes(), ctx),
            layout,
            full_ct,
            next_index: 0,
            pending: Vec::with_capacity(full_ct),
            poisoned: None,
        })
    }

    /// Length arithmetic of this stream.
    #[must_use]
    pub fn layout(&self) -> StreamLayout {
        self.layout
    }

    /// Feed ciphertext (the bytes after the header, in any split); returns
    /// the plaintext of the chunks that could be authenticated so far.
    ///
    /// # Errors
    /// [`CryptoError::Tampered`] (modified/reordered/foreign chunk),
    /// [`CryptoError::TrailingData`] (data after the final chunk),
    /// [`CryptoError::TooLarge`]. After an error the decryptor stays failed.
    pub fn push(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.push_into(ciphertext, &mut out)?;
        Ok(out)
    }

    /// Like [`push`](Self::push) but appends to `out`. On error nothing is
    /// appended (any partial output of this call is zeroized and removed).
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub fn push_into(&mut self, ciphertext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if let Some(e) = self.poisoned {
            return Err(e);
        }
        let start = out.len();
        let r = self.push_inner(ciphertext, out);
        if let Err(e) = r {
            self.poisoned = Some(e);
            if let Some(tail) = out.get_mut(start..) {
                tail.zeroize();
            }
            out.truncate(start);
        }
        r
    }

    fn push_inner(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let full = self.full_ct;
        out.reserve((self.pending.len() + input.len()) / full * (full - TAG_LEN));
        loop {
            if self.pending.len() == full {
                if input.is_empty() {
                    break;
                }
                // More data follows, so the buffered chunk is not the final one.
                let index = self.index()?;
                let r = self.open_streaming(index, &self.pending, out);
                self.pending.clear();
                r?;
                self.next_index += 1;
            }
            if self.pending.is_empty() && input.len() > full {
                let (chunk, rest) = input.split_at(full);
                let index = self.index()?;
                self.open_streaming(index, chunk, out)?;
                self.next_index += 1;
                input = rest;
                continue;
            }
            let take = (full - self.pending.len()).min(input.len());
            let (head, rest) = input.split_at(take);
            self.pending.extend_from_slice(head);
            input = rest;
            if input.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// End of input: decrypt the buffered final chunk.
    ///
    /// # Errors
    /// [`CryptoError::Truncated`] if the final chunk never arrived (stream
    /// cut at or inside a chunk), [`CryptoError::Tampered`], or the error
    /// that previously failed this decryptor.
    pub fn finish(self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.finish_into(&mut out)?;
        Ok(out)
    }

    /// Like [`finish`](Self::finish) but appends to `out`.
    ///
    /// # Errors
    /// As [`finish`](Self::finish).
    pub fn finish_into(self, out: &mut Vec<u8>) -> Result<()> {
        if let Some(e) = self.poisoned {
            return Err(e);
        }
        if self.pending.len() < TAG_LEN {
            return Err(CryptoError::Truncated);
        }
        let index = u32::try_from(self.next_index).map_err(|_| CryptoError::TooLarge)?;
        match self.open_into(index, true, &self.pending, out) {
            Ok(()) => Ok(()),
            // A valid *non-final* chunk here means the real final chunk was cut off.
            Err(_) if self.authenticates(index, false, &self.pending) => {
                Err(CryptoError::Truncated)
            }
            Err(e) => Err(e),
        }
    }

    /// Decrypt one chunk by index (random access). `is_last` must be true
    /// exactly for the stream's final chunk (`chunk_count - 1`).
    ///
    /// # Errors
    /// [`CryptoError::Truncated`] for a wrong chunk length,
    /// [`CryptoError::Tampered`] if authentication fails.
    pub fn decrypt_chunk(&self, index: u32, is_last: bool, bytes: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(bytes.len());
        self.open_into(index, is_last, bytes, &mut out)?;
        Ok(out)
    }

    /// Decrypt the ciphertext fetched for `range` (exactly `range.len`
    /// bytes starting at `range.offset`) and return exactly the requested
    /// plaintext bytes.
    ///
    /// # Errors
    /// [`CryptoError::InvalidRange`] if `range` was computed for another chunk
    /// size, [`CryptoError::Truncated`] if `ciphertext.len() != range.len`,
    /// [`CryptoError::Tampered`].
    pub fn decrypt_range(&self, range: &CiphertextRange, ciphertext: &[u8]) -> Result<Vec<u8>> {
        if range.chunk_size != self.layout.chunk_size
            || range.first_chunk > range.last_chunk
            || range.last_chunk > range.final_chunk
        {
            return Err(CryptoError::InvalidRange);
        }
        if u64::try_from(ciphertext.len()).ok() != Some(range.len) {
            return Err(CryptoError::Truncated);
        }
        let mut out = Vec::with_capacity(ciphertext.len());
        let mut rest = ciphertext;
        let mut index = range.first_chunk;
        let result = loop {
            let is_last = index == range.final_chunk;
            let take = if is_last {
                rest.len()
            } else {
                self.full_ct.min(rest.len())
            };
            let (chunk, tail) = rest.split_at(take);
            if let Err(e) = self.open_into(index, is_last, chunk, &mut out) {
                break Err(e);
            }
            rest = tail;
            if index == range.last_chunk {
                break if rest.is_empty() {
                    Ok(())
                } else {
                    Err(CryptoError::Truncated)
                };
            }
            index += 1;
        };
        let skip = usize::try_from(range.skip).map_err(|_| CryptoError::InvalidRange);
        let want = usize::try_from(range.plaintext_len).map_err(|_| CryptoError::InvalidRange);
        match (result, skip, want) {
            (Ok(()), Ok(skip), Ok(want)) if skip.saturating_add(want) <= out.len() => {
                out.copy_within(skip..skip + want, 0);
                if let Some(t) = out.get_mut(want..) {
                    t.zeroize();
                }
                out.truncate(want);
                Ok(out)
            }
            (r, _, _) => {
                out.zeroize();
                Err(r.err().unwrap_or(CryptoError::InvalidRange))
            }
        }
    }

    fn index(&self) -> Result<u32> {
        let i = u32::try_from(self.next_index).map_err(|_| CryptoError::TooLarge)?;
        // a non-final chunk can never use the last counter value
        if i == u32::MAX {
            return Err(CryptoError::TooLarge);
        }
        Ok(i)
    }

    /// Decrypt a chunk known (by position in the stream) not to be final.
    fn open_streaming(&self, index: u32, chunk: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match self.open_into(index, false, chunk, out) {
            Ok(()) => Ok(()),
            // A chunk that authenticates as *final* followed by more data.
            Err(_) if self.authenticates(index, true, chunk) => Err(CryptoError::TrailingData),
            Err(e) => Err(e),
        }
    }

    /// Whether `chunk` authenticates at (`index`, `last`); output discarded.
    fn authenticates(&self, index: u32, last: bool, chunk: &[u8]) -> bool {
        let mut scratch = Vec::with_capacity(chunk.len());
        let ok = self.open_into(index, last, chunk, &mut scratch).is_ok();
        scratch.zeroize();
        ok
    }

    fn open_into(&self, index: u32, last: bool, chunk: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let len_ok = if last {
            (TAG_LEN..=self.full_ct).contains(&chunk.len())
        } else {
            chunk.len() == self.full_ct
        };
        if !len_ok {
            return Err(CryptoError::Truncated);
        }
        let start = out.len();
        out.extend_from_slice(chunk);
        let r =
            self.stream
                .decrypt_in_place(index, last, &self.aad, &mut TailBuffer::new(out, start));
        if r.is_err() {
            // aes-gcm verifies the tag before decrypting, so this is ciphertext.
            out.truncate(start);
            return Err(CryptoError::Tampered);
        }
        Ok(())
    }
}

/// One-shot helper: encrypt a whole in-memory document.
/// Returns `header || chunks`.
///
/// # Errors
/// As [`StreamEncryptor::new`] / [`StreamEncryptor::push`].
pub fn encrypt_document(
    key: &DataKey,
    ctx: &StreamContext,
    plaintext: &[u8],
    chunk_size: u32,
) -> Result<Vec<u8>> {
    let total = StreamLayout::new(chunk_size)?.ciphertext_len(plaintext.len() as u64)?;
    let (mut enc, header) = StreamEncryptor::new(key, ctx, chunk_size)?;
    let mut out = Vec::with_capacity(usize::try_from(total).map_err(|_| CryptoError::TooLarge)?);
    out.extend_from_slice(&header);
    enc.push_into(plaintext, &mut out)?;
    enc.finish_into(&mut out)?;
    Ok(out)
}

/// One-shot helper: decrypt a whole in-memory blob (`header || chunks`).
///
/// # Errors
/// As [`StreamDecryptor::new`] / [`StreamDecryptor::push`] / [`StreamDecryptor::finish`].
pub fn decrypt_document(key: &DataKey, ctx: &StreamContext, blob: &[u8]) -> Result<Vec<u8>> {
    if blob.len() < HEADER_LEN {
        return Err(StreamHeader::parse(blob)
            .err()
            .unwrap_or(CryptoError::Truncated));
    }
    let (header, body) = blob.split_at(HEADER_LEN);
    let mut dec = StreamDecryptor::new(key, ctx, header)?;
    let mut out = Vec::with_capacity(body.len());
    dec.push_into(body, &mut out)?;
    if let Err(e) = dec.finish_into(&mut out) {
        out.zeroize();
        return Err(e);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const C: u32 = MIN_CHUNK_SIZE; // 16-byte chunks in tests
    const CU: usize = C as usize;
    const FULL: usize = CU + TAG_LEN;

    fn ctx() -> StreamContext {
        StreamContext {
            owner: Uuid::new_v4(),
            document: Uuid::now_v7(),
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 ^ 0x5a).collect()
    }

    /// Split a blob into (header, chunks).
    fn split(blob: &[u8], full: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
        let (h, body) = blob.split_at(HEADER_LEN);
        (h.to_vec(), body.chunks(full).map(<[u8]>::to_vec).collect())
    }

    fn join(header: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut v = header.to_vec();
        for c in chunks {
            v.extend_from_slice(c);
        }
        v
    }

    fn enc_pieces(
        key: &DataKey,
        cx: &StreamContext,
        pt: &[u8],
        chunk: u32,
        piece: usize,
    ) -> Vec<u8> {
        let (mut e, mut out) = StreamEncryptor::new(key, cx, chunk).unwrap();
        for p in pt.chunks(piece.max(1)) {
            out.extend(e.push(p).unwrap());
        }
        out.extend(e.finish().unwrap());
        out
    }

    fn dec_pieces(key: &DataKey, cx: &StreamContext, blob: &[u8], piece: usize) -> Result<Vec<u8>> {
        let mut d = StreamDecryptor::new(key, cx, &blob[..HEADER_LEN])?;
        let mut out = Vec::new();
        for p in blob[HEADER_LEN..].chunks(piece.max(1)) {
            out.extend(d.push(p)?);
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    #[test]
    fn round_trip_boundary_sizes_small_chunks() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let layout = StreamLayout::new(C).unwrap();
        for len in [0, 1, CU - 1, CU, CU + 1, 2 * CU, 2 * CU + 1, 10 * CU + 7] {
            let pt = data(len);
            let blob = encrypt_document(&k, &cx, &pt, C).unwrap();
            assert_eq!(
                blob.len() as u64,
                layout.ciphertext_len(len as u64).unwrap(),
                "len {len}"
            );
            assert_eq!(layout.plaintext_len(blob.len() as u64).unwrap(), len as u64);
            let expected_chunks = len.div_ceil(CU).max(1);
            assert_eq!((blob.len() - HEADER_LEN - len) / TAG_LEN, expected_chunks);
            assert_eq!(decrypt_document(&k, &cx, &blob).unwrap(), pt, "len {len}");
        }
    }

    #[test]
    fn round_trip_boundary_sizes_default_chunks() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let c = DEFAULT_CHUNK_SIZE as usize;
        for len in [0, 1, c - 1, c, c + 1, 3 * c + 12345] {
            let pt = data(len);
            let blob = encrypt_document(&k, &cx, &pt, DEFAULT_CHUNK_SIZE).unwrap();
            assert_eq!(decrypt_document(&k, &cx, &blob).unwrap(), pt, "len {len}");
            // streaming decrypt in odd pieces too
            assert_eq!(dec_pieces(&k, &cx, &blob, 10_007).unwrap(), pt, "len {len}");
        }
    }

    #[test]
    fn odd_size_pushes_match_one_shot() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        for len in [0, 1, CU, CU + 1, 5 * CU, 5 * CU + 3] {
            let pt = data(len);
            for piece in [1, 3, 7, 16, 17, 33, 1000] {
                let blob = enc_pieces(&k, &cx, &pt, C, piece);
                assert_eq!(
                    blob.len(),
                    HEADER_LEN + len + len.div_ceil(CU).max(1) * TAG_LEN
                );
                for dpiece in [1, 5, FULL - 1, FULL, FULL + 1, 4096] {
                    assert_eq!(
                        dec_pieces(&k, &cx, &blob, dpiece).unwrap(),
                        pt,
                        "len {len} piece {piece} dpiece {dpiece}"
                    );
                }
            }
        }
    }

    #[test]
    fn encryptor_holds_back_exactly_one_chunk() {
        let k = DataKey::generate().unwrap();
        let (mut e, _h) = StreamEncryptor::new(&k, &ctx(), C).unwrap();
        for _ in 0..CU {
            assert!(e.push(&[1]).unwrap().is_empty());
        }
        // The 17th byte proves the first chunk is not the last one.
        assert_eq!(e.push(&[1]).unwrap().len(), FULL);
        assert!(e.pending.len() <= CU);
        assert_eq!(e.push(&[2; 100]).unwrap().len(), 6 * FULL);
        assert_eq!(e.pending.len(), (1 + 100) - 6 * CU);
        assert_eq!(e.finish().unwrap().len(), (1 + 100) - 6 * CU + TAG_LEN);
    }

    #[test]
    fn decryptor_memory_is_bounded_by_one_chunk() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let blob = encrypt_document(&k, &cx, &data(50 * CU), C).unwrap();
        let mut d = StreamDecryptor::new(&k, &cx, &blob[..HEADER_LEN]).unwrap();
        for b in blob[HEADER_LEN..].chunks(3) {
            d.push(b).unwrap();
            assert!(d.pending.len() <= FULL);
        }
        d.push(&[]).unwrap();
        assert_eq!(d.finish().unwrap().len(), CU);
    }

    #[test]
    fn exact_multiple_last_chunk_is_flagged_last() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let pt = data(2 * CU);
        let blob = encrypt_document(&k, &cx, &pt, C).unwrap();
        assert_eq!(blob.len(), HEADER_LEN + 2 * FULL); // no empty trailing chunk
        let d = StreamDecryptor::new(&k, &cx, &blob[..HEADER_LEN]).unwrap();
        let (_, chunks) = split(&blob, FULL);
        assert_eq!(d.decrypt_chunk(0, false, &chunks[0]).unwrap(), pt[..CU]);
        assert_eq!(
            d.decrypt_chunk(0, true, &chunks[0]),
            Err(CryptoError::Tampered)
        );
        assert_eq!(d.decrypt_chunk(1, true, &chunks[1]).unwrap(), pt[CU..]);
        assert_eq!(
            d.decrypt_chunk(1, false, &chunks[1]),
            Err(CryptoError::Tampered)
        );
    }

    #[test]
    fn empty_document_is_one_empty_final_chunk() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let blob = encrypt_document(&k, &cx, &[], C).unwrap();
        assert_eq!(blob.len(), HEADER_LEN + TAG_LEN);
        let d = StreamDecryptor::new(&k, &cx, &blob[..HEADER_LEN]).unwrap();
        assert!(
            d.decrypt_chunk(0, true, &blob[HEADER_LEN..])
                .unwrap()
                .is_empty()
        );
        // header alone (final chunk missing) is truncated
        assert_eq!(
            decrypt_document(&k, &cx, &blob[..HEADER_LEN]),
            Err(CryptoError::Truncated)
        );
    }

    #[test]
    fn header_layout_is_as_documented() {
        let k = DataKey::generate().unwrap();
        let (_e, h) = StreamEncryptor::new(&k, &ctx(), 0x0001_0000).unwrap();
        assert_eq!(h.len(), 49);
        assert_eq!(header_len(), 49);
        assert_eq!(&h[0..4], b"CDS1");
        assert_eq!(h[4], 1);
        assert_eq!(h[5], 1);
        assert_eq!(&h[6..10], &[0, 1, 0, 0]);
        let parsed = StreamHeader::parse(&h).unwrap();
        assert_eq!(parsed.chunk_size(), 65536);
        assert_eq!(parsed.to_bytes().as_slice(), h.as_slice());
        assert_eq!(&parsed.salt, &h[10..26]);
        assert_eq!(&parsed.nonce_prefix, &h[26..33]);
        assert_eq!(&parsed.key_check, &h[33..49]);
        // fresh salt and prefix for every encryption
        let (_e2, h2) = StreamEncryptor::new(&k, &ctx(), 0x0001_0000).unwrap();
        assert_ne!(h[10..33], h2[10..33]);
    }

    #[test]
    fn header_parse_errors() {
        let k = DataKey::generate().unwrap();
        let (_e, h) = StreamEncryptor::new(&k, &ctx(), C).unwrap();
        assert_eq!(StreamHeader::parse(&h[..48]), Err(CryptoError::Truncated));
        assert_eq!(StreamHeader::parse(&[]), Err(CryptoError::Truncated));
        assert_eq!(
            StreamHeader::parse(b"XD"),
            Err(CryptoError::UnsupportedFormat)
        );
        let mut long = h.clone();
        long.push(0);
        assert_eq!(
            StreamHeader::parse(&long),
            Err(CryptoError::UnsupportedFormat)
        );
        for (i, want) in [
            (0, CryptoError::UnsupportedFormat),
            (3, CryptoError::UnsupportedFormat),
            (4, CryptoError::UnsupportedFormat),
            (5, CryptoError::UnsupportedFormat),
        ] {
            let mut t = h.clone();
            t[i] ^= 1;
            assert_eq!(StreamHeader::parse(&t), Err(want), "byte {i}");
        }
        let mut t = h.clone();
        t[6..10].copy_from_slice(&15u32.to_be_bytes());
        assert_eq!(StreamHeader::parse(&t), Err(CryptoError::InvalidChunkSize));
        t[6..10].copy_from_slice(&(MAX_CHUNK_SIZE + 1).to_be_bytes());
        assert_eq!(StreamHeader::parse(&t), Err(CryptoError::InvalidChunkSize));
    }

    #[test]
    fn chunk_size_limits() {
        let k = DataKey::generate().unwrap();
        for bad in [0, MIN_CHUNK_SIZE - 1, MAX_CHUNK_SIZE + 1, u32::MAX] {
            assert_eq!(
                StreamEncryptor::new(&k, &ctx(), bad).unwrap_err(),
                CryptoError::InvalidChunkSize
            );
        }
        assert!(StreamEncryptor::new(&k, &ctx(), MAX_CHUNK_SIZE).is_ok());
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let pt = data(3 * CU + 5);
        let blob = encrypt_document(&k, &cx, &pt, C).unwrap();
        for i in 0..blob.len() {
            for bit in [0x01u8, 0x80] {
                let mut t = blob.clone();
                t[i] ^= bit;
                let e = decrypt_document(&k, &cx, &t).unwrap_err();
                let want: &[CryptoError] = match i {
                    0..=5 => &[CryptoError::UnsupportedFormat],
                    // chunk size: invalid size, or different chunking => fails
                    6..=9 => &[
                        CryptoError::InvalidChunkSize,
                        CryptoError::Tampered,
                        CryptoError::Truncated,
                    ],
                    10..=25 | 33..=48 => &[CryptoError::WrongKey], // salt, key check
                    _ => &[CryptoError::Tampered], // nonce prefix, chunk bodies, tags
                };
                assert!(want.contains(&e), "byte {i} bit {bit:#x}: {e:?}");
            }
        }
    }

    #[test]
    fn chunk_size_field_change_to_valid_size_fails() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let blob = encrypt_document(&k, &cx, &data(8 * CU), C).unwrap();
        for new_cs in [32u32, 64, 17] {
            let mut t = blob.clone();
            t[6..10].copy_from_slice(&new_cs.to_be_bytes());
            assert!(decrypt_document(&k, &cx, &t).is_err(), "cs {new_cs}");
        }
    }

    #[test]
    fn every_truncation_is_detected() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let blob = encrypt_document(&k, &cx, &data(3 * CU + 5), C).unwrap();
        for cut in 0..blob.len() {
            let e = decrypt_document(&k, &cx, &blob[..cut]).unwrap_err();
            assert!(
                matches!(e, CryptoError::Truncated | CryptoError::Tampered),
                "cut {cut}: {e:?}"
            );
        }
    }

    #[test]
    fn dropping_the_last_chunk_is_truncation() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        for len in [2 * CU, 3 * CU + 5] {
            let blob = encrypt_document(&k, &cx, &data(len), C).unwrap();
            let (h, mut chunks) = split(&blob, FULL);
            chunks.pop();
            let t = join(&h, &chunks);
            assert_eq!(
                decrypt_document(&k, &cx, &t),
                Err(CryptoError::Truncated),
                "len {len}"
            );
            assert_eq!(dec_pieces(&k, &cx, &t, 1), Err(CryptoError::Truncated));
        }
    }

    #[test]
    fn swapping_chunks_is_detected() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let blob = encrypt_document(&k, &cx, &data(4 * CU), C).unwrap();
        let (h, chunks) = split(&blob, FULL);
        for (a, b) in [(0, 1), (1, 2), (0, 3), (2, 3)] {
            let mut c = chunks.clone();
            c.swap(a, b);
            assert_eq!(
                decrypt_document(&k, &cx, &join(&h, &c)),
                Err(CryptoError::Tampered),
                "swap {a} {b}"
            );
        }
    }

    #[test]
    fn duplicating_or_appending_chunks_is_detected() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let blob = encrypt_document(&k, &cx, &data(3 * CU), C).unwrap();
        let (h, chunks) = split(&blob, FULL);
        // duplicate a middle chunk
        let mut c = chunks.clone();
        c.insert(1, chunks[1].clone());
        assert_eq!(
            decrypt_document(&k, &cx, &join(&h, &c)),
            Err(CryptoError::Tampered)
        );
        // duplicate the first chunk
        let mut c = chunks.clone();
        c.insert(0, chunks[0].clone());
        assert_eq!(
            decrypt_document(&k, &cx, &join(&h, &c)),
            Err(CryptoError::Tampered)
        );
        // duplicate the final chunk at the end: data after the final chunk
        let mut c = chunks.clone();
        c.push(chunks[2].clone());
        assert_eq!(
            decrypt_document(&k, &cx, &join(&h, &c)),
            Err(CryptoError::TrailingData)
        );
        // a single trailing byte after a full final chunk
        let mut t = blob.clone();
        t.push(0);
        assert_eq!(
            decrypt_document(&k, &cx, &t),
            Err(CryptoError::TrailingData)
        );
        // chunks from another stream of the same document spliced in
        let other = encrypt_document(&k, &cx, &data(3 * CU), C).unwrap();
        let (_, oc) = split(&other, FULL);
        let mut c = chunks.clone();
        c[1] = oc[1].clone();
        assert_eq!(
            decrypt_document(&k, &cx, &join(&h, &c)),
            Err(CryptoError::Tampered)
        );
    }

    #[test]
    fn trailing_garbage_after_short_final_chunk_is_detected() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let mut blob = encrypt_document(&k, &cx, &data(CU + 3), C).unwrap();
        blob.extend_from_slice(&[0u8; 40]);
        assert!(decrypt_document(&k, &cx, &blob).is_err());
    }

    #[test]
    fn moved_to_other_document_owner_or_key_fails() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let blob = encrypt_document(&k, &cx, &data(40), C).unwrap();
        let other_doc = StreamContext {
            document: Uuid::now_v7(),
            ..cx
        };
        let other_owner = StreamContext {
            owner: Uuid::new_v4(),
            ..cx
        };
        assert_eq!(
            decrypt_document(&k, &other_doc, &blob),
            Err(CryptoError::WrongKey)
        );
        assert_eq!(
            decrypt_document(&k, &other_owner, &blob),
            Err(CryptoError::WrongKey)
        );
        let k2 = DataKey::generate().unwrap();
        assert_eq!(
            decrypt_document(&k2, &cx, &blob),
            Err(CryptoError::WrongKey)
        );
        assert_eq!(decrypt_document(&k, &cx, &blob).unwrap(), data(40));
    }

    #[test]
    fn aad_binds_context_even_with_the_right_key() {
        // Defence in depth: even if the key derivation did not include the
        // ids, the per-chunk AAD would still reject a foreign context.
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let blob = encrypt_document(&k, &cx, &data(40), C).unwrap();
        let mut d = StreamDecryptor::new(&k, &cx, &blob[..HEADER_LEN]).unwrap();
        let h: [u8; HEADER_LEN] = blob[..HEADER_LEN].try_into().unwrap();
        d.aad = chunk_aad(
            &h,
            &StreamContext {
                document: Uuid::now_v7(),
                ..cx
            },
        );
        let (_, chunks) = split(&blob, FULL);
        assert_eq!(
            d.decrypt_chunk(0, false, &chunks[0]),
            Err(CryptoError::Tampered)
        );
        d.aad = chunk_aad(&h, &cx);
        assert!(d.decrypt_chunk(0, false, &chunks[0]).is_ok());
    }

    #[test]
    fn decryptor_stays_failed_after_error() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let blob = encrypt_document(&k, &cx, &data(5 * CU), C).unwrap();
        let mut t = blob.clone();
        t[HEADER_LEN + 3] ^= 1;
        let mut d = StreamDecryptor::new(&k, &cx, &t[..HEADER_LEN]).unwrap();
        let mut out = vec![9u8];
        assert_eq!(
            d.push_into(&t[HEADER_LEN..], &mut out),
            Err(CryptoError::Tampered)
        );
        assert_eq!(out, vec![9u8]); // nothing appended on error
        // even authentic data is refused afterwards
        assert_eq!(
            d.push(&blob[HEADER_LEN + FULL..]),
            Err(CryptoError::Tampered)
        );
        assert_eq!(d.finish(), Err(CryptoError::Tampered));
    }

    #[test]
    fn counter_exhaustion_is_an_error_not_a_wrap() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let (mut e, _) = StreamEncryptor::new(&k, &cx, C).unwrap();
        e.next_index = u64::from(u32::MAX);
        // a non-final chunk at the last counter value is refused
        assert_eq!(e.push(&data(CU + 1)), Err(CryptoError::TooLarge));
        assert_eq!(e.finish(), Err(CryptoError::TooLarge));
        // but the final chunk may use it
        let (mut e, _) = StreamEncryptor::new(&k, &cx, C).unwrap();
        e.next_index = u64::from(u32::MAX);
        assert!(e.push(&data(CU)).unwrap().is_empty());
        assert_eq!(e.finish().unwrap().len(), FULL);
        let layout = StreamLayout::new(C).unwrap();
        assert_eq!(
            layout.chunk_count(MAX_CHUNKS * u64::from(C)),
            Ok(MAX_CHUNKS)
        );
        assert_eq!(
            layout.chunk_count(MAX_CHUNKS * u64::from(C) + 1),
            Err(CryptoError::TooLarge)
        );
    }

    #[test]
    fn length_arithmetic_is_consistent() {
        for cs in [C, 100, DEFAULT_CHUNK_SIZE] {
            let l = StreamLayout::new(cs).unwrap();
            let c = u64::from(cs);
            for p in [0, 1, c - 1, c, c + 1, 2 * c, 7 * c + 3, 1 << 35] {
                let ct = l.ciphertext_len(p).unwrap();
                assert_eq!(l.plaintext_len(ct), Ok(p), "cs {cs} p {p}");
            }
            // lengths no valid stream can have
            let h = HEADER_U64;
            for bad in [
                0,
                h,
                h + TAG_U64 - 1,
                h + c + TAG_U64 + 1,
                h + c + 2 * TAG_U64,
            ] {
                assert_eq!(
                    l.plaintext_len(bad),
                    Err(CryptoError::Truncated),
                    "cs {cs} ct {bad}"
                );
            }
            assert_eq!(l.ciphertext_len(u64::MAX - 10), Err(CryptoError::TooLarge));
        }
    }

    #[test]
    fn range_mapping_at_chunk_boundaries() {
        let l = StreamLayout::new(C).unwrap();
        let c = u64::from(C);
        let full = c + TAG_U64;
        let total = 3 * c + 5; // chunks 0,1,2 full; 3 has 5 bytes
        // exactly chunk 1
        let r = l.ciphertext_range_for(c, 2 * c, total).unwrap();
        assert_eq!((r.first_chunk, r.last_chunk, r.final_chunk), (1, 1, 3));
        assert_eq!(
            (r.offset, r.len, r.skip, r.plaintext_len),
            (HEADER_U64 + full, full, 0, c)
        );
        // straddling the 1|2 boundary by one byte each side
        let r = l.ciphertext_range_for(2 * c - 1, 2 * c + 1, total).unwrap();
        assert_eq!((r.first_chunk, r.last_chunk), (1, 2));
        assert_eq!(
            (r.offset, r.len, r.skip),
            (HEADER_U64 + full, 2 * full, c - 1)
        );
        // the short final chunk
        let r = l.ciphertext_range_for(3 * c, total, total).unwrap();
        assert_eq!((r.first_chunk, r.last_chunk), (3, 3));
        assert!(r.includes_final_chunk());
        assert_eq!((r.offset, r.len), (HEADER_U64 + 3 * full, 5 + TAG_U64));
        assert_eq!(r.offset + r.len, l.ciphertext_len(total).unwrap());
        // invalid ranges
        for (s, e) in [(0, 0), (5, 4), (0, total + 1), (total, total + 1)] {
            assert_eq!(
                l.ciphertext_range_for(s, e, total),
                Err(CryptoError::InvalidRange)
            );
        }
        assert_eq!(
            l.ciphertext_range_for(0, 1, 0),
            Err(CryptoError::InvalidRange)
        );
    }

    #[test]
    fn range_decryption_returns_exactly_the_requested_bytes() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        for len in [1usize, CU, 3 * CU, 3 * CU + 5] {
            let pt = data(len);
            let blob = encrypt_document(&k, &cx, &pt, C).unwrap();
            let h = StreamHeader::parse(&blob[..HEADER_LEN]).unwrap();
            let l = h.layout();
            let total = l.plaintext_len(blob.len() as u64).unwrap();
            assert_eq!(total, len as u64);
            let d = StreamDecryptor::new(&k, &cx, &blob[..HEADER_LEN]).unwrap();
            for s in 0..len {
                for e in s + 1..=len {
                    let r = l.ciphertext_range_for(s as u64, e as u64, total).unwrap();
                    let ct = &blob[r.offset as usize..(r.offset + r.len) as usize];
                    assert_eq!(
                        d.decrypt_range(&r, ct).unwrap(),
                        pt[s..e],
                        "len {len} {s}..{e}"
                    );
                }
            }
        }
    }

    #[test]
    fn range_decryption_with_default_chunks() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let c = DEFAULT_CHUNK_SIZE as usize;
        let pt = data(3 * c + 1000);
        let blob = encrypt_document(&k, &cx, &pt, DEFAULT_CHUNK_SIZE).unwrap();
        let d = StreamDecryptor::new(&k, &cx, &blob[..HEADER_LEN]).unwrap();
        let l = d.layout();
        let total = pt.len() as u64;
        for (s, e) in [
            (0, c),
            (c, 2 * c),
            (c - 1, c + 1),
            (2 * c, pt.len()),
            (0, pt.len()),
            (3 * c, 3 * c + 1),
        ] {
            let r = l.ciphertext_range_for(s as u64, e as u64, total).unwrap();
            let ct = &blob[r.offset as usize..(r.offset + r.len) as usize];
            assert_eq!(d.decrypt_range(&r, ct).unwrap(), pt[s..e], "{s}..{e}");
        }
    }

    #[test]
    fn range_decryption_detects_tampering_and_misuse() {
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let pt = data(3 * CU + 5);
        let blob = encrypt_document(&k, &cx, &pt, C).unwrap();
        let d = StreamDecryptor::new(&k, &cx, &blob[..HEADER_LEN]).unwrap();
        let l = d.layout();
        let total = pt.len() as u64;
        let r = l.ciphertext_range_for(10, 40, total).unwrap();
        let ct = blob[r.offset as usize..(r.offset + r.len) as usize].to_vec();
        let mut t = ct.clone();
        t[FULL + 2] ^= 1;
        assert_eq!(d.decrypt_range(&r, &t), Err(CryptoError::Tampered));
        assert_eq!(d.decrypt_range(&r, &ct[1..]), Err(CryptoError::Truncated));
        // bytes fetched from the wrong offset (shifted by one chunk)
        let r1 = l.ciphertext_range_for(10, 20, total).unwrap();
        let o = r1.offset as usize + FULL;
        let wrong = &blob[o..o + r1.len as usize];
        assert_eq!(d.decrypt_range(&r1, wrong), Err(CryptoError::Tampered));
        // range computed for another chunk size
        let r2 = StreamLayout::new(32)
            .unwrap()
            .ciphertext_range_for(10, 40, total)
            .unwrap();
        assert_eq!(d.decrypt_range(&r2, &ct), Err(CryptoError::InvalidRange));
    }

    #[test]
    fn range_on_truncated_blob_fails_at_the_final_chunk() {
        // The server derives plaintext_len from the stored blob length; if the
        // blob lost its last chunk, the chunk now treated as final fails.
        let k = DataKey::generate().unwrap();
        let cx = ctx();
        let pt = data(3 * CU + 5);
        let blob = encrypt_document(&k, &cx, &pt, C).unwrap();
        let cut = &blob[..HEADER_LEN + 3 * FULL];
        let d = StreamDecryptor::new(&k, &cx, &cut[..HEADER_LEN]).unwrap();
        let l = d.layout();
        let total = l.plaintext_len(cut.len() as u64).unwrap();
        assert_eq!(total, 3 * u64::from(C));
        let r = l.ciphertext_range_for(total - 1, total, total).unwrap();
        let ct = &cut[r.offset as usize..(r.offset + r.len) as usize];
        assert_eq!(d.decrypt_range(&r, ct), Err(CryptoError::Tampered));
        // earlier chunks remain readable (they are authentic)
        let r = l.ciphertext_range_for(0, 16, total).unwrap();
        let ct = &cut[r.offset as usize..(r.offset + r.len) as usize];
        assert_eq!(d.decrypt_range(&r, ct).unwrap(), pt[..16]);
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let k = DataKey::from_bytes([0x42; 32]);
        let cx = ctx();
        let (e, h) = StreamEncryptor::new(&k, &cx, C).unwrap();
        let d = StreamDecryptor::new(&k, &cx, &h).unwrap();
        let s = format!("{e:?} {d:?}");
        assert!(s.contains("StreamEncryptor") && s.contains("StreamDecryptor"));
        assert!(!s.contains("66, 66"), "{s}");
        assert!(!s.contains("aad") && !s.contains("stream:"), "{s}");
    }
}
