//! The vault under races and at scale: parallel uploads against the quota, file names and
//! titles from hostile clients, the paged documents list, the queries a download costs, and
//! what a crashed multipart upload leaves in the store.

use actix_web::http::StatusCode;
use actix_web::test;
use bytes::Bytes;
use congdanso::accounts::repo as accounts;
use congdanso::startup::app;
use congdanso::storage::BlobKey;
use congdanso::vault::model::DocumentType;
use congdanso::vault::{repo, service};
use futures_util::StreamExt;

use crate::accounts::register_citizen;
use crate::helpers::{Client, NowUtc, TestApp, spawn_app, spawn_app_with};

/// A "PDF" of exactly `len` bytes.
fn pdf(len: usize) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n".to_vec();
    out.extend((0..len.saturating_sub(out.len())).map(|i| (i * 13 + i / 97) as u8));
    out.truncate(len);
    out
}

async fn owner(t: &TestApp, login: &str) -> entity::account::Model {
    accounts::find_by_login(&t.state.db, login)
        .await
        .unwrap()
        .unwrap()
}

async fn blobs_under(t: &TestApp, owner: uuid::Uuid) -> Vec<BlobKey> {
    t.state
        .blobs
        .list(&BlobKey::parse(format!("documents/{owner}")).unwrap())
        .map(|k| k.unwrap())
        .collect()
        .await
}

/// Stores a small document through the service (fast seeding for list tests).
async fn seed(t: &TestApp, owner: &entity::account::Model, title: &str, doc_type: DocumentType) {
    service::store_document(
        &t.state,
        owner,
        service::NewDocument {
            doc_type,
            title: title.into(),
            file_name: "scan.pdf".into(),
        },
        None,
        futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(pdf(64)))]),
    )
    .await
    .unwrap();
}

#[actix_web::test]
async fn parallel_uploads_never_pass_the_quota_and_refused_ones_leave_nothing() {
    let t = spawn_app_with(&[
        ("STORAGE_QUOTA_BYTES", "500000"),
        ("MAX_UPLOAD_BYTES", "1000000"),
    ])
    .await;
    let mut first = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut first, &t, "079090001234").await;
    first.get("/documents").await;
    // Six browsers of the same citizen upload 200 kB each at the same moment.
    let mut clients = Vec::new();
    for _ in 0..6 {
        let mut c = Client::new(test::init_service(app(t.state.clone())).await);
        c.cookies = first.cookies.clone();
        clients.push(c);
    }
    let file = pdf(200_000);
    let replies = futures_util::future::join_all(clients.iter_mut().map(|c| {
        c.post_multipart(
            "/documents",
            &[("doc_type", "other"), ("title", "Bản vẽ")],
            Some(("ban-ve.pdf", &file)),
        )
    }))
    .await;
    let accepted = replies
        .iter()
        .filter(|r| r.status == StatusCode::SEE_OTHER)
        .count();
    let refused = replies
        .iter()
        .filter(|r| r.status == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!(accepted + refused, 6, "every upload got an answer");
    assert_eq!(accepted, 2, "two fit in 500 kB, the others are refused");

    let owner = owner(&t, "079090001234").await;
    let docs = repo::list_for_owner(&t.state.db, owner.id).await.unwrap();
    let stored: i64 = docs.iter().map(|d| d.size_bytes).sum();
    assert!(stored <= 500_000, "stored {stored} bytes past the quota");
    assert_eq!(docs.len(), accepted);
    // The counter agrees with the documents, nothing stays reserved, refused uploads left no
    // blob and no upload row.
    assert_eq!(
        repo::usage(&t.state.db, owner.id).await.unwrap(),
        (u64::try_from(stored).unwrap(), 0)
    );
    assert_eq!(blobs_under(&t, owner.id).await.len(), accepted);
    assert!(
        repo::stale_uploads(&t.state.db, t.clock_now_plus_hours(1))
            .await
            .unwrap()
            .is_empty()
    );

    // Deleting gives the room back.
    service::delete(&t.state, &owner, congdanso::access::DocumentId(docs[0].id))
        .await
        .unwrap();
    let left = u64::try_from(stored - docs[0].size_bytes).unwrap();
    assert_eq!(repo::usage(&t.state.db, owner.id).await.unwrap(), (left, 0));

    // Without a length announced (reserved chunk by chunk as the bytes arrive), four uploads of
    // 120 kB race for the 300 kB left: the line still holds.
    let uploads = (0..4).map(|_| {
        let body = futures_util::stream::iter(
            pdf(120_000)
                .chunks(16 * 1024)
                .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        )
        .then(|chunk| async move {
            tokio::task::yield_now().await;
            chunk
        });
        let owner = owner.clone();
        let state = t.state.clone();
        async move {
            service::store_document(
                &state,
                &owner,
                service::NewDocument {
                    doc_type: DocumentType::Other,
                    title: "Ảnh".into(),
                    file_name: "anh.pdf".into(),
                },
                None,
                Box::pin(body),
            )
            .await
        }
    });
    let outcomes = futures_util::future::join_all(uploads).await;
    let docs = repo::list_for_owner(&t.state.db, owner.id).await.unwrap();
    let stored: i64 = docs.iter().map(|d| d.size_bytes).sum();
    assert!(stored <= 500_000, "stored {stored} bytes past the quota");
    assert_eq!(
        docs.len(),
        1 + outcomes.iter().filter(|o| o.is_ok()).count()
    );
    assert_eq!(
        repo::usage(&t.state.db, owner.id).await.unwrap(),
        (u64::try_from(stored).unwrap(), 0)
    );
    assert_eq!(blobs_under(&t, owner.id).await.len(), docs.len());
    assert!(
        repo::stale_uploads(&t.state.db, t.clock_now_plus_hours(1))
            .await
            .unwrap()
            .is_empty()
    );
}

