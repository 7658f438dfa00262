//! The citizen's encrypted document vault: upload (streamed through STREAM encryption into the
//! blob store), list, view, download (with Range), rename, delete. Every read of a document's
//! content goes through [`service::open_document`].

pub mod model;
pub mod pages;
pub mod repo;
pub mod service;
