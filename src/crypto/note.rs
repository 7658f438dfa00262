//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys, and the transparency
//! log checkpoint carried in one (<https://c2sp.org/tlog-checkpoint>). Pure, no I/O.
//!
//! A signed note is its text (UTF-8, no control character but newline, ending in a newline),
//! a blank line, then one or more signature lines:
//!
//! ```text
//! — <key name> <base64(key hash ‖ signature)>\n
//! ```
//!
//! (U+2014 em dash, space, name, space, standard base64 with padding). For Ed25519 the key hash
//! is the first 4 bytes of `SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)` and the signature is
//! Ed25519 over the note text, final newline included. A verifier key is written
//! `<name>+<hex key hash>+<base64(0x01 ‖ public key)>`.
//!
//! A checkpoint's note text is `<origin>\n<tree size>\n<base64 root hash>\n` followed by optional
//! non-empty extension lines; the tree size is decimal without leading zeros.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// The signature type byte of Ed25519 in the signed-note format.
pub const ED25519: u8 = 0x01;
const SIGNATURE_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("key names must be non-empty, without spaces or '+'")]
    BadKeyName,
    #[error("the note text must end in a newline and hold no control character but newline")]
    BadText,
    #[error("the note is malformed: {0}")]
    Malformed(&'static str),
    #[error("the verifier key is malformed")]
    BadVerifierKey,
    #[error("the note carries no signature by the expected key")]
    NotSigned,
    #[error("a signature by the expected key does not verify")]
    BadSignature,
    #[error("the checkpoint is malformed: {0}")]
    BadCheckpoint(&'static str),
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::BadKeyName);
    }
    Ok(())
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') || text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::BadText);
    }
    Ok(())
}

/// The 4-byte key hash of an Ed25519 key under `name`.
pub fn key_hash(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0A, ED25519]);
    h.update(key.as_bytes());
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The verifier key string `<name>+<hex key hash>+<base64(0x01 ‖ key)>`.
pub fn verifier_key(name: &str, key: &VerifyingKey) -> Result<String, NoteError> {
    check_name(name)?;
    let mut typed = vec![ED25519];
    typed.extend_from_slice(key.as_bytes());
    Ok(format!(
        "{name}+{}+{}",
        hex::encode(key_hash(name, key)),
        B64.encode(typed)
    ))
}

/// Parses a verifier key string, checking its hash.
pub fn parse_verifier_key(vkey: &str) -> Result<(String, VerifyingKey), NoteError> {
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::BadVerifierKey);
    };
    check_name(name).map_err(|_| NoteError::BadVerifierKey)?;
    let typed = B64.decode(key).map_err(|_| NoteError::BadVerifierKey)?;
    let (kind, raw) = typed.split_first().ok_or(NoteError::BadVerifierKey)?;
    let raw: [u8; 32] = raw.try_into().map_err(|_| NoteError::BadVerifierKey)?;
    if *kind != ED25519 {
        return Err(NoteError::BadVerifierKey);
    }
    let key = VerifyingKey::from_bytes(&raw).map_err(|_| NoteError::BadVerifierKey)?;
    if hash.len() != 8 || hex::encode(key_hash(name, &key)) != hash {
        return Err(NoteError::BadVerifierKey);
    }
    Ok((name.to_owned(), key))
}

/// The signature line of `text` by `key` under `name`, newline included.
pub fn signature_line(text: &str, name: &str, key: &SigningKey) -> Result<String, NoteError> {
    check_name(name)?;
    check_text(text)?;
    let signature = key.sign(text.as_bytes());
    let mut blob = key_hash(name, &key.verifying_key()).to_vec();
    blob.extend_from_slice(&signature.to_bytes());
    Ok(format!("{SIGNATURE_PREFIX}{name} {}\n", B64.encode(blob)))
}

/// The signed note: `text`, a blank line, one signature line by `key` under `name`.
pub fn sign(text: &str, name: &str, key: &SigningKey) -> Result<String, NoteError> {
    let line = signature_line(text, name, key)?;
    Ok(format!("{text}\n{line}"))
}

