//! What a browser gets on the wire: compression only of rendered text (never of a citizen's
//! document or package), content-hashed static assets with validators, the favicon.

use std::collections::HashMap;
use std::io::Read as _;

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test;
use congdanso::startup::app;
use serde_json::{Value, json};

use crate::helpers::{Client, spawn_app};
use crate::issuing::{CITIZEN, make_issuer, pdf, post_multipart};

/// What a browser asks for.
const BROWSER_ENCODINGS: &str = "gzip, deflate, br";

struct Wire {
    status: StatusCode,
    headers: HeaderMap,
    /// What actix frames the body with: `Sized(n)` is sent as `Content-Length: n`.
    size: BodySize,
    body: Vec<u8>,
}

/// A GET through the whole app, keeping what decides the framing on the wire.
async fn get<S, B>(
    service: &S,
    cookies: &HashMap<String, String>,
    path: &str,
    headers: &[(&str, &str)],
) -> Wire
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: MessageBody,
{
    let mut request = test::TestRequest::get().uri(path);
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    for (name, value) in cookies {
        request = request.cookie(actix_web::cookie::Cookie::new(name.clone(), value.clone()));
    }
    let response = test::call_service(service, request.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let size = response.response().body().size();
    let body = test::read_body(response).await.to_vec();
    Wire {
        status,
        headers,
        size,
        body,
    }
}

fn header<'a>(wire: &'a Wire, name: &str) -> Option<&'a str> {
    wire.headers.get(name).and_then(|v| v.to_str().ok())
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[actix_web::test]
async fn documents_and_packages_reach_a_browser_as_stored_and_pages_are_gzipped() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    crate::accounts::register_citizen(&mut client, &t, CITIZEN).await;
    let issuer = make_issuer(&t, "CA-NEN", 21).await;
    // A PDF gzip would shrink a lot (a repeating pattern), so compression could not hide.
    let file = pdf("Giấy phép xây dựng");
    let payload = issuer.payload(
        &t,
        "other",
        json!({ "number": "9/GP", "title": "Giấy phép", "issue_date": "2026-11-20" }),
        Some(&file),
    );
    let document = issuer.signed(&payload).to_string();
    let (status, body) = post_multipart(
        &t,
        &issuer.token,
        &[
            ("document", None, document.as_bytes()),
            ("file", Some("gp-9.pdf"), &file),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["document"]["id"].as_str().unwrap().to_owned();

    let service = test::init_service(app(t.state.clone())).await;
    let cookies = client.cookies.clone();
    for encodings in [BROWSER_ENCODINGS, "gzip, br", "gzip;q=1.0, identity;q=0.5"] {
        let accept = [("accept-encoding", encodings)];
        let download = get(
            &service,
            &cookies,
            &format!("/documents/{id}/download"),
            &accept,
        )
        .await;
        assert_eq!(download.status, StatusCode::OK, "{encodings}");
        assert_eq!(header(&download, "content-encoding"), None, "{encodings}");
        assert_eq!(header(&download, "content-type"), Some("application/pdf"));
        assert_eq!(
            download.size,
            BodySize::Sized(file.len() as u64),
            "{encodings}"
        );
        assert!(download.body == file, "{encodings}: the bytes differ");

        let package = get(
            &service,
            &cookies,
            &format!("/documents/{id}/package"),
            &accept,
        )
        .await;
        assert_eq!(package.status, StatusCode::OK, "{encodings}");
        assert_eq!(header(&package, "content-encoding"), None, "{encodings}");
        assert_eq!(
            package.size,
            BodySize::Sized(package.body.len() as u64),
            "{encodings}"
        );
        // The same bytes a client that asks for no encoding gets.
        let plain = get(&service, &cookies, &format!("/documents/{id}/package"), &[]).await;
        assert!(package.body == plain.body, "{encodings}: package differs");
        assert!(package.body.len() > file.len());
    }

    // A range of the document is not compressed either.
    let part = get(
        &service,
        &cookies,
        &format!("/documents/{id}/download"),
        &[
            ("accept-encoding", BROWSER_ENCODINGS),
            ("range", "bytes=0-99"),
        ],
    )
    .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&part, "content-encoding"), None);
    assert!(part.body == file[..100]);

    // The list page is gzipped for a browser, in one piece with its length, and unpacks to the
    // page a client without compression gets.
    let plain = get(&service, &cookies, "/documents", &[]).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(header(&plain, "content-encoding"), None);
    assert_eq!(header(&plain, "vary"), Some("accept-encoding"));
    let zipped = get(
        &service,
        &cookies,
        "/documents",
        &[("accept-encoding", BROWSER_ENCODINGS)],
    )
    .await;
    assert_eq!(zipped.status, StatusCode::OK);
    assert_eq!(header(&zipped, "content-encoding"), Some("gzip"));
    assert_eq!(header(&zipped, "vary"), Some("accept-encoding"));
    assert_eq!(zipped.size, BodySize::Sized(zipped.body.len() as u64));
    assert!(zipped.body.len() < plain.body.len());
    assert_eq!(
        String::from_utf8(gunzip(&zipped.body)).unwrap(),
        String::from_utf8(plain.body).unwrap()
    );

    // JSON is compressed too, when large enough to be worth it.
    let trust = get(
        &service,
        &cookies,
        "/.well-known/congdanso/trust-list.json",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(trust.status, StatusCode::OK);
    let json: Value = match header(&trust, "content-encoding") {
        Some("gzip") => serde_json::from_slice(&gunzip(&trust.body)).unwrap(),
        _ => {
            assert!(trust.body.len() < 1024, "{} bytes", trust.body.len());
            serde_json::from_slice(&trust.body).unwrap()
        }
    };
    assert!(json.is_object());
}

