//! `congdanso verify`: checks a package on any machine, with no database and no network once the
//! trust list and platform keys are cached (fetch them with `--server` once, or copy the files).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::{PlatformKeys, Report, TrustList, package};

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

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not JSON ({e})", path.display()))
}

/// Downloads the trust list and platform keys from a server into `cache`.
pub async fn fetch(server: &str, cache: &Path) -> Result<(), String> {
    let client = reqwest::Client::new();
    std::fs::create_dir_all(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    for name in [PLATFORM_KEYS_FILE, TRUST_LIST_FILE] {
        let url = format!(
            "{}/.well-known/congdanso/{name}",
            server.trim_end_matches('/')
        );
        let response = client
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url}: HTTP {}", response.status()));
        }
        let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        serde_json::from_slice::<Value>(&body).map_err(|e| format!("{url}: not JSON ({e})"))?;
        // Write then rename, so a failed download never leaves half a file.
        let path = cache.join(name);
        let partial = cache.join(format!("{name}.partial"));
        std::fs::write(&partial, &body).map_err(|e| format!("{}: {e}", partial.display()))?;
        std::fs::rename(&partial, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// What the verifier needs, loaded and checked: the platform keys and the trust list whose
/// signature they confirm.
pub struct Anchors {
    pub platform: PlatformKeys,
    pub trust: TrustList,
}

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
    let outcome = match package::read(file_stream(file), u64::MAX).await {
        Ok(read) => super::check(&read.evidence(), &anchors.trust, Some(&anchors.platform)),
        Err(problem) => Err(problem),
    };
    Ok(Report::new(&outcome, Some(&anchors.trust), now))
}

/// Whether the trust list is older than [`STALE_AFTER_DAYS`].
pub fn is_stale(trust: &TrustList, now: DateTime<Utc>) -> bool {
    trust
        .issued_at()
        .is_none_or(|at| (now - at).num_days() >= STALE_AFTER_DAYS)
}

/// The report for people, one fact per line.
pub fn describe(report: &Report) -> String {
    let mut out = String::new();
    if report.valid {
        out.push_str(&format!("VALID: {}\n", report.message));
    } else {
        out.push_str(&format!(
            "NOT VALID ({}): {}\n",
            report.code, report.message
        ));
    }
    let mut line = |label: &str, value: Option<&str>| {
        if let Some(value) = value {
            out.push_str(&format!("  {label:<20} {value}\n"));
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
            out.push_str(&format!("  fields.{name:<13} {value}\n"));
        }
    }
    if report.document_expired {
        out.push_str("  note: the document's own validity has ended\n");
    }
    out
}
