//! Time-based one-time passwords (RFC 6238) as the second factor.
//!
//! Fixed to SHA-1, 6 digits, 30 s steps: the only combination every authenticator app honours
//! (several silently ignore other settings and then never match). HMAC and truncation come
//! from `totp-rs`; the window, replay rule and enrolment artefacts (otpauth URI, QR SVG) are
//! ours so they can be tested against a given `now`.

use std::fmt;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use qrcode::{Color, EcLevel, QrCode};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub const DIGITS: usize = 6;
pub const STEP_SECONDS: i64 = 30;
/// Steps accepted either side of the current one, for clock drift and typing time.
pub const SKEW_STEPS: i64 = 1;

/// RFC 4226 recommends 160 bits.
const SECRET_LEN: usize = 20;
/// RFC 4226 requires at least 128 bits; more than 64 bytes is not a secret we made.
const SECRET_LEN_RANGE: std::ops::RangeInclusive<usize> = 16..=64;

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("random source failed: {0}")]
    Random(getrandom::Error),
    #[error("TOTP secret must be 16 to 64 bytes, got {0}")]
    SecretLength(usize),
    #[error("data too long for a QR code")]
    QrTooLong,
}

/// The shared HMAC key. Wiped from memory on drop; `Debug` never shows it.
#[derive(Clone)]
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl TotpSecret {
    /// 20 bytes from the OS random source.
    pub fn generate() -> Result<Self, TotpError> {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_LEN]);
        getrandom::fill(&mut bytes).map_err(TotpError::Random)?;
        Ok(Self(bytes))
    }

    /// A stored secret (after decryption). Rejects lengths outside 16..=64 bytes so a
    /// truncated or corrupt value fails loudly instead of producing weak codes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, TotpError> {
        let bytes = Zeroizing::new(bytes);
        if !SECRET_LEN_RANGE.contains(&bytes.len()) {
            return Err(TotpError::SecretLength(bytes.len()));
        }
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Unpadded RFC 4648 base32, the `secret=` value of an otpauth URI. This *is* the secret:
    /// show it only on the enrolment page.
    pub fn to_base32(&self) -> String {
        totp_rs::Secret::from(self.as_bytes()).to_base32()
    }

    /// Base32 in groups of four (`JBSW Y3DP …`) for people typing it into an app by hand;
    /// apps ignore the spaces.
    pub fn display_groups(&self) -> String {
        let b32 = self.to_base32();
        let groups: Vec<&str> = b32
            .as_bytes()
            .chunks(4)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        groups.join(" ")
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(***)")
    }
}

/// Percent-encodes everything except RFC 3986 unreserved characters, byte-wise over UTF-8
/// (so `Công dân số` survives and `:`, `&`, `?`, `#` cannot break the URI's structure).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The Key URI that authenticator apps import, e.g.
/// `otpauth://totp/C%C3%B4ng%20d%C3%A2n%20s%E1%BB%91:%2A%2A%2A345?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
///
/// `account_label` is shown in the app and travels through the phone's backups, so it must
/// not be the full national ID: pass [`NationalId::masked`](super::model::NationalId::masked)
/// or a login name.
pub fn otpauth_uri(secret: &TotpSecret, issuer: &str, account_label: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{label}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        label = percent_encode(account_label),
        secret = secret.to_base32(),
    )
}

