//! Signed documents as the citizen sees them: the verification status shown on the document
//! page (checked again at every view, so a key revoked later shows at once), and the package
//! the citizen downloads to prove the document elsewhere.

use std::collections::BTreeMap;

use bytes::Bytes;
use entity::document_signature;
use futures_util::Stream;
use uuid::Uuid;

use super::issuing::PAYLOAD_CONTENT_TYPE;
use super::service;
use crate::access::Opened as OpenDocument;
use crate::error::AppError;
use crate::state::AppState;
use crate::vault::model;
use crate::vault::repo as vault_repo;
use crate::verify::package::{self, FileEntry, Manifest, PackageWriter};
use crate::verify::{self, Evidence, Kind, Problem, SignedReceipt, Verified};

/// What the document page shows about a signature.
#[derive(Debug)]
pub struct SignatureStatus {
    pub record: document_signature::Model,
    pub kind: Kind,
    /// Checked against the current trust list.
    pub outcome: Result<Verified, Problem>,
    /// The signed fields in the catalogue's order (shown even when the signature no longer
    /// verifies, with a warning).
    pub fields: Vec<(String, String)>,
    /// Whether the document has a file besides the signed data.
    pub has_file: bool,
}

/// A document's signature record with its payload opened and its receipt parsed; `None` for a
/// self-uploaded document.
async fn load_signed(
    state: &AppState,
    doc: &OpenDocument,
) -> Result<
    Option<(
        document_signature::Model,
        serde_json::Value,
        Option<SignedReceipt>,
    )>,
    AppError,
> {
    let Some(record) = vault_repo::find_signature(&state.db, doc.row.id).await? else {
        return Ok(None);
    };
    let payload = doc.payload(&record)?;
    let receipt = serde_json::from_str(&record.receipt).ok();
    Ok(Some((record, payload, receipt)))
}

/// The signature record of a document, checked now; `None` for a self-uploaded document.
pub async fn status(
    state: &AppState,
    doc: &OpenDocument,
) -> Result<Option<SignatureStatus>, AppError> {
    let Some((record, payload, receipt)) = load_signed(state, doc).await? else {
        return Ok(None);
    };
    let trust = service::current_trust_list(state).await?;
    let platform = service::current_platform_keys(state).await?;
    let parsed = verify::payload::parse(&payload).ok();
    let has_file = parsed
        .as_ref()
        .is_some_and(|p| p.payload.file_sha256.is_some());
    let evidence = Evidence {
        payload: &payload,
        signature: &record.signature,
        receipt: receipt.as_ref(),
        file_sha256: has_file.then_some(doc.row.sha256.as_str()),
    };
    let outcome = verify::check(&evidence, &trust, Some(&platform));
    Ok(Some(SignatureStatus {
        kind: Kind::parse(&record.kind).unwrap_or(Kind::Issued),
        fields: parsed
            .map(|p| in_catalogue_order(&p.payload.doc_type, p.payload.fields))
            .unwrap_or_default(),
        outcome,
        has_file,
        record,
    }))
}

/// Fields ordered as the type's catalogue lists them (unknown ones last, by name).
fn in_catalogue_order(
    doc_type: &str,
    mut fields: BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(fields.len());
    if let Some(t) = model::DocumentType::parse(doc_type) {
        for spec in super::catalogue::fields_for(t) {
            if let Some(value) = fields.remove(spec.name) {
                out.push((spec.name.to_owned(), value));
            }
        }
    }
    out.extend(fields);
    out
}

/// Older documents this one replaced (same type and number), newest first.
pub async fn history(
    state: &AppState,
    doc: &OpenDocument,
) -> Result<Vec<(Uuid, String)>, AppError> {
    let records = vault_repo::signatures_for_owner(&state.db, doc.row.owner_id).await?;
    Ok(records
        .iter()
        .filter(|r| r.superseded_by == Some(doc.row.id))
        .map(|r| (r.document_id, r.issued_at.format("%Y-%m-%d").to_string()))
        .collect())
}

/// The verification package of a signed document: its exact length, a name for the download,
/// and the bytes as a stream (the file is decrypted piece by piece as it is sent).
pub async fn package(
    state: &AppState,
    doc: OpenDocument,
) -> Result<
    (
        u64,
        String,
        impl Stream<Item = Result<Bytes, AppError>> + use<>,
    ),
    AppError,
> {
    let (record, payload, receipt) = load_signed(state, &doc).await?.ok_or(AppError::NotFound)?;
    let has_file = payload.get("file_sha256").is_some_and(|v| !v.is_null())
        && doc.row.content_type != PAYLOAD_CONTENT_TYPE;
    let file = has_file.then(|| FileEntry {
        name: package::file_entry_name(model::extension(&doc.row.content_type)),
        content_type: doc.row.content_type.clone(),
        size: doc.size(),
    });
    let manifest = Manifest {
        format: package::PACKAGE_FORMAT.to_owned(),
        payload,
        signature: record.signature.clone(),
        receipt,
        file,
    };
    let mtime = u64::try_from(record.issued_at.timestamp()).unwrap_or(0);
    let writer = PackageWriter::new(&manifest, mtime).map_err(AppError::internal)?;
    let len = writer.len;
    let title = doc.title()?;
    let name = format!("{title}.congdanso.tar");
    let body = if has_file {
        let size = doc.size();
        Some(doc.stream(state.clone(), 0..size).await?)
    } else {
        None
    };
    Ok((len, name, writer.into_stream(body)))
}
