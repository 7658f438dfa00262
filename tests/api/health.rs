use actix_web::http::StatusCode;
use actix_web::test;
use congdanso::startup::app;
use serde_json::Value;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn healthz_answers_without_touching_dependencies() {
    let t = spawn_app().await;
    t.state.db.close_by_ref().await.unwrap();
    let service = test::init_service(app(t.state.clone())).await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/healthz").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[actix_web::test]
async fn readyz_is_green_when_database_and_blob_store_answer() {
    let t = spawn_app().await;
    let service = test::init_service(app(t.state.clone())).await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/readyz").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    assert_eq!(body["checks"]["blob_store"]["status"], "ok");
    let expected_db = if crate::helpers::postgres_url().is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(body["checks"]["database"]["backend"], expected_db);
    let expected_blobs = if crate::helpers::s3_settings().is_some() {
        "s3"
    } else {
        "local"
    };
    assert_eq!(body["checks"]["blob_store"]["backend"], expected_blobs);
}

#[actix_web::test]
async fn readyz_turns_503_when_the_database_is_unreachable() {
    let t = spawn_app().await;
    let service = test::init_service(app(t.state.clone())).await;
    t.state.db.close_by_ref().await.unwrap();
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/readyz").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["status"], "unavailable");
    assert_eq!(body["checks"]["blob_store"]["status"], "ok");
}

#[actix_web::test]
async fn readyz_turns_503_when_the_local_blob_folder_is_gone() {
    // About the local-disk backend, so it is forced here whatever the suite's blob store.
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs");
    let blob_url = format!("file://{}", blobs.display());
    let t = crate::helpers::spawn_app_with(&[("BLOB_STORE_URL", &blob_url)]).await;
    let service = test::init_service(app(t.state.clone())).await;
    std::fs::remove_dir_all(&blobs).unwrap();
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/readyz").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["checks"]["blob_store"]["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["status"], "ok");
}

#[actix_web::test]
async fn metrics_count_requests_by_route_and_status() {
    let t = spawn_app().await;
    let service = test::init_service(app(t.state.clone())).await;
    for _ in 0..3 {
        test::call_service(
            &service,
            test::TestRequest::get().uri("/healthz").to_request(),
        )
        .await;
    }
    test::call_service(
        &service,
        test::TestRequest::get().uri("/no/such/page").to_request(),
    )
    .await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/metrics").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(
        text.contains(
            r#"congdanso_http_requests_total{method="GET",route="/healthz",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(text.contains("congdanso_http_request_duration_seconds_bucket"));
    // The raw path never becomes a label.
    assert!(!text.contains("/no/such/page"));
}

#[actix_web::test]
async fn metrics_require_the_token_when_one_is_configured() {
    let t =
        crate::helpers::spawn_app_with(&[("METRICS_TOKEN", "a-long-enough-metrics-token")]).await;
    let service = test::init_service(app(t.state.clone())).await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/metrics").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = test::call_service(
        &service,
        test::TestRequest::get()
            .uri("/metrics")
            .insert_header(("authorization", "Bearer wrong-token-of-some-length"))
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = test::call_service(
        &service,
        test::TestRequest::get()
            .uri("/metrics")
            .insert_header(("authorization", "Bearer a-long-enough-metrics-token"))
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}
