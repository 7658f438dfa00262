//! Issuing agencies: their Ed25519 public keys (the platform never holds their private keys),
//! agency API credentials, the signed trust list verifiers cache to check documents offline, the
//! catalogue of typed fields, and issuing signed documents into citizens' vaults.

pub mod api;
pub mod catalogue;
pub mod client;
pub mod issuing;
pub mod keyfile;
pub mod model;
pub mod pages;
pub mod repo;
pub mod service;
pub mod verification;
