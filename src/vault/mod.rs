//! The citizen's encrypted document vault: upload (streamed through STREAM encryption into the
//! blob store), list, view, download (with Range), rename, delete. Every read of a document's
//! content, title or file name goes through [`crate::access`], the one door.

pub mod model;
pub mod pages;
pub mod repo;
pub mod service;
