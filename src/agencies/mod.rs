//! Agencies and their people: platform operators register agencies and their admins; agency
//! admins manage their own staff.

pub mod pages;
pub mod repo;
pub mod service;