/// One signature line of a note, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_hash: [u8; 4],
    pub signature: Vec<u8>,
}

/// Splits a signed note into its text and signature lines (checking only the format).
pub fn parse(note: &str) -> Result<(&str, Vec<NoteSignature>), NoteError> {
    if note.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed("control character"));
    }
    if !note.ends_with('\n') {
        return Err(NoteError::Malformed("no final newline"));
    }
    // The text ends at the last blank line.
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let text = &note[..split + 1];
    let block = &note[split + 2..];
    let mut signatures = Vec::new();
    for line in block.split_terminator('\n') {
        let rest = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(NoteError::Malformed("signature line"))?;
        let (name, blob) = rest
            .split_once(' ')
            .ok_or(NoteError::Malformed("signature line"))?;
        check_name(name).map_err(|_| NoteError::Malformed("key name"))?;
        let blob = B64
            .decode(blob)
            .map_err(|_| NoteError::Malformed("signature base64"))?;
        if blob.len() < 5 {
            return Err(NoteError::Malformed("signature too short"));
        }
        let (hash, signature) = blob.split_at(4);
        signatures.push(NoteSignature {
            name: name.to_owned(),
            key_hash: [hash[0], hash[1], hash[2], hash[3]],
            signature: signature.to_vec(),
        });
    }
    if signatures.is_empty() {
        return Err(NoteError::Malformed("no signature line"));
    }
    Ok((text, signatures))
}

/// Verifies that `note` is signed by `key` under `name` and returns its text. Signatures by
/// other keys are ignored (witnesses may add theirs); a signature that claims this key and does
/// not verify refuses the note.
pub fn open<'a>(note: &'a str, name: &str, key: &VerifyingKey) -> Result<&'a str, NoteError> {
    let (text, signatures) = parse(note)?;
    let hash = key_hash(name, key);
    let mut verified = false;
    for sig in signatures
        .iter()
        .filter(|s| s.name == name && s.key_hash == hash)
    {
        let signature =
            Signature::from_slice(&sig.signature).map_err(|_| NoteError::BadSignature)?;
        key.verify(text.as_bytes(), &signature)
            .map_err(|_| NoteError::BadSignature)?;
        verified = true;
    }
    if verified {
        Ok(text)
    } else {
        Err(NoteError::NotSigned)
    }
}

