//! Single-use recovery codes for when the authenticator phone is lost.
//!
//! Ten codes of ten characters from a 31-symbol alphabet without look-alikes (no `0 o 1 l i`),
//! so they can be read off paper and typed back: 10 × log2(31) ≈ 49.5 bits each. Only their
//! hashes are stored.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Digits 2–9 and lowercase letters except `i`, `l`, `o`.
const ALPHABET: &[u8; 31] = b"23456789abcdefghjkmnpqrstuvwxyz";
pub const CODE_LEN: usize = 10;
pub const CODE_COUNT: usize = 10;
/// Separates the purpose from the code so these digests can never collide with SHA-256 uses
/// elsewhere in the application.
const HASH_DOMAIN: &[u8] = b"congdanso/recovery-code/v1\0";

/// One freshly generated code, held normalised (10 characters, no dash). Shown once.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(Zeroizing<String>);

impl RecoveryCode {
    /// The form stored-hash comparisons use: lowercase, no separator.
    pub fn normalized(&self) -> &str {
        &self.0
    }

    /// `xxxxx-xxxxx`, the form printed for the user; the dash halves make it easier to copy.
    pub fn formatted(&self) -> String {
        let (a, b) = self.0.split_at(CODE_LEN / 2);
        format!("{a}-{b}")
    }

    /// What to store for this code.
    pub fn hash(&self) -> String {
        hash(&self.0)
    }
}

impl fmt::Display for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.formatted())
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(***)")
    }
}

