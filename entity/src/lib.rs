//! sea-orm entities, one module per table. Generated shape only: no behaviour lives here; the
//! rules are in the feature services of the `congdanso` crate.

pub mod account;
pub mod agency;
pub mod api_credential;
pub mod certification_request;
pub mod document;
pub mod document_signature;
pub mod issuer_key;
pub mod platform_key;
pub mod recovery_code;
pub mod session;
pub mod throttle;
pub mod upload;
pub mod vault_usage;
