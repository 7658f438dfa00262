//! Identity fields parsed once at the edge into newtypes, so the rest of the code never sees an
//! unchecked string. Each parser returns a [`FieldProblem`] whose `code` the UI maps to a
//! translated message; the codes are stable API.

use std::fmt;

use chrono::{Datelike, Months, NaiveDate};

/// One input problem, tied to the form field it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldProblem {
    pub field: &'static str,
    /// Stable snake_case code, e.g. `national_id_length`.
    pub code: &'static str,
}

impl FieldProblem {
    pub const fn new(field: &'static str, code: &'static str) -> Self {
        Self { field, code }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.code)
    }
}

impl std::error::Error for FieldProblem {}

/// The last `n` characters of an ASCII string (all our masked values are ASCII digits).
fn ascii_tail(s: &str, n: usize) -> &str {
    s.get(s.len().saturating_sub(n)..).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------

/// The 63 province codes a CCCD may start with: Appendix 1 ("Danh mục mã tỉnh, thành phố trực
/// thuộc Trung ương nơi công dân đăng ký khai sinh") of Circular 07/2016/TT-BCA of 1 February 2016
/// of the Ministry of Public Security, in force for every card issued so far. A number keeps its
/// code for life, so the 2025 merger of provinces (Resolution 202/2025/QH15) does not invalidate
/// any of these; whether numbers issued after it use new codes we could not confirm, so only these
/// 63 are accepted (if new codes appear, add them here). Citizens whose birth was registered
/// abroad get a country code instead, which this list does not include yet.
pub const PROVINCE_CODES: [&str; 63] = [
    "001", // Hà Nội
    "002", // Hà Giang
    "004", // Cao Bằng
    "006", // Bắc Kạn
    "008", // Tuyên Quang
    "010", // Lào Cai
    "011", // Điện Biên
    "012", // Lai Châu
    "014", // Sơn La
    "015", // Yên Bái
    "017", // Hòa Bình
    "019", // Thái Nguyên
    "020", // Lạng Sơn
    "022", // Quảng Ninh
    "024", // Bắc Giang
    "025", // Phú Thọ
    "026", // Vĩnh Phúc
    "027", // Bắc Ninh
    "030", // Hải Dương
    "031", // Hải Phòng
    "033", // Hưng Yên
    "034", // Thái Bình
    "035", // Hà Nam
    "036", // Nam Định
    "037", // Ninh Bình
    "038", // Thanh Hóa
    "040", // Nghệ An
    "042", // Hà Tĩnh
    "044", // Quảng Bình
    "045", // Quảng Trị
    "046", // Thừa Thiên Huế
    "048", // Đà Nẵng
    "049", // Quảng Nam
    "051", // Quảng Ngãi
    "052", // Bình Định
    "054", // Phú Yên
    "056", // Khánh Hòa
    "058", // Ninh Thuận
    "060", // Bình Thuận
    "062", // Kon Tum
    "064", // Gia Lai
    "066", // Đắk Lắk
    "067", // Đắk Nông
    "068", // Lâm Đồng
    "070", // Bình Phước
    "072", // Tây Ninh
    "074", // Bình Dương
    "075", // Đồng Nai
    "077", // Bà Rịa - Vũng Tàu
    "079", // Hồ Chí Minh
    "080", // Long An
    "082", // Tiền Giang
    "083", // Bến Tre
    "084", // Trà Vinh
    "086", // Vĩnh Long
    "087", // Đồng Tháp
    "089", // An Giang
    "091", // Kiên Giang
    "092", // Cần Thơ
    "093", // Hậu Giang
    "094", // Sóc Trăng
    "095", // Bạc Liêu
    "096", // Cà Mau
];

/// A citizen identity card number (CCCD): 12 ASCII digits with the structure of Article 7 of
/// Circular 07/2016/TT-BCA: `PPP` the province where the birth was registered (one of
/// [`PROVINCE_CODES`]), `C` the century of birth and sex (0/1 → 1900s male/female, 2/3 → 2000s,
/// 4/5 → 2100s, …), `YY` the last two digits of the birth year, then six random digits.
/// [`parse`](Self::parse) checks what the number alone can tell (province);
/// [`matches_birth_date`](Self::matches_birth_date) checks century and year against a date of
/// birth. Sex is not collected at registration, so the parity of `C` is not checked.
///
/// It is the citizen's login and a sensitive identifier, so `Debug` shows only the last three
/// digits (it ends up in logs via `tracing` fields) and there is deliberately no `Display`:
/// callers choose between [`as_str`](Self::as_str) and [`masked`](Self::masked).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NationalId(String);

impl NationalId {
    pub const FIELD: &'static str = "national_id";

    /// Accepts the number as people type or paste it: surrounding and internal whitespace is
    /// dropped (cards print it in groups).
    pub fn parse(input: &str) -> Result<Self, FieldProblem> {
        let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.is_empty() {
            return Err(FieldProblem::new(Self::FIELD, "national_id_required"));
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldProblem::new(Self::FIELD, "national_id_digits"));
        }
        if digits.len() != 12 {
            return Err(FieldProblem::new(Self::FIELD, "national_id_length"));
        }
        if !PROVINCE_CODES.contains(&&digits[..3]) {
            return Err(FieldProblem::new(Self::FIELD, "national_id_province"));
        }
        Ok(Self(digits))
    }

    /// Only the shape (12 digits), for numbers already stored: an account registered before the
    /// structure was checked still gets its number masked on screen.
    pub fn parse_stored(input: &str) -> Result<Self, FieldProblem> {
        let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldProblem::new(Self::FIELD, "national_id_length"));
        }
        Ok(Self(digits))
    }

    /// The first year of the century the 4th digit names (1900 for 0 and 1, 2000 for 2 and 3…).
    fn century_start(&self) -> i32 {
        let digit = i32::from(self.0.as_bytes()[3] - b'0');
        1900 + 100 * (digit / 2)
    }

    /// The number's century digit and birth-year digits agree with `birth_date`.
    pub fn matches_birth_date(&self, birth_date: NaiveDate) -> Result<(), FieldProblem> {
        let year = birth_date.year();
        let start = self.century_start();
        if !(start..start + 100).contains(&year) {
            return Err(FieldProblem::new(Self::FIELD, "national_id_birth_century"));
        }
        let yy =
            i32::from(self.0.as_bytes()[4] - b'0') * 10 + i32::from(self.0.as_bytes()[5] - b'0');
        if year - start != yy {
            return Err(FieldProblem::new(Self::FIELD, "national_id_birth_year"));
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For display to staff and in TOTP labels: `*********123`.
    pub fn masked(&self) -> String {
        let tail = ascii_tail(&self.0, 3);
        format!("{}{tail}", "*".repeat(self.0.len() - tail.len()))
    }
}

impl fmt::Debug for NationalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NationalId(***{})", ascii_tail(&self.0, 3))
    }
}

