//! HTTP details of the site: where redirects may lead (`next`), CSRF tokens bound to the
//! session, `HEAD` answered like `GET`, API wording, and step-up before staff actions.

use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::startup::app;

use crate::accounts::{PASSWORD, code_for, register_citizen};
use crate::helpers::{Client, TestApp, spawn_app, spawn_app_with};

/// `next` values that must never leave the site, as they appear in a query string.
const NASTY_NEXT: &[&str] = &[
    "/%09/evil.example/phish",
    "/%0a/evil.example",
    "/%0d%0a/evil.example",
    "/%0D%0ALocation:%20http://evil.example",
    "/%7f",
    "%2F%2Fevil.example",
    "/%5Cevil.example",
    "%5C%5Cevil.example",
    "/%5C/evil.example",
    "/%252F/evil.example",
    "/%2509/evil.example",
    "http://evil.example/",
    "%20//evil.example",
    "/%C2%A0/evil.example",
];

#[actix_web::test]
async fn the_language_switch_only_returns_to_pages_of_this_site() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    for next in NASTY_NEXT {
        let reply = client.get(&format!("/lang/en?next={next}")).await;
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "{next}: {}",
            reply.body
        );
        assert_eq!(reply.location(), "/", "{next}");
    }
    let reply = client.get("/lang/en?next=%2Fdocuments%3Fpage%3D2").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/documents?page=2");
}

