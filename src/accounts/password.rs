//! Password policy and storage.
//!
//! Policy follows NIST SP 800-63B: a length floor, a blocklist of common and personal
//! passwords, no composition rules. Storage is Argon2id with the OWASP parameters in a PHC
//! string, so the parameters travel with each hash and can be raised later (see
//! [`needs_rehash`]).
//!
//! Hashing on behalf of requests goes through [`HashPool`]: a bounded number at a time, each in
//! a reused Argon2 memory block, so an unauthenticated flood of logins neither grows memory nor
//! queues without end (it is told `service_busy`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use argon2::password_hash::{
    Output, ParamsString, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use super::model::FieldProblem;

pub const MIN_PASSWORD_LEN: usize = 10;
pub const MAX_PASSWORD_LEN: usize = 128;

const FIELD: &str = "password";

/// Personal strings shorter than this are ignored: "An" or a 3-digit number would forbid far
/// too many passwords for no gain.
const MIN_PERSONAL_LEN: usize = 4;

/// The shipped blocklist, lowercase. `#` lines are provenance comments.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../web/data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// Checks a new password (sign-up, change, reset). `personal` holds what an attacker who knows
/// the person would try first: national ID, phone, name parts, e-mail local part.
///
/// Rules in order: length (in characters, so Vietnamese letters count once), then
/// commonness (blocklist, one repeated character, a run of consecutive digits), then personal
/// data (case-insensitive containment).
pub fn check_policy(password: &str, personal: &[&str]) -> Result<(), FieldProblem> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(FieldProblem::new(FIELD, "password_too_short"));
    }
    if len > MAX_PASSWORD_LEN {
        return Err(FieldProblem::new(FIELD, "password_too_long"));
    }
    let lower = password.to_lowercase();
    if COMMON_PASSWORDS.contains(lower.as_str())
        || is_one_repeated_char(password)
        || is_digit_run(password)
    {
        return Err(FieldProblem::new(FIELD, "password_common"));
    }
    let contains_personal = personal
        .iter()
        .map(|p| p.trim())
        .filter(|p| p.chars().count() >= MIN_PERSONAL_LEN)
        .any(|p| lower.contains(&p.to_lowercase()));
    if contains_personal {
        return Err(FieldProblem::new(FIELD, "password_personal"));
    }
    Ok(())
}

fn is_one_repeated_char(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|first| chars.all(|c| c == first))
}

/// Digits stepping by +1 or −1 throughout, wrapping 9↔0: `1234567890`, `0987654321`.
fn is_digit_run(s: &str) -> bool {
    let digits: Option<Vec<u8>> = s
        .bytes()
        .map(|b| b.is_ascii_digit().then(|| b - b'0'))
        .collect();
    let Some(digits) = digits else {
        return false;
    };
    let steps_by = |delta: u8| digits.windows(2).all(|w| (w[0] + delta) % 10 == w[1]);
    digits.len() >= 2 && (steps_by(1) || steps_by(9))
}

/// Hashing failed: the OS random source or the Argon2 implementation refused.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("random source failed: {0}")]
    Random(getrandom::Error),
    #[error("argon2 failed: {0}")]
    Hash(String),
}

// By hand rather than `#[from]`: `getrandom::Error` implements `std::error::Error` only with
// getrandom's `std` feature, which this crate does not need to turn on.
impl From<getrandom::Error> for PasswordError {
    fn from(e: getrandom::Error) -> Self {
        Self::Random(e)
    }
}

const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUTPUT_LEN: usize = 32;
const SALT_LEN: usize = 16;

/// Argon2id with the OWASP Password Storage Cheat Sheet parameters (19 MiB, 2 passes, 1 lane).
fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN))
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes with a fresh 128-bit salt; returns a PHC string such as
/// `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`. Takes ~tens of ms by design: call it from
/// a blocking thread.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let mut salt_bytes = [0u8; SALT_LEN];
    getrandom::fill(&mut salt_bytes)?;
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let hash = hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(hash.to_string())
}

