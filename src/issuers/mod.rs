//! Issuing agencies: their Ed25519 public keys (the platform never holds their private keys),
//! agency API credentials, and the signed trust list verifiers cache to check documents offline.

pub mod api;
pub mod keyfile;
pub mod model;
pub mod pages;
pub mod repo;
pub mod service;
