//! The printed cards' revocation status list, W3C Bitstring Status List style: bit i set = the
//! card with status index i is revoked; bit 0 is the most significant bit of byte 0; at least
//! 131,072 entries (16 KiB) so one card's bit hides among many; gzip, then base64url without
//! padding; signed with the platform key over the RFC 8785 canonical JSON of every other field
//! (as the trust list is). Served at `/.well-known/congdanso/qr/status` for offline verifiers.
//! Byte format in docs/CRYPTO.md ("QR card status list").

use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::{Value, json};

/// Fewest entries a list has (herd privacy).
pub const MIN_ENTRIES: usize = 131_072;
/// How long a verifier may use a list before its answers become "status unknown".
pub const MAX_AGE_SECONDS: i64 = 3600;
/// Largest decompressed list a verifier accepts (16 MiB: 134 million cards).
pub const MAX_LIST_BYTES: u64 = 16 * 1024 * 1024;

/// The bitstring for the revoked `indexes`.
pub fn bitstring(indexes: &[u32]) -> Vec<u8> {
    let highest = indexes.iter().max().map_or(0, |i| *i as usize + 1);
    let entries = highest.max(MIN_ENTRIES).div_ceil(8) * 8;
    let mut bits = vec![0u8; entries / 8];
    for &i in indexes {
        let i = i as usize;
        bits[i / 8] |= 0x80 >> (i % 8);
    }
    bits
}

/// Whether bit `index` is set (out of range: not set).
pub fn is_set(bits: &[u8], index: u32) -> bool {
    let i = index as usize;
    bits.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
}

/// The signed list document.
pub fn document(
    key: &SigningKey,
    key_id: &str,
    issued_at: chrono::DateTime<chrono::Utc>,
    indexes: &[u32],
) -> Result<Value, String> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&bitstring(indexes))
        .map_err(|e| e.to_string())?;
    let compressed = gz.finish().map_err(|e| e.to_string())?;
    let mut body = json!({
        "version": 1,
        "issued_at": issued_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "max_age_seconds": MAX_AGE_SECONDS,
        "encoded_list": URL_SAFE_NO_PAD.encode(compressed),
        "key_id": key_id,
    });
    let signature = crate::crypto::sign::sign_json(key, &body).map_err(|e| e.to_string())?;
    body["signature"] = json!(signature);
    Ok(body)
}

/// A list checked against a platform key: its issue time, max age and bits.
#[derive(Debug)]
pub struct Checked {
    pub issued_at: chrono::DateTime<chrono::Utc>,
    pub max_age_seconds: i64,
    pub bits: Vec<u8>,
}

/// Checks a list document's signature with `key` and decodes it.
pub fn check(document: &Value, key: &VerifyingKey) -> Result<Checked, String> {
    let mut body = document.clone();
    let signature = body
        .as_object_mut()
        .and_then(|o| o.remove("signature"))
        .and_then(|s| s.as_str().map(str::to_owned))
        .ok_or("no signature")?;
    crate::crypto::sign::verify_json(key, &body, &signature)
        .map_err(|_| "signature not valid for this platform key".to_owned())?;
    if body["version"] != json!(1) {
        return Err("unknown status list version".into());
    }
    let issued_at = body["issued_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .ok_or("bad issued_at")?
        .with_timezone(&chrono::Utc);
    let max_age_seconds = body["max_age_seconds"]
        .as_i64()
        .ok_or("bad max_age_seconds")?;
    let compressed = URL_SAFE_NO_PAD
        .decode(body["encoded_list"].as_str().ok_or("no encoded_list")?)
        .map_err(|_| "encoded_list is not base64url")?;
    let mut bits = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .take(MAX_LIST_BYTES + 1)
        .read_to_end(&mut bits)
        .map_err(|_| "encoded_list is not gzip")?;
    if bits.len() as u64 > MAX_LIST_BYTES || bits.len() * 8 < MIN_ENTRIES {
        return Err("status list size out of bounds".into());
    }
    Ok(Checked {
        issued_at,
        max_age_seconds,
        bits,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn bit_zero_is_the_top_bit_of_byte_zero_and_the_list_has_at_least_16_kib() {
        let bits = bitstring(&[0, 9, 131_071]);
        assert_eq!(bits.len(), 16_384);
        assert_eq!(bits[0], 0x80);
        assert_eq!(bits[1], 0x40);
        assert_eq!(bits[16_383], 0x01);
        assert!(is_set(&bits, 9) && !is_set(&bits, 8) && !is_set(&bits, 10));
        assert_eq!(bitstring(&[200_000]).len(), 200_008 / 8);
    }

    #[test]
    fn a_signed_list_checks_and_a_changed_one_does_not() {
        let key = SigningKey::from_bytes(&[5u8; 32]);
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let doc = document(&key, "sk_x", at, &[3, 70_000]).unwrap();
        let checked = check(&doc, &key.verifying_key()).unwrap();
        assert!(is_set(&checked.bits, 3) && is_set(&checked.bits, 70_000));
        assert!(!is_set(&checked.bits, 4));
        assert_eq!(checked.issued_at, at);
        let mut changed = doc.clone();
        changed["max_age_seconds"] = json!(999_999);
        assert!(check(&changed, &key.verifying_key()).is_err());
        let other = document(&key, "sk_x", at, &[3]).unwrap();
        changed = doc.clone();
        changed["encoded_list"] = other["encoded_list"].clone();
        assert!(check(&changed, &key.verifying_key()).is_err());
        let stranger = SigningKey::from_bytes(&[6u8; 32]).verifying_key();
        assert!(check(&doc, &stranger).is_err());
    }
}
