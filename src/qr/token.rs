//! The QR identity token: a fixed binary layout signed with the platform's Ed25519 key, written
//! as Base45 (RFC 9285) behind the prefix `CDS1:` so a QR code carries it in alphanumeric mode.
//! No I/O, no clock: the caller gives the times. Byte format in docs/CRYPTO.md ("QR identity").
//!
//! ```text
//! offset len  field
//!  0      1   version      0x01 phone token (minutes), 0x02 printed card (a year)
//!  1      8   key id       the 8 bytes behind the platform key id `sk_<16 hex>`
//!  9     16   handle       the citizen's random public handle (never the national ID number)
//! 25      8   issued_at    Unix seconds, signed 64-bit big-endian
//! 33      8   expires_at   Unix seconds, signed 64-bit big-endian
//! 41     16   nonce        v1: random; recorded when used, so the token is used once
//!                          v2: card id (12 random bytes) || status index (u32 big-endian)
//! 57     64   signature    Ed25519 over "congdanso/v1/qr-identity\0" || bytes 0..57
//! ```

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// What a token's text starts with: the format, and a marker that the rest is Base45.
pub const PREFIX: &str = "CDS1:";
/// Signed before the body, so no other signature of the platform key can pass as a token.
pub const DOMAIN: &[u8] = b"congdanso/v1/qr-identity\0";
/// A token shown on the citizen's phone, valid minutes.
pub const VERSION_PHONE: u8 = 0x01;
/// A printed card, valid `CONGDANSO_QR_CARD_DAYS`; scanned at every visit, proves identity only
/// with a one-time code, revocable (its status index in the status list).
pub const VERSION_CARD: u8 = 0x02;
/// In a card (v2), the first 12 bytes of the nonce field: the card's random id.
pub const CARD_ID_LEN: usize = 12;

pub const KEY_ID_LEN: usize = 8;
pub const HANDLE_LEN: usize = 16;
pub const NONCE_LEN: usize = 16;
pub const SIGNATURE_LEN: usize = 64;
/// The signed part.
pub const BODY_LEN: usize = 1 + KEY_ID_LEN + HANDLE_LEN + 8 + 8 + NONCE_LEN;
/// The whole token in bytes.
pub const TOKEN_LEN: usize = BODY_LEN + SIGNATURE_LEN;

/// What a token states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    pub version: u8,
    pub key_id: [u8; KEY_ID_LEN],
    pub handle: [u8; HANDLE_LEN],
    pub issued_at: i64,
    pub expires_at: i64,
    pub nonce: [u8; NONCE_LEN],
}

impl Claims {
    /// The signed bytes (0..57 of the layout).
    pub fn body(&self) -> [u8; BODY_LEN] {
        let mut out = [0u8; BODY_LEN];
        out[0] = self.version;
        out[1..9].copy_from_slice(&self.key_id);
        out[9..25].copy_from_slice(&self.handle);
        out[25..33].copy_from_slice(&self.issued_at.to_be_bytes());
        out[33..41].copy_from_slice(&self.expires_at.to_be_bytes());
        out[41..57].copy_from_slice(&self.nonce);
        out
    }

    /// A card's id: the first 12 bytes of the nonce field (meaningful for v2 only).
    pub fn card_id(&self) -> [u8; CARD_ID_LEN] {
        let mut out = [0u8; CARD_ID_LEN];
        out.copy_from_slice(&self.nonce[..CARD_ID_LEN]);
        out
    }

    /// A card's index in the status list: the last 4 bytes of the nonce field, big-endian
    /// (meaningful for v2 only).
    pub fn status_index(&self) -> u32 {
        let mut n = [0u8; 4];
        n.copy_from_slice(&self.nonce[CARD_ID_LEN..]);
        u32::from_be_bytes(n)
    }

    /// The nonce field of a card: card id || status index (big-endian).
    pub fn card_nonce(card_id: &[u8; CARD_ID_LEN], status_index: u32) -> [u8; NONCE_LEN] {
        let mut out = [0u8; NONCE_LEN];
        out[..CARD_ID_LEN].copy_from_slice(card_id);
        out[CARD_ID_LEN..].copy_from_slice(&status_index.to_be_bytes());
        out
    }

    fn from_body(body: &[u8; BODY_LEN]) -> Self {
        let mut claims = Self {
            version: body[0],
            key_id: [0; KEY_ID_LEN],
            handle: [0; HANDLE_LEN],
            issued_at: 0,
            expires_at: 0,
            nonce: [0; NONCE_LEN],
        };
        claims.key_id.copy_from_slice(&body[1..9]);
        claims.handle.copy_from_slice(&body[9..25]);
        let mut n = [0u8; 8];
        n.copy_from_slice(&body[25..33]);
        claims.issued_at = i64::from_be_bytes(n);
        n.copy_from_slice(&body[33..41]);
        claims.expires_at = i64::from_be_bytes(n);
        claims.nonce.copy_from_slice(&body[41..57]);
        claims
    }
}

