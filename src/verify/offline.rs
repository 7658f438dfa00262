//! `congdanso verify`: checks a package on any machine, with no database and no network once the
//! trust list and platform keys are cached (fetch them with `--server` once, or copy the files).
//! The platform keys are the trust anchor: they are pinned by fingerprint in the cache
//! ([`load_trusted`]), and everything printed from a package or a server goes through
//! [`terminal_safe`].

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::payload::from_slice_unique;
use super::{PlatformKeys, Problem, Report, TrustList, package};
use crate::crypto::sign;
use crate::keys::signing_key_id;
use crate::text::is_hidden_control;

pub const TRUST_LIST_FILE: &str = "trust-list.json";
pub const PLATFORM_KEYS_FILE: &str = "platform-keys.json";
/// A trust list older than this is reported as stale (revocations may be missing).
pub const STALE_AFTER_DAYS: i64 = 7;

/// Where the cached trust list lives: `$XDG_CACHE_HOME/congdanso`, else `~/.cache/congdanso`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("congdanso"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("congdanso"))
}

/// Streams a file in 64 KiB pieces.
pub fn file_stream(
    file: tokio::fs::File,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send + 'static {
    Box::pin(futures_util::stream::try_unfold(
        file,
        |mut file| async move {
            let mut buffer = vec![0u8; 64 * 1024];
            let n = file.read(&mut buffer).await?;
            if n == 0 {
                return Ok(None);
            }
            buffer.truncate(n);
            Ok(Some((Bytes::from(buffer), file)))
        },
    ))
}

