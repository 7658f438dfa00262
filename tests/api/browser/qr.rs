//! QR identity in two browsers: the citizen's home page shows the code (and its script fetches
//! a fresh one before expiry), the clerk pastes the code's text on the scan page and sees the
//! citizen; every page axe-clean at 360 px.

use std::time::{Duration, Instant};

use fantoccini::Client;

use super::{Browser, code_from_page, current_code};

async fn log_in(b: &Browser, page: &str, login: &str, password: &str) {
    b.goto(page).await;
    b.fill("login", login).await;
    b.fill("password", password).await;
    b.submit().await;
    if b.path().await == "/enroll" {
        let code = code_from_page(b, 0).await;
        b.fill("code", &code).await;
        b.submit().await;
    } else {
        b.app.clock.advance(chrono::Duration::seconds(30));
        let code = current_code(b, login).await;
        b.fill("code", &code).await;
        b.submit().await;
    }
}

async fn token_text(b: &Browser) -> String {
    b.eval(
        "return document.getElementById('qr-text').textContent;",
        vec![],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

#[actix_web::test]
async fn a_citizen_shows_the_code_and_a_clerk_verifies_it_in_two_browsers() {
    let Some(mut b) = Browser::start(
        "a_citizen_shows_the_code_and_a_clerk_verifies_it_in_two_browsers",
        "vi",
    )
    .await
    else {
        return;
    };
    let state = b.app.state.clone();
    congdanso::demo::seed(&state).await.unwrap();
    let citizen_id = congdanso::demo::DEMO_CITIZEN_ID;

    // The phone: the code on the home page.
    log_in(&b, "/login", citizen_id, congdanso::demo::DEMO_PASSWORD).await;
    b.goto("/").await;
    assert!(b.text_of("#qr-expiry").await.contains("Mã hết hạn lúc"));
    b.assert_accessible("qr-home-vi").await;
    let first = token_text(&b).await;
    assert!(first.starts_with("CDS1:"), "{first}");
    // The script fetches a new code before the shown one expires (the test clock's expiry is
    // long past for the browser, so at its minimum wait of five seconds).
    let deadline = Instant::now() + Duration::from_secs(20);
    let fresh = loop {
        let now = token_text(&b).await;
        if now != first && now.starts_with("CDS1:") {
            break now;
        }
        assert!(Instant::now() < deadline, "the code was never refreshed");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    // The desk: a second browser, the clerk's.
    let profile = tempfile::tempdir().unwrap();
    let mut desk: Client = b.another_session(profile.path(), "vi").await;
    std::mem::swap(&mut b.client, &mut desk);
    log_in(
        &b,
        "/staff/login",
        "demo.clerk",
        congdanso::demo::DEMO_PASSWORD,
    )
    .await;
    b.goto("/staff/scan").await;
    b.assert_accessible("qr-scan-vi").await;
    b.fill("token", &fresh).await;
    b.submit().await;
    let main = b.text_of("main").await;
    assert!(main.contains("Mã hợp lệ"), "{main}");
    assert!(main.contains("0010******01"), "{main}");
    b.assert_accessible("qr-result-vi").await;

    // The same code again: refused, with its reason.
    b.goto("/staff/scan").await;
    b.fill("token", &fresh).await;
    b.submit().await;
    assert!(b.text_of("main").await.contains("đã được dùng"));
    b.assert_accessible("qr-refused-vi").await;

    let _ = desk.close().await;
    b.finish().await;
}

/// The printable card page: without a card (the issue button), with one (QR, name), with a
/// one-time code shown, and the lost-card confirmation — each axe-clean at 360 px.
#[actix_web::test]
async fn the_printable_card_page_is_accessible_with_and_without_a_card() {
    let Some(b) = Browser::start(
        "the_printable_card_page_is_accessible_with_and_without_a_card",
        "vi",
    )
    .await
    else {
        return;
    };
    let state = b.app.state.clone();
    congdanso::demo::seed(&state).await.unwrap();
    let citizen_id = congdanso::demo::DEMO_CITIZEN_ID;
    log_in(&b, "/login", citizen_id, congdanso::demo::DEMO_PASSWORD).await;
    b.goto("/qr/card").await;
    assert!(b.text_of("main").await.contains("Cấp thẻ QR in"));
    b.assert_accessible("qr-card-issue-vi").await;

    let holder = congdanso::accounts::repo::find_by_login(&state.db, citizen_id)
        .await
        .unwrap()
        .unwrap();
    congdanso::qr::service::issue_card(&state, &holder)
        .await
        .unwrap();
    b.goto("/qr/card").await;
    assert!(b.text_of("main").await.contains("Có giá trị đến ngày"));
    b.assert_accessible("qr-card-vi").await;

    b.click_and_wait("form[action='/qr/card/code'] button")
        .await;
    let code = b.text_of("#qr-card-code").await;
    assert!(
        code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()),
        "{code}"
    );
    b.assert_accessible("qr-card-code-vi").await;
    b.finish().await;
}

/// The clerk's side of a printed card: the code step with "send the code by SMS" (here without
/// a gateway: the reason is shown), and revoking a lost card after checking the person — each
/// page axe-clean at 360 px.
#[actix_web::test]
async fn a_clerk_asks_for_a_card_code_by_sms_and_revokes_a_lost_card_accessibly() {
    let Some(mut b) = Browser::start(
        "a_clerk_asks_for_a_card_code_by_sms_and_revokes_a_lost_card_accessibly",
        "vi",
    )
    .await
    else {
        return;
    };
    let state = b.app.state.clone();
    congdanso::demo::seed(&state).await.unwrap();
    // The citizen's account becomes active at their first login (TOTP enrolment).
    log_in(
        &b,
        "/login",
        congdanso::demo::DEMO_CITIZEN_ID,
        congdanso::demo::DEMO_PASSWORD,
    )
    .await;
    let profile = tempfile::tempdir().unwrap();
    let mut phone: Client = b.another_session(profile.path(), "vi").await;
    std::mem::swap(&mut b.client, &mut phone);
    let holder =
        congdanso::accounts::repo::find_by_login(&state.db, congdanso::demo::DEMO_CITIZEN_ID)
            .await
            .unwrap()
            .unwrap();
    let card = congdanso::qr::service::issue_card(&state, &holder)
        .await
        .unwrap();
    log_in(
        &b,
        "/staff/login",
        "demo.clerk",
        congdanso::demo::DEMO_PASSWORD,
    )
    .await;
    b.goto("/staff/scan").await;
    b.fill("token", &card.text).await;
    b.submit().await;
    let main = b.text_of("main").await;
    assert!(main.contains("Gửi mã qua SMS"), "{main}");
    b.assert_accessible("qr-card-code-step-vi").await;
    b.click_and_wait("form[action='/staff/scan/card/sms'] button")
        .await;
    // The demo citizen has no phone in their notification settings: the clerk is told why.
    let notice = b.text_of("#qr-sms-notice").await;
    assert!(
        notice.contains("số điện thoại") || notice.contains("cổng SMS"),
        "{notice}"
    );
    b.assert_accessible("qr-card-sms-refused-vi").await;

    b.goto("/staff/cards/revoke").await;
    b.assert_accessible("qr-card-revoke-form-vi").await;
    b.fill("national_id", congdanso::demo::DEMO_CITIZEN_ID)
        .await;
    b.submit().await;
    assert!(b.text_of("main").await.contains("Hãy xác nhận"));
    b.assert_accessible("qr-card-revoke-unchecked-vi").await;
    // The typed number is kept; the statement is ticked this time.
    b.eval("document.getElementById('f-checked').click();", vec![])
        .await;
    b.submit().await;
    assert!(b.text_of("#card-revoked").await.contains("đã bị thu hồi"));
    b.assert_accessible("qr-card-revoked-vi").await;
    let _ = phone.close().await;
    b.finish().await;
}
