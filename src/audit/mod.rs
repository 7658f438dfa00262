//! The access log a citizen can read: who saw their data, when and why. Tamper-evident: each
//! citizen's entries form a hash chain, and every entry is a leaf of one append-only RFC 9162
//! Merkle tree whose signed checkpoints are published at
//! `/.well-known/congdanso/log/checkpoint` (C2SP tlog-checkpoint), so independent witnesses can
//! co-sign them and a citizen's export verifies offline.
//!
//! - `model`: typed actor / action / object / authorization / outcome, the canonical bytes;
//! - `repo`: queries (never begins a transaction: an entry joins the action's transaction);
//! - `service`: `append`, checkpoints, the citizen's page, erasure, export, `verify_all`;
//! - `export`: the export format and its offline verification (no database);
//! - `api`: the checkpoint endpoint.
//!
//! Byte formats: `docs/CRYPTO.md`, "Access log".

pub mod api;
pub mod export;
pub mod model;
pub mod pages;
pub mod plain;
pub mod repo;
pub mod service;
pub mod writer;

pub use model::{Action, Actor, Authorization, Entry, Object, Outcome, Purpose};
pub use service::{EntryRef, append};
