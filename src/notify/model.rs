//! What a notification is about, and the channels it may go through.

/// The events people are told about. Codes are stable (stored in the outbox, the inbox and the
/// preferences).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An agency asked for the citizen's data (a link to the request).
    RequestNew,
    /// A request waits for an answer and expires within a day.
    RequestExpiring,
    /// An agency read documents under a grant (batched: one message per grant and window).
    GrantUsed,
    /// A grant ends within a day.
    GrantExpiring,
    /// An agency issued a document into the citizen's vault.
    DocumentIssued,
    /// A clerk certified a copy of the citizen's document.
    CopyCertified,
    /// A login from a browser the account had not used.
    LoginNewBrowser,
    /// The password changed.
    PasswordChanged,
    /// The second factor (authenticator) changed.
    SecondFactorChanged,
    /// An operator answered the citizen's misuse report.
    ReportAnswered,
    /// (Staff) the citizen answered a request made at the counter.
    CounterAnswered,
    /// The citizen's printed QR card was revoked (from the account, or by staff at a counter).
    QrCardRevoked,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::RequestNew,
        Kind::RequestExpiring,
        Kind::GrantUsed,
        Kind::GrantExpiring,
        Kind::DocumentIssued,
        Kind::CopyCertified,
        Kind::LoginNewBrowser,
        Kind::PasswordChanged,
        Kind::SecondFactorChanged,
        Kind::ReportAnswered,
        Kind::CounterAnswered,
        Kind::QrCardRevoked,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Kind::RequestNew => "request.new",
            Kind::RequestExpiring => "request.expiring",
            Kind::GrantUsed => "grant.used",
            Kind::GrantExpiring => "grant.expiring",
            Kind::DocumentIssued => "document.issued",
            Kind::CopyCertified => "copy.certified",
            Kind::LoginNewBrowser => "login.new_browser",
            Kind::PasswordChanged => "password.changed",
            Kind::SecondFactorChanged => "second_factor.changed",
            Kind::ReportAnswered => "report.answered",
            Kind::CounterAnswered => "counter.answered",
            Kind::QrCardRevoked => "qr_card.revoked",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Security alerts go through every channel the person has, whatever they chose.
    pub fn is_security(self) -> bool {
        matches!(
            self,
            Kind::LoginNewBrowser
                | Kind::PasswordChanged
                | Kind::SecondFactorChanged
                | Kind::QrCardRevoked
        )
    }

    /// The kinds a citizen sees on their preferences page (the staff-only kind aside).
    pub fn for_citizens() -> impl Iterator<Item = Kind> {
        Self::ALL
            .into_iter()
            .filter(|k| *k != Kind::CounterAnswered)
    }

    /// The locale key of the message text (`notify.kind.<code>`).
    pub fn text_key(self) -> String {
        format!("notify.kind.{}", self.code())
    }
}

/// Where a notification goes. The in-app inbox always gets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::Sms];

    pub fn code(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// The `kind:channel` code of a preference.
pub fn preference(kind: Kind, channel: Channel) -> String {
    format!("{}:{}", kind.code(), channel.code())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_security_kinds_are_the_account_ones() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.code()), Some(kind));
        }
        let security: Vec<_> = Kind::ALL.into_iter().filter(|k| k.is_security()).collect();
        assert_eq!(
            security,
            [
                Kind::LoginNewBrowser,
                Kind::PasswordChanged,
                Kind::SecondFactorChanged,
                Kind::QrCardRevoked
            ]
        );
        assert!(Kind::parse("nope").is_none());
        assert_eq!(Channel::parse("sms"), Some(Channel::Sms));
    }
}
