//! The OpenAPI document of `/api/v1` and the routes cannot drift apart: the documented
//! operations are exactly the route table (both ways), every documented operation reaches its
//! own route with a real request and answers a documented status, the security the document
//! claims is the one the server enforces, and real answers have the documented shapes.

use std::collections::BTreeSet;

use actix_web::http::{Method, StatusCode};
use actix_web::test;
use congdanso::openapi::{AGENCY_TOKEN, DOCUMENT};
use congdanso::routes::{API_ROUTES, API_V1};
use congdanso::startup::app;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::grants::{approve, ask_cccd, citizen_with_cccd, make_asker, register_purpose};
use crate::helpers::{Client, TestApp, spawn_app};
use crate::issuing::package_bytes;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

fn document() -> Value {
    serde_json::from_str(&DOCUMENT).expect("the document is JSON")
}

/// Every (method, path template, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
        for key in item.as_object().expect("path item").keys() {
            assert!(
                METHODS.contains(&key.as_str()),
                "{path}: unexpected member {key} (a method the check does not know?)"
            );
        }
    }
    out
}

fn secured(op: &Value) -> bool {
    op["security"]
        .as_array()
        .is_some_and(|all| all.iter().any(|r| r.get(AGENCY_TOKEN).is_some()))
}

/// A real answer: status, the pattern of the resource that answered (None: no route), body.
struct Answer {
    status: StatusCode,
    pattern: Option<String>,
    content_type: String,
    body: Vec<u8>,
}

async fn send(
    t: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> Answer {
    let service = test::init_service(app(t.state.clone())).await;
    let mut request = test::TestRequest::default()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path);
    if let Some(token) = token {
        request = request.insert_header(("authorization", format!("Bearer {token}")));
    }
    if let Some((content_type, bytes)) = body {
        request = request
            .insert_header(("content-type", content_type))
            .set_payload(bytes);
    }
    let response = test::call_service(&service, request.to_request()).await;
    let status = response.status();
    let pattern = response.request().match_pattern();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = test::read_body(response).await.to_vec();
    Answer {
        status,
        pattern,
        content_type,
        body,
    }
}

#[actix_web::test]
async fn the_document_is_served_as_public_cacheable_openapi_3_1_json() {
    let t = spawn_app().await;
    let answer = send(&t, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.content_type.starts_with("application/json"),
        "{}",
        answer.content_type
    );
    let service = test::init_service(app(t.state.clone())).await;
    let response = test::call_service(
        &service,
        test::TestRequest::get()
            .uri("/api/v1/openapi.json")
            .to_request(),
    )
    .await;
    let cache = response
        .headers()
        .get("cache-control")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cache.starts_with("public"), "{cache}");
    let served: Value = serde_json::from_slice(&answer.body).expect("JSON");
    assert!(
        served["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        served["openapi"]
    );
    assert_eq!(served["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(served["servers"][0]["url"], "/");
    assert_eq!(
        served["components"]["securitySchemes"][AGENCY_TOKEN]["scheme"],
        "bearer"
    );
    assert_eq!(served, document());
    // Every schema reference resolves.
    let text = DOCUMENT.as_str();
    for part in text.split("\"$ref\": \"").skip(1) {
        let target = &part[..part.find('"').unwrap()];
        let pointer = target.trim_start_matches('#');
        assert!(served.pointer(pointer).is_some(), "dangling $ref {target}");
    }
}

#[actix_web::test]
async fn the_documented_operations_are_exactly_the_api_routes() {
    let routes: BTreeSet<(String, String)> = API_ROUTES
        .iter()
        .map(|r| (r.method.to_string(), format!("{API_V1}{}", r.path)))
        .collect();
    assert_eq!(routes.len(), API_ROUTES.len(), "a route listed twice");
    let documented: BTreeSet<(String, String)> = operations(&document())
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let undocumented: Vec<_> = routes.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routes).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document (add #[utoipa::path] and list it in ApiDoc): {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented operations with no route in routes::API_ROUTES: {unrouted:?}"
    );
    // Operation ids are unique (client generators name methods after them).
    let ids: Vec<String> = operations(&document())
        .iter()
        .map(|(_, _, op)| op["operationId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "{ids:?}"
    );
}

/// A body each operation accepts as far as routing (its content type from the document).
fn probe_body(op: &Value) -> Option<(&'static str, Vec<u8>)> {
    let content = op["requestBody"]["content"].as_object()?;
    if content.contains_key("application/json") {
        Some(("application/json", b"{}".to_vec()))
    } else {
        Some(("application/x-tar", Vec::new()))
    }
}

#[actix_web::test]
async fn every_documented_operation_reaches_its_route_with_a_documented_status() {
    let t = spawn_app().await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    let doc = document();
    let mut checked = 0;
    for (method, template, op) in operations(&doc) {
        let mut path = template.clone();
        for param in op["parameters"].as_array().into_iter().flatten() {
            if param["in"] == "path" {
                let name = param["name"].as_str().unwrap();
                path = path.replace(&format!("{{{name}}}"), &Uuid::now_v7().to_string());
            }
        }
        assert!(
            !path.contains('{'),
            "{template}: a path parameter is not documented"
        );
        let token = secured(&op).then_some(asker.token.as_str());
        let answer = send(&t, &method, &path, token, probe_body(&op)).await;
        assert_eq!(
            answer.pattern.as_deref(),
            Some(template.as_str()),
            "{method} {path} was not answered by its route ({}: {})",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        assert_ne!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {template}"
        );
        let documented = op["responses"].as_object().unwrap();
        assert!(
            documented.contains_key(answer.status.as_str()),
            "{method} {template} answered {} which the document does not list: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        checked += 1;
    }
    assert_eq!(checked, API_ROUTES.len());
}

#[actix_web::test]
async fn the_documented_security_is_what_the_server_enforces() {
    let t = spawn_app().await;
    let doc = document();
    for (method, template, op) in operations(&doc) {
        let path = template
            .replace("{id}", &Uuid::now_v7().to_string())
            .replace("{document}", &Uuid::now_v7().to_string());
        let answer = send(&t, &method, &path, None, probe_body(&op)).await;
        if secured(&op) {
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{method} {template} is documented as needing a token but answered without one"
            );
            assert!(
                op["responses"].get("401").is_some(),
                "{method} {template}: 401 not listed"
            );
        } else {
            assert_ne!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{method} {template} is documented as public but asks for a token"
            );
        }
    }
}

// ------------------------------------------------------------------ shapes

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(target) => resolve(doc, doc.pointer(target.trim_start_matches('#')).unwrap()),
        None => schema,
    }
}