#[actix_web::test]
async fn login_and_step_up_only_return_to_pages_of_this_site() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    client.post("/logout", &[]).await;

    // The login page does not carry a nasty `next` into its form.
    for next in NASTY_NEXT {
        let page = client.get(&format!("/login?next={next}")).await;
        assert_eq!(page.status, StatusCode::OK, "{next}");
        assert!(!page.body.contains(r#"name="next""#), "{next}");
    }
    // Posted directly, it is dropped at each step.
    let evil = "/\t/evil.example/phish";
    let reply = client
        .post(
            "/login",
            &[
                ("login", "079090001234"),
                ("password", PASSWORD),
                ("next", evil),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/login/verify");
    let code = code_for(&t, "079090001234", 1).await;
    let reply = client
        .post("/login/verify", &[("code", &code), ("next", evil)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/account");

    let page = client.get("/step-up?next=/%09/evil.example").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("evil.example"));
    t.clock.advance(chrono::Duration::seconds(30));
    let code = code_for(&t, "079090001234", 1).await;
    let reply = client
        .post("/step-up", &[("code", &code), ("next", "/\n/evil.example")])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), "/account");
}

#[actix_web::test]
async fn a_csrf_pair_from_one_session_is_refused_in_another() {
    let t = spawn_app().await;
    let mut alice = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut alice, &t, "079090001234").await;
    let mut bob = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut bob, &t, "001090004567").await;

    // Alice's cookie and the token her own page shows her.
    let page = alice.get("/account").await;
    let token = page
        .body
        .split(r#"name="csrf_token" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form token on the page")
        .to_owned();
    let cookie = alice.cookies.get("cds_csrf").cloned().unwrap();
    assert_ne!(token, cookie, "the page never shows the cookie's secret");

    // Planted in Bob's browser, the pair is refused.
    bob.cookies.insert("cds_csrf".into(), cookie);
    let reply = bob
        .post_raw("/account/sessions/end-all", &[("csrf_token", &token)])
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(bob.get("/account").await.status, StatusCode::OK, "still in");
    // In Alice's own session it works.
    let reply = alice
        .post_raw("/account/sessions/end-all", &[("csrf_token", &token)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn a_post_that_is_not_a_form_is_a_csrf_refusal() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    for content_type in [None, Some("application/json"), Some("text/plain")] {
        let mut request = test::TestRequest::post().uri("/account/sessions/end-all");
        if let Some(content_type) = content_type {
            request = request.insert_header(("content-type", content_type));
        }
        for (name, value) in &client.cookies {
            request = request.cookie(actix_web::cookie::Cookie::new(name.clone(), value.clone()));
        }
        let service = test::init_service(app(t.state.clone())).await;
        let response = test::call_service(&service, request.to_request()).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{content_type:?}");
        let body = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
        assert!(body.contains("<html"), "a readable page: {body}");
    }
    assert_eq!(client.get("/account").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn over_https_the_csrf_cookie_is_host_locked() {
    let t = spawn_app_with(&[("PUBLIC_URL", "https://congdanso.example")]).await;
    let service = test::init_service(app(t.state.clone())).await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/register").to_request(),
    )
    .await;
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let csrf = cookies
        .iter()
        .find(|c| c.starts_with("__Host-cds_csrf="))
        .unwrap_or_else(|| panic!("{cookies:?}"));
    assert!(csrf.contains("Secure") && csrf.contains("Path=/"), "{csrf}");
    assert!(!csrf.contains("Domain"), "{csrf}");
    assert!(
        !cookies.iter().any(|c| c.starts_with("cds_csrf=")),
        "{cookies:?}"
    );

    // And forms work with it.
    let mut client = Client::new(service);
    client.get("/register").await;
    assert!(client.cookies.contains_key("__Host-cds_csrf"));
    let reply = client
        .post(
            "/register",
            &crate::accounts::registration("079090001234", PASSWORD),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
}

/// Uploads a small PDF as the logged-in citizen; returns the document's id.
async fn upload_pdf<S, B>(client: &mut Client<S>, t: &TestApp, login: &str) -> (String, usize)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.extend((0..5000u32).map(|i| (i % 251) as u8));
    client.get("/documents").await;
    let reply = client
        .post_multipart(
            "/documents",
            &[
                ("doc_type", "birth_certificate"),
                ("title", "Giấy khai sinh"),
            ],
            Some(("khai-sinh.pdf", &bytes)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let owner = congdanso::accounts::repo::find_by_login(&t.state.db, login)
        .await
        .unwrap()
        .unwrap()
        .id;
    let docs = congdanso::vault::repo::list_for_owner(&t.state.db, owner)
        .await
        .unwrap();
    (docs[0].id.to_string(), bytes.len())
}

#[actix_web::test]
async fn head_is_answered_like_get_without_a_body() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    let reply = client.head("/").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(reply.body.is_empty(), "{}", reply.body);
    assert_eq!(client.head("/static/app.css").await.status, StatusCode::OK);
    assert_eq!(
        client.head("/no-such-page").await.status,
        StatusCode::NOT_FOUND
    );

    register_citizen(&mut client, &t, "079090001234").await;
    let (id, len) = upload_pdf(&mut client, &t, "079090001234").await;
    let (get, bytes) = client
        .get_with(&format!("/documents/{id}/download"), &[])
        .await;
    assert_eq!(get.status, StatusCode::OK);
    assert_eq!(bytes.len(), len);
    let head = client.head(&format!("/documents/{id}/download")).await;
    assert_eq!(head.status, StatusCode::OK, "{}", head.body);
    assert!(head.body.is_empty());
    for name in ["content-type", "content-disposition"] {
        assert_eq!(head.headers.get(name), get.headers.get(name), "{name}");
    }
    // Nothing is changed by HEAD on a form route: it is answered like the GET page.
    assert_eq!(client.head("/account").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn api_clients_are_told_about_bearer_tokens_not_logging_in() {
    let t = spawn_app().await;
    let service = test::init_service(app(t.state.clone())).await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/api/v1/agency").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    let body: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(body["error"]["code"], "unauthenticated");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Authorization: Bearer"), "{message}");
    assert!(!message.contains("log in"), "{message}");
}

#[actix_web::test]
async fn a_locked_form_says_how_many_seconds_and_sends_retry_after() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    client.post("/logout", &[]).await;
    for _ in 0..5 {
        client.get("/login").await;
        client
            .post(
                "/login",
                &[
                    ("login", "079090001234"),
                    ("password", "wrong-password-123"),
                ],
            )
            .await;
    }
    for (lang, words) in [
        ("en", "try again in 30 seconds"),
        ("vi", "thử lại sau 30 giây"),
    ] {
        client.lang = Some(lang);
        let reply = client
            .post(
                "/login",
                &[("login", "079090001234"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(reply.headers.get("retry-after").unwrap(), "30");
        assert!(reply.body.contains(words), "{lang}: {}", reply.body);
        assert!(!reply.body.contains("1 phút") && !reply.body.contains("1 minutes"));
    }

    // Step-up guessing is locked the same way, and says so with a 429.
    t.clock.advance(chrono::Duration::minutes(20));
    client.lang = Some("en");
    client.get("/login").await;
    client
        .post(
            "/login",
            &[("login", "079090001234"), ("password", PASSWORD)],
        )
        .await;
    let code = code_for(&t, "079090001234", 0).await;
    client.post("/login/verify", &[("code", &code)]).await;
    for guess in ["111111", "222222", "333333", "444444", "555555"] {
        let reply = client.post("/step-up", &[("code", guess)]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let reply = client.post("/step-up", &[("code", "666666")]).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.headers.get("retry-after").unwrap(), "30");
    assert!(reply.body.contains("30 seconds"), "{}", reply.body);
}

#[actix_web::test]
async fn step_up_says_it_takes_app_codes_only_and_recovery_codes_get_their_own_messages() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    client.lang = Some("en");
    let codes = register_citizen(&mut client, &t, "079090001234").await;

    let page = client.get("/step-up?next=/account/recovery-codes").await;
    assert!(
        page.body.contains("Recovery codes are not accepted here"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("or a recovery code"), "{}", page.body);
    let reply = client
        .post(
            "/step-up",
            &[("code", &codes[0]), ("next", "/account/recovery-codes")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body.contains("A recovery code cannot confirm this"),
        "{}",
        reply.body
    );
    assert!(
        !reply.body.contains("wrong or has expired"),
        "{}",
        reply.body
    );

    // At login a recovery code works once; used again it is called used, not wrong.
    client.post("/logout", &[]).await;
    client.get("/login").await;
    client
        .post(
            "/login",
            &[("login", "079090001234"), ("password", PASSWORD)],
        )
        .await;
    let reply = client.post("/login/verify", &[("code", &codes[0])]).await;
    assert_eq!(
        reply.status,
        StatusCode::SEE_OTHER,
        "not spent by the step-up refusal"
    );
    client.post("/logout", &[]).await;
    client.get("/login").await;
    client
        .post(
            "/login",
            &[("login", "079090001234"), ("password", PASSWORD)],
        )
        .await;
    let reply = client.post("/login/verify", &[("code", &codes[0])]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.body.contains("already been used"), "{}", reply.body);
    assert!(
        !reply.body.contains("wrong or has expired"),
        "{}",
        reply.body
    );
}

#[actix_web::test]
async fn a_recovery_code_sent_by_several_devices_at_once_logs_in_one() {
    let t = spawn_app().await;
    let mut first = Client::new(test::init_service(app(t.state.clone())).await);
    let codes = register_citizen(&mut first, &t, "079090001234").await;
    let mut devices = Vec::new();
    for i in 0..4u16 {
        let mut device = Client::new(test::init_service(app(t.state.clone())).await);
        device.lang = Some("en");
        device.peer = format!("198.51.100.{}:4000{i}", i + 1).parse().unwrap();
        device.get("/login").await;
        let reply = device
            .post(
                "/login",
                &[("login", "079090001234"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(reply.location(), "/login/verify");
        devices.push(device);
    }
    let code = codes[1].clone();
    let fields = [("code", code.as_str())];
    let replies = futures_util::future::join_all(
        devices.iter_mut().map(|d| d.post("/login/verify", &fields)),
    )
    .await;
    let in_count = replies
        .iter()
        .filter(|r| r.status == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(in_count, 1, "a recovery code logs in once");
    for reply in replies.iter().filter(|r| r.status != StatusCode::SEE_OTHER) {
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(reply.body.contains("already been used"), "{}", reply.body);
    }
}