/// True when `password` matches the PHC string. A malformed or non-Argon2 hash is simply
/// `false`: a corrupt row must not let anyone in nor crash the request. The parameters are
/// read from the hash, so old hashes keep verifying after the defaults change.
#[must_use]
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if Algorithm::try_from(parsed.algorithm).is_err() {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A hash of a random throw-away password made with the current parameters. Verifying against
/// it costs what a real verification costs.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$7qy9EIp4MX0M5nZgM8fCKw$cJZ9WWy4fRQTIWz9JvF6Gq2bzRujn5oRZNHbiMUaUvc";

/// Spends the time of one real verification when the account does not exist, so response
/// time does not reveal which national IDs have accounts. The result is always ignored.
pub fn verify_against_dummy(password: &str) {
    let _ = verify_password(password, DUMMY_HASH);
}

/// True when a stored hash was made with other settings than today's (another variant,
/// version, cost or length), or cannot be read: after a successful login the caller re-hashes
/// the password it now holds and stores the new string.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    if Algorithm::try_from(parsed.algorithm) != Ok(Algorithm::Argon2id)
        || parsed.version != Some(Version::V0x13.into())
    {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(p) => {
            p.m_cost() != M_COST_KIB
                || p.t_cost() != T_COST
                || p.p_cost() != P_COST
                || p.output_len() != Some(OUTPUT_LEN)
        }
        Err(_) => true,
    }
}

/// Why the pool did not hash.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Every permit is in use and the queue is full or the wait ran out: answer
    /// `service_busy` and let the client retry after this long.
    #[error("password hashing is at capacity")]
    Busy { retry_after: Duration },
    #[error(transparent)]
    Failed(#[from] PasswordError),
    #[error("hashing task failed: {0}")]
    Task(String),
}

/// How long a client told `service_busy` should wait before retrying.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Waiters allowed per permit: a short queue absorbs bursts, a long one would only hold
/// connections (and time) for answers that come too late.
const WAITERS_PER_PERMIT: usize = 4;

/// Bounded, memory-flat password hashing for requests.
///
/// - At most `concurrency` hashes run at once (a semaphore); up to
///   `concurrency × WAITERS_PER_PERMIT` more wait at most `queue_timeout` for a turn; everyone
///   else gets [`PoolError::Busy`] at once.
/// - Each running hash fills a memory area taken from a free list and put back afterwards: at
///   most `concurrency` areas of `M_COST_KIB` KiB ever exist, allocated on first use and then
///   reused for the life of the process, so memory does not follow load and no freed 19 MiB
///   chunk is left for the allocator to keep.
/// - Verification reads the parameters from the stored PHC string, computes the raw hash into
///   the area and compares it in constant time, so hashes made by the stock `argon2` API verify
///   here and the other way round.
#[derive(Debug)]
pub struct HashPool {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    queue_timeout: Duration,
    areas: Arc<Mutex<Vec<Vec<Block>>>>,
}

