//! Công dân số: a citizen's personal data vault.
//!
//! Start at `docs/ARCHITECTURE.md` for the map of modules and the data flow. In short:
//! `main` parses the command line, [`config`] reads and validates settings, [`startup`] opens
//! the database ([`db`]), the blob store ([`storage`]) and the keys ([`keys`]) into an
//! [`state::AppState`], and [`routes`] wires every handler.

#![forbid(unsafe_code)]

rust_i18n::i18n!("web/locales", fallback = "vi");

pub mod access;
pub mod accounts;
pub mod agencies;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod counter;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod error;
pub mod forms;
pub mod grants;
pub mod housekeeping;
pub mod i18n;
pub mod issuers;
pub mod keys;
pub mod middleware;
pub mod notify;
pub mod openapi;
pub mod ops;
pub mod outbox;
pub mod purposes;
pub mod qr;
pub mod reports;
pub mod routes;
pub mod site;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod text;
pub mod vault;
pub mod verify;
