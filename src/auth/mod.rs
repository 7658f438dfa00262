//! Who is calling. Sessions live in the database (so "log out everywhere" works across
//! instances); the cookie carries a random token whose hash finds the session row. Handlers say
//! who may call them by the extractor they ask for: [`CitizenSession`], [`StaffSession`],
//! [`AgencyAdminSession`], [`OperatorSession`] (all need a completed second factor) or
//! [`PendingSession`] (password accepted, code not yet given). Forms are protected against
//! cross-site requests by [`csrf`].

pub mod csrf;
pub mod extract;
pub mod repo;
pub mod session;

pub use extract::{
    AgencyAdminSession, AnySession, CitizenSession, CurrentSession, MaybeSession, OperatorSession,
    PendingSession, StaffSession,
};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Citizen,
    CounterStaff,
    AgencyAdmin,
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::CounterStaff => "counter_staff",
            Role::AgencyAdmin => "agency_admin",
            Role::Operator => "operator",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "citizen" => Some(Role::Citizen),
            "counter_staff" => Some(Role::CounterStaff),
            "agency_admin" => Some(Role::AgencyAdmin),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }

    /// Staff and operators log in at `/staff/login` with a user name; citizens at `/login`.
    pub fn is_staff_side(self) -> bool {
        !matches!(self, Role::Citizen)
    }

    /// Where the role lands after logging in.
    pub fn home(self) -> &'static str {
        match self {
            Role::Citizen => "/account",
            Role::CounterStaff => "/staff",
            Role::AgencyAdmin => "/agency",
            Role::Operator => "/admin",
        }
    }

    /// Translation key of the role's name.
    pub fn label_key(self) -> &'static str {
        match self {
            Role::Citizen => "role.citizen",
            Role::CounterStaff => "role.counter_staff",
            Role::AgencyAdmin => "role.agency_admin",
            Role::Operator => "role.operator",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [
            Role::Citizen,
            Role::CounterStaff,
            Role::AgencyAdmin,
            Role::Operator,
        ] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
