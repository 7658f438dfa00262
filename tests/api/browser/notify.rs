//! The inbox and the notification settings in headless Chromium: axe-clean (WCAG 2.1 AA) at
//! 360 px, with unread messages, and the settings form refused with an error.

use super::{Browser, code_from_page, current_code};
use congdanso::notify::model::Kind;
use congdanso::outbox::Deliverer;

#[actix_web::test]
async fn the_inbox_and_the_settings_pass_wcag_and_fit_a_phone() {
    let Some(b) =
        Browser::start("the_inbox_and_the_settings_pass_wcag_and_fit_a_phone", "vi").await
    else {
        return;
    };
    let state = b.app.state.clone();
    congdanso::demo::seed(&state).await.unwrap();
    let login = congdanso::demo::DEMO_CITIZEN_ID;
    let owner = congdanso::accounts::repo::find_by_login(&state.db, login)
        .await
        .unwrap()
        .unwrap();
    for kind in [Kind::RequestNew, Kind::PasswordChanged] {
        congdanso::notify::service::notify(
            &state.db,
            state.clock.now(),
            owner.id,
            kind,
            serde_json::json!({ "agency": "UBND quận Hải Châu", "link": "/shared" }),
        )
        .await
        .unwrap();
    }
    let deliverer = Deliverer::new(&state.config.outbox).unwrap();
    while deliverer.deliver_due(&state).await.unwrap() > 0 {}

    b.goto("/login").await;
    b.fill("login", login).await;
    b.fill("password", congdanso::demo::DEMO_PASSWORD).await;
    b.submit().await;
    if b.path().await == "/enroll" {
        let code = code_from_page(&b, 0).await;
        b.fill("code", &code).await;
    } else {
        b.app.clock.advance(chrono::Duration::seconds(30));
        let code = current_code(&b, login).await;
        b.fill("code", &code).await;
    }
    b.submit().await;

    b.goto("/notifications").await;
    let header = b.text_of("header").await;
    // The demo's own events (documents issued, requests) are in the inbox too.
    assert!(
        header.contains("Thông báo") && header.chars().any(|c| c.is_ascii_digit()),
        "unread count in the header: {header} (at {})",
        b.path().await
    );
    assert!(
        b.text_of("main")
            .await
            .contains("Mật khẩu tài khoản của bạn vừa được đổi")
    );
    b.assert_accessible("notify-inbox-vi").await;
    b.goto("/settings/notifications").await;
    b.assert_accessible("notify-settings-vi").await;
    b.fill("email", "not an email").await;
    b.submit().await;
    assert!(
        b.text_of("main").await.contains("not an email")
            || b.path().await == "/settings/notifications"
    );
    b.assert_accessible("notify-settings-error-vi").await;
}