/// Reads a JSON file, refusing a member name twice in one object.
fn read_json(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    from_slice_unique(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The file in the cache that pins the platform keys a verifier trusts.
pub const PIN_FILE: &str = "platform-pin.json";
pub const PIN_FORMAT: &str = "congdanso-platform-pin/v1";
/// Largest list accepted from a server.
const MAX_DOWNLOAD: usize = 16 * 1024 * 1024;

/// The fingerprint of a platform key: SHA-256 of its 32 raw public-key bytes, as 64 lowercase
/// hex digits (`base64 -d <<< PUBLIC_KEY | sha256sum` prints the same).
pub fn fingerprint(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A fingerprint as typed by a person: an optional `sha256:` prefix, spaces and colons are
/// ignored, case does not matter; 64 hex digits remain.
pub fn parse_fingerprint(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    let body = trimmed
        .strip_prefix("sha256:")
        .or_else(|| trimmed.strip_prefix("SHA256:"))
        .unwrap_or(trimmed);
    let hex: String = body
        .chars()
        .filter(|c| !matches!(c, ' ' | ':'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(format!(
            "{:?} is not a platform key fingerprint (64 hex digits, the SHA-256 of the key)",
            terminal_safe(text)
        ))
    }
}

/// Checks a server address before anything is sent: `https`, or `http` to a loopback host
/// only (127.0.0.0/8, ::1, localhost), since the platform keys fetched are the trust anchor.
pub fn check_server_url(server: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(server)
        .map_err(|e| format!("--server {:?}: not a URL ({e})", terminal_safe(server)))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(format!(
            "refusing {}: the trust list and platform keys are fetched over https only (plain \
             http only for a loopback address: 127.0.0.0/8, ::1, localhost)",
            terminal_safe(url.as_str())
        )),
        other => Err(format!(
            "refusing {}: a {} URL (use https://)",
            terminal_safe(url.as_str()),
            terminal_safe(other)
        )),
    }
}

/// Downloads one published list, bounded in size, never following a redirect.
async fn download(
    client: &reqwest::Client,
    server: &url::Url,
    name: &str,
) -> Result<Vec<u8>, String> {
    let url = format!(
        "{}/.well-known/congdanso/{name}",
        server.as_str().trim_end_matches('/')
    );
    let mut response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        if body.len() + chunk.len() > MAX_DOWNLOAD {
            return Err(format!("{url}: larger than {MAX_DOWNLOAD} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// One trusted platform key, as kept in [`PIN_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedKey {
    pub key_id: String,
    pub public_key: String,
    pub fingerprint: String,
    pub pinned_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinFile {
    format: String,
    keys: Vec<PinnedKey>,
}

fn load_pins(cache: &Path) -> Result<Vec<PinnedKey>, String> {
    let path = cache.join(PIN_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let file: PinFile = serde_json::from_value(read_json(&path)?)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if file.format != PIN_FORMAT {
        return Err(format!("{}: format is not {PIN_FORMAT}", path.display()));
    }
    // A pinned key must still be the key its fingerprint names.
    for key in &file.keys {
        let ok = sign::parse_public_key(&key.public_key)
            .is_ok_and(|k| fingerprint(&k) == key.fingerprint && signing_key_id(&k) == key.key_id);
        if !ok {
            return Err(format!(
                "{}: a pinned key does not match its fingerprint",
                path.display()
            ));
        }
    }
    Ok(file.keys)
}

/// The platform keys pinned in `cache` by earlier runs (none when nothing is pinned yet): the
/// trust anchor other offline tools (`congdanso audit verify --export`) share with `verify`.
pub fn pinned_keys(cache: &Path) -> Result<Vec<VerifyingKey>, String> {
    load_pins(cache)?
        .iter()
        .map(|pin| {
            sign::parse_public_key(&pin.public_key).map_err(|_| {
                format!(
                    "{}: a pinned key is not a key",
                    cache.join(PIN_FILE).display()
                )
            })
        })
        .collect()
}

/// Writes then renames, so a failure never leaves half a file.
fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(name);
    let partial = dir.join(format!("{name}.partial"));
    std::fs::write(&partial, bytes).map_err(|e| format!("{}: {e}", partial.display()))?;
    std::fs::rename(&partial, &path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Where the lists come from for one run.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// Fetch both lists from this server (they are cached only once they check out).
    pub server: Option<&'a str>,
    /// A trust list file instead of the fetched or cached one.
    pub trust_list: Option<&'a Path>,
    /// A platform keys file instead of the fetched or cached one. Named on the command line
    /// (and without `--server`) it is itself the trust anchor of the run: nothing is pinned.
    pub platform_keys: Option<&'a Path>,
    /// Where lists and pins are kept; needed unless both files are named and nothing fetched.
    pub cache: Option<&'a Path>,
}

/// What the person running the verifier said about trusting platform keys.
#[derive(Debug, Clone, Default)]
pub struct TrustOptions {
    /// `--pin` / `CONGDANSO_PLATFORM_PIN`: fingerprints of the platform keys to trust; the
    /// trust list must be signed by one of them.
    pub pins: Vec<String>,
    /// `--accept-new-key`: a key that replaces the pinned one after an announced rotation.
    pub accept_new: Vec<String>,
    /// `--trust-on-first-use`: with nothing pinned yet, trust what is presented (printed).
    pub trust_on_first_use: bool,
}

/// Asks a person at a terminal to confirm a first-use key (the text shows the fingerprints).
pub type Confirm<'a> = &'a mut dyn FnMut(&str) -> bool;

fn describe_key(id: &str, key: &VerifyingKey) -> String {
    format!("{} (fingerprint {})", terminal_safe(id), fingerprint(key))
}

fn pinned_entry(id: &str, key: &VerifyingKey, now: DateTime<Utc>) -> PinnedKey {
    PinnedKey {
        key_id: id.to_owned(),
        public_key: base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            key.as_bytes(),
        ),
        fingerprint: fingerprint(key),
        pinned_at: super::payload::format_time(now),
    }
}

/// Loads the trust list and the platform keys that anchor it, deciding which platform keys to
/// trust (docs/api.md, "Trusting the platform key"):
/// * with a key pinned in the cache, the trust list must be signed by a pinned key; a list
///   signed by another key is refused unless `--accept-new-key` names that key's fingerprint;
/// * with nothing pinned yet, the key is trusted only when `--pin` names it, when
///   `--trust-on-first-use` is given, or when `confirm` (a person at a terminal) says yes;
/// * a `--pin` that does not name the signing key is refused.
///
/// Fetched lists reach the cache only after all of this succeeded: a refused run changes
/// nothing there. Only pinned keys check receipts.
pub async fn load_trusted(
    sources: Sources<'_>,
    options: &TrustOptions,
    now: DateTime<Utc>,
    confirm: Option<Confirm<'_>>,
) -> Result<Anchors, String> {
    let by_hand =
        sources.server.is_none() && sources.platform_keys.is_some() && sources.trust_list.is_some();
    let cache = match sources.cache {
        Some(cache) => cache,
        // Both files named by hand: the cache is neither read nor written.
        None if by_hand => Path::new(""),
        None => return Err("no cache folder: set --cache-dir".to_owned()),
    };
    let mut fetched = None;
    if let Some(server) = sources.server {
        let url = check_server_url(server)?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        let keys = download(&client, &url, PLATFORM_KEYS_FILE).await?;
        let list = download(&client, &url, TRUST_LIST_FILE).await?;
        fetched = Some((keys, list));
    }
    let from_file =
        |flag: Option<&Path>, name: &str| flag.map_or_else(|| cache.join(name), Path::to_path_buf);
    let keys_path = from_file(sources.platform_keys, PLATFORM_KEYS_FILE);
    let list_path = from_file(sources.trust_list, TRUST_LIST_FILE);
    let (keys_doc, list_doc) = match &fetched {
        Some((keys, list)) => (
            match sources.platform_keys {
                Some(path) => read_json(path)?,
                None => from_slice_unique(keys)
                    .map_err(|e| format!("{PLATFORM_KEYS_FILE} from the server: {e}"))?,
            },
            match sources.trust_list {
                Some(path) => read_json(path)?,
                None => from_slice_unique(list)
                    .map_err(|e| format!("{TRUST_LIST_FILE} from the server: {e}"))?,
            },
        ),
        None => {
            if !list_path.exists() || !keys_path.exists() {
                return Err(format!(
                    "no trust list at {} (run once with --server URL, or pass --trust-list and --platform-keys)",
                    list_path.display()
                ));
            }
            (read_json(&keys_path)?, read_json(&list_path)?)
        }
    };
    let candidates =
        PlatformKeys::from_json(&keys_doc).map_err(|e| format!("{}: {e}", keys_path.display()))?;
    let signer_id = list_doc
        .get("platform_key_id")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{}: {}", list_path.display(), Problem::TrustListMalformed))?;
    let signer = candidates.key(signer_id).ok_or_else(|| {
        format!(
            "{}: the trust list is signed by platform key {}, which the platform keys do not list",
            list_path.display(),
            terminal_safe(signer_id)
        )
    })?;
    let signer_fp = fingerprint(&signer);
    // Every usable key presented, by fingerprint.
    let presented: Vec<(String, VerifyingKey)> = candidates
        .keys
        .iter()
        .filter_map(|k| candidates.key(&k.key_id).map(|v| (k.key_id.clone(), v)))
        .collect();
    if !options.pins.is_empty() && !options.pins.contains(&signer_fp) {
        return Err(format!(
            "pinned fingerprint mismatch: the trust list is signed by platform key {}, not by \
             the key you pinned ({}). Nothing was changed.",
            describe_key(signer_id, &signer),
            options.pins.join(", ")
        ));
    }
    let explicit = sources.platform_keys.is_some() && sources.server.is_none();
    let stored = if explicit {
        Vec::new()
    } else {
        load_pins(cache)?
    };
    let mut pins = stored.clone();
    if explicit {
        // The file named on the command line is the anchor of this run.
        pins = presented
            .iter()
            .map(|(id, key)| pinned_entry(id, key, now))
            .collect();
    } else if !stored.is_empty() {
        if !stored.iter().any(|p| p.fingerprint == signer_fp) {
            if !options.accept_new.contains(&signer_fp) {
                let old: Vec<String> = stored
                    .iter()
                    .map(|p| format!("{} (fingerprint {})", p.key_id, p.fingerprint))
                    .collect();
                return Err(format!(
                    "the platform key changed: pinned {}; the trust list is now signed by {}. \
                     If the platform announced this rotation and {signer_fp} is the \
                     fingerprint it published, run again with --accept-new-key {signer_fp}. \
                     Nothing was changed in {}.",
                    old.join(", "),
                    describe_key(signer_id, &signer),
                    cache.display()
                ));
            }
            eprintln!(
                "congdanso: accepted the new platform key {} (--accept-new-key)",
                describe_key(signer_id, &signer)
            );
        }
    } else if options.pins.contains(&signer_fp) {
        // Pinned by flag or configuration: exactly the keys named.
    } else if options.trust_on_first_use {
        for (id, key) in &presented {
            eprintln!(
                "congdanso: trusting on first use the platform key {}",
                describe_key(id, key)
            );
        }
        pins = presented
            .iter()
            .map(|(id, key)| pinned_entry(id, key, now))
            .collect();
    } else if let Some(confirm) = confirm {
        let mut text = String::from(
            "No platform key is pinned yet. The lists are signed by these platform keys:\n",
        );
        for (id, key) in &presented {
            let current = if *id == signer_id {
                "  (signs this trust list)"
            } else {
                ""
            };
            text.push_str(&format!("  {}{current}\n", describe_key(id, key)));
        }
        text.push_str(
            "Compare the fingerprints with those the platform publishes before trusting them.\n",
        );
        if !confirm(&text) {
            return Err("the platform keys were not trusted; nothing was changed".to_owned());
        }
        pins = presented
            .iter()
            .map(|(id, key)| pinned_entry(id, key, now))
            .collect();
    } else {
        return Err(format!(
            "no platform key is pinned yet in {}. The trust list is signed by platform key {}. \
             Check this fingerprint against the one the platform publishes, then run again with \
             --pin {signer_fp} (or set CONGDANSO_PLATFORM_PIN), or with --trust-on-first-use to \
             trust it unchecked. Nothing was changed.",
            cache.display(),
            describe_key(signer_id, &signer),
        ));
    }
    // Keys named by --pin or --accept-new-key join the pinned ones.
    for (id, key) in &presented {
        let fp = fingerprint(key);
        let named = options.pins.contains(&fp) || options.accept_new.contains(&fp);
        if named && !pins.iter().any(|p| p.fingerprint == fp) {
            pins.push(pinned_entry(id, key, now));
        }
    }
    if fetched.is_some() {
        for (id, key) in &presented {
            let fp = fingerprint(key);
            if !pins.iter().any(|p| p.fingerprint == fp) {
                eprintln!(
                    "congdanso: note: the server also lists platform key {}, which is not pinned; \
                     receipts it signed do not verify unless you pin it (--pin or --accept-new-key)",
                    describe_key(id, key)
                );
            }
        }
    }
    let platform = PlatformKeys {
        keys: pins
            .iter()
            .map(|p| super::trust::PlatformKey {
                key_id: p.key_id.clone(),
                public_key: p.public_key.clone(),
            })
            .collect(),
    };
    let trust = TrustList::from_signed(&list_doc, &platform)
        .map_err(|e| format!("{}: {e}", list_path.display()))?;
    if let Some((keys, list)) = &fetched {
        if sources.platform_keys.is_none() {
            write_file(cache, PLATFORM_KEYS_FILE, keys)?;
        }
        if sources.trust_list.is_none() {
            write_file(cache, TRUST_LIST_FILE, list)?;
        }
    }
    if !explicit && pins != stored {
        let file = PinFile {
            format: PIN_FORMAT.to_owned(),
            keys: pins,
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
        write_file(cache, PIN_FILE, &bytes)?;
    }
    Ok(Anchors { platform, trust })
}

/// What the verifier needs, loaded and checked: the platform keys and the trust list whose
/// signature they confirm.
pub struct Anchors {
    pub platform: PlatformKeys,
    pub trust: TrustList,
}

/// Loads the anchors from two files the caller trusts as they are (no pin).
pub fn load_anchors(trust_list: &Path, platform_keys: &Path) -> Result<Anchors, String> {
    let platform = PlatformKeys::from_json(&read_json(platform_keys)?)
        .map_err(|e| format!("{}: {e}", platform_keys.display()))?;
    let trust = TrustList::from_signed(&read_json(trust_list)?, &platform)
        .map_err(|e| format!("{}: {e}", trust_list.display()))?;
    Ok(Anchors { platform, trust })
}

/// Verifies a package file against loaded anchors.
pub async fn verify_package(
    path: &Path,
    anchors: &Anchors,
    now: DateTime<Utc>,
) -> Result<Report, String> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(match package::read(file_stream(file), u64::MAX).await {
        Ok(read) => read.report(&anchors.trust, &anchors.platform, now),
        Err(refusal) => package::refused_report(&refusal, Some(&anchors.trust), now),
    })
}

/// A platform-signed statement of sharing checked offline: a grant's consent record, an access
/// receipt or a field cut (docs/CRYPTO.md, "Consent records and access receipts").
#[derive(Debug, Serialize)]
pub struct StatementReport {
    pub valid: bool,
    pub kind: String,
    pub platform_key_id: String,
    pub problem: Option<String>,
    /// The signed statement itself, for the reader.
    pub statement: Value,
}

/// Whether a file is a JSON statement (rather than a package, which is a tar archive).
pub fn is_json_file(path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|b| b.iter().copied().find(|c| !c.is_ascii_whitespace()))
        == Some(b'{')
}

/// Verifies a consent record, access receipt or field cut against the pinned platform keys:
/// Ed25519 by the named key over the RFC 8785 bytes of `record` / `receipt` / `body`.
pub fn verify_statement(path: &Path, platform: &PlatformKeys) -> Result<StatementReport, String> {
    let value = read_json(path)?;
    let (member, statement) = ["record", "receipt", "body"]
        .iter()
        .find_map(|m| value.get(*m).map(|v| (*m, v.clone())))
        .ok_or_else(|| {
            format!(
                "{}: neither a package nor a signed statement",
                path.display()
            )
        })?;
    let kind = statement
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or(member)
        .to_owned();
    let key_id = value
        .get("platform_key_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let signature = value
        .get("signature")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let problem = match platform.key(&key_id) {
        None => Some(format!("signed by `{key_id}`, not a pinned platform key")),
        Some(key) => crate::crypto::sign::verify_json(&key, &statement, signature)
            .err()
            .map(|_| "the platform signature does not match: altered or not ours".to_owned()),
    };
    Ok(StatementReport {
        valid: problem.is_none(),
        kind,
        platform_key_id: key_id,
        problem,
        statement,
    })
}

/// One screen for a person: verdict, kind, key, then the statement.
pub fn describe_statement(report: &StatementReport) -> Result<String, String> {
    let verdict = if report.valid { "VALID" } else { "INVALID" };
    let mut out = format!(
        "{verdict}: {} signed by platform key {}\n",
        report.kind, report.platform_key_id
    );
    if let Some(problem) = &report.problem {
        out.push_str(&format!("  problem: {problem}\n"));
    }
    out.push_str(&json_terminal_safe(&report.statement)?);
    out.push('\n');
    Ok(terminal_safe_lines(&out))
}

/// Whether the trust list is older than [`STALE_AFTER_DAYS`].
pub fn is_stale(trust: &TrustList, now: DateTime<Utc>) -> bool {
    trust
        .issued_at()
        .is_none_or(|at| (now - at).num_days() >= STALE_AFTER_DAYS)
}

/// Text from outside (a package, a trust list, a server) made safe to print: every character
/// of [`is_hidden_control`] (newline and tab included) is shown as a `\u{…}` escape, so a title cannot
/// clear the screen, move the cursor or print a line of its own.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden_control(c) {
            out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`terminal_safe`] line by line: for a message laid out in lines by this program.
pub fn terminal_safe_lines(text: &str) -> String {
    text.split('\n')
        .map(terminal_safe)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Pretty JSON safe to print: serde_json already escapes C0 characters inside strings; this
/// also escapes DEL, C1 and the bidirectional characters (`\u00XX` JSON escapes, so the output
/// stays the same JSON value).
pub fn json_terminal_safe(value: &impl Serialize) -> Result<String, String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c != '\n' && is_hidden_control(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// The report for people, one fact per line. Every value is [`terminal_safe`].
pub fn describe(report: &Report) -> String {
    let mut out = String::new();
    if report.valid {
        out.push_str(&format!("VALID: {}\n", terminal_safe(&report.message)));
    } else {
        out.push_str(&format!(
            "NOT VALID ({}): {}\n",
            report.code,
            terminal_safe(&report.message)
        ));
    }
    let mut line = |label: &str, value: Option<&str>| {
        if let Some(value) = value {
            out.push_str(&format!("  {label:<20} {}\n", terminal_safe(value)));
        }
    };
    line("kind", report.kind);
    line("type", report.doc_type.as_deref());
    line("issuer", report.issuer.as_ref().map(|i| i.code.as_str()));
    line("key", report.key_id.as_deref());
    line("citizen", report.citizen_national_id.as_deref());
    line("issued at", report.issued_at.as_deref());
    line("valid until", report.valid_until.as_deref());
    line("accepted by platform", report.accepted_at.as_deref());
    line("file sha-256", report.file_sha256.as_deref());
    line("trust list of", report.trust_list_issued_at.as_deref());
    if let Some(fields) = &report.fields {
        for (name, value) in fields {
            let name = terminal_safe(name);
            out.push_str(&format!("  fields.{name:<13} {}\n", terminal_safe(value)));
        }
    }
    if report.document_expired {
        out.push_str("  note: the document's own validity has ended\n");
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_fetched_from() {
        for ok in [
            "https://congdanso.example",
            "https://203.0.113.5/base/",
            "http://127.0.0.1:8080",
            "http://127.9.8.7",
            "http://[::1]:3000",
            "http://localhost:8080",
            "http://LOCALHOST",
        ] {
            assert!(check_server_url(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://congdanso.example",
            "http://192.0.2.1:9",
            "http://localhost.evil.example",
            "http://[::2]",
            "http://128.0.0.1",
            "ftp://congdanso.example",
            "file:///etc/passwd",
            "congdanso.example",
        ] {
            assert!(check_server_url(refused).is_err(), "{refused}");
        }
        let message = check_server_url("http://congdanso.example").unwrap_err();
        assert!(message.contains("https"), "{message}");
    }

    #[test]
    fn fingerprints_are_read_as_people_type_them() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let fp = fingerprint(&key);
        assert_eq!(fp.len(), 64);
        assert_eq!(parse_fingerprint(&fp).unwrap(), fp);
        assert_eq!(
            parse_fingerprint(&format!("SHA256:{}", fp.to_uppercase())).unwrap(),
            fp
        );
        let grouped: Vec<String> = fp
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        assert_eq!(parse_fingerprint(&grouped.join(" ")).unwrap(), fp);
        assert!(parse_fingerprint(&fp[..63]).is_err());
        assert!(parse_fingerprint("sk_0011223344556677").is_err());
    }

    #[test]
    fn control_and_bidi_characters_are_escaped() {
        let hostile = "a\u{1b}[2J\u{1b}[H\u{9b}31m\u{7f}\r\nVALID\u{202e}txt\u{2066}b\tc";
        let safe = terminal_safe(hostile);
        assert!(!safe.chars().any(is_hidden_control), "{safe}");
        assert_eq!(
            safe,
            "a\\u{001b}[2J\\u{001b}[H\\u{009b}31m\\u{007f}\\u{000d}\\u{000a}VALID\\u{202e}txt\\u{2066}b\\u{0009}c"
        );
        assert!(matches!(terminal_safe("Nguyễn Văn Thử"), Cow::Borrowed(_)));
        let json = json_terminal_safe(&serde_json::json!({ "t": hostile })).unwrap();
        assert!(
            !json.chars().any(|c| c != '\n' && is_hidden_control(c)),
            "{json}"
        );
        let back: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["t"], hostile, "still the same JSON value");
    }
}