/// A new set of [`CODE_COUNT`] distinct codes from the OS random source. Symbols are drawn by
/// rejection sampling (bytes ≥ 248 are redrawn) so each is uniform over the alphabet.
pub fn generate() -> Result<Vec<RecoveryCode>, getrandom::Error> {
    let mut codes: Vec<RecoveryCode> = Vec::with_capacity(CODE_COUNT);
    while codes.len() < CODE_COUNT {
        let code = random_code()?;
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    Ok(codes)
}

fn random_code() -> Result<RecoveryCode, getrandom::Error> {
    let mut code = Zeroizing::new(String::with_capacity(CODE_LEN));
    let mut buf = Zeroizing::new([0u8; 32]);
    while code.len() < CODE_LEN {
        getrandom::fill(buf.as_mut())?;
        for symbol in buf.iter().filter_map(|&b| symbol_for(b)) {
            if code.len() == CODE_LEN {
                break;
            }
            code.push(char::from(symbol));
        }
    }
    Ok(RecoveryCode(code))
}

/// Maps a random byte to a symbol, or `None` for the top 8 byte values: 256 is not a multiple
/// of 31, and folding those 8 in would make the first symbols likelier.
fn symbol_for(byte: u8) -> Option<u8> {
    // Largest multiple of 31 that fits in a byte: 248.
    const LIMIT: usize = 256 / ALPHABET.len() * ALPHABET.len();
    let b = usize::from(byte);
    (b < LIMIT).then(|| ALPHABET[b % ALPHABET.len()])
}

/// What the user typed, in stored form: lowercased, spaces and dashes removed, then exactly
/// [`CODE_LEN`] alphabet characters, else `None`.
pub fn normalize(input: &str) -> Option<String> {
    let s: String = input
        .chars()
        .filter(|c| !(c.is_whitespace() || *c == '-'))
        .flat_map(char::to_lowercase)
        .collect();
    let ok = s.len() == CODE_LEN && s.bytes().all(|b| ALPHABET.contains(&b));
    ok.then_some(s)
}

/// Hex SHA-256 of the domain label and the normalised code.
///
/// A fast hash is enough here, unlike for passwords: each code carries ~50 bits of real
/// randomness (not a human choice), is single-use, and guesses go through the login throttle,
/// so a stolen table of hashes cannot be brute-forced back to usable codes in useful time.
pub fn hash(normalized: &str) -> String {
    let mut h = Sha256::new();
    h.update(HASH_DOMAIN);
    h.update(normalized.as_bytes());
    hex::encode(h.finalize())
}

/// True when `input` (as typed) is the code behind `stored_hash`. The comparison is constant
/// time; the caller still has to mark the code used.
#[must_use]
pub fn matches(input: &str, stored_hash: &str) -> bool {
    let Some(normalized) = normalize(input) else {
        return false;
    };
    let computed = hash(&normalized);
    computed.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_has_no_lookalikes_and_no_repeats() {
        for bad in b"01oil" {
            assert!(!ALPHABET.contains(bad), "{}", char::from(*bad));
        }
        let mut sorted = ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 31);
    }

    #[test]
    fn generates_ten_distinct_well_formed_codes() {
        let codes = generate().unwrap();
        assert_eq!(codes.len(), 10);
        for c in &codes {
            let shown = c.formatted();
            assert_eq!(shown.len(), 11);
            assert_eq!(shown.as_bytes()[5], b'-');
            assert_eq!(normalize(&shown).as_deref(), Some(c.normalized()));
            assert_eq!(c.to_string(), shown);
        }
        let mut all: Vec<&str> = codes.iter().map(RecoveryCode::normalized).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 10);
    }

    #[test]
    fn generated_symbols_cover_the_alphabet() {
        // 100 draws per call; after 20 calls every one of 31 symbols shows up with
        // overwhelming probability (miss chance < 31 * (30/31)^2000 ≈ 1e-27).
        let mut seen = [false; 256];
        for _ in 0..20 {
            for c in generate().unwrap() {
                for b in c.normalized().bytes() {
                    seen[usize::from(b)] = true;
                }
            }
        }
        for &b in ALPHABET {
            assert!(seen[usize::from(b)], "{}", char::from(b));
        }
        assert_eq!(seen.iter().filter(|s| **s).count(), 31);
    }

    #[test]
    fn byte_mapping_is_uniform() {
        let mut counts = [0u32; 256];
        for b in 0..=u8::MAX {
            if let Some(symbol) = symbol_for(b) {
                counts[usize::from(symbol)] += 1;
            }
        }
        for &s in ALPHABET {
            assert_eq!(counts[usize::from(s)], 8, "{}", char::from(s));
        }
        assert!((248..=255).all(|b| symbol_for(b).is_none()));
    }

    #[test]
    fn normalize_accepts_typing_variations() {
        assert_eq!(normalize("abcde-fghjk").as_deref(), Some("abcdefghjk"));
        assert_eq!(normalize(" ABCDE FGHJK ").as_deref(), Some("abcdefghjk"));
        assert_eq!(normalize("ab-cd-ef-gh-jk").as_deref(), Some("abcdefghjk"));
    }

    #[test]
    fn normalize_rejects_wrong_length_or_alphabet() {
        assert_eq!(normalize(""), None);
        assert_eq!(normalize("abcde-fghj"), None);
        assert_eq!(normalize("abcde-fghjkm"), None);
        assert_eq!(normalize("abcde-fghj0"), None);
        assert_eq!(normalize("abcde-fghjl"), None);
        assert_eq!(normalize("abcde_fghjk"), None);
        assert_eq!(normalize("abcdé-fghjk"), None);
    }

    #[test]
    fn hash_is_domain_separated_hex_sha256() {
        let h = hash("abcdefghjk");
        assert_eq!(h.len(), 64);
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let plain = hex::encode(Sha256::digest(b"abcdefghjk"));
        assert_ne!(h, plain);
        assert_ne!(hash("abcdefghjk"), hash("abcdefghjm"));
    }

    #[test]
    fn matches_typed_code_against_stored_hash() {
        let code = generate().unwrap().remove(0);
        let stored = code.hash();
        assert!(matches(&code.formatted(), &stored));
        assert!(matches(&code.formatted().to_uppercase(), &stored));
        let other = generate().unwrap().remove(0);
        assert!(!matches(&other.formatted(), &stored));
        assert!(!matches("not a code", &stored));
        assert!(!matches(&code.formatted(), ""));
        assert!(!matches(&code.formatted(), &stored[..63]));
    }

    #[test]
    fn debug_hides_the_code() {
        let code = generate().unwrap().remove(0);
        assert_eq!(format!("{code:?}"), "RecoveryCode(***)");
    }
}