// ---------------------------------------------------------------------------------------------

/// A Vietnamese mobile number, stored in the domestic form `0xxxxxxxxx`.
///
/// Normalising `+84`/`84` to `0` means one subscriber has one spelling, so uniqueness checks
/// and look-ups work. `Debug` masks it like [`NationalId`] since it is personal data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub const FIELD: &'static str = "phone";

    /// Mobile prefixes after the leading 0 (Viettel, Mobifone, Vinaphone, Vietnamobile, …).
    const MOBILE_PREFIXES: [u8; 5] = [b'3', b'5', b'7', b'8', b'9'];

    /// Spaces, dots and dashes are ignored: people write `091.234.5678` or `091-234-5678`.
    pub fn parse(input: &str) -> Result<Self, FieldProblem> {
        let compact: String = input
            .chars()
            .filter(|c| !(c.is_whitespace() || *c == '.' || *c == '-'))
            .collect();
        if compact.is_empty() {
            return Err(FieldProblem::new(Self::FIELD, "phone_required"));
        }
        let format = || FieldProblem::new(Self::FIELD, "phone_format");
        let national = if let Some(rest) = compact.strip_prefix("+84") {
            format!("0{rest}")
        } else if let Some(rest) = compact.strip_prefix("84").filter(|r| r.len() == 9) {
            format!("0{rest}")
        } else {
            compact
        };
        let bytes = national.as_bytes();
        let ok = bytes.len() == 10
            && bytes.iter().all(u8::is_ascii_digit)
            && bytes[0] == b'0'
            && Self::MOBILE_PREFIXES.contains(&bytes[1]);
        if !ok {
            return Err(format());
        }
        Ok(Self(national))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber(***{})", ascii_tail(&self.0, 3))
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------------------------

/// A person's full name as written on their papers, e.g. `Nguyễn Thị Minh Khai`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FullName(String);

impl FullName {
    pub const FIELD: &'static str = "full_name";
    pub const MIN_CHARS: usize = 2;
    pub const MAX_CHARS: usize = 100;

    /// Trims and collapses inner whitespace. Letters of any script are allowed, plus combining
    /// marks after a letter (so decomposed, non-NFC Vietnamese from some keyboards passes),
    /// spaces, `'`, `-` and `.`. The typographic apostrophe `’` (phones insert it) becomes `'`.
    /// At least one letter is required so a name cannot be punctuation only.
    pub fn parse(input: &str) -> Result<Self, FieldProblem> {
        let name = input
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace('\u{2019}', "'");
        if name.is_empty() {
            return Err(FieldProblem::new(Self::FIELD, "full_name_required"));
        }
        let len = name.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&len) {
            return Err(FieldProblem::new(Self::FIELD, "full_name_length"));
        }
        let mut previous_is_letter = false;
        let mut has_letter = false;
        for c in name.chars() {
            let ok = if c.is_alphabetic() {
                has_letter = true;
                previous_is_letter = true;
                true
            } else if is_combining_mark(c) {
                previous_is_letter
            } else {
                previous_is_letter = false;
                matches!(c, ' ' | '\'' | '-' | '.')
            };
            if !ok {
                return Err(FieldProblem::new(Self::FIELD, "full_name_characters"));
            }
        }
        if !has_letter {
            return Err(FieldProblem::new(Self::FIELD, "full_name_characters"));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Combining Diacritical Marks block: covers every Vietnamese tone and vowel mark in NFD.
fn is_combining_mark(c: char) -> bool {
    ('\u{0300}'..='\u{036F}').contains(&c)
}

// ---------------------------------------------------------------------------------------------

/// An e-mail address, checked only for shape (delivery is what proves it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const FIELD: &'static str = "email";
    pub const MAX_LEN: usize = 254;

    /// One `@`, a non-empty local part, a dotted domain without empty labels, no whitespace or
    /// control characters, at most 254 bytes. The domain is lowercased (it is case-insensitive);
    /// the local part is kept as typed (it need not be).
    pub fn parse(input: &str) -> Result<Self, FieldProblem> {
        let problem = FieldProblem::new(Self::FIELD, "email_format");
        let s = input.trim();
        if s.is_empty()
            || s.len() > Self::MAX_LEN
            || s.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(problem);
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(problem);
        };
        if local.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.split('.').any(str::is_empty)
        {
            return Err(problem);
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    /// The field is optional: blank input means "no e-mail", anything else must be valid.
    pub fn parse_optional(input: &str) -> Result<Option<Self>, FieldProblem> {
        if input.trim().is_empty() {
            Ok(None)
        } else {
            Self::parse(input).map(Some)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------------------------

/// A date of birth, plausible relative to `today`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BirthDate(NaiveDate);

impl BirthDate {
    pub const FIELD: &'static str = "birth_date";
    pub const MAX_AGE_YEARS: u32 = 130;

    /// Parses exactly `YYYY-MM-DD`, what `<input type=date>` submits whatever the locale shows.
    /// `today` is a parameter (from the clock, in Vietnam's time zone) so tests can pin it.
    pub fn parse(input: &str, today: NaiveDate) -> Result<Self, FieldProblem> {
        let s = input.trim();
        if s.is_empty() {
            return Err(FieldProblem::new(Self::FIELD, "birth_date_required"));
        }
        let date =
            parse_iso_date(s).ok_or_else(|| FieldProblem::new(Self::FIELD, "birth_date_format"))?;
        let earliest = today
            .checked_sub_months(Months::new(Self::MAX_AGE_YEARS * 12))
            .unwrap_or(NaiveDate::MIN);
        if date > today || date < earliest {
            return Err(FieldProblem::new(Self::FIELD, "birth_date_range"));
        }
        Ok(Self(date))
    }

    pub fn date(&self) -> NaiveDate {
        self.0
    }
}

impl fmt::Display for BirthDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(f, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
    }
}

/// Strict `YYYY-MM-DD`: chrono's `%Y-%m-%d` would also take `2000-1-5` or a sign.
fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    let year = s.get(0..4)?.parse().ok()?;
    let month = s.get(5..7)?.parse().ok()?;
    let day = s.get(8..10)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

// ---------------------------------------------------------------------------------------------

/// A staff or operator username.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoginName(String);

impl LoginName {
    pub const FIELD: &'static str = "login";
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 32;

    /// Trimmed and ASCII-lowercased first, so `NVAn` and `nvan` are one account. Allowed:
    /// `a-z 0-9 . _ -`, 3..=32 long, and not all digits, so a login can never be mistaken for
    /// a CCCD on the shared sign-in form.
    pub fn parse(input: &str) -> Result<Self, FieldProblem> {
        let s = input.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err(FieldProblem::new(Self::FIELD, "login_required"));
        }
        let ok = (Self::MIN_LEN..=Self::MAX_LEN).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && !s.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return Err(FieldProblem::new(Self::FIELD, "login_format"));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LoginName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------------------------

/// The short code of an agency (e.g. `UBND-HAICHAU`), used in URLs and audit records.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AgencyCode(String);

impl AgencyCode {
    pub const FIELD: &'static str = "code";
    pub const MIN_LEN: usize = 2;
    pub const MAX_LEN: usize = 32;

    /// Trimmed and ASCII-uppercased first (operators type codes in any case); then `A-Z 0-9 -`,
    /// 2..=32 long.
    pub fn parse(input: &str) -> Result<Self, FieldProblem> {
        let s = input.trim().to_ascii_uppercase();
        let ok = (Self::MIN_LEN..=Self::MAX_LEN).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(FieldProblem::new(Self::FIELD, "agency_code_format"));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn code<T: fmt::Debug>(r: Result<T, FieldProblem>) -> &'static str {
        r.unwrap_err().code
    }

    // --- NationalId

    #[test]
    fn national_id_accepts_twelve_digits_with_spaces() {
        let id = NationalId::parse("  001 099 012 345 ").unwrap();
        assert_eq!(id.as_str(), "001099012345");
    }

    #[test]
    fn national_id_required() {
        assert_eq!(code(NationalId::parse("   ")), "national_id_required");
        let p = NationalId::parse("").unwrap_err();
        assert_eq!(p.field, "national_id");
    }

    #[test]
    fn national_id_rejects_non_digits() {
        assert_eq!(
            code(NationalId::parse("00109901234a")),
            "national_id_digits"
        );
        assert_eq!(
            code(NationalId::parse("001-099-012-345")),
            "national_id_digits"
        );
        // Non-ASCII digits (Arabic-Indic) are not CCCD digits.
        assert_eq!(
            code(NationalId::parse("٠٠١٠٩٩٠١٢٣٤٥")),
            "national_id_digits"
        );
    }

    #[test]
    fn national_id_rejects_wrong_length() {
        assert_eq!(code(NationalId::parse("00109901234")), "national_id_length");
        assert_eq!(
            code(NationalId::parse("0010990123456")),
            "national_id_length"
        );
    }

    #[test]
    fn national_id_needs_a_real_province_code() {
        for bad in [
            "000000000000",
            "003099012345",
            "097099012345",
            "999099012345",
            "480123456789",
        ] {
            assert_eq!(
                code(NationalId::parse(bad)),
                "national_id_province",
                "{bad}"
            );
        }
        let mut codes = PROVINCE_CODES.to_vec();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 63);
        for province in PROVINCE_CODES {
            assert!(NationalId::parse(&format!("{province}090001234")).is_ok());
        }
        // Stored numbers are only checked for shape.
        assert!(NationalId::parse_stored("000000000000").is_ok());
    }

    #[test]
    fn national_id_century_and_year_must_match_the_birth_date() {
        let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        for (id, birth) in [
            ("079090001234", "1990-05-17"), // male, 1900s
            ("079190001234", "1990-05-17"), // female, 1900s
            ("001200000001", "2000-01-01"), // male, 2000s
            ("001312000001", "2012-12-31"), // female, 2000s
            ("001099000001", "1999-01-15"),
        ] {
            assert_eq!(
                NationalId::parse(id)
                    .unwrap()
                    .matches_birth_date(date(birth)),
                Ok(()),
                "{id}"
            );
        }
        for (id, birth, problem) in [
            ("079290001234", "1990-05-17", "national_id_birth_century"),
            ("079390001234", "1990-05-17", "national_id_birth_century"),
            ("079090001234", "2090-05-17", "national_id_birth_century"),
            ("079490001234", "1990-05-17", "national_id_birth_century"),
            ("079091001234", "1990-05-17", "national_id_birth_year"),
            ("001099000001", "1990-01-15", "national_id_birth_year"),
            ("001200000001", "2001-01-01", "national_id_birth_year"),
        ] {
            let got = NationalId::parse(id)
                .unwrap()
                .matches_birth_date(date(birth));
            assert_eq!(got.unwrap_err().code, problem, "{id} {birth}");
        }
    }

    #[test]
    fn national_id_debug_and_masked_hide_the_number() {
        let id = NationalId::parse("001099012345").unwrap();
        let debug = format!("{id:?}");
        assert_eq!(debug, "NationalId(***345)");
        assert!(!debug.contains("001099"));
        assert_eq!(id.masked(), "*********345");
    }

    // --- PhoneNumber

    #[test]
    fn phone_accepts_domestic_form_with_separators() {
        assert_eq!(
            PhoneNumber::parse("0912345678").unwrap().as_str(),
            "0912345678"
        );
        assert_eq!(
            PhoneNumber::parse("091.234.5678").unwrap().as_str(),
            "0912345678"
        );
        assert_eq!(
            PhoneNumber::parse(" 091-234 5678 ").unwrap().as_str(),
            "0912345678"
        );
    }

    #[test]
    fn phone_normalises_international_forms() {
        assert_eq!(
            PhoneNumber::parse("+84912345678").unwrap().as_str(),
            "0912345678"
        );
        assert_eq!(
            PhoneNumber::parse("+84 38 123 4567").unwrap().as_str(),
            "0381234567"
        );
        assert_eq!(
            PhoneNumber::parse("84912345678").unwrap().as_str(),
            "0912345678"
        );
    }

    #[test]
    fn phone_accepts_every_mobile_prefix_only() {
        for p in ['3', '5', '7', '8', '9'] {
            assert!(
                PhoneNumber::parse(&format!("0{p}12345678")).is_ok(),
                "prefix 0{p}"
            );
        }
        for p in ['0', '1', '2', '4', '6'] {
            assert_eq!(
                code(PhoneNumber::parse(&format!("0{p}12345678"))),
                "phone_format"
            );
        }
    }

    #[test]
    fn phone_required_and_format() {
        assert_eq!(code(PhoneNumber::parse(" - . ")), "phone_required");
        assert_eq!(PhoneNumber::parse("").unwrap_err().field, "phone");
        assert_eq!(code(PhoneNumber::parse("091234567")), "phone_format"); // 9 digits
        assert_eq!(code(PhoneNumber::parse("09123456789")), "phone_format"); // 11 digits
        assert_eq!(code(PhoneNumber::parse("+8491234567")), "phone_format"); // short
        assert_eq!(code(PhoneNumber::parse("+1 912345678")), "phone_format");
        assert_eq!(code(PhoneNumber::parse("09123a5678")), "phone_format");
        assert_eq!(code(PhoneNumber::parse("1912345678")), "phone_format");
        // Landline (02x) is not a mobile number.
        assert_eq!(code(PhoneNumber::parse("02438253456")), "phone_format");
    }

    #[test]
    fn phone_parse_is_idempotent_and_debug_masks() {
        let p = PhoneNumber::parse("+84 912 345 678").unwrap();
        assert_eq!(PhoneNumber::parse(p.as_str()).unwrap(), p);
        assert_eq!(format!("{p:?}"), "PhoneNumber(***678)");
    }

    // --- FullName

    #[test]
    fn full_name_trims_and_collapses_whitespace() {
        let n = FullName::parse("  Nguyễn   Thị\tMinh  Khai ").unwrap();
        assert_eq!(n.as_str(), "Nguyễn Thị Minh Khai");
    }

    #[test]
    fn full_name_accepts_vietnamese_and_punctuation() {
        assert!(FullName::parse("Đặng Văn Lâm").is_ok());
        assert!(FullName::parse("Trần Lê-Hoàng").is_ok());
        assert!(FullName::parse("O'Neil J. Smith").is_ok());
        assert!(FullName::parse("H'Hen Niê").is_ok());
    }

    #[test]
    fn full_name_accepts_decomposed_diacritics() {
        // "Nguyễn" in NFD: e + circumflex (U+0302) + tilde (U+0303).
        let nfd = "Nguye\u{0302}\u{0303}n Va\u{0306}n";
        assert_eq!(FullName::parse(nfd).unwrap().as_str(), nfd);
    }

    #[test]
    fn full_name_normalises_typographic_apostrophe() {
        assert_eq!(FullName::parse("H’Hen Niê").unwrap().as_str(), "H'Hen Niê");
    }

    #[test]
    fn full_name_required() {
        assert_eq!(code(FullName::parse(" \t ")), "full_name_required");
        assert_eq!(FullName::parse("").unwrap_err().field, "full_name");
    }

    #[test]
    fn full_name_length_bounds() {
        assert_eq!(code(FullName::parse("A")), "full_name_length");
        assert!(FullName::parse("Lê").is_ok());
        // 100 chars of 'ễ' (multi-byte): counted in characters, not bytes.
        assert!(FullName::parse(&"ễ".repeat(100)).is_ok());
        assert_eq!(code(FullName::parse(&"a".repeat(101))), "full_name_length");
    }

    #[test]
    fn full_name_rejects_other_characters() {
        assert_eq!(
            code(FullName::parse("Nguyen Van 3")),
            "full_name_characters"
        );
        assert_eq!(code(FullName::parse("Nguyen_Van")), "full_name_characters");
        assert_eq!(code(FullName::parse("<script>")), "full_name_characters");
        assert_eq!(code(FullName::parse("Anh 😀")), "full_name_characters");
        assert_eq!(code(FullName::parse("--")), "full_name_characters");
        // A combining mark with no letter to sit on.
        assert_eq!(code(FullName::parse("\u{0301}An")), "full_name_characters");
    }

    // --- Email

    #[test]
    fn email_lowercases_domain_only() {
        let e = Email::parse("  Minh.Khai@Example.VN ").unwrap();
        assert_eq!(e.as_str(), "Minh.Khai@example.vn");
    }

    #[test]
    fn email_rejects_bad_shapes() {
        for bad in [
            "no-at.example.vn",
            "two@@example.vn",
            "a@b@example.vn",
            "@example.vn",
            "user@localhost",
            "user@.example.vn",
            "user@example.",
            "user@exa..mple.vn",
            "us er@example.vn",
            "user@exa\u{0}mple.vn",
        ] {
            let p = Email::parse(bad).unwrap_err();
            assert_eq!((p.field, p.code), ("email", "email_format"), "{bad}");
        }
    }

    #[test]
    fn email_length_limit() {
        let ok = format!("{}@example.vn", "a".repeat(254 - 11));
        assert_eq!(ok.len(), 254);
        assert!(Email::parse(&ok).is_ok());
        let too_long = format!("a{ok}");
        assert_eq!(code(Email::parse(&too_long)), "email_format");
    }

    #[test]
    fn email_optional_blank_is_none() {
        assert_eq!(Email::parse_optional("   ").unwrap(), None);
        assert!(Email::parse_optional("a@b.vn").unwrap().is_some());
        assert_eq!(code(Email::parse_optional("nope")), "email_format");
        assert_eq!(code(Email::parse("")), "email_format");
    }

    // --- BirthDate

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 15).unwrap()
    }

    #[test]
    fn birth_date_parses_iso_date() {
        let d = BirthDate::parse(" 1990-02-28 ", today()).unwrap();
        assert_eq!(d.date(), NaiveDate::from_ymd_opt(1990, 2, 28).unwrap());
        assert_eq!(d.to_string(), "1990-02-28");
    }

    #[test]
    fn birth_date_required() {
        assert_eq!(code(BirthDate::parse("  ", today())), "birth_date_required");
        assert_eq!(
            BirthDate::parse("", today()).unwrap_err().field,
            "birth_date"
        );
    }

    #[test]
    fn birth_date_rejects_other_formats_and_impossible_dates() {
        for bad in [
            "15/06/1990",
            "1990-6-15",
            "1990-06-5",
            "+1990-06-15",
            "19900615",
            "1990-02-30",
            "1990-13-01",
            "1990-00-10",
            "abcd-ef-gh",
        ] {
            assert_eq!(
                code(BirthDate::parse(bad, today())),
                "birth_date_format",
                "{bad}"
            );
        }
    }

    #[test]
    fn birth_date_range_future_and_too_old() {
        assert!(BirthDate::parse("2025-06-15", today()).is_ok()); // born today
        assert_eq!(
            code(BirthDate::parse("2025-06-16", today())),
            "birth_date_range"
        );
        assert!(BirthDate::parse("1895-06-15", today()).is_ok()); // exactly 130 years
        assert_eq!(
            code(BirthDate::parse("1895-06-14", today())),
            "birth_date_range"
        );
    }

    #[test]
    fn birth_date_range_on_leap_day_today() {
        let leap = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert!(BirthDate::parse("1894-02-28", leap).is_ok());
        assert_eq!(
            code(BirthDate::parse("1894-02-27", leap)),
            "birth_date_range"
        );
    }

    // --- LoginName

    #[test]
    fn login_accepts_and_lowercases() {
        assert_eq!(
            LoginName::parse(" NV.An_01-x ").unwrap().as_str(),
            "nv.an_01-x"
        );
        assert!(LoginName::parse("abc").is_ok());
        assert!(LoginName::parse(&"a".repeat(32)).is_ok());
        assert!(LoginName::parse("2024admin").is_ok());
    }

    #[test]
    fn login_required() {
        assert_eq!(code(LoginName::parse("  ")), "login_required");
        assert_eq!(LoginName::parse("").unwrap_err().field, "login");
    }

    #[test]
    fn login_format_rules() {
        assert_eq!(code(LoginName::parse("ab")), "login_format");
        assert_eq!(code(LoginName::parse(&"a".repeat(33))), "login_format");
        assert_eq!(code(LoginName::parse("nv an")), "login_format");
        assert_eq!(code(LoginName::parse("nv@an")), "login_format");
        assert_eq!(code(LoginName::parse("nguyễn")), "login_format");
        // All digits: could be a CCCD.
        assert_eq!(code(LoginName::parse("001099012345")), "login_format");
        assert_eq!(code(LoginName::parse("123")), "login_format");
    }

    // --- AgencyCode

    #[test]
    fn agency_code_accepts_and_uppercases() {
        assert_eq!(
            AgencyCode::parse("UBND-HAICHAU").unwrap().as_str(),
            "UBND-HAICHAU"
        );
        assert_eq!(AgencyCode::parse(" ubnd-q1 ").unwrap().as_str(), "UBND-Q1");
        assert!(AgencyCode::parse("CA").is_ok());
        assert!(AgencyCode::parse(&"A".repeat(32)).is_ok());
    }

    #[test]
    fn agency_code_format_rules() {
        for bad in ["", "A", "UBND HAICHAU", "UBND_HAICHAU", "ỦY-BAN", "UBND.HC"] {
            let p = AgencyCode::parse(bad).unwrap_err();
            assert_eq!((p.field, p.code), ("code", "agency_code_format"), "{bad}");
        }
        assert_eq!(
            code(AgencyCode::parse(&"A".repeat(33))),
            "agency_code_format"
        );
    }

    #[test]
    fn field_problem_display() {
        assert_eq!(
            FieldProblem::new("phone", "phone_format").to_string(),
            "phone: phone_format"
        );
    }
}
