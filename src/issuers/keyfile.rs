//! The key file an agency keeps for signing what it issues: JSON with the Ed25519 private key
//! (base64 of the 32-byte seed), the public key and its id. Written with mode 0600; never sent
//! to the platform.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::sign;

pub const KEY_FILE_FORMAT: &str = "congdanso-agency-key/v1";

/// What the key file holds (the private key only while in memory here).
#[derive(Serialize, Deserialize)]
pub struct AgencyKeyFile {
    pub format: String,
    pub key_id: String,
    pub public_key: String,
    pub private_key: String,
}

/// The public part, for printing.
pub struct PublicPart {
    pub key_id: String,
    pub public_key: String,
}

/// Creates a new key pair in a new file (refuses to overwrite an existing one).
pub fn generate(path: &Path) -> Result<PublicPart, String> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| format!("random generator: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    let public = key.verifying_key();
    let file = AgencyKeyFile {
        format: KEY_FILE_FORMAT.to_owned(),
        key_id: sign::key_id_for("ik", &public),
        public_key: B64.encode(public.as_bytes()),
        private_key: B64.encode(seed.as_ref()),
    };
    let json = Zeroizing::new(serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    out.write_all(&json)
        .and_then(|()| out.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(PublicPart {
        key_id: file.key_id,
        public_key: file.public_key,
    })
}

/// Reads a key file back into a signing key, checking that its parts agree.
pub fn load(path: &Path) -> Result<(String, SigningKey), String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    );
    let file: AgencyKeyFile = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a key file ({e})", path.display()))?;
    if file.format != KEY_FILE_FORMAT {
        return Err(format!(
            "{}: unknown format {}",
            path.display(),
            file.format
        ));
    }
    let seed = Zeroizing::new(
        B64.decode(&file.private_key)
            .map_err(|_| "private key is not base64")?,
    );
    let seed: [u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| "private key must be 32 bytes".to_owned())?;
    let key = SigningKey::from_bytes(&seed);
    if B64.encode(key.verifying_key().as_bytes()) != file.public_key
        || sign::key_id_for("ik", &key.verifying_key()) != file.key_id
    {
        return Err(format!(
            "{}: the public key or id does not match the private key",
            path.display()
        ));
    }
    Ok((file.key_id, key))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_file_loads_back_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agency.json");
        let public = generate(&path).unwrap();
        let (key_id, key) = load(&path).unwrap();
        assert_eq!(key_id, public.key_id);
        assert_eq!(
            B64.encode(key.verifying_key().as_bytes()),
            public.public_key
        );
        assert!(generate(&path).is_err(), "never overwrites a key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A tampered public part is detected.
        let text = std::fs::read_to_string(&path).unwrap();
        let other = B64.encode(SigningKey::from_bytes(&[9; 32]).verifying_key().as_bytes());
        std::fs::write(&path, text.replace(&public.public_key, &other)).unwrap();
        assert!(load(&path).is_err());
    }
}
