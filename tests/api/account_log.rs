//! Account events in the account's own access-log chain: a login from a new browser, a
//! password change, new recovery codes, ended sessions; each driven through the real pages,
//! each committed with its change or not at all.

use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::accounts::{repo, service, totp};
use congdanso::audit::service::{EntryView, PageQuery, page};
use congdanso::audit::{Action, Actor, Authorization, Object, Outcome};
use congdanso::auth::Role;
use congdanso::clock::Clock;
use congdanso::startup::app;
use entity::access_log_entry;
use futures_util::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::access::break_the_log;
use uuid::Uuid;

use crate::accounts::{PASSWORD, code_for, recovery_codes_in, register_citizen};
use crate::helpers::{Client, TestApp, spawn_app};
use crate::staff::first_staff_login;

const CITIZEN: &str = "079090001234";
const NEW_PASSWORD: &str = "Song-Han-chay-qua-cau-Rong";

async fn account_id(t: &TestApp, login: &str) -> Uuid {
    repo::find_by_login(&t.state.db, login)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// The account's entries, oldest first, as the log page reads them.
async fn log_of(t: &TestApp, account: Uuid) -> Vec<EntryView> {
    congdanso::audit::service::integrate(&t.state.db, t.state.clock.now())
        .await
        .unwrap();
    let mut entries = page(&t.state, account, &PageQuery::default(), 100)
        .await
        .unwrap()
        .entries;
    entries.reverse();
    entries
}

fn actions(entries: &[EntryView]) -> Vec<Action> {
    entries.iter().filter_map(|e| e.action).collect()
}

/// Every account event is the owner's own act on the account: no purpose, owner's authority.
fn assert_account_event(entry: &EntryView, account: Uuid, action: Action) {
    assert_eq!(entry.action, Some(action));
    assert_eq!(entry.actor, Some(Actor::Citizen { account }));
    assert_eq!(entry.object, Some(Object::Account));
    assert_eq!(entry.authorization, Some(Authorization::Owner));
    assert_eq!(entry.outcome, Some(Outcome::Allowed));
    assert_eq!(entry.purpose, None);
}

/// Password then TOTP code, from whatever browser `client` is.
async fn log_in<S, B>(
    client: &mut Client<S>,
    t: &TestApp,
    login: &str,
    password: &str,
) -> StatusCode
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    // A fresh TOTP step for every login (a used step is refused).
    t.clock.advance(chrono::Duration::seconds(30));
    client.get("/login").await;
    let reply = client
        .post("/login", &[("login", login), ("password", password)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let code = code_for(t, login, 0).await;
    client
        .post("/login/verify", &[("code", &code)])
        .await
        .status
}

#[actix_web::test]
async fn a_login_from_a_new_browser_is_logged_and_a_repeat_login_is_not() {
    let t = spawn_app().await;
    let mut phone = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut phone, &t, CITIZEN).await;
    let account = account_id(&t, CITIZEN).await;
    // Enrolment completes the account's creation: its first authenticator, codes and browser
    // are not changes, so nothing is logged yet.
    assert_eq!(actions(&log_of(&t, account).await), vec![]);

    let mut laptop = Client::new(test::init_service(app(t.state.clone())).await);
    assert!(!laptop.cookies.contains_key("cds_device"));
    assert_eq!(
        log_in(&mut laptop, &t, CITIZEN, PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let log = log_of(&t, account).await;
    assert_eq!(actions(&log), vec![Action::LoginNewDevice]);
    assert_account_event(&log[0], account, Action::LoginNewDevice);

    // The password step alone writes nothing (the login is not complete).
    let mut stranger = Client::new(test::init_service(app(t.state.clone())).await);
    stranger.get("/login").await;
    stranger
        .post("/login", &[("login", CITIZEN), ("password", PASSWORD)])
        .await;
    assert_eq!(log_of(&t, account).await.len(), 1);

    // The same browsers again, after logging out: known devices, no new entry for the login.
    let reply = laptop.post("/logout", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(laptop.cookies.contains_key("cds_device"));
    assert_eq!(
        log_in(&mut laptop, &t, CITIZEN, PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    phone.post("/logout", &[]).await;
    assert_eq!(
        log_in(&mut phone, &t, CITIZEN, PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        actions(&log_of(&t, account).await),
        vec![
            Action::LoginNewDevice,
            Action::SessionsEnd,
            Action::SessionsEnd
        ]
    );

    // A device cookie of another account does not make this browser known here.
    let mut sister = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut sister, &t, "079190004321").await;
    sister.post("/logout", &[]).await;
    assert!(sister.cookies.contains_key("cds_device"));
    assert_eq!(
        log_in(&mut sister, &t, CITIZEN, PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        actions(&log_of(&t, account).await).last(),
        Some(&Action::LoginNewDevice)
    );
    let sister_id = account_id(&t, "079190004321").await;
    assert_eq!(
        actions(&log_of(&t, sister_id).await),
        vec![Action::SessionsEnd]
    );

    // No entry holds the client's address or its browser name.
    congdanso::audit::service::integrate(&t.state.db, t.state.clock.now())
        .await
        .unwrap();
    let rows = access_log_entry::Entity::find()
        .filter(access_log_entry::Column::AccountId.eq(account))
        .all(&t.state.db)
        .await
        .unwrap();
    let address = laptop.peer.ip().to_string();
    for row in rows {
        let text = format!("{row:?}");
        assert!(!text.contains(&address), "{text}");
    }
}

#[actix_web::test]
async fn a_password_change_is_logged_with_it() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, CITIZEN).await;
    let account = account_id(&t, CITIZEN).await;

    // Refused (wrong code): nothing changed, nothing logged.
    let reply = client
        .post(
            "/account/password",
            &[
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
                ("code", "000000"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(log_of(&t, account).await.len(), 0);

    t.clock.advance(chrono::Duration::seconds(30));
    let code = code_for(&t, CITIZEN, 0).await;
    let reply = client
        .post(
            "/account/password",
            &[
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let log = log_of(&t, account).await;
    assert_eq!(actions(&log), vec![Action::PasswordChange]);
    assert_account_event(&log[0], account, Action::PasswordChange);
}

#[actix_web::test]
async fn new_recovery_codes_are_logged_but_not_the_first_set() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    let first = register_citizen(&mut client, &t, CITIZEN).await;
    assert_eq!(first.len(), 10);
    let account = account_id(&t, CITIZEN).await;
    assert_eq!(log_of(&t, account).await.len(), 0);

    // Without a fresh step-up the form is refused and nothing is logged.
    let reply = client.post("/account/recovery-codes", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(log_of(&t, account).await.len(), 0);

    let code = code_for(&t, CITIZEN, 1).await;
    let reply = client.post("/step-up", &[("code", &code)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let reply = client.post("/account/recovery-codes", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let codes = recovery_codes_in(&reply.body);
    assert_eq!(codes.len(), 10);
    let log = log_of(&t, account).await;
    assert_eq!(actions(&log), vec![Action::RecoveryCodesRegenerate]);
    assert_account_event(&log[0], account, Action::RecoveryCodesRegenerate);
    // Not a code, shown or hashed, anywhere in the entry.
    congdanso::audit::service::integrate(&t.state.db, t.state.clock.now())
        .await
        .unwrap();
    let rows = access_log_entry::Entity::find()
        .filter(access_log_entry::Column::AccountId.eq(account))
        .all(&t.state.db)
        .await
        .unwrap();
    let text = format!("{rows:?}");
    for code in &codes {
        assert!(!text.contains(code.as_str()) && !text.contains(&code.replace('-', "")));
    }
}

#[actix_web::test]
async fn ending_sessions_is_logged() {
    let t = spawn_app().await;
    let mut phone = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut phone, &t, CITIZEN).await;
    let account = account_id(&t, CITIZEN).await;
    let mut laptop = Client::new(test::init_service(app(t.state.clone())).await);
    log_in(&mut laptop, &t, CITIZEN, PASSWORD).await;
    assert_eq!(
        actions(&log_of(&t, account).await),
        vec![Action::LoginNewDevice]
    );

    // The phone ends the laptop's session from the list.
    let now = t.clock.now();
    let laptop_session = congdanso::auth::repo::live_for_account(&t.state.db, account, now)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .max()
        .unwrap();
    let reply = phone
        .post(&format!("/account/sessions/{laptop_session}/end"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(laptop.get("/account").await.status, StatusCode::SEE_OTHER);
    // Ending it again (or someone else's) is not found and logs nothing.
    let reply = phone
        .post(&format!("/account/sessions/{laptop_session}/end"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let log = log_of(&t, account).await;
    assert_eq!(
        actions(&log),
        vec![Action::LoginNewDevice, Action::SessionsEnd]
    );
    assert_account_event(&log[1], account, Action::SessionsEnd);

    // A half-finished login (password only) logging out is no act of the owner: no entry.
    let mut stranger = Client::new(test::init_service(app(t.state.clone())).await);
    stranger.get("/login").await;
    stranger
        .post("/login", &[("login", CITIZEN), ("password", PASSWORD)])
        .await;
    let reply = stranger.post("/logout", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(log_of(&t, account).await.len(), 2);

    // Log out everywhere: one entry.
    let reply = phone.post("/account/sessions/end-all", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(phone.get("/account").await.status, StatusCode::SEE_OTHER);
    let log = log_of(&t, account).await;
    assert_eq!(
        actions(&log),
        vec![
            Action::LoginNewDevice,
            Action::SessionsEnd,
            Action::SessionsEnd
        ]
    );
    assert_account_event(&log[2], account, Action::SessionsEnd);
    let report = congdanso::audit::service::verify_database(&t.state.db)
        .await
        .unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[actix_web::test]
async fn a_staff_account_logs_its_own_events_in_its_own_chain() {
    let t = spawn_app().await;
    let (operator, initial) =
        service::create_staff_account(&t.state, Role::Operator, "van.hanh", "Trần Văn Hành", None)
            .await
            .unwrap();
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    first_staff_login(&mut client, &t, "van.hanh", &initial).await;
    t.clock.advance(chrono::Duration::seconds(30));
    let code = code_for(&t, "van.hanh", 0).await;
    let reply = client
        .post(
            "/account/password",
            &[
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let log = log_of(&t, operator.id).await;
    assert_eq!(actions(&log), vec![Action::PasswordChange]);
    assert_account_event(&log[0], operator.id, Action::PasswordChange);
}

#[actix_web::test]
async fn when_the_log_cannot_be_written_the_action_fails_and_changes_nothing() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, CITIZEN).await;
    let account = account_id(&t, CITIZEN).await;
    let mut other = Client::new(test::init_service(app(t.state.clone())).await);
    log_in(&mut other, &t, CITIZEN, PASSWORD).await;
    let before = repo::find_by_login(&t.state.db, CITIZEN)
        .await
        .unwrap()
        .unwrap();
    break_the_log(&t).await;

    t.clock.advance(chrono::Duration::seconds(30));
    let code = code_for(&t, CITIZEN, 0).await;
    let reply = client
        .post(
            "/account/password",
            &[
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        reply.body
    );
    let after = repo::find_by_login(&t.state.db, CITIZEN)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.password_hash, before.password_hash);
    assert_eq!(after.password_changed_at, before.password_changed_at);
    // The other browser's session did not end either.
    assert_eq!(other.get("/account").await.status, StatusCode::OK);

    // Changing the authenticator app fails too, and the old app stays the one.
    let code = code_for(&t, CITIZEN, 1).await;
    let reply = client.post("/step-up", &[("code", &code)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let page = client.get("/account/authenticator").await;
    let (new_app, offer) = offered(&page.body);
    t.clock.advance(chrono::Duration::seconds(60));
    let reply = client
        .post(
            "/account/authenticator",
            &[("code", &code_now(&t, &new_app)), ("offer", &offer)],
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        reply.body
    );
    let after = repo::find_by_login(&t.state.db, CITIZEN)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.totp_secret, before.totp_secret);
    assert_eq!(
        after.totp_last_step,
        Some(t.clock.now().timestamp() / 30 - 1)
    );

    // A login from a new browser fails closed: no full session without its entry.
    let mut tablet = Client::new(test::init_service(app(t.state.clone())).await);
    let status = log_in(&mut tablet, &t, CITIZEN, PASSWORD).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(tablet.get("/account").await.status, StatusCode::SEE_OTHER);
    assert!(!tablet.cookies.contains_key("cds_device"));

    // The old password still logs in (from a known browser, which writes no entry); the new
    // one does not.
    client.cookies.remove("cds_session");
    client.get("/login").await;
    let wrong = client
        .post("/login", &[("login", CITIZEN), ("password", NEW_PASSWORD)])
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        log_in(&mut client, &t, CITIZEN, PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(client.get("/account").await.status, StatusCode::OK);
    assert_eq!(
        actions(&log_of(&t, account).await),
        vec![Action::LoginNewDevice]
    );
}

#[actix_web::test]
async fn one_session_ended_by_many_requests_at_once_is_logged_once() {
    let t = spawn_app().await;
    let mut phone = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut phone, &t, CITIZEN).await;
    let account = account_id(&t, CITIZEN).await;
    let mut laptop = Client::new(test::init_service(app(t.state.clone())).await);
    log_in(&mut laptop, &t, CITIZEN, PASSWORD).await;
    let laptop_session =
        congdanso::auth::repo::live_for_account(&t.state.db, account, t.clock.now())
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .max()
            .unwrap();

    let mut tabs = Vec::new();
    for _ in 0..8 {
        let mut tab = Client::new(test::init_service(app(t.state.clone())).await);
        tab.cookies = phone.cookies.clone();
        tabs.push(tab);
    }
    let path = format!("/account/sessions/{laptop_session}/end");
    let replies = join_all(tabs.iter_mut().map(|tab| tab.post(&path, &[]))).await;
    let ended = replies
        .iter()
        .filter(|r| r.status == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(ended, 1, "exactly one request ends the session");
    assert!(
        replies
            .iter()
            .all(|r| matches!(r.status, StatusCode::SEE_OTHER | StatusCode::NOT_FOUND)),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(
        actions(&log_of(&t, account).await),
        vec![Action::LoginNewDevice, Action::SessionsEnd]
    );
}

#[actix_web::test]
async fn one_pending_login_completed_by_many_requests_at_once_is_one_session_and_one_entry() {
    let t = spawn_app().await;
    let mut phone = Client::new(test::init_service(app(t.state.clone())).await);
    let codes = register_citizen(&mut phone, &t, CITIZEN).await;
    let account = account_id(&t, CITIZEN).await;
    let mut laptop = Client::new(test::init_service(app(t.state.clone())).await);
    laptop.get("/login").await;
    let reply = laptop
        .post("/login", &[("login", CITIZEN), ("password", PASSWORD)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);

    // Four tabs of the same half-finished login, each with a different recovery code (fewer
    // than the second factor's free attempts, so none is refused for speed).
    let mut tabs = Vec::new();
    for _ in 0..4 {
        let mut tab = Client::new(test::init_service(app(t.state.clone())).await);
        tab.cookies = laptop.cookies.clone();
        tabs.push(tab);
    }
    let forms: Vec<[(&str, &str); 1]> = codes.iter().map(|c| [("code", c.as_str())]).collect();
    let replies = join_all(
        tabs.iter_mut()
            .zip(&forms)
            .map(|(tab, form)| tab.post("/login/verify", form)),
    )
    .await;
    let statuses: Vec<StatusCode> = replies.iter().map(|r| r.status).collect();
    let full = congdanso::auth::repo::live_for_account(&t.state.db, account, t.clock.now())
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.stage == "full")
        .count();
    // The phone's session and one new one.
    assert_eq!(
        full,
        2,
        "one pending session became {} full sessions: {statuses:?}",
        full - 1
    );
    assert_eq!(
        actions(&log_of(&t, account).await),
        vec![Action::LoginNewDevice]
    );
}

// ------------------------------------------------------------------ changing the authenticator

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    html.split(start)
        .nth(1)
        .and_then(|rest| rest.split(end).next())
        .expect("marker on the page")
}

/// The secret and the offer the "change authenticator app" page shows.
fn offered(html: &str) -> (totp::TotpSecret, String) {
    let groups = between(html, r#"<code id="totp-secret">"#, "</code>");
    let bytes = totp_rs::Secret::try_from_base32(groups.replace(' ', ""))
        .unwrap()
        .as_bytes()
        .to_vec();
    let offer = between(html, r#"name="offer" value=""#, "\"")
        .replace("&#x2d;", "-")
        .replace("&#45;", "-");
    (totp::TotpSecret::from_bytes(bytes).unwrap(), offer)
}

fn code_now(t: &TestApp, secret: &totp::TotpSecret) -> String {
    totp::code_at(secret, t.clock.now().timestamp() / 30)
}

#[actix_web::test]
async fn changing_the_authenticator_is_logged_and_the_old_app_stops_working() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, CITIZEN).await;
    let account = account_id(&t, CITIZEN).await;
    let before = repo::find_by_login(&t.state.db, CITIZEN)
        .await
        .unwrap()
        .unwrap();
    let old_app = service::totp_secret(&t.state, &before).unwrap();

    // Only after a fresh code of the old app.
    let reply = client.get("/account/authenticator").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/step-up?next=%2Faccount%2Fauthenticator");
    let reply = client
        .post(
            "/account/authenticator",
            &[("code", "123456"), ("offer", "x")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(reply.location().starts_with("/step-up"));
    let code = code_for(&t, CITIZEN, 1).await;
    let reply = client.post("/step-up", &[("code", &code)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);

    let page = client.get("/account/authenticator").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<svg"), "QR code shown inline");
    let (new_app, offer) = offered(&page.body);
    assert_ne!(new_app.as_bytes(), old_app.as_bytes());

    // A wrong code, or a code of the old app: refused, the same secret shown again.
    t.clock.advance(chrono::Duration::seconds(60));
    let old_code = code_now(&t, &old_app);
    let reply = client
        .post(
            "/account/authenticator",
            &[("code", &old_code), ("offer", &offer)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(offered(&reply.body).0.as_bytes(), new_app.as_bytes());
    // An offer edited or made up is not found.
    let mut edited = offer.clone();
    edited.replace_range(10..11, if &offer[10..11] == "A" { "B" } else { "A" });
    let reply = client
        .post(
            "/account/authenticator",
            &[("code", &code_now(&t, &new_app)), ("offer", &edited)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(log_of(&t, account).await.len(), 0);
    let unchanged = repo::find_by_login(&t.state.db, CITIZEN)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged.totp_secret, before.totp_secret);

    let reply = client
        .post(
            "/account/authenticator",
            &[("code", &code_now(&t, &new_app)), ("offer", &offer)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), "/account?done=authenticator");
    let log = log_of(&t, account).await;
    assert_eq!(actions(&log), vec![Action::SecondFactorChange]);
    assert_account_event(&log[0], account, Action::SecondFactorChange);
    // And the security alert is queued with it (nothing was queued by the refusals above).
    let alerts = entity::outbox_message::Entity::find()
        .filter(entity::outbox_message::Column::Kind.eq("notify"))
        .filter(entity::outbox_message::Column::Payload.contains("second_factor.changed"))
        .all(&t.state.db)
        .await
        .unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].destination, account.to_string());

    // From now on only the new app's codes log in.
    client.post("/logout", &[]).await;
    t.clock.advance(chrono::Duration::seconds(30));
    client.get("/login").await;
    client
        .post("/login", &[("login", CITIZEN), ("password", PASSWORD)])
        .await;
    let reply = client
        .post("/login/verify", &[("code", &code_now(&t, &old_app))])
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reply = client
        .post("/login/verify", &[("code", &code_now(&t, &new_app))])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn one_authenticator_offer_sent_many_times_at_once_changes_it_once() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, CITIZEN).await;
    let account = account_id(&t, CITIZEN).await;
    let code = code_for(&t, CITIZEN, 1).await;
    client.post("/step-up", &[("code", &code)]).await;
    let page = client.get("/account/authenticator").await;
    let (new_app, offer) = offered(&page.body);
    t.clock.advance(chrono::Duration::seconds(60));
    let code = code_now(&t, &new_app);

    let mut tabs = Vec::new();
    for _ in 0..4 {
        let mut tab = Client::new(test::init_service(app(t.state.clone())).await);
        tab.cookies = client.cookies.clone();
        tabs.push(tab);
    }
    let form = [("code", code.as_str()), ("offer", offer.as_str())];
    let replies = join_all(
        tabs.iter_mut()
            .map(|tab| tab.post("/account/authenticator", &form)),
    )
    .await;
    let statuses: Vec<StatusCode> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::SEE_OTHER)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        actions(&log_of(&t, account).await),
        vec![Action::SecondFactorChange]
    );
}

#[actix_web::test]
async fn logging_out_works_even_when_the_log_cannot_be_written() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, CITIZEN).await;
    assert_eq!(client.get("/documents").await.status, StatusCode::OK);
    break_the_log(&t).await;
    let kept = client.cookies.clone();
    let reply = client.post("/logout", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    // The session is gone: even its old cookie, sent again, opens nothing any more.
    client.cookies = kept;
    let reply = client.get("/documents").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert!(
        reply.location().starts_with("/login"),
        "{}",
        reply.location()
    );
}
