//! The typed field sets of each catalogue document type: which fields an issuer must send,
//! which it may send, and the format of each. Every type has a `number` (the document's own
//! number), which is what re-issuing matches to supersede the previous document.
//! Field values are strings; dates are `YYYY-MM-DD`. Listed in docs/api.md.

use std::collections::BTreeMap;

use crate::vault::model::DocumentType;
use crate::verify::payload::parse_date;

/// How a field's value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Free text, 1..=300 characters, no control characters.
    Text,
    /// `YYYY-MM-DD`.
    Date,
    /// Exactly this many ASCII digits.
    Digits(usize),
    /// One of these values.
    OneOf(&'static [&'static str]),
    /// Letters and digits (upper case), 5..=20 characters.
    Code,
}

#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub format: Format,
    pub required: bool,
}

const fn req(name: &'static str, format: Format) -> FieldSpec {
    FieldSpec {
        name,
        format,
        required: true,
    }
}

const fn opt(name: &'static str, format: Format) -> FieldSpec {
    FieldSpec {
        name,
        format,
        required: false,
    }
}

/// Sex as printed on Vietnamese documents.
pub const SEX: &[&str] = &["Nam", "Nữ"];
/// Driving licence classes (Law on Road Traffic Order and Safety 2024, plus the older ones
/// still in circulation).
pub const LICENCE_CLASSES: &[&str] = &[
    "A1", "A", "B1", "B", "C1", "C", "D1", "D2", "D", "BE", "C1E", "CE", "D1E", "D2E", "DE", "A2",
    "A3", "A4", "B2", "E", "FB2", "FC", "FD", "FE",
];

const CCCD: &[FieldSpec] = &[
    req("number", Format::Digits(12)),
    req("full_name", Format::Text),
    req("date_of_birth", Format::Date),
    req("sex", Format::OneOf(SEX)),
    req("nationality", Format::Text),
    req("place_of_origin", Format::Text),
    req("place_of_residence", Format::Text),
    req("issue_date", Format::Date),
    // Cards issued after 60 carry no expiry.
    opt("expiry", Format::Date),
];

const PASSPORT: &[FieldSpec] = &[
    req("number", Format::Code),
    req("full_name", Format::Text),
    req("date_of_birth", Format::Date),
    req("sex", Format::OneOf(SEX)),
    req("nationality", Format::Text),
    req("place_of_birth", Format::Text),
    req("issue_date", Format::Date),
    req("expiry", Format::Date),
    opt("issuing_authority", Format::Text),
];

const DRIVING_LICENCE: &[FieldSpec] = &[
    req("number", Format::Digits(12)),
    req("full_name", Format::Text),
    req("date_of_birth", Format::Date),
    req("nationality", Format::Text),
    req("place_of_residence", Format::Text),
    req("class", Format::OneOf(LICENCE_CLASSES)),
    req("issue_date", Format::Date),
    // A1 licences do not expire.
    opt("expiry", Format::Date),
];

const BIRTH_CERTIFICATE: &[FieldSpec] = &[
    req("number", Format::Text),
    req("full_name", Format::Text),
    req("date_of_birth", Format::Date),
    req("sex", Format::OneOf(SEX)),
    req("place_of_birth", Format::Text),
    req("nationality", Format::Text),
    opt("father_name", Format::Text),
    opt("mother_name", Format::Text),
    req("registration_date", Format::Date),
    req("registration_office", Format::Text),
];

const HEALTH_INSURANCE: &[FieldSpec] = &[
    req("number", Format::Code),
    req("full_name", Format::Text),
    req("date_of_birth", Format::Date),
    req("sex", Format::OneOf(SEX)),
    req("registered_facility", Format::Text),
    req("valid_from", Format::Date),
    opt("valid_to", Format::Date),
];

const HOUSEHOLD_REGISTRATION: &[FieldSpec] = &[
    req("number", Format::Text),
    req("full_name", Format::Text),
    req("date_of_birth", Format::Date),
    req("place_of_residence", Format::Text),
    req("household_head", Format::Text),
    req("relation_to_head", Format::Text),
    req("issue_date", Format::Date),
];

/// Results of administrative procedures and anything else an agency issues.
const OTHER: &[FieldSpec] = &[
    req("number", Format::Text),
    req("title", Format::Text),
    opt("procedure", Format::Text),
    req("issue_date", Format::Date),
    opt("summary", Format::Text),
];

