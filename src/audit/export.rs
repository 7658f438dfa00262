//! A citizen's access-log export and its offline verification: no database, no server, only
//! the platform's published public key(s).
//!
//! The export is one JSON object, written compactly with its fields in a fixed order; the
//! verifier re-serialises what it parsed and refuses anything that is not byte-for-byte that
//! canonical form, so no byte of a file can change without the verification failing (every
//! field is also checked by a hash, a proof or a signature). It holds:
//! - `format` ([`FORMAT`]), the log's `origin` and the citizen's `account` id;
//! - `chain_head`: the citizen's last `seq` and its leaf hash, as the server holds them;
//! - `entries`, oldest first: content (absent once erased) and salt, the hashes of the chain
//!   and the tree (hex), the leaf index, and the inclusion proof of the leaf in the latest
//!   checkpoint (absent for an entry newer than it);
//! - `checkpoints`: the signed checkpoint notes, the first one that includes the citizen's
//!   first entry, then the latest (one note when they are the same);
//! - `consistency`: the RFC 9162 consistency proof from the first checkpoint to the latest.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{Content, GENESIS, entry_leaf_hash, to_hash};
use crate::crypto::merkle::{self, Hash};
use crate::crypto::note::{self, Checkpoint};

/// The `format` value of this version.
pub const FORMAT: &str = "congdanso-access-log-export/1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    pub format: String,
    pub origin: String,
    pub account: String,
    pub chain_head: ChainHead,
    pub entries: Vec<ExportEntry>,
    pub checkpoints: Vec<String>,
    pub consistency: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportEntry {
    pub seq: u64,
    pub leaf_index: u64,
    pub erased: bool,
    pub content: Option<Content>,
    pub salt: Option<String>,
    pub content_hash: String,
    pub prev_hash: String,
    pub leaf_hash: String,
    pub inclusion: Option<Vec<String>>,
}

impl Export {
    /// The canonical bytes (what a file holds).
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub account: String,
    pub origin: String,
    pub entries: usize,
    pub erased: usize,
    /// Entries included in the latest checkpoint.
    pub included: usize,
    /// Entries newer than the latest checkpoint (chained, not yet in a signed tree head).
    pub pending: usize,
    pub first_checkpoint: u64,
    pub latest_checkpoint: u64,
}

/// Why an export does not verify, naming the entry when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{what}", seq.map(|s| format!("entry seq {s}: ")).unwrap_or_default())]
pub struct ExportProblem {
    pub seq: Option<u64>,
    pub what: String,
}

fn problem(seq: Option<u64>, what: impl Into<String>) -> ExportProblem {
    ExportProblem {
        seq,
        what: what.into(),
    }
}

fn parse_hash(value: &str, seq: Option<u64>, what: &str) -> Result<Hash, ExportProblem> {
    hex::decode(value)
        .ok()
        .and_then(|b| to_hash(&b))
        .filter(|h| hex::encode(h) == value)
        .ok_or_else(|| problem(seq, format!("{what} is not a lowercase hex SHA-256")))
}

/// Opens a checkpoint note with any of the trusted keys.
fn open_checkpoint(note: &str, origin: &str, keys: &[VerifyingKey]) -> Option<Checkpoint> {
    keys.iter()
        .find_map(|key| Checkpoint::open(note, origin, key).ok())
}

