//! Agencies and their people: platform operators register agencies and their admins; agency
//! admins manage their own staff.

pub mod pages;
pub mod repo;
pub mod service;

use entity::agency;

/// How citizens reach an agency about their data. Each part is optional; an empty one is
/// cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

impl Contact {
    /// The agency's contact as stored.
    pub fn of(agency: &agency::Model) -> Self {
        Self {
            email: agency.contact_email.clone(),
            phone: agency.contact_phone.clone(),
            address: agency.contact_address.clone(),
        }
    }

    /// Whether the agency gave any way to reach it.
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.phone.is_none() && self.address.is_none()
    }
}
