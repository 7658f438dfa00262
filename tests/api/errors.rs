//! Uniform errors, response hardening and languages.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, test, web};
use congdanso::startup::app;
use serde_json::Value;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn every_response_carries_the_hardening_headers_and_a_request_id() {
    let t = spawn_app().await;
    let service = test::init_service(app(t.state.clone())).await;
    for uri in [
        "/",
        "/healthz",
        "/no/such/page",
        "/api/v1/nothing",
        "/static/app.css",
    ] {
        let response =
            test::call_service(&service, test::TestRequest::get().uri(uri).to_request()).await;
        let headers = response.headers();
        let csp = headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{uri}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{uri}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{uri}: {csp}");
        assert_eq!(
            headers.get("x-content-type-options").unwrap(),
            "nosniff",
            "{uri}"
        );
        assert_eq!(
            headers.get("referrer-policy").unwrap(),
            "no-referrer",
            "{uri}"
        );
        assert_eq!(headers.get("x-frame-options").unwrap(), "DENY", "{uri}");
        let id = headers.get("x-request-id").unwrap().to_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{uri}: {id}");
    }
}

#[actix_web::test]
async fn a_well_formed_incoming_request_id_is_kept_and_a_bad_one_replaced() {
    let t = spawn_app().await;
    let service = test::init_service(app(t.state.clone())).await;
    let response = test::call_service(
        &service,
        test::TestRequest::get()
            .uri("/healthz")
            .insert_header(("x-request-id", "lb-1234-abcd"))
            .to_request(),
    )
    .await;
    assert_eq!(
        response.headers().get("x-request-id").unwrap(),
        "lb-1234-abcd"
    );
    let response = test::call_service(
        &service,
        test::TestRequest::get()
            .uri("/healthz")
            .insert_header(("x-request-id", "<script>"))
            .to_request(),
    )
    .await;
    assert_ne!(response.headers().get("x-request-id").unwrap(), "<script>");
}

#[actix_web::test]
async fn api_errors_are_json_with_a_stable_code() {
    let t = spawn_app().await;
    let service = test::init_service(app(t.state.clone())).await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/api/v1/nothing").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].as_str().unwrap().len() > 5);

    let response = test::call_service(
        &service,
        test::TestRequest::post().uri("/healthz").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[actix_web::test]
async fn page_errors_are_readable_pages_in_the_visitors_language() {
    let t = spawn_app().await;
    let service = test::init_service(app(t.state.clone())).await;

    // Vietnamese by default.
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/no/such/page").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(html.contains(r#"<html lang="vi">"#), "{html}");
    assert!(html.contains("Không tìm thấy"), "{html}");

    // English when the browser asks for it.
    let response = test::call_service(
        &service,
        test::TestRequest::get()
            .uri("/no/such/page")
            .insert_header(("accept-language", "en-GB,en;q=0.9"))
            .to_request(),
    )
    .await;
    let html = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(html.contains(r#"<html lang="en">"#), "{html}");
    assert!(html.contains("was not found"), "{html}");

    // The cookie set by the switcher wins over the header.
    let response = test::call_service(
        &service,
        test::TestRequest::get()
            .uri("/no/such/page")
            .insert_header(("accept-language", "en"))
            .cookie(actix_web::cookie::Cookie::new("lang", "vi"))
            .to_request(),
    )
    .await;
    let html = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(html.contains(r#"<html lang="vi">"#), "{html}");
}

#[actix_web::test]
async fn the_language_switch_sets_a_cookie_and_only_returns_to_local_pages() {
    let t = spawn_app().await;
    let service = test::init_service(app(t.state.clone())).await;
    let response = test::call_service(
        &service,
        test::TestRequest::get()
            .uri("/lang/en?next=/some/page")
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers().get("location").unwrap(), "/some/page");
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(cookie.starts_with("lang=en"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");

    for evil in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
    ] {
        let uri = format!("/lang/vi?next={}", urlencode(evil));
        let response =
            test::call_service(&service, test::TestRequest::get().uri(&uri).to_request()).await;
        assert_eq!(response.headers().get("location").unwrap(), "/", "{evil}");
    }

    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/lang/xx").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[actix_web::test]
async fn home_page_renders_in_both_languages() {
    let t = spawn_app().await;
    let service = test::init_service(app(t.state.clone())).await;
    let response =
        test::call_service(&service, test::TestRequest::get().uri("/").to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(html.contains("kho dữ liệu số cá nhân"), "{html}");
    assert!(html.contains(r##"<a class="skip" href="#main">"##));
    let response = test::call_service(
        &service,
        test::TestRequest::get()
            .uri("/")
            .cookie(actix_web::cookie::Cookie::new("lang", "en"))
            .to_request(),
    )
    .await;
    let html = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(html.contains("your personal data store"), "{html}");
}

#[actix_web::test]
async fn json_bodies_over_the_limit_are_refused_with_413() {
    let t = crate::helpers::spawn_app_with(&[("MAX_BODY_BYTES", "2048")]).await;
    let service =
        test::init_service(app(t.state.clone()).route(
            "/api/test-echo",
            web::post().to(|body: web::Json<Value>| async move {
                HttpResponse::Ok().json(body.into_inner())
            }),
        ))
        .await;
    let small = serde_json::json!({ "a": "x".repeat(100) });
    let response = test::call_service(
        &service,
        test::TestRequest::post()
            .uri("/api/test-echo")
            .set_json(&small)
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    let big = serde_json::json!({ "a": "x".repeat(4096) });
    let response = test::call_service(
        &service,
        test::TestRequest::post()
            .uri("/api/test-echo")
            .set_json(&big)
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["error"]["code"], "payload_too_large");

    let response = test::call_service(
        &service,
        test::TestRequest::post()
            .uri("/api/test-echo")
            .insert_header(("content-type", "application/json"))
            .set_payload("{not json")
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["error"]["code"], "malformed_json");
}

#[actix_web::test]
async fn slow_handlers_are_cut_off_with_504() {
    let t = crate::helpers::spawn_app_with(&[("REQUEST_TIMEOUT_SECS", "1")]).await;
    let service = test::init_service(app(t.state.clone()).route(
        "/api/test-slow",
        web::get().to(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            HttpResponse::Ok().finish()
        }),
    ))
    .await;
    let result = test::try_call_service(
        &service,
        test::TestRequest::get().uri("/api/test-slow").to_request(),
    )
    .await;
    let error = result.err().expect("the time limit answers with an error");
    let response = error.error_response();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
}
