//! The one integration-test binary (each extra binary costs a link on a 2-core machine). One
//! module per feature; `helpers` gives every test its own app, database and blob store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
pub mod browser;
mod errors;
mod health;
mod helpers;
mod issuers;
mod issuing;
mod migrations;
mod process;
mod staff;
mod storage;
mod throttling;
mod vault;
