//! Accounts: citizen registration, mandatory TOTP, login with throttling, recovery codes,
//! password change, staff and operator accounts.

pub mod device;
pub mod model;
pub mod pages;
pub mod password;
pub mod recovery;
pub mod repo;
pub mod service;
pub mod throttle;
pub mod totp;