/// Decrements the waiter count however the wait ends (permit, timeout or a dropped request).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl HashPool {
    /// `concurrency` hashes at once (at least 1); waiters wait up to `queue_timeout` (zero:
    /// no queue at all).
    pub fn new(concurrency: usize, queue_timeout: Duration) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            waiting: AtomicUsize::new(0),
            max_waiting: concurrency.saturating_mul(WAITERS_PER_PERMIT),
            queue_timeout,
            areas: Arc::new(Mutex::new(Vec::with_capacity(concurrency))),
        }
    }

    /// Memory areas allocated so far (never more than the concurrency).
    pub fn areas_allocated(&self) -> usize {
        self.areas
            .lock()
            .map_or_else(|e| e.into_inner().len(), |a| a.len())
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, PoolError> {
        let busy = PoolError::Busy {
            retry_after: BUSY_RETRY_AFTER,
        };
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            return Ok(permit);
        }
        if self.queue_timeout.is_zero() {
            return Err(busy);
        }
        let _waiting = Waiting(&self.waiting);
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            return Err(busy);
        }
        match tokio::time::timeout(
            self.queue_timeout,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(busy),
        }
    }

    /// Runs `work` on a blocking thread with a memory area, holding a permit throughout.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let permit = self.permit().await?;
        let areas = Arc::clone(&self.areas);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let taken = areas
                .lock()
                .map_or_else(|e| e.into_inner().pop(), |mut a| a.pop());
            let mut area = taken.unwrap_or_else(|| vec![Block::default(); M_COST_KIB as usize]);
            let result = work(&mut area);
            match areas.lock() {
                Ok(mut free) => free.push(area),
                Err(poisoned) => poisoned.into_inner().push(area),
            }
            result
        })
        .await
        .map_err(|e| PoolError::Task(e.to_string()))
    }

    /// A PHC string for `password` with today's parameters and a fresh salt.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String, PoolError> {
        Ok(self
            .run(move |area| hash_with_memory(&password, area))
            .await??)
    }

    /// True when `password` matches the stored PHC string (false for malformed hashes).
    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        phc: String,
    ) -> Result<bool, PoolError> {
        self.run(move |area| verify_with_memory(&password, &phc, area))
            .await
    }

    /// Spends one real verification's work (and a pool turn) for a login that has no account.
    pub async fn verify_dummy(&self, password: Zeroizing<String>) -> Result<(), PoolError> {
        self.run(move |area| {
            let _ = verify_with_memory(&password, DUMMY_HASH, area);
        })
        .await
    }
}

/// [`hash_password`], computed in `memory` (at least `M_COST_KIB` blocks).
pub fn hash_with_memory(password: &str, memory: &mut [Block]) -> Result<String, PasswordError> {
    let failed = |e: &dyn std::fmt::Display| PasswordError::Hash(e.to_string());
    let mut salt_bytes = [0u8; SALT_LEN];
    getrandom::fill(&mut salt_bytes)?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| failed(&e))?;
    let argon = hasher()?;
    let output = Output::init_with(OUTPUT_LEN, |out| {
        argon
            .hash_password_into_with_memory(password.as_bytes(), &salt_bytes, out, &mut *memory)
            .map_err(Into::into)
    })
    .map_err(|e| failed(&e))?;
    let params =
        Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN)).map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// [`verify_password`], computed in `memory`: the parameters, salt and length come from the PHC