/// A transparency log checkpoint (the text of a signed note).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text.
    pub fn to_text(&self) -> Result<String, NoteError> {
        if self.origin.is_empty() || self.origin.contains('\n') {
            return Err(NoteError::BadCheckpoint("origin"));
        }
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for line in &self.extensions {
            if line.is_empty() || line.contains('\n') {
                return Err(NoteError::BadCheckpoint("extension line"));
            }
            text.push_str(line);
            text.push('\n');
        }
        check_text(&text)?;
        Ok(text)
    }

    /// Parses a note text as a checkpoint (strict: canonical size and root).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::BadCheckpoint("no final newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or(NoteError::BadCheckpoint("origin"))?;
        let size_line = lines.next().ok_or(NoteError::BadCheckpoint("tree size"))?;
        if size_line.is_empty()
            || !size_line.bytes().all(|b| b.is_ascii_digit())
            || (size_line.len() > 1 && size_line.starts_with('0'))
        {
            return Err(NoteError::BadCheckpoint("tree size"));
        }
        let size: u64 = size_line
            .parse()
            .map_err(|_| NoteError::BadCheckpoint("tree size"))?;
        let root_line = lines.next().ok_or(NoteError::BadCheckpoint("root hash"))?;
        let root: Hash = B64
            .decode(root_line)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(NoteError::BadCheckpoint("root hash"))?;
        if B64.encode(root) != root_line {
            return Err(NoteError::BadCheckpoint("root hash"));
        }
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(NoteError::BadCheckpoint("empty extension line"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The signed note of this checkpoint: key name = origin, as is the custom for logs.
    pub fn sign(&self, key: &SigningKey) -> Result<String, NoteError> {
        sign(&self.to_text()?, &self.origin, key)
    }

    /// Verifies a checkpoint note signed by `key` under its own origin; `origin` is the one
    /// expected.
    pub fn open(note: &str, origin: &str, key: &VerifyingKey) -> Result<Self, NoteError> {
        let text = open(note, origin, key)?;
        let checkpoint = Self::parse(text)?;
        if checkpoint.origin != origin {
            return Err(NoteError::BadCheckpoint("origin"));
        }
        Ok(checkpoint)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    // The example of golang.org/x/mod/sumdb/note (also the reference vector of the C2SP
    // signed-note ecosystem): signer key, verifier key, text and the signed note.
    const GO_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const GO_NOTE_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn go_signing_key() -> SigningKey {
        let encoded = GO_SKEY.splitn(5, '+').nth(4).unwrap();
        let typed = B64.decode(encoded).unwrap();
        assert_eq!(typed[0], ED25519);
        SigningKey::from_bytes(&typed[1..].try_into().unwrap())
    }

    #[test]
    fn signs_the_go_reference_note_byte_for_byte() {
        let key = go_signing_key();
        assert_eq!(
            verifier_key("PeterNeumann", &key.verifying_key()).unwrap(),
            GO_VKEY
        );
        let note = sign(GO_TEXT, "PeterNeumann", &key).unwrap();
        assert_eq!(note, format!("{GO_TEXT}\n{GO_NOTE_SIG}"));
        let (name, vkey) = parse_verifier_key(GO_VKEY).unwrap();
        assert_eq!(open(&note, &name, &vkey).unwrap(), GO_TEXT);
    }

    #[test]
    fn refuses_changed_notes_and_other_keys() {
        let key = go_signing_key();
        let note = sign(GO_TEXT, "PeterNeumann", &key).unwrap();
        let vkey = key.verifying_key();
        let changed = note.replacen("cryptography", "cryptographY", 1);
        assert_eq!(
            open(&changed, "PeterNeumann", &vkey),
            Err(NoteError::BadSignature)
        );
        let other = SigningKey::from_bytes(&[7; 32]).verifying_key();
        assert_eq!(
            open(&note, "PeterNeumann", &other),
            Err(NoteError::NotSigned)
        );
        assert_eq!(open(&note, "Peter", &vkey), Err(NoteError::NotSigned));
        // A witness's extra signature is ignored; ours still verifies.
        let witness = SigningKey::from_bytes(&[9; 32]);
        let cosigned = format!(
            "{note}{}",
            signature_line(GO_TEXT, "witness.example", &witness).unwrap()
        );
        assert_eq!(open(&cosigned, "PeterNeumann", &vkey).unwrap(), GO_TEXT);
        assert!(sign("no newline", "PeterNeumann", &key).is_err());
        assert!(sign("tab\there\n", "PeterNeumann", &key).is_err());
        assert!(sign(GO_TEXT, "two words", &key).is_err());
        assert!(sign(GO_TEXT, "a+b", &key).is_err());
        assert!(
            parse_verifier_key(
                "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            )
            .is_err()
        );
    }

    #[test]
    fn checkpoint_text_follows_c2sp() {
        // The example of the C2SP tlog-checkpoint specification.
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let checkpoint = Checkpoint::parse(text).unwrap();
        assert_eq!(checkpoint.origin, "example.com/behind-the-sofa");
        assert_eq!(checkpoint.size, 20_852_163);
        assert_eq!(checkpoint.to_text().unwrap(), text);
        let with_ext = format!("{text}extension one\n");
        assert_eq!(
            Checkpoint::parse(&with_ext).unwrap().extensions,
            vec!["extension one".to_owned()]
        );
        for bad in [
            "example.com\n020852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            "example.com\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            "example.com\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2\n",
            "example.com\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",
            "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            "example.com\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
        let key = SigningKey::from_bytes(&[3; 32]);
        let note = checkpoint.sign(&key).unwrap();
        let opened =
            Checkpoint::open(&note, "example.com/behind-the-sofa", &key.verifying_key()).unwrap();
        assert_eq!(opened, checkpoint);
    }
}
