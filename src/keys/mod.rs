//! The platform's long-lived keys: the master key that wraps every citizen's data key, and the
//! Ed25519 key that signs QR identities, consent records and the trust list.
//!
//! Keys come from configuration (base64 inline or a file holding base64). In development, when
//! absent, they are generated once under `DATA_DIR/keys/` with mode 0600 and a loud warning; in
//! production configuration validation already refused to start without them. Every key carries
//! an id derived from it, so rotation can tell which key wrapped or signed what.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::config::{AppEnv, Config, KeySource};
use crate::crypto::{KeyId, MasterKey};

pub mod repo;
pub mod rotation;

/// A key problem at start-up, naming where the key was expected.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{variable}: {problem}")]
    Invalid {
        variable: &'static str,
        problem: String,
    },
    #[error("cannot read or create key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the system random generator failed: {0}")]
    Random(String),
}

/// The master key wraps every citizen's data key (see `crypto::envelope`). Its id is derived
/// from the key (`mk_` + 16 hex digits of a domain-separated hash): stable, reveals nothing.
pub fn master_key_from_bytes(bytes: [u8; 32]) -> Result<MasterKey, KeyError> {
    let id = key_id("mk", b"congdanso/v1/master-key-id", &bytes);
    let id = KeyId::new(id).map_err(|_| KeyError::Invalid {
        variable: "MASTER_KEY",
        problem: "cannot derive a key id".into(),
    })?;
    Ok(MasterKey::from_bytes(id, bytes))
}

/// The platform's Ed25519 signing key with its id (`sk_` + 16 hex digits of the public key hash).
pub struct PlatformSigningKey {
    id: String,
    key: SigningKey,
}

impl PlatformSigningKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        let key = SigningKey::from_bytes(&bytes);
        let id = signing_key_id(&key.verifying_key());
        Self { id, key }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
}

impl std::fmt::Debug for PlatformSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformSigningKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Every platform key the running instance holds.
#[derive(Debug)]
pub struct Keyring {
    /// Wraps new data keys and unwraps those it wrapped.
    pub master: MasterKey,
    /// Older master keys (`MASTER_KEY_PREVIOUS`): unwrap only, until rotation moves every data
    /// key to `master`.
    pub previous: Vec<MasterKey>,
    pub signing: PlatformSigningKey,
}

impl Keyring {
    /// Loads the keys named by the configuration, generating development keys when allowed.
    pub fn load(config: &Config) -> Result<Self, KeyError> {
        let key_dir = config.data_dir.join("keys");
        let master = load_or_generate(
            config,
            config.master_key.as_ref(),
            "MASTER_KEY",
            &key_dir.join("master.key"),
        )?;
        let signing = load_or_generate(
            config,
            config.signing_key.as_ref(),
            "SIGNING_KEY",
            &key_dir.join("signing.key"),
        )?;
        let previous = match &config.previous_master_keys {
            None => Vec::new(),
            Some(source) => {
                let text = match source {
                    KeySource::Inline(secret) => Zeroizing::new(secret.expose().to_owned()),
                    KeySource::File(path) => {
                        Zeroizing::new(fs::read_to_string(path).map_err(|source| KeyError::Io {
                            path: path.clone(),
                            source,
                        })?)
                    }
                };
                text.split([',', '\n'])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| master_key_from_bytes(*decode_key("MASTER_KEY_PREVIOUS", t)?))
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        Ok(Self {
            master: master_key_from_bytes(*master)?,
            previous,
            signing: PlatformSigningKey::from_bytes(*signing),
        })
    }

    /// The master key with this id, current or previous.
    pub fn master_by_id(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.master)
            .chain(self.previous.iter())
            .find(|k| k.id().as_str() == id)
    }

    /// Fresh random keys, for tests and `congdanso keys generate`.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(Self {
            master: master_key_from_bytes(*random_key()?)?,
            previous: Vec::new(),
            signing: PlatformSigningKey::from_bytes(*random_key()?),
        })
    }
}

