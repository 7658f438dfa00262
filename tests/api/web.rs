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

/// What an agency holds that staff actions could change: key statuses, credentials (revoked or
/// not) and accounts.
async fn agency_snapshot(
    t: &TestApp,
    agency: uuid::Uuid,
) -> (Vec<(String, String)>, Vec<bool>, usize) {
    let keys = congdanso::issuers::repo::keys_for_agency(&t.state.db, agency)
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.key_id, k.status))
        .collect();
    let credentials = congdanso::issuers::repo::credentials_for_agency(&t.state.db, agency)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.revoked_at.is_some())
        .collect();
    let accounts = congdanso::accounts::repo::list_for_agency(&t.state.db, agency)
        .await
        .unwrap()
        .len();
    (keys, credentials, accounts)
}

/// A form post: path, fields, and the page step-up should send the person back to.
type Post<'a> = (String, Vec<(&'a str, &'a str)>, String);

#[actix_web::test]
async fn operator_and_agency_admin_actions_need_a_fresh_step_up() {
    use base64::Engine;
    use congdanso::auth::Role;
    let t = spawn_app().await;
    let agency = congdanso::agencies::service::create_agency(
        &t.state,
        "CA-DANANG",
        "Công an TP Đà Nẵng",
        "department",
    )
    .await
    .unwrap();
    let public = |seed: u8| {
        base64::engine::general_purpose::STANDARD.encode(
            ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
                .verifying_key()
                .as_bytes(),
        )
    };
    let key = congdanso::issuers::service::register_key(
        &t.state,
        agency.id,
        &public(1),
        "issuing",
        None,
        None,
    )
    .await
    .unwrap();
    let (credential, _) =
        congdanso::issuers::service::create_credential(&t.state, agency.id, "Một cửa")
            .await
            .unwrap();
    let (_, operator_password) = congdanso::accounts::service::create_staff_account(
        &t.state,
        Role::Operator,
        "van.hanh",
        "Trần Văn Hành",
        None,
    )
    .await
    .unwrap();
    let (_, admin_password) = congdanso::accounts::service::create_staff_account(
        &t.state,
        Role::AgencyAdmin,
        "admin.danang",
        "Lê Thị Quản",
        Some(agency.id),
    )
    .await
    .unwrap();
    let mut operator = Client::new(test::init_service(app(t.state.clone())).await);
    crate::staff::first_staff_login(&mut operator, &t, "van.hanh", &operator_password).await;
    let mut admin = Client::new(test::init_service(app(t.state.clone())).await);
    crate::staff::first_staff_login(&mut admin, &t, "admin.danang", &admin_password).await;
    let before = agency_snapshot(&t, agency.id).await;

    let a = format!("/admin/agencies/{}", agency.id);
    let new_key = public(2);
    let operator_posts: Vec<Post> = vec![
        (
            format!("{a}/keys"),
            vec![("public_key", new_key.as_str()), ("purpose", "issuing")],
            format!("{a}/keys"),
        ),
        (format!("{a}/keys/counter"), vec![], format!("{a}/keys")),
        (
            format!("{a}/keys/{}/retire", key.key_id),
            vec![],
            format!("{a}/keys"),
        ),
        (
            format!("{a}/keys/{}/revoke", key.key_id),
            vec![],
            format!("{a}/keys"),
        ),
        (
            format!("{a}/credentials"),
            vec![("name", "Cổng dịch vụ công")],
            format!("{a}/credentials"),
        ),
        (
            format!("{a}/credentials/{}/revoke", credential.id),
            vec![],
            format!("{a}/credentials"),
        ),
        (
            format!("{a}/admins"),
            vec![("login", "admin.hai"), ("full_name", "Phạm Văn Hai")],
            a.clone(),
        ),
    ];
    let admin_posts: Vec<Post> = vec![
        (
            "/agency/credentials".into(),
            vec![("name", "Cổng dịch vụ công")],
            "/agency/credentials".into(),
        ),
        (
            format!("/agency/credentials/{}/revoke", credential.id),
            vec![],
            "/agency/credentials".into(),
        ),
        (
            "/agency/staff".into(),
            vec![
                ("login", "admin.ba"),
                ("full_name", "Võ Thị Ba"),
                ("role", "agency_admin"),
            ],
            "/agency".into(),
        ),
    ];
    let expect_step_up = |reply: &crate::helpers::Reply, path: &str, back: &str| {
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "{path}: {}",
            reply.body
        );
        let next: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
        assert_eq!(reply.location(), format!("/step-up?next={next}"), "{path}");
    };
    for (path, fields, back) in &operator_posts {
        let reply = operator.post(path, fields).await;
        expect_step_up(&reply, path, back);
    }
    for (path, fields, back) in &admin_posts {
        let reply = admin.post(path, fields).await;
        expect_step_up(&reply, path, back);
    }
    assert_eq!(
        agency_snapshot(&t, agency.id).await,
        before,
        "nothing changed"
    );
    assert!(
        !congdanso::accounts::repo::login_exists(&t.state.db, "admin.hai")
            .await
            .unwrap()
    );

    // After a fresh code the same actions go through, back on the page they came from.
    let page = operator.get(&format!("/step-up?next={a}/keys")).await;
    assert!(
        page.body.contains(&format!(r#"value="{a}/keys""#)),
        "{}",
        page.body
    );
    crate::staff::step_up(&mut operator, &t, "van.hanh").await;
    let reply = operator
        .post(&operator_posts[0].0, &operator_posts[0].1)
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), format!("{a}/keys"));
    crate::staff::step_up(&mut admin, &t, "admin.danang").await;
    let reply = admin.post(&admin_posts[0].0, &admin_posts[0].1).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let (keys, credentials, _) = agency_snapshot(&t, agency.id).await;
    assert_eq!(keys.len(), before.0.len() + 1);
    assert_eq!(credentials.len(), before.1.len() + 1);

    // The step-up lasts minutes, not the whole session.
    t.clock.advance(chrono::Duration::minutes(6));
    let reply = operator
        .post(&operator_posts[6].0, &operator_posts[6].1)
        .await;
    expect_step_up(&reply, &operator_posts[6].0, &operator_posts[6].2);
    assert!(
        !congdanso::accounts::repo::login_exists(&t.state.db, "admin.hai")
            .await
            .unwrap()
    );
}

