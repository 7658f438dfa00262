//! Printed QR cards (token v2): a long-lived signed card for people without a smartphone, each
//! with a unique status index; a card is never accepted where only a phone token is (it proves
//! identity only with a one-time code); offline, a card's status is "unknown" without a status
//! list, never "valid".

use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::qr::{service, token};
use congdanso::startup::app;
use serde_json::Value;

use crate::helpers::{Client, TestApp, spawn_app, spawn_app_with};
use crate::issuing::citizen;
use crate::qr::{clerk_account, entries_of_action, failure_code, qr_entries, setup};

#[actix_web::test]
async fn a_card_is_a_year_long_v2_token_and_the_scan_asks_for_its_one_time_code() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let holder = citizen(&t).await;
    let issued = service::issue_card(&t.state, &holder).await.unwrap();
    let parsed = token::parse(&issued.text).unwrap();
    assert_eq!(parsed.claims.version, token::VERSION_CARD);
    assert_eq!(
        parsed.claims.expires_at - parsed.claims.issued_at,
        365 * 24 * 3600
    );
    assert_eq!(hex::encode(parsed.claims.card_id()), issued.card.id);
    assert_eq!(
        i64::from(parsed.claims.status_index()),
        issued.card.status_index
    );
    // Shown again, the same card gives the same text.
    assert_eq!(
        service::card_text(&t.state, &holder, &issued.card)
            .await
            .unwrap(),
        issued.text
    );

    // At the scan, a card is not enough: the code is asked for (twice: it is not single use,
    // so the second time is not "already used" either), and the citizen is not shown.
    for _ in 0..2 {
        let reply = clerk.post("/staff/scan", &[("token", &issued.text)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(
            reply.body.contains(r#"action="/staff/scan/card""#),
            "{}",
            reply.body
        );
        assert!(reply.body.contains(&issued.text));
        assert!(!reply.body.contains(crate::qr::NAME), "{}", reply.body);
    }
    assert!(qr_entries(&t).await.is_empty());
}

#[actix_web::test]
async fn the_card_validity_follows_congdanso_qr_card_days() {
    let t = spawn_app_with(&[("CONGDANSO_QR_CARD_DAYS", "30")]).await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let holder = citizen(&t).await;
    let issued = service::issue_card(&t.state, &holder).await.unwrap();
    assert_eq!(
        issued.card.expires_at - issued.card.issued_at,
        chrono::Duration::days(30)
    );
}

/// Twenty cards issued at once, half on a second instance sharing the database: twenty
/// distinct status indexes, 0..20.
async fn many_cards_at_once(t: TestApp) {
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let holder = citizen(&t).await;
    let second = t.second_instance().await;
    let attempts = (0..20).map(|i| {
        let state = if i % 2 == 0 { &t.state } else { &second };
        service::issue_card(state, &holder)
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let mut indexes: Vec<i64> = outcomes
        .into_iter()
        .map(|o| o.unwrap().card.status_index)
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, (0..20).collect::<Vec<i64>>());
}

#[actix_web::test]
async fn twenty_cards_issued_at_once_on_two_instances_get_distinct_indexes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let t = crate::helpers::concurrent_sqlite_app(&dir).await;
    many_cards_at_once(t).await;
}

#[actix_web::test]
async fn twenty_cards_issued_at_once_on_two_instances_get_distinct_indexes_on_postgres() {
    let Some(t) = crate::helpers::concurrent_postgres_app(
        "twenty_cards_issued_at_once_on_two_instances_get_distinct_indexes_on_postgres",
    )
    .await
    else {
        return;
    };
    many_cards_at_once(t).await;
}

/// `congdanso qr verify` on a card without a status list: status unknown (exit 3), never
/// valid.
#[actix_web::test]
async fn the_offline_cli_reports_a_card_without_status_list_as_status_unknown() {
    use base64::Engine;
    use congdanso::clock::Clock;
    let t = spawn_app().await;
    let signing = &t.state.keys.signing;
    let public =
        base64::engine::general_purpose::STANDARD.encode(signing.verifying_key().as_bytes());
    let now = congdanso::clock::SystemClock.now().timestamp();
    let card = token::issue(
        signing.signing_key(),
        &token::Claims {
            version: token::VERSION_CARD,
            key_id: token::key_id_bytes(signing.id()).unwrap(),
            handle: [0x42; 16],
            issued_at: now,
            expires_at: now + 365 * 86_400,
            nonce: token::Claims::card_nonce(&[7; token::CARD_ID_LEN], 5),
        },
    );
    let mut command = crate::verify::cli();
    command.args(["qr", "verify", &card, "--platform-key", &public, "--json"]);
    let (code, out, err) = crate::verify::run(&mut command).await;
    assert_eq!(code, 3, "{out} {err}");
    let body: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["valid"], Value::Null);
    assert_eq!(body["code"], "qr_status_unknown");
    assert_eq!(body["status_index"], 5);
    // A forged card is still plainly not valid.
    let mut changed: Vec<char> = card.chars().collect();
    changed[40] = if changed[40] == 'A' { 'B' } else { 'A' };
    let mut command = crate::verify::cli();
    let changed: String = changed.into_iter().collect();
    command.args([
        "qr",
        "verify",
        &changed,
        "--platform-key",
        &public,
        "--json",
    ]);
    let (code, out, _) = crate::verify::run(&mut command).await;
    assert_eq!(code, 1, "{out}");
}

/// The six digits the card page shows once.
fn shown_code(body: &str) -> String {
    body.split(r#"id="qr-card-code">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or("")
        .to_owned()
}

async fn only_cards(t: &TestApp) -> Vec<entity::qr_card::Model> {
    let holder = citizen(t).await;
    congdanso::qr::repo::cards_of(&t.state.db, holder.id)
        .await
        .unwrap()
}

#[actix_web::test]
async fn the_citizen_issues_a_card_after_step_up_gets_one_time_codes_and_reports_it_lost() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;

    let home = me.get("/").await;
    assert!(home.body.contains(r#"href="/qr/card""#), "{}", home.body);
    let page = me.get("/qr/card").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Thẻ QR in"), "{}", page.body);
    assert!(page.body.contains(r#"action="/qr/card""#));

    // Issuing needs a fresh second factor: sent to the step-up, nothing issued.
    let reply = me.post("/qr/card", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(
        reply.location().starts_with("/step-up"),
        "{}",
        reply.location()
    );
    assert!(only_cards(&t).await.is_empty());

    crate::staff::step_up(&mut me, &t, crate::issuing::CITIZEN).await;
    let reply = me.post("/qr/card", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/qr/card");
    // A second press while the card is in use issues nothing new.
    me.post("/qr/card", &[]).await;
    let cards = only_cards(&t).await;
    assert_eq!(cards.len(), 1);
    let card = cards[0].clone();

    // The printable card: the QR code, the name, the validity; no ID number.
    let page = me.get("/qr/card").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<svg"), "{}", page.body);
    assert!(page.body.contains(crate::qr::NAME), "{}", page.body);
    assert!(page.body.contains("Có giá trị đến ngày"), "{}", page.body);
    assert!(!page.body.contains(crate::issuing::CITIZEN));
    assert_eq!(
        page.headers.get("cache-control").unwrap().to_str().unwrap(),
        "no-store"
    );

    // A one-time code: six digits, shown once, stored only as SHA-256(card id || code).
    let reply = me.post("/qr/card/code", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let first = shown_code(&reply.body);
    assert!(
        first.len() == 6 && first.chars().all(|c| c.is_ascii_digit()),
        "{first:?}"
    );
    let stored = only_cards(&t).await[0].clone();
    let hash = stored.code_hash.clone().unwrap();
    assert_eq!(hash, service::code_hash(&card.id, &first).unwrap());
    assert_eq!(
        stored.code_expires_at.unwrap(),
        t.state.clock.now() + chrono::Duration::minutes(10)
    );
    assert!(
        !me.get("/qr/card").await.body.contains(&first),
        "shown only once"
    );
    // A new code replaces the old one.
    let second = shown_code(&me.post("/qr/card/code", &[]).await.body);
    let stored = only_cards(&t).await[0].clone();
    assert_eq!(
        stored.code_hash.unwrap(),
        service::code_hash(&card.id, &second).unwrap()
    );

    // Report lost: one confirmation saying the card stops at once, then revoked.
    let confirm = me.post("/qr/card/revoke", &[]).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(
        confirm.body.contains("ngừng hoạt động ngay"),
        "{}",
        confirm.body
    );
    assert!(only_cards(&t).await[0].revoked_at.is_none());
    let reply = me.post("/qr/card/revoke", &[("confirm", "yes")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let revoked = only_cards(&t).await[0].clone();
    let holder = citizen(&t).await;
    assert_eq!(revoked.revoked_at, Some(t.state.clock.now()));
    assert_eq!(revoked.revoked_by, Some(holder.id));
    // No code for a revoked card.
    assert_eq!(
        me.post("/qr/card/code", &[]).await.status,
        StatusCode::NOT_FOUND
    );

    // A new card after the loss: a new status index.
    let page = me.get("/qr/card").await;
    assert!(page.body.contains(r#"action="/qr/card""#));
    me.post("/qr/card", &[]).await;
    let cards = only_cards(&t).await;
    assert_eq!(cards.len(), 2);
    let fresh = cards.iter().find(|c| c.revoked_at.is_none()).unwrap();
    assert_ne!(fresh.status_index, revoked.status_index);
}

#[actix_web::test]
async fn reporting_a_card_lost_needs_the_step_up() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let holder = citizen(&t).await;
    service::issue_card(&t.state, &holder).await.unwrap();
    let reply = me.post("/qr/card/revoke", &[("confirm", "yes")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(
        reply.location().starts_with("/step-up"),
        "{}",
        reply.location()
    );
    assert!(only_cards(&t).await[0].revoked_at.is_none());
}

#[actix_web::test]
async fn a_card_with_its_one_time_code_verifies_once_wrong_codes_are_refused_and_logged() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let holder = citizen(&t).await;
    let issued = service::issue_card(&t.state, &holder).await.unwrap();
    // No code yet: void.
    let reply = clerk
        .post(
            "/staff/scan/card",
            &[("token", &issued.text), ("code", "123456")],
        )
        .await;
    assert_eq!(failure_code(&reply.body), "qr_code_void");
    let (_, code) = service::new_code(&t.state, &holder).await.unwrap();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let reply = clerk
        .post(
            "/staff/scan/card",
            &[("token", &issued.text), ("code", wrong)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(failure_code(&reply.body), "qr_code_wrong");
    assert!(!reply.body.contains(crate::qr::NAME));
    let reply = clerk
        .post(
            "/staff/scan/card",
            &[("token", &issued.text), ("code", &code)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.contains(crate::qr::NAME), "{}", reply.body);
    assert!(reply.body.contains("0010******23"), "{}", reply.body);
    assert!(reply.body.contains(r#"name="scan""#), "{}", reply.body);
    // Used once: the same code again is void.
    let again = clerk
        .post(
            "/staff/scan/card",
            &[("token", &issued.text), ("code", &code)],
        )
        .await;
    assert_eq!(failure_code(&again.body), "qr_code_void");
    assert!(!again.body.contains(crate::qr::NAME));

    // Reported lost: refused as revoked, even with a good code.
    let (_, code) = service::new_code(&t.state, &holder).await.unwrap();
    service::revoke_own_card(&t.state, &holder).await.unwrap();
    let reply = clerk.post("/staff/scan", &[("token", &issued.text)]).await;
    assert_eq!(failure_code(&reply.body), "qr_revoked");
    let reply = clerk
        .post(
            "/staff/scan/card",
            &[("token", &issued.text), ("code", &code)],
        )
        .await;
    assert_eq!(failure_code(&reply.body), "qr_revoked");

    let staff = clerk_account(&t).await;
    let entries = qr_entries(&t).await;
    let outcomes: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        outcomes,
        ["denied", "denied", "allowed", "denied", "denied", "denied"],
        "{entries:?}"
    );
    assert!(entries.iter().all(|e| e.1 == staff.id.to_string()));
    assert!(entries[2].2.starts_with("scan:"), "{entries:?}");
}

#[actix_web::test]
async fn five_wrong_codes_void_the_code() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let holder = citizen(&t).await;
    let issued = service::issue_card(&t.state, &holder).await.unwrap();
    let (_, code) = service::new_code(&t.state, &holder).await.unwrap();
    let wrong = if code == "999999" { "999998" } else { "999999" };
    for _ in 0..5 {
        let reply = clerk
            .post(
                "/staff/scan/card",
                &[("token", &issued.text), ("code", wrong)],
            )
            .await;
        assert_eq!(failure_code(&reply.body), "qr_code_wrong");
    }
    let reply = clerk
        .post(
            "/staff/scan/card",
            &[("token", &issued.text), ("code", &code)],
        )
        .await;
    assert_eq!(failure_code(&reply.body), "qr_code_void", "{}", reply.body);
    assert!(!reply.body.contains(crate::qr::NAME));
    // A new code works again.
    let (_, code) = service::new_code(&t.state, &holder).await.unwrap();
    let reply = clerk
        .post(
            "/staff/scan/card",
            &[("token", &issued.text), ("code", &code)],
        )
        .await;
    assert!(reply.body.contains(crate::qr::NAME), "{}", reply.body);
}

/// Ten submissions of one good code at once, half on a second instance: one success.
async fn one_code_many_submissions(t: TestApp) {
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let holder = citizen(&t).await;
    let issued = service::issue_card(&t.state, &holder).await.unwrap();
    let (_, code) = service::new_code(&t.state, &holder).await.unwrap();
    let second = t.second_instance().await;
    let staff = clerk_account(&t).await;
    let agency = staff.agency_id.unwrap();
    let attempts = (0..10).map(|i| {
        let state = if i % 2 == 0 { &t.state } else { &second };
        service::verify_with_code(state, staff.id, agency, &issued.text, Some(&code))
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let ok = outcomes.iter().filter(|o| matches!(o, Ok(Ok(_)))).count();
    let void = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Err(service::Failure::CodeVoid))))
        .count();
    assert_eq!((ok, void), (1, 9), "{outcomes:?}");
    let entries = qr_entries(&t).await;
    let allowed = entries.iter().filter(|e| e.0 == "allowed").count();
    let denied = entries.iter().filter(|e| e.0 == "denied").count();
    assert_eq!((allowed, denied), (1, 9), "{entries:?}");
}

/// Thirty guesses at once, over two instances, the right code among them: only five are ever
/// compared (each try is taken before the comparison), the others find the code void.
async fn many_guesses_at_once(t: TestApp) {
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let holder = citizen(&t).await;
    let issued = service::issue_card(&t.state, &holder).await.unwrap();
    let (_, code) = service::new_code(&t.state, &holder).await.unwrap();
    let second = t.second_instance().await;
    let staff = clerk_account(&t).await;
    let agency = staff.agency_id.unwrap();
    let right: u32 = code.parse().unwrap();
    let guesses: Vec<String> = (0..30)
        .map(|i| {
            if i == 29 {
                code.to_string()
            } else {
                format!("{:06}", (right + 1 + i) % 1_000_000)
            }
        })
        .collect();
    let attempts = guesses.iter().enumerate().map(|(i, guess)| {
        let state = if i % 2 == 0 { &t.state } else { &second };
        service::verify_with_code(state, staff.id, agency, &issued.text, Some(guess))
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let compared = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Ok(_)) | Ok(Err(service::Failure::WrongCode))))
        .count();
    let void = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Err(service::Failure::CodeVoid))))
        .count();
    assert!(compared <= 5, "at most five tries compared: {outcomes:?}");
    assert_eq!(compared + void, 30, "{outcomes:?}");
    // And the code is spent: the right one now finds it void.
    let after =
        service::verify_with_code(&t.state, staff.id, agency, &issued.text, Some(&code)).await;
    assert!(
        matches!(after, Ok(Err(service::Failure::CodeVoid))),
        "{after:?}"
    );
}

#[actix_web::test]
async fn thirty_guesses_at_once_get_five_tries_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let t = crate::helpers::concurrent_sqlite_app(&dir).await;
    many_guesses_at_once(t).await;
}

#[actix_web::test]
async fn thirty_guesses_at_once_get_five_tries_on_postgres() {
    let Some(t) = crate::helpers::concurrent_postgres_app(
        "thirty_guesses_at_once_get_five_tries_on_postgres",
    )
    .await
    else {
        return;
    };
    many_guesses_at_once(t).await;
}

#[actix_web::test]
async fn one_card_code_submitted_ten_times_at_once_succeeds_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let t = crate::helpers::concurrent_sqlite_app(&dir).await;
    one_code_many_submissions(t).await;
}

#[actix_web::test]
async fn one_card_code_submitted_ten_times_at_once_succeeds_once_on_postgres() {
    let Some(t) = crate::helpers::concurrent_postgres_app(
        "one_card_code_submitted_ten_times_at_once_succeeds_once_on_postgres",
    )
    .await
    else {
        return;
    };
    one_code_many_submissions(t).await;
}

#[actix_web::test]
async fn the_signed_status_list_sets_the_bit_of_a_revoked_card_only() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let holder = citizen(&t).await;
    let lost = service::issue_card(&t.state, &holder).await.unwrap();
    service::revoke_own_card(&t.state, &holder).await.unwrap();
    let kept = service::issue_card(&t.state, &holder).await.unwrap();
    let reply = me.get("/.well-known/congdanso/qr/status").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply
            .headers
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap(),
        "public, max-age=3600"
    );
    let document: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(document["key_id"], t.state.keys.signing.id());
    let checked =
        congdanso::qr::status::check(&document, &t.state.keys.signing.verifying_key()).unwrap();
    assert_eq!(checked.bits.len(), 16_384);
    let bit = |card: &service::IssuedCard| {
        congdanso::qr::status::is_set(
            &checked.bits,
            u32::try_from(card.card.status_index).unwrap(),
        )
    };
    assert!(bit(&lost));
    assert!(!bit(&kept));
    assert_eq!(checked.bits.iter().map(|b| b.count_ones()).sum::<u32>(), 1);
}

#[actix_web::test]
async fn the_offline_cli_checks_a_card_against_a_fresh_signed_status_list() {
    use base64::Engine;
    use congdanso::clock::Clock;
    let t = spawn_app().await;
    let signing = &t.state.keys.signing;
    let public =
        base64::engine::general_purpose::STANDARD.encode(signing.verifying_key().as_bytes());
    let real_now = congdanso::clock::SystemClock.now();
    let now = real_now.timestamp();
    let card = |index: u32| {
        token::issue(
            signing.signing_key(),
            &token::Claims {
                version: token::VERSION_CARD,
                key_id: token::key_id_bytes(signing.id()).unwrap(),
                handle: [0x42; 16],
                issued_at: now,
                expires_at: now + 365 * 86_400,
                nonce: token::Claims::card_nonce(&[7; token::CARD_ID_LEN], index),
            },
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, issued_at, key: &ed25519_dalek::SigningKey| {
        let list =
            congdanso::qr::status::document(key, signing.id(), issued_at, &[9, 70_000]).unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec(&list).unwrap()).unwrap();
        path.display().to_string()
    };
    let fresh = write("fresh.json", real_now, signing.signing_key());
    let run = |token: String, list: String| {
        let public = public.clone();
        async move {
            let mut command = crate::verify::cli();
            command.args([
                "qr",
                "verify",
                &token,
                "--platform-key",
                &public,
                "--status-list",
                &list,
                "--json",
            ]);
            let (code, out, err) = crate::verify::run(&mut command).await;
            (code, out, err)
        }
    };
    // Not in the list: valid; in it: revoked.
    let (code, out, err) = run(card(5), fresh.clone()).await;
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["valid"], true);
    let (code, out, _) = run(card(70_000), fresh.clone()).await;
    assert_eq!(code, 1, "{out}");
    let body: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["valid"], false);
    assert_eq!(body["code"], "qr_revoked");
    // Too old, or signed by another key: neither valid nor revoked, status unknown.
    let stale = write(
        "stale.json",
        real_now - chrono::Duration::hours(2),
        signing.signing_key(),
    );
    let other = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let forged = write("forged.json", real_now, &other);
    for (list, why) in [(stale, "stale"), (forged, "another key")] {
        for index in [5, 70_000] {
            let (code, out, _) = run(card(index), list.clone()).await;
            assert_eq!(code, 3, "{why} {index}: {out}");
            let body: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(body["valid"], Value::Null, "{why}");
            assert_eq!(body["code"], "qr_status_unknown", "{why}");
        }
    }
}

async fn sms_rows(t: &TestApp) -> Vec<entity::outbox_message::Model> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entity::outbox_message::Entity::find()
        .filter(entity::outbox_message::Column::Kind.eq("sms"))
        .all(&t.state.db)
        .await
        .unwrap()
}

/// The six digits after "là " / "is " in an SMS text.
fn code_in(text: &str) -> String {
    let digits: Vec<String> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| w.len() == 6)
        .map(str::to_owned)
        .collect();
    assert_eq!(digits.len(), 1, "{text}");
    digits[0].clone()
}

#[actix_web::test]
async fn a_clerk_has_the_card_code_sent_by_sms_once_a_minute_and_the_citizen_says_it() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    let got = crate::outbox::receiver(listener).await;
    let t = spawn_app_with(&[
        ("CONGDANSO_SMS_URL", url.as_str()),
        ("CONGDANSO_SMS_KEY", "sms-gateway-test-key-0123456789abcdef"),
    ])
    .await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let holder = citizen(&t).await;
    let issued = service::issue_card(&t.state, &holder).await.unwrap();

    // The code step offers the SMS.
    let step = clerk.post("/staff/scan", &[("token", &issued.text)]).await;
    assert!(
        step.body.contains(r#"action="/staff/scan/card/sms""#),
        "{}",
        step.body
    );
    // No phone on file: said so, nothing queued.
    let reply = clerk
        .post("/staff/scan/card/sms", &[("token", &issued.text)])
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(reply.body.contains("qr-sms-notice"), "{}", reply.body);
    assert!(sms_rows(&t).await.is_empty());

    assert_eq!(
        crate::notify::save_contact(&mut me, "", "0912345678", &[]).await,
        303
    );
    let reply = clerk
        .post("/staff/scan/card/sms", &[("token", &issued.text)])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(
        reply.body.contains("678"),
        "the phone's tail: {}",
        reply.body
    );
    assert!(!reply.body.contains("0912345678"), "never the whole number");
    assert!(reply.body.contains(r#"action="/staff/scan/card""#));
    // Again within the minute: refused, still one SMS.
    let again = clerk
        .post("/staff/scan/card/sms", &[("token", &issued.text)])
        .await;
    assert_eq!(
        again.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        again.body
    );
    assert_eq!(sms_rows(&t).await.len(), 1);

    // Delivered: the gateway gets the code; the row keeps no trace of it.
    let deliverer = congdanso::outbox::Deliverer::new(&t.state.config.outbox).unwrap();
    deliverer.deliver_due(&t.state).await.unwrap();
    deliverer.deliver_due(&t.state).await.unwrap();
    let calls = got.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    let body: Value = serde_json::from_slice(&calls[0].1).unwrap();
    assert_eq!(body["to"], "0912345678");
    let code = code_in(body["text"].as_str().unwrap());
    assert!(!reply.body.contains(&code), "the clerk never sees the code");
    let rows = sms_rows(&t).await;
    assert_eq!(rows[0].status, "delivered");
    assert!(!rows[0].payload.contains(&code), "{}", rows[0].payload);

    // The citizen says it: verified.
    let reply = clerk
        .post(
            "/staff/scan/card",
            &[("token", &issued.text), ("code", &code)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.contains(crate::qr::NAME));

    // A minute later another may be sent; one not delivered before the code expires is not
    // sent at all, and its text is gone too.
    t.clock.advance(chrono::Duration::seconds(61));
    let reply = clerk
        .post("/staff/scan/card/sms", &[("token", &issued.text)])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    t.clock.advance(chrono::Duration::minutes(11));
    deliverer.deliver_due(&t.state).await.unwrap();
    assert_eq!(got.lock().unwrap().len(), 1, "an expired code is not sent");
    let late = sms_rows(&t)
        .await
        .into_iter()
        .find(|r| r.status != "delivered")
        .unwrap();
    assert_eq!(late.status, "dead");
    assert!(late.payload.contains("cleared"), "{}", late.payload);

    // Each SMS is an entry naming the clerk (the refused second one sends nothing and is not).
    let staff = clerk_account(&t).await;
    let entries = entries_of_action(&t, "qr.card_code_sms").await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(
        entries
            .iter()
            .all(|e| e.0 == "allowed" && e.1 == staff.id.to_string() && e.2 == "qr_token")
    );
}

/// Ten asks for an SMS code at once, over two instances: one SMS.
async fn many_sms_asks_at_once(t: TestApp) {
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    assert_eq!(
        crate::notify::save_contact(&mut me, "", "0912345678", &[]).await,
        303
    );
    let holder = citizen(&t).await;
    let issued = service::issue_card(&t.state, &holder).await.unwrap();
    let second = t.second_instance().await;
    let staff = clerk_account(&t).await;
    let agency = staff.agency_id.unwrap();
    let asks = (0..10).map(|i| {
        let state = if i % 2 == 0 { &t.state } else { &second };
        service::send_code_by_sms(state, staff.id, agency, &issued.text)
    });
    let outcomes = futures_util::future::join_all(asks).await;
    let sent = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(service::SmsCode::Sent { .. })))
        .count();
    let too_soon = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(service::SmsCode::TooSoon)))
        .count();
    assert_eq!((sent, too_soon), (1, 9), "{outcomes:?}");
    assert_eq!(sms_rows(&t).await.len(), 1);
    assert_eq!(entries_of_action(&t, "qr.card_code_sms").await.len(), 1);
}

#[actix_web::test]
async fn ten_sms_code_asks_at_once_send_one_sms_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let t =
        crate::helpers::concurrent_sqlite_app_with(&dir, &[("CONGDANSO_NOTIFY_LOG", "true")]).await;
    many_sms_asks_at_once(t).await;
}

#[actix_web::test]
async fn ten_sms_code_asks_at_once_send_one_sms_on_postgres() {
    let Some(t) = crate::helpers::concurrent_postgres_app_with(
        "ten_sms_code_asks_at_once_send_one_sms_on_postgres",
        &[("CONGDANSO_NOTIFY_LOG", "true")],
    )
    .await
    else {
        return;
    };
    many_sms_asks_at_once(t).await;
}

#[actix_web::test]
async fn a_clerk_revokes_a_lost_card_after_checking_the_person_and_the_citizen_is_told() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let holder = citizen(&t).await;
    let issued = service::issue_card(&t.state, &holder).await.unwrap();
    let number = crate::issuing::CITIZEN;

    let home = clerk.get("/staff").await;
    assert!(
        home.body.contains(r#"href="/staff/cards/revoke""#),
        "{}",
        home.body
    );
    let form = clerk.get("/staff/cards/revoke").await;
    assert_eq!(form.status, StatusCode::OK);
    // Without the statement that the person was checked: refused, nothing revoked.
    let reply = clerk
        .post("/staff/cards/revoke", &[("national_id", number)])
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(reply.body.contains("f-checked-error"), "{}", reply.body);
    let reply = clerk
        .post(
            "/staff/cards/revoke",
            &[("national_id", "12"), ("checked", "yes")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.body.contains("f-national_id-error"), "{}", reply.body);
    // A number with no account: the same answer as a citizen with no card.
    let reply = clerk
        .post(
            "/staff/cards/revoke",
            &[("national_id", "001099009999"), ("checked", "yes")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let nobody = reply.body.clone();
    assert!(only_cards(&t).await[0].revoked_at.is_none());

    let reply = clerk
        .post(
            "/staff/cards/revoke",
            &[("national_id", number), ("checked", "yes")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.contains("card-revoked"), "{}", reply.body);
    let staff = clerk_account(&t).await;
    let card = only_cards(&t).await.remove(0);
    assert!(card.revoked_at.is_some());
    assert_eq!(card.revoked_by, Some(staff.id));
    // The card no longer works.
    let scan = clerk.post("/staff/scan", &[("token", &issued.text)]).await;
    assert_eq!(failure_code(&scan.body), "qr_revoked");
    // Again: no card in use, answered like the unknown number (the page's words).
    let again = clerk
        .post(
            "/staff/cards/revoke",
            &[("national_id", number), ("checked", "yes")],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let words = |b: &str| {
        b.split("error-summary")
            .nth(1)
            .map(|r| r[..200.min(r.len())].to_owned())
    };
    assert_eq!(words(&again.body), words(&nobody));

    // In the citizen's log: the revocation (in person) and the attempt that found no card.
    let entries = entries_of_action(&t, "qr.card_revoke").await;
    let outcomes: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.0.as_str(), e.2.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [("allowed", "in_person"), ("failed", "in_person")],
        "{entries:?}"
    );
    assert!(entries.iter().all(|e| e.1 == staff.id.to_string()));
    let log = me.get("/access-log").await;
    assert!(
        log.body.contains("thu hồi thẻ QR in của bạn"),
        "{}",
        log.body
    );
    assert!(
        log.body.contains("đối chiếu giấy tờ tùy thân"),
        "{}",
        log.body
    );
    // And told: a security alert (every channel they have).
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let alerts = entity::outbox_message::Entity::find()
        .filter(entity::outbox_message::Column::Kind.eq("notify"))
        .all(&t.state.db)
        .await
        .unwrap();
    assert_eq!(
        alerts
            .iter()
            .filter(|r| r.payload.contains("qr_card.revoked"))
            .count(),
        1
    );
}

#[actix_web::test]
async fn the_citizen_revoking_their_own_card_is_an_entry_and_an_alert() {
    let t = spawn_app().await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let holder = citizen(&t).await;
    service::issue_card(&t.state, &holder).await.unwrap();
    service::revoke_own_card(&t.state, &holder).await.unwrap();
    let entries = entries_of_action(&t, "qr.card_revoke").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, "allowed");
    assert_eq!(entries[0].1, holder.id.to_string());
    assert_eq!(entries[0].2, "owner");
}

#[actix_web::test]
async fn fresh_tokens_are_limited_per_account_and_minute() {
    let t = spawn_app_with(&[("CONGDANSO_QR_TOKENS_PER_MINUTE", "3")]).await;
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    for _ in 0..3 {
        assert_eq!(me.get("/qr/token.json").await.status, StatusCode::OK);
    }
    let refused = me.get("/qr/token.json").await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
    // The page's script waits as long as `Retry-After` says.
    let wait: u64 = refused
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    t.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(me.get("/qr/token.json").await.status, StatusCode::OK);
}

/// Eight in-person revocations of one card at once, over two instances: the card is revoked
/// once, with one allowed entry and one alert.
async fn many_revocations_at_once(t: TestApp) {
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let mut clerk = Client::new(test::init_service(app(t.state.clone())).await);
    setup(&t, &mut me, &mut clerk).await;
    let holder = citizen(&t).await;
    service::issue_card(&t.state, &holder).await.unwrap();
    let second = t.second_instance().await;
    let staff = clerk_account(&t).await;
    let agency = staff.agency_id.unwrap();
    let number = congdanso::accounts::model::NationalId::parse(crate::issuing::CITIZEN).unwrap();
    let attempts = (0..8).map(|i| {
        let state = if i % 2 == 0 { &t.state } else { &second };
        service::revoke_in_person(state, staff.id, agency, &number)
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let revoked = outcomes.iter().filter(|o| matches!(o, Ok(Some(_)))).count();
    let none = outcomes.iter().filter(|o| matches!(o, Ok(None))).count();
    assert_eq!((revoked, none), (1, 7), "{outcomes:?}");
    let entries = entries_of_action(&t, "qr.card_revoke").await;
    assert_eq!(
        entries.iter().filter(|e| e.0 == "allowed").count(),
        1,
        "{entries:?}"
    );
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let alerts = entity::outbox_message::Entity::find()
        .filter(entity::outbox_message::Column::Kind.eq("notify"))
        .all(&t.state.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.payload.contains("qr_card.revoked"))
        .count();
    assert_eq!(alerts, 1);
}

#[actix_web::test]
async fn eight_in_person_revocations_at_once_revoke_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    many_revocations_at_once(crate::helpers::concurrent_sqlite_app(&dir).await).await;
}

#[actix_web::test]
async fn eight_in_person_revocations_at_once_revoke_once_on_postgres() {
    let Some(t) = crate::helpers::concurrent_postgres_app(
        "eight_in_person_revocations_at_once_revoke_once_on_postgres",
    )
    .await
    else {
        return;
    };
    many_revocations_at_once(t).await;
}
