//! A misuse report's status and text, parsed at the edge.

use crate::error::AppError;

/// The longest comment or answer (characters).
pub const MAX_TEXT_CHARS: usize = 2000;

/// Where a report is. It only moves forward; answered is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    New,
    Investigating,
    Answered,
}

impl Status {
    pub const ALL: [Status; 3] = [Self::New, Self::Investigating, Self::Answered];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Investigating => "investigating",
            Self::Answered => "answered",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Translation key of the status's name.
    pub fn label_key(self) -> String {
        format!("report.status_{}", self.as_str())
    }

    /// The statuses a report may move to `self` from: never back, never out of answered.
    pub fn allowed_from(self) -> &'static [Status] {
        match self {
            Self::New => &[],
            Self::Investigating => &[Self::New],
            Self::Answered => &[Self::New, Self::Investigating],
        }
    }

    pub fn can_move_to(self, next: Status) -> bool {
        next.allowed_from().contains(&self)
    }
}

/// A comment or an answer: 1..=[`MAX_TEXT_CHARS`] characters after trimming; line breaks and
/// tabs kept, other control characters refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(String);

impl Text {
    /// `field` names the form field an error is shown next to.
    pub fn parse(value: &str, field: &'static str) -> Result<Self, AppError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(AppError::field(field, "text_required"));
        }
        if value.chars().count() > MAX_TEXT_CHARS {
            return Err(AppError::field(field, "text_too_long"));
        }
        if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(AppError::field(field, "text_control"));
        }
        Ok(Self(value.replace("\r\n", "\n")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn statuses_only_move_forward() {
        use Status::*;
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert!(!s.can_move_to(s), "{s:?} to itself");
            assert!(!Answered.can_move_to(s), "answered is final");
            assert!(!s.can_move_to(New), "nothing goes back to new");
        }
        assert!(New.can_move_to(Investigating));
        assert!(New.can_move_to(Answered));
        assert!(Investigating.can_move_to(Answered));
        assert_eq!(Status::parse("closed"), None);
    }

    #[test]
    fn text_is_one_to_two_thousand_characters() {
        assert!(Text::parse("   ", "comment").is_err());
        assert!(Text::parse("Tôi không đến phường hôm đó.", "comment").is_ok());
        // Characters, not bytes: 2000 Vietnamese letters are more than 2000 bytes.
        assert!(Text::parse(&"ư".repeat(MAX_TEXT_CHARS), "comment").is_ok());
        let long = Text::parse(&"ư".repeat(MAX_TEXT_CHARS + 1), "comment").unwrap_err();
        assert_eq!(long.code(), "text_too_long");
        assert_eq!(Text::parse("a\r\nb", "comment").unwrap().as_str(), "a\nb");
        assert_eq!(
            Text::parse("a\u{0}b", "comment").unwrap_err().code(),
            "text_control"
        );
    }
}