#[actix_web::test]
async fn file_names_and_titles_lose_paths_and_hidden_controls() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    let reply = client
        .post_multipart(
            "/documents",
            &[
                ("doc_type", "other"),
                ("title", "Hoá\u{0}đơn\u{202E}fdp.exe"),
            ],
            Some(("../../etc/passwd", &pdf(300))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let owner = owner(&t, "079090001234").await;
    let id = repo::list_for_owner(&t.state.db, owner.id).await.unwrap()[0].id;
    let reader = congdanso::access::Reader::Owner(&owner);
    let open = |id| {
        congdanso::access::open(
            &t.state,
            &reader,
            congdanso::access::DocumentId(id),
            congdanso::access::Purpose::View,
        )
    };
    let doc = open(id).await.unwrap();
    assert_eq!(doc.file_name().unwrap(), "passwd");
    assert_eq!(doc.title().unwrap(), "Hoáđơnfdp.exe");

    // Whoever calls the service gets the same cleaning.
    let stored = service::store_document(
        &t.state,
        &owner,
        service::NewDocument {
            doc_type: DocumentType::Other,
            title: "\u{2066}Hoá đơn\u{2069} \u{200F}".into(),
            file_name: "C:\\Users\\an\\invoice\u{202E}fdp.exe".into(),
        },
        None,
        futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(pdf(300)))]),
    )
    .await
    .unwrap();
    let doc = open(stored.id).await.unwrap();
    assert_eq!(doc.file_name().unwrap(), "invoicefdp.exe");
    assert_eq!(doc.title().unwrap(), "Hoá đơn");
    let (reply, _) = client
        .get_with(&format!("/documents/{}/download", stored.id), &[])
        .await;
    let disposition = reply
        .headers
        .get("content-disposition")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        disposition.ends_with("filename*=UTF-8''invoicefdp.exe"),
        "{disposition}"
    );

    // Renaming cleans too; a title of nothing but hidden characters is empty.
    let reply = client
        .post(
            &format!("/documents/{id}/rename"),
            &[("title", "Giấy\u{202D} khai\u{0} sinh\u{200E}")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(open(id).await.unwrap().title().unwrap(), "Giấy khai sinh");
    let reply = client
        .post(
            &format!("/documents/{id}/rename"),
            &[("title", "\u{202E}\u{0}")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(open(id).await.unwrap().title().unwrap(), "Giấy khai sinh");
}

/// Document ids linked from a list page, in page order.
fn listed(html: &str) -> Vec<String> {
    html.split("<a href=\"/documents/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|id| id.len() == 36)
        .map(str::to_owned)
        .collect()
}

/// The href of the pager link with this `rel`, unescaped.
fn pager(html: &str, rel: &str) -> Option<String> {
    let marker = format!("\" rel=\"{rel}\"");
    let end = html.find(&marker)?;
    let start = html[..end].rfind("href=\"")? + "href=\"".len();
    Some(html[start..end].replace("&#38;", "&").replace("&amp;", "&"))
}

#[actix_web::test]
async fn the_list_pages_newest_first_with_cursors_and_filters() {
    let t = spawn_app().await;
    let mut alice = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut alice, &t, "079090001234").await;
    let me = owner(&t, "079090001234").await;
    // 60 documents, some sharing a creation time (the id breaks the tie), 12 of them CCCD.
    for i in 0..60 {
        if i % 3 == 0 {
            t.clock.advance(chrono::Duration::seconds(1));
        }
        let doc_type = if i % 5 == 0 {
            DocumentType::Cccd
        } else {
            DocumentType::Other
        };
        seed(&t, &me, &format!("Giấy số {i}"), doc_type).await;
    }
    let mut expected: Vec<(chrono::DateTime<chrono::Utc>, uuid::Uuid, String)> =
        repo::list_for_owner(&t.state.db, me.id)
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.created_at, d.id, d.doc_type))
            .collect();
    expected.sort_by_key(|e| std::cmp::Reverse((e.0, e.1)));
    let all: Vec<String> = expected.iter().map(|e| e.1.to_string()).collect();

    // Older links walk the whole list once, 25 a page, newest first.
    let mut pages = Vec::new();
    let mut url = "/documents".to_owned();
    loop {
        let page = alice.get(&url).await;
        assert_eq!(page.status, StatusCode::OK);
        pages.push(listed(&page.body));
        match pager(&page.body, "next") {
            Some(next) => url = next,
            None => break,
        }
        assert!(pages.len() < 10, "the pager loops");
    }
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![25, 25, 10]
    );
    assert_eq!(pages.concat(), all);
    // Newer links walk back to the first page, which has none.
    let last = alice.get(&url).await;
    let back = alice.get(&pager(&last.body, "prev").unwrap()).await;
    assert_eq!(listed(&back.body), pages[1]);
    let front = alice.get(&pager(&back.body, "prev").unwrap()).await;
    assert_eq!(listed(&front.body), pages[0]);
    assert!(pager(&front.body, "prev").is_none());
    assert!(pager(&front.body, "next").is_some());
    // The page carries only its own rows: far under 30 kB.
    assert!(front.body.len() < 30_000, "{} bytes", front.body.len());

    // Filters are GET fields; the pager keeps them.
    let cccd: Vec<String> = expected
        .iter()
        .filter(|e| e.2 == "cccd")
        .map(|e| e.1.to_string())
        .collect();
    assert_eq!(cccd.len(), 12);
    let page = alice.get("/documents?type=cccd&source=self").await;
    assert_eq!(listed(&page.body), cccd);
    assert!(pager(&page.body, "next").is_none());
    assert!(page.body.contains("<option value=\"cccd\" selected>"));
    let page = alice.get("/documents?type=other").await;
    let next = pager(&page.body, "next").unwrap();
    assert!(next.starts_with("/documents?type=other&after="), "{next}");
    assert!(
        listed(&alice.get(&next).await.body)
            .iter()
            .all(|id| !cccd.contains(id))
    );
    let page = alice.get("/documents?source=issued").await;
    assert!(listed(&page.body).is_empty());

    // Another citizen's cursor shows me only my documents, and mine shows them none of mine.
    let mut bob = Client::new(test::init_service(app(t.state.clone())).await);
    t.clock.advance(chrono::Duration::seconds(30));
    register_citizen(&mut bob, &t, "079090005678").await;
    let bob_model = owner(&t, "079090005678").await;
    for i in 0..30 {
        seed(
            &t,
            &bob_model,
            &format!("Của Bình {i}"),
            DocumentType::Other,
        )
        .await;
    }
    let bobs_first = bob.get("/documents").await;
    let bobs_next = pager(&bobs_first.body, "next").unwrap();
    let mine_there = listed(&alice.get(&bobs_next).await.body);
    assert!(mine_there.iter().all(|id| all.contains(id)));
    let alices_next = pager(&front.body, "next").unwrap();
    let theirs = listed(&bob.get(&alices_next).await.body);
    assert!(theirs.iter().all(|id| !all.contains(id)));
    assert!(!bob.get(&alices_next).await.body.contains("Giấy số"));

    // A cursor that is not one gives the first page, never an error.
    for bad in [
        "/documents?after=%%%",
        "/documents?after=AAAA",
        "/documents?before=not-a-cursor",
        "/documents?type=nonsense&source=%00",
    ] {
        let page = alice.get(bad).await;
        assert_eq!(page.status, StatusCode::OK, "{bad}");
        assert_eq!(listed(&page.body), pages[0], "{bad}");
    }
}