fn type_ok(kind: &str, value: &Value) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

/// Where `value` departs from `schema`. Stricter than JSON Schema on purpose: an object
/// schema that lists properties admits no other member (the handlers build these objects by
/// hand, so a member added in code and not in the schema is drift).
fn departures(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(choices) = schema.get("oneOf").and_then(Value::as_array) {
        let fits = choices.iter().any(|choice| {
            let mut found = Vec::new();
            departures(doc, choice, value, at, &mut found);
            found.is_empty()
        });
        if !fits {
            out.push(format!("{at}: fits none of oneOf: {value}"));
        }
        return;
    }
    let kinds: Vec<&str> = match schema.get("type") {
        Some(Value::String(kind)) => vec![kind.as_str()],
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !kinds.is_empty() && !kinds.iter().any(|kind| type_ok(kind, value)) {
        out.push(format!("{at}: {value} is not {kinds:?}"));
        return;
    }
    if let Some(choices) = schema.get("enum").and_then(Value::as_array)
        && !choices.contains(value)
    {
        out.push(format!("{at}: {value} is not one of {choices:?}"));
    }
    match value {
        Value::Object(members) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                if !members.contains_key(name) {
                    out.push(format!(
                        "{at}.{name}: required by the document, missing in the answer"
                    ));
                }
            }
            for (name, member) in members {
                let here = format!("{at}.{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(property) => departures(doc, property, member, &here, out),
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => out.push(format!("{here}: not allowed")),
                        Some(extra @ Value::Object(_)) => {
                            departures(doc, extra, member, &here, out)
                        }
                        _ if properties.is_some() => {
                            out.push(format!("{here}: in the answer but not in the document"))
                        }
                        _ => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, element) in items.iter().enumerate() {
                    departures(doc, item, element, &format!("{at}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Asserts that a real JSON answer fits the schema the document gives for that operation and
/// status.
fn assert_documented(doc: &Value, method: &str, path: &str, status: StatusCode, body: &Value) {
    let op = &doc["paths"][path][method.to_lowercase()];
    assert!(op.is_object(), "{method} {path} is not documented");
    let response = resolve(doc, &op["responses"][status.as_str()]);
    assert!(
        response.is_object(),
        "{method} {path}: status {status} is not documented ({body})"
    );
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} {status}: no JSON schema"
    );
    let mut found = Vec::new();
    departures(doc, schema, body, "$", &mut found);
    assert!(
        found.is_empty(),
        "{method} {path} {status}: the answer departs from the document:\n{}\n{body:#}",
        found.join("\n")
    );
}

async fn call(
    t: &TestApp,
    doc: &Value,
    method: &str,
    template: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> (StatusCode, Value) {
    let answer = send(t, method, path, token, body).await;
    assert_eq!(answer.pattern.as_deref(), Some(template), "{method} {path}");
    let value: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    assert_documented(doc, method, template, answer.status, &value);
    (answer.status, value)
}

#[actix_web::test]
async fn real_answers_have_the_documented_shapes() {
    let t = spawn_app().await;
    let doc = document();
    let mut me = Client::new(test::init_service(app(t.state.clone())).await);
    let (issuer, cccd) = citizen_with_cccd(&t, &mut me).await;
    let asker = make_asker(&t, "UBND-HAICHAU").await;
    register_purpose(&t, &asker.agency, "cu-tru", &["full_name", "date_of_birth"]).await;
    let token = Some(asker.token.as_str());
    let json_body = |v: &Value| Some(("application/json", serde_json::to_vec(v).unwrap()));

    // Issuing: a second document (the first one came in through the same endpoint).
    let payload = issuer.payload(
        &t,
        "cccd",
        crate::issuing::cccd_fields(crate::issuing::CITIZEN),
        None,
    );
    let (status, _) = call(
        &t,
        &doc,
        "POST",
        "/api/v1/documents",
        "/api/v1/documents",
        Some(&issuer.token),
        json_body(&issuer.signed(&payload)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(
        &t,
        &doc,
        "POST",
        "/api/v1/documents",
        "/api/v1/documents",
        Some(&issuer.token),
        json_body(&json!({"payload": {}, "signature": ""})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(
        &t,
        &doc,
        "GET",
        "/api/v1/agency",
        "/api/v1/agency",
        Some(&issuer.token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Verification: a real package, and a body that is none.
    let package = package_bytes(&t, cccd).await;
    let (status, report) = call(
        &t,
        &doc,
        "POST",
        "/api/v1/verify",
        "/api/v1/verify",
        None,
        Some(("application/x-tar", package)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["valid"], true, "{report}");
    let (status, _) = call(
        &t,
        &doc,
        "POST",
        "/api/v1/verify",
        "/api/v1/verify",
        None,
        Some(("application/x-tar", b"not a package".to_vec())),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Sharing: ask, list, show, approve, the grant, a read, the refusals.
    let ask = ask_cccd(
        json!({ "full_name": "required", "date_of_birth": "optional" }),
        1,
    );
    let (status, request) = call(
        &t,
        &doc,
        "POST",
        "/api/v1/requests",
        "/api/v1/requests",
        token,
        json_body(&ask),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = request["id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &t,
        &doc,
        "POST",
        "/api/v1/requests",
        "/api/v1/requests",
        token,
        json_body(&json!({"purpose": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(
        &t,
        &doc,
        "GET",
        "/api/v1/requests",
        "/api/v1/requests",
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let show = format!("/api/v1/requests/{id}");
    call(&t, &doc, "GET", "/api/v1/requests/{id}", &show, token, None).await;

    let grant = approve(&t, &mut me, &id, cccd, &["date_of_birth"]).await;
    let (_, approved) = call(&t, &doc, "GET", "/api/v1/requests/{id}", &show, token, None).await;
    assert_eq!(approved["status"], "approved");
    let (status, _) = call(
        &t,
        &doc,
        "GET",
        "/api/v1/grants",
        "/api/v1/grants",
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &t,
        &doc,
        "GET",
        "/api/v1/grants/{id}",
        &format!("/api/v1/grants/{grant}"),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let fields = "/api/v1/grants/{id}/documents/{document}";
    let read = format!("/api/v1/grants/{grant}/documents/{cccd}");
    let (status, body) = call(&t, &doc, "GET", fields, &read, token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // max_uses = 1: the second read is refused, in the documented error shape.
    let (status, body) = call(&t, &doc, "GET", fields, &read, token, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "grant_exhausted");
    // The file was not granted: out of scope, documented as 404.
    let (status, _) = call(
        &t,
        &doc,
        "GET",
        "/api/v1/grants/{id}/documents/{document}/file",
        &format!("{read}/file"),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Without a token: the shared 401.
    let (status, _) = call(
        &t,
        &doc,
        "GET",
        "/api/v1/grants",
        "/api/v1/grants",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
