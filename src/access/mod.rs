//! The one door into a citizen's data. Every read of a document's content, title, file name or
//! signed payload, of a document list, or of a citizen's profile by someone else goes through
//! [`door::enter`] / [`door::open`] (or [`door::list`], [`door::profile`]): it decides who may
//! read, loads the **owner's** data key itself, writes the access-log entry in the same
//! transaction (a read whose entry cannot be written is refused) and returns the only handle
//! that can decrypt. No key leaves it.
//!
//! - `door`: readers, purposes, the decision, the decrypting handle;
//! - writes that create or change a citizen's data (upload, issue, certify, rename, delete,
//!   certification codes) commit their access-log entry through [`door::begin_logged`] /
//!   [`door::Visit::finish`] in the same transaction as the change.
//!
//! Refused attempts that reach an existing document (another citizen's, a clerk without the
//! code, an expired or already claimed code) are entries too, in the owner's chain, written
//! in their own transaction since the refused action writes nothing.

pub mod door;

pub use door::{
    ClerkAuthority, DocumentId, Opened, Purpose, Reader, Visit, begin_logged, enter, list, open,
    profile, record_refusal,
};

#[cfg(test)]
mod tests {
    /// Files allowed to decrypt a citizen's data, and why. A new decryption elsewhere fails
    /// this test: route it through the door instead.
    const ALLOWED: &[(&str, &str)] = &[
        ("src/access/door.rs", "the door itself"),
        ("src/access/mod.rs", "this test's own list"),
        ("src/crypto/field.rs", "the primitive"),
        ("src/crypto/stream.rs", "the primitive"),
        (
            "src/accounts/service.rs",
            "an account's own TOTP secret and profile (the door's profile read uses it)",
        ),
        (
            "src/issuers/issuing.rs",
            "the payload codec, and the platform comparing a new document's number with the \
             current ones to supersede them while an agency issues (nothing is shown)",
        ),
        (
            "src/reports/service.rs",
            "a misuse report's comment and answer (sealed under the citizen's key), opened for \
             the citizen and for the operator handling it; not the vault's data",
        ),
        (
            "src/vault/service.rs",
            "the owner's key to seal a new upload (writing, never reading)",
        ),
    ];
    const DECRYPTING: &[&str] = &[
        "open_field(",
        "StreamDecryptor::new(",
        "open_payload(",
        "service::data_key",
    ];

    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn only_the_door_decrypts_a_citizens_data() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        assert!(files.len() > 20, "the source tree was found");
        let mut offenders = Vec::new();
        for file in files {
            let relative = file
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            if ALLOWED.iter().any(|(allowed, _)| *allowed == relative) {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for needle in DECRYPTING {
                if text.contains(needle) {
                    offenders.push(format!("{relative}: {needle}"));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "decryption outside the door: {offenders:?}"
        );
    }
}