/// Minimum quiet zone around a QR code (ISO/IEC 18004), in modules.
const QUIET_ZONE: usize = 4;

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A QR code as an inline `<svg>` for the enrolment page.
///
/// Drawn here from the module matrix (rather than by qrcode's renderer) to control the markup:
/// no XML prolog (invalid inside HTML), no fixed width/height (only a `viewBox` in module units,
/// so CSS sets the size and it stays crisp), `role="img"` with `<title>`/`aria-label` for screen
/// readers, black on white with a 4-module quiet zone so every scanner reads it in dark mode
/// too. Error correction M leaves headroom for a glossy screen.
pub fn qr_svg(data: &str, title: &str) -> Result<String, TotpError> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)
        .map_err(|_| TotpError::QrTooLong)?;
    let width = code.width();
    let size = width + 2 * QUIET_ZONE;
    let title = xml_escape(title);
    let mut path = String::new();
    for (y, row) in code.to_colors().chunks(width).enumerate() {
        // One horizontal run per stretch of dark modules keeps the path short.
        let mut x = 0;
        while x < row.len() {
            if row[x] == Color::Dark {
                let start = x;
                while x < row.len() && row[x] == Color::Dark {
                    x += 1;
                }
                let _ = write!(
                    path,
                    "M{} {}h{}v1h-{}z",
                    start + QUIET_ZONE,
                    y + QUIET_ZONE,
                    x - start,
                    x - start
                );
            } else {
                x += 1;
            }
        }
    }
    Ok(format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" "#,
            r#"role="img" aria-label="{title}" shape-rendering="crispEdges">"#,
            r#"<title>{title}</title>"#,
            r##"<rect width="{size}" height="{size}" fill="#fff"/>"##,
            r##"<path fill="#000" d="{path}"/></svg>"##
        ),
        size = size,
        title = title,
        path = path
    ))
}

/// The 6-digit code for one 30-second step (`unix_seconds / 30`). Steps before 1970 never
/// occur and are clamped to step 0.
pub fn code_at(secret: &TotpSecret, step: i64) -> String {
    let counter = u64::try_from(step).unwrap_or(0);
    let totp = totp_rs::Builder::new()
        .with_secret(secret.as_bytes())
        // Length was checked when the `TotpSecret` was made; digits, SHA-1 and 30 s are the
        // builder's defaults, which the tests pin against RFC 6238.
        .build_noncompliant();
    // totp-rs works in seconds and divides by its 30 s step again.
    let time = counter.saturating_mul(totp.step());
    totp.generate(time).to_string()
}

/// Why a submitted code was refused. The UI shows the same message for `Wrong` and `Replayed`;
/// the distinction is for logs and the throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpRejection {
    /// Not 6 digits after removing spaces.
    #[error("code is not 6 digits")]
    Malformed,
    /// No step in the window produces this code.
    #[error("code is wrong")]
    Wrong,
    /// The code is right but its step was already used (RFC 6238 §5.2: one use per step).
    #[error("code was already used")]
    Replayed,
}

impl TotpRejection {
    /// Stable code for the UI's message.
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "totp_malformed",
            Self::Wrong => "totp_wrong",
            Self::Replayed => "totp_replayed",
        }
    }
}

