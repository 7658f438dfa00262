//! QR identity: the citizen's home page shows a signed short-lived token; a clerk scanning it
//! (pasted text, a photo decoded on the server) sees the citizen's name, birth date and masked
//! ID number once; every verification is an access-log entry naming the clerk; replays,
//! changed bytes, expired tokens and unknown handles are refused with their own code; one
//! token verified many times at once (on two instances) succeeds exactly once; a counter
//! session opens from the scan.

use actix_web::http::StatusCode;
use actix_web::test;
use chrono::Duration;
use congdanso::qr::token;
use congdanso::startup::app;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{Client, TestApp, skip, spawn_app, spawn_app_with};
use crate::issuing::{CITIZEN, citizen};
use crate::staff::first_staff_login;

pub(crate) const NAME: &str = "Nguyễn Thị Minh Khai";

/// The failure code the result page states.
pub(crate) fn failure_code(body: &str) -> &str {
    body.split("data-code=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
}

/// The citizen's fresh token, as the refresh script gets it.
async fn token_of<S, B>(me: &mut Client<S>) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let reply = me.get("/qr/token.json").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply
            .headers
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap(),
        "no-store"
    );
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert!(body["svg"].as_str().unwrap().starts_with("<svg"));
    body["token"].as_str().unwrap().to_owned()
}

/// Demo data (the clerk, the agency's `mot-cua` purpose) and a registered citizen.
pub(crate) async fn setup<S, B, C, D>(t: &TestApp, me: &mut Client<S>, clerk: &mut Client<C>)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
    C: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<D>,
            Error = actix_web::Error,
        >,
    D: actix_web::body::MessageBody,
{
    congdanso::demo::seed(&t.state).await.unwrap();
    crate::accounts::register_citizen(me, t, CITIZEN).await;
    first_staff_login(clerk, t, "demo.clerk", congdanso::demo::DEMO_PASSWORD).await;
}

pub(crate) async fn clerk_account(t: &TestApp) -> entity::account::Model {
    congdanso::accounts::repo::find_by_login(&t.state.db, "demo.clerk")
        .await
        .unwrap()
        .unwrap()
}

/// The citizen's access-log entries of action `qr.verify`: (outcome, actor id, authorization).
pub(crate) async fn qr_entries(t: &TestApp) -> Vec<(String, String, String)> {
    entries_of_action(t, "qr.verify").await
}

/// The citizen's access-log entries of `action`: (outcome, actor id, authorization).
pub(crate) async fn entries_of_action(t: &TestApp, action: &str) -> Vec<(String, String, String)> {
    congdanso::audit::service::integrate(&t.state.db, t.state.clock.now())
        .await
        .unwrap();
    let holder = citizen(t).await;
    congdanso::audit::repo::entries_of(&t.state.db, holder.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action.as_deref() == Some(action))
        .map(|e| {
            (
                e.outcome.unwrap_or_default(),
                e.actor_id.unwrap_or_default(),
                e.authorization.unwrap_or_default(),
            )
        })
        .collect()
}

/// A token for `handle`, signed by `key` with the platform key's id of `id_key`.
fn token_for(
    key: &ed25519_dalek::SigningKey,
    key_id: &str,
    handle: [u8; 16],
    issued_at: i64,
    ttl: i64,
) -> String {
    token::issue(
        key,
        &token::Claims {
            version: token::VERSION_PHONE,
            key_id: token::key_id_bytes(key_id).unwrap(),
            handle,
            issued_at,
            expires_at: issued_at + ttl,
            nonce: *Uuid::new_v4().as_bytes(),
        },
    )
}

