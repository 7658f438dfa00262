//! The one door into a citizen's data. Every read of a document's content, title, file name or
//! signed payload, of a document list, or of a citizen's profile by someone else goes through
//! [`door::enter`] / [`door::open`] (or [`door::list`], [`door::profile`]): it decides who may
//! read, loads the **owner's** data key itself, writes the access-log entry in the same
//! transaction (a read whose entry cannot be written is refused) and returns the only handle
//! that can decrypt. No key leaves it.
//!
//! - `door`: readers, purposes, the decision, the decrypting handle;
//! - writes that create or change a citizen's data (upload, issue, certify, rename, delete,
//!   certification codes) commit their access-log entry through [`door::begin_logged`] /
//!   [`door::Visit::finish`] in the same transaction as the change.
//!
//! Refused attempts that reach an existing document (another citizen's, a clerk without the
//! code, an expired or already claimed code) are entries too, in the owner's chain, written
//! in their own transaction since the refused action writes nothing.

pub mod door;

pub use door::{
    DocumentId, Opened, Purpose, Reader, Visit, begin_logged, enter, list, open, profile,
    record_refusal,
};
