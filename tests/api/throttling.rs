//! Throttling and password hashing under load: attempts counted atomically before the hash
//! (many at once), device cookies, registration per address, case-insensitive staff names,
//! hash upgrades and the bounded hashing pool. Each runs on the configured database (SQLite by
//! default, PostgreSQL with TEST_DATABASE_URL).

use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::accounts::{password, repo, service};
use congdanso::auth::Role;
use congdanso::clock::Clock;
use futures_util::future::join_all;

use crate::accounts::{PASSWORD, code_for, register_citizen, registration};
use crate::helpers::{Client, TestApp, spawn_app, spawn_app_with};

const CITIZEN: &str = "079090001234";
const WRONG: &str = "wrong-password-123";

/// Stored failure count of a throttle key (0 when there is no row).
async fn stored_failures(t: &TestApp, key: &str) -> i32 {
    repo::find_throttle(&t.state.db, key)
        .await
        .unwrap()
        .map_or(0, |row| row.failures)
}

fn retry_after_of(reply: &crate::helpers::Reply) -> Option<u64> {
    reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// `n` fresh browsers on one app, each holding the login form's CSRF cookie.
macro_rules! browsers {
    ($t:expr, $n:expr, $path:expr) => {{
        let mut out = Vec::new();
        for _ in 0..$n {
            let mut c =
                Client::new(test::init_service(congdanso::startup::app($t.state.clone())).await);
            c.get($path).await;
            out.push(c);
        }
        out
    }};
}

#[actix_web::test]
async fn concurrent_wrong_passwords_are_counted_before_the_hash() {
    let t = spawn_app().await;
    let mut owner = Client::new(test::init_service(congdanso::startup::app(t.state.clone())).await);
    register_citizen(&mut owner, &t, CITIZEN).await;

    let mut clients = browsers!(t, 40, "/login");
    let replies = join_all(
        clients
            .iter_mut()
            .map(|c| c.post("/login", &[("login", CITIZEN), ("password", WRONG)])),
    )
    .await;
    let judged = replies
        .iter()
        .filter(|r| r.status == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    let limited: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(judged + limited.len(), 40, "only 422 or 429");
    // The policy's five free failures reach verification; every other guess is refused.
    assert_eq!(judged, 5, "verified attempts");
    assert!(
        limited
            .iter()
            .all(|r| retry_after_of(r).is_some_and(|s| s >= 1)),
        "429 carries Retry-After"
    );
    // Nothing lost: the stored counters equal the attempts counted.
    assert_eq!(stored_failures(&t, &service::login_key(CITIZEN)).await, 5);
    let ip = service::ip_key(Some("203.0.113.7")).unwrap();
    assert_eq!(stored_failures(&t, &ip).await, 5);
    let metrics = owner.get("/metrics").await.body;
    assert!(
        metrics.contains(r#"congdanso_login_attempts_total{result="password_failed"} 5"#),
        "{metrics}"
    );
}

#[actix_web::test]
async fn concurrent_wrong_totp_codes_are_counted_before_checking() {
    let t = spawn_app().await;
    let mut owner = Client::new(test::init_service(congdanso::startup::app(t.state.clone())).await);
    register_citizen(&mut owner, &t, CITIZEN).await;
    owner.post("/logout", &[]).await;
    owner.get("/login").await;
    let reply = owner
        .post("/login", &[("login", CITIZEN), ("password", PASSWORD)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);

    // Forty browsers sharing the half-logged-in session guess codes at once.
    let mut clients = browsers!(t, 40, "/login");
    for c in &mut clients {
        c.cookies = owner.cookies.clone();
    }
    let guesses: Vec<String> = (0..40).map(|i| format!("{:06}", 100_000 + i)).collect();
    let forms: Vec<[(&str, &str); 1]> = guesses.iter().map(|g| [("code", g.as_str())]).collect();
    let replies = join_all(
        clients
            .iter_mut()
            .zip(&forms)
            .map(|(c, form)| c.post("/login/verify", form)),
    )
    .await;
    let judged = replies
        .iter()
        .filter(|r| r.status == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    let limited = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS && retry_after_of(r).is_some())
        .count();
    assert_eq!((judged, limited), (5, 35));
    let account = repo::find_by_login(&t.state.db, CITIZEN)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored_failures(&t, &service::second_factor_key(account.id)).await,
        5
    );
    // Even the right code waits for the lockout.
    let right = code_for(&t, CITIZEN, 0).await;
    let reply = owner.post("/login/verify", &[("code", &right)]).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
}

/// Logs in fully (password, then TOTP) so the browser becomes a known device.
async fn full_login<S, B>(client: &mut Client<S>, t: &TestApp, steps: i64)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    client.get("/login").await;
    let reply = client
        .post("/login", &[("login", CITIZEN), ("password", PASSWORD)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let code = code_for(t, CITIZEN, steps).await;
    let reply = client.post("/login/verify", &[("code", &code)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
}

#[actix_web::test]
async fn a_known_device_keeps_logging_in_while_strangers_are_locked_out() {
    let t = spawn_app().await;
    let mut phone = Client::new(test::init_service(congdanso::startup::app(t.state.clone())).await);
    register_citizen(&mut phone, &t, CITIZEN).await;
    phone.post("/logout", &[]).await;
    t.clock.advance(chrono::Duration::seconds(30));
    full_login(&mut phone, &t, 0).await;
    assert!(
        phone.cookies.contains_key("cds_device"),
        "device cookie set"
    );
    phone.post("/logout", &[]).await;

    // A stranger locks the login name, and (other names, same address) the address too.
    let mut stranger =
        Client::new(test::init_service(congdanso::startup::app(t.state.clone())).await);
    stranger.get("/login").await;
    for _ in 0..5 {
        let r = stranger
            .post("/login", &[("login", CITIZEN), ("password", WRONG)])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    for i in 0..15 {
        let other = format!("0790900099{i:02}");
        let r = stranger
            .post("/login", &[("login", &other), ("password", WRONG)])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let r = stranger
        .post("/login", &[("login", CITIZEN), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "stranger locked");
    let r = stranger
        .post("/login", &[("login", "079090009999"), ("password", WRONG)])
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "address locked");

    // The citizen's own phone, same address, still logs in.
    t.clock.advance(chrono::Duration::seconds(30));
    full_login(&mut phone, &t, 0).await;
    phone.post("/logout", &[]).await;

    // Its failures count against that device only: five lock the device...
    phone.get("/login").await;
    for _ in 0..5 {
        let r = phone
            .post("/login", &[("login", CITIZEN), ("password", WRONG)])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let r = phone
        .post("/login", &[("login", CITIZEN), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "device locked");
    // ...and added nothing to the name or address counters.
    assert_eq!(stored_failures(&t, &service::login_key(CITIZEN)).await, 5);
    let ip = service::ip_key(Some("203.0.113.7")).unwrap();
    assert_eq!(stored_failures(&t, &ip).await, 20);
}

#[actix_web::test]
async fn forged_or_foreign_device_cookies_are_strangers() {
    let t = spawn_app().await;
    let mut phone = Client::new(test::init_service(congdanso::startup::app(t.state.clone())).await);
    register_citizen(&mut phone, &t, CITIZEN).await;
    phone.post("/logout", &[]).await;
    t.clock.advance(chrono::Duration::seconds(30));
    full_login(&mut phone, &t, 0).await;
    phone.post("/logout", &[]).await;
    let genuine = phone.cookies["cds_device"].clone();

    // Another citizen's genuine device cookie.
    let other_id = "079090005678";
    let mut other = Client::new(test::init_service(congdanso::startup::app(t.state.clone())).await);
    register_citizen(&mut other, &t, other_id).await;
    let other_account = repo::find_by_login(&t.state.db, other_id)
        .await
        .unwrap()
        .unwrap();
    let foreign =
        congdanso::accounts::device::issue(&t.state, other_account.id, t.clock.now()).unwrap();

    // Lock the citizen's name.
    let mut stranger =
        Client::new(test::init_service(congdanso::startup::app(t.state.clone())).await);
    stranger.get("/login").await;
    for _ in 0..5 {
        stranger
            .post("/login", &[("login", CITIZEN), ("password", WRONG)])
            .await;
    }

    // Tampered MAC, tampered account, another account's cookie, an expired one: all strangers.
    let mut tampered_mac = genuine.clone();
    let last = tampered_mac.pop().unwrap();
    tampered_mac.push(if last == 'A' { 'B' } else { 'A' });
    let account_hex = genuine.split('.').nth(1).unwrap().to_owned();
    let other_hex = other_account.id.simple().to_string();
    let tampered_account = genuine.replace(&account_hex, &other_hex);
    for cookie in [
        tampered_mac,
        tampered_account,
        foreign,
        "v1.garbage".to_owned(),
    ] {
        stranger.cookies.insert("cds_device".into(), cookie.clone());
        let r = stranger
            .post("/login", &[("login", CITIZEN), ("password", PASSWORD)])
            .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{cookie}");
    }
    // The genuine cookie, though, gets through; once expired it no longer does.
    stranger
        .cookies
        .insert("cds_device".into(), genuine.clone());
    let r = stranger
        .post("/login", &[("login", CITIZEN), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    stranger.post("/logout", &[]).await;
    for _ in 0..5 {
        stranger
            .post("/login", &[("login", CITIZEN), ("password", WRONG)])
            .await;
    }
    t.clock.advance(congdanso::accounts::device::LIFETIME);
    stranger.get("/login").await;
    for _ in 0..5 {
        let r = stranger
            .post("/login", &[("login", CITIZEN), ("password", WRONG)])
            .await;
        assert_ne!(r.status, StatusCode::SEE_OTHER);
    }
    stranger.cookies.insert("cds_device".into(), genuine);
    let r = stranger
        .post("/login", &[("login", CITIZEN), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "expired cookie");
}

#[actix_web::test]
async fn registration_attempts_are_throttled_per_address() {
    let t = spawn_app().await;
    let mut owner = Client::new(test::init_service(congdanso::startup::app(t.state.clone())).await);
    register_citizen(&mut owner, &t, CITIZEN).await;

    // Probing whether a number has an account, 40 times at once from one address.
    let mut clients = browsers!(t, 40, "/register");
    let form = registration(CITIZEN, PASSWORD);
    let replies = join_all(clients.iter_mut().map(|c| c.post("/register", &form))).await;
    let answered = replies
        .iter()
        .filter(|r| r.status == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    let limited = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS && retry_after_of(r).is_some())
        .count();
    // The owner's own registration was the address's first attempt.
    let free = usize::try_from(service::REGISTRATION_FREE_ATTEMPTS).unwrap();
    assert_eq!((answered, limited), (free - 1, 40 - (free - 1)));
    let key = service::registration_key("203.0.113.7");
    assert_eq!(
        stored_failures(&t, &key).await,
        i32::try_from(free).unwrap()
    );

    // Another address is unaffected.
    let mut elsewhere =
        Client::new(test::init_service(congdanso::startup::app(t.state.clone())).await);
    elsewhere.peer = "198.51.100.9:5000".parse().unwrap();
    elsewhere.get("/register").await;
    let reply = elsewhere
        .post("/register", &registration("079090007777", PASSWORD))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
}

#[actix_web::test]
async fn staff_login_names_match_whatever_the_case() {
    let t = spawn_app().await;
    let (_, initial) =
        service::create_staff_account(&t.state, Role::Operator, "Van.Hanh", "Trần Văn Hành", None)
            .await
            .unwrap();
    let mut client =
        Client::new(test::init_service(congdanso::startup::app(t.state.clone())).await);
    client.get("/staff/login").await;
    let reply = client
        .post(
            "/staff/login",
            &[("login", " VAN.hanh "), ("password", initial.as_str())],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), "/enroll");
    // Both spellings count against one name.
    assert_eq!(
        service::login_key("VAN.HANH"),
        service::login_key("van.hanh")
    );
}

#[actix_web::test]
async fn an_outdated_password_hash_is_upgraded_at_login() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let t = spawn_app().await;
    let mut client =
        Client::new(test::init_service(congdanso::startup::app(t.state.clone())).await);
    register_citizen(&mut client, &t, CITIZEN).await;
    client.post("/logout", &[]).await;
    let account = repo::find_by_login(&t.state.db, CITIZEN)
        .await
        .unwrap()
        .unwrap();
    let weaker = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8_192, 1, 1, Some(32)).unwrap(),
    );
    let salt = SaltString::encode_b64(&[9u8; 16]).unwrap();
    let old = weaker
        .hash_password(PASSWORD.as_bytes(), &salt)
        .unwrap()
        .to_string();
    assert!(password::needs_rehash(&old));
    let changed_at = t.clock.now();
    repo::set_password(&t.state.db, account.id, old.clone(), changed_at)
        .await
        .unwrap();
    t.clock.advance(chrono::Duration::minutes(1));

    client.get("/login").await;
    let reply = client
        .post("/login", &[("login", CITIZEN), ("password", PASSWORD)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let after = repo::find_by_login(&t.state.db, CITIZEN)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(after.password_hash, old);
    assert!(!password::needs_rehash(&after.password_hash));
    assert!(password::verify_password(PASSWORD, &after.password_hash));
    assert_eq!(
        after.password_changed_at, changed_at,
        "the password did not change"
    );
}

#[actix_web::test]
async fn busy_hashing_answers_503_with_retry_after_never_500() {
    let t = spawn_app_with(&[
        ("PASSWORD_HASH_CONCURRENCY", "1"),
        ("PASSWORD_HASH_QUEUE_TIMEOUT_MS", "0"),
    ])
    .await;
    let mut owner = Client::new(test::init_service(congdanso::startup::app(t.state.clone())).await);
    register_citizen(&mut owner, &t, CITIZEN).await;

    let mut clients = browsers!(t, 12, "/login");
    // Each from its own address, so they reach the pool together (no shared counter row).
    for (i, c) in clients.iter_mut().enumerate() {
        c.peer = format!("198.51.100.{}:4000", i + 1).parse().unwrap();
    }
    let logins: Vec<String> = (0..12).map(|i| format!("0790900088{i:02}")).collect();
    let forms: Vec<[(&str, &str); 2]> = logins
        .iter()
        .map(|login| [("login", login.as_str()), ("password", WRONG)])
        .collect();
    let replies = join_all(
        clients
            .iter_mut()
            .zip(&forms)
            .map(|(c, form)| c.post("/login", form)),
    )
    .await;
    let busy: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    let judged = replies
        .iter()
        .filter(|r| r.status == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert!(!busy.is_empty(), "some logins found the pool busy");
    assert!(judged >= 1, "the one permit served someone");
    assert_eq!(busy.len() + judged, 12, "nothing else, no 500");
    for reply in &busy {
        assert_eq!(retry_after_of(reply), Some(1));
        assert!(reply.body.contains("<html"), "a readable page");
    }
    // A busy answer judged nothing, so it counted nothing.
    let mut counted = 0;
    for (i, login) in logins.iter().enumerate() {
        let ip = service::ip_key(Some(&format!("198.51.100.{}", i + 1))).unwrap();
        let by_address = stored_failures(&t, &ip).await;
        assert_eq!(
            by_address,
            stored_failures(&t, &service::login_key(login)).await
        );
        counted += by_address;
    }
    assert_eq!(counted, i32::try_from(judged).unwrap());
    assert_eq!(t.state.passwords.areas_allocated(), 1);
}
