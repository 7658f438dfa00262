//! Accounts: every rule of registration, TOTP, login, sessions, CSRF, throttling and roles,
//! driven through the real app with a fixed clock.

use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::accounts::{repo, service, totp};
use congdanso::clock::Clock;
use congdanso::startup::app;

use crate::helpers::{Client, TestApp, spawn_app};

pub const PASSWORD: &str = "Hoa-sen-no-giua-ho-2026";

/// The TOTP code an authenticator app would show now (or `steps` periods from now).
pub async fn code_for(t: &TestApp, login: &str, steps: i64) -> String {
    let account = repo::find_by_login(&t.state.db, login)
        .await
        .unwrap()
        .unwrap();
    let secret = service::totp_secret(&t.state, &account).unwrap();
    let step = t.clock.now().timestamp() / 30 + steps;
    totp::code_at(&secret, step)
}

/// A date of birth that agrees with a CCCD's century and year digits (17 May of that year);
/// 1990 for anything that is not 12 digits (tests of malformed numbers).
pub fn birth_date_for(national_id: &str) -> &'static str {
    let digits = national_id.as_bytes();
    if digits.len() != 12 || !digits.iter().all(u8::is_ascii_digit) {
        return "1990-05-17";
    }
    let century = 1900 + 100 * i32::from((digits[3] - b'0') / 2);
    let year = century + i32::from(digits[4] - b'0') * 10 + i32::from(digits[5] - b'0');
    Box::leak(format!("{year}-05-17").into_boxed_str())
}

pub fn registration<'a>(national_id: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("national_id", national_id),
        ("full_name", "Nguyễn Thị Minh Khai"),
        ("birth_date", birth_date_for(national_id)),
        ("phone", "0905 123 456"),
        ("email", ""),
        ("password", password),
        ("password_confirm", password),
    ]
}