/// The message the signature covers: the domain, then the body.
pub fn signed_message(body: &[u8; BODY_LEN]) -> [u8; DOMAIN.len() + BODY_LEN] {
    let mut out = [0u8; DOMAIN.len() + BODY_LEN];
    out[..DOMAIN.len()].copy_from_slice(DOMAIN);
    out[DOMAIN.len()..].copy_from_slice(body);
    out
}

/// The token's bytes: body and signature (Ed25519 is deterministic: same key, same claims,
/// same bytes).
pub fn sign(key: &SigningKey, claims: &Claims) -> [u8; TOKEN_LEN] {
    let body = claims.body();
    let signature = key.sign(&signed_message(&body));
    let mut out = [0u8; TOKEN_LEN];
    out[..BODY_LEN].copy_from_slice(&body);
    out[BODY_LEN..].copy_from_slice(&signature.to_bytes());
    out
}

/// The token's text: `CDS1:` and the Base45 of its bytes (QR alphanumeric characters only).
pub fn encode(bytes: &[u8; TOKEN_LEN]) -> String {
    format!("{PREFIX}{}", base45::encode(bytes))
}

/// Signs and encodes.
pub fn issue(key: &SigningKey, claims: &Claims) -> String {
    encode(&sign(key, claims))
}

/// Why a text is not a token at all, before any key is consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not starting with `CDS1:`.
    Prefix,
    /// Not Base45.
    Encoding,
    /// Not 121 bytes.
    Length,
    /// A version byte this build does not know.
    Version,
}

/// A token read from its text, its signature not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub claims: Claims,
    body: [u8; BODY_LEN],
    signature: [u8; SIGNATURE_LEN],
}

impl Parsed {
    /// Whether `key` signed exactly these bytes (strict Ed25519: no malleable signatures,
    /// no small-order keys).
    pub fn signed_by(&self, key: &VerifyingKey) -> bool {
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&signed_message(&self.body), &signature)
            .is_ok()
    }

    /// The token's bytes again (what was read).
    pub fn bytes(&self) -> [u8; TOKEN_LEN] {
        let mut out = [0u8; TOKEN_LEN];
        out[..BODY_LEN].copy_from_slice(&self.body);
        out[BODY_LEN..].copy_from_slice(&self.signature);
        out
    }
}

/// Reads a token's text (surrounding whitespace ignored).
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let text = text.trim();
    let rest = text.strip_prefix(PREFIX).ok_or(ParseError::Prefix)?;
    let bytes = base45::decode(rest).map_err(|_| ParseError::Encoding)?;
    from_bytes(&bytes)
}

/// Reads a token's bytes.
pub fn from_bytes(bytes: &[u8]) -> Result<Parsed, ParseError> {
    if bytes.len() != TOKEN_LEN {
        return Err(ParseError::Length);
    }
    let mut body = [0u8; BODY_LEN];
    body.copy_from_slice(&bytes[..BODY_LEN]);
    let mut signature = [0u8; SIGNATURE_LEN];
    signature.copy_from_slice(&bytes[BODY_LEN..]);
    if body[0] != VERSION_PHONE && body[0] != VERSION_CARD {
        return Err(ParseError::Version);
    }
    Ok(Parsed {
        claims: Claims::from_body(&body),
        body,
        signature,
    })
}

/// The 8 key-id bytes of a platform key id (`sk_` + 16 hex digits).
pub fn key_id_bytes(id: &str) -> Option<[u8; KEY_ID_LEN]> {
    let hex_part = id.strip_prefix("sk_")?;
    let mut out = [0u8; KEY_ID_LEN];
    hex::decode_to_slice(hex_part, &mut out).ok()?;
    Some(out)
}

