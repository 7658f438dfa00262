//! The one integration-test binary (each extra binary costs a link on a 2-core machine). One
//! module per feature; `helpers` gives every test its own app, database and blob store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access;
mod account_log;
mod accounts;
mod assets;
mod audit;
mod authority;
pub mod browser;
mod certify;
mod counter;
mod errors;
mod grants;
mod health;
mod helpers;
mod issuers;
mod issuing;
mod migrations;
mod notify;
mod openapi;
mod ops;
mod outbox;
mod process;
mod purposes;
mod qr;
mod qr_card;
mod reports;
mod staff;
mod storage;
mod throttling;
mod vault;
mod vault_scale;
mod verify;
mod web;
