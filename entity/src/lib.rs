//! sea-orm entities, one module per table. Generated shape only: no behaviour lives here; the
//! rules are in the feature services of the `congdanso` crate.

pub mod access_grant;
pub mod access_log_chain;
pub mod access_log_checkpoint;
pub mod access_log_entry;
pub mod access_log_pending;
pub mod access_log_tree;
pub mod access_request;
pub mod account;
pub mod agency;
pub mod agency_purpose;
pub mod agency_succession;
pub mod api_credential;
pub mod certification_request;
pub mod counter_session;
pub mod document;
pub mod document_signature;
pub mod grant_document;
pub mod issuer_key;
pub mod issuing_authority;
pub mod misuse_report;
pub mod outbox_message;
pub mod over_asking;
pub mod platform_key;
pub mod procedure;
pub mod qr_card;
pub mod qr_card_counter;
pub mod qr_handle;
pub mod qr_scan;
pub mod qr_token_use;
pub mod recovery_code;
pub mod session;
pub mod throttle;
pub mod upload;
pub mod vault_usage;