#[actix_web::test]
async fn a_download_reads_two_rows_logs_once_and_trusts_the_rows_length() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    let me = owner(&t, "079090001234").await;
    let original = pdf(100_000);
    let doc = service::store_document(
        &t.state,
        &me,
        service::NewDocument {
            doc_type: DocumentType::Other,
            title: "Bản vẽ".into(),
            file_name: "ban-ve.pdf".into(),
        },
        None,
        futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(original.clone()))]),
    )
    .await
    .unwrap();

    // The same app, on a connection that counts the statements it runs.
    let count = Arc::new(AtomicUsize::new(0));
    let mut counted = t.state.clone();
    let seen = count.clone();
    counted.db.set_metric_callback(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let mut counting = Client::new(test::init_service(app(counted)).await);
    counting.cookies = client.cookies.clone();
    let (reply, body) = counting
        .get_with(&format!("/documents/{}/download", doc.id), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(body == original);
    // Session with its account, the document, the access-log entry (one insert, no lock; it
    // is sequenced into the chain and the tree later, by the background task).
    assert_eq!(count.load(Ordering::SeqCst), 3);

    // The row's length is what the read trusts: a blob cut short is damage, not a 503.
    let key = BlobKey::parse(doc.blob_key.clone()).unwrap();
    let full = t
        .state
        .blobs
        .get_range(&key, 0..u64::try_from(doc.blob_bytes).unwrap())
        .await
        .unwrap();
    t.state
        .blobs
        .put_bytes(&key, full.slice(..full.len() - 40_000))
        .await
        .unwrap();
    let (reply, _) = client
        .get_with(&format!("/documents/{}/download", doc.id), &[])
        .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    let (reply, _) = client
        .get_with(
            &format!("/documents/{}/download", doc.id),
            &[("range", "bytes=99990-")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    let metrics = client.get("/metrics").await.body;
    assert!(
        metrics.contains("congdanso_documents_corrupted_total 2"),
        "{metrics}"
    );
}

#[actix_web::test]
async fn the_sweep_removes_what_a_crashed_multipart_upload_left() {
    let t = spawn_app().await;
    let mut client = Client::new(test::init_service(app(t.state.clone())).await);
    register_citizen(&mut client, &t, "079090001234").await;
    let me = owner(&t, "079090001234").await;
    let id = uuid::Uuid::now_v7();
    let key = BlobKey::parse(format!("documents/{}/{id}", me.id)).unwrap();
    repo::ensure_usage(&t.state.db, me.id).await.unwrap();
    repo::start_upload(
        &t.state.db,
        entity::upload::Model {
            id,
            owner_id: me.id,
            blob_key: key.as_str().into(),
            started_at: t.clock.now_utc(),
            reserved_bytes: 0,
            multipart_id: None,
        },
    )
    .await
    .unwrap();
    assert!(
        repo::reserve(&t.state.db, id, me.id, 7 * 1024 * 1024, u64::MAX)
            .await
            .unwrap()
    );
    // Two parts' worth written, then the process "dies": the writer is never finished,
    // aborted or dropped.
    let mut writer = t.state.blobs.writer(&key);
    for _ in 0..7 {
        writer
            .write(Bytes::from(vec![7u8; 1024 * 1024]))
            .await
            .unwrap();
    }
    if let Some(multipart) = writer.multipart_id() {
        repo::note_multipart(&t.state.db, id, multipart)
            .await
            .unwrap();
    }
    let multipart = writer.multipart_id().map(str::to_owned);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    std::mem::forget(writer);

    let staging = |dir: &std::path::Path| -> Vec<String> {
        let folder = dir.join("blobs").join("documents").join(me.id.to_string());
        std::fs::read_dir(folder)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    match t.state.blobs.backend() {
        congdanso::storage::BlobBackend::Local => {
            assert_eq!(
                staging(t._dir.path()),
                vec![format!("{id}#1")],
                "object_store's staging file"
            );
        }
        congdanso::storage::BlobBackend::S3 => {
            assert!(multipart.is_some(), "the upload id was recorded");
        }
        congdanso::storage::BlobBackend::Memory => {}
    }
    t.clock.advance(chrono::Duration::hours(48));
    assert_eq!(
        service::sweep(&t.state, chrono::Duration::hours(24))
            .await
            .unwrap(),
        1
    );
    assert!(staging(t._dir.path()).is_empty(), "staging parts removed");
    // Nothing left to remove: the S3 multipart upload was aborted (aborting it again finds
    // nothing), the reservation given back, the upload row gone.
    assert_eq!(
        t.state
            .blobs
            .remove_leftovers(&key, multipart.as_deref())
            .await
            .unwrap(),
        0
    );
    assert_eq!(repo::usage(&t.state.db, me.id).await.unwrap(), (0, 0));
    assert!(
        repo::stale_uploads(&t.state.db, t.clock_now_plus_hours(1))
            .await
            .unwrap()
            .is_empty()
    );
}
