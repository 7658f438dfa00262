//! The reference agency client behind `congdanso agency issue`: builds the payload, hashes the
//! file, signs with the agency's key file and sends it, exactly as an external agency would
//! (only public HTTP endpoints; no server internals).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::keyfile;
use crate::crypto::sign;
use crate::verify::offline::file_stream;
use crate::verify::payload::{self, PAYLOAD_VERSION};

/// What `agency issue` was asked to do.
#[derive(Debug, Clone)]
pub struct IssueArgs {
    pub key: PathBuf,
    pub citizen: String,
    pub doc_type: String,
    pub fields: PathBuf,
    pub file: Option<PathBuf>,
    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`.
    pub valid_until: Option<String>,
    pub title: Option<String>,
    /// The agency's code; asked from the server when absent.
    pub issuer: Option<String>,
}

/// The signed request, before sending.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub payload: Value,
    pub canonical: String,
    pub signature: String,
}

async fn sha256_of(path: &Path) -> Result<String, String> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut stream = file_stream(file);
    let mut hasher = Sha256::new();
    while let Some(chunk) = stream.next().await {
        hasher.update(chunk.map_err(|e| format!("{}: {e}", path.display()))?);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn valid_until(value: Option<&str>) -> Result<Option<String>, String> {
    match value {
        None => Ok(None),
        Some(v) if payload::parse_date(v).is_some() => Ok(Some(format!("{v}T00:00:00Z"))),
        Some(v) if payload::parse_time(v).is_some() => Ok(Some(v.to_owned())),
        Some(v) => Err(format!(
            "--valid-until {v}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"
        )),
    }
}

/// Builds and signs the payload (no network).
pub async fn prepare(
    args: &IssueArgs,
    issuer: &str,
    now: DateTime<Utc>,
) -> Result<Prepared, String> {
    let (key_id, key) = keyfile::load(&args.key)?;
    let text = std::fs::read_to_string(&args.fields)
        .map_err(|e| format!("{}: {e}", args.fields.display()))?;
    let fields: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: expected a JSON object of strings ({e})",
            args.fields.display()
        )
    })?;
    let file_sha256 = match &args.file {
        Some(path) => Some(sha256_of(path).await?),
        None => None,
    };
    let payload = json!({
        "version": PAYLOAD_VERSION,
        "kind": "issued",
        "type": args.doc_type,
        "fields": fields,
        "citizen_national_id": args.citizen,
        "file_sha256": file_sha256,
        "issued_at": payload::format_time(now),
        "valid_until": valid_until(args.valid_until.as_deref())?,
        "issuer_id": issuer,
        "key_id": key_id,
    });
    let canonical = sign::canonical_json(&payload).map_err(|e| e.to_string())?;
    let signature = sign::sign_json(&key, &payload).map_err(|e| e.to_string())?;
    Ok(Prepared {
        payload,
        canonical: String::from_utf8(canonical).map_err(|e| e.to_string())?,
        signature,
    })
}

fn api(server: &str, path: &str) -> String {
    format!("{}/api/v1{path}", server.trim_end_matches('/'))
}

/// The calling agency's code, from `GET /api/v1/agency`.
pub async fn agency_code(server: &str, token: &str) -> Result<String, String> {
    let response = reqwest::Client::new()
        .get(api(server, "/agency"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("{server}: {e}"))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("GET /api/v1/agency: HTTP {status}: {body}"));
    }
    body.pointer("/agency/code")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "GET /api/v1/agency: no agency code in the answer".to_owned())
}

/// Sends a prepared request; returns the HTTP status and the JSON answer.
pub async fn send(
    server: &str,
    token: &str,
    prepared: &Prepared,
    args: &IssueArgs,
) -> Result<(u16, Value), String> {
    let mut document = json!({ "payload": prepared.payload, "signature": prepared.signature });
    if let Some(title) = &args.title {
        document["title"] = Value::from(title.clone());
    }
    let request = reqwest::Client::new()
        .post(api(server, "/documents"))
        .bearer_auth(token);
    let request = match &args.file {
        None => request
            .header("content-type", "application/json")
            .body(document.to_string()),
        Some(path) => {
            let boundary = format!("cds-{}", uuid::Uuid::new_v4().simple());
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().replace(['"', '\r', '\n'], "_"))
                .unwrap_or_else(|| "file".to_owned());
            let head = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"document\"\r\nContent-Type: application/json\r\n\r\n{document}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            );
            let tail = format!("\r\n--{boundary}--\r\n");
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let body = futures_util::stream::once(async move { Ok(Bytes::from(head)) })
                .chain(file_stream(file))
                .chain(futures_util::stream::once(
                    async move { Ok(Bytes::from(tail)) },
                ));
            request
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(reqwest::Body::wrap_stream(body))
        }
    };
    let response = request.send().await.map_err(|e| format!("{server}: {e}"))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    let body: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("answer is not JSON: {e}"))?;
    Ok((status, body))
}