#[actix_web::test]
async fn a_scanned_token_shows_the_citizen_once_and_every_scan_is_logged_with_the_clerk() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;

    // The home page: the code inline, its expiry stated, a refresh that needs no script.
    let home = me.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains(r#"class="qr-code""#), "{}", home.body);
    assert!(
        home.body.contains("Mã hết hạn lúc 15:02:00"),
        "{}",
        home.body
    );
    assert!(home.body.contains(r#"<form method="get" action="/qr">"#));
    assert_eq!(
        home.headers.get("cache-control").unwrap().to_str().unwrap(),
        "no-store"
    );
    assert!(
        !home.body.contains(CITIZEN),
        "the ID number is not on the page"
    );
    let refresh = me.get("/qr").await;
    assert_eq!(refresh.status, StatusCode::SEE_OTHER);

    let text = token_of(&mut me).await;
    // The token names the random handle, never the national ID number.
    let parsed = token::parse(&text).unwrap();
    assert!(!hex::encode(parsed.claims.handle).contains(CITIZEN));
    assert_eq!(parsed.claims.expires_at - parsed.claims.issued_at, 120);

    let form = clerk.get("/staff/scan").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains(r#"accept="image/*""#) && form.body.contains("capture"));
    let staff_home = clerk.get("/staff").await;
    assert!(staff_home.body.contains(r#"href="/staff/scan""#));

    let reply = clerk.post("/staff/scan", &[("token", &text)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.contains(NAME), "{}", reply.body);
    assert!(reply.body.contains("17/05/1999"), "{}", reply.body);
    assert!(reply.body.contains("0010******23"), "{}", reply.body);
    assert!(!reply.body.contains(CITIZEN));
    // The counter open form, with the scan as its origin.
    assert!(reply.body.contains(r#"name="scan""#), "{}", reply.body);

    // The same token again (a screenshot): refused, with its own message.
    let again = clerk.post("/staff/scan", &[("token", &text)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(failure_code(&again.body), "qr_already_used");
    assert!(again.body.contains("đã được dùng"), "{}", again.body);
    assert!(!again.body.contains(NAME));

    let staff = clerk_account(&t).await;
    let entries = qr_entries(&t).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0].0, "allowed");
    assert_eq!(entries[0].1, staff.id.to_string());
    assert!(entries[0].2.starts_with("scan:"), "{entries:?}");
    assert_eq!(
        (entries[1].0.as_str(), entries[1].2.as_str()),
        ("denied", "qr_token")
    );
    assert_eq!(entries[1].1, staff.id.to_string());

    // The citizen reads it in plain words on their access log.
    let log = me.get("/access-log").await;
    assert!(
        log.body.contains("xác minh danh tính của bạn bằng mã QR"),
        "{}",
        log.body
    );
}

#[actix_web::test]
async fn expired_forged_malformed_and_unknown_tokens_are_refused_each_with_its_code() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    clerk.lang = Some("en");

    // Expired: valid 120 s, plus 30 s of allowed clock skew.
    let text = token_of(&mut me).await;
    t.clock.advance(Duration::seconds(150));
    let text_fresh = token_of(&mut me).await;
    t.clock.advance(Duration::seconds(1));
    let reply = clerk.post("/staff/scan", &[("token", &text)]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(failure_code(&reply.body), "qr_expired");
    assert!(reply.body.contains("has expired"), "{}", reply.body);

    // Any changed character of the Base45 text: refused, never accepted.
    let chars: Vec<char> = text_fresh.chars().collect();
    for i in [5, 20, 90, chars.len() - 1] {
        let mut changed = chars.clone();
        changed[i] = if changed[i] == 'A' { 'B' } else { 'A' };
        let changed: String = changed.into_iter().collect();
        let reply = clerk.post("/staff/scan", &[("token", &changed)]).await;
        let code = failure_code(&reply.body).to_owned();
        assert!(
            code == "qr_forged" || code == "qr_malformed",
            "char {i}: {code} {}",
            reply.body
        );
    }
    let reply = clerk
        .post("/staff/scan", &[("token", &text_fresh[1..])])
        .await;
    assert_eq!(failure_code(&reply.body), "qr_malformed");
    assert!(reply.body.contains("not a Công dân số"), "{}", reply.body);

    // Signed by a key that is not the platform's, even claiming its id: forged.
    let handle = token::parse(&text_fresh).unwrap().claims.handle;
    let now = t.state.clock.now().timestamp();
    let other = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let forged = token_for(&other, t.state.keys.signing.id(), handle, now, 120);
    let reply = clerk.post("/staff/scan", &[("token", &forged)]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(failure_code(&reply.body), "qr_forged");
    assert!(
        reply.body.contains("altered or not issued"),
        "{}",
        reply.body
    );

    // Properly signed, naming no citizen.
    let unknown = token_for(
        t.state.keys.signing.signing_key(),
        t.state.keys.signing.id(),
        [0x5a; 16],
        now,
        120,
    );
    let reply = clerk.post("/staff/scan", &[("token", &unknown)]).await;
    assert_eq!(failure_code(&reply.body), "qr_unknown_handle");

    // An empty form: the field says so.
    let reply = clerk.post("/staff/scan", &[("token", "  ")]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body.contains(r#"id="f-token-error""#),
        "{}",
        reply.body
    );

    // The fresh token still works (the refused attempts did not use it up), and a clerk is
    // required: the citizen cannot verify tokens.
    let reply = clerk.post("/staff/scan", &[("token", &text_fresh)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // (another role is answered like a missing page)
    let reply = me.post("/staff/scan", &[("token", &text_fresh)]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    // Each refusal that named the citizen is in their chain (expired, forged changes that
    // kept the handle, the forged key), the success too; the unknown handle is in nobody's.
    let entries = qr_entries(&t).await;
    assert_eq!(
        entries.iter().filter(|e| e.0 == "allowed").count(),
        1,
        "{entries:?}"
    );
    assert!(entries.iter().filter(|e| e.0 == "denied").count() >= 2);
}

#[actix_web::test]
async fn a_photo_of_the_code_is_decoded_on_the_server() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let text = token_of(&mut me).await;
    let png = congdanso::qr::render::png(&text, 6).unwrap();
    let reply = clerk
        .post_multipart_as("/staff/scan/photo", &[], "photo", Some(("qr.png", &png)))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.contains(NAME));

    // Not a QR code: said so next to the field.
    let reply = clerk
        .post_multipart_as(
            "/staff/scan/photo",
            &[],
            "photo",
            Some(("x.png", b"\x89PNG\r\n\x1a\nnot really")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body.contains(r#"id="f-photo-error""#),
        "{}",
        reply.body
    );
}

/// Twenty verifications of one token at once, half on a second instance sharing the database
/// and keys: exactly one shows the citizen, nineteen are `qr_already_used`, and the log holds
/// one allowed and nineteen denied `qr.verify` entries.
async fn one_token_many_verifications(t: TestApp) {
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let text = token_of(&mut me).await;
    let second = t.second_instance().await;
    let staff = clerk_account(&t).await;
    let agency = staff.agency_id.unwrap();
    let attempts = (0..20).map(|i| {
        let state = if i % 2 == 0 { &t.state } else { &second };
        congdanso::qr::service::verify(state, staff.id, agency, &text)
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let ok = outcomes.iter().filter(|o| matches!(o, Ok(Ok(_)))).count();
    let used = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Err(congdanso::qr::service::Failure::AlreadyUsed))))
        .count();
    assert_eq!((ok, used), (1, 19), "{outcomes:?}");
    let entries = qr_entries(&t).await;
    let allowed = entries.iter().filter(|e| e.0 == "allowed").count();
    let denied = entries.iter().filter(|e| e.0 == "denied").count();
    assert_eq!((allowed, denied), (1, 19), "{entries:?}");
}

#[actix_web::test]
async fn one_token_verified_twenty_times_at_once_on_two_instances_succeeds_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let t = crate::helpers::concurrent_sqlite_app(&dir).await;
    one_token_many_verifications(t).await;
}

#[actix_web::test]
async fn one_token_verified_twenty_times_at_once_on_two_instances_succeeds_once_on_postgres() {
    let Some(t) = crate::helpers::concurrent_postgres_app(
        "one_token_verified_twenty_times_at_once_on_two_instances_succeeds_once_on_postgres",
    )
    .await
    else {
        return;
    };
    one_token_many_verifications(t).await;
}

#[actix_web::test]
async fn a_counter_session_opens_from_a_scan_for_that_clerk_only_while_it_is_fresh() {
    // Sessions outlive the scan's 30 minutes here, so the scan's age is what is refused.
    let t = spawn_app_with(&[("SESSION_IDLE_MINUTES", "120")]).await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let text = token_of(&mut me).await;
    let reply = clerk.post("/staff/scan", &[("token", &text)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let scan = reply
        .body
        .split(r#"name="scan" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let open = |scan: String| {
        vec![
            ("scan".to_owned(), scan),
            ("procedure".to_owned(), crate::counter::PROCEDURE.to_owned()),
        ]
    };
    let fields = open(scan.clone());
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let reply = clerk.post("/staff/counter/sessions", &fields).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let session = reply.location().to_owned();
    assert!(session.starts_with("/staff/counter/sessions/"));
    // A second click: the same session.
    let reply = clerk.post("/staff/counter/sessions", &fields).await;
    assert_eq!(reply.location(), session);
    let row = congdanso::counter::repo::find(
        &t.state.db,
        Uuid::parse_str(session.trim_start_matches("/staff/counter/sessions/")).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(row.origin_kind, "scan");
    assert_eq!(row.citizen_id, citizen(&t).await.id);
    // The citizen has the counter's request in their inbox.
    crate::counter::counter_request(&t).await;

    // A scan id that is not a scan: missing.
    let fields = open(Uuid::now_v7().to_string());
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let reply = clerk.post("/staff/counter/sessions", &fields).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    // A new scan, then 30 minutes pass: too old to open a session from.
    let text = token_of(&mut me).await;
    let reply = clerk.post("/staff/scan", &[("token", &text)]).await;
    let scan = reply
        .body
        .split(r#"name="scan" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    t.clock.advance(Duration::minutes(30));
    let fields = open(scan);
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let reply = clerk.post("/staff/counter/sessions", &fields).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
}

/// The rendered PNG is read back by an independent decoder (zbar), to the same text.
#[actix_web::test]
async fn zbarimg_reads_the_rendered_code_back_to_the_same_token() {
    let zbar = std::path::Path::new("/usr/bin/zbarimg");
    if !zbar.exists() {
        skip(
            "zbarimg_reads_the_rendered_code_back_to_the_same_token",
            "zbarimg not installed (Debian package zbar-tools)",
        );
        return;
    }
    let t = spawn_app().await;
    let holder_key = t.state.keys.signing.signing_key();
    let text = token_for(
        holder_key,
        t.state.keys.signing.id(),
        [0x42; 16],
        t.state.clock.now().timestamp(),
        120,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("qr.png");
    std::fs::write(&file, congdanso::qr::render::png(&text, 4).unwrap()).unwrap();
    let output = std::process::Command::new(zbar)
        .args(["--raw", "-q"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let read = String::from_utf8(output.stdout).unwrap();
    assert_eq!(read.trim_end_matches('\n'), text);
}

/// `congdanso qr verify`: offline, with only the platform's public key — valid, changed,
/// expired, another platform's key.
#[actix_web::test]
async fn the_offline_cli_checks_signature_and_expiry_with_only_the_public_key() {
    use base64::Engine;
    use congdanso::clock::Clock;
    let t = spawn_app().await;
    let signing = &t.state.keys.signing;
    let public =
        base64::engine::general_purpose::STANDARD.encode(signing.verifying_key().as_bytes());
    let now = congdanso::clock::SystemClock.now().timestamp();
    let good = token_for(signing.signing_key(), signing.id(), [0x42; 16], now, 120);
    let run = |text: String, key: String| async move {
        let mut command = crate::verify::cli();
        command.args(["qr", "verify", &text, "--platform-key", &key, "--json"]);
        crate::verify::run(&mut command).await
    };
    let (code, out, err) = run(good.clone(), public.clone()).await;
    assert_eq!(code, 0, "{out} {err}");
    let body: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["valid"], true);
    assert_eq!(body["handle"], hex::encode([0x42u8; 16]));
    assert_eq!(body["key_id"], signing.id());

    let mut changed: Vec<char> = good.chars().collect();
    changed[40] = if changed[40] == 'A' { 'B' } else { 'A' };
    let (code, out, _) = run(changed.into_iter().collect(), public.clone()).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("qr_forged") || out.contains("qr_malformed"),
        "{out}"
    );

    let old = token_for(
        signing.signing_key(),
        signing.id(),
        [0x42; 16],
        now - 3600,
        120,
    );
    let (code, out, _) = run(old, public).await;
    assert_eq!((code, out.contains("qr_expired")), (1, true), "{out}");

    let other = base64::engine::general_purpose::STANDARD.encode(
        ed25519_dalek::SigningKey::from_bytes(&[9u8; 32])
            .verifying_key()
            .as_bytes(),
    );
    let (code, out, _) = run(good, other).await;
    assert_eq!((code, out.contains("qr_forged")), (1, true), "{out}");
}