#[actix_web::test]
async fn registration_checks_the_structure_of_the_national_id() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    client.lang = Some("en");
    client.get("/register").await;
    for (id, birth, message) in [
        ("000000000000", "1990-05-17", "code of the province"),
        ("097090001234", "1990-05-17", "code of the province"),
        ("079290001234", "1990-05-17", "century of birth"),
        ("079090001234", "2009-05-17", "century of birth"),
        (
            "079091001234",
            "1990-05-17",
            "last two digits of the birth year",
        ),
    ] {
        let mut fields = crate::accounts::registration(id, PASSWORD);
        fields[2] = ("birth_date", birth);
        let reply = client.post("/register", &fields).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{id}");
        assert!(reply.body.contains(message), "{id}: {}", reply.body);
        assert!(reply.body.contains(r#"id="f-national_id-error""#), "{id}");
        assert!(
            !congdanso::accounts::repo::login_exists(&t.state.db, id)
                .await
                .unwrap()
        );
    }
    // A woman born in 2003 (century digit 3) registers.
    let reply = client
        .post(
            "/register",
            &crate::accounts::registration("001303004567", PASSWORD),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
}

#[actix_web::test]
async fn the_keys_page_shows_when_a_key_is_valid_from_to_the_second_with_its_zone() {
    use base64::Engine;
    use congdanso::auth::Role;
    let t = spawn_app().await;
    let agency = congdanso::agencies::service::create_agency(
        &t.state,
        "CA-DANANG",
        "Công an TP Đà Nẵng",
        "department",
    )
    .await
    .unwrap();
    t.clock
        .advance(chrono::Duration::seconds(4 * 3600 + 5 * 60 + 7));
    let public = base64::engine::general_purpose::STANDARD.encode(
        ed25519_dalek::SigningKey::from_bytes(&[3; 32])
            .verifying_key()
            .as_bytes(),
    );
    congdanso::issuers::service::register_key(&t.state, agency.id, &public, "issuing", None, None)
        .await
        .unwrap();
    let (_, password) = congdanso::accounts::service::create_staff_account(
        &t.state,
        Role::Operator,
        "van.hanh",
        "Trần Văn Hành",
        None,
    )
    .await
    .unwrap();
    let mut operator = Client::new(test::init_service(app(t.state.clone())).await);
    crate::staff::first_staff_login(&mut operator, &t, "van.hanh", &password).await;
    let page = operator
        .get(&format!("/admin/agencies/{}/keys", agency.id))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("2026-11-23 12:05:07 UTC"),
        "{}",
        page.body
    );
}