/// Registers and enrols a citizen; returns the recovery codes shown.
pub async fn register_citizen<S, B>(client: &mut Client<S>, t: &TestApp, id: &str) -> Vec<String>
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    client.get("/register").await;
    let reply = client.post("/register", &registration(id, PASSWORD)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), "/enroll");
    let page = client.get("/enroll").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<svg"), "QR code shown inline");
    let code = code_for(t, id, 0).await;
    let reply = client.post("/enroll", &[("code", &code)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    recovery_codes_in(&reply.body)
}

pub fn recovery_codes_in(html: &str) -> Vec<String> {
    let list = html
        .split(r#"<ul class="recovery-codes""#)
        .nth(1)
        .and_then(|rest| rest.split("</ul>").next())
        .unwrap_or("");
    list.split("<code>")
        .skip(1)
        .filter_map(|piece| piece.split("</code>").next())
        .map(str::to_owned)
        .collect()
}

async fn login_password<S, B>(
    client: &mut Client<S>,
    login: &str,
    password: &str,
) -> crate::helpers::Reply
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    client.get("/login").await;
    client
        .post("/login", &[("login", login), ("password", password)])
        .await
}

#[actix_web::test]
async fn registration_refuses_a_national_id_that_is_not_12_digits() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    client.lang = Some("en");
    client.get("/register").await;
    for (id, message) in [
        ("12345678901", "exactly 12 digits"),
        ("1234567890123", "exactly 12 digits"),
        ("12345678901a", "digits only"),
        ("", "Enter your national ID number"),
    ] {
        let reply = client.post("/register", &registration(id, PASSWORD)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{id}");
        assert!(reply.body.contains(message), "{id}: {}", reply.body);
        // The message is next to the field, linked to it, and summarised at the top.
        assert!(reply.body.contains(r#"id="f-national_id-error""#));
        assert!(
            reply
                .body
                .contains(r#"aria-describedby="f-national_id-hint f-national_id-error""#)
        );
        assert!(reply.body.contains(r##"<a href="#f-national_id">"##));
        assert!(reply.body.contains(r#"aria-invalid="true""#));
        // What was typed is kept, the password is not.
        assert!(!reply.body.contains(PASSWORD));
    }
    assert!(
        repo::find_by_login(&t.state.db, "12345678901")
            .await
            .unwrap()
            .is_none()
    );
}

#[actix_web::test]
async fn registration_refuses_weak_passwords_and_bad_details() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    client.lang = Some("en");
    client.get("/register").await;
    for (password, message) in [
        ("short1!", "at least 10 characters"),
        ("password123", "too common"),
        ("qwertyuiop", "too common"),
        ("x079090001234y", "ID number or phone number"),
    ] {
        let reply = client
            .post("/register", &registration("079090001234", password))
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{password}");
        assert!(reply.body.contains(message), "{password}: {}", reply.body);
    }
    let mut fields = registration("079090001234", PASSWORD);
    fields[6] = ("password_confirm", "something-else-entirely");
    let reply = client.post("/register", &fields).await;
    assert!(reply.body.contains("do not match"), "{}", reply.body);

    let mut fields = registration("079090001234", PASSWORD);
    fields[3] = ("phone", "0123");
    fields[2] = ("birth_date", "2099-01-01");
    let reply = client.post("/register", &fields).await;
    assert!(
        reply.body.contains("mobile number has 10 digits"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("not possible"), "{}", reply.body);
}

#[actix_web::test]
async fn one_account_per_national_id() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;

    let mut other = Client::new(test::init_service(app(t.state.clone())).await);
    other.lang = Some("en");
    other.get("/register").await;
    let reply = other
        .post(
            "/register",
            &registration("079090001234", "Another-good-pass-99"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body.contains("already has an account"),
        "{}",
        reply.body
    );
}

#[actix_web::test]
async fn the_account_is_active_only_after_a_valid_totp_code() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    client.lang = Some("en");
    client.get("/register").await;
    client
        .post("/register", &registration("079090001234", PASSWORD))
        .await;

    // Nothing but enrolment is reachable yet.
    let reply = client.get("/account").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);

    let page = client.get("/enroll").await;
    let account = repo::find_by_login(&t.state.db, "079090001234")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.status, "pending_totp");
    let secret = service::totp_secret(&t.state, &account).unwrap();
    assert!(
        page.body.contains(&secret.display_groups()),
        "secret shown as text"
    );
    assert!(page.body.contains("otpauth://totp/"));
    // The label never carries the full national ID number.
    assert!(!page.body.contains("079090001234"));
    // The secret is not stored in clear.
    assert!(
        !account
            .totp_secret
            .as_ref()
            .unwrap()
            .windows(secret.as_bytes().len())
            .any(|w| w == secret.as_bytes())
    );

    let reply = client.post("/enroll", &[("code", "000000")]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body.contains("wrong or has expired"),
        "{}",
        reply.body
    );
    let still = repo::find_by_login(&t.state.db, "079090001234")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.status, "pending_totp");

    let code = code_for(&t, "079090001234", 0).await;
    let reply = client.post("/enroll", &[("code", &code)]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let codes = recovery_codes_in(&reply.body);
    assert_eq!(codes.len(), 10, "{}", reply.body);
    let active = repo::find_by_login(&t.state.db, "079090001234")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(active.status, "active");
    // Only hashes are stored.
    let stored = repo::unused_recovery_codes(&t.state.db, active.id)
        .await
        .unwrap();
    assert_eq!(stored.len(), 10);
    assert!(
        stored
            .iter()
            .all(|s| !codes.iter().any(|c| s.code_hash.contains(c.as_str())))
    );

    let reply = client.get("/account").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains("Nguyễn Thị Minh Khai"));
}

#[actix_web::test]
async fn login_needs_password_then_a_fresh_totp_code_and_refuses_replays() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    client.post("/logout", &[]).await;
    assert_eq!(client.get("/account").await.status, StatusCode::SEE_OTHER);
    client.lang = Some("en");

    // Wrong password and unknown account answer alike.
    let wrong = login_password(&mut client, "079090001234", "not-the-password-1").await;
    let unknown = login_password(&mut client, "079099999999", "not-the-password-1").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.status, wrong.status);
    assert!(wrong.body.contains("is not correct"));
    assert!(unknown.body.contains("is not correct"));

    let reply = login_password(&mut client, "079090001234", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), "/login/verify");
    // The password alone does not open the account.
    assert_eq!(client.get("/account").await.status, StatusCode::SEE_OTHER);

    let wrong = client.post("/login/verify", &[("code", "123456")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The code used at enrolment (same 30 s step) is refused: no replay.
    let used = code_for(&t, "079090001234", 0).await;
    let replay = client.post("/login/verify", &[("code", &used)]).await;
    assert_eq!(replay.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(replay.body.contains("already been used"), "{}", replay.body);

    // The next step's code (±1 step tolerated) works, once.
    let next = code_for(&t, "079090001234", 1).await;
    let reply = client.post("/login/verify", &[("code", &next)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), "/account");
    assert_eq!(client.get("/account").await.status, StatusCode::OK);

    client.post("/logout", &[]).await;
    t.clock.advance(chrono::Duration::seconds(30));
    login_password(&mut client, "079090001234", PASSWORD).await;
    let again = client.post("/login/verify", &[("code", &next)]).await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "same step again is a replay"
    );
}

#[actix_web::test]
async fn codes_two_steps_away_are_refused() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    client.post("/logout", &[]).await;
    t.clock.advance(chrono::Duration::minutes(2));
    login_password(&mut client, "079090001234", PASSWORD).await;
    for steps in [-2, 2] {
        let code = code_for(&t, "079090001234", steps).await;
        let reply = client.post("/login/verify", &[("code", &code)]).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "step {steps}"
        );
    }
    let code = code_for(&t, "079090001234", -1).await;
    let reply = client.post("/login/verify", &[("code", &code)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn a_recovery_code_logs_in_once() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    let codes = register_citizen(&mut client, &t, "079090001234").await;
    client.post("/logout", &[]).await;

    login_password(&mut client, "079090001234", PASSWORD).await;
    let reply = client
        .post("/login/verify", &[("code", &codes[3].to_uppercase())])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    client.post("/logout", &[]).await;

    login_password(&mut client, "079090001234", PASSWORD).await;
    let reply = client.post("/login/verify", &[("code", &codes[3])]).await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a used recovery code is refused"
    );
    let account = repo::find_by_login(&t.state.db, "079090001234")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        repo::unused_recovery_codes(&t.state.db, account.id)
            .await
            .unwrap()
            .len(),
        9
    );
}

#[actix_web::test]
async fn repeated_failures_lock_the_login_with_growing_back_off() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    client.post("/logout", &[]).await;
    // A browser that never logged in (known devices: tests/api/throttling.rs).
    client.cookies.remove("cds_device");
    client.lang = Some("en");

    for _ in 0..5 {
        let reply = login_password(&mut client, "079090001234", "wrong-password-123").await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Locked now: even the right password is refused, and the page says when to retry.
    let reply = login_password(&mut client, "079090001234", PASSWORD).await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    assert!(reply.body.contains("try again in"), "{}", reply.body);

    // After the lockout the right password works again.
    t.clock.advance(chrono::Duration::minutes(2));
    let reply = login_password(&mut client, "079090001234", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    client.post("/logout", &[]).await;

    let metrics = client.get("/metrics").await.body;
    assert!(
        metrics.contains(r#"congdanso_lockouts_total{kind="account"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"congdanso_login_attempts_total{result="password_failed"} 5"#),
        "{metrics}"
    );
}

#[actix_web::test]
async fn second_factor_guessing_is_throttled_too() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    client.post("/logout", &[]).await;
    login_password(&mut client, "079090001234", PASSWORD).await;
    for guess in ["111111", "222222", "333333", "444444", "555555"] {
        let reply = client.post("/login/verify", &[("code", guess)]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let right = code_for(&t, "079090001234", 1).await;
    let reply = client.post("/login/verify", &[("code", &right)]).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn forms_without_the_csrf_token_are_refused() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    client.get("/register").await;
    let mut fields = registration("079090001234", PASSWORD);
    let reply = client.post_raw("/register", &fields).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    fields.push(("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    let reply = client.post_raw("/register", &fields).await;
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "a token that is not the cookie's"
    );
    assert!(
        repo::find_by_login(&t.state.db, "079090001234")
            .await
            .unwrap()
            .is_none()
    );

    register_citizen(&mut client, &t, "079090001234").await;
    let reply = client.post_raw("/account/sessions/end-all", &[]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        client.get("/account").await.status,
        StatusCode::OK,
        "still logged in"
    );
}

#[actix_web::test]
async fn sessions_end_after_idle_and_absolute_timeouts() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    assert_eq!(client.get("/account").await.status, StatusCode::OK);

    t.clock.advance(chrono::Duration::minutes(31));
    let reply = client.get("/account").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/login?next=%2Faccount");

    // Active use does not extend a session past the absolute limit (12 h).
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    login_password(&mut client, "079090001234", PASSWORD).await;
    let code = code_for(&t, "079090001234", 0).await;
    client.post("/login/verify", &[("code", &code)]).await;
    for _ in 0..25 {
        t.clock.advance(chrono::Duration::minutes(29));
        let status = client.get("/account").await.status;
        if status != StatusCode::OK {
            break;
        }
    }
    assert_eq!(client.get("/account").await.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn log_out_everywhere_ends_every_session() {
    let t = spawn_app().await;
    let mut phone = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut phone, &t, "079090001234").await;
    let mut laptop = Client::new(test::init_service(app(t.state.clone())).await);
    t.clock.advance(chrono::Duration::seconds(30));
    login_password(&mut laptop, "079090001234", PASSWORD).await;
    let code = code_for(&t, "079090001234", 0).await;
    laptop.post("/login/verify", &[("code", &code)]).await;
    assert_eq!(laptop.get("/account").await.status, StatusCode::OK);

    let page = phone.get("/account").await;
    assert!(
        page.body.matches("/end\"").count() >= 1,
        "the other session can be ended"
    );
    let reply = phone.post("/account/sessions/end-all", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(phone.get("/account").await.status, StatusCode::SEE_OTHER);
    assert_eq!(laptop.get("/account").await.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn new_recovery_codes_need_a_fresh_code() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    let old = register_citizen(&mut client, &t, "079090001234").await;

    let reply = client.get("/account/recovery-codes").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(
        reply.location(),
        "/step-up?next=%2Faccount%2Frecovery-codes"
    );
    // Posting directly is refused the same way.
    let reply = client.post("/account/recovery-codes", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);

    client.get("/step-up?next=/account/recovery-codes").await;
    // A recovery code does not count as a step-up.
    let reply = client
        .post(
            "/step-up",
            &[("code", &old[0]), ("next", "/account/recovery-codes")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let code = code_for(&t, "079090001234", 1).await;
    let reply = client
        .post(
            "/step-up",
            &[("code", &code), ("next", "/account/recovery-codes")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/account/recovery-codes");
    assert_eq!(
        client.get("/account/recovery-codes").await.status,
        StatusCode::OK
    );
    let reply = client.post("/account/recovery-codes", &[]).await;
    let new = recovery_codes_in(&reply.body);
    assert_eq!(new.len(), 10);

    // The step-up expires after a few minutes.
    t.clock.advance(chrono::Duration::minutes(6));
    assert_eq!(
        client.get("/account/recovery-codes").await.status,
        StatusCode::SEE_OTHER
    );

    // Old codes no longer work; new ones do.
    client.post("/logout", &[]).await;
    login_password(&mut client, "079090001234", PASSWORD).await;
    let reply = client.post("/login/verify", &[("code", &old[1])]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reply = client.post("/login/verify", &[("code", &new[1])]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn changing_the_password_needs_a_totp_code_and_ends_other_sessions() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    let mut other = Client::new(test::init_service(app(t.state.clone())).await);
    t.clock.advance(chrono::Duration::seconds(30));
    login_password(&mut other, "079090001234", PASSWORD).await;
    let code = code_for(&t, "079090001234", 0).await;
    other.post("/login/verify", &[("code", &code)]).await;

    let new_password = "Song-Han-chay-qua-cau-Rong";
    let reply = client
        .post(
            "/account/password",
            &[
                ("password", new_password),
                ("password_confirm", new_password),
                ("code", "000000"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    t.clock.advance(chrono::Duration::seconds(30));
    let code = code_for(&t, "079090001234", 0).await;
    let reply = client
        .post(
            "/account/password",
            &[
                ("password", new_password),
                ("password_confirm", new_password),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(client.get("/account").await.status, StatusCode::OK);
    assert_eq!(other.get("/account").await.status, StatusCode::SEE_OTHER);

    client.post("/logout", &[]).await;
    let old = login_password(&mut client, "079090001234", PASSWORD).await;
    assert_eq!(old.status, StatusCode::UNPROCESSABLE_ENTITY);
    let new = login_password(&mut client, "079090001234", new_password).await;
    assert_eq!(new.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn housekeeping_forgets_old_sessions_and_throttles() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    client.post("/logout", &[]).await;
    login_password(&mut client, "079090001234", "wrong-password-123").await;
    let report = congdanso::housekeeping::run_once(&t.state).await.unwrap();
    assert_eq!(
        (report.sessions, report.throttles),
        (0, 0),
        "recent rows are kept"
    );
    t.clock.advance(chrono::Duration::days(8));
    let report = congdanso::housekeeping::run_once(&t.state).await.unwrap();
    assert!(report.sessions >= 2, "{report:?}");
    assert!(report.throttles >= 1, "{report:?}");
}