/// 32 bytes from the operating system's random generator.
pub fn random_key() -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(bytes)
}

/// Encodes a key the way configuration expects it (standard base64).
pub fn encode_key(bytes: &[u8; 32]) -> Zeroizing<String> {
    Zeroizing::new(B64.encode(bytes))
}

/// The id of a platform signing key, recomputable by verifiers from the public key.
pub fn signing_key_id(public: &VerifyingKey) -> String {
    key_id("sk", b"congdanso/v1/signing-key-id", public.as_bytes())
}

fn key_id(prefix: &str, label: &[u8], material: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(label)
        .chain_update(material)
        .finalize();
    format!("{prefix}_{}", hex::encode(&digest[..8]))
}

fn decode_key(variable: &'static str, text: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let decoded = Zeroizing::new(B64.decode(text.trim()).map_err(|_| KeyError::Invalid {
        variable,
        problem: "not valid base64 (expected 32 random bytes in standard base64)".into(),
    })?);
    let array: [u8; 32] = decoded
        .as_slice()
        .try_into()
        .map_err(|_| KeyError::Invalid {
            variable,
            problem: format!("expected 32 bytes, got {}", decoded.len()),
        })?;
    Ok(Zeroizing::new(array))
}

fn read_key_file(variable: &'static str, path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?);
    decode_key(variable, &text)
}

fn load_or_generate(
    config: &Config,
    source: Option<&KeySource>,
    variable: &'static str,
    dev_path: &Path,
) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    match source {
        Some(KeySource::Inline(secret)) => decode_key(variable, secret.expose()),
        Some(KeySource::File(path)) => read_key_file(variable, path),
        None if config.app_env == AppEnv::Production => Err(KeyError::Invalid {
            variable,
            problem: "required in production".into(),
        }),
        None if dev_path.exists() => read_key_file(variable, dev_path),
        None => {
            let key = random_key()?;
            write_private_file(dev_path, encode_key(&key).as_bytes())?;
            tracing::warn!(
                key = variable,
                path = %dev_path.display(),
                "DEVELOPMENT ONLY: generated a new {variable} and stored it unencrypted on disk; \
                 set {variable} or {variable}_FILE and APP_ENV=production for real deployments"
            );
            Ok(key)
        }
    }
}

fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.write_all(b"\n").map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn dev_config(dir: &Path) -> Config {
        let vars: HashMap<String, String> =
            [("DATA_DIR".to_owned(), dir.display().to_string())].into();
        Config::from_vars(&vars).unwrap()
    }

    #[test]
    fn development_keys_are_created_once_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let config = dev_config(dir.path());
        let first = Keyring::load(&config).unwrap();
        let second = Keyring::load(&config).unwrap();
        assert_eq!(first.master.id(), second.master.id());
        assert!(first.master.id().as_str().starts_with("mk_"));
        assert_eq!(first.signing.id(), second.signing.id());
        assert!(first.signing.id().starts_with("sk_"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("keys/master.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn inline_keys_are_checked_for_length_and_encoding() {
        let vars: HashMap<&str, &str> = [("MASTER_KEY", "c2hvcnQ=")].into();
        let config = Config::from_vars(&vars).unwrap();
        let err = Keyring::load(&config).unwrap_err();
        assert!(err.to_string().contains("MASTER_KEY"), "{err}");
        assert!(err.to_string().contains("32 bytes"), "{err}");

        let vars: HashMap<&str, &str> = [("SIGNING_KEY", "not base64!")].into();
        let config = Config::from_vars(&vars).unwrap();
        let err = Keyring::load(&config).unwrap_err();
        assert!(err.to_string().contains("SIGNING_KEY"), "{err}");
    }

    #[test]
    fn key_ids_differ_per_key_and_hide_the_key() {
        let a = Keyring::generate().unwrap();
        let b = Keyring::generate().unwrap();
        assert_ne!(a.master.id(), b.master.id());
        assert!(!format!("{a:?}").contains(&hex::encode(a.master.expose_secret())));
    }
}