/// The platform key id (`sk_…`) of a token's key-id bytes.
pub fn key_id_string(bytes: &[u8; KEY_ID_LEN]) -> String {
    format!("sk_{}", hex::encode(bytes))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn claims(key: &SigningKey) -> Claims {
        let id = crate::keys::signing_key_id(&key.verifying_key());
        Claims {
            version: VERSION_PHONE,
            key_id: key_id_bytes(&id).unwrap(),
            handle: [0x11; HANDLE_LEN],
            issued_at: 1_800_000_000,
            expires_at: 1_800_000_120,
            nonce: [0x22; NONCE_LEN],
        }
    }

    #[test]
    fn a_token_reads_back_as_signed() {
        let key = key();
        let claims = claims(&key);
        let text = issue(&key, &claims);
        assert!(text.starts_with(PREFIX));
        let parsed = parse(&format!("  {text}\n")).unwrap();
        assert_eq!(parsed.claims, claims);
        assert!(parsed.signed_by(&key.verifying_key()));
        assert!(!parsed.signed_by(&SigningKey::from_bytes(&[8u8; 32]).verifying_key()));
        assert_eq!(TOKEN_LEN, 121);
    }

    #[test]
    fn the_text_uses_only_qr_alphanumeric_characters() {
        let key = key();
        let text = issue(&key, &claims(&key));
        const ALNUM: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
        assert!(text.chars().all(|c| ALNUM.contains(c)), "{text}");
        // 121 bytes: 60 pairs of 3 characters and one byte of 2, after the 5-character prefix.
        assert_eq!(text.len(), 5 + 60 * 3 + 2);
    }

    #[test]
    fn any_changed_byte_is_rejected() {
        let key = key();
        let public = key.verifying_key();
        let bytes = sign(&key, &claims(&key));
        for i in 0..TOKEN_LEN {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut changed = bytes;
                changed[i] ^= flip;
                match from_bytes(&changed) {
                    Err(ParseError::Version) => assert_eq!(i, 0),
                    Err(other) => panic!("byte {i}: {other:?}"),
                    Ok(parsed) => assert!(!parsed.signed_by(&public), "byte {i} ^ {flip:#x}"),
                }
            }
        }
        let text = encode(&bytes);
        // And in the text: every character changed to another alphanumeric one.
        for i in PREFIX.len()..text.len() {
            for c in ['0', 'Z', ' '] {
                let mut changed: Vec<char> = text.chars().collect();
                if changed[i] == c {
                    continue;
                }
                changed[i] = c;
                let changed: String = changed.into_iter().collect();
                if let Ok(parsed) = parse(&changed) {
                    // Trailing spaces are trimmed away and may decode to a shorter text.
                    assert!(!parsed.signed_by(&public), "char {i} -> {c:?}");
                }
            }
        }
    }

    #[test]
    fn not_a_token() {
        assert_eq!(parse("hello"), Err(ParseError::Prefix));
        assert_eq!(parse("CDS1:!!"), Err(ParseError::Encoding));
        assert_eq!(parse("CDS1:"), Err(ParseError::Length));
        let key = key();
        let mut bytes = sign(&key, &claims(&key));
        bytes[0] = 0x09;
        assert_eq!(parse(&encode(&bytes)), Err(ParseError::Version));
    }

    /// The checked-in golden vector (tests/golden/qr-identity-v1.json): fixed key and fields,
    /// exact bytes and exact text, so another implementation can be held to it.
    #[test]
    fn golden_vector_matches() {
        use serde_json::{Value, json};
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/qr-identity-v1.json"
        );
        let vector: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let hex_field = |name: &str| hex::decode(vector[name].as_str().unwrap()).unwrap();
        let seed: [u8; 32] = hex_field("seed_hex").try_into().unwrap();
        let key = SigningKey::from_bytes(&seed);
        let fields = &vector["claims"];
        let claims = Claims {
            version: u8::try_from(fields["version"].as_u64().unwrap()).unwrap(),
            key_id: key_id_bytes(fields["key_id"].as_str().unwrap()).unwrap(),
            handle: hex::decode(fields["handle_hex"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap(),
            issued_at: fields["issued_at"].as_i64().unwrap(),
            expires_at: fields["expires_at"].as_i64().unwrap(),
            nonce: hex::decode(fields["nonce_hex"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap(),
        };
        let bytes = sign(&key, &claims);
        let text = encode(&bytes);
        if std::env::var("CDS_WRITE_GOLDEN").is_ok() {
            let mut updated = vector.clone();
            updated["public_key_hex"] = json!(hex::encode(key.verifying_key().as_bytes()));
            updated["signed_message_hex"] = json!(hex::encode(signed_message(&claims.body())));
            updated["token_hex"] = json!(hex::encode(bytes));
            updated["token_text"] = json!(text);
            std::fs::write(path, serde_json::to_string_pretty(&updated).unwrap() + "\n").unwrap();
            return;
        }
        assert_eq!(
            fields["key_id"].as_str().unwrap(),
            crate::keys::signing_key_id(&key.verifying_key())
        );
        assert_eq!(
            hex::encode(key.verifying_key().as_bytes()),
            vector["public_key_hex"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(signed_message(&claims.body())),
            vector["signed_message_hex"].as_str().unwrap()
        );
        assert_eq!(hex::encode(bytes), vector["token_hex"].as_str().unwrap());
        assert_eq!(text, vector["token_text"].as_str().unwrap());
        let parsed = parse(vector["token_text"].as_str().unwrap()).unwrap();
        assert_eq!(parsed.claims, claims);
        assert!(parsed.signed_by(&key.verifying_key()));
    }

    /// The v2 (printed card) golden vector (tests/golden/qr-identity-v2.json, computed by
    /// tests/golden/qr-identity-v2.py with Python `cryptography`, not by this code).
    #[test]
    fn card_golden_vector_matches() {
        use serde_json::Value;
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/qr-identity-v2.json"
        );
        let vector: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let hex_field = |name: &str| hex::decode(vector[name].as_str().unwrap()).unwrap();
        let seed: [u8; 32] = hex_field("seed_hex").try_into().unwrap();
        let key = SigningKey::from_bytes(&seed);
        let fields = &vector["claims"];
        let card_id: [u8; CARD_ID_LEN] = hex::decode(fields["card_id_hex"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let status_index = u32::try_from(fields["status_index"].as_u64().unwrap()).unwrap();
        let claims = Claims {
            version: VERSION_CARD,
            key_id: key_id_bytes(fields["key_id"].as_str().unwrap()).unwrap(),
            handle: hex::decode(fields["handle_hex"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap(),
            issued_at: fields["issued_at"].as_i64().unwrap(),
            expires_at: fields["expires_at"].as_i64().unwrap(),
            nonce: Claims::card_nonce(&card_id, status_index),
        };
        assert_eq!(
            u64::from(claims.version),
            fields["version"].as_u64().unwrap()
        );
        assert_eq!(
            fields["key_id"].as_str().unwrap(),
            crate::keys::signing_key_id(&key.verifying_key())
        );
        assert_eq!(
            hex::encode(key.verifying_key().as_bytes()),
            vector["public_key_hex"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(signed_message(&claims.body())),
            vector["signed_message_hex"].as_str().unwrap()
        );
        let bytes = sign(&key, &claims);
        assert_eq!(hex::encode(bytes), vector["token_hex"].as_str().unwrap());
        assert_eq!(encode(&bytes), vector["token_text"].as_str().unwrap());
        let parsed = parse(vector["token_text"].as_str().unwrap()).unwrap();
        assert_eq!(parsed.claims, claims);
        assert_eq!(parsed.claims.card_id(), card_id);
        assert_eq!(parsed.claims.status_index(), 70_000);
        assert!(parsed.signed_by(&key.verifying_key()));
    }

    #[test]
    fn a_card_reads_back_with_its_id_and_status_index() {
        let key = key();
        let card_id = [0xabu8; CARD_ID_LEN];
        let phone_claims = claims(&key);
        let mut card = phone_claims;
        card.version = VERSION_CARD;
        card.nonce = Claims::card_nonce(&card_id, 0x0102_0304);
        assert_eq!(&card.nonce[CARD_ID_LEN..], &[1, 2, 3, 4]);
        let parsed = parse(&issue(&key, &card)).unwrap();
        assert_eq!(parsed.claims.version, VERSION_CARD);
        assert_eq!(parsed.claims.card_id(), card_id);
        assert_eq!(parsed.claims.status_index(), 0x0102_0304);
        // A phone token's signature does not carry over to the same bytes as a card.
        let mut phone = sign(&key, &phone_claims);
        phone[0] = VERSION_CARD;
        assert!(!from_bytes(&phone).unwrap().signed_by(&key.verifying_key()));
        // Versions other than 1 and 2 are still refused.
        for version in [0x00u8, 0x03, 0xff] {
            let mut bytes = sign(&key, &card);
            bytes[0] = version;
            assert_eq!(from_bytes(&bytes), Err(ParseError::Version), "{version}");
        }
    }

    /// The token fits a QR code of version 11 or lower at error correction Q (measured: the
    /// version asserted here is the one docs/CRYPTO.md states).
    #[test]
    fn the_token_fits_qr_version_9_at_error_correction_q() {
        let key = key();
        let text = issue(&key, &claims(&key));
        let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::Q)
            .unwrap();
        assert_eq!(code.version(), qrcode::Version::Normal(9));
        assert_eq!(code.width(), 53);
    }

    #[test]
    fn key_ids_round_trip() {
        let id = crate::keys::signing_key_id(&key().verifying_key());
        let bytes = key_id_bytes(&id).unwrap();
        assert_eq!(key_id_string(&bytes), id);
        assert_eq!(key_id_bytes("mk_0011223344556677"), None);
        assert_eq!(key_id_bytes("sk_00"), None);
    }
}