/// string; the raw hash is compared in constant time (`Output`'s equality). Parameters needing
/// more memory than `memory` holds (a stronger setting than today's) get a one-off area.
#[must_use]
pub fn verify_with_memory(password: &str, phc: &str, memory: &mut [Block]) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let needed = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let mut one_off;
    let area: &mut [Block] = if needed <= memory.len() {
        memory
    } else {
        one_off = vec![Block::default(); needed];
        &mut one_off
    };
    let computed = Output::init_with(expected.len(), |out| {
        argon
            .hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, &mut *area)
            .map_err(Into::into)
    });
    computed.is_ok_and(|computed| computed == expected)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn code(password: &str, personal: &[&str]) -> Option<&'static str> {
        check_policy(password, personal).err().map(|p| {
            assert_eq!(p.field, "password");
            p.code
        })
    }

    #[test]
    fn policy_accepts_a_reasonable_passphrase() {
        assert_eq!(code("ngựa vằn ăn cỏ non", &[]), None);
        assert_eq!(code("correct horse battery", &["001099012345"]), None);
    }

    #[test]
    fn policy_length_is_counted_in_characters() {
        assert_eq!(code("Xk9#mP2$q", &[]), Some("password_too_short")); // 9
        assert_eq!(code("Xk9#mP2$qL", &[]), None); // 10
        // 9 characters but 18 bytes: still too short.
        assert_eq!(code("ưởằẫệốợừỳ", &[]), Some("password_too_short"));
        assert_eq!(code(&"ab3".repeat(43)[..128], &[]), None);
        assert_eq!(
            code(&"ab3".repeat(43)[..129], &[]),
            Some("password_too_long")
        );
    }

    #[test]
    fn policy_rejects_listed_passwords_case_insensitively() {
        assert_eq!(code("1qaz2wsx3edc", &[]), Some("password_common"));
        assert_eq!(code("WhosYourDaddy", &[]), Some("password_common"));
        assert_eq!(code("AnhYeuEm123", &[]), Some("password_common"));
        assert_eq!(code("matkhau@1234", &[]), Some("password_common"));
    }

    #[test]
    fn policy_rejects_repeated_character_and_digit_runs() {
        assert_eq!(code("zzzzzzzzzzzz", &[]), Some("password_common"));
        assert_eq!(code("ééééééééééé", &[]), Some("password_common"));
        assert_eq!(code("2345678901", &[]), Some("password_common"));
        assert_eq!(code("8765432109876", &[]), Some("password_common"));
        // Digits that are not a run are not "common" by this rule.
        assert_eq!(code("2718281828", &[]), None);
    }

    #[test]
    fn digit_run_detection() {
        assert!(is_digit_run("1234567890"));
        assert!(is_digit_run("0987654321"));
        assert!(!is_digit_run("1234567891"));
        assert!(!is_digit_run("12345a7890"));
        assert!(!is_digit_run(""));
    }

    #[test]
    fn policy_rejects_personal_data() {
        let personal = ["001099012345", "0912345678", "Khai"];
        assert_eq!(code("xx001099012345", &personal), Some("password_personal"));
        assert_eq!(
            code("call 0912345678!", &personal),
            Some("password_personal")
        );
        assert_eq!(
            code("KHAI-the-great-1", &personal),
            Some("password_personal")
        );
    }

    #[test]
    fn policy_ignores_short_personal_strings() {
        assert_eq!(code("an ninh quoc gia 7", &["An", " le "]), None);
        assert_eq!(
            code("long bien river 7", &["long"]),
            Some("password_personal")
        );
    }

    #[test]
    fn blocklist_is_loaded_lowercase_without_comments() {
        assert!(COMMON_PASSWORDS.len() > 10_000);
        assert!(COMMON_PASSWORDS.contains("password1"));
        assert!(COMMON_PASSWORDS.contains("matkhau"));
        assert!(COMMON_PASSWORDS.iter().all(|w| !w.starts_with('#')));
        assert!(COMMON_PASSWORDS.iter().all(|w| *w == w.to_lowercase()));
        assert!(COMMON_PASSWORDS.iter().all(|w| w.chars().count() >= 6));
    }

    #[test]
    fn hash_then_verify() {
        let phc = hash_password("ngựa vằn ăn cỏ non").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("ngựa vằn ăn cỏ non", &phc));
        assert!(!verify_password("ngua van an co non", &phc));
        assert!(!needs_rehash(&phc));
    }

    #[test]
    fn salts_are_fresh() {
        assert_ne!(
            hash_password("same").unwrap(),
            hash_password("same").unwrap()
        );
    }

    #[test]
    fn verify_is_false_on_malformed_hashes() {
        for bad in [
            "",
            "plain",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$$",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$!!!",
            "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
        ] {
            assert!(!verify_password("anything at all", bad), "{bad}");
        }
    }

    /// The dummy path costs a real verification by construction: the same function on a hash of
    /// today's parameters (checked here rather than timed, which would be flaky under load).
    #[test]
    fn dummy_hash_is_current_and_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!needs_rehash(DUMMY_HASH));
        verify_against_dummy("whatever");
    }

    #[test]
    fn needs_rehash_detects_other_settings() {
        let weaker = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8_192, 2, 1, Some(32)).unwrap(),
        );
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let old = weaker.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(needs_rehash(&old));
        assert!(verify_password("pw", &old), "old hashes still verify");

        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN)).unwrap(),
        );
        let other = argon2i.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(needs_rehash(&other));
        assert!(needs_rehash("garbage"));
    }

    fn area() -> Vec<Block> {
        vec![Block::default(); M_COST_KIB as usize]
    }

    #[test]
    fn pooled_and_stock_hashes_verify_each_other() {
        let mut memory = area();
        // Pooled hash → stock verification.
        let pooled = hash_with_memory("ngựa vằn ăn cỏ non", &mut memory).unwrap();
        assert!(
            pooled.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{pooled}"
        );
        assert!(!needs_rehash(&pooled));
        assert!(verify_password("ngựa vằn ăn cỏ non", &pooled));
        assert!(!verify_password("ngua van an co non", &pooled));
        // Stock hash → pooled verification, in the same (dirty) memory.
        let stock = hash_password("correct horse battery").unwrap();
        assert!(verify_with_memory(
            "correct horse battery",
            &stock,
            &mut memory
        ));
        assert!(!verify_with_memory(
            "wrong horse battery",
            &stock,
            &mut memory
        ));
        assert!(verify_with_memory(
            "ngựa vằn ăn cỏ non",
            &pooled,
            &mut memory
        ));
    }

    #[test]
    fn pooled_verification_reads_other_parameters_from_the_hash() {
        let mut memory = area();
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        for (algorithm, m, t) in [
            (Algorithm::Argon2id, 8_192, 2),
            (Algorithm::Argon2i, 4_096, 3),
            // More memory than a pool area: verified in a one-off area.
            (Algorithm::Argon2id, 24_576, 1),
        ] {
            let params = Params::new(m, t, 1, Some(32)).unwrap();
            let old = Argon2::new(algorithm, Version::V0x13, params)
                .hash_password(b"pw-old-params", &salt)
                .unwrap()
                .to_string();
            assert!(
                verify_with_memory("pw-old-params", &old, &mut memory),
                "{old}"
            );
            assert!(!verify_with_memory("pw-other", &old, &mut memory), "{old}");
        }
    }

    #[test]
    fn pooled_verification_is_false_on_malformed_hashes() {
        let mut memory = area();
        for bad in [
            "",
            "plain",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$$",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$!!!",
            "$argon2id$v=99$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
            "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
        ] {
            assert!(
                !verify_with_memory("anything at all", bad, &mut memory),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn the_pool_reuses_its_areas_and_refuses_beyond_capacity() {
        let pool = Arc::new(HashPool::new(1, Duration::ZERO));
        let phc = pool
            .hash(Zeroizing::new("mật khẩu dài".into()))
            .await
            .unwrap();
        assert!(
            pool.verify(Zeroizing::new("mật khẩu dài".into()), phc.clone())
                .await
                .unwrap()
        );
        pool.verify_dummy(Zeroizing::new("x".into())).await.unwrap();
        assert_eq!(pool.areas_allocated(), 1, "one area, reused");

        // Hold the only permit: with no queue the next request is refused at once.
        let held = Arc::clone(&pool.permits).try_acquire_owned().unwrap();
        let refused = pool.verify(Zeroizing::new("x".into()), phc.clone()).await;
        assert!(
            matches!(refused, Err(PoolError::Busy { .. })),
            "{refused:?}"
        );
        drop(held);
        assert!(pool.verify(Zeroizing::new("x".into()), phc).await.is_ok());
    }

    #[tokio::test]
    async fn waiters_get_a_turn_within_the_queue_timeout() {
        let pool = Arc::new(HashPool::new(1, Duration::from_secs(30)));
        let held = Arc::clone(&pool.permits).try_acquire_owned().unwrap();
        let waiter = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.verify_dummy(Zeroizing::new("x".into())).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        assert!(waiter.await.unwrap().is_ok());
        assert_eq!(pool.waiting.load(Ordering::SeqCst), 0);
    }
}
