//! Signed JSON: a canonical byte form (RFC 8785, JSON Canonicalization Scheme, for the JSON we
//! sign: objects, arrays, strings, integers, booleans and null — no floating-point numbers) and
//! Ed25519 signatures over it. No I/O.
//!
//! Canonical form: no whitespace; object members sorted by the UTF-16 code units of their names;
//! strings escaped as RFC 8785 requires (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other
//! control characters as `\u00xx` in lowercase hex, everything else as UTF-8); integers in
//! shortest decimal form. Any implementation of RFC 8785 produces the same bytes for such JSON.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Why a payload could not be canonicalised or a signature checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("floating-point numbers are not allowed in signed JSON")]
    FloatNotAllowed,
    #[error("not a valid Ed25519 public key")]
    BadPublicKey,
    #[error("not a valid Ed25519 signature encoding")]
    BadSignatureEncoding,
    #[error("the signature does not match")]
    SignatureMismatch,
}

/// The RFC 8785 canonical bytes of `value`.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>, SignError> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), SignError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(SignError::FloatNotAllowed);
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push(b'{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\u{0C}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Signs the canonical form of `value`; returns the base64 signature.
pub fn sign_json(key: &SigningKey, value: &Value) -> Result<String, SignError> {
    let bytes = canonical_json(value)?;
    Ok(B64.encode(key.sign(&bytes).to_bytes()))
}

/// Parses a base64 Ed25519 public key (32 bytes), refusing weak (small-order) keys.
pub fn parse_public_key(b64: &str) -> Result<VerifyingKey, SignError> {
    let bytes = B64
        .decode(b64.trim())
        .map_err(|_| SignError::BadPublicKey)?;
    let array: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| SignError::BadPublicKey)?;
    let key = VerifyingKey::from_bytes(&array).map_err(|_| SignError::BadPublicKey)?;
    if key.is_weak() {
        return Err(SignError::BadPublicKey);
    }
    Ok(key)
}

/// Checks a base64 signature over the canonical form of `value` (strict verification: no
/// malleable or small-order signatures).
pub fn verify_json(
    key: &VerifyingKey,
    value: &Value,
    signature_b64: &str,
) -> Result<(), SignError> {
    let bytes = canonical_json(value)?;
    verify_bytes(key, &bytes, signature_b64)
}

/// Checks a base64 signature over exact bytes.
pub fn verify_bytes(
    key: &VerifyingKey,
    bytes: &[u8],
    signature_b64: &str,
) -> Result<(), SignError> {
    let raw = B64
        .decode(signature_b64.trim())
        .map_err(|_| SignError::BadSignatureEncoding)?;
    let array: [u8; 64] = raw
        .as_slice()
        .try_into()
        .map_err(|_| SignError::BadSignatureEncoding)?;
    let signature = Signature::from_bytes(&array);
    key.verify_strict(bytes, &signature)
        .map_err(|_| SignError::SignatureMismatch)
}

/// A key id derived from a public key: `prefix_` + 16 hex digits of its SHA-256. Stable, so
/// verifiers can recompute it, and short enough to print.
pub fn key_id_for(prefix: &str, public_key: &VerifyingKey) -> String {
    let digest = Sha256::digest(public_key.as_bytes());
    format!("{prefix}_{}", hex::encode(&digest[..8]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_sorts_members_and_drops_whitespace() {
        let value = json!({ "b": [1, true, null], "a": { "d": "x", "c": -7 }, "é": "ü" });
        assert_eq!(
            String::from_utf8(canonical_json(&value).unwrap()).unwrap(),
            r#"{"a":{"c":-7,"d":"x"},"b":[1,true,null],"é":"ü"}"#
        );
    }

    #[test]
    fn canonical_strings_follow_rfc_8785_escaping() {
        let value = json!("quote\" back\\ nl\n tab\t bell\u{7} slash/ euro€ 😀");
        assert_eq!(
            String::from_utf8(canonical_json(&value).unwrap()).unwrap(),
            "\"quote\\\" back\\\\ nl\\n tab\\t bell\\u0007 slash/ euro€ 😀\""
        );
    }

    #[test]
    fn members_sort_by_utf16_code_units() {
        // U+10000 (surrogate pair D800 DC00) sorts before U+FB01 in UTF-16, unlike in UTF-8.
        let value = json!({ "\u{FB01}": 1, "\u{10000}": 2 });
        assert_eq!(
            String::from_utf8(canonical_json(&value).unwrap()).unwrap(),
            "{\"\u{10000}\":2,\"\u{FB01}\":1}"
        );
    }

    #[test]
    fn floats_are_refused() {
        assert_eq!(
            canonical_json(&json!({ "x": 1.5 })),
            Err(SignError::FloatNotAllowed)
        );
    }

    #[test]
    fn signatures_verify_and_any_change_breaks_them() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let value = json!({ "type": "cccd", "fields": { "number": "001099000001" } });
        let signature = sign_json(&key, &value).unwrap();
        let public = key.verifying_key();
        verify_json(&public, &value, &signature).unwrap();
        let changed = json!({ "type": "cccd", "fields": { "number": "001099000002" } });
        assert_eq!(
            verify_json(&public, &changed, &signature),
            Err(SignError::SignatureMismatch)
        );
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        assert_eq!(
            verify_json(&other, &value, &signature),
            Err(SignError::SignatureMismatch)
        );
        assert_eq!(
            verify_json(&public, &value, "not base64"),
            Err(SignError::BadSignatureEncoding)
        );
    }

    /// The checked-in golden vector (tests/golden/signed-payload-v1.json) matches byte for byte,
    /// so other implementations can test against it.
    #[test]
    fn golden_vector_matches() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/signed-payload-v1.json"
        );
        let vector: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let seed: [u8; 32] = B64
            .decode(vector["seed_b64"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let key = SigningKey::from_bytes(&seed);
        let canonical = String::from_utf8(canonical_json(&vector["payload"]).unwrap()).unwrap();
        let signature = sign_json(&key, &vector["payload"]).unwrap();
        if std::env::var("CDS_WRITE_GOLDEN").is_ok() {
            let mut updated = vector.clone();
            updated["canonical"] = Value::from(canonical.clone());
            updated["signature"] = Value::from(signature.clone());
            updated["public_key"] = Value::from(B64.encode(key.verifying_key().as_bytes()));
            std::fs::write(path, serde_json::to_string_pretty(&updated).unwrap() + "\n").unwrap();
            return;
        }
        assert_eq!(canonical, vector["canonical"].as_str().unwrap());
        assert_eq!(signature, vector["signature"].as_str().unwrap());
        let public = parse_public_key(vector["public_key"].as_str().unwrap()).unwrap();
        verify_json(&public, &vector["payload"], &signature).unwrap();
    }

    #[test]
    fn public_keys_are_checked() {
        let good = B64.encode(
            SigningKey::from_bytes(&[1u8; 32])
                .verifying_key()
                .as_bytes(),
        );
        assert!(parse_public_key(&good).is_ok());
        assert_eq!(parse_public_key("AAAA"), Err(SignError::BadPublicKey));
        // The identity point is a small-order (weak) key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            parse_public_key(&B64.encode(identity)),
            Err(SignError::BadPublicKey)
        );
    }
}