/// Checks `input` against the steps around `now` (±[`SKEW_STEPS`]). On success returns the
/// matched step, which the caller must store as the new `last_accepted_step`; any step at or
/// before it is refused from then on, so a shoulder-surfed or phished code works once at most.
///
/// All candidate steps are computed and compared in constant time whatever matches, so timing
/// reveals neither the code nor which step it belonged to.
pub fn verify(
    secret: &TotpSecret,
    input: &str,
    now: DateTime<Utc>,
    last_accepted_step: Option<i64>,
) -> Result<i64, TotpRejection> {
    let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpRejection::Malformed);
    }
    let current = now.timestamp().div_euclid(STEP_SECONDS);
    let mut fresh_match: Option<i64> = None;
    let mut replayed_match = false;
    for step in (current - SKEW_STEPS)..=(current + SKEW_STEPS) {
        if step < 0 {
            continue;
        }
        let matched: bool = code_at(secret, step)
            .as_bytes()
            .ct_eq(digits.as_bytes())
            .into();
        if matched {
            if last_accepted_step.is_some_and(|last| step <= last) {
                replayed_match = true;
            } else {
                fresh_match = Some(step);
            }
        }
    }
    match (fresh_match, replayed_match) {
        (Some(step), _) => Ok(step),
        (None, true) => Err(TotpRejection::Replayed),
        (None, false) => Err(TotpRejection::Wrong),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 seed.
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap()
    }

    fn at(unix: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(unix, 0).unwrap()
    }

    fn step_of(unix: i64) -> i64 {
        unix / STEP_SECONDS
    }

    /// Appendix B SHA-1 vectors; the 6-digit code is the last 6 of the 8-digit one.
    const RFC_VECTORS: [(i64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    #[test]
    fn code_at_matches_rfc6238_vectors() {
        let secret = rfc_secret();
        for (t, eight) in RFC_VECTORS {
            assert_eq!(code_at(&secret, step_of(t)), eight[2..], "T={t}");
        }
    }

    #[test]
    fn verify_accepts_current_code_and_returns_step() {
        let secret = rfc_secret();
        for (t, eight) in RFC_VECTORS {
            assert_eq!(
                verify(&secret, &eight[2..], at(t), None),
                Ok(step_of(t)),
                "T={t}"
            );
        }
    }

    #[test]
    fn verify_ignores_spaces() {
        assert_eq!(verify(&rfc_secret(), " 287 082 ", at(59), None), Ok(1));
    }

    #[test]
    fn verify_accepts_one_step_either_side_only() {
        let secret = rfc_secret();
        let step = 40_000_000;
        let code = code_at(&secret, step);
        let t = step * STEP_SECONDS + 10;
        assert_eq!(verify(&secret, &code, at(t), None), Ok(step));
        assert_eq!(verify(&secret, &code, at(t - STEP_SECONDS), None), Ok(step));
        assert_eq!(verify(&secret, &code, at(t + STEP_SECONDS), None), Ok(step));
        assert_eq!(
            verify(&secret, &code, at(t - 2 * STEP_SECONDS), None),
            Err(TotpRejection::Wrong)
        );
        assert_eq!(
            verify(&secret, &code, at(t + 2 * STEP_SECONDS), None),
            Err(TotpRejection::Wrong)
        );
    }

    #[test]
    fn verify_refuses_replay_of_same_or_older_step() {
        let secret = rfc_secret();
        let now = at(1_234_567_890);
        let current = step_of(1_234_567_890);
        let code = code_at(&secret, current);
        let accepted = verify(&secret, &code, now, None).unwrap();
        assert_eq!(
            verify(&secret, &code, now, Some(accepted)),
            Err(TotpRejection::Replayed)
        );
        // The previous step's code is still in the window but older than the accepted one.
        let previous = code_at(&secret, current - 1);
        assert_eq!(
            verify(&secret, &previous, now, Some(accepted)),
            Err(TotpRejection::Replayed)
        );
        // The next step's code is newer, so it is fine.
        let next = code_at(&secret, current + 1);
        assert_eq!(verify(&secret, &next, now, Some(accepted)), Ok(current + 1));
    }

    #[test]
    fn verify_rejects_wrong_code() {
        let secret = rfc_secret();
        // The right code at T=59 is 287082.
        assert_eq!(
            verify(&secret, "287083", at(59), None),
            Err(TotpRejection::Wrong)
        );
        let other = TotpSecret::from_bytes(vec![9u8; 20]).unwrap();
        assert_eq!(
            verify(&other, "287082", at(59), None),
            Err(TotpRejection::Wrong)
        );
    }

    #[test]
    fn verify_rejects_malformed_input() {
        let secret = rfc_secret();
        for bad in [
            "",
            "28708",
            "2870822",
            "28708a",
            "+28708",
            "２８７０８２",
            "94287082",
        ] {
            assert_eq!(
                verify(&secret, bad, at(59), None),
                Err(TotpRejection::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejection_codes_are_stable() {
        assert_eq!(TotpRejection::Malformed.code(), "totp_malformed");
        assert_eq!(TotpRejection::Wrong.code(), "totp_wrong");
        assert_eq!(TotpRejection::Replayed.code(), "totp_replayed");
    }

    #[test]
    fn generated_secret_is_20_random_bytes() {
        let a = TotpSecret::generate().unwrap();
        let b = TotpSecret::generate().unwrap();
        assert_eq!(a.as_bytes().len(), 20);
        assert_ne!(a.as_bytes(), b.as_bytes());
    }

    #[test]
    fn from_bytes_checks_length() {
        assert!(matches!(
            TotpSecret::from_bytes(vec![1; 15]),
            Err(TotpError::SecretLength(15))
        ));
        assert!(TotpSecret::from_bytes(vec![1; 16]).is_ok());
        assert!(TotpSecret::from_bytes(vec![1; 64]).is_ok());
        assert!(TotpSecret::from_bytes(vec![1; 65]).is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        assert_eq!(format!("{:?}", rfc_secret()), "TotpSecret(***)");
    }

    #[test]
    fn base32_is_unpadded_rfc4648_and_grouped() {
        let s = rfc_secret();
        assert_eq!(s.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            s.display_groups(),
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"
        );
        // 16 bytes → 26 chars, no '=' padding; the last group is short.
        let short = TotpSecret::from_bytes(vec![0; 16]).unwrap();
        assert_eq!(short.to_base32(), "A".repeat(26));
        assert!(short.display_groups().ends_with(" AA"));
    }

    #[test]
    fn otpauth_uri_is_percent_encoded() {
        let uri = otpauth_uri(&rfc_secret(), "Công dân số", "*********345");
        assert_eq!(
            uri,
            "otpauth://totp/C%C3%B4ng%20d%C3%A2n%20s%E1%BB%91:%2A%2A%2A%2A%2A%2A%2A%2A%2A345\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=C%C3%B4ng%20d%C3%A2n%20s%E1%BB%91\
             &algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn otpauth_uri_escapes_structural_characters() {
        let uri = otpauth_uri(&rfc_secret(), "A:B&c=d", "x?y#z/ w");
        assert!(uri.starts_with("otpauth://totp/A%3AB%26c%3Dd:x%3Fy%23z%2F%20w?secret="));
        assert!(uri.contains("&issuer=A%3AB%26c%3Dd&"));
        assert_eq!(
            uri.matches(':').count(),
            2,
            "scheme and label separator only"
        );
    }

    #[test]
    fn qr_svg_is_accessible_scalable_markup() {
        let svg = qr_svg(
            "otpauth://totp/X:y?secret=AAAA",
            "Mã QR <2FA> & \"bảo mật\"",
        )
        .unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains("<title>Mã QR &lt;2FA&gt; &amp; &quot;bảo mật&quot;</title>"));
        assert!(svg.contains(r##"fill="#fff""##) && svg.contains(r##"fill="#000""##));
        assert!(!svg.contains("<?xml"));
        let open_tag = &svg[..svg.find('>').unwrap()];
        assert!(!open_tag.contains(" width=") && !open_tag.contains(" height="));
    }

    #[test]
    fn qr_svg_has_quiet_zone_and_matches_the_code() {
        let data = "otpauth://totp/X:y?secret=AAAA";
        let code = QrCode::with_error_correction_level(data, EcLevel::M).unwrap();
        let w = code.width();
        let svg = qr_svg(data, "t").unwrap();
        let size = w + 8;
        assert!(svg.contains(&format!("viewBox=\"0 0 {size} {size}\"")));
        // The top-left finder pattern starts right after the 4-module quiet zone, 7 wide.
        assert!(svg.contains("d=\"M4 4h7v1h-7z"));
        // Dark area drawn equals the number of dark modules.
        let dark = code
            .to_colors()
            .iter()
            .filter(|c| **c == Color::Dark)
            .count();
        let drawn: usize = svg
            .split('h')
            .skip(1)
            .filter_map(|s| s.split('v').next()?.parse::<usize>().ok())
            .sum();
        assert_eq!(drawn, dark);
    }

    #[test]
    fn qr_svg_refuses_oversized_data() {
        assert!(matches!(
            qr_svg(&"x".repeat(5000), "t"),
            Err(TotpError::QrTooLong)
        ));
    }
}
