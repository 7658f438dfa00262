//! The one-stop counter in two browsers at once: the clerk (desk) opens a session after the
//! citizen's code, the citizen (phone) approves with the step-up, the clerk's page follows by
//! itself (polling) and shows the documents; every page axe-clean at 360 px.

use std::time::{Duration, Instant};

use fantoccini::Client;

use super::{Browser, code_from_page, current_code};

/// Logs `login` in on the page's staff or citizen form, enrolling the authenticator on the
/// first login.
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

/// Waits until the counter page's status is `want` (the page reloads itself when it changes).
async fn wait_for_status(b: &Browser, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = b
            .eval(
                "var e = document.querySelector('[data-counter-status]'); \
                 return e && document.readyState === 'complete' ? e.getAttribute('data-counter-status') : null;",
                vec![],
            )
            .await;
        if now.as_str() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the counter page never showed {want} (now {now})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix_web::test]
async fn a_clerk_and_a_citizen_go_through_a_counter_session_in_two_browsers() {
    let Some(mut b) = Browser::start(
        "a_clerk_and_a_citizen_go_through_a_counter_session_in_two_browsers",
        "vi",
    )
    .await
    else {
        return;
    };
    let state = b.app.state.clone();
    congdanso::demo::seed(&state).await.unwrap();
    let citizen_id = congdanso::demo::DEMO_CITIZEN_ID;
    let owner = congdanso::accounts::repo::find_by_login(&state.db, citizen_id)
        .await
        .unwrap()
        .unwrap();
    let cccd = congdanso::vault::repo::list_for_owner(&state.db, owner.id)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.doc_type == "cccd")
        .expect("the demo citizen holds an issued CCCD");
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    png.extend_from_slice(&[0u8; 64]);
    let scan = congdanso::vault::service::store_document(
        &state,
        &owner,
        congdanso::vault::service::NewDocument {
            doc_type: congdanso::vault::model::DocumentType::Other,
            title: "Hợp đồng thuê nhà".into(),
            file_name: "thue-nha.png".into(),
        },
        None,
        futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(png))]),
    )
    .await
    .unwrap();
    let code = congdanso::counter::certify::request(&state, &owner, scan.id)
        .await
        .unwrap();

    // The desk: the clerk enters the code the citizen reads out and opens a session.
    log_in(
        &b,
        "/staff/login",
        "demo.clerk",
        congdanso::demo::DEMO_PASSWORD,
    )
    .await;
    b.goto("/staff/certify").await;
    b.fill("code", &code).await;
    b.submit().await;
    assert!(b.path().await.starts_with("/staff/certify/"));
    b.assert_accessible("counter-review-vi").await;
    b.set_value("procedure", crate::counter::PROCEDURE).await;
    b.click_and_wait("form[action='/staff/counter/sessions'] button[type=submit]")
        .await;
    let session = b.path().await;
    assert!(session.starts_with("/staff/counter/sessions/"), "{session}");
    wait_for_status(&b, "waiting").await;
    b.assert_accessible("counter-waiting-vi").await;

    // The phone: a second browser, the citizen's.
    let profile = tempfile::tempdir().unwrap();
    let mut phone: Client = b.another_session(profile.path(), "vi").await;
    std::mem::swap(&mut b.client, &mut phone);
    log_in(&b, "/login", citizen_id, congdanso::demo::DEMO_PASSWORD).await;
    let request =
        congdanso::grants::repo::pending_for_citizen(&state.db, owner.id, state.clock.now())
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.procedure_code.as_deref() == Some(crate::counter::PROCEDURE))
            .expect("the counter's request");
    b.goto("/shared").await;
    assert!(
        b.text_of("main").await.contains("UBND quận Hải Châu"),
        "the inbox shows who asks"
    );
    b.assert_accessible("counter-inbox-vi").await;
    let ask = format!("/shared/requests/{}", request.id);
    b.app.clock.advance(chrono::Duration::seconds(30));
    b.goto(&format!("/step-up?next={ask}")).await;
    let code = current_code(&b, citizen_id).await;
    b.fill("code", &code).await;
    b.submit().await;
    assert_eq!(b.path().await, ask);
    assert!(b.text_of("main").await.contains("60 phút"));
    b.assert_accessible("counter-request-vi").await;
    for name in [format!("doc_0_{}", cccd.id), format!("doc_1_{}", scan.id)] {
        b.eval(
            "document.querySelector(`[name='${arguments[0]}']`).click();",
            vec![serde_json::json!(name)],
        )
        .await;
    }
    b.click_and_wait(&format!("form[action='{ask}/approve'] button[type=submit]"))
        .await;
    assert!(b.path().await.starts_with("/shared/grants/"));

    // Back at the desk: the page has followed by itself and shows the documents.
    std::mem::swap(&mut b.client, &mut phone);
    wait_for_status(&b, "active").await;
    let main = b.text_of("main").await;
    assert!(main.contains("Nguyễn Văn Thử"), "{main}");
    assert!(main.contains("Hợp đồng thuê nhà"), "{main}");
    assert!(main.contains("Đã xác minh") || main.contains("✓"), "{main}");
    b.assert_accessible("counter-active-vi").await;
    // A step of the session: certify the shared scan after comparing it with the original.
    let certify = format!("{session}/documents/{}/certify", scan.id);
    b.goto(&certify).await;
    b.assert_accessible("counter-certify-vi").await;
    b.eval(
        "document.getElementById('f-seen_original').click();",
        vec![],
    )
    .await;
    b.click_and_wait(&format!("form[action='{certify}'] button[type=submit]"))
        .await;
    assert_eq!(b.path().await, session);
    wait_for_status(&b, "active").await;
    let main = b.text_of("main").await;
    assert!(
        main.contains("Bản sao đã được chứng thực"),
        "the scan shows as certified: {main}"
    );
    b.goto("/staff").await;
    assert!(b.text_of("main").await.contains("Đăng ký thường trú"));
    b.assert_accessible("counter-staff-home-vi").await;

    // Ending it: the documents are gone from the page, and from the list.
    b.goto(&session).await;
    b.click_and_wait(&format!("form[action='{session}/end'] button[type=submit]"))
        .await;
    wait_for_status(&b, "ended").await;
    assert!(!b.text_of("main").await.contains("Nguyễn Văn Thử"));
    b.assert_accessible("counter-ended-vi").await;

    let _ = phone.close().await;
    b.finish().await;
}