/// The field set of a type.
pub fn fields_for(doc_type: DocumentType) -> &'static [FieldSpec] {
    match doc_type {
        DocumentType::Cccd => CCCD,
        DocumentType::Passport => PASSPORT,
        DocumentType::DrivingLicence => DRIVING_LICENCE,
        DocumentType::BirthCertificate => BIRTH_CERTIFICATE,
        DocumentType::HealthInsurance => HEALTH_INSURANCE,
        DocumentType::HouseholdRegistration => HOUSEHOLD_REGISTRATION,
        DocumentType::Other => OTHER,
    }
}

/// What is wrong with a set of fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldProblem {
    /// A required field is absent.
    Missing(&'static str),
    /// A field the type does not define.
    Unknown(String),
    /// A field's value has the wrong format.
    Format(&'static str),
}

impl FieldProblem {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing(_) => "field_missing",
            Self::Unknown(_) => "field_unknown",
            Self::Format(_) => "field_format",
        }
    }

    pub fn field(&self) -> String {
        match self {
            Self::Missing(name) | Self::Format(name) => (*name).to_owned(),
            Self::Unknown(name) => name.clone(),
        }
    }
}

fn valid(format: Format, value: &str) -> bool {
    match format {
        Format::Text => {
            let chars = value.chars().count();
            (1..=300).contains(&chars)
                && value.trim() == value
                && !value.chars().any(char::is_control)
        }
        Format::Date => parse_date(value).is_some(),
        Format::Digits(n) => value.len() == n && value.bytes().all(|b| b.is_ascii_digit()),
        Format::OneOf(options) => options.contains(&value),
        Format::Code => {
            (5..=20).contains(&value.len())
                && value
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        }
    }
}

/// Checks fields against the type's set: every required one present, none unknown, each well
/// formed. Reports the first problem in the set's order (unknown fields last).
pub fn validate(
    doc_type: DocumentType,
    fields: &BTreeMap<String, String>,
) -> Result<(), FieldProblem> {
    let specs = fields_for(doc_type);
    for spec in specs {
        match fields.get(spec.name) {
            None if spec.required => return Err(FieldProblem::Missing(spec.name)),
            None => {}
            Some(value) if !valid(spec.format, value) => {
                return Err(FieldProblem::Format(spec.name));
            }
            Some(_) => {}
        }
    }
    if let Some(unknown) = fields
        .keys()
        .find(|k| !specs.iter().any(|s| s.name == k.as_str()))
    {
        return Err(FieldProblem::Unknown(unknown.clone()));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cccd() -> BTreeMap<String, String> {
        [
            ("number", "001099000001"),
            ("full_name", "Nguyễn Văn Thử"),
            ("date_of_birth", "1990-01-15"),
            ("sex", "Nam"),
            ("nationality", "Việt Nam"),
            ("place_of_origin", "Hải Châu, Đà Nẵng"),
            ("place_of_residence", "12 Bạch Đằng, Hải Châu, Đà Nẵng"),
            ("issue_date", "2026-11-23"),
            ("expiry", "2041-01-15"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn a_complete_cccd_passes_and_optional_fields_may_be_left_out() {
        assert_eq!(validate(DocumentType::Cccd, &cccd()), Ok(()));
        let mut no_expiry = cccd();
        no_expiry.remove("expiry");
        assert_eq!(validate(DocumentType::Cccd, &no_expiry), Ok(()));
    }

    #[test]
    fn each_problem_is_named() {
        let mut missing = cccd();
        missing.remove("full_name");
        assert_eq!(
            validate(DocumentType::Cccd, &missing),
            Err(FieldProblem::Missing("full_name"))
        );
        let mut unknown = cccd();
        unknown.insert("blood_type".into(), "O".into());
        assert_eq!(
            validate(DocumentType::Cccd, &unknown),
            Err(FieldProblem::Unknown("blood_type".into()))
        );
        for (field, bad) in [
            ("number", "00109900000"),
            ("date_of_birth", "15/01/1990"),
            ("sex", "male"),
            ("full_name", " padded"),
            ("full_name", ""),
        ] {
            let mut wrong = cccd();
            wrong.insert(field.into(), bad.into());
            assert_eq!(
                validate(DocumentType::Cccd, &wrong).unwrap_err().code(),
                "field_format",
                "{field}={bad}"
            );
        }
    }

    #[test]
    fn every_type_has_a_required_number() {
        for t in DocumentType::ALL {
            let number = fields_for(t).iter().find(|s| s.name == "number").unwrap();
            assert!(number.required, "{t:?}");
        }
    }
}
