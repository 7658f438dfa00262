//! The encrypted vault through the real HTTP app: round trips, ranges, type checks, quota,
//! tampering, access, deletion with step-up, interrupted uploads and the sweep.

use actix_web::http::StatusCode;
use actix_web::test;
use bytes::Bytes;
use congdanso::accounts::repo as accounts;
use congdanso::startup::app;
use congdanso::storage::BlobKey;
use congdanso::vault::{repo, service};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::accounts::{code_for, register_citizen};
use crate::helpers::{Client, NowUtc, TestApp, spawn_app, spawn_app_with};

const CHUNK: usize = 64 * 1024;

/// A "PDF" of exactly `len` bytes (magic bytes, then varied filler).
fn pdf(len: usize) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n".to_vec();
    out.extend((0..len.saturating_sub(out.len())).map(|i| (i * 7 + i / 251) as u8));
    out.truncate(len);
    out
}

async fn owner_id(t: &TestApp, login: &str) -> uuid::Uuid {
    accounts::find_by_login(&t.state.db, login)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// Uploads and returns the new document's id (the newest of the owner's).
async fn upload<S, B>(client: &mut Client<S>, t: &TestApp, login: &str, bytes: &[u8]) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let owner = owner_id(t, login).await;
    let before: Vec<uuid::Uuid> = repo::list_for_owner(&t.state.db, owner)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    let reply = client
        .post_multipart(
            "/documents",
            &[
                ("doc_type", "birth_certificate"),
                ("title", "Giấy khai sinh"),
            ],
            Some(("khai-sinh.pdf", bytes)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let docs = repo::list_for_owner(&t.state.db, owner).await.unwrap();
    let new: Vec<_> = docs.iter().filter(|d| !before.contains(&d.id)).collect();
    assert_eq!(new.len(), 1);
    // The answer names the new document: its page.
    assert_eq!(
        reply.location(),
        format!("/documents/{}?done=uploaded", new[0].id)
    );
    new[0].id.to_string()
}

async fn blob_of(t: &TestApp, id: &str) -> (BlobKey, Vec<u8>) {
    let row = repo::find(&t.state.db, id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let key = BlobKey::parse(row.blob_key).unwrap();
    let mut read = t.state.blobs.get_stream(&key).await.unwrap();
    let mut bytes = Vec::new();
    while let Some(chunk) = read.stream.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    (key, bytes)
}

#[actix_web::test]
async fn documents_round_trip_at_every_chunk_boundary() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    assert_eq!(client.get("/documents").await.status, StatusCode::OK);
    for len in [
        9,
        20,
        CHUNK - 1,
        CHUNK,
        CHUNK + 1,
        3 * CHUNK + 123,
        2 * 1024 * 1024 + 5,
    ] {
        let original = pdf(len);
        let id = upload(&mut client, &t, "079090001234", &original).await;
        let (reply, body) = client
            .get_with(&format!("/documents/{id}/download"), &[])
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{len}");
        assert_eq!(body.len(), len, "{len}");
        assert!(body == original, "{len}: content differs");
        assert_eq!(
            reply.headers.get("content-type").unwrap(),
            "application/pdf"
        );
        assert_eq!(
            reply
                .headers
                .get("content-length")
                .unwrap()
                .to_str()
                .unwrap(),
            len.to_string()
        );
        let disposition = reply
            .headers
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            disposition.contains("filename*=UTF-8''khai-sinh.pdf"),
            "{disposition}"
        );
        // The stored blob is ciphertext: the plaintext's distinctive start is nowhere in it.
        let (_, blob) = blob_of(&t, &id).await;
        assert!(blob.len() > len);
        assert!(!blob.windows(9).any(|w| w == b"%PDF-1.7\n"));
        let page = client.get(&format!("/documents/{id}")).await;
        assert!(page.body.contains(&hex::encode(Sha256::digest(&original))));
    }
    let list = client.get("/documents").await;
    assert_eq!(
        list.body.matches("href=\"/documents/0").count(),
        7,
        "{}",
        list.body
    );
    // Title and file name are sealed, not stored in clear.
    let row = &repo::list_for_owner(&t.state.db, owner_id(&t, "079090001234").await)
        .await
        .unwrap()[0];
    assert!(!String::from_utf8_lossy(&row.title).contains("khai sinh"));
    assert!(!String::from_utf8_lossy(&row.file_name).contains("khai-sinh"));
}

#[actix_web::test]
async fn range_requests_decrypt_only_what_is_asked() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    let original = pdf(3 * CHUNK + 500);
    let id = upload(&mut client, &t, "079090001234", &original).await;
    let url = format!("/documents/{id}/download");
    let len = original.len();
    for (range, start, end) in [
        ("bytes=0-9", 0, 10),
        ("bytes=65530-65545", 65530, 65546),
        ("bytes=-10", len - 10, len),
        ("bytes=131072-", 131072, len),
    ] {
        let (reply, body) = client.get_with(&url, &[("range", range)]).await;
        assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert!(body == original[start..end], "{range}");
        assert_eq!(
            reply
                .headers
                .get("content-range")
                .unwrap()
                .to_str()
                .unwrap(),
            format!("bytes {start}-{}/{len}", end - 1)
        );
    }
    let (reply, _) = client
        .get_with(&url, &[("range", &format!("bytes={len}-"))])
        .await;
    assert_eq!(reply.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        reply
            .headers
            .get("content-range")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("bytes */{len}")
    );
}