/// The content-hashed URL a page links for `rel`.
fn linked(html: &str, prefix: &str) -> String {
    let start = html
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} in {html}"));
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}

#[actix_web::test]
async fn the_stylesheet_is_linked_by_its_hash_kept_for_a_year_and_revalidated_by_etag() {
    let t = spawn_app().await;
    let service = test::init_service(app(t.state.clone())).await;
    let none = HashMap::new();
    let home = get(&service, &none, "/", &[]).await;
    let html = String::from_utf8(home.body).unwrap();
    let href = linked(&html, "/static/app.");
    let stylesheet = include_bytes!("../../web/static/app.css");

    let first = get(&service, &none, &href, &[]).await;
    assert_eq!(first.status, StatusCode::OK, "{href}");
    assert!(first.body == stylesheet);
    assert_eq!(
        header(&first, "content-type"),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(
        header(&first, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let etag = header(&first, "etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    // The hash in the URL names these bytes.
    let hash = href
        .trim_start_matches("/static/app.")
        .trim_end_matches(".css");
    assert_eq!(etag, format!("\"{hash}\""));
    use sha2::Digest as _;
    assert!(hex::encode(sha2::Sha256::digest(stylesheet)).starts_with(hash));

    // A browser that has it asks again only to revalidate: 304, nothing sent.
    let again = get(&service, &none, &href, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(header(&again, "etag"), Some(etag.as_str()));
    assert_eq!(
        header(&again, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let other = get(&service, &none, &href, &[("if-none-match", "\"0000\"")]).await;
    assert_eq!(other.status, StatusCode::OK);

    // Gzipped for a browser, with a weak validator that still revalidates.
    let zipped = get(
        &service,
        &none,
        &href,
        &[("accept-encoding", BROWSER_ENCODINGS)],
    )
    .await;
    assert_eq!(header(&zipped, "content-encoding"), Some("gzip"));
    assert!(gunzip(&zipped.body) == stylesheet);
    let weak = header(&zipped, "etag").unwrap().to_owned();
    assert_eq!(weak, format!("W/{etag}"));
    let again = get(
        &service,
        &none,
        &href,
        &[
            ("accept-encoding", BROWSER_ENCODINGS),
            ("if-none-match", &weak),
        ],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());

    // The old fixed URL keeps working, briefly cached and revalidated by the same tag.
    let old = get(&service, &none, "/static/app.css", &[]).await;
    assert_eq!(old.status, StatusCode::OK);
    assert!(old.body == stylesheet);
    assert_eq!(header(&old, "cache-control"), Some("public, max-age=300"));
    assert_eq!(header(&old, "etag"), Some(etag.as_str()));
    let old = get(
        &service,
        &none,
        "/static/app.css",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(old.status, StatusCode::NOT_MODIFIED);

    // A page of another release names another hash: today's bytes, but not for a year.
    let stale = get(&service, &none, "/static/app.0123456789abcdef.css", &[]).await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(header(&stale, "cache-control"), Some("public, max-age=300"));
    let junk = get(&service, &none, "/static/app.zz.css", &[]).await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_favicon_is_served_and_the_page_icon_is_kept_for_a_year() {
    let t = spawn_app().await;
    let service = test::init_service(app(t.state.clone())).await;
    let none = HashMap::new();

    let ico = get(&service, &none, "/favicon.ico", &[]).await;
    assert_eq!(ico.status, StatusCode::OK);
    assert_eq!(header(&ico, "content-type"), Some("image/x-icon"));
    assert!(ico.body.starts_with(&[0, 0, 1, 0]), "an ICO file");
    assert!(ico.body == include_bytes!("../../web/static/favicon.ico"));
    assert_eq!(
        header(&ico, "cache-control"),
        Some("public, max-age=604800")
    );
    let etag = header(&ico, "etag").unwrap().to_owned();
    let again = get(&service, &none, "/favicon.ico", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    let home = get(&service, &none, "/", &[]).await;
    let html = String::from_utf8(home.body).unwrap();
    assert!(
        html.contains("<link rel=\"icon\" href=\"/static/icon."),
        "{html}"
    );
    let href = linked(&html, "/static/icon.");
    let svg = get(&service, &none, &href, &[]).await;
    assert_eq!(svg.status, StatusCode::OK, "{href}");
    assert_eq!(header(&svg, "content-type"), Some("image/svg+xml"));
    assert!(svg.body == include_bytes!("../../web/static/favicon.svg"));
    assert_eq!(
        header(&svg, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
}