/// Verifies an export file's bytes against the platform's public keys.
pub fn verify(bytes: &[u8], keys: &[VerifyingKey]) -> Result<Verified, ExportProblem> {
    let export: Export = serde_json::from_slice(bytes)
        .map_err(|e| problem(None, format!("not an access-log export ({e})")))?;
    let canonical = export
        .to_bytes()
        .map_err(|e| problem(None, e.to_string()))?;
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if canonical != body {
        return Err(problem(
            None,
            "the file is not in the canonical form the platform writes (it was changed)",
        ));
    }
    if export.format != FORMAT {
        return Err(problem(None, format!("unknown format {:?}", export.format)));
    }
    let account = Uuid::parse_str(&export.account)
        .ok()
        .filter(|a| a.to_string() == export.account)
        .ok_or_else(|| problem(None, "account is not a UUID"))?;

    // Checkpoints: read first, their signatures checked last (the costly step, once
    // everything else holds).
    let mut heads = Vec::new();
    for (i, note) in export.checkpoints.iter().enumerate() {
        let head = note::parse(note)
            .ok()
            .and_then(|(text, _)| Checkpoint::parse(text).ok())
            .filter(|c| c.origin == export.origin)
            .ok_or_else(|| {
                problem(
                    None,
                    format!("checkpoint {i} is not a checkpoint note of this log"),
                )
            })?;
        heads.push(head);
    }
    let (first, latest) = match heads.as_slice() {
        [one] => (one, one),
        [first, latest] if first.size < latest.size => (first, latest),
        [] => return Err(problem(None, "the export holds no checkpoint")),
        _ => {
            return Err(problem(
                None,
                "checkpoints must be one, or two of growing size",
            ));
        }
    };
    let consistency: Vec<Hash> = export
        .consistency
        .iter()
        .map(|h| parse_hash(h, None, "a consistency proof hash"))
        .collect::<Result<_, _>>()?;
    merkle::verify_consistency(
        first.size,
        latest.size,
        &first.root,
        &latest.root,
        &consistency,
    )
    .map_err(|e| {
        problem(
            None,
            format!(
                "the latest checkpoint ({}) does not extend the first ({}): {e}",
                latest.size, first.size
            ),
        )
    })?;

    // The chain, entry by entry.
    let mut prev = GENESIS;
    let mut last_leaf: Option<u64> = None;
    let mut erased = 0;
    let mut included = 0;
    for (i, entry) in export.entries.iter().enumerate() {
        let seq = Some(entry.seq);
        if entry.seq != i as u64 + 1 {
            return Err(problem(
                seq,
                format!("expected seq {} (entries missing or out of order)", i + 1),
            ));
        }
        if last_leaf.is_some_and(|l| entry.leaf_index <= l) {
            return Err(problem(seq, "leaf index does not grow along the chain"));
        }
        last_leaf = Some(entry.leaf_index);
        let content_hash = parse_hash(&entry.content_hash, seq, "content_hash")?;
        let prev_hash = parse_hash(&entry.prev_hash, seq, "prev_hash")?;
        let leaf_hash = parse_hash(&entry.leaf_hash, seq, "leaf_hash")?;
        if prev_hash != prev {
            return Err(problem(
                seq,
                "prev_hash is not the leaf hash of the entry before it",
            ));
        }
        match (&entry.content, &entry.salt, entry.erased) {
            (Some(content), Some(salt), false) => {
                let salt = parse_hash(salt, seq, "salt")?;
                if !content.is_well_formed() {
                    return Err(problem(seq, "content holds an unknown code"));
                }
                if content.hash(&salt) != Some(content_hash) {
                    return Err(problem(seq, "content does not match its salted hash"));
                }
            }
            (None, None, true) => erased += 1,
            _ => {
                return Err(problem(
                    seq,
                    "content and salt must both be present, or both erased",
                ));
            }
        }
        if entry_leaf_hash(
            account,
            entry.seq,
            entry.leaf_index,
            &prev_hash,
            &content_hash,
        ) != leaf_hash
        {
            return Err(problem(seq, "leaf hash does not match the entry"));
        }
        match (&entry.inclusion, entry.leaf_index < latest.size) {
            (Some(proof), true) => {
                let proof: Vec<Hash> = proof
                    .iter()
                    .map(|h| parse_hash(h, seq, "an inclusion proof hash"))
                    .collect::<Result<_, _>>()?;
                merkle::verify_inclusion(
                    &leaf_hash,
                    entry.leaf_index,
                    latest.size,
                    &proof,
                    &latest.root,
                )
                .map_err(|e| {
                    problem(
                        seq,
                        format!("not included in the checkpoint of {}: {e}", latest.size),
                    )
                })?;
                included += 1;
            }
            (None, false) => {}
            (Some(_), false) => {
                return Err(problem(
                    seq,
                    "inclusion proof for a leaf past the checkpoint",
                ));
            }
            (None, true) => {
                return Err(problem(
                    seq,
                    format!(
                        "no inclusion proof though the checkpoint of {} covers it",
                        latest.size
                    ),
                ));
            }
        }
        prev = leaf_hash;
    }
    let head_hash = parse_hash(&export.chain_head.hash, None, "chain_head.hash")?;
    if export.chain_head.seq != export.entries.len() as u64 || head_hash != prev {
        return Err(problem(
            None,
            "the chain head does not match the last entry (entries missing at the end)",
        ));
    }
    if let Some(first_entry) = export.entries.first()
        && first_entry.leaf_index < latest.size
        && first_entry.leaf_index >= first.size
    {
        return Err(problem(
            Some(first_entry.seq),
            "the first checkpoint should be the first one to include the first entry",
        ));
    }
    for (i, note) in export.checkpoints.iter().enumerate() {
        if open_checkpoint(note, &export.origin, keys).is_none() {
            return Err(problem(
                None,
                format!("checkpoint {i} is not signed by a trusted platform key for this log"),
            ));
        }
    }
    Ok(Verified {
        account: export.account.clone(),
        origin: export.origin.clone(),
        entries: export.entries.len(),
        erased,
        included,
        pending: export.entries.len() - included,
        first_checkpoint: first.size,
        latest_checkpoint: latest.size,
    })
}