#[actix_web::test]
async fn files_are_judged_by_content_and_refusals_leave_nothing() {
    let t = spawn_app_with(&[
        ("STORAGE_QUOTA_BYTES", "150000"),
        ("MAX_UPLOAD_BYTES", "100000"),
    ])
    .await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    client.lang = Some("en");
    register_citizen(&mut client, &t, "079090001234").await;
    let owner = owner_id(&t, "079090001234").await;

    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"<html><script>alert(1)</script></html>".to_vec(),
            "judged by content",
        ),
        (
            b"MZ\x90\x00 this is an executable".to_vec(),
            "judged by content",
        ),
        (pdf(120_000), "larger than allowed"),
    ];
    for (bytes, message) in cases {
        let reply = client
            .post_multipart(
                "/documents",
                &[("doc_type", "other"), ("title", "Bad")],
                Some(("scan.pdf", &bytes)),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(reply.body.contains(message), "{}", reply.body);
    }
    upload(&mut client, &t, "079090001234", &pdf(90_000)).await;
    let reply = client
        .post_multipart(
            "/documents",
            &[("doc_type", "other"), ("title", "Too much")],
            Some(("b.pdf", &pdf(90_000))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.body.contains("no room"), "{}", reply.body);
    // Missing title and type are reported before anything is stored.
    let reply = client
        .post_multipart(
            "/documents",
            &[("doc_type", "nope"), ("title", " ")],
            Some(("c.pdf", &pdf(100))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(
        repo::list_for_owner(&t.state.db, owner)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        repo::stale_uploads(&t.state.db, t.clock_now_plus_hours(1))
            .await
            .unwrap()
            .is_empty()
    );
    let blobs: Vec<_> = t
        .state
        .blobs
        .list(&BlobKey::parse(format!("documents/{owner}")).unwrap())
        .collect()
        .await;
    assert_eq!(blobs.len(), 1, "only the accepted document's blob exists");

    // No CSRF token: refused before anything is read.
    client.cookies.remove("cds_csrf");
    let reply = client
        .post_multipart(
            "/documents",
            &[("doc_type", "other"), ("title", "x")],
            Some(("d.pdf", &pdf(100))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn tampered_or_moved_ciphertext_is_always_refused() {
    let t = spawn_app().await;
    let mut alice = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut alice, &t, "079090001234").await;
    let mut bob = Client::new(test::init_service(app(t.state.clone())).await);
    t.clock.advance(chrono::Duration::seconds(30));
    register_citizen(&mut bob, &t, "079090005678").await;

    let original = pdf(3 * CHUNK + 1000);
    let victim = upload(&mut alice, &t, "079090001234", &original).await;
    let other = upload(&mut alice, &t, "079090001234", &pdf(3 * CHUNK + 1000)).await;
    let bobs = upload(&mut bob, &t, "079090005678", &pdf(3 * CHUNK + 1000)).await;
    let (key, pristine) = blob_of(&t, &victim).await;
    let (_, other_blob) = blob_of(&t, &other).await;
    let (bob_key, _) = blob_of(&t, &bobs).await;
    let header = congdanso::crypto::HEADER_LEN;
    let ct_chunk = CHUNK + 16;

    let mut variants: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut v = pristine.clone();
    v[10] ^= 1;
    variants.push(("header byte flipped", v));
    let mut v = pristine.clone();
    v[header + 5] ^= 0x80;
    variants.push(("first chunk byte flipped", v));
    let mut v = pristine.clone();
    let last = v.len() - 1;
    v[last] ^= 1;
    variants.push(("last tag byte flipped", v));
    variants.push((
        "truncated by one byte",
        pristine[..pristine.len() - 1].to_vec(),
    ));
    variants.push((
        "last chunk dropped",
        pristine[..header + 3 * ct_chunk].to_vec(),
    ));
    let mut v = pristine[..header].to_vec();
    v.extend_from_slice(&pristine[header + ct_chunk..header + 2 * ct_chunk]);
    v.extend_from_slice(&pristine[header..header + ct_chunk]);
    v.extend_from_slice(&pristine[header + 2 * ct_chunk..]);
    variants.push(("two chunks swapped", v));
    variants.push(("another document's blob", other_blob.clone()));

    for (what, bytes) in variants {
        t.state
            .blobs
            .put_bytes(&key, Bytes::from(bytes))
            .await
            .unwrap();
        let (reply, body) = alice
            .get_with(&format!("/documents/{victim}/download"), &[])
            .await;
        assert_ne!(reply.status, StatusCode::OK, "{what}: served");
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{what}");
        assert!(
            !body.windows(9).any(|w| w == b"%PDF-1.7\n"),
            "{what}: plaintext leaked"
        );
        assert!(
            reply.body.contains("tampered") || reply.body.contains("can thiệp"),
            "{what}: {}",
            reply.body
        );
    }
    // Alice's blob copied onto Bob's document does not open for Bob either.
    t.state
        .blobs
        .put_bytes(&bob_key, Bytes::from(pristine.clone()))
        .await
        .unwrap();
    let (reply, _) = bob
        .get_with(&format!("/documents/{bobs}/download"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);

    // Restored, it opens again; every failure was counted.
    t.state
        .blobs
        .put_bytes(&key, Bytes::from(pristine))
        .await
        .unwrap();
    let (reply, body) = alice
        .get_with(&format!("/documents/{victim}/download"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(body == original);
    let metrics = alice.get("/metrics").await.body;
    assert!(
        metrics.contains("congdanso_documents_corrupted_total 8"),
        "{metrics}"
    );
}

#[actix_web::test]
async fn another_citizen_gets_not_found_for_my_document() {
    let t = spawn_app().await;
    let mut alice = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut alice, &t, "079090001234").await;
    let id = upload(&mut alice, &t, "079090001234", &pdf(1000)).await;
    let mut bob = Client::new(test::init_service(app(t.state.clone())).await);
    t.clock.advance(chrono::Duration::seconds(30));
    register_citizen(&mut bob, &t, "079090005678").await;
    let missing = uuid::Uuid::now_v7();
    for path in [
        format!("/documents/{id}"),
        format!("/documents/{id}/download"),
        format!("/documents/{id}/delete"),
    ] {
        let mine = bob.get(&path).await;
        let nobodys = bob.get(&path.replace(&id, &missing.to_string())).await;
        assert_eq!(mine.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            nobodys.status, mine.status,
            "{path}: answered like a missing document"
        );
    }
    let reply = bob
        .post(&format!("/documents/{id}/rename"), &[("title", "Mine now")])
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(!bob.get("/documents").await.body.contains(&id));
}

#[actix_web::test]
async fn rename_and_delete_with_step_up() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    let id = upload(&mut client, &t, "079090001234", &pdf(5000)).await;
    let reply = client
        .post(
            &format!("/documents/{id}/rename"),
            &[("title", "Bản gốc khai sinh")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(
        client
            .get("/documents")
            .await
            .body
            .contains("Bản gốc khai sinh")
    );
    let (key, _) = blob_of(&t, &id).await;

    // Deleting needs a fresh TOTP code.
    let reply = client.post(&format!("/documents/{id}/delete"), &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(reply.location().starts_with("/step-up"));
    assert!(
        repo::find(&t.state.db, id.parse().unwrap())
            .await
            .unwrap()
            .is_some()
    );
    let code = code_for(&t, "079090001234", 1).await;
    client
        .post(
            "/step-up",
            &[
                ("code", &code),
                ("next", &format!("/documents/{id}/delete")),
            ],
        )
        .await;
    assert_eq!(
        client.get(&format!("/documents/{id}/delete")).await.status,
        StatusCode::OK
    );
    let reply = client.post(&format!("/documents/{id}/delete"), &[]).await;
    assert_eq!(reply.location(), "/documents?done=deleted");
    assert!(
        repo::find(&t.state.db, id.parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        t.state.blobs.size(&key).await.unwrap(),
        None,
        "blob removed"
    );
    assert_eq!(
        client.get(&format!("/documents/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn an_interrupted_upload_leaves_no_document_and_the_sweep_removes_orphans() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    let owner = accounts::find_by_login(&t.state.db, "079090001234")
        .await
        .unwrap()
        .unwrap();

    // The client goes away after 6 MiB (more than one storage part).
    let first = Bytes::from(pdf(6 * 1024 * 1024));
    let body = futures_util::stream::iter(vec![Ok(first), Err("connection reset")]);
    let result = service::store_document(
        &t.state,
        &owner,
        service::NewDocument {
            doc_type: congdanso::vault::model::DocumentType::Other,
            title: "Bản vẽ".into(),
            file_name: "ban-ve.pdf".into(),
        },
        None,
        body,
    )
    .await;
    assert!(result.is_err());
    assert!(
        repo::list_for_owner(&t.state.db, owner.id)
            .await
            .unwrap()
            .is_empty()
    );
    let blobs: Vec<_> = t
        .state
        .blobs
        .list(&BlobKey::parse(format!("documents/{}", owner.id)).unwrap())
        .collect()
        .await;
    assert!(blobs.is_empty(), "partial blob removed: {blobs:?}");

    // A crash mid-upload: the upload row and a blob exist, no document. The sweep removes
    // the blob once it is older than the grace period, not before.
    let id = uuid::Uuid::now_v7();
    let key = BlobKey::parse(format!("documents/{}/{id}", owner.id)).unwrap();
    repo::start_upload(
        &t.state.db,
        entity::upload::Model {
            id,
            owner_id: owner.id,
            blob_key: key.as_str().into(),
            started_at: t.clock.now_utc(),
            reserved_bytes: 0,
            multipart_id: None,
        },
    )
    .await
    .unwrap();
    t.state
        .blobs
        .put_bytes(&key, Bytes::from_static(b"partial"))
        .await
        .unwrap();
    assert_eq!(
        service::sweep(&t.state, chrono::Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    t.clock.advance(chrono::Duration::hours(2));
    assert_eq!(
        service::sweep(&t.state, chrono::Duration::hours(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(t.state.blobs.size(&key).await.unwrap(), None);
    assert!(
        repo::stale_uploads(&t.state.db, t.clock_now_plus_hours(1))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A second instance on the same database and blob store, with other keys.
async fn same_stores_with_keys(
    t: &TestApp,
    keys: congdanso::keys::Keyring,
) -> congdanso::state::AppState {
    congdanso::startup::build_state_with_keys(
        (*t.state.config).clone(),
        std::sync::Arc::new(t.clock.clone()),
        keys,
    )
    .await
    .unwrap()
}

#[actix_web::test]
async fn master_key_rotation_keeps_every_document_readable() {
    use congdanso::keys::{Keyring, PlatformSigningKey, master_key_from_bytes, random_key};
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    let original = pdf(2 * CHUNK + 77);
    let id = upload(&mut client, &t, "079090001234", &original).await;
    let old_bytes = *t.state.keys.master.expose_secret();
    let old_id = t.state.keys.master.id().as_str().to_owned();
    let signing = *t.state.keys.signing.signing_key().as_bytes();
    let (_, blob_before) = blob_of(&t, &id).await;
    // An agency counter key the platform holds is wrapped by the master key too.
    let agency = congdanso::agencies::service::create_agency(
        &t.state,
        "UBND-HAICHAU",
        "UBND quận Hải Châu",
        "district",
    )
    .await
    .unwrap();
    congdanso::counter::certify::create_counter_key(&t.state, agency.id)
        .await
        .unwrap();

    // Without the old key, the new instance cannot read the vault (and says why).
    let new_bytes = *random_key().unwrap();
    let without_old = same_stores_with_keys(
        &t,
        Keyring {
            master: master_key_from_bytes(new_bytes).unwrap(),
            previous: vec![],
            signing: PlatformSigningKey::from_bytes(signing),
        },
    )
    .await;
    let report = congdanso::keys::rotation::rotate_master(&without_old)
        .await
        .unwrap();
    assert_eq!(report.rewrapped, 0);
    assert_eq!(report.unknown_key, vec![old_id.clone()]);

    let rotated = same_stores_with_keys(
        &t,
        Keyring {
            master: master_key_from_bytes(new_bytes).unwrap(),
            previous: vec![master_key_from_bytes(old_bytes).unwrap()],
            signing: PlatformSigningKey::from_bytes(signing),
        },
    )
    .await;
    // Retiring the old key is refused while data keys still use it.
    assert!(
        congdanso::keys::rotation::retire_master(&rotated, &old_id)
            .await
            .is_err()
    );
    let report = congdanso::keys::rotation::rotate_master(&rotated)
        .await
        .unwrap();
    assert_eq!(
        report.rewrapped, 2,
        "the citizen's data key and the counter key"
    );
    // Running again (e.g. after an interruption) finds nothing left to do.
    assert_eq!(
        congdanso::keys::rotation::rotate_master(&rotated)
            .await
            .unwrap()
            .rewrapped,
        0
    );
    congdanso::keys::rotation::retire_master(&rotated, &old_id)
        .await
        .unwrap();
    assert!(
        congdanso::keys::rotation::retire_master(&rotated, rotated.keys.master.id().as_str())
            .await
            .is_err(),
        "the current key cannot be retired"
    );

    // No blob was touched, and an instance holding only the new key reads everything.
    let (_, blob_after) = blob_of(&t, &id).await;
    assert!(blob_before == blob_after);
    let only_new = same_stores_with_keys(
        &t,
        Keyring {
            master: master_key_from_bytes(new_bytes).unwrap(),
            previous: vec![],
            signing: PlatformSigningKey::from_bytes(signing),
        },
    )
    .await;
    let owner = accounts::find_by_login(&only_new.db, "079090001234")
        .await
        .unwrap()
        .unwrap();
    let doc = congdanso::access::open(
        &only_new,
        &congdanso::access::Reader::Owner(&owner),
        congdanso::access::DocumentId(id.parse().unwrap()),
        congdanso::access::Purpose::Open,
    )
    .await
    .unwrap();
    assert_eq!(doc.title().unwrap(), "Giấy khai sinh");
    // The counter key still signs: a clerk certifies this very document on the new key alone.
    let (clerk, _) = congdanso::accounts::service::create_staff_account(
        &only_new,
        congdanso::auth::Role::CounterStaff,
        "mot.cua",
        "Phạm Một Cửa",
        Some(agency.id),
    )
    .await
    .unwrap();
    let code = congdanso::counter::certify::request(&only_new, &owner, id.parse().unwrap())
        .await
        .unwrap();
    let desk = congdanso::counter::certify::Desk::of(&clerk, &agency);
    let request = congdanso::counter::certify::claim(&only_new, desk, &code)
        .await
        .unwrap();
    congdanso::counter::certify::certify(&only_new, &clerk, &agency, request.id)
        .await
        .unwrap();
    let bytes: Vec<u8> = doc
        .stream(only_new.clone(), 0..original.len() as u64)
        .await
        .unwrap()
        .map(|piece| piece.unwrap().to_vec())
        .collect::<Vec<_>>()
        .await
        .concat();
    assert!(bytes == original);
    // And the old instance, holding only the old key, no longer can.
    assert!(
        congdanso::access::open(
            &t.state,
            &congdanso::access::Reader::Owner(&owner),
            congdanso::access::DocumentId(id.parse().unwrap()),
            congdanso::access::Purpose::View
        )
        .await
        .is_err()
    );
}

#[actix_web::test]
async fn deleting_the_account_shreds_the_key_and_removes_the_blobs() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    let id = upload(&mut client, &t, "079090001234", &pdf(4 * CHUNK)).await;
    upload(&mut client, &t, "079090001234", &pdf(1000)).await;
    let owner = accounts::find_by_login(&t.state.db, "079090001234")
        .await
        .unwrap()
        .unwrap();
    let row = repo::find(&t.state.db, id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let (key, blob) = blob_of(&t, &id).await;

    // Step-up first.
    let reply = client.post("/account/delete", &[]).await;
    assert!(reply.location().starts_with("/step-up"));
    assert!(
        accounts::find_by_id(&t.state.db, owner.id)
            .await
            .unwrap()
            .is_some()
    );
    let code = code_for(&t, "079090001234", 1).await;
    client
        .post("/step-up", &[("code", &code), ("next", "/account/delete")])
        .await;
    assert!(client.get("/account/delete").await.body.contains(": 2"));
    let reply = client.post("/account/delete", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    // The account, its wrapped data key, documents and sessions are gone; so are the blobs.
    assert!(
        accounts::find_by_id(&t.state.db, owner.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        repo::list_for_owner(&t.state.db, owner.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(t.state.blobs.size(&key).await.unwrap(), None);
    assert_eq!(client.get("/documents").await.status, StatusCode::SEE_OTHER);

    // Restoring the blob and the document row from a backup opens nothing: the data key that
    // could decrypt them existed only wrapped in the deleted account row.
    t.state
        .blobs
        .put_bytes(&key, Bytes::from(blob))
        .await
        .unwrap();
    let wrapped_was_unique = repo::find(&t.state.db, row.id).await.unwrap().is_none();
    assert!(wrapped_was_unique);
    // The national ID number can register again, and gets a new, different key.
    let mut again = Client::new(test::init_service(app(t.state.clone())).await);
    t.clock.advance(chrono::Duration::seconds(60));
    register_citizen(&mut again, &t, "079090001234").await;
    let reborn = accounts::find_by_login(&t.state.db, "079090001234")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(reborn.wrapped_data_key, owner.wrapped_data_key);
    let reborn_key = congdanso::accounts::service::data_key(&t.state, &reborn).unwrap();
    let header = t
        .state
        .blobs
        .get_range(&key, 0..congdanso::crypto::HEADER_LEN as u64)
        .await
        .unwrap();
    let ctx = congdanso::crypto::StreamContext {
        owner: reborn.id,
        document: row.id,
    };
    assert!(congdanso::crypto::StreamDecryptor::new(&reborn_key, &ctx, &header).is_err());
    let ctx = congdanso::crypto::StreamContext {
        owner: owner.id,
        document: row.id,
    };
    assert!(congdanso::crypto::StreamDecryptor::new(&reborn_key, &ctx, &header).is_err());
}
